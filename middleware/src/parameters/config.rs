//! Which parameters a handler needs, how each is transformed, and how they are cached and
//! fetched.

use std::{any::Any, fmt, sync::Arc, time::Duration};

use serde::de::DeserializeOwned;
use tern_runtime::{
    InitError,
    env::{Env, names},
};

use crate::cache::settings::{self, SettingNames, Settings, cache_settings_builders};

/// `AWS_APPCONFIG_EXTENSION_HTTP_PORT`: the AppConfig Agent extension's port, the variable the
/// agent itself reads.
pub const APPCONFIG_PORT_ENV: &str = "AWS_APPCONFIG_EXTENSION_HTTP_PORT";
/// `AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS`: how often the AppConfig agent polls
/// AppConfig, the variable the agent itself reads.
pub const APPCONFIG_POLL_INTERVAL_ENV: &str = "AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS";

const DEFAULT_APPCONFIG_PORT: u16 = 2772;
const DEFAULT_APPCONFIG_POLL_INTERVAL: Duration = Duration::from_secs(45);

const SETTING_NAMES: SettingNames = SettingNames {
    ttl: names::PARAMETERS_TTL_SECONDS,
    grace: names::PARAMETERS_GRACE_SECONDS,
    backend: names::PARAMETERS_BACKEND,
};

/// Where SSM Parameter Store values come from. (AppConfig configurations always come from the
/// AppConfig Agent Lambda extension.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParametersBackend {
    /// `GetParameter`, `GetParameters` (up to 10 names per call) and `GetParametersByPath`
    /// through `aws-sdk-ssm`, with the function's shared SDK configuration. The default;
    /// `TERN_PARAMETERS_BACKEND=sdk`. Needs the `ssm` feature.
    Sdk,
    /// The AWS Parameters and Secrets Lambda Extension, on `localhost:<port>`
    /// (`TERN_PARAMETERS_BACKEND=extension`): one request per parameter, no paths. It keeps
    /// its own cache (`SSM_PARAMETER_STORE_TTL`, 300 s by default), so a value can be up to
    /// both TTLs old.
    Extension {
        /// The extension's HTTP port: `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`, else 2773.
        port: u16,
    },
}

impl ParametersBackend {
    /// The extension on its default port.
    pub fn extension() -> Self {
        Self::Extension {
            port: settings::DEFAULT_EXTENSION_PORT,
        }
    }
}

/// Where one parameter lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Store {
    /// One SSM parameter, by name or ARN (with an optional `:version` or `:label` selector).
    Ssm,
    /// Every SSM parameter under a path.
    SsmPath { recursive: bool },
    /// An AppConfig configuration, through the AppConfig agent.
    AppConfig,
}

/// Turns one typed value out of a parameter's text; `Err` says what is wrong.
pub(crate) type Parse =
    Arc<dyn Fn(&str) -> Result<Arc<dyn Any + Send + Sync>, String> + Send + Sync>;

/// What a fetched value becomes.
#[derive(Clone)]
pub(crate) enum Transform {
    /// The text as it is.
    Text,
    /// The text is base64; the bytes are the value.
    Binary,
    /// The text parsed into a typed value (JSON through serde, or a custom parser).
    Typed {
        type_name: &'static str,
        json: bool,
        parse: Parse,
    },
}

impl Transform {
    /// How messages and `Debug` name it.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Text => "text".to_owned(),
            Self::Binary => "base64 binary".to_owned(),
            Self::Typed {
                type_name,
                json: true,
                ..
            } => format!("JSON for `{}`", short_type_name(type_name)),
            Self::Typed { type_name, .. } => format!("a valid `{}`", short_type_name(type_name)),
        }
    }
}

/// A type's name without module paths: `Arc<shop::Rules>` for
/// `alloc::sync::Arc<shop::config::Rules>` is `Arc<Rules>`.
pub(crate) fn short_type_name(full: &str) -> String {
    let mut short = String::with_capacity(full.len());
    let mut segment_start = 0;
    for (at, c) in full.char_indices() {
        if !(c.is_alphanumeric() || c == '_' || c == ':') {
            short.push_str(last_segment(&full[segment_start..at]));
            short.push(c);
            segment_start = at + c.len_utf8();
        }
    }
    short.push_str(last_segment(&full[segment_start..]));
    short
}

