//! The integration tests of tern-middleware, in one test binary: each former test file is a
//! module here, and `support` holds the helpers they share. One binary links the AWS SDK once
//! (one compile and one link instead of one per file).
//!
//! Each module needs the features of what it tests; `cargo test --workspace` enables them all
//! (the functions crate asks for `default`, `http`, `parameters` and `ssm`), and a build of the
//! crate alone with fewer features compiles the modules it can.

mod support;

#[cfg(feature = "batch")]
mod batch_behaviour;
#[cfg(feature = "batch")]
mod batch_composition;
#[cfg(feature = "batch")]
mod batch_deadline;
#[cfg(feature = "batch")]
mod batch_fixtures;
#[cfg(feature = "batch")]
mod batch_logs;
#[cfg(feature = "batch")]
mod batch_properties;
#[cfg(feature = "batch")]
mod batch_streams;
#[cfg(feature = "dynamodb")]
mod idempotency_faults;
#[cfg(feature = "dynamodb")]
mod idempotency_moto;
#[cfg(feature = "dynamodb")]
mod idempotency_transitions;
#[cfg(all(feature = "metrics", feature = "batch", feature = "idempotency"))]
mod metrics_builtin;
#[cfg(all(feature = "ssm", feature = "secretsmanager"))]
mod parameters_moto;
#[cfg(feature = "secretsmanager")]
mod secrets_moto;
