//! The idempotency engine: construction, key preparation and the entry points (the
//! transitions themselves are in `transitions.rs`).

use std::{fmt, future::Future, sync::Arc, time::Duration};

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
#[cfg(feature = "dynamodb")]
use tern_runtime::{InitContext, InitError};

use super::{
    IdempotencyError,
    cache::CompletedCache,
    config::{Clock, IdempotencyConfig, MissingKey},
    key::{IdempotencyKey, KeySelector, hash_value, is_missing},
    store::IdempotencyStore,
    transitions::TimeLeft,
};

/// The idempotency engine: a store, a key prefix, a record lifetime and an optional local
/// cache. Cheap to clone (one `Arc`); build it once at init.
///
/// [`IdempotencyLayer`](super::IdempotencyLayer) drives it for whole events. Use it directly
/// to make any unit of work idempotent, such as one record of a batch:
///
/// ```
/// # use std::{sync::Arc, time::Duration};
/// # use tern_middleware::idempotency::{Idempotency, IdempotencyConfig, IdempotencyError, store::MemoryStore};
/// # async fn example() -> Result<(), IdempotencyError<std::io::Error>> {
/// let idempotency = Idempotency::new(
///     Arc::new(MemoryStore::new()),
///     IdempotencyConfig::new().with_prefix("orders.record"),
/// );
/// let message_id = "8f2c1f0e";
/// let total: u32 = idempotency
///     .run(Some(message_id), Duration::from_secs(30), || async {
///         Ok::<_, std::io::Error>(42) // process the record once
///     })
///     .await?;
/// assert_eq!(total, 42);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Idempotency {
    pub(super) inner: Arc<Engine>,
}

pub(super) struct Engine {
    pub(super) store: Arc<dyn IdempotencyStore>,
    pub(super) prefix: String,
    pub(super) expires_after_s: u64,
    pub(super) max_response_bytes: usize,
    pub(super) missing_key: MissingKey,
    pub(super) cache: Option<CompletedCache>,
    pub(super) clock: Arc<dyn Clock>,
}

/// A key (and validation hash) ready to run, or `None` to run without idempotency.
pub(crate) type Prepared = Option<(IdempotencyKey, Option<String>)>;

impl Idempotency {
    /// An engine over `store` with `config`.
    pub fn new<S: IdempotencyStore>(store: Arc<S>, config: IdempotencyConfig) -> Self {
        let store: Arc<dyn IdempotencyStore> = store;
        Self::with_store(store, config)
    }

    /// Like [`new`](Self::new), for a store already behind `Arc<dyn IdempotencyStore>`.
    pub fn with_store(store: Arc<dyn IdempotencyStore>, config: IdempotencyConfig) -> Self {
        Self {
            inner: Arc::new(Engine {
                store,
                prefix: config.prefix(),
                expires_after_s: config.expires_after().as_secs(),
                max_response_bytes: config.max_response_bytes(),
                missing_key: config.missing_key(),
                cache: (config.local_cache() > 0)
                    .then(|| CompletedCache::new(config.local_cache())),
                clock: config.clock().clone(),
            }),
        }
    }

