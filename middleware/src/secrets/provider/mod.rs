//! Backends that fetch a secret's current value: Secrets Manager through the AWS SDK, or the
//! AWS Parameters and Secrets Lambda Extension on localhost.

mod extension;
#[cfg(feature = "secretsmanager")]
mod sdk;

use std::sync::Arc;

pub(crate) use crate::secrets::error::{FetchError, FetchErrorKind};
use crate::secrets::value::SecretValue;

pub(crate) use extension::Extension;

/// Where values come from. An enum rather than a trait object: two backends, no boxing of
/// the fetch future.
pub(crate) enum Provider {
    #[cfg(feature = "secretsmanager")]
    SecretsManager(aws_sdk_secretsmanager::Client),
    Extension(Box<Extension>),
    #[cfg(test)]
    Scripted(Arc<crate::secrets::scripted::Script>),
}

impl Provider {
    /// A short name for logs and `Debug`.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            #[cfg(feature = "secretsmanager")]
            Self::SecretsManager(_) => "secrets-manager",
            Self::Extension(_) => "parameters-and-secrets-extension",
            #[cfg(test)]
            Self::Scripted(_) => "scripted",
        }
    }

    /// Fetches the current value of `secret_id`, declared as `secret`.
    pub(crate) async fn fetch(
        &self,
        secret: &Arc<str>,
        secret_id: &str,
    ) -> Result<SecretValue, FetchError> {
        match self {
            #[cfg(feature = "secretsmanager")]
            Self::SecretsManager(client) => sdk::fetch(client, secret, secret_id).await,
            Self::Extension(extension) => extension.fetch(secret, secret_id).await,
            #[cfg(test)]
            Self::Scripted(script) => script.fetch(secret).await,
        }
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
