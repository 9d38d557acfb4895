//! The helpers the test modules share, one submodule per area, each compiled with the
//! features of the tests that use it.

#[cfg(feature = "batch")]
pub mod batch;
#[cfg(feature = "dynamodb")]
pub mod idempotency;
#[cfg(any(feature = "batch", feature = "secretsmanager"))]
pub mod logs;
#[cfg(feature = "secretsmanager")]
pub mod secrets;
