//! What every example function puts around its handler.

use tern_middleware::metrics::{MetricsConfig, MetricsLayer};

/// The outermost layer of every example: EMF metrics per invocation (`ColdStart`, the batch
/// and idempotency counts, the handler's own) when `TERN_METRICS_NAMESPACE` (or
/// `POWERTOOLS_METRICS_NAMESPACE`) is set; without a namespace it writes nothing.
pub fn metrics_layer() -> MetricsLayer {
    match MetricsConfig::from_env() {
        Ok(config) => MetricsLayer::new(config),
        Err(_) => {
            tracing::info!("metrics are off: set TERN_METRICS_NAMESPACE to emit EMF");
            MetricsLayer::new(MetricsConfig::new("tern").with_disabled(true))
        }
    }
}
