//! Per-invocation context: the tracing span every log line inherits, and what the rest of the
//! runtime reads about the invocation being handled on this task (cold start, deadline, trace
//! header, log sampling and buffering).

use std::{
    cell::{OnceCell, RefCell},
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use lambda_runtime::{Context, LambdaInvocation};
use serde::de::DeserializeOwned;
use tokio::{task::futures::TaskLocalFuture, time::Instant};
use tower::{Layer, Service};
use tracing::{Instrument, instrument::Instrumented};

use crate::{
    correlation::Correlation,
    env::{Env, names},
    init::InitError,
    logging::{
        InvocationLogSettings,
        buffer::{InvocationIds, LogBuffer},
    },
};

/// True until the first invocation of this process starts.
static COLD: AtomicBool = AtomicBool::new(true);

/// Marks the process warm before its first invocation (provisioned concurrency).
pub(crate) fn mark_warm() {
    COLD.store(false, Ordering::Relaxed);
}

/// SDK calls end this long before the invocation's deadline, unless configured.
pub const DEFAULT_SDK_DEADLINE_MARGIN: Duration = Duration::from_millis(100);

/// The longest configurable margin: Lambda's longest timeout, 15 minutes.
const MAX_SDK_DEADLINE_MARGIN_MS: u64 = 900_000;

/// The per-invocation log buffer's bound when buffering is on and no bound is configured.
pub const DEFAULT_LOG_BUFFER_BYTES: usize = 20_480;

tokio::task_local! {
    static CURRENT: Current;
    /// The body of the invocation lambda_runtime is decoding, only for the (synchronous)
    /// inner `call` in which it decodes: see [`decoding_body`].
    static DECODING_BODY: Bytes;
}

/// What the runtime knows about the invocation running on this task. Lives for the
/// invocation's future (a task-local), so concurrent invocations (Managed Instances) never see
/// each other's.
pub(crate) struct Current {
    cold_start: bool,
    /// The context's deadline in epoch milliseconds; 0 when it has none.
    deadline_ms: u64,
    sdk_margin: Duration,
    /// When SDK calls must have ended, as an `Instant` (Tokio's, which tests can pause):
    /// computed once, on the first SDK call, so that everything bounded by it (connector,
    /// body, the SDK's sleeps) uses one instant.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    sdk_until: OnceCell<Option<Instant>>,
    /// The `X-Amzn-Trace-Id` of SDK calls.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    trace_id: Option<String>,
    pub(crate) log: InvocationLog,
}

/// What logging does with the lines of one invocation that are below the configured level.
pub(crate) struct InvocationLog {
    /// Written as they come (a sampled invocation).
    pub(crate) sampled: bool,
    /// Kept until the invocation fails or logs at ERROR; `None` when buffering is off or the
    /// invocation is sampled.
    pub(crate) buffer: Option<RefCell<LogBuffer>>,
}

impl Current {
    /// When SDK calls must have ended: the deadline less the margin. `None` without a deadline.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    fn sdk_until(&self) -> Option<Instant> {
        *self.sdk_until.get_or_init(|| {
            if self.deadline_ms == 0 {
                return None;
            }
            // To the microsecond, as lambda_runtime's `Context::deadline()` and the middleware
            // that bounds its own calls by it count.
            let deadline = UNIX_EPOCH + Duration::from_millis(self.deadline_ms);
            let left = deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            Some(Instant::now() + left.saturating_sub(self.sdk_margin))
        })
    }
}

/// Runs `f` with the current invocation, if this task is handling one.
pub(crate) fn with_current<R>(f: impl FnOnce(&Current) -> R) -> Option<R> {
    CURRENT.try_with(f).ok()
}

/// When the AWS SDK calls of the invocation on this task must have ended (its deadline less
/// the configured margin); `None` outside an invocation or for a context without a deadline.
#[cfg(feature = "aws")]
pub(crate) fn sdk_deadline() -> Option<Instant> {
    with_current(Current::sdk_until).flatten()
}

/// The configured margin of [`sdk_deadline`] on this task.
#[cfg(feature = "aws")]
pub(crate) fn sdk_margin() -> Option<Duration> {
    with_current(|current| current.sdk_margin)
}

