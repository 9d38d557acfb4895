//! Idempotency: run a handler once per event, however often Lambda delivers it.
//!
//! Each event gets a key, `<prefix>#<hex SHA-256 of the canonical JSON of its selected
//! data>`, selected by a [`KeySelector`] (a typed closure, a JSON Pointer or, with the
//! `jmespath` feature, a JMESPath expression: a [`KeyExpression`]); the prefix is
//! `<function name>.<handler name>` unless set. Before the handler runs, a conditional write
//! stores an `INPROGRESS` record; it succeeds when the key is new, its record expired, or its
//! lock expired (the lock lasts until the invocation's deadline, so a timed-out invocation frees
//! its key). If the key holds a live `COMPLETED` record instead, its stored response is
//! returned and the handler does not run; if it is still `INPROGRESS`, the call fails with
//! [`IdempotencyError::AlreadyInProgress`] (retryable). When the handler fails its record is
//! deleted and its error returned unchanged, so a retry runs it again; when it succeeds the
//! record turns `COMPLETED` with the serialized response and lives one hour (configurable). The
//! response type must therefore serialize to JSON and deserialize back to the same JSON. An
//! event without a key fails with [`IdempotencyError::MissingKey`], or runs without
//! idempotency if [`MissingKey::RunWithoutIdempotency`] is set.
//!
//! Records live in an [`IdempotencyStore`](store::IdempotencyStore): [`DynamoDbStore`](store::DynamoDbStore) (the
//! `dynamodb` feature) uses the item schema of
//! Powertools for AWS Lambda (`id`, `expiration`, `in_progress_expiration`, `status`, `data`,
//! `validation`; see [`IdempotencyRecord`](store::IdempotencyRecord)), so existing tables and their TTL setting work, and
//! costs two calls for a new key and one for a duplicate; [`MemoryStore`](store::MemoryStore) is for tests and
//! local runs. A store failure fails closed: the handler does not run, and the error names the
//! table and the AWS error code ([`IdempotencyError::Persistence`]); store calls end 100 ms
//! before the invocation's deadline (code `DeadlineExceeded`), so an unanswered call is an
//! error, not a timeout. Optionally a hash of some
//! fields is stored too, and a duplicate whose fields differ fails with
//! [`IdempotencyError::PayloadMismatch`]; and a local LRU cache of completed records answers
//! repeated duplicates with no store call at all. [`IdempotencyLayer`] applies all of this to
//! whole events; the same engine, [`Idempotency::run`], makes any unit of work idempotent, such
//! as one record inside the batch layer (or wrap the per-record service in an
//! `IdempotencyLayer` of the record type).
//!
//! # Example
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use tern_middleware::idempotency::{IdempotencyConfig, IdempotencyLayer, KeySelector};
//! use tern_runtime::{Bootstrap, Diagnostic, InitContext, InitError, LambdaEvent, service_fn};
//! use tower::ServiceBuilder;
//!
//! #[derive(Deserialize, Serialize)]
//! struct Payment {
//!     order_id: String,
//!     amount_cents: u64,
//! }
//!
//! #[derive(Deserialize, Serialize)]
//! struct Receipt {
//!     order_id: String,
//!     charged_cents: u64,
//! }
//!
//! async fn charge(event: LambdaEvent<Payment>) -> Result<Receipt, Diagnostic> {
//!     // Charge the card here: it happens once per order id.
//!     Ok(Receipt { order_id: event.payload.order_id, charged_cents: event.payload.amount_cents })
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     Bootstrap::new()
//!         .handler("charge", |init: InitContext| async move {
//!             // TERN_IDEMPOTENCY_TABLE names the table; TERN_IDEMPOTENCY_EXPIRES_SECONDS
//!             // (default 3600) how long a response answers duplicates.
//!             let config = IdempotencyConfig::from_env()?
//!                 .with_prefix("payments.charge") // survives renaming the function
//!                 .with_local_cache(256);
//!             let by_order = KeySelector::from_fn(|p: &Payment| Some(p.order_id.clone()));
//!             let idempotency = IdempotencyLayer::from_init(&init, config, by_order)
//!                 .await?
//!                 // The same order id with another amount is an error, not a duplicate.
//!                 .with_validation(KeySelector::from_fn(|p: &Payment| Some(p.amount_cents)));
//!             let service = ServiceBuilder::new()
//!                 .layer(idempotency)
//!                 .service(service_fn(charge));
//!             Ok::<_, InitError>(service)
//!         })
//!         .run()
//! }
//! ```

mod cache;
pub mod config;
mod engine;
#[cfg(test)]
mod engine_tests;
pub mod error;
pub mod expression;
pub mod future;
pub mod key;
mod layer;
mod record;
mod service;
pub mod store;
mod transitions;

pub use config::{IdempotencyConfig, MissingKey};
pub use engine::Idempotency;
pub use error::IdempotencyError;
pub use expression::KeyExpression;
pub use key::KeySelector;
pub use layer::IdempotencyLayer;
pub use service::IdempotencyService;
#[cfg(feature = "http")]
pub(crate) use transitions::TimeLeft;