fn last_segment(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path)
}

/// One parameter a handler declares: the logical name it reads the value by, the environment
/// variable that holds the parameter's name (or path, or AppConfig profile), where it lives and
/// what it is transformed into. Add it with [`ParametersConfig::with_parameter`] (required) or
/// [`with_optional_parameter`](ParametersConfig::with_optional_parameter).
///
/// ```
/// use std::time::Duration;
/// use serde::Deserialize;
/// use tern_middleware::parameters::Parameter;
///
/// #[derive(Deserialize)]
/// struct Limits { max_items: u32 }
///
/// let limits = Parameter::ssm("limits", "LIMITS_PARAMETER").with_json::<Limits>();
/// let flags = Parameter::appconfig("flags", "FLAGS_PROFILE").with_ttl(Duration::from_secs(30));
/// let tenants = Parameter::ssm_path("tenants", "TENANTS_PATH").with_recursion();
/// # let _ = (limits, flags, tenants);
/// ```
#[derive(Clone)]
pub struct Parameter {
    pub(crate) name: Arc<str>,
    pub(crate) env_var: String,
    pub(crate) store: Store,
    pub(crate) transform: Transform,
    pub(crate) ttl: Option<Duration>,
    pub(crate) grace: Option<Duration>,
    pub(crate) redacted: bool,
}

impl Parameter {
    fn new(name: impl Into<String>, env_var: impl Into<String>, store: Store) -> Self {
        Self {
            name: name.into().into(),
            env_var: env_var.into(),
            store,
            transform: Transform::Text,
            ttl: None,
            grace: None,
            redacted: false,
        }
    }

    /// One SSM parameter: `env_var` holds its name or ARN, optionally with a `:version` or
    /// `:label` selector. A `SecureString` is decrypted and treated like a secret: its value
    /// never appears in `Debug`, `Display`, logs or errors.
    pub fn ssm(name: impl Into<String>, env_var: impl Into<String>) -> Self {
        Self::new(name, env_var, Store::Ssm)
    }

    /// Every SSM parameter directly under a path (`env_var` holds it, e.g. `/shop/limits`),
    /// read with `GetParametersByPath` page by page; the value holds each parameter under its
    /// name relative to the path, transformed alike. [`with_recursion`](Self::with_recursion)
    /// reads the whole hierarchy. A path with no parameters is `Parameters.NotFound`.
    pub fn ssm_path(name: impl Into<String>, env_var: impl Into<String>) -> Self {
        Self::new(name, env_var, Store::SsmPath { recursive: false })
    }

    /// An AppConfig configuration through the AWS AppConfig Agent Lambda extension:
    /// `env_var` holds `application/environment/profile` (names or ids). The agent polls
    /// AppConfig and caches what it got; the value is refreshed from the agent once per
    /// `AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS` (45 s by default), the interval at which
    /// the agent can have anything new, unless [`with_ttl`](Self::with_ttl) says otherwise.
    pub fn appconfig(name: impl Into<String>, env_var: impl Into<String>) -> Self {
        Self::new(name, env_var, Store::AppConfig)
    }

    /// Reads a path's whole hierarchy, not only the parameters directly under it.
    ///
    /// # Panics
    /// If this is not a path ([`ssm_path`](Self::ssm_path)).
    pub fn with_recursion(mut self) -> Self {
        assert!(
            matches!(self.store, Store::SsmPath { .. }),
            "parameter `{}`: only a path (Parameter::ssm_path) reads recursively",
            self.name
        );
        self.store = Store::SsmPath { recursive: true };
        self
    }

