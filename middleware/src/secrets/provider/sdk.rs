//! `GetSecretValue` through `aws-sdk-secretsmanager`.

use std::sync::Arc;

use aws_sdk_secretsmanager::Client;

use super::no_value;
use crate::{
    cache::{FetchError, sdk::sdk_error},
    secrets::value::SecretValue,
};

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
