//! Reporting init failures to the Lambda Runtime API.

use lambda_runtime_api_client::{PooledClient, body::Body, build_request};

use crate::init::InitError;

const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";

/// POSTs the error to `/runtime/init/error` (Lambda then fails the pending invocation with it
/// and records it as the init failure). Logged either way; a failure to report is logged too,
/// never hidden, but cannot be reported anywhere else.
pub(crate) async fn report_init_error(error: &InitError) {
    let error_type = error.error_type();
    let message = error.to_string();
    tracing::error!(error_type, "init failed: {message}");

    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        eprintln!(
            "init failed ({error_type}): {message}\n\
             AWS_LAMBDA_RUNTIME_API is not set: run this bootstrap in Lambda, in the Runtime \
             Interface Emulator, or under `cargo lambda watch`"
        );
        return;
    }

    let body = serde_json::json!({ "errorType": error_type, "errorMessage": message });
    let request = build_request()
        .method(http::Method::POST)
        .uri(INIT_ERROR_PATH)
        .header("Lambda-Runtime-Function-Error-Type", error_type)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()));
    let request = match request {
        Ok(request) => request,
        Err(err) => {
            tracing::error!(error = %err, "could not build the init error report");
            return;
        }
    };
    match PooledClient::builder().build().call(request).await {
        Ok(response) if response.status().is_success() => {}
        Ok(response) => {
            tracing::error!(status = %response.status(), "the Runtime API rejected the init error report")
        }
        Err(err) => tracing::error!(error = %err, "could not send the init error report"),
    }
}