    /// Parses the value as JSON into `T` once per fetched version; read it with
    /// [`ParameterValue::typed`](crate::parameters::ParameterValue::typed). A value that is not
    /// JSON for `T` fails init (or, on refresh, keeps the last good value and is reported).
    pub fn with_json<T>(mut self) -> Self
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let parse: Parse = Arc::new(|text: &str| {
            serde_json::from_str::<T>(text)
                .map(|value| Arc::new(value) as Arc<dyn Any + Send + Sync>)
                .map_err(|error| error.to_string())
        });
        self.transform = Transform::Typed {
            type_name: std::any::type_name::<T>(),
            json: true,
            parse,
        };
        self
    }

    /// Turns the value into a `T` with `parse` once per fetched version (validation beyond
    /// what serde checks, another format); `Err` says what is wrong with the value, and is
    /// treated like JSON that does not parse.
    pub fn with_transform<T, F>(mut self, parse: F) -> Self
    where
        T: Send + Sync + 'static,
        F: Fn(&str) -> Result<T, String> + Send + Sync + 'static,
    {
        let parse: Parse = Arc::new(move |text: &str| {
            parse(text).map(|value| Arc::new(value) as Arc<dyn Any + Send + Sync>)
        });
        self.transform = Transform::Typed {
            type_name: std::any::type_name::<T>(),
            json: false,
            parse,
        };
        self
    }

    /// Decodes the value from base64 (standard alphabet, padded); read the bytes with
    /// [`ParameterValue::as_bytes`](crate::parameters::ParameterValue::as_bytes).
    pub fn with_binary(mut self) -> Self {
        self.transform = Transform::Binary;
        self
    }

    /// How long this parameter's value is fresh, instead of the configuration's TTL.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// How long past its TTL this parameter's value is served while refreshes fail, instead of
    /// the configuration's grace period.
    pub fn with_grace_period(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// Treats the value like a secret whatever its type (`SecureString` values always are):
    /// for AppConfig configurations or `String` parameters that hold credentials.
    pub fn with_redaction(mut self) -> Self {
        self.redacted = true;
        self
    }

    /// The logical name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The environment variable that holds the parameter's name, path or profile.
    pub fn env_var(&self) -> &str {
        &self.env_var
    }
}

impl fmt::Debug for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parameter")
            .field("name", &self.name)
            .field("env_var", &self.env_var)
            .field("store", &self.store)
            .field("transform", &self.transform.describe())
            .field("ttl", &self.ttl)
            .field("grace", &self.grace)
            .field("redacted", &self.redacted)
            .finish()
    }
}

/// A declared parameter and whether init needs it.
#[derive(Debug, Clone)]
pub(crate) struct Declaration {
    pub(crate) parameter: Parameter,
    pub(crate) required: bool,
}

/// The parameters a handler declares, and the cache and back-end settings: the same shape as
/// `SecretsConfig` where both have a setting.
///
/// | setting | builder | environment | default |
/// |---|---|---|---|
/// | time to live | [`with_ttl`](Self::with_ttl), [`Parameter::with_ttl`] | `TERN_PARAMETERS_TTL_SECONDS` | 300 s (AppConfig: the agent's poll interval) |
/// | refresh ahead of expiry | [`with_refresh_ahead`](Self::with_refresh_ahead) | — | TTL / 10 |
/// | grace after failed refreshes | [`with_grace_period`](Self::with_grace_period), [`Parameter::with_grace_period`] | `TERN_PARAMETERS_GRACE_SECONDS` | 300 s |
/// | timeout of one fetch | [`with_fetch_timeout`](Self::with_fetch_timeout) | — | 5 s |
/// | SSM back-end | [`with_backend`](Self::with_backend) | `TERN_PARAMETERS_BACKEND` (`sdk` \| `extension`) | `sdk` |
/// | extension port | [`with_backend`](Self::with_backend) | `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` | 2773 |
/// | AppConfig agent port | [`with_appconfig_agent`](Self::with_appconfig_agent) | `AWS_APPCONFIG_EXTENSION_HTTP_PORT` | 2772 |
/// | AppConfig TTL | [`with_appconfig_agent`](Self::with_appconfig_agent) | `AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS` | 45 s |
///
/// The variables named by the declarations are read when the parameters are fetched, from the
/// process environment — or from the fixed set given to [`from_vars`](Self::from_vars).
#[derive(Debug, Clone)]
pub struct ParametersConfig {
    pub(crate) parameters: Vec<Declaration>,
    pub(crate) settings: Settings,
    appconfig_port: u16,
    appconfig_poll_interval: Duration,
}

