//! AWS SDK calls bounded by the invocation they are made in, and carrying its trace header.
//!
//! Inside an invocation (on the task the [`InvocationLayer`](crate::InvocationLayer) runs it
//! on) every request of an SDK client built from [`config_loader`](super::config_loader) ends
//! at the invocation's deadline less a margin: the connector's answer is raced against that
//! instant, the answer's body too, and the SDK's sleeps (retry backoff, its own timeouts) never
//! run past it. A request that would start after it is not sent. The failure is a
//! [`DeadlineExceeded`] the SDK does not retry, which [`SdkFailure`](super::SdkFailure) reports
//! as `DeadlineExceeded`. Each request also carries the invocation's `X-Amzn-Trace-Id` (the
//! header SigV4 leaves unsigned), never another invocation's from the process environment.
//!
//! Outside an invocation (init, shutdown hooks, tasks spawned without it) none of this
//! applies: the SDK's own timeouts do.

use std::{
    error::Error,
    fmt,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use aws_smithy_async::rt::sleep::{AsyncSleep, Sleep};
use aws_smithy_runtime_api::client::{
    orchestrator::{HttpRequest, HttpResponse},
    result::ConnectorError,
};
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;

use crate::invocation;

/// The header that carries the X-Ray trace id.
const TRACE_HEADER: &str = "x-amzn-trace-id";

/// An SDK call that had no answer before the invocation's deadline, less the margin kept to
/// answer ([`InvocationLayer::with_sdk_deadline_margin`](crate::InvocationLayer::with_sdk_deadline_margin),
/// `TERN_AWS_DEADLINE_MARGIN_MS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlineExceeded {
    margin: Duration,
}

impl DeadlineExceeded {
    /// The time kept free before the deadline.
    pub fn margin(&self) -> Duration {
        self.margin
    }

    /// `before the invocation's deadline (less 100 ms to send the error)`.
    pub(super) fn before_the_deadline(&self) -> String {
        format!(
            "before the invocation's deadline (less {} ms to send the error)",
            self.margin.as_millis()
        )
    }
}

impl fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no answer {}", self.before_the_deadline())
    }
}

impl Error for DeadlineExceeded {}

/// When the current invocation's SDK calls must end, and the margin kept before its deadline.
fn bound() -> Option<(Instant, Duration)> {
    Some((invocation::sdk_deadline()?, invocation::sdk_margin()?))
}

/// Prepares `request` for the invocation on this task: its trace header, and the instant its
/// answer must come by. `Err` when that instant has passed: the request is not sent.
pub(super) fn prepare(
    request: &mut HttpRequest,
) -> Result<Option<(Instant, Duration)>, ConnectorError> {
    let trace_set = invocation::with_trace_id(|trace_id| match trace_id {
        // A value Lambda sent as a header is a valid header value; one that is not is left out.
        Some(trace_id) => request
            .headers_mut()
            .try_insert(TRACE_HEADER, trace_id.to_owned())
            .is_ok(),
        None => request.headers_mut().remove(TRACE_HEADER).is_some(),
    });
    if trace_set.is_none() {
        return Ok(None);
    }
    match bound() {
        Some((until, margin)) if Instant::now() >= until => Err(exceeded(margin)),
        bound => Ok(bound),
    }
}

/// The failure of a request cut off at the deadline: not retried (the SDK retries transient,
/// timeout and I/O failures; this is none of them).
pub(super) fn exceeded(margin: Duration) -> ConnectorError {
    ConnectorError::other(Box::new(DeadlineExceeded { margin }), None)
}

/// Waits for `answer`, failing with [`DeadlineExceeded`] at `until`; a body that comes in time
/// is bounded by the same instant.
pub(super) async fn answer_by(
    until: Instant,
    margin: Duration,
    answer: impl Future<Output = Result<HttpResponse, ConnectorError>>,
) -> Result<HttpResponse, ConnectorError> {
    match tokio::time::timeout_at(until, answer).await {
        Ok(Ok(response)) => Ok(response.map(|body| {
            SdkBody::from_body_1_x(BodyBy {
                body,
                until,
                margin,
                timer: None,
            })
        })),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(exceeded(margin)),
    }
}

