//! The cache engine behind [`secrets`](crate::secrets) and [`parameters`](crate::parameters):
//! one slot per declared entry, fetched at init (concurrently, batched where the back-end
//! can), refreshed in the background ahead of expiry, served past its TTL for a grace period
//! while refreshes fail, and recovered with one deadline-bounded fetch once stale.
//!
//! Reads never wait on the back-end: they load the slot (lock-free, `arc-swap`), compare its
//! age with the entry's [`Policy`], and when a refresh is due they spawn it and return the
//! cached value at once. A [`Source`] says how values are fetched and which entries may share
//! a request; the facilities wrap the engine in their own vocabulary (errors, value types).

mod fetch;
pub(crate) mod future;
pub(crate) mod loopback;
#[cfg(test)]
pub(crate) mod scripted;
#[cfg(any(feature = "secretsmanager", feature = "ssm"))]
pub(crate) mod sdk;
pub(crate) mod service;
pub(crate) mod settings;

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use arc_swap::ArcSwapOption;
use futures_util::future::join_all;
use tokio::{runtime::Handle, time::Instant};

pub use fetch::{FetchError, FetchErrorKind};

/// After a failed attempt, background refreshes wait this long before trying again, so an
/// outage or a missing permission costs one call per interval rather than one per invocation.
pub(crate) const RETRY_INTERVAL: Duration = Duration::from_secs(5);

/// An attempt that outlived its own timeout by more than this was frozen with the execution
/// environment (Lambda freezes it between invocations); its failure says nothing about the
/// back-end, so it is not held against the cached value.
const FREEZE_SLACK: Duration = Duration::from_secs(1);

/// The timing rules of one entry, fixed at init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// What the cache holds, for its log lines and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Noun {
    #[cfg_attr(not(feature = "secrets"), allow(dead_code))]
    Secret,
    #[cfg_attr(not(feature = "parameters"), allow(dead_code))]
    Parameter,
}

impl Noun {
    fn singular(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Parameter => "parameter",
        }
    }

    /// The built-in metric counting failed background refreshes.
    fn refresh_failed_metric(self) -> &'static str {
        match self {
            Self::Secret => "SecretRefreshFailed",
            Self::Parameter => "ParameterRefreshFailed",
        }
    }
}

/// A log line about one entry: `secret`/`secret_id` or `parameter`/`parameter_id` fields, so
/// each facility's lines keep the field names its users query.
macro_rules! entry_event {
    ($level:ident, $noun:expr, $name:expr; $($rest:tt)*) => {
        match $noun {
            Noun::Secret => tracing::$level!(secret = %$name, $($rest)*),
            Noun::Parameter => tracing::$level!(parameter = %$name, $($rest)*),
        }
    };
    ($level:ident, $noun:expr, $name:expr, $id:expr, $($rest:tt)*) => {
        match $noun {
            Noun::Secret => tracing::$level!(secret = %$name, secret_id = $id, $($rest)*),
            Noun::Parameter => tracing::$level!(parameter = %$name, parameter_id = $id, $($rest)*),
        }
    };
}

/// An [`entry_event!`] for a failed fetch: the entry, its id, the AWS error code and detail,
/// then the message.
macro_rules! fetch_failed_event {
    ($level:ident, $noun:expr, $entry:expr, $error:expr, $($message:tt)+) => {
        entry_event!(
            $level,
            $noun,
            $entry.name,
            $entry.id(),
            error_code = $error.code(),
            error = $error.detail(),
            $($message)+
        )
    };
}

/// How a key names what it fetches, in messages and log lines.
pub(crate) trait Keyed {
    /// The id as the user wrote it: a secret's ARN or name, a parameter's name or path, an
    /// AppConfig `application/environment/profile`.
    fn id(&self) -> &str;
}

impl Keyed for String {
    fn id(&self) -> &str {
        self
    }
}

/// One entry of a fetch: the logical name and what to fetch.
pub(crate) struct Request<'a, K> {
    pub(crate) name: &'a Arc<str>,
    pub(crate) key: &'a K,
}