    /// An engine on the DynamoDB table of `config` (or `TERN_IDEMPOTENCY_TABLE`), through a
    /// client built from the runtime's shared SDK configuration. The default prefix uses the
    /// handler name the runtime selected. (The `dynamodb` feature.)
    #[cfg(feature = "dynamodb")]
    pub async fn from_init(
        init: &InitContext,
        mut config: IdempotencyConfig,
    ) -> Result<Self, InitError> {
        let table = config
            .table()
            .map(str::to_owned)
            .ok_or_else(|| InitError::MissingEnv {
                name: tern_runtime::env::names::IDEMPOTENCY_TABLE.to_owned(),
                purpose: "the name of the DynamoDB table for idempotency records (partition key \
                      `id` of type S, TTL on `expiration`)"
                    .to_owned(),
            })?;
        if config.handler_name().is_none() {
            config = config.with_handler_name(init.handler_name());
        }
        let client = aws_sdk_dynamodb::Client::new(init.aws_config().await);
        Ok(Self::new(
            Arc::new(super::store::DynamoDbStore::new(client, table)),
            config,
        ))
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn IdempotencyStore> {
        &self.inner.store
    }

    /// The key `data` gets under this engine's prefix.
    pub fn key_for<D: Serialize + ?Sized>(
        &self,
        data: &D,
    ) -> Result<IdempotencyKey, serde_json::Error> {
        Ok(IdempotencyKey::from_value(
            &self.inner.prefix,
            &serde_json::to_value(data)?,
        ))
    }

    /// The time left until `deadline_ms` (epoch milliseconds, as in
    /// `lambda_runtime::Context::deadline`) by this engine's clock; zero once it has passed.
    pub fn remaining_until(&self, deadline_ms: u64) -> Duration {
        Duration::from_millis(deadline_ms.saturating_sub(self.inner.clock.now_ms()))
    }

    /// Runs `handler` at most once per key: `key_data` is hashed into the key; `remaining` is
    /// the invocation's time left, which bounds the in-progress lock.
    ///
    /// A duplicate of a completed key returns the stored response without calling `handler`;
    /// a duplicate of a key still in progress is
    /// [`AlreadyInProgress`](IdempotencyError::AlreadyInProgress). `None` (or data that is
    /// `null`) is a missing key, handled as configured by [`MissingKey`].
    pub fn run<'a, D, R, E, F, Fut>(
        &'a self,
        key_data: Option<&D>,
        remaining: Duration,
        handler: F,
    ) -> impl Future<Output = Result<R, IdempotencyError<E>>> + use<'a, D, R, E, F, Fut>
    where
        D: Serialize + ?Sized,
        R: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let key = key_data.map(serde_json::to_value).transpose();
        let prepared = self.prepare(key, None, "the key data passed to Idempotency::run");
        self.run_prepared(prepared, remaining, handler)
    }

    /// Like [`run`](Self::run), also hashing `validation_data` into the record: a later
    /// duplicate whose validation data differs fails with
    /// [`PayloadMismatch`](IdempotencyError::PayloadMismatch).
    pub fn run_validated<'a, D, V, R, E, F, Fut>(
        &'a self,
        key_data: Option<&D>,
        validation_data: &V,
        remaining: Duration,
        handler: F,
    ) -> impl Future<Output = Result<R, IdempotencyError<E>>> + use<'a, D, V, R, E, F, Fut>
    where
        D: Serialize + ?Sized,
        V: Serialize + ?Sized,
        R: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let key = key_data.map(serde_json::to_value).transpose();
        let validation = serde_json::to_value(validation_data).map(Some);
        let prepared = self.prepare(
            key,
            Some(validation),
            "the key data passed to Idempotency::run_validated",
        );
        self.run_prepared(prepared, remaining, handler)
    }

    /// Like [`run`](Self::run), with the key selected from `item` by `selector`: the form a
    /// batch layer uses per record, with the selector configured once at init.
    ///
    /// ```
    /// # use std::{sync::Arc, time::Duration};
    /// # use tern_middleware::idempotency::*;
    /// struct SqsMessage { message_id: String, body: String }
    /// # async fn example(idempotency: Idempotency, message: SqsMessage) {
    /// let by_id = KeySelector::from_fn(|m: &SqsMessage| Some(m.message_id.clone()));
    /// let outcome = idempotency
    ///     .run_selected(&by_id, &message, Duration::from_secs(10), || async {
    ///         Ok::<_, String>(message.body.len())
    ///     })
    ///     .await;
    /// # let _ = outcome; }
    /// ```
    pub fn run_selected<'a, T, R, E, F, Fut>(
        &'a self,
        selector: &KeySelector<T>,
        item: &T,
        remaining: Duration,
        handler: F,
    ) -> impl Future<Output = Result<R, IdempotencyError<E>>> + use<'a, T, R, E, F, Fut>
    where
        R: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let prepared = self.prepare(selector.select(item), None, selector.description());
        self.run_prepared(prepared, remaining, handler)
    }

    async fn run_prepared<R, E, F, Fut>(
        &self,
        prepared: Result<Prepared, IdempotencyError<E>>,
        remaining: Duration,
        handler: F,
    ) -> Result<R, IdempotencyError<E>>
    where
        R: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        match prepared? {
            Some((key, validation)) => {
                self.execute(key, validation, TimeLeft::For(remaining), handler)
                    .await
            }
            None => handler().await.map_err(IdempotencyError::Handler),
        }
    }

    /// Turns selected data into a key and validation hash, applying the missing-key policy.
    pub(crate) fn prepare<E>(
        &self,
        key_data: Result<Option<Value>, serde_json::Error>,
        validation_data: Option<Result<Option<Value>, serde_json::Error>>,
        selector: &str,
    ) -> Result<Prepared, IdempotencyError<E>> {
        let invalid = |source| IdempotencyError::InvalidKeyData {
            prefix: self.inner.prefix.clone(),
            source,
        };
        let Some(key_data) = key_data.map_err(invalid)?.filter(|v| !is_missing(v)) else {
            return match self.inner.missing_key {
                MissingKey::Error => Err(IdempotencyError::MissingKey {
                    prefix: self.inner.prefix.clone(),
                    selector: selector.to_owned(),
                }),
                MissingKey::RunWithoutIdempotency => {
                    tracing::warn!(
                        prefix = %self.inner.prefix,
                        selector,
                        "no idempotency key in the event; running the handler without idempotency"
                    );
                    Ok(None)
                }
            };
        };
        let validation = match validation_data {
            Some(data) => Some(hash_value(&data.map_err(invalid)?.unwrap_or(Value::Null))),
            None => None,
        };
        let key = IdempotencyKey::from_value(&self.inner.prefix, &key_data);
        Ok(Some((key, validation)))
    }
}

impl fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idempotency")
            .field("store", &self.inner.store)
            .field("prefix", &self.inner.prefix)
            .field("expires_after_s", &self.inner.expires_after_s)
            .field("missing_key", &self.inner.missing_key)
            .field("local_cache", &self.inner.cache.is_some())
            .finish()
    }
}