impl Default for ParametersConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl ParametersConfig {
    /// No parameters, every setting at its default; the environment settings are not read.
    pub fn new() -> Self {
        Self {
            parameters: Vec::new(),
            settings: Settings::default(),
            appconfig_port: DEFAULT_APPCONFIG_PORT,
            appconfig_poll_interval: DEFAULT_APPCONFIG_POLL_INTERVAL,
        }
    }

    fn from(env: &Env) -> Result<Self, InitError> {
        let port = env.integer(APPCONFIG_PORT_ENV, 1..=u16::MAX)?;
        let poll_interval = env.seconds(APPCONFIG_POLL_INTERVAL_ENV, 1)?;
        Ok(Self {
            parameters: Vec::new(),
            settings: Settings::from_env(env.clone(), &SETTING_NAMES)?,
            appconfig_port: port.unwrap_or(DEFAULT_APPCONFIG_PORT),
            appconfig_poll_interval: poll_interval.unwrap_or(DEFAULT_APPCONFIG_POLL_INTERVAL),
        })
    }

    /// Declares a required parameter: init fails if its variable is unset, or the parameter
    /// cannot be fetched or transformed.
    ///
    /// # Panics
    /// If its name is already declared.
    pub fn with_parameter(self, parameter: Parameter) -> Self {
        self.declare(parameter, true)
    }

    /// Declares an optional parameter: if its variable is unset or it cannot be fetched, init
    /// logs a warning and reading it returns
    /// [`ParametersError::Unavailable`](crate::parameters::ParametersError::Unavailable) (or
    /// `None` through
    /// [`Parameters::get_optional`](crate::parameters::Parameters::get_optional)).
    ///
    /// # Panics
    /// If its name is already declared.
    pub fn with_optional_parameter(self, parameter: Parameter) -> Self {
        self.declare(parameter, false)
    }

    fn declare(mut self, parameter: Parameter, required: bool) -> Self {
        assert!(
            self.parameters
                .iter()
                .all(|d| d.parameter.name != parameter.name),
            "parameter `{}` is declared twice",
            parameter.name
        );
        self.parameters.push(Declaration {
            parameter,
            required,
        });
        self
    }

    cache_settings_builders! {
        /// Where SSM values come from (default [`ParametersBackend::Sdk`]).
        fn with_backend(ParametersBackend);
        /// The selected SSM back-end.
        fn backend;
    }

    /// The AppConfig agent's port and poll interval (the TTL of AppConfig values); by default
    /// what the agent reads from the environment, else 2772 and 45 s.
    pub fn with_appconfig_agent(mut self, port: u16, poll_interval: Duration) -> Self {
        self.appconfig_port = port;
        self.appconfig_poll_interval = poll_interval;
        self
    }

    /// The AppConfig agent's port.
    pub fn appconfig_port(&self) -> u16 {
        self.appconfig_port
    }

    /// The AppConfig agent's poll interval: the default TTL of AppConfig values.
    pub fn appconfig_poll_interval(&self) -> Duration {
        self.appconfig_poll_interval
    }

