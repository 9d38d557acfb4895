//! `echo`: the smoke-test handler. Returns the message it was sent, and can be asked to fail
//! or panic so a deployment can check the runtime's error paths end to end.
//!
//! Event: `{"message": "hello"}`, optionally with `"fail": "error"` or `"fail": "panic"`, and
//! `"delay_ms": 250` to hold the invocation (to watch timeouts and concurrency).
//!
//! It also shows the shutdown hook: it counts the invocations it answered and logs the total
//! when Lambda shuts the environment down.
//! Response: `{"message": "hello", "length": 5}`.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use serde::{Deserialize, Serialize};
use tern_runtime::{HandlerService, InitContext, InitError, LambdaEvent, service_fn};

/// The event `echo` accepts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EchoRequest {
    /// Returned as is.
    pub message: String,
    /// Ask the handler to fail instead of answering.
    #[serde(default)]
    pub fail: Option<FailMode>,
    /// Wait this long (asynchronously) before answering.
    #[serde(default)]
    pub delay_ms: u64,
}

/// How `echo` is asked to fail.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Return an `EchoError` (an ordinary error response).
    Error,
    /// Panic inside the handler (the runtime must turn it into an error response).
    Panic,
}

/// The answer.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct EchoResponse {
    /// The message received.
    pub message: String,
    /// Its length in characters.
    pub length: usize,
}

/// The error `echo` returns when asked to.
#[derive(Debug, thiserror::Error)]
#[error("echo was asked to fail (message: {0:?})")]
pub struct EchoError(String);

/// Builds the `echo` service: no configuration; an answered-invocations counter reported at
/// shutdown.
pub async fn build(
    init: InitContext,
) -> Result<impl HandlerService<EchoRequest, Response = EchoResponse, Error = EchoError>, InitError>
{
    let answered = Arc::new(AtomicU64::new(0));
    let total = answered.clone();
    init.on_shutdown(move || async move {
        tracing::info!(
            answered = total.load(Ordering::Relaxed),
            "echo shutting down"
        );
    });
    Ok(service_fn(move |event| {
        let answered = answered.clone();
        async move {
            let response = handle(event).await?;
            answered.fetch_add(1, Ordering::Relaxed);
            Ok(response)
        }
    }))
}

/// Handles one event.
pub async fn handle(event: LambdaEvent<EchoRequest>) -> Result<EchoResponse, EchoError> {
    let EchoRequest {
        message,
        fail,
        delay_ms,
    } = event.payload;
    let length = message.chars().count();
    // Below INFO: what sampled invocations show, and buffered ones show when they fail.
    tracing::debug!(length, "echo received");
    if delay_ms > 0 {
        tracing::info!(delay_ms, "echo waiting");
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
    }
    tracing::debug!(fails = fail.is_some(), "echo checked");
    match fail {
        Some(FailMode::Error) => return Err(EchoError(message)),
        Some(FailMode::Panic) => panic!("echo was asked to panic (message: {message:?})"),
        None => {}
    }
    tracing::info!(length, "echo");
    Ok(EchoResponse { message, length })
}

impl From<EchoError> for tern_runtime::Diagnostic {
    fn from(error: EchoError) -> Self {
        Self {
            error_type: "Echo.RequestedFailure".to_owned(),
            error_message: error.to_string(),
        }
    }
}