/// Where values come from.
pub(crate) trait Source: Send + Sync + 'static {
    /// What one entry fetches.
    type Key: Keyed + Clone + Send + Sync + 'static;
    /// A fetched (and transformed) value; cheap to clone.
    type Value: Clone + Send + Sync + 'static;

    /// A short name for logs and `Debug`.
    fn label(&self) -> &'static str;

    /// Whether entries with this key may be fetched together with others for which this also
    /// holds (and that share their [`Policy`]), in fewer requests than entries.
    fn batches(&self, _key: &Self::Key) -> bool {
        false
    }

    /// Fetches every request: one outcome per request, in order.
    fn fetch(
        &self,
        requests: &[Request<'_, Self::Key>],
    ) -> impl Future<Output = Vec<Result<Self::Value, FetchError>>> + Send;

    /// The version id of a value, for the refresh log line.
    fn version(value: &Self::Value) -> Option<&str>;
}

/// One declared entry, resolved: its variable has been read (`key` is `None` when an optional
/// entry's variable is unset).
pub(crate) struct Slot<K> {
    pub(crate) name: Arc<str>,
    pub(crate) env_var: String,
    pub(crate) key: Option<K>,
    pub(crate) required: bool,
    pub(crate) policy: Policy,
}

/// What went wrong, for the facility to say in its own words.
#[derive(Debug)]
pub(crate) enum Fault<K> {
    /// A variable the back-end needs is unset.
    MissingEnv { env_var: String, purpose: String },
    /// A variable the back-end needs cannot be used.
    InvalidEnv { env_var: String, reason: String },
    /// Fetching a declared entry failed.
    Fetch {
        name: Arc<str>,
        env_var: String,
        key: K,
        source: FetchError,
    },
    /// The cached value is past its TTL and grace period and refreshing it keeps failing.
    Stale {
        name: Arc<str>,
        key: K,
        age: Duration,
        source: FetchError,
    },
    /// An optional entry has no value.
    Unavailable { name: Arc<str>, reason: String },
    /// No entry has that name.
    Undeclared { name: String, declared: String },
}

struct Cached<V> {
    value: V,
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

/// One declared entry and its cached state.
pub(crate) struct Entry<K, V> {
    pub(crate) name: Arc<str>,
    pub(crate) env_var: String,
    /// `None` when the entry is optional and its variable is unset.
    pub(crate) key: Option<K>,
    pub(crate) required: bool,
    policy: Policy,
    /// Whether it may share a request with the other entries of its group.
    batched: bool,
    /// The index of the first entry of its batch (its own index when it is fetched alone).
    group: usize,
    current: ArcSwapOption<Cached<V>>,
    /// The last failed attempt since the last success.
    failure: ArcSwapOption<Failure>,
    refreshing: AtomicBool,
    /// Held by the one fetch that recovers a stale value for waiting invocations (see
    /// [`Cache::recover`]); the others wait for it and share its outcome.
    recovery: tokio::sync::Mutex<()>,
    /// Numbers fetches in the order they start, so a slower, older fetch never overwrites the
    /// value of a newer one (clock readings can tie).
    tickets: AtomicU64,
    /// Counts failed fetches, so a waiting reader can tell one that ended while it waited.
    failures: AtomicU64,
}

impl<K: Keyed, V> Entry<K, V> {
    fn id(&self) -> &str {
        self.key.as_ref().map_or("", Keyed::id)
    }

    /// A refresh failed less than [`RETRY_INTERVAL`] ago.
    fn backing_off(&self, now: Instant) -> bool {
        self.failure
            .load()
            .as_deref()
            .is_some_and(|failure| now.saturating_duration_since(failure.at) < RETRY_INTERVAL)
    }

    fn freshness(&self, now: Instant) -> Option<Freshness> {
        let current = self.current.load();
        let cached = current.as_deref()?;
        let age = now.saturating_duration_since(cached.fetched_at);
        Some(self.policy.assess(age, self.failure.load().is_some()))
    }
}

/// Clears an in-flight flag when the refresh task ends, however it ends.
struct InFlight<'a>(&'a AtomicBool);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The cache: the entries, the source, and the failures to report.
pub(crate) struct Cache<S: Source> {
    entries: Box<[Entry<S::Key, S::Value>]>,
    source: S,
    noun: Noun,
    /// Failed refreshes not yet reported as the refresh-failed metric. Refreshes run in
    /// background tasks, outside any invocation's metrics; the next invocation reports them.
    unreported_failures: AtomicU64,
}

type Outcome<V> = Result<V, FetchError>;

