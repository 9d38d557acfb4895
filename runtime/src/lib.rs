//! `tern-runtime`: a custom AWS Lambda runtime that hosts many handlers in one `bootstrap`.
//!
//! A [`Bootstrap`] is a registry of handlers. Each handler has a name and a constructor
//! that runs once, during Lambda's init phase, and returns a tower
//! [`Service`](tower::Service) over [`LambdaEvent<T>`]. At start-up the bootstrap picks the
//! handler named by the first command-line argument (a container image's `CMD`), else by
//! `_HANDLER` (the `Handler` of a zip or layer function), else the only registered handler.
//!
//! Around the chosen service the runtime provides what every function needs:
//!
//! - **Init** — [`InitContext`] loads the AWS SDK configuration once and shares it; any
//!   failure (unknown handler, missing environment variable, unreachable secret) is reported
//!   to the Runtime API's `/runtime/init/error` with an `errorType` and a message that says
//!   what to fix, and the process exits non-zero.
//! - **Logging** — structured JSON (or text) per `AWS_LAMBDA_LOG_FORMAT`, level from
//!   `AWS_LAMBDA_LOG_LEVEL`, then `RUST_LOG`, then `INFO`. Every line written during an
//!   invocation carries `requestId`, `function_name`, `cold_start` and `xray_trace_id`.
//! - **Resilience** — a handler panic becomes an error response and the next invocation is
//!   served; events that do not deserialize get an error naming the bad field.
//! - **Concurrency** — with `AWS_LAMBDA_MAX_CONCURRENCY` > 1 (Lambda Managed Instances)
//!   invocations run concurrently on a multi-thread Tokio runtime; otherwise a
//!   `current_thread` runtime serves one invocation at a time, which is faster on Lambda's
//!   one-vCPU sizes.
//! - **Shutdown** — hooks registered with [`InitContext::on_shutdown`] run on `SIGTERM`/`SIGINT`
//!   before the process exits, and stdout is flushed.
//!
//! # Example
//!
//! ```no_run
//! use tern_runtime::{Bootstrap, InitContext, InitError, LambdaEvent, service_fn};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Greet { name: String }
//!
//! #[derive(Serialize)]
//! struct Greeting { text: String }
//!
//! async fn greet(event: LambdaEvent<Greet>) -> Result<Greeting, tern_runtime::Error> {
//!     tracing::info!(name = %event.payload.name, "greeting");
//!     Ok(Greeting { text: format!("hello, {}", event.payload.name) })
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     Bootstrap::new()
//!         .handler("greet", |_init: InitContext| async {
//!             Ok::<_, InitError>(service_fn(greet))
//!         })
//!         .run()
//! }
//! ```
#![warn(missing_docs)]

#[cfg(feature = "aws")]
pub mod aws;
mod bootstrap;
mod correlation;
pub mod env;
mod guard;
mod init;
mod invocation;
pub mod logging;
pub mod redact;
mod report;
mod rescue;
mod select;
mod shutdown;

pub use bootstrap::{Bootstrap, HandlerService, RuntimeFlavor};
pub use correlation::{Correlation, InvalidPointer};
pub use guard::{HANDLER_PANIC, UNMARSHAL_ERROR, panic_message};
pub use init::{InitContext, InitError};
pub use invocation::{
    DEFAULT_LOG_BUFFER_BYTES, DEFAULT_SDK_DEADLINE_MARGIN, InvocationFuture, InvocationLayer,
    InvocationService, is_cold_start,
};
pub use lambda_runtime::{Context, Diagnostic, Error, LambdaEvent, service_fn};
pub use redact::{decode_json, redact_json_error_message, redact_serde_message};
pub use rescue::INVALID_INVOCATION_CONTEXT;
pub use select::{HandlerSource, SelectedHandler};
