//! An AWS SDK failure as a [`FetchError`]: the service's error code and message, or what kept
//! the request from being answered. Shared by the Secrets Manager and SSM back-ends.

use aws_smithy_runtime_api::client::{orchestrator::HttpResponse, result::SdkError};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tern_runtime::aws::SdkFailure;

use super::fetch::{FetchError, FetchErrorKind};

/// Maps an SDK failure to its AWS error code and message ([`SdkFailure`]: a plain cause, the
/// endpoint named, when no answer came). A `ResponseError` may hold the raw response, which for
/// a read of a secret or a SecureString is the value itself: `SdkFailure` never quotes it.
pub(crate) fn sdk_error<E>(error: SdkError<E, HttpResponse>) -> FetchError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let kind = match &error {
        SdkError::ServiceError(_) => None,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            Some(FetchErrorKind::Unreachable)
        }
        _ => Some(FetchErrorKind::Other),
    };
    let (code, message) = SdkFailure::from_sdk_error(&error).into_parts();
    match kind {
        None => FetchError::from_code(code, message),
        Some(kind) => FetchError::new(kind, code, message),
    }
}