/// Runs `f` with the invocation's X-Ray trace header: `None` outside an invocation, `Some(None)`
/// for an invocation without one.
#[cfg(feature = "aws")]
pub(crate) fn with_trace_id<R>(f: impl FnOnce(Option<&str>) -> R) -> Option<R> {
    with_current(|current| f(current.trace_id.as_deref()))
}

/// The raw body of the invocation being decoded, when called from inside lambda_runtime's
/// decode of it (under [`InvocationLayer`]); `None` anywhere else.
///
/// lambda_runtime decodes the event inside the `call` this layer wraps, through
/// `serde_path_to_error`, and keeps the body to itself; the handler guard uses this to find
/// the path of a field that failed without tracking paths a second time on every event.
pub(crate) fn decoding_body<R>(f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    DECODING_BODY.try_with(|body| f(body)).ok()
}

/// Runs `f` as [`InvocationLayer`] runs lambda_runtime's decode: with `body` visible to
/// [`decoding_body`].
#[cfg(test)]
pub(crate) fn with_decoding_body<R>(body: &[u8], f: impl FnOnce() -> R) -> R {
    DECODING_BODY.sync_scope(Bytes::copy_from_slice(body), f)
}

/// Runs `future` as the invocation layer runs a handler's future: as an invocation with this
/// deadline (epoch milliseconds), SDK margin and trace header, without buffering or sampling.
#[cfg(all(test, feature = "aws"))]
pub(crate) fn within<F: Future>(
    deadline_ms: u64,
    sdk_margin: Duration,
    trace_id: Option<&str>,
    future: F,
) -> TaskLocalFuture<Current, F> {
    let current = Current {
        cold_start: false,
        deadline_ms,
        sdk_margin,
        sdk_until: OnceCell::new(),
        trace_id: trace_id.map(str::to_owned),
        log: InvocationLog {
            sampled: false,
            buffer: None,
        },
    };
    CURRENT.scope(current, future)
}

/// Whether the invocation being handled on this task is the process's first one.
///
/// Meaningful inside a handler (on the task that runs it); `false` elsewhere.
pub fn is_cold_start() -> bool {
    with_current(|current| current.cold_start).unwrap_or(false)
}

/// Wraps the runtime's invocation service: every line logged while an event is handled
/// carries `requestId`, `correlation_id`, `tenant_id` (when Lambda sends one),
/// `function_name`, `cold_start` and `xray_trace_id`, and the invocation's AWS SDK calls are
/// bounded by its deadline and carry its trace header.
///
/// The [`Bootstrap`](crate::Bootstrap) installs it per handler with [`from_env`](Self::from_env);
/// it is public for custom runtimes built directly on [`lambda_runtime::Runtime::layer`].
///
/// | setting | builder | environment | default |
/// |---|---|---|---|
/// | SDK calls end this long before the deadline | [`with_sdk_deadline_margin`](Self::with_sdk_deadline_margin) | `TERN_AWS_DEADLINE_MARGIN_MS` | 100 ms |
/// | share of invocations logged at DEBUG | [`with_log_sample_rate`](Self::with_log_sample_rate) | `TERN_LOG_SAMPLE_RATE` (alias `POWERTOOLS_LOGGER_SAMPLE_RATE`) | 0 |
/// | lines below the level kept per invocation, in bytes | [`with_log_buffer`](Self::with_log_buffer) | `TERN_LOG_BUFFER=true`, `TERN_LOG_BUFFER_MAX_BYTES` | off (20,480 when on) |
/// | where the correlation id comes from | [`with_correlation`](Self::with_correlation) | `TERN_LOG_CORRELATION_ID_POINTER`, `TERN_LOG_CORRELATION_ID_ATTRIBUTE` | see [`Correlation`] |
///
/// Sampling and buffering decide what happens to lines below the level; the subscriber
/// [`logging::init`](crate::logging::init) installs lets those lines through only when the
/// environment turns either on.
#[derive(Debug, Clone, Default)]
pub struct InvocationLayer {
    settings: Arc<InvocationSettings>,
}