    /// The declared logical names, in declaration order.
    pub fn parameter_names(&self) -> impl Iterator<Item = &str> {
        self.parameters.iter().map(|d| &*d.parameter.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_secrets() {
        let config = crate::cache::settings::assert_default_cache_settings!(
            ParametersConfig,
            ParametersBackend
        );
        assert_eq!(config.appconfig_port(), 2772);
        assert_eq!(config.appconfig_poll_interval(), Duration::from_secs(45));
        assert_eq!(config.parameter_names().count(), 0);
    }

    #[test]
    fn settings_from_vars() {
        let config = crate::cache::settings::assert_cache_settings_from_vars!(
            ParametersConfig,
            ParametersBackend,
            SETTING_NAMES,
            ttl: "1" => Duration::from_secs(1),
            refresh_ahead: Duration::from_millis(100),
            backend: "EXTENSION",
            extra: [(APPCONFIG_PORT_ENV, "3000"), (APPCONFIG_POLL_INTERVAL_ENV, "15")],
        );
        assert_eq!(config.appconfig_port(), 3000);
        assert_eq!(config.appconfig_poll_interval(), Duration::from_secs(15));
    }

    #[test]
    fn invalid_settings_name_the_variable() {
        let cases = [
            (
                (names::PARAMETERS_TTL_SECONDS, "0"),
                "environment variable `TERN_PARAMETERS_TTL_SECONDS` is invalid: `0` is out of \
                 range; use a whole number of seconds from 1 to 18446744073709551615",
            ),
            (
                (names::PARAMETERS_GRACE_SECONDS, "soon"),
                "environment variable `TERN_PARAMETERS_GRACE_SECONDS` is invalid: `soon` is not \
                 a whole number of seconds; use a whole number of seconds from 0 to \
                 18446744073709551615",
            ),
            (
                (names::PARAMETERS_BACKEND, "appconfig"),
                "environment variable `TERN_PARAMETERS_BACKEND` is invalid: `appconfig` is not \
                 one of the choices; use `sdk` or `extension`",
            ),
            (
                (APPCONFIG_PORT_ENV, "0"),
                "environment variable `AWS_APPCONFIG_EXTENSION_HTTP_PORT` is invalid: `0` is out \
                 of range; use a whole number from 1 to 65535",
            ),
        ];
        for (var, message) in cases {
            let error = ParametersConfig::from_vars([var]).unwrap_err();
            assert_eq!(error.to_string(), message);
            assert_eq!(error.error_type(), "Runtime.InvalidEnvironmentVariable");
        }
    }

    #[test]
    fn declarations() {
        #[derive(serde::Deserialize)]
        struct Limits {
            _max: u32,
        }
        let config = ParametersConfig::new()
            .with_parameter(Parameter::ssm("limits", "LIMITS").with_json::<Limits>())
            .with_optional_parameter(
                Parameter::ssm_path("tenants", "TENANTS")
                    .with_recursion()
                    .with_ttl(Duration::from_secs(60))
                    .with_grace_period(Duration::from_secs(1)),
            )
            .with_parameter(Parameter::appconfig("flags", "FLAGS").with_redaction())
            .with_parameter(Parameter::ssm("cert", "CERT").with_binary())
            .with_appconfig_agent(2800, Duration::from_secs(10));
        assert_eq!(
            config.parameter_names().collect::<Vec<_>>(),
            ["limits", "tenants", "flags", "cert"]
        );
        let summary: Vec<_> = config
            .parameters
            .iter()
            .map(|d| {
                (
                    d.required,
                    d.parameter.store,
                    d.parameter.transform.describe(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (true, Store::Ssm, "JSON for `Limits`".to_owned()),
                (false, Store::SsmPath { recursive: true }, "text".to_owned()),
                (true, Store::AppConfig, "text".to_owned()),
                (true, Store::Ssm, "base64 binary".to_owned()),
            ]
        );
        assert_eq!(
            format!("{:?}", config.parameters[1].parameter),
            "Parameter { name: \"tenants\", env_var: \"TENANTS\", store: SsmPath { recursive: \
             true }, transform: \"text\", ttl: Some(60s), grace: Some(1s), redacted: false }"
        );
        assert!(config.parameters[2].parameter.redacted);
        assert_eq!(config.appconfig_port(), 2800);
    }

    #[test]
    fn type_names_lose_their_module_paths() {
        let cases = [
            ("alloc::sync::Arc<shop::config::Rules>", "Arc<Rules>"),
            ("u32", "u32"),
            (
                "std::collections::HashMap<alloc::string::String, (u8, shop::Flag)>",
                "HashMap<String, (u8, Flag)>",
            ),
            ("[shop::Flag; 2]", "[Flag; 2]"),
        ];
        for (full, short) in cases {
            assert_eq!(short_type_name(full), short);
        }
    }

    #[test]
    #[should_panic(expected = "parameter `a` is declared twice")]
    fn duplicate_names_are_rejected() {
        let _ = ParametersConfig::new()
            .with_parameter(Parameter::ssm("a", "A"))
            .with_optional_parameter(Parameter::appconfig("a", "B"));
    }

    #[test]
    #[should_panic(expected = "parameter `a`: only a path (Parameter::ssm_path) reads recursively")]
    fn recursion_is_for_paths() {
        let _ = Parameter::ssm("a", "A").with_recursion();
    }
}
