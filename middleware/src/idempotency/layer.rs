//! The tower layer: an engine and the selection of keys from events of type `T`.

use std::fmt;

#[cfg(feature = "dynamodb")]
use tern_runtime::{InitContext, InitError};
use tower::Layer;

#[cfg(feature = "dynamodb")]
use super::config::IdempotencyConfig;
use super::{engine::Idempotency, key::KeySelector, service::IdempotencyService};

/// Makes the services it wraps idempotent per event of type `T`.
///
/// Holds an [`Idempotency`] engine (store, prefix, expiry, cache), the [`KeySelector`] of the
/// idempotency key and, optionally, the selector of the fields to validate. Cheap to clone.
/// The wrapped service's response must serialize to JSON and deserialize back to the same
/// JSON: the first response is stored serialized and duplicates get it deserialized.
pub struct IdempotencyLayer<T> {
    engine: Idempotency,
    key: KeySelector<T>,
    validation: Option<KeySelector<T>>,
}

impl<T> IdempotencyLayer<T> {
    /// A layer running `engine` with keys selected by `key`.
    pub fn new(engine: Idempotency, key: KeySelector<T>) -> Self {
        Self {
            engine,
            key,
            validation: None,
        }
    }

    /// A layer on the DynamoDB table named in `config` (or `TERN_IDEMPOTENCY_TABLE`), through
    /// the runtime's shared SDK configuration; see [`Idempotency::from_init`]. (The
    /// `dynamodb` feature.)
    #[cfg(feature = "dynamodb")]
    pub async fn from_init(
        init: &InitContext,
        config: IdempotencyConfig,
        key: KeySelector<T>,
    ) -> Result<Self, InitError> {
        Ok(Self::new(Idempotency::from_init(init, config).await?, key))
    }

    /// Also stores a hash of the fields `fields` selects; a duplicate whose fields hash
    /// differently fails with
    /// [`PayloadMismatch`](super::IdempotencyError::PayloadMismatch) instead of getting the
    /// stored response.
    pub fn with_validation(mut self, fields: KeySelector<T>) -> Self {
        self.validation = Some(fields);
        self
    }

    /// The engine, e.g. to share its store with a per-record use.
    pub fn idempotency(&self) -> &Idempotency {
        &self.engine
    }
}

impl<S, T> Layer<S> for IdempotencyLayer<T> {
    type Service = IdempotencyService<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        IdempotencyService::new(
            inner,
            self.engine.clone(),
            self.key.clone(),
            self.validation.clone(),
        )
    }
}

impl<T> Clone for IdempotencyLayer<T> {
    fn clone(&self) -> Self {
        Self {
            engine: self.engine.clone(),
            key: self.key.clone(),
            validation: self.validation.clone(),
        }
    }
}

impl<T> fmt::Debug for IdempotencyLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyLayer")
            .field("engine", &self.engine)
            .field("key", &self.key)
            .field("validation", &self.validation)
            .finish()
    }
}
