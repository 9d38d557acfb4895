//! The cache behind a [`Secrets`](crate::secrets::Secrets) handle: one slot per declared
//! secret, a TTL, one background refresh at a time, and a grace period after failed refreshes.
//!
//! Reads never wait on the backend: they load the slot (lock-free, `arc-swap`), compare its
//! age with the [`Policy`], and when a refresh is due they spawn it and return the cached
//! value at once.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use arc_swap::ArcSwapOption;
use futures_util::future::join_all;
use tokio::{runtime::Handle, time::Instant};

use crate::secrets::{
    config::{SecretDeclaration, SecretsConfig},
    error::SecretsError,
    provider::{FetchError, FetchErrorKind, Provider},
    value::SecretValue,
};

/// After a failed attempt, background refreshes wait this long before trying again, so an
/// outage or a missing permission costs one call per interval rather than one per invocation.
pub(crate) const RETRY_INTERVAL: Duration = Duration::from_secs(5);

/// An attempt that outlived its own timeout by more than this was frozen with the execution
/// environment (Lambda freezes it between invocations); its failure says nothing about the
/// backend, so it is not held against the cached value.
const FREEZE_SLACK: Duration = Duration::from_secs(1);

/// The timing rules, fixed at init.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) ttl: Duration,
    pub(crate) refresh_ahead: Duration,
    pub(crate) grace: Duration,
    pub(crate) fetch_timeout: Duration,
}

/// What a read should do with a cached value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Serve it.
    Fresh,
    /// Serve it, and start a background refresh.
    RefreshDue,
    /// Refuse it: past TTL + grace, and the last refresh failed.
    Stale,
}

impl Policy {
    pub(crate) fn from_config(config: &SecretsConfig) -> Self {
        Self {
            ttl: config.ttl(),
            refresh_ahead: config.refresh_ahead(),
            grace: config.grace_period(),
            fetch_timeout: config.fetch_timeout(),
        }
    }

    /// A value past TTL + grace is refused only once a refresh has failed: an environment that
    /// sat frozen longer than that serves its last value once more while it refreshes.
    pub(crate) fn assess(&self, age: Duration, refresh_failed: bool) -> Freshness {
        if age < self.ttl.saturating_sub(self.refresh_ahead) {
            Freshness::Fresh
        } else if age < self.ttl.saturating_add(self.grace) || !refresh_failed {
            Freshness::RefreshDue
        } else {
            Freshness::Stale
        }
    }
}

struct Cached {
    value: SecretValue,
    fetched_at: Instant,
    /// Which fetch produced it (see `Entry::tickets`).
    ticket: u64,
}

struct Failure {
    error: FetchError,
    at: Instant,
    /// Its number in `Entry::failures`.
    number: u64,
}

/// One declared secret and its cached state.
pub(crate) struct Entry {
    pub(crate) name: Arc<str>,
    pub(crate) env_var: String,
    /// `None` when the secret is optional and its variable is unset.
    pub(crate) secret_id: Option<String>,
    pub(crate) required: bool,
    current: ArcSwapOption<Cached>,
    /// The last failed attempt since the last success.
    failure: ArcSwapOption<Failure>,
    refreshing: AtomicBool,
    /// Held by the one fetch that recovers a stale value for waiting invocations (see
    /// [`Cache::recover`]); the others wait for it and share its outcome.
    recovery: tokio::sync::Mutex<()>,
    /// Numbers fetches in the order they start, so a slower, older fetch never overwrites the
    /// value of a newer one (clock readings can tie).
    tickets: std::sync::atomic::AtomicU64,
    /// Counts failed fetches, so a waiting reader can tell one that ended while it waited.
    failures: std::sync::atomic::AtomicU64,
}

