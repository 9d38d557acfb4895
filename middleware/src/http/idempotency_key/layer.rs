//! The tower layer: an idempotency engine and the methods it applies to.

use std::sync::Arc;

use http::Method;
#[cfg(feature = "dynamodb")]
use tern_runtime::{InitContext, InitError};
use tower::Layer;

use crate::idempotency::Idempotency;
#[cfg(feature = "dynamodb")]
use crate::idempotency::IdempotencyConfig;

use super::IdempotencyKeyService;

/// Makes the `http::Request` services it wraps idempotent by the `Idempotency-Key` header;
/// see the [module documentation](crate::http) for the responses.
///
/// Applies to `POST` and `PATCH` requests unless [`with_methods`](Self::with_methods) says
/// otherwise; other methods pass straight through. Cheap to clone.
#[derive(Debug, Clone)]
pub struct IdempotencyKeyLayer {
    engine: Idempotency,
    methods: Arc<[Method]>,
}

impl IdempotencyKeyLayer {
    /// A layer running `engine`. Whether a request without a key gets `400` or runs without
    /// idempotency is the engine's [`MissingKey`](crate::idempotency::MissingKey) setting
    /// (default: `400`).
    pub fn new(engine: Idempotency) -> Self {
        Self {
            engine,
            methods: Arc::from([Method::POST, Method::PATCH]),
        }
    }

    /// A layer on the DynamoDB table named in `config` (or `TERN_IDEMPOTENCY_TABLE`); see
    /// [`Idempotency::from_init`]. (The `dynamodb` feature.)
    #[cfg(feature = "dynamodb")]
    pub async fn from_init(
        init: &InitContext,
        config: IdempotencyConfig,
    ) -> Result<Self, InitError> {
        Ok(Self::new(Idempotency::from_init(init, config).await?))
    }

    /// The methods whose requests are made idempotent.
    pub fn with_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// The engine.
    pub fn idempotency(&self) -> &Idempotency {
        &self.engine
    }
}

impl<S> Layer<S> for IdempotencyKeyLayer {
    type Service = IdempotencyKeyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        IdempotencyKeyService::new(inner, self.engine.clone(), self.methods.clone())
    }
}
