//! The handle handlers read secrets through.

use std::{fmt, sync::Arc};

use crate::{
    cache::{Cache, Noun, Slot},
    secrets::{config::SecretsConfig, error::SecretsError, provider::Provider, value::SecretValue},
};

/// Access to the declared secrets: cheap to clone, `Send + Sync`, shared by every clone of the
/// service and every concurrent invocation.
///
/// Reads are synchronous and never wait on the backend: they return the cached value and, when
/// it is due, start one background refresh. Get one from
/// [`SecretsLayer::secrets`](crate::secrets::SecretsLayer::secrets).
#[derive(Clone)]
pub struct Secrets {
    cache: Arc<Cache<Provider>>,
}

impl Secrets {
    /// Resolves the declared variables and fetches every secret concurrently. Fails on the
    /// first required secret whose variable is unset (before any fetch) or whose fetch fails.
    pub(crate) async fn load(
        config: &SecretsConfig,
        provider: Provider,
    ) -> Result<Self, SecretsError> {
        let slots = Self::slots(config)?;
        let cache = Cache::load(Noun::Secret, provider, slots)
            .await
            .map_err(SecretsError::from_fault)?;
        Ok(Self { cache })
    }

    /// The declarations with their variables read; an unset required one is an error.
    fn slots(config: &SecretsConfig) -> Result<Vec<Slot<String>>, SecretsError> {
        let policy = config.settings.policy(None, None);
        let mut slots = Vec::with_capacity(config.secrets.len());
        for declaration in &config.secrets {
            let secret_id = config.var(&declaration.env_var);
            if secret_id.is_none() && declaration.required {
                return Err(SecretsError::MissingEnv {
                    env_var: declaration.env_var.clone(),
                    purpose: format!(
                        "the ARN or name of the Secrets Manager secret the handler reads as `{}`",
                        declaration.name
                    ),
                });
            }
            slots.push(declaration.slot(secret_id, policy));
        }
        Ok(slots)
    }

    /// The cache, unfetched, with these secret ids (tests drive fetches themselves).
    #[cfg(test)]
    pub(crate) fn unfetched(
        config: &SecretsConfig,
        provider: Provider,
        ids: &[Option<&str>],
    ) -> Self {
        let policy = config.settings.policy(None, None);
        let slots = config.secrets.iter().zip(ids);
        let slots = slots.map(|(declaration, id)| declaration.slot(id.map(str::to_owned), policy));
        Self {
            cache: Cache::new(Noun::Secret, provider, slots.collect()),
        }
    }

    pub(crate) fn cache(&self) -> &Arc<Cache<Provider>> {
        &self.cache
    }

    /// The current value of the secret declared as `name`.
    ///
    /// Errors: [`Undeclared`](SecretsError::Undeclared) for an unknown name,
    /// [`Unavailable`](SecretsError::Unavailable) for an optional secret without a value,
    /// [`Stale`](SecretsError::Stale) once the value is past its TTL and grace period and
    /// refreshing it fails.
    pub fn get(&self, name: &str) -> Result<SecretValue, SecretsError> {
        self.cache.get(name).map_err(SecretsError::from_fault)
    }

    /// Like [`get`](Self::get), with `None` for an optional secret that has no value (its
    /// variable is unset, or it could not be fetched yet).
    pub fn get_optional(&self, name: &str) -> Result<Option<SecretValue>, SecretsError> {
        self.cache
            .get_optional(name)
            .map_err(SecretsError::from_fault)
    }

    /// Fetches the secret now, waits for the answer and caches it; on failure the cached value
    /// stays and the error is returned. For rare events such as a credential that was just
    /// rejected — not for every invocation.
    pub async fn force_refresh(&self, name: &str) -> Result<SecretValue, SecretsError> {
        self.cache
            .force_refresh(name)
            .await
            .map_err(SecretsError::from_fault)
    }

    /// Background refreshes that failed since the last call; reported as the
    /// `SecretRefreshFailed` metric by [`SecretsService`](crate::secrets::SecretsService).
    #[cfg(test)]
    pub(crate) fn take_unreported_refresh_failures(&self) -> u64 {
        self.cache.take_unreported_failures()
    }

    /// Checks every declared secret once, as [`SecretsService`](crate::secrets::SecretsService)
    /// does before each invocation: starts the refreshes that are due and fails with the first
    /// required secret that is [`Stale`](SecretsError::Stale). Allocation-free when all is well.
    pub fn check(&self) -> Result<(), SecretsError> {
        self.cache
            .check_for_stale()
            .map(|_| ())
            .map_err(SecretsError::from_fault)
    }

    /// The declared names, in declaration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.cache.entries().iter().map(|entry| &*entry.name)
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::cache::Source as _;
        f.debug_struct("Secrets")
            .field("names", &self.names().collect::<Vec<_>>())
            .field("backend", &self.cache.source().label())
            .finish_non_exhaustive()
    }
}