impl<S: Source> Cache<S> {
    /// The entries, unfetched. Entries whose keys the source batches and whose policies are
    /// equal form one batch.
    pub(crate) fn new(noun: Noun, source: S, slots: Vec<Slot<S::Key>>) -> Arc<Self> {
        let mut leaders: Vec<(usize, Policy)> = Vec::new();
        let entries = slots.into_iter().enumerate().map(|(index, slot)| {
            let batched = slot.key.as_ref().is_some_and(|key| source.batches(key));
            let group = match leaders.iter().find(|(_, policy)| *policy == slot.policy) {
                Some((leader, _)) if batched => *leader,
                _ if batched => {
                    leaders.push((index, slot.policy));
                    index
                }
                _ => index,
            };
            Entry {
                name: slot.name,
                env_var: slot.env_var,
                key: slot.key,
                required: slot.required,
                policy: slot.policy,
                batched,
                group,
                current: ArcSwapOption::empty(),
                failure: ArcSwapOption::empty(),
                refreshing: AtomicBool::new(false),
                recovery: tokio::sync::Mutex::new(()),
                tickets: AtomicU64::new(0),
                failures: AtomicU64::new(0),
            }
        });
        let entries = entries.collect();
        Arc::new(Self {
            entries,
            source,
            noun,
            unreported_failures: AtomicU64::new(0),
        })
    }

    /// Fetches every entry that has a key, concurrently, one request per batch. Fails on the
    /// first required entry whose fetch fails; an optional one only logs a warning.
    pub(crate) async fn load(
        noun: Noun,
        source: S,
        slots: Vec<Slot<S::Key>>,
    ) -> Result<Arc<Self>, Fault<S::Key>> {
        let cache = Self::new(noun, source, slots);
        for entry in cache.entries.iter().filter(|e| e.key.is_none()) {
            entry_event!(
                warn,
                noun,
                entry.name;
                env_var = %entry.env_var,
                "optional {} is not configured: its environment variable is not set",
                noun.singular()
            );
        }
        let started = Instant::now();
        let mut batches: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (index, entry) in cache.entries.iter().enumerate() {
            if entry.key.is_some() {
                batches.entry(entry.group).or_default().push(index);
            }
        }
        let this = &*cache;
        let fetches = batches.values().map(|indices| async move {
            let timeout = this.entries[indices[0]].policy.fetch_timeout;
            let outcomes = this.fetch(indices, timeout).await;
            indices.iter().copied().zip(outcomes).collect::<Vec<_>>()
        });
        let mut first_failure = None;
        for (index, outcome) in join_all(fetches).await.into_iter().flatten() {
            let Err(error) = outcome else { continue };
            let entry = &cache.entries[index];
            if !entry.required {
                warn_fetch_failed(
                    noun,
                    entry,
                    &error,
                    &format!(
                        "optional {} could not be fetched; reads report it unavailable until a retry succeeds",
                        noun.singular()
                    ),
                );
            } else if first_failure.is_none() {
                first_failure = Some(cache.fetch_fault(entry, error));
            } else {
                fetch_failed_event!(
                    error,
                    noun,
                    entry,
                    error,
                    "required {} could not be fetched",
                    noun.singular()
                );
            }
        }
        if let Some(fault) = first_failure {
            return Err(fault);
        }
        // Init fetches are not refreshes: their failures are init errors or warnings above.
        cache.unreported_failures.store(0, Ordering::Relaxed);
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let (count, backend) = (cache.entries.len(), cache.source.label());
        match noun {
            Noun::Secret => tracing::info!(secrets = count, backend, elapsed_ms, "fetched secrets"),
            Noun::Parameter => {
                tracing::info!(
                    parameters = count,
                    backend,
                    elapsed_ms,
                    "fetched parameters"
                )
            }
        }
        Ok(cache)
    }

    pub(crate) fn entries(&self) -> &[Entry<S::Key, S::Value>] {
        &self.entries
    }

    pub(crate) fn source(&self) -> &S {
        &self.source
    }

    fn fetch_fault(&self, entry: &Entry<S::Key, S::Value>, source: FetchError) -> Fault<S::Key> {
        Fault::Fetch {
            name: entry.name.clone(),
            env_var: entry.env_var.clone(),
            key: entry
                .key
                .clone()
                .expect("only entries with a key are fetched"),
            source,
        }
    }

