//! Which secrets a handler needs, and how they are cached and fetched.

use std::sync::Arc;

use tern_runtime::{
    InitError,
    env::{Env, names},
};

use crate::cache::{
    Policy, Slot,
    settings::{self, SettingNames, Settings, cache_settings_builders},
};

/// `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`: the extension's port, the variable the extension
/// itself reads.
pub const EXTENSION_PORT_ENV: &str = settings::EXTENSION_PORT_ENV;

const SETTING_NAMES: SettingNames = SettingNames {
    ttl: names::SECRETS_TTL_SECONDS,
    grace: names::SECRETS_GRACE_SECONDS,
    backend: names::SECRETS_BACKEND,
};

/// Where secret values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsBackend {
    /// `GetSecretValue` through `aws-sdk-secretsmanager`, with the function's shared SDK
    /// configuration. The default; `TERN_SECRETS_BACKEND=sdk`.
    Sdk,
    /// The AWS Parameters and Secrets Lambda Extension, on `localhost:<port>`
    /// (`TERN_SECRETS_BACKEND=extension`). The extension layer must be attached to the function.
    /// It keeps its own cache (`SECRETS_MANAGER_TTL`, 300 s by default), so a value can be up to
    /// both TTLs old.
    Extension {
        /// The extension's HTTP port: `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`, else 2773.
        port: u16,
    },
}

impl SecretsBackend {
    /// The port the extension listens on unless `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` says
    /// otherwise.
    pub const DEFAULT_EXTENSION_PORT: u16 = settings::DEFAULT_EXTENSION_PORT;

    /// The extension on its default port.
    pub fn extension() -> Self {
        Self::Extension {
            port: Self::DEFAULT_EXTENSION_PORT,
        }
    }
}

/// One declared secret: a logical name the handler reads it by, and the environment variable
/// that holds its ARN or name.
#[derive(Debug, Clone)]
pub(crate) struct SecretDeclaration {
    pub(crate) name: Arc<str>,
    pub(crate) env_var: String,
    pub(crate) required: bool,
}

impl SecretDeclaration {
    /// The declaration as a cache entry fetching `secret_id`.
    pub(crate) fn slot(&self, secret_id: Option<String>, policy: Policy) -> Slot<String> {
        Slot {
            name: self.name.clone(),
            env_var: self.env_var.clone(),
            key: secret_id,
            required: self.required,
            policy,
        }
    }
}

