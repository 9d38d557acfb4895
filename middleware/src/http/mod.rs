//! HTTP handlers: API Gateway (REST and HTTP API), Function URL and ALB events served by any
//! `tower::Service<http::Request<lambda_http::Body>>`, such as an axum `Router`.
//!
//! [`HttpLayer`] makes such a service a registry handler over lambda_http's event type, so the
//! runtime's init, logging and panic guard apply as to any handler. lambda_http detects the
//! event kind per invocation and answers in its shape: REST APIs get every header in
//! `multiValueHeaders`; HTTP APIs and Function URLs get `Set-Cookie` values in `cookies` and
//! other repeated headers combined into one comma-separated value (their `headers` holds one
//! value per name); ALB gets `multiValueHeaders` when the target group has multi-value headers
//! on, else one value per name like HTTP APIs (and only the first cookie). Bodies are text for
//! `text/*`, JSON, XML, YAML and JavaScript types and for `+json`/`+xml`/`+yaml` suffixes (in
//! their charset), base64 for anything else or with a `Content-Encoding`. Request bodies
//! arrive decoded, cookies as one `Cookie` header; the Lambda
//! [`Context`](lambda_runtime::Context) and the front door's request context are in the
//! request's extensions (`lambda_http::RequestExt`). Every line logged while a request is
//! served carries `correlation_id` next to `requestId`: the runtime takes API Gateway's
//! request id, or ALB's `X-Amzn-Trace-Id`, from the event. A panic of the service becomes a `500` [`Problem`] response (the
//! panic is logged, the client learns nothing of it) and the next request is served.
//! Compose with `MetricsLayer` outside `HttpLayer` to flush metrics per invocation.
//!
//! [`IdempotencyKeyLayer`] (with the `idempotency` feature) makes `POST` and `PATCH` requests
//! idempotent by their `Idempotency-Key` header, as the IETF httpapi draft describes, on the
//! idempotency engine and store (same DynamoDB table and item schema). The first request
//! runs and its response (status, headers in order, body) is stored; a retry with the same key
//! gets that response byte for byte, without running. A retry while the first still runs
//! gets `409`; the same key with another method, path, query or body (hashed into the
//! record's validation) gets `422`; a request without the header gets `400` (or runs without
//! idempotency with [`MissingKey::RunWithoutIdempotency`](crate::idempotency::MissingKey));
//! a malformed key gets `400`. Server errors (`5xx`), `408` and `429` are not stored: the
//! key is freed and a retry runs again. Keys are scoped by the engine's prefix, not by
//! caller: clients must send unique keys (UUIDs). All these answers are problem details.
//!
//! # Example
//!
//! ```no_run
//! use axum::{Router, routing::{get, post}};
//! use tern_middleware::{
//!     http::{HttpLayer, IdempotencyKeyLayer},
//!     idempotency::IdempotencyConfig,
//!     metrics::MetricsLayer,
//! };
//! use tern_runtime::{Bootstrap, InitContext, InitError};
//! use tower::ServiceBuilder;
//!
//! async fn create() -> (http::StatusCode, &'static str) {
//!     (http::StatusCode::CREATED, "created")
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     Bootstrap::new()
//!         .handler("api", |init: InitContext| async move {
//!             // TERN_IDEMPOTENCY_TABLE names the table.
//!             let once = IdempotencyKeyLayer::from_init(&init, IdempotencyConfig::from_env()?)
//!                 .await?;
//!             let router = Router::new()
//!                 .route("/things", post(create).layer(once))
//!                 .route("/health", get(|| async { "ok" }));
//!             Ok::<_, InitError>(
//!                 ServiceBuilder::new()
//!                     .layer(MetricsLayer::from_env()?)
//!                     .layer(HttpLayer::new())
//!                     .service(router),
//!             )
//!         })
//!         .run()
//! }
//! ```

pub mod future;
#[cfg(feature = "idempotency")]
mod idempotency_key;
mod layer;
mod origin;
mod problem;
mod service;

#[cfg(feature = "idempotency")]
pub use idempotency_key::{
    IDEMPOTENCY_KEY, IdempotencyKeyLayer, IdempotencyKeyService, MAX_KEY_LEN,
};
pub use layer::HttpLayer;
pub use problem::{PROBLEM_JSON, Problem};
pub use service::{HttpService, LambdaResponse};

/// The error type bodies' errors convert into.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
#[cfg(test)]
mod tests;