    pub(crate) fn index_of(&self, name: &str) -> Result<usize, Fault<S::Key>> {
        self.entries
            .iter()
            .position(|entry| *entry.name == *name)
            .ok_or_else(|| Fault::Undeclared {
                name: name.to_owned(),
                declared: self
                    .entries
                    .iter()
                    .map(|e| &*e.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// A handle's `get`: the value of the entry named `name` (see [`read`](Self::read)); an
    /// undeclared name and an optional entry without a value are faults too.
    pub(crate) fn get(self: &Arc<Self>, name: &str) -> Result<S::Value, Fault<S::Key>> {
        let index = self.index_of(name)?;
        self.read(index, Instant::now())?
            .ok_or_else(|| self.unavailable(index))
    }

    /// A handle's `get_optional`: like [`get`](Self::get), with `None` for an optional entry
    /// without a value.
    pub(crate) fn get_optional(
        self: &Arc<Self>,
        name: &str,
    ) -> Result<Option<S::Value>, Fault<S::Key>> {
        self.read(self.index_of(name)?, Instant::now())
    }

    /// A handle's `force_refresh`: [`refresh`](Self::refresh) of the entry named `name`.
    pub(crate) async fn force_refresh(&self, name: &str) -> Result<S::Value, Fault<S::Key>> {
        self.refresh(self.index_of(name)?).await
    }

    /// The hot path: the cached value (`None` if an optional entry has none), or `Stale`.
    /// Starts a background refresh when one is due; never waits for it.
    pub(crate) fn read(
        self: &Arc<Self>,
        index: usize,
        now: Instant,
    ) -> Result<Option<S::Value>, Fault<S::Key>> {
        let entry = &self.entries[index];
        let current = entry.current.load();
        let Some(cached) = current.as_deref() else {
            self.refresh_in_background(index, now);
            return Ok(None);
        };
        let age = now.saturating_duration_since(cached.fetched_at);
        let failure = entry.failure.load();
        match entry.policy.assess(age, failure.is_some()) {
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
                Err(Fault::Stale {
                    name: entry.name.clone(),
                    key: entry.key.clone().expect("a cached entry has a key"),
                    age,
                    source: failure.error.clone(),
                })
            }
        }
    }

    /// Reads every entry once, as the service does before each invocation: starts the
    /// refreshes that are due and fails with the first required entry that is stale (or
    /// unavailable). `Ok(true)` when an optional entry is stale. Allocation-free when all is
    /// well.
    pub(crate) fn check_for_stale(self: &Arc<Self>) -> Result<bool, Fault<S::Key>> {
        let now = Instant::now();
        let mut optional_stale = false;
        for (index, entry) in self.entries.iter().enumerate() {
            match self.read(index, now) {
                Err(fault) if entry.required => return Err(fault),
                Err(Fault::Stale { .. }) => optional_stale = true,
                _ => {}
            }
        }
        Ok(optional_stale)
    }

    /// Recovers every stale value with one fetch each (shared with concurrent callers, see
    /// [`recover`](Self::recover)), ending by `until`, then checks again.
    pub(crate) async fn recover_stale(
        self: &Arc<Self>,
        until: Instant,
    ) -> Result<(), Fault<S::Key>> {
        let now = Instant::now();
        let stale = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, entry)| self.is_stale(entry, now))
            .map(|(index, _)| self.recover(index, until));
        join_all(stale).await;
        self.check_for_stale().map(|_| ())
    }

    /// Makes one fetch for a value that is [`Stale`](Freshness::Stale), ending by `until`,
    /// instead of failing while the background refresh waits out its retry interval: the first
    /// read after the back-end recovers gets the new value. Concurrent callers share the fetch:
    /// one makes it, the others wait for it and take its outcome. Returns whether the entry is
    /// usable (fresh, or no longer stale) afterwards.
    pub(crate) async fn recover(&self, index: usize, until: Instant) -> bool {
        let entry = &self.entries[index];
        if entry.key.is_none() {
            return false;
        }
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
        let timeout = entry
            .policy
            .fetch_timeout
            .min(until.saturating_duration_since(Instant::now()));
        let noun = self.noun;
        match self.fetch(&[index], timeout).await.remove(0) {
            Ok(_) => {
                entry_event!(
                    info,
                    noun,
                    entry.name,
                    entry.id(),
                    "recovered a stale {}",
                    noun.singular()
                );
                true
            }
            Err(error) => {
                let what = format!("could not recover the stale {}", noun.singular());
                warn_fetch_failed(noun, entry, &error, &what);
                false
            }
        }
    }

    /// Whether reads of `entry` fail as [`Stale`](Freshness::Stale) at `now`.
    pub(crate) fn is_stale(&self, entry: &Entry<S::Key, S::Value>, now: Instant) -> bool {
        entry.freshness(now) == Some(Freshness::Stale)
    }

    /// Why an optional entry has no value.
    pub(crate) fn unavailable(&self, index: usize) -> Fault<S::Key> {
        let entry = &self.entries[index];
        let reason = match (&entry.key, entry.failure.load().as_deref()) {
            (None, _) => format!("environment variable `{}` is not set", entry.env_var),
            (Some(key), Some(failure)) => format!(
                "fetching `{}` failed ({}); retrying in the background",
                key.id(),
                failure.error
            ),
            (Some(key), None) => format!("`{}` has not been fetched yet", key.id()),
        };
        Fault::Unavailable {
            name: entry.name.clone(),
            reason,
        }
    }

    /// Fetches now and waits for the answer (`force_refresh`). Runs even if a background
    /// refresh is in flight.
    pub(crate) async fn refresh(&self, index: usize) -> Result<S::Value, Fault<S::Key>> {
        let entry = &self.entries[index];
        if entry.key.is_none() {
            return Err(self.unavailable(index));
        }
        self.fetch(&[index], entry.policy.fetch_timeout)
            .await
            .remove(0)
            .map_err(|error| self.fetch_fault(entry, error))
    }

    /// Starts one background refresh of `index` (unless one is in flight or a failure is
    /// recent), together with the entries of its batch that are due too.
    fn refresh_in_background(self: &Arc<Self>, index: usize, now: Instant) {
        let entry = &self.entries[index];
        if entry.key.is_none() || entry.backing_off(now) {
            return;
        }
        if entry.refreshing.swap(true, Ordering::AcqRel) {
            return; // one refresh per entry at a time
        }
        let Ok(runtime) = Handle::try_current() else {
            entry.refreshing.store(false, Ordering::Release);
            return;
        };
        let mut batch = vec![index];
        if entry.batched {
            batch.extend(
                self.entries
                    .iter()
                    .enumerate()
                    .filter_map(|(other, companion)| {
                        let joins = other != index
                            && companion.group == entry.group
                            && companion.key.is_some()
                            && !companion.backing_off(now)
                            && companion.freshness(now) != Some(Freshness::Fresh)
                            && !companion.refreshing.swap(true, Ordering::AcqRel);
                        joins.then_some(other)
                    }),
            );
        }
        let cache = Arc::clone(self);
        runtime.spawn(async move {
            let _in_flight: Vec<InFlight<'_>> = batch
                .iter()
                .map(|index| InFlight(&cache.entries[*index].refreshing))
                .collect();
            let timeout = cache.entries[batch[0]].policy.fetch_timeout;
            let outcomes = cache.fetch(&batch, timeout).await;
            let noun = cache.noun;
            for (index, outcome) in batch.iter().zip(outcomes) {
                let entry = &cache.entries[*index];
                match outcome {
                    Ok(value) => entry_event!(
                        debug,
                        noun,
                        entry.name,
                        entry.id(),
                        version_id = S::version(&value),
                        "refreshed {}",
                        noun.singular()
                    ),
                    Err(error) => {
                        let what = format!(
                            "could not refresh the {}; the cached value, if any, is served until its grace period ends",
                            noun.singular()
                        );
                        warn_fetch_failed(noun, entry, &error, &what);
                    }
                }
            }
        });
    }

    /// Failed refreshes since the last call (for the refresh-failed metric).
    pub(crate) fn take_unreported_failures(&self) -> u64 {
        self.unreported_failures.swap(0, Ordering::Relaxed)
    }

    /// The built-in metric failed refreshes are reported as.
    pub(crate) fn refresh_failed_metric(&self) -> &'static str {
        self.noun.refresh_failed_metric()
    }