#[derive(Debug, Clone)]
struct InvocationSettings {
    sdk_margin: Duration,
    /// The share of invocations sampled, scaled to `u64::MAX` (0: none).
    sample_below: u64,
    buffer_bytes: Option<usize>,
    correlation: Correlation,
}

impl Default for InvocationSettings {
    fn default() -> Self {
        Self {
            sdk_margin: DEFAULT_SDK_DEADLINE_MARGIN,
            sample_below: 0,
            buffer_bytes: None,
            correlation: Correlation::default(),
        }
    }
}

impl InvocationLayer {
    /// No sampling or buffering, a 100 ms SDK margin, the request id as correlation id.
    pub fn new() -> Self {
        Self::default()
    }

    /// The layer as the bootstrap installs it for a handler of events of type `E`: the settings
    /// in the table above from the process environment, and the correlation id where `E`'s
    /// shape says one is ([`Correlation::for_event`]).
    pub fn from_env<E: DeserializeOwned>() -> Result<Self, InitError> {
        Self::from(&Env::process(), Correlation::for_event::<E>)
    }

    /// The same from a fixed set of variables (tests, embedding), as every `from_vars`.
    pub fn from_vars<E, I, K, V>(vars: I) -> Result<Self, InitError>
    where
        E: DeserializeOwned,
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::from(&Env::from_vars(vars), Correlation::for_event::<E>)
    }

    pub(crate) fn from(
        env: &Env,
        correlation: impl FnOnce(&Env) -> Result<Correlation, InitError>,
    ) -> Result<Self, InitError> {
        let mut layer = Self::new();
        if let Some(margin) = env.millis(
            names::AWS_DEADLINE_MARGIN_MS,
            0..=MAX_SDK_DEADLINE_MARGIN_MS,
        )? {
            layer = layer.with_sdk_deadline_margin(margin);
        }
        let log = InvocationLogSettings::from(env)?;
        layer = layer.with_log_sample_rate(log.sample_rate);
        if let Some(bytes) = log.buffer_bytes {
            layer = layer.with_log_buffer(bytes);
        }
        Ok(layer.with_correlation(correlation(env)?))
    }

    /// AWS SDK calls made during an invocation end with `DeadlineExceeded` this long before
    /// its deadline (retries and backoff included), leaving the handler time to answer.
    pub fn with_sdk_deadline_margin(mut self, margin: Duration) -> Self {
        Arc::make_mut(&mut self.settings).sdk_margin = margin;
        self
    }

    /// Logs this share of invocations (0 to 1) at DEBUG, whatever the level.
    pub fn with_log_sample_rate(mut self, rate: f64) -> Self {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        // `as` saturates: a rate of 1 is `u64::MAX`, which every draw is at or below.
        Arc::make_mut(&mut self.settings).sample_below = (rate * u64::MAX as f64) as u64;
        self
    }

    /// Keeps each invocation's lines below the level (down to DEBUG), at most `max_bytes` of
    /// them (the oldest go first), and writes them before the first ERROR line; an invocation
    /// that logs no ERROR discards them.
    pub fn with_log_buffer(mut self, max_bytes: usize) -> Self {
        Arc::make_mut(&mut self.settings).buffer_bytes = Some(max_bytes);
        self
    }

    /// Where the correlation id of each invocation comes from.
    pub fn with_correlation(mut self, correlation: Correlation) -> Self {
        Arc::make_mut(&mut self.settings).correlation = correlation;
        self
    }
}

impl<S> Layer<S> for InvocationLayer {
    type Service = InvocationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InvocationService {
            inner,
            settings: self.settings.clone(),
        }
    }
}

/// The service produced by [`InvocationLayer`].
#[derive(Debug, Clone)]
pub struct InvocationService<S> {
    inner: S,
    settings: Arc<InvocationSettings>,
}

