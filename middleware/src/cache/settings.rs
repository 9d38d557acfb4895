//! The configuration shape every cached facility shares (secrets, parameters): TTL, refresh
//! ahead of expiry, grace period, fetch timeout, SDK or extension back-end, and the environment
//! the declared variables are read from.

use std::time::Duration;

use tern_runtime::{InitError, env::Env};

use super::Policy;

/// `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`: the port of the AWS Parameters and Secrets Lambda
/// Extension, the variable the extension itself reads.
pub(crate) const EXTENSION_PORT_ENV: &str = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT";
/// The extension's port unless [`EXTENSION_PORT_ENV`] says otherwise.
pub(crate) const DEFAULT_EXTENSION_PORT: u16 = 2773;

const DEFAULT_TTL: Duration = Duration::from_secs(300);
const DEFAULT_GRACE: Duration = Duration::from_secs(300);
const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The variables a facility reads its settings from.
pub(crate) struct SettingNames {
    pub(crate) ttl: &'static str,
    pub(crate) grace: &'static str,
    pub(crate) backend: &'static str,
}

/// Cache and back-end settings; each facility's config holds one and exposes it through
/// [`cache_settings_builders!`].
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) ttl: Duration,
    pub(crate) refresh_ahead: Option<Duration>,
    pub(crate) grace: Duration,
    pub(crate) fetch_timeout: Duration,
    /// `Some(port)`: the Parameters and Secrets extension; `None`: the AWS SDK.
    pub(crate) extension_port: Option<u16>,
    pub(crate) env: Env,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            ttl: DEFAULT_TTL,
            refresh_ahead: None,
            grace: DEFAULT_GRACE,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            extension_port: None,
            env: Env::process(),
        }
    }
}

impl Settings {
    /// The defaults, overridden by the variables in `names` (and the extension's port
    /// variable when the extension is selected), read from `env`.
    pub(crate) fn from_env(env: Env, names: &SettingNames) -> Result<Self, InitError> {
        let mut settings = Self::default();
        if let Some(ttl) = env.seconds(names.ttl, 1)? {
            settings.ttl = ttl;
        }
        if let Some(grace) = env.seconds(names.grace, 0)? {
            settings.grace = grace;
        }
        let extension = env.choice(names.backend, &[("sdk", false), ("extension", true)])?;
        if extension == Some(true) {
            let port = env.integer(EXTENSION_PORT_ENV, 1..=u16::MAX)?;
            settings.extension_port = Some(port.unwrap_or(DEFAULT_EXTENSION_PORT));
        }
        settings.env = env;
        Ok(settings)
    }

    /// How long before expiry a background refresh starts: the configured margin (TTL / 10 by
    /// default), capped at the TTL.
    pub(crate) fn refresh_ahead(&self) -> Duration {
        self.refresh_ahead.unwrap_or(self.ttl / 10).min(self.ttl)
    }

    /// The timing rules of an entry: these settings, with the entry's own TTL or grace period
    /// if it has one; the refresh margin follows its TTL.
    pub(crate) fn policy(&self, ttl: Option<Duration>, grace: Option<Duration>) -> Policy {
        let ttl = ttl.unwrap_or(self.ttl);
        Policy {
            ttl,
            refresh_ahead: self.refresh_ahead.unwrap_or(ttl / 10).min(ttl),
            grace: grace.unwrap_or(self.grace),
            fetch_timeout: self.fetch_timeout,
        }
    }
}

