//! [`SecretsLayer`]: built at init, once every declared secret has been fetched.

#[cfg(feature = "secretsmanager")]
use aws_config::SdkConfig;
use tern_runtime::InitContext;

use crate::{
    cache::service::cache_layer,
    secrets::{
        config::{SecretsBackend, SecretsConfig},
        error::SecretsError,
        handle::Secrets,
        provider::{Extension, Provider},
        service::SecretsService,
    },
};

/// Wraps a handler in a [`SecretsService`]. Cheap to clone: it holds the shared [`Secrets`].
///
/// Every constructor fetches all declared secrets, concurrently, and fails if a required one
/// cannot be fetched, so an error here is an init error (`?` converts it into
/// [`InitError`](tern_runtime::InitError)).
#[derive(Clone, Debug)]
pub struct SecretsLayer {
    secrets: Secrets,
}

impl SecretsLayer {
    /// Fetches the declared secrets with the backend the configuration selects; the Secrets
    /// Manager client is built from the runtime's shared SDK configuration, loaded only if
    /// that backend is used.
    ///
    /// The Secrets Manager back-end needs the `secretsmanager` feature; without it, selecting
    /// that back-end (the default) fails with `Secrets.BackendNotBuiltIn`.
    pub async fn from_init(
        init: &InitContext,
        config: SecretsConfig,
    ) -> Result<Self, SecretsError> {
        match config.backend() {
            #[cfg(feature = "secretsmanager")]
            SecretsBackend::Sdk => {
                Self::fetch_with_client(config, sdk_client(init.aws_config().await)).await
            }
            #[cfg(not(feature = "secretsmanager"))]
            SecretsBackend::Sdk => {
                let _ = init;
                Err(SecretsError::BackendNotBuiltIn {
                    backend: "Secrets Manager (TERN_SECRETS_BACKEND=sdk, the default)",
                    feature: "secretsmanager",
                })
            }
            SecretsBackend::Extension { port } => Self::fetch_via_extension(config, port).await,
        }
    }

    /// Like [`from_init`](Self::from_init), with an explicit SDK configuration (ignored by the
    /// extension backend). (The `secretsmanager` feature.)
    #[cfg(feature = "secretsmanager")]
    pub async fn fetch(
        config: SecretsConfig,
        sdk_config: &SdkConfig,
    ) -> Result<Self, SecretsError> {
        match config.backend() {
            SecretsBackend::Sdk => Self::fetch_with_client(config, sdk_client(sdk_config)).await,
            SecretsBackend::Extension { port } => Self::fetch_via_extension(config, port).await,
        }
    }

    /// Fetches through this Secrets Manager client (e.g. one with custom interceptors or
    /// retry settings), whatever backend the configuration names. (The `secretsmanager`
    /// feature.)
    #[cfg(feature = "secretsmanager")]
    pub async fn fetch_with_client(
        config: SecretsConfig,
        client: aws_sdk_secretsmanager::Client,
    ) -> Result<Self, SecretsError> {
        Self::load(&config, Provider::SecretsManager(client)).await
    }

    async fn fetch_via_extension(config: SecretsConfig, port: u16) -> Result<Self, SecretsError> {
        let extension = Extension::new(port, config.var("AWS_SESSION_TOKEN"))
            .map_err(SecretsError::from_fault)?;
        Self::load(&config, Provider::Extension(Box::new(extension))).await
    }

    async fn load(config: &SecretsConfig, provider: Provider) -> Result<Self, SecretsError> {
        Ok(Self {
            secrets: Secrets::load(config, provider).await?,
        })
    }

    /// The handle to give the handler (clone it into the handler's closure or state).
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }
}

#[cfg(feature = "secretsmanager")]
fn sdk_client(sdk_config: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(sdk_config)
}

cache_layer!(SecretsLayer => SecretsService, secrets);

#[cfg(test)]
mod tests {
    use super::*;

    /// Either configuration fails at `fetch` with a `Runtime.MissingEnvironmentVariable`
    /// error before any fetch (no endpoint, region or credentials: any fetch attempt would
    /// fail differently).
    #[tokio::test]
    async fn missing_variables_fail_before_any_fetch() {
        let cases = [
            (
                // The extension backend needs the session token.
                SecretsConfig::from_vars([
                    ("TERN_SECRETS_BACKEND", "extension"),
                    ("DB_SECRET_ARN", "prod/db"),
                ])
                .unwrap()
                .with_secret("db", "DB_SECRET_ARN"),
                "environment variable `AWS_SESSION_TOKEN` is not set; it must hold the session token the \
                 Parameters and Secrets extension authenticates callers with (Lambda sets it)",
            ),
            (
                // An unset required variable.
                SecretsConfig::from_vars([("OTHER_ARN", "x")])
                    .unwrap()
                    .with_optional_secret("webhook", "WEBHOOK_SECRET_ARN")
                    .with_secret("db", "DB_SECRET_ARN"),
                "environment variable `DB_SECRET_ARN` is not set; it must hold the ARN or name of the \
                 Secrets Manager secret the handler reads as `db`",
            ),
        ];
        for (config, message) in cases {
            let sdk_config = SdkConfig::builder().build();
            let error = SecretsLayer::fetch(config, &sdk_config).await.unwrap_err();
            assert_eq!(error.error_type(), "Runtime.MissingEnvironmentVariable");
            assert_eq!(error.to_string(), message);
        }
    }
}