impl<S> InvocationService<S> {
    /// The invocation's state; `correlation_id` is the id its lines carry.
    fn current(&self, context: &Context, correlation_id: &str, cold_start: bool) -> Current {
        let settings = &*self.settings;
        let sampled = settings.sample_below > 0 && crate::logging::sample(settings.sample_below);
        let buffer = match settings.buffer_bytes {
            Some(bytes) if !sampled => {
                let ids = InvocationIds {
                    request_id: context.request_id.as_str().into(),
                    correlation_id: correlation_id.into(),
                };
                Some(RefCell::new(LogBuffer::new(bytes, ids)))
            }
            _ => None,
        };
        Current {
            cold_start,
            deadline_ms: context.deadline,
            sdk_margin: settings.sdk_margin,
            sdk_until: OnceCell::new(),
            // Only the invocation's future makes SDK calls: see `moved`.
            trace_id: None,
            log: InvocationLog { sampled, buffer },
        }
    }
}

impl Current {
    /// What the invocation's future continues with after the synchronous `call`: the same
    /// state with the trace header for SDK calls, the lines buffered so far moved over.
    fn moved(&self, trace_id: Option<String>) -> Self {
        Self {
            cold_start: self.cold_start,
            deadline_ms: self.deadline_ms,
            sdk_margin: self.sdk_margin,
            sdk_until: OnceCell::new(),
            trace_id,
            log: InvocationLog {
                sampled: self.log.sampled,
                buffer: self
                    .log
                    .buffer
                    .as_ref()
                    .map(|buffer| RefCell::new(buffer.borrow_mut().move_out())),
            },
        }
    }
}

impl<S> Service<LambdaInvocation> for InvocationService<S>
where
    S: Service<LambdaInvocation>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = InvocationFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        // Only the first invocation to get here is cold, also when several start concurrently.
        let cold_start = COLD.swap(false, Ordering::Relaxed);
        crate::rescue::count_started();
        let ctx = &invocation.context;
        let (span, current) = {
            let correlation = self.settings.correlation.find(&invocation.body);
            let correlation_id = correlation.as_deref().unwrap_or(&ctx.request_id);
            // All fields are given at creation: recording one later would make the JSON field
            // formatter render the span's fields again. `None` values are left out of lines.
            let span = tracing::info_span!(
                "invocation",
                requestId = %ctx.request_id,
                correlation_id,
                tenant_id = ctx.tenant_id.as_deref(),
                function_name = %ctx.env_config.function_name,
                cold_start,
                xray_trace_id = ctx.xray_trace_id.as_deref(),
            );
            (span, self.current(ctx, correlation_id, cold_start))
        };
        // The context goes to the handler with the event; SDK calls need the trace header.
        let trace_id = if cfg!(feature = "aws") {
            ctx.xray_trace_id.clone()
        } else {
            None
        };
        let future = {
            let _entered = span.enter();
            // lambda_runtime decodes the event and calls the handler's `call` from inside this
            // `call`, so the invocation must be visible here too, not only while the future is
            // polled. The body is shared (a reference count), not copied.
            let body = invocation.body.clone();
            if std::str::from_utf8(&body).is_err() {
                // JSON is UTF-8, and serde_json does not check what it skips (an unknown
                // field's string): without this such an event would reach the handler.
                // lambda_runtime 1.5 would also end its run loop on it when its TRACE line of
                // the raw body is on (it converts the body with `?`). An empty body never
                // decodes, so the guard answers `Runtime.UnmarshalError`, naming the problem
                // from the original body (visible through `decoding_body`).
                invocation.body = Bytes::new();
            }
            let (current, future) = CURRENT.sync_scope(current, || {
                let future = DECODING_BODY.sync_scope(body, || self.inner.call(invocation));
                (CURRENT.with(|call| call.moved(trace_id)), future)
            });
            CURRENT.scope(current, future)
        };
        InvocationFuture {
            inner: future.instrument(span),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`InvocationService`]: the inner future, in the invocation's span and with
    /// the invocation's state visible to the runtime.
    pub struct InvocationFuture<F> {
        #[pin]
        inner: Instrumented<TaskLocalFuture<Current, F>>,
    }
}

impl<F: Future> Future for InvocationFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> task::Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

#[cfg(test)]
#[path = "invocation_tests.rs"]
mod tests;
