//! The future of [`MetricsService`](super::MetricsService), which writes the invocation's
//! documents when it ends.

use std::{
    pin::Pin,
    sync::Arc,
    task::{self, Poll},
};

use serde_json::Map;
use tokio::task::futures::TaskLocalFuture;

use super::{Metrics, MetricsConfig, emf::Snapshot};

pin_project_lite::pin_project! {
    /// The future of [`MetricsService`](super::MetricsService).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: TaskLocalFuture<Metrics, F>,
        flush: Option<Flush>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: TaskLocalFuture<Metrics, F>, flush: Option<Flush>) -> Self {
        Self { inner, flush }
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
pub(crate) struct Flush {
    pub(crate) cold_start: bool,
    pub(crate) function_name: Arc<lambda_runtime::Config>,
    pub(crate) metrics: Metrics,
    pub(crate) config: Arc<MetricsConfig>,
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