impl Entry {
    fn new(declaration: &SecretDeclaration, secret_id: Option<String>) -> Self {
        Self {
            name: declaration.name.clone(),
            env_var: declaration.env_var.clone(),
            secret_id,
            required: declaration.required,
            current: ArcSwapOption::empty(),
            failure: ArcSwapOption::empty(),
            refreshing: AtomicBool::new(false),
            recovery: tokio::sync::Mutex::new(()),
            tickets: std::sync::atomic::AtomicU64::new(0),
            failures: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn fetch_error(&self, secret_id: &str, error: FetchError) -> SecretsError {
        SecretsError::fetch(&self.name, &self.env_var, secret_id, error)
    }
}

/// Clears the in-flight flag when the refresh task ends, however it ends.
struct InFlight<'a>(&'a AtomicBool);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

pub(crate) struct Cache {
    entries: Box<[Entry]>,
    provider: Provider,
    policy: Policy,
    /// Failed refreshes not yet reported as the `SecretRefreshFailed` metric. Refreshes run in
    /// background tasks, outside any invocation's metrics; the next invocation reports them.
    unreported_failures: std::sync::atomic::AtomicU64,
}

impl Cache {
    /// Resolves the declared variables and fetches every secret concurrently. Fails on the
    /// first required secret whose variable is unset (before any fetch) or whose fetch fails.
    pub(crate) async fn load(
        config: &SecretsConfig,
        provider: Provider,
    ) -> Result<Arc<Self>, SecretsError> {
        let mut entries = Vec::with_capacity(config.secrets.len());
        for declaration in &config.secrets {
            let secret_id = config.var(&declaration.env_var);
            if secret_id.is_none() {
                if declaration.required {
                    return Err(SecretsError::MissingEnv {
                        env_var: declaration.env_var.clone(),
                        purpose: format!(
                            "the ARN or name of the Secrets Manager secret the handler reads as `{}`",
                            declaration.name
                        ),
                    });
                }
                tracing::warn!(
                    secret = %declaration.name,
                    env_var = %declaration.env_var,
                    "optional secret is not configured: its environment variable is not set"
                );
            }
            entries.push(Entry::new(declaration, secret_id));
        }
        let cache = Arc::new(Self {
            entries: entries.into(),
            provider,
            policy: Policy::from_config(config),
            unreported_failures: Default::default(),
        });

        let started = Instant::now();
        let this = &*cache;
        let fetches = this.entries.iter().filter_map(|entry| {
            let secret_id = entry.secret_id.as_deref()?;
            Some(async move {
                (
                    entry,
                    secret_id,
                    this.fetch_and_store(entry, secret_id).await,
                )
            })
        });
        let mut first_failure = None;
        for (entry, secret_id, outcome) in join_all(fetches).await {
            let Err(error) = outcome else { continue };
            if !entry.required {
                warn_fetch_failed(
                    entry,
                    secret_id,
                    &error,
                    "optional secret could not be fetched; reads report it unavailable until a retry succeeds",
                );
            } else if first_failure.is_none() {
                first_failure = Some(entry.fetch_error(secret_id, error));
            } else {
                let error = entry.fetch_error(secret_id, error);
                tracing::error!(secret = %entry.name, error = %error, "required secret could not be fetched");
            }
        }
        if let Some(error) = first_failure {
            return Err(error);
        }
        // Init fetches are not refreshes: their failures are init errors or warnings above.
        cache.unreported_failures.store(0, Ordering::Relaxed);
        tracing::info!(
            secrets = cache.entries.len(),
            backend = cache.provider.label(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "fetched secrets"
        );
        Ok(cache)
    }

    #[cfg(test)]
    pub(crate) fn with_entries(
        config: &SecretsConfig,
        provider: Provider,
        ids: &[Option<&str>],
    ) -> Arc<Self> {
        let entries = config
            .secrets
            .iter()
            .zip(ids)
            .map(|(d, id)| Entry::new(d, id.map(str::to_owned)));
        Arc::new(Self {
            entries: entries.collect(),
            provider,
            policy: Policy::from_config(config),
            unreported_failures: Default::default(),
        })
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(crate) fn provider_label(&self) -> &'static str {
        self.provider.label()
    }

    pub(crate) fn index_of(&self, name: &str) -> Result<usize, SecretsError> {
        self.entries
            .iter()
            .position(|entry| *entry.name == *name)
            .ok_or_else(|| SecretsError::Undeclared {
                secret: name.to_owned(),
                declared: self
                    .entries
                    .iter()
                    .map(|e| &*e.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The hot path: the cached value (`None` if an optional secret has none), or `Stale`.
    /// Starts a background refresh when one is due; never waits for it.
    pub(crate) fn read(
        self: &Arc<Self>,
        index: usize,
        now: Instant,
    ) -> Result<Option<SecretValue>, SecretsError> {
        let entry = &self.entries[index];
        let current = entry.current.load();
        let Some(cached) = current.as_deref() else {
            self.refresh_in_background(index, now);
            return Ok(None);
        };
        let age = now.saturating_duration_since(cached.fetched_at);
        let failure = entry.failure.load();
        match self.policy.assess(age, failure.is_some()) {
            Freshness::Fresh => Ok(Some(cached.value.clone())),
            Freshness::RefreshDue => {
                self.refresh_in_background(index, now);
                Ok(Some(cached.value.clone()))
            }
            Freshness::Stale => {
                self.refresh_in_background(index, now);
                let failure = failure
                    .as_deref()
                    .expect("Stale implies a recorded failure");
                Err(SecretsError::Stale {
                    secret: entry.name.to_string(),
                    secret_id: entry.secret_id.clone().unwrap_or_default(),
                    age,
                    source: failure.error.clone(),
                })
            }
        }
    }

    /// Makes one fetch for a value that is [`Stale`](Freshness::Stale), ending by `until`,
    /// instead of failing while the background refresh waits out its retry interval: the first
    /// read after the backend recovers gets the new value. Concurrent callers share the fetch:
    /// one makes it, the others wait for it and take its outcome. Returns whether the entry is
    /// usable (fresh, or no longer stale) afterwards.
    pub(crate) async fn recover(&self, index: usize, until: Instant) -> bool {
        let entry = &self.entries[index];
        let Some(secret_id) = entry.secret_id.as_deref() else {
            return false;
        };
        // Failures numbered above this one ended after this call asked.
        let asked = entry.failures.load(Ordering::Relaxed);
        let Ok(_gate) = tokio::time::timeout_at(until, entry.recovery.lock()).await else {
            return false;
        };
        if !self.is_stale(entry, Instant::now()) {
            return true; // recovered by the fetch this call waited for
        }
        if entry
            .failure
            .load()
            .as_ref()
            .is_some_and(|f| f.number > asked)
        {
            return false; // a fetch made while this call waited failed: its outcome is ours
        }
        let timeout = self
            .policy
            .fetch_timeout
            .min(until.saturating_duration_since(Instant::now()));
        match self.fetch_with_timeout(entry, secret_id, timeout).await {
            Ok(_) => {
                tracing::info!(secret = %entry.name, "recovered a stale secret");
                true
            }
            Err(error) => {
                warn_fetch_failed(
                    entry,
                    secret_id,
                    &error,
                    "could not recover the stale secret",
                );
                false
            }
        }
    }

    /// Whether reads of `entry` fail as [`Stale`](Freshness::Stale) at `now`.
    pub(crate) fn is_stale(&self, entry: &Entry, now: Instant) -> bool {
        entry.current.load().as_deref().is_some_and(|cached| {
            let age = now.saturating_duration_since(cached.fetched_at);
            self.policy.assess(age, entry.failure.load().is_some()) == Freshness::Stale
        })
    }

    /// Why an optional secret has no value.
    pub(crate) fn unavailable(&self, index: usize) -> SecretsError {
        let entry = &self.entries[index];
        let reason = match (&entry.secret_id, entry.failure.load().as_deref()) {
            (None, _) => format!("environment variable `{}` is not set", entry.env_var),
            (Some(id), Some(failure)) => {
                format!(
                    "fetching `{id}` failed ({}); retrying in the background",
                    failure.error
                )
            }
            (Some(id), None) => format!("`{id}` has not been fetched yet"),
        };
        SecretsError::Unavailable {
            secret: entry.name.to_string(),
            reason,
        }
    }

    /// Fetches now and waits for the answer (`force_refresh`). Runs even if a background
    /// refresh is in flight.
    pub(crate) async fn refresh(&self, index: usize) -> Result<SecretValue, SecretsError> {
        let entry = &self.entries[index];
        let Some(secret_id) = entry.secret_id.as_deref() else {
            return Err(self.unavailable(index));
        };
        self.fetch_and_store(entry, secret_id)
            .await
            .map_err(|error| entry.fetch_error(secret_id, error))
    }

    fn refresh_in_background(self: &Arc<Self>, index: usize, now: Instant) {
        let entry = &self.entries[index];
        if entry.secret_id.is_none() {
            return;
        }
        if let Some(failure) = entry.failure.load().as_deref()
            && now.saturating_duration_since(failure.at) < RETRY_INTERVAL
        {
            return;
        }
        if entry.refreshing.swap(true, Ordering::AcqRel) {
            return; // one refresh per secret at a time
        }
        let Ok(runtime) = Handle::try_current() else {
            entry.refreshing.store(false, Ordering::Release);
            return;
        };
        let cache = Arc::clone(self);
        runtime.spawn(async move {
            let entry = &cache.entries[index];
            let _in_flight = InFlight(&entry.refreshing);
            let Some(secret_id) = entry.secret_id.as_deref() else { return };
            match cache.fetch_and_store(entry, secret_id).await {
                Ok(value) => tracing::debug!(secret = %entry.name, version_id = value.version_id(), "refreshed secret"),
                Err(error) => warn_fetch_failed(
                    entry,
                    secret_id,
                    &error,
                    "could not refresh the secret; the cached value, if any, is served until its grace period ends",
                ),
            }
        });
    }

    /// Failed refreshes since the last call (for the `SecretRefreshFailed` metric).
    pub(crate) fn take_unreported_failures(&self) -> u64 {
        self.unreported_failures.swap(0, Ordering::Relaxed)
    }

    async fn fetch_and_store(
        &self,
        entry: &Entry,
        secret_id: &str,
    ) -> Result<SecretValue, FetchError> {
        self.fetch_with_timeout(entry, secret_id, self.policy.fetch_timeout)
            .await
    }

    async fn fetch_with_timeout(
        &self,
        entry: &Entry,
        secret_id: &str,
        timeout: Duration,
    ) -> Result<SecretValue, FetchError> {
        let started = Instant::now();
        let ticket = entry.tickets.fetch_add(1, Ordering::Relaxed);
        let outcome = tokio::time::timeout(timeout, self.provider.fetch(&entry.name, secret_id))
            .await
            .unwrap_or_else(|_| {
                Err(FetchError::new(
                    FetchErrorKind::Unreachable,
                    "Timeout",
                    format!("no answer within {}", humanize(timeout)),
                ))
            });
        match outcome {
            Ok(value) => {
                // Aged from when it was asked for: the value is at least that fresh. A slower,
                // older fetch (a background refresh overtaken by `force_refresh`) must not
                // replace a newer value.
                let fresh = Arc::new(Cached {
                    value: value.clone(),
                    fetched_at: started,
                    ticket,
                });
                entry.current.rcu(|current| match current {
                    Some(current) if current.ticket > ticket => Some(current.clone()),
                    _ => Some(fresh.clone()),
                });
                entry.failure.store(None);
                Ok(value)
            }
            Err(error) => {
                let finished = Instant::now();
                let overtaken = entry
                    .current
                    .load()
                    .as_ref()
                    .is_some_and(|current| current.ticket > ticket);
                if overtaken {
                    tracing::debug!(secret = %entry.name, "a fetch failed after a newer one succeeded; ignored");
                } else if finished.saturating_duration_since(started) <= timeout + FREEZE_SLACK {
                    self.unreported_failures.fetch_add(1, Ordering::Relaxed);
                    entry.failure.store(Some(Arc::new(Failure {
                        error: error.clone(),
                        at: finished,
                        number: entry.failures.fetch_add(1, Ordering::Relaxed) + 1,
                    })));
                } else {
                    tracing::debug!(secret = %entry.name, "a fetch was frozen past its timeout; not counted as a failure");
                }
                Err(error)
            }
        }
    }
}

/// One warning line for a failed fetch: the secret, its id, the AWS error code and detail.
fn warn_fetch_failed(entry: &Entry, secret_id: &str, error: &FetchError, what: &str) {
    tracing::warn!(
        secret = %entry.name,
        secret_id,
        error_code = error.code(),
        error = error.detail(),
        "{what}"
    );
}

fn humanize(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