/// The builder methods and getters of the shared settings, for a config type with a
/// `settings: Settings` field and a `fn from(env: &Env) -> Result<Self, InitError>`; the same
/// names and documentation in every facility. `with_backend` and `backend` set and read the
/// back-end as the facility's own enum (`Sdk`, or `Extension { port }`), with the documentation
/// given for them.
macro_rules! cache_settings_builders {
    (
        $(#[$with_backend_doc:meta])*
        fn with_backend($backend:ident);
        $(#[$backend_doc:meta])*
        fn backend;
    ) => {
        tern_runtime::env_constructors! {
            /// The defaults, overridden by the environment settings in the table above. A
            /// variable that is set but unusable is a `Runtime.InvalidEnvironmentVariable` error
            /// naming it. `from_vars` reads its variables both for the settings and for the
            /// variables the declarations name.
        }

        crate::setters! {
            /// How long a fetched value is fresh (default 300 s).
            with_ttl(ttl: std::time::Duration) => settings.ttl = ttl;

            /// How long before expiry a read starts a background refresh (default TTL / 10;
            /// capped at the TTL).
            with_refresh_ahead(margin: std::time::Duration) =>
                settings.refresh_ahead = Some(margin);

            /// How long past its TTL a value is still served while refreshes fail (default
            /// 300 s).
            with_grace_period(grace: std::time::Duration) => settings.grace = grace;

            /// The longest one fetch may take, at init and in the background (default 5 s).
            with_fetch_timeout(timeout: std::time::Duration) => settings.fetch_timeout = timeout;
        }

        /// The time to live of a fetched value.
        pub fn ttl(&self) -> std::time::Duration {
            self.settings.ttl
        }

        /// How long before expiry a background refresh starts.
        pub fn refresh_ahead(&self) -> std::time::Duration {
            self.settings.refresh_ahead()
        }

        /// How long past its TTL a value is served while refreshes fail.
        pub fn grace_period(&self) -> std::time::Duration {
            self.settings.grace
        }

        /// The timeout of one fetch.
        pub fn fetch_timeout(&self) -> std::time::Duration {
            self.settings.fetch_timeout
        }

        $(#[$with_backend_doc])*
        pub fn with_backend(mut self, backend: $backend) -> Self {
            self.settings.extension_port = match backend {
                $backend::Sdk => None,
                $backend::Extension { port } => Some(port),
            };
            self
        }

        $(#[$backend_doc])*
        pub fn backend(&self) -> $backend {
            match self.settings.extension_port {
                None => $backend::Sdk,
                Some(port) => $backend::Extension { port },
            }
        }

        /// Reads a variable from this configuration's environment (see
        /// [`Env::get`](tern_runtime::env::Env::get)).
        pub(crate) fn var(&self, name: &str) -> Option<String> {
            self.settings.env.get(name)
        }
    };
}

pub(crate) use cache_settings_builders;

/// Reads a facility's config (`$config::from_vars`, built with [`cache_settings_builders!`])
/// from an environment that sets none of its variables, and asserts that it has the shared
/// settings' defaults: a 300 s TTL, refreshes 30 s ahead, 300 s of grace, 5 s per fetch, the
/// SDK back-end (`$backend::Sdk`). Returns the config, for the facility's own defaults.
#[cfg(test)]
macro_rules! assert_default_cache_settings {
    ($config:ident, $backend:ident) => {{
        let config = $config::from_vars([("UNRELATED", "1")]).unwrap();
        assert_eq!(config.ttl(), std::time::Duration::from_secs(300));
        assert_eq!(config.refresh_ahead(), std::time::Duration::from_secs(30));
        assert_eq!(config.grace_period(), std::time::Duration::from_secs(300));
        assert_eq!(config.fetch_timeout(), std::time::Duration::from_secs(5));
        assert_eq!(config.backend(), $backend::Sdk);
        config
    }};
}

#[cfg(test)]
pub(crate) use assert_default_cache_settings;

/// Reads a facility's config (`$config::from_vars`) from its setting variables `$names` (a
/// [`SettingNames`]) — a TTL of `$ttl` seconds, no grace period, the extension back-end spelled
/// `$extension` on port 2999 — and the `$extra` variables, and asserts that the shared settings
/// came through: that TTL, refreshes `$refresh_ahead` ahead, no grace, and
/// `$backend::Extension { port: 2999 }`; then that the back-end variable alone
/// (`extension`) selects the extension on its default port. Returns the config, for the
/// facility's own settings.
#[cfg(test)]
macro_rules! assert_cache_settings_from_vars {
    (
        $config:ident, $backend:ident, $names:expr,
        ttl: $ttl:literal => $ttl_duration:expr,
        refresh_ahead: $refresh_ahead:expr,
        backend: $extension:literal,
        extra: [$($extra:expr),* $(,)?] $(,)?
    ) => {{
        let names: &$crate::cache::settings::SettingNames = &$names;
        let vars = [
            (names.ttl, $ttl),
            (names.grace, "0"),
            (names.backend, $extension),
            ($crate::cache::settings::EXTENSION_PORT_ENV, "2999"),
        ];
        let config = $config::from_vars(vars.into_iter().chain([$($extra),*])).unwrap();
        assert_eq!(config.ttl(), $ttl_duration);
        assert_eq!(config.refresh_ahead(), $refresh_ahead);
        assert_eq!(config.grace_period(), std::time::Duration::ZERO);
        assert_eq!(config.backend(), $backend::Extension { port: 2999 });

        let default_port = $config::from_vars([(names.backend, "extension")]).unwrap();
        assert_eq!(default_port.backend(), $backend::extension());
        config
    }};
}

#[cfg(test)]
pub(crate) use assert_cache_settings_from_vars;
