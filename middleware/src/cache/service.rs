//! What `SecretsService` and `ParametersService` do before each invocation: report failed
//! background refreshes, start the refreshes that are due, and recover or refuse an invocation
//! whose required values went stale.

use std::{
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use lambda_runtime::{Diagnostic, LambdaEvent};
use tokio::time::Instant;
use tower::Service;

use super::{Cache, Fault, Source, future::ResponseFuture};

/// The service behind [`SecretsService`](crate::secrets::SecretsService) and
/// [`ParametersService`](crate::parameters::ParametersService): runs the check of `handle`'s
/// cache (`call`) before each invocation, then calls `inner`. Readiness is the inner
/// service's.
#[derive(Clone, Debug)]
pub struct CacheService<S, H> {
    inner: S,
    handle: H,
}

impl<S, H> CacheService<S, H> {
    /// Wraps `inner`; usually built by the layer that fetched `handle`'s values.
    pub fn new(inner: S, handle: H) -> Self {
        Self { inner, handle }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The handle whose cache is checked.
    pub(crate) fn handle(&self) -> &H {
        &self.handle
    }
}

/// A handle on a cache of values that a [`CacheService`] checks: `Secrets` or `Parameters`.
/// Public but unnameable outside the crate (only this crate implements it).
pub trait CheckedCache: Clone {
    /// `call` with this handle's cache, and its own error for a fault.
    fn check_then_call<S, T>(&self, inner: &mut S, event: LambdaEvent<T>) -> ResponseFuture<S, T>
    where
        S: Service<LambdaEvent<T>> + Clone,
        S::Error: Into<Diagnostic>;
}

/// Implements [`CheckedCache`] for `$handle`, whose `cache()` is checked before each
/// invocation; a fault fails the invocation with the [`Diagnostic`] `$describe(fault)`.
macro_rules! checked_cache {
    ($handle:ty, $describe:expr) => {
        impl $crate::cache::service::CheckedCache for $handle {
            fn check_then_call<S, T>(
                &self,
                inner: &mut S,
                event: ::lambda_runtime::LambdaEvent<T>,
            ) -> $crate::cache::future::ResponseFuture<S, T>
            where
                S: ::tower::Service<::lambda_runtime::LambdaEvent<T>> + Clone,
                S::Error: Into<::lambda_runtime::Diagnostic>,
            {
                $crate::cache::service::call(inner, self.cache(), $describe, event)
            }
        }
    };
}
pub(crate) use checked_cache;

/// Implements tower's `Layer` for `$layer`: each service is wrapped in a `$service` (an alias
/// of [`CacheService`]) checking a clone of the layer's handle, `$field`.
macro_rules! cache_layer {
    ($layer:ty => $service:ident, $field:ident) => {
        impl<S> ::tower::Layer<S> for $layer {
            type Service = $service<S>;

            fn layer(&self, inner: S) -> Self::Service {
                $service::new(inner, self.$field.clone())
            }
        }
    };
}
pub(crate) use cache_layer;

impl<S, T, H> Service<LambdaEvent<T>> for CacheService<S, H>
where
    S: Service<LambdaEvent<T>> + Clone,
    S::Error: Into<Diagnostic>,
    H: CheckedCache,
{
    type Response = S::Response;
    type Error = Diagnostic;
    type Future = ResponseFuture<S, T>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        self.handle.check_then_call(&mut self.inner, event)
    }
}

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
