//! [`MetricsLayer`].

use std::sync::Arc;

use tower::Layer;

use super::{MetricsConfig, MetricsService};

/// Collects the metrics a handler adds during an invocation and writes them as EMF when the
/// invocation ends. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MetricsLayer {
    config: Arc<MetricsConfig>,
}

impl MetricsLayer {
    /// A layer with this configuration.
    pub fn new(config: MetricsConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }

    /// A layer configured by [`MetricsConfig::from_env`].
    pub fn from_env() -> Result<Self, tern_runtime::InitError> {
        MetricsConfig::from_env().map(Self::new)
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService::new(inner, self.config.clone())
    }
}