/// The secrets a handler declares, and the cache and backend settings.
///
/// | setting | builder | environment | default |
/// |---|---|---|---|
/// | time to live | [`with_ttl`](Self::with_ttl) | `TERN_SECRETS_TTL_SECONDS` | 300 s |
/// | refresh ahead of expiry | [`with_refresh_ahead`](Self::with_refresh_ahead) | — | TTL / 10 |
/// | grace after failed refreshes | [`with_grace_period`](Self::with_grace_period) | `TERN_SECRETS_GRACE_SECONDS` | 300 s |
/// | timeout of one fetch | [`with_fetch_timeout`](Self::with_fetch_timeout) | — | 5 s |
/// | backend | [`with_backend`](Self::with_backend) | `TERN_SECRETS_BACKEND` (`sdk` \| `extension`) | `sdk` |
/// | extension port | [`with_backend`](Self::with_backend) | `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` | 2773 |
///
/// The variables named by [`with_secret`](Self::with_secret) are read when the secrets are
/// fetched, from the process environment — or from the fixed set given to
/// [`from_vars`](Self::from_vars).
#[derive(Debug, Clone)]
pub struct SecretsConfig {
    pub(crate) secrets: Vec<SecretDeclaration>,
    pub(crate) settings: Settings,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl SecretsConfig {
    /// No secrets, every setting at its default; the environment settings are not read.
    pub fn new() -> Self {
        Self {
            secrets: Vec::new(),
            settings: Settings::default(),
        }
    }

    fn from(env: &Env) -> Result<Self, InitError> {
        Ok(Self {
            secrets: Vec::new(),
            settings: Settings::from_env(env.clone(), &SETTING_NAMES)?,
        })
    }

    /// Declares a required secret: `env_var` holds its ARN or name, the handler reads it as
    /// `name`. Init fails if the variable is unset or the secret cannot be fetched.
    ///
    /// # Panics
    /// If `name` is already declared.
    pub fn with_secret(self, name: impl Into<String>, env_var: impl Into<String>) -> Self {
        self.declare(name.into(), env_var.into(), true)
    }

    /// Declares an optional secret: if `env_var` is unset or the secret cannot be fetched, init
    /// logs a warning and reading it returns [`SecretsError::Unavailable`](crate::secrets::SecretsError::Unavailable) (or `None` through
    /// [`Secrets::get_optional`](crate::secrets::Secrets::get_optional)).
    ///
    /// # Panics
    /// If `name` is already declared.
    pub fn with_optional_secret(self, name: impl Into<String>, env_var: impl Into<String>) -> Self {
        self.declare(name.into(), env_var.into(), false)
    }

    fn declare(mut self, name: String, env_var: String, required: bool) -> Self {
        assert!(
            self.secrets.iter().all(|s| *s.name != *name),
            "secret `{name}` is declared twice"
        );
        self.secrets.push(SecretDeclaration {
            name: name.into(),
            env_var,
            required,
        });
        self
    }

    cache_settings_builders! {
        /// Where values come from (default [`SecretsBackend::Sdk`]).
        fn with_backend(SecretsBackend);
        /// The selected backend.
        fn backend;
    }

    /// The declared logical names, in declaration order.
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        self.secrets.iter().map(|s| &*s.name)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn defaults() {
        let config =
            crate::cache::settings::assert_default_cache_settings!(SecretsConfig, SecretsBackend);
        assert_eq!(config.secret_names().count(), 0);
    }

    #[test]
    fn settings_from_vars() {
        crate::cache::settings::assert_cache_settings_from_vars!(
            SecretsConfig,
            SecretsBackend,
            SETTING_NAMES,
            ttl: "60" => Duration::from_secs(60),
            refresh_ahead: Duration::from_secs(6),
            backend: " Extension ",
            extra: [],
        );
        let blank = SecretsConfig::from_vars([
            (names::SECRETS_TTL_SECONDS, "  "),
            (names::SECRETS_BACKEND, ""),
        ])
        .unwrap();
        assert_eq!(blank.ttl(), Duration::from_secs(300));
        assert_eq!(blank.backend(), SecretsBackend::Sdk);
    }

    #[test]
    fn invalid_settings_name_the_variable() {
        let cases = [
            (
                (names::SECRETS_TTL_SECONDS, "0"),
                "environment variable `TERN_SECRETS_TTL_SECONDS` is invalid: `0` is out of range; \
                 use a whole number of seconds from 1 to 18446744073709551615",
            ),
            (
                (names::SECRETS_GRACE_SECONDS, "-5"),
                "environment variable `TERN_SECRETS_GRACE_SECONDS` is invalid: `-5` is out of \
                 range; use a whole number of seconds from 0 to 18446744073709551615",
            ),
            (
                (names::SECRETS_BACKEND, "ssm"),
                "environment variable `TERN_SECRETS_BACKEND` is invalid: `ssm` is not one of the \
                 choices; use `sdk` or `extension`",
            ),
        ];
        for (var, message) in cases {
            let error = SecretsConfig::from_vars([var]).unwrap_err();
            assert_eq!(error.to_string(), message);
            assert_eq!(error.error_type(), "Runtime.InvalidEnvironmentVariable");
        }
        let error = SecretsConfig::from_vars([
            (names::SECRETS_BACKEND, "extension"),
            (EXTENSION_PORT_ENV, "70000"),
        ])
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` is invalid: `70000` \
             is out of range; use a whole number from 1 to 65535"
        );
    }

    #[test]
    fn builder_overrides_and_declarations() {
        let config = SecretsConfig::new()
            .with_secret("db", "DB_SECRET_ARN")
            .with_optional_secret("webhook", "WEBHOOK_SECRET_ARN")
            .with_ttl(Duration::from_secs(20))
            .with_refresh_ahead(Duration::from_secs(60))
            .with_grace_period(Duration::from_secs(7))
            .with_fetch_timeout(Duration::from_millis(1500))
            .with_backend(SecretsBackend::Extension { port: 9 });
        assert_eq!(config.ttl(), Duration::from_secs(20));
        // A margin longer than the TTL means "always refresh", not an underflow.
        assert_eq!(config.refresh_ahead(), Duration::from_secs(20));
        assert_eq!(config.grace_period(), Duration::from_secs(7));
        assert_eq!(config.fetch_timeout(), Duration::from_millis(1500));
        assert_eq!(config.backend(), SecretsBackend::Extension { port: 9 });
        assert_eq!(config.secret_names().collect::<Vec<_>>(), ["db", "webhook"]);
        let required: Vec<_> = config
            .secrets
            .iter()
            .map(|s| (s.env_var.as_str(), s.required))
            .collect();
        assert_eq!(
            required,
            [("DB_SECRET_ARN", true), ("WEBHOOK_SECRET_ARN", false)]
        );
    }

    #[test]
    fn fixed_vars_are_trimmed_and_not_printed() {
        let config = SecretsConfig::from_vars([
            ("DB_SECRET_ARN", " arn:db \n"),
            ("AWS_SESSION_TOKEN", "tok-123"),
        ])
        .unwrap();
        assert_eq!(config.var("DB_SECRET_ARN").as_deref(), Some("arn:db"));
        assert_eq!(config.var("MISSING"), None);
        let debug = format!("{config:?}");
        assert!(debug.contains("Env(2 fixed variables)"), "{debug}");
        assert!(!debug.contains("tok-123"), "{debug}");
    }

    #[test]
    #[should_panic(expected = "secret `db` is declared twice")]
    fn duplicate_names_are_rejected() {
        let _ = SecretsConfig::new()
            .with_secret("db", "A")
            .with_optional_secret("db", "B");
    }
}
