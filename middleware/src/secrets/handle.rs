//! The handle handlers read secrets through.

use std::{fmt, sync::Arc};

use tokio::time::Instant;

use crate::secrets::{cache::Cache, error::SecretsError, value::SecretValue};

/// Access to the declared secrets: cheap to clone, `Send + Sync`, shared by every clone of the
/// service and every concurrent invocation.
///
/// Reads are synchronous and never wait on the backend: they return the cached value and, when
/// it is due, start one background refresh. Get one from
/// [`SecretsLayer::secrets`](crate::secrets::SecretsLayer::secrets).
#[derive(Clone)]
pub struct Secrets {
    cache: Arc<Cache>,
}

impl Secrets {
    pub(crate) fn new(cache: Arc<Cache>) -> Self {
        Self { cache }
    }

    /// The current value of the secret declared as `name`.
    ///
    /// Errors: [`Undeclared`](SecretsError::Undeclared) for an unknown name,
    /// [`Unavailable`](SecretsError::Unavailable) for an optional secret without a value,
    /// [`Stale`](SecretsError::Stale) once the value is past its TTL and grace period and
    /// refreshing it fails.
    pub fn get(&self, name: &str) -> Result<SecretValue, SecretsError> {
        let index = self.cache.index_of(name)?;
        self.cache
            .read(index, Instant::now())?
            .ok_or_else(|| self.cache.unavailable(index))
    }

    /// Like [`get`](Self::get), with `None` for an optional secret that has no value (its
    /// variable is unset, or it could not be fetched yet).
    pub fn get_optional(&self, name: &str) -> Result<Option<SecretValue>, SecretsError> {
        let index = self.cache.index_of(name)?;
        self.cache.read(index, Instant::now())
    }

    /// Fetches the secret now, waits for the answer and caches it; on failure the cached value
    /// stays and the error is returned. For rare events such as a credential that was just
    /// rejected — not for every invocation.
    pub async fn force_refresh(&self, name: &str) -> Result<SecretValue, SecretsError> {
        let index = self.cache.index_of(name)?;
        self.cache.refresh(index).await
    }

    /// Background refreshes that failed since the last call; reported as the
    /// `SecretRefreshFailed` metric by [`SecretsService`](crate::secrets::SecretsService).
    pub(crate) fn take_unreported_refresh_failures(&self) -> u64 {
        self.cache.take_unreported_failures()
    }

    /// Checks every declared secret once, as [`SecretsService`](crate::secrets::SecretsService)
    /// does before each invocation: starts the refreshes that are due and fails with the first
    /// required secret that is [`Stale`](SecretsError::Stale). Allocation-free when all is well.
    pub fn check(&self) -> Result<(), SecretsError> {
        self.check_for_stale().map(|_| ())
    }

    /// Like [`check`](Self::check), also saying whether an optional secret is stale.
    pub(crate) fn check_for_stale(&self) -> Result<bool, SecretsError> {
        let now = Instant::now();
        let mut optional_stale = false;
        for (index, entry) in self.cache.entries().iter().enumerate() {
            match self.cache.read(index, now) {
                Err(error) if entry.required => return Err(error),
                Err(SecretsError::Stale { .. }) => optional_stale = true,
                _ => {}
            }
        }
        Ok(optional_stale)
    }

    /// Recovers every stale value with one fetch each (shared with concurrent callers, see
    /// `Cache::recover`), ending by `until`, then checks again as [`check`](Self::check) does.
    pub(crate) async fn recover(&self, until: Instant) -> Result<(), SecretsError> {
        let now = Instant::now();
        let stale = self
            .cache
            .entries()
            .iter()
            .enumerate()
            .filter(|(_, entry)| self.cache.is_stale(entry, now))
            .map(|(index, _)| self.cache.recover(index, until));
        futures_util::future::join_all(stale).await;
        self.check()
    }

    /// The declared names, in declaration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.cache.entries().iter().map(|entry| &*entry.name)
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("names", &self.names().collect::<Vec<_>>())
            .field("backend", &self.cache.provider_label())
            .finish_non_exhaustive()
    }
}