/// A response body that fails with [`DeadlineExceeded`] when it has not ended by `until`.
struct BodyBy {
    body: SdkBody,
    until: Instant,
    margin: Duration,
    /// Armed the first time the body has to be waited for.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for BodyBy {
    type Data = Bytes;
    type Error = Box<dyn Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let until = this.until;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(Box::new(DeadlineExceeded {
            margin: this.margin,
        }))))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The SDK's sleep (retry backoff, its operation and attempt timeouts, connect timeouts,
/// stalled-stream checks): Tokio's, except that inside an invocation none lasts past the
/// instant its calls must end. A sleep cut short ends 1 ms after that instant, so a request
/// raced against the instant itself always fails first, with [`DeadlineExceeded`] rather than
/// with a timeout the SDK would report as its own.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct DeadlineSleep;

impl AsyncSleep for DeadlineSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        let now = Instant::now();
        let wake = match (now.checked_add(duration), invocation::sdk_deadline()) {
            (Some(end), Some(until)) => end.min(until + Duration::from_millis(1)),
            (Some(end), None) => end,
            // Longer than `Instant` can count: until the deadline, or as good as forever.
            (None, Some(until)) => until + Duration::from_millis(1),
            (None, None) => now + Duration::from_secs(u32::MAX.into()),
        };
        Sleep::new(tokio::time::sleep_until(wake))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_ms_in(from_now: Duration) -> u64 {
        (std::time::SystemTime::now() + from_now)
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    }

    /// How long (paused Tokio time) a `DeadlineSleep` of `duration` takes.
    async fn slept(duration: Duration) -> Duration {
        let start = tokio::time::Instant::now();
        DeadlineSleep.sleep(duration).await;
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn no_sleep_outlasts_the_invocations_deadline() {
        let deadline = epoch_ms_in(Duration::from_secs(1));
        let margin = Duration::from_millis(100);
        let (short, long) = invocation::within(deadline, margin, None, async {
            (
                slept(Duration::from_millis(300)).await,
                slept(Duration::from_secs(20)).await,
            )
        })
        .await;
        assert_eq!(short, Duration::from_millis(300));
        // The second starts at 300 ms and ends 1 ms after 900 ms (the deadline less the
        // margin), give or take the millisecond the epoch deadline is counted in.
        let expected = Duration::from_millis(601);
        assert!(
            long.abs_diff(expected) <= Duration::from_millis(2),
            "{long:?} instead of {expected:?}"
        );
        // Outside an invocation the SDK's own durations stand.
        assert_eq!(
            slept(Duration::from_secs(20)).await,
            Duration::from_secs(20)
        );
        // No deadline in the context (0): nothing to bound by.
        let unbounded = invocation::within(0, margin, None, slept(Duration::from_secs(20))).await;
        assert_eq!(unbounded, Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_invocations_each_keep_their_own_deadline() {
        let margin = Duration::from_millis(100);
        let first = invocation::within(
            epoch_ms_in(Duration::from_secs(1)),
            margin,
            None,
            slept(Duration::from_secs(60)),
        );
        let second = invocation::within(
            epoch_ms_in(Duration::from_secs(3)),
            margin,
            None,
            slept(Duration::from_secs(60)),
        );
        let (first, second) = tokio::join!(first, second);
        for (got, expected) in [(first, 901), (second, 2_901)] {
            let expected = Duration::from_millis(expected);
            assert!(
                got.abs_diff(expected) <= Duration::from_millis(2),
                "{got:?} {expected:?}"
            );
        }
    }

    #[test]
    fn the_error_says_what_was_kept_for_the_answer() {
        let exceeded = DeadlineExceeded {
            margin: Duration::from_millis(250),
        };
        assert_eq!(
            exceeded.to_string(),
            "no answer before the invocation's deadline (less 250 ms to send the error)"
        );
        assert_eq!(exceeded.margin(), Duration::from_millis(250));
        // Not retried: neither a timeout, nor I/O, nor a transient failure.
        let error = exceeded_error();
        assert!(!error.is_timeout() && !error.is_io() && error.as_other().is_none());
    }

    fn exceeded_error() -> ConnectorError {
        exceeded(Duration::from_millis(250))
    }
}
