//! Back-ends that fetch a secret's current value: Secrets Manager through the AWS SDK, or the
//! AWS Parameters and Secrets Lambda Extension on localhost.

mod extension;
#[cfg(feature = "secretsmanager")]
mod sdk;

use std::sync::Arc;

use futures_util::future::join_all;

use crate::{
    cache::{FetchError, FetchErrorKind, Request, Source},
    secrets::value::SecretValue,
};

pub(crate) use extension::Extension;

/// Where values come from. An enum rather than a trait object: two back-ends, no boxing of
/// the fetch future.
pub(crate) enum Provider {
    #[cfg(feature = "secretsmanager")]
    SecretsManager(aws_sdk_secretsmanager::Client),
    Extension(Box<Extension>),
    #[cfg(test)]
    Scripted(Arc<crate::cache::scripted::Script>),
}

impl Provider {
    /// Fetches the current value of `secret_id`, declared as `secret`.
    async fn fetch_one(
        &self,
        secret: &Arc<str>,
        secret_id: &str,
    ) -> Result<SecretValue, FetchError> {
        match self {
            #[cfg(feature = "secretsmanager")]
            Self::SecretsManager(client) => sdk::fetch(client, secret, secret_id).await,
            Self::Extension(extension) => extension.fetch(secret, secret_id).await,
            #[cfg(test)]
            Self::Scripted(script) => {
                let text = script.fetch().await?;
                Ok(SecretValue::text(secret.clone(), text.to_owned(), None))
            }
        }
    }
}

impl Source for Provider {
    type Key = String;
    type Value = SecretValue;

    fn label(&self) -> &'static str {
        match self {
            #[cfg(feature = "secretsmanager")]
            Self::SecretsManager(_) => "secrets-manager",
            Self::Extension(_) => "parameters-and-secrets-extension",
            #[cfg(test)]
            Self::Scripted(_) => "scripted",
        }
    }

    /// One `GetSecretValue` per secret, concurrently.
    async fn fetch(
        &self,
        requests: &[Request<'_, String>],
    ) -> Vec<Result<SecretValue, FetchError>> {
        join_all(
            requests
                .iter()
                .map(|request| self.fetch_one(request.name, request.key)),
        )
        .await
    }

    fn version(value: &SecretValue) -> Option<&str> {
        value.version_id()
    }
}

/// A version with neither `SecretString` nor `SecretBinary`.
fn no_value() -> FetchError {
    FetchError::new(
        FetchErrorKind::Other,
        "NoSecretValue",
        "the current version has neither SecretString nor SecretBinary",
    )
}
