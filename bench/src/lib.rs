//! Benchmarks for tern: what the framework costs, measured against the alternatives.
//!
//! The workload is the one the issue names: a 10-record SQS batch of orders, one of which
//! fails validation, answered with a partial batch response. [`workload`] holds the order type,
//! its validation and the events; [`stack`] builds the same work two ways — tern's full stack
//! (invocation span and JSON logging, cached secrets, per-record idempotency with a local cache,
//! the batch layer) and the bare decode → validate → encode path a hand-written `lambda_runtime`
//! function takes; [`inprocess`] times both without any I/O, and [`log_line`] one log line. The `tern-bench` binary runs them,
//! and the same work built as Lambda functions under the Runtime Interface Emulator, next to
//! Powertools for AWS Lambda (Python), and writes the tables of `BENCHMARKS.md`. [`api`] compares
//! the `api` HTTP function with a bare `lambda_http` function serving the same axum router.
#![warn(missing_docs)]

pub mod api;
pub mod clean_build;
pub mod harness_support;
pub mod inprocess;
pub mod log_line;
mod orders;
pub mod rie;
pub mod stack;
pub mod stats;
pub mod workload;

/// Runs a bare function (`serve`) the way a hand-written `lambda_runtime` function does:
/// `lambda_runtime`'s default tracing subscriber, then `serve` on a current-thread Tokio
/// runtime. The `main` of the bare binaries, the references tern's functions are measured
/// against.
pub fn run_bare(
    serve: impl std::future::Future<Output = Result<(), lambda_runtime::Error>>,
) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve)
}
