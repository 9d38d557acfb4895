//! An AWS SDK failure as a [`FetchError`]: the service's error code and message, or what kept
//! the request from being answered. Shared by the Secrets Manager and SSM back-ends.

use aws_smithy_runtime_api::client::{orchestrator::HttpResponse, result::SdkError};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::fetch::{FetchError, FetchErrorKind, error_chain};

/// Maps an SDK failure of a call to `service` to its AWS error code. A `ResponseError` may hold
/// the raw response, which for a read of a secret or a SecureString is the value itself: only
/// its kind is kept, never its content.
pub(crate) fn sdk_error<E>(error: SdkError<E, HttpResponse>, service: &str) -> FetchError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &error {
        SdkError::ServiceError(failure) => {
            let code = failure.err().code().unwrap_or("Unknown").to_owned();
            let message = failure.err().message().unwrap_or("no message").to_owned();
            FetchError::from_code(code, message)
        }
        SdkError::DispatchFailure(failure) => {
            let kind = if failure.is_timeout() {
                "Timeout"
            } else {
                "DispatchFailure"
            };
            let detail = match failure.as_connector_error() {
                Some(connector) => error_chain(connector),
                None => "the request could not be sent".to_owned(),
            };
            FetchError::new(FetchErrorKind::Unreachable, kind, detail)
        }
        SdkError::TimeoutError(_) => FetchError::new(
            FetchErrorKind::Unreachable,
            "Timeout",
            format!("{service} did not answer within the SDK's timeout"),
        ),
        SdkError::ResponseError(_) => FetchError::new(
            FetchErrorKind::Other,
            "ResponseError",
            format!("the response from {service} could not be read"),
        ),
        SdkError::ConstructionFailure(_) => FetchError::new(
            FetchErrorKind::Other,
            "ConstructionFailure",
            error_chain(&error),
        ),
        _ => FetchError::new(FetchErrorKind::Other, "SdkError", error_chain(&error)),
    }
}
