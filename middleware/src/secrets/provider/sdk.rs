//! `GetSecretValue` through `aws-sdk-secretsmanager`.

use std::sync::Arc;

use aws_sdk_secretsmanager::{
    Client,
    config::http::HttpResponse,
    error::{ProvideErrorMetadata, SdkError},
    operation::get_secret_value::GetSecretValueError,
};

use super::{FetchError, FetchErrorKind, error_chain, no_value};
use crate::secrets::value::SecretValue;

pub(super) async fn fetch(
    client: &Client,
    secret: &Arc<str>,
    secret_id: &str,
) -> Result<SecretValue, FetchError> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(sdk_error)?;
    let version_id = output.version_id;
    match (output.secret_string, output.secret_binary) {
        (Some(text), _) => Ok(SecretValue::text(secret.clone(), text, version_id)),
        (None, Some(blob)) => Ok(SecretValue::binary(
            secret.clone(),
            blob.into_inner(),
            version_id,
        )),
        (None, None) => Err(no_value()),
    }
}

/// Maps an SDK failure to its AWS error code. A `ResponseError` may hold the raw response,
/// which for this operation is the secret itself: only its kind is kept, never its content.
fn sdk_error(error: SdkError<GetSecretValueError, HttpResponse>) -> FetchError {
    match &error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("Unknown").to_owned();
            let message = service.err().message().unwrap_or("no message").to_owned();
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
            "Secrets Manager did not answer within the SDK's timeout",
        ),
        SdkError::ResponseError(_) => FetchError::new(
            FetchErrorKind::Other,
            "ResponseError",
            "the response from Secrets Manager could not be read",
        ),
        SdkError::ConstructionFailure(_) => FetchError::new(
            FetchErrorKind::Other,
            "ConstructionFailure",
            error_chain(&error),
        ),
        _ => FetchError::new(FetchErrorKind::Other, "SdkError", error_chain(&error)),
    }
}
