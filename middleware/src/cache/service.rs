//! What `SecretsService` and `ParametersService` do before each invocation: report failed
//! background refreshes, start the refreshes that are due, and recover or refuse an invocation
//! whose required values went stale.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use lambda_runtime::{Diagnostic, LambdaEvent};
use tokio::time::Instant;
use tower::Service;

use super::{Cache, Fault, Source, future::ResponseFuture};

/// A stale value's recovery fetch ends this long before the invocation's deadline, so the
/// error response still leaves in time.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

/// Calls `inner` with `event` once the cache's values are usable: at once when none is stale;
/// after one recovery fetch (shared with concurrent invocations, ending [`DEADLINE_MARGIN`]
/// before the invocation's deadline) when one is; never when a required one stays stale or
/// unavailable — then the invocation fails with `describe(fault)`.
pub(crate) fn call<S, T, Src>(
    inner: &mut S,
    cache: &Arc<Cache<Src>>,
    describe: fn(Fault<Src::Key>) -> Diagnostic,
    event: LambdaEvent<T>,
) -> ResponseFuture<S, T>
where
    S: Service<LambdaEvent<T>> + Clone,
    S::Error: Into<Diagnostic>,
    Src: Source,
{
    let failed_refreshes = cache.take_unreported_failures();
    if failed_refreshes > 0 {
        // Inside a MetricsLayer this lands in the invocation's EMF document; else a no-op.
        crate::builtin_metric(cache.refresh_failed_metric(), failed_refreshes as f64);
    }
    match cache.check_for_stale() {
        Ok(false) => ResponseFuture::called(inner.call(event)),
        Ok(true) | Err(Fault::Stale { .. }) => {
            // The ready service is taken for the call after the recovery; a clone takes its
            // place (tower's rule for services called later).
            let clone = inner.clone();
            let inner = std::mem::replace(inner, clone);
            let cache = Arc::clone(cache);
            let until = recovery_deadline(event.context.deadline);
            let recovery = async move { cache.recover_stale(until).await.map_err(describe) };
            ResponseFuture::recovering(Box::pin(recovery), inner, event)
        }
        Err(fault) => ResponseFuture::rejected(describe(fault)),
    }
}

/// When a recovery fetch must end: [`DEADLINE_MARGIN`] before `deadline_ms` (epoch
/// milliseconds), or with the fetch timeout alone for a context without a deadline.
fn recovery_deadline(deadline_ms: u64) -> Instant {
    let now = Instant::now();
    if deadline_ms == 0 {
        return now + Duration::from_secs(24 * 3600);
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    now + Duration::from_millis(deadline_ms.saturating_sub(now_ms)).saturating_sub(DEADLINE_MARGIN)
}
