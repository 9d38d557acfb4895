//! [`ParametersLayer`]: built at init, once every declared parameter has been fetched.

#[cfg(feature = "ssm")]
use aws_config::SdkConfig;
use tern_runtime::InitContext;

use crate::{
    cache::{loopback::Loopback, service::cache_layer},
    parameters::{
        config::{ParametersBackend, ParametersConfig, Store},
        error::ParametersError,
        handle::{Parameters, describe},
        provider::{Provider, Ssm, appconfig::Agent},
        service::ParametersService,
    },
};

/// Wraps a handler in a [`ParametersService`]. Cheap to clone: it holds the shared
/// [`Parameters`].
///
/// Every constructor fetches all declared parameters, concurrently (single SSM names in
/// `GetParameters` calls of up to 10), and fails if a required one cannot be fetched or does
/// not transform, so an error here is an init error (`?` converts it into
/// [`InitError`](tern_runtime::InitError)).
#[derive(Clone, Debug)]
pub struct ParametersLayer {
    parameters: Parameters,
}

impl ParametersLayer {
    /// Fetches the declared parameters with the back-ends the configuration selects; the SSM
    /// client is built from the runtime's shared SDK configuration, loaded only if an SSM
    /// parameter is declared and the SDK back-end is selected.
    ///
    /// The SDK back-end needs the `ssm` feature; without it, selecting that back-end (the
    /// default) for an SSM parameter fails with `Parameters.BackendNotBuiltIn`.
    pub async fn from_init(
        init: &InitContext,
        config: ParametersConfig,
    ) -> Result<Self, ParametersError> {
        let ssm = match (uses_ssm(&config), config.backend()) {
            (false, _) => Ssm::Unused,
            #[cfg(feature = "ssm")]
            (true, ParametersBackend::Sdk) => Ssm::Sdk(sdk_client(init.aws_config().await)),
            #[cfg(not(feature = "ssm"))]
            (true, ParametersBackend::Sdk) => {
                let _ = init;
                return Err(ParametersError::BackendNotBuiltIn {
                    backend: "SSM (TERN_PARAMETERS_BACKEND=sdk, the default)",
                    feature: "ssm",
                });
            }
            (true, ParametersBackend::Extension { port }) => extension(&config, port)?,
        };
        Self::load(config, ssm).await
    }

    /// Like [`from_init`](Self::from_init), with an explicit SDK configuration (ignored by the
    /// extension back-end). (The `ssm` feature.)
    #[cfg(feature = "ssm")]
    pub async fn fetch(
        config: ParametersConfig,
        sdk_config: &SdkConfig,
    ) -> Result<Self, ParametersError> {
        let ssm = match (uses_ssm(&config), config.backend()) {
            (false, _) => Ssm::Unused,
            (true, ParametersBackend::Sdk) => Ssm::Sdk(sdk_client(sdk_config)),
            (true, ParametersBackend::Extension { port }) => extension(&config, port)?,
        };
        Self::load(config, ssm).await
    }

    /// Fetches SSM parameters through this client (e.g. one with custom interceptors or retry
    /// settings), whatever back-end the configuration names. (The `ssm` feature.)
    #[cfg(feature = "ssm")]
    pub async fn fetch_with_client(
        config: ParametersConfig,
        client: aws_sdk_ssm::Client,
    ) -> Result<Self, ParametersError> {
        Self::load(config, Ssm::Sdk(client)).await
    }

    pub(super) async fn load(config: ParametersConfig, ssm: Ssm) -> Result<Self, ParametersError> {
        if let Ssm::Extension(_) = ssm
            && let Some(path) = config
                .parameters
                .iter()
                .find(|d| matches!(d.parameter.store, Store::SsmPath { .. }))
        {
            return Err(ParametersError::Unsupported {
                parameter: path.parameter.name.to_string(),
                reason: "it is read by path, which the Parameters and Secrets Lambda Extension \
                         cannot do; use the SDK back-end (TERN_PARAMETERS_BACKEND=sdk)"
                    .to_owned(),
            });
        }
        let uses_appconfig = config
            .parameters
            .iter()
            .any(|d| d.parameter.store == Store::AppConfig);
        let appconfig = uses_appconfig.then(|| Agent::new(config.appconfig_port()));
        let parameters = Parameters::load(&config, Provider { ssm, appconfig }).await?;
        Ok(Self { parameters })
    }

    /// The handle to give the handler (clone it into the handler's closure or state).
    pub fn parameters(&self) -> &Parameters {
        &self.parameters
    }
}

/// Whether an SSM parameter is declared and its variable set.
fn uses_ssm(config: &ParametersConfig) -> bool {
    config.parameters.iter().any(|d| {
        d.parameter.store != Store::AppConfig && config.var(&d.parameter.env_var).is_some()
    })
}

pub(super) fn extension(config: &ParametersConfig, port: u16) -> Result<Ssm, ParametersError> {
    let endpoint = format!("http://localhost:{port}");
    let extension = Loopback::parameters_and_secrets(endpoint, config.var("AWS_SESSION_TOKEN"))
        .map_err(describe)?;
    Ok(Ssm::Extension(Box::new(extension)))
}

#[cfg(feature = "ssm")]
fn sdk_client(sdk_config: &SdkConfig) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(sdk_config)
}

cache_layer!(ParametersLayer => ParametersService, parameters);
