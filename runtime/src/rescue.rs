//! Keeping the process alive when lambda_runtime's run loop ends on an invocation it cannot
//! read.
//!
//! lambda_runtime 1.5 builds each invocation's `Context` from the Runtime API's headers before
//! any layer sees it, and a header it cannot parse ends its run loop with an error. One of them
//! comes from whoever invokes the function: the client context (`ClientContext` of the Invoke
//! API), whose `custom` and `env` maps must hold strings. So a caller allowed to invoke could
//! end the process, every time, costing a cold start and the environment's warm state.
//!
//! The Runtime API hands the pending invocation out again on the next `/next` until it is
//! answered. When the loop ends, [`rescue`] asks for it: if lambda_runtime cannot read its
//! headers, it is answered with an error here, and the bootstrap starts the loop again.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use http_body_util::BodyExt as _;
use lambda_runtime::{Config, Context, Diagnostic};
use lambda_runtime_api_client::{PooledClient, body::Body, build_request};

/// The `errorType` of an invocation whose context headers lambda_runtime cannot read.
pub const INVALID_INVOCATION_CONTEXT: &str = "Runtime.InvalidInvocationContext";

const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";
const REQUEST_ID: &str = "lambda-runtime-aws-request-id";

/// Invocations started since the process began (counted by the invocation layer), so that a
/// rescue can tell a loop that keeps failing on the same readable invocation.
pub(crate) static STARTED: AtomicU64 = AtomicU64::new(0);

/// What [`rescue`] did with the pending invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rescued {
    /// It was unreadable and has been answered with [`INVALID_INVOCATION_CONTEXT`].
    Answered,
    /// It reads fine: the loop gets it again when it restarts.
    LeftPending,
}

/// Fetches the invocation the loop ended on and answers it if lambda_runtime cannot read it.
///
/// An error means the Runtime API itself is unusable (or sent something other than an
/// invocation): the process should exit, as it would have.
pub(crate) async fn rescue() -> Result<Rescued, lambda_runtime::Error> {
    let client = PooledClient::builder().build();
    let next = build_request().uri(NEXT_PATH).body(Body::empty())?;
    let response = client.call(next).await?;
    if !response.status().is_success() {
        return Err(format!("the Runtime API answered /next with {}", response.status()).into());
    }
    let (parts, body) = response.into_parts();
    // Read whole, so the connection is clean for the answer.
    body.collect().await?;
    let request_id = parts
        .headers
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .ok_or("the Runtime API sent an invocation without a request id")?
        .to_owned();
    let config = Arc::new(Config::from_env());
    let Err(problem) = Context::new(&request_id, config, &parts.headers) else {
        return Ok(Rescued::LeftPending);
    };
    let diagnostic = Diagnostic {
        error_type: INVALID_INVOCATION_CONTEXT.to_owned(),
        error_message: format!(
            "the invocation's context from Lambda cannot be read: {}; the client context of an \
             Invoke call must be base64 JSON whose `custom` and `env` maps hold strings",
            crate::redact::redact_json_error_message(&problem.to_string())
        ),
    };
    tracing::error!(
        requestId = %request_id,
        error_type = %diagnostic.error_type,
        "{}",
        diagnostic.error_message
    );
    let answer = build_request()
        .method(http::Method::POST)
        .uri(format!("/2018-06-01/runtime/invocation/{request_id}/error"))
        .header("lambda-runtime-function-error-type", "unhandled")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&diagnostic)?))?;
    let answered = client.call(answer).await?;
    if !answered.status().is_success() {
        return Err(format!(
            "the Runtime API refused the error answer: {}",
            answered.status()
        )
        .into());
    }
    Ok(Rescued::Answered)
}

/// Counts an invocation that reached the invocation layer.
pub(crate) fn count_started() {
    STARTED.fetch_add(1, Ordering::Relaxed);
}
