//! [`MetricsService`].

use std::{
    sync::Arc,
    task::{self, Poll},
};

use lambda_runtime::LambdaEvent;
use tower::Service;

use super::{
    Metrics, MetricsConfig,
    future::{Flush, ResponseFuture},
};

/// Runs the inner service with a fresh [`Metrics`] scope per invocation and flushes it as EMF
/// when the invocation ends: on success, on error, and also if the handler panics or the
/// invocation is dropped.
#[derive(Debug, Clone)]
pub struct MetricsService<S> {
    inner: S,
    config: Arc<MetricsConfig>,
}

impl<S> MetricsService<S> {
    pub(crate) fn new(inner: S, config: Arc<MetricsConfig>) -> Self {
        Self { inner, config }
    }
}

impl<S, T> Service<LambdaEvent<T>> for MetricsService<S>
where
    S: Service<LambdaEvent<T>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        // Disabled: an inactive handle (every add is a no-op) and nothing to flush, so the
        // invocation allocates no buffer.
        if self.config.disabled {
            let metrics = Metrics::default();
            let inner = metrics.sync_scope(|| self.inner.call(event));
            return ResponseFuture::new(metrics.scope(inner), None);
        }
        let metrics = Metrics::active(self.config.default_dimensions.clone());
        let flush = Flush {
            cold_start: (self.config.cold_start_probe)(),
            function_name: event.context.env_config.clone(),
            metrics: metrics.clone(),
            config: self.config.clone(),
        };
        // `call` itself may record metrics, so it runs in the scope too.
        let inner = metrics.sync_scope(|| self.inner.call(event));
        ResponseFuture::new(metrics.scope(inner), Some(flush))
    }
}