    /// Fetches the entries at `indices` (all with keys) in one call to the source, bounded by
    /// `timeout`, and stores each outcome: a value replaces the cached one unless a newer
    /// fetch already did; a failure keeps the cached value and is recorded.
    async fn fetch(&self, indices: &[usize], timeout: Duration) -> Vec<Outcome<S::Value>> {
        let started = Instant::now();
        let tickets: Vec<u64> = indices
            .iter()
            .map(|index| self.entries[*index].tickets.fetch_add(1, Ordering::Relaxed))
            .collect();
        let requests: Vec<Request<'_, S::Key>> = indices
            .iter()
            .map(|index| {
                let entry = &self.entries[*index];
                Request {
                    name: &entry.name,
                    key: entry
                        .key
                        .as_ref()
                        .expect("only entries with a key are fetched"),
                }
            })
            .collect();
        let mut outcomes = tokio::time::timeout(timeout, self.source.fetch(&requests))
            .await
            .unwrap_or_else(|_| {
                let error = FetchError::new(
                    FetchErrorKind::Unreachable,
                    "Timeout",
                    format!("no answer within {}", humanize(timeout)),
                );
                vec![Err(error); indices.len()]
            });
        assert_eq!(
            outcomes.len(),
            indices.len(),
            "a source answers each request once"
        );
        let finished = Instant::now();
        let frozen = finished.saturating_duration_since(started) > timeout + FREEZE_SLACK;
        for ((index, ticket), outcome) in indices.iter().zip(tickets).zip(&mut outcomes) {
            let entry = &self.entries[*index];
            match outcome {
                Ok(value) => {
                    // Aged from when it was asked for: the value is at least that fresh. A
                    // slower, older fetch (a background refresh overtaken by `force_refresh`)
                    // must not replace a newer value.
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
                }
                Err(error) => {
                    let overtaken = entry
                        .current
                        .load()
                        .as_ref()
                        .is_some_and(|current| current.ticket > ticket);
                    let noun = self.noun;
                    if overtaken {
                        entry_event!(
                            debug,
                            noun,
                            entry.name,
                            entry.id(),
                            "a fetch failed after a newer one succeeded; ignored"
                        );
                    } else if frozen {
                        entry_event!(
                            debug,
                            noun,
                            entry.name,
                            entry.id(),
                            "a fetch was frozen past its timeout; not counted as a failure"
                        );
                    } else {
                        self.unreported_failures.fetch_add(1, Ordering::Relaxed);
                        entry.failure.store(Some(Arc::new(Failure {
                            error: error.clone(),
                            at: finished,
                            number: entry.failures.fetch_add(1, Ordering::Relaxed) + 1,
                        })));
                    }
                }
            }
        }
        outcomes
    }
}

