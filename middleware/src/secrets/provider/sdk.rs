//! `GetSecretValue` through `aws-sdk-secretsmanager`.

use std::sync::Arc;

use aws_sdk_secretsmanager::{
    Client, config::http::HttpResponse, error::SdkError,
    operation::get_secret_value::GetSecretValueError,
};
use tern_runtime::aws::SdkFailure;

use super::{FetchError, FetchErrorKind, no_value};
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

/// Maps an SDK failure to its AWS error code and message ([`SdkFailure`]: a plain cause when
/// no answer came). A `ResponseError` may hold the raw response, which for this operation is
/// the secret itself: `SdkFailure` never quotes it.
fn sdk_error(error: SdkError<GetSecretValueError, HttpResponse>) -> FetchError {
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
