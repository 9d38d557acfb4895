//! [`MetricsService`] and its future.

use std::{
    pin::Pin,
    sync::Arc,
    task::{self, Poll},
};

use lambda_runtime::LambdaEvent;
use serde_json::Map;
use tower::Service;

use super::{Metrics, MetricsConfig, emf::Snapshot};

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
            return ResponseFuture {
                inner: metrics.scope(inner),
                flush: None,
            };
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
        ResponseFuture {
            inner: metrics.scope(inner),
            flush: Some(flush),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`MetricsService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: tokio::task::futures::TaskLocalFuture<Metrics, F>,
        flush: Option<Flush>,
    }
}

impl<F: Future> Future for ResponseFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = std::task::ready!(this.inner.poll(cx));
        // Dropping the guard writes the documents, before the response leaves.
        drop(this.flush.take());
        Poll::Ready(output)
    }
}

/// Writes the invocation's documents when dropped: at completion, or while unwinding from a
/// panic, or when the invocation future is abandoned.
struct Flush {
    cold_start: bool,
    function_name: Arc<lambda_runtime::Config>,
    metrics: Metrics,
    config: Arc<MetricsConfig>,
}

impl Drop for Flush {
    fn drop(&mut self) {
        let config = &self.config;
        let timestamp_ms = (config.clock)();
        if self.cold_start && config.cold_start_metric {
            let dimensions = [
                ("service".to_owned(), config.service.clone()),
                (
                    "function_name".to_owned(),
                    self.function_name.function_name.clone(),
                ),
            ];
            let cold = [super::emf::MetricValues {
                name: "ColdStart".to_owned(),
                unit: super::Unit::Count,
                resolution: super::Resolution::Standard,
                values: vec![1.0],
            }];
            let snapshot = Snapshot {
                namespace: &config.namespace,
                dimensions: &dimensions,
                metadata: &Map::new(),
                metrics: &cold,
                timestamp_ms,
            };
            snapshot
                .render()
                .iter()
                .for_each(|doc| config.sink.write(doc));
        }
        let Some(buffer) = self.metrics.take() else {
            return;
        };
        if buffer.metrics.is_empty() {
            return;
        }
        let dimensions = buffer.dimensions_with(&config.service);
        let snapshot = Snapshot {
            namespace: &config.namespace,
            dimensions: &dimensions,
            metadata: &buffer.metadata,
            metrics: &buffer.metrics,
            timestamp_ms,
        };
        snapshot
            .render()
            .iter()
            .for_each(|doc| config.sink.write(doc));
    }
}