/// One warning line for a failed fetch: the entry, its id, the AWS error code and detail.
fn warn_fetch_failed<K: Keyed, V>(noun: Noun, entry: &Entry<K, V>, error: &FetchError, what: &str) {
    fetch_failed_event!(warn, noun, entry, error, "{what}");
}

/// A facility's error (an enum with `MissingEnv { env_var, purpose }` and
/// `InvalidEnv { env_var, reason }` variants and `error_type()`): its `fetch_error()`, the
/// `source` of the variants listed after `fetched:`, and its `From` conversions into the
/// runtime's init error (a missing or bad variable as the runtime's own, anything else through
/// [`init_error`]) and into a `Diagnostic`.
macro_rules! facility_error_conversions {
    ($error:ident, fetched: $($fetched:ident)|+) => {
        impl $error {
            /// The back-end error behind this one, if a fetch failed.
            pub fn fetch_error(&self) -> Option<&crate::cache::FetchError> {
                match self {
                    $(Self::$fetched { source, .. })|+ => Some(source),
                    _ => None,
                }
            }
        }

        impl From<$error> for tern_runtime::InitError {
            fn from(error: $error) -> Self {
                match error {
                    $error::MissingEnv { env_var, purpose } => Self::MissingEnv {
                        name: env_var,
                        purpose,
                    },
                    $error::InvalidEnv { env_var, reason } => Self::InvalidEnv {
                        name: env_var,
                        reason,
                    },
                    error => {
                        crate::cache::init_error(error.error_type(), &error, error.fetch_error())
                    }
                }
            }
        }

        impl From<$error> for lambda_runtime::Diagnostic {
            fn from(error: $error) -> Self {
                crate::diagnostic(error.error_type(), &error)
            }
        }
    };
}

pub(crate) use facility_error_conversions;

/// A facility's error as an init error: its `errorType` and message, the fetch error as its
/// `source()`.
pub(crate) fn init_error(
    error_type: &'static str,
    error: &dyn std::fmt::Display,
    source: Option<&FetchError>,
) -> tern_runtime::InitError {
    let message = error.to_string();
    match source.cloned() {
        Some(source) => tern_runtime::InitError::failed_with(error_type, message, source),
        None => tern_runtime::InitError::failed(error_type, message),
    }
}

fn humanize(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests;
