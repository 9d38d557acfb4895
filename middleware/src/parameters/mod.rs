//! Parameters from SSM Parameter Store and AppConfig, fetched at init, cached, refreshed in
//! the background: the secrets cache, for configuration.
//!
//! A handler declares the parameters it needs in a [`ParametersConfig`], each a [`Parameter`]:
//! one SSM parameter ([`Parameter::ssm`]), every parameter under an SSM path
//! ([`Parameter::ssm_path`], paginated, optionally recursive) or an AppConfig configuration
//! read through the AWS AppConfig Agent Lambda extension ([`Parameter::appconfig`]); for each,
//! the environment variable that holds its name, path or `application/environment/profile`,
//! the logical name the handler reads it by, and what it becomes: text, JSON parsed into a
//! typed value ([`Parameter::with_json`], or any parser with [`Parameter::with_transform`]),
//! or base64-decoded bytes ([`Parameter::with_binary`]). [`ParametersLayer::from_init`]
//! fetches all of them during Lambda's init phase, concurrently — single SSM names in
//! `GetParameters` calls of up to 10 names, paths page by page — through one SSM client built
//! from the runtime's shared SDK configuration (or through the AWS Parameters and Secrets
//! Lambda Extension, with `TERN_PARAMETERS_BACKEND=extension`). A required parameter whose
//! variable is unset, that cannot be fetched, or whose value does not transform is an init
//! error naming the variable, the parameter and the AWS error code (`Parameters.NotFound`,
//! `Parameters.AccessDenied`, `Parameters.Unreachable`, `Parameters.InvalidValue`, …); an
//! optional one only logs a warning. A `SecureString` is decrypted and treated like a secret:
//! its [`ParameterValue`] prints `ParameterValue(<redacted>)`, and no log line or error of
//! this module quotes it.
//!
//! Reads never wait on the network, with the cache engine the secrets module uses:
//! a value is fresh for its TTL (300 s by default, `TERN_PARAMETERS_TTL_SECONDS`; AppConfig
//! values follow the agent's poll interval, which is when it can have something new); in the
//! last tenth of it, a read starts one background refresh — of every parameter fetched in the
//! same `GetParameters` call that is due as well — and keeps getting the cached value until
//! the new one lands. A changed parameter is therefore applied within its TTL, without a
//! redeploy. A refresh that fails, or brings a value that does not transform, is logged (name,
//! error code) and the last good value is served for a grace period (300 s past the TTL by
//! default, `TERN_PARAMETERS_GRACE_SECONDS`); past it, the [`ParametersService`] makes one
//! deadline-bounded fetch before the handler runs, and fails the invocation with
//! `Parameters.Stale` if a required parameter is still stale.
//!
//! # Example
//!
//! ```no_run
//! use serde::Deserialize;
//! use tern_middleware::parameters::{Parameter, Parameters, ParametersConfig, ParametersLayer};
//! use tern_runtime::{Bootstrap, Diagnostic, InitContext, InitError, LambdaEvent, service_fn};
//! use tower::ServiceBuilder;
//!
//! #[derive(Deserialize)]
//! struct Limits {
//!     max_items: usize,
//! }
//!
//! #[derive(Deserialize)]
//! struct Order {
//!     items: Vec<String>,
//! }
//!
//! async fn accept(parameters: Parameters, event: LambdaEvent<Order>) -> Result<usize, Diagnostic> {
//!     // Errors keep their `Parameters.*` errorType through `?`.
//!     let limits = parameters.get("limits")?;
//!     let limits: &Limits = limits.typed()?; // parsed once per fetched version
//!     let api_key = parameters.get("api_key")?; // a SecureString
//!     tracing::info!(key = ?api_key, "calling the catalogue"); // `ParameterValue(<redacted>)`
//!     let _key: &str = api_key.as_str()?; // hand it to the client
//!     Ok(event.payload.items.len().min(limits.max_items))
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     Bootstrap::new()
//!         .handler("orders", |init: InitContext| async move {
//!             // LIMITS_PARAMETER and API_KEY_PARAMETER must be set; FLAGS_PROFILE may be.
//!             let config = ParametersConfig::from_env()?
//!                 .with_parameter(Parameter::ssm("limits", "LIMITS_PARAMETER").with_json::<Limits>())
//!                 .with_parameter(Parameter::ssm("api_key", "API_KEY_PARAMETER"))
//!                 .with_optional_parameter(Parameter::appconfig("flags", "FLAGS_PROFILE"));
//!             let layer = ParametersLayer::from_init(&init, config).await?;
//!             let parameters = layer.parameters().clone();
//!             let service = ServiceBuilder::new()
//!                 .layer(layer)
//!                 .service(service_fn(move |event| accept(parameters.clone(), event)));
//!             Ok::<_, InitError>(service)
//!         })
//!         .run()
//! }
//! ```

pub mod config;
pub mod error;
pub mod future;
mod handle;
mod layer;
mod provider;
mod service;
#[cfg(test)]
mod tests;
mod value;

/// The service behind the alias [`ParametersService`], shared by secrets and parameters.
pub use crate::cache::service::CacheService;
pub use config::{Parameter, ParametersBackend, ParametersConfig};
pub use error::ParametersError;
pub use handle::Parameters;
pub use layer::ParametersLayer;
pub use service::ParametersService;
pub use value::ParameterValue;
