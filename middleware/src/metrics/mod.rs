//! Business and operational metrics as CloudWatch Embedded Metric Format (EMF), with no
//! network call.
//!
//! [`MetricsLayer`] gives every invocation its own [`Metrics`] buffer. Anything inside the
//! handler reaches it with [`Metrics::current`] and adds metrics (name, [`Unit`], value;
//! optionally high resolution), dimensions and metadata. When the invocation ends — with a
//! response, an error, or a panic — the buffer is written to stdout as EMF documents, which
//! CloudWatch turns into metrics. Each document carries the namespace and a `service`
//! dimension from [`MetricsConfig`]; buffers past EMF's limits (100 metrics per document, 100
//! values per metric) become several documents, and a 30th custom dimension is an error.
//!
//! The buffer is scoped to the invocation's task, so with `AWS_LAMBDA_MAX_CONCURRENCY` > 1
//! concurrent invocations never mix their metrics. On the process's first invocation the
//! layer also emits `ColdStart = 1` (dimensions `service`, `function_name`). Other tern
//! middleware records its own metrics through the same handle when a metrics layer is present.
//!
//! ```no_run
//! use tern_middleware::metrics::{Metrics, MetricsLayer, Unit};
//! use tern_runtime::{Bootstrap, Error, InitContext, InitError, LambdaEvent, service_fn};
//! use tower::ServiceBuilder;
//!
//! async fn handle(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
//!     let metrics = Metrics::current();
//!     metrics.add_dimension("channel", "web")?;
//!     metrics.add("OrdersPlaced", Unit::Count, 1.0)?;
//!     Ok(event.payload)
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     Bootstrap::new()
//!         .handler("orders", |_init: InitContext| async {
//!             // TERN_METRICS_NAMESPACE must be set; a missing one fails init clearly.
//!             let metrics = MetricsLayer::from_env()?;
//!             Ok::<_, InitError>(ServiceBuilder::new().layer(metrics).service(service_fn(handle)))
//!         })
//!         .run()
//! }
//! ```

pub mod config;
mod emf;
pub mod error;
pub mod future;
mod handle;
mod layer;
mod service;
#[cfg(test)]
mod tests;
mod unit;

pub use config::MetricsConfig;
pub use error::MetricsError;
pub use handle::Metrics;
pub use layer::MetricsLayer;
pub use service::MetricsService;
pub use unit::{Resolution, Unit};
