//! `tern-middleware`: tower layers for AWS Lambda handlers.
//!
//! Each middleware lives in its own module with its `XLayer`, `XService`, a config builder
//! (`with_*`, `from_env`) and an error type, and composes with `tower::ServiceBuilder` in the
//! order described in the project's ARCHITECTURE.md (outermost first: logging/metrics →
//! secrets → idempotency → batch → per-record handler).
//!
//! Modules: [`secrets`], [`idempotency`], [`batch`] and [`metrics`].
#![warn(missing_docs)]

pub mod batch;
pub mod idempotency;
pub mod metrics;
pub mod secrets;
