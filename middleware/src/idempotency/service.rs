//! The service that makes an inner handler idempotent per event.

use std::{
    fmt,
    task::{Context, Poll},
};

use lambda_runtime::LambdaEvent;
use serde::{Serialize, de::DeserializeOwned};
use tower::Service;

use super::{
    IdempotencyError, engine::Idempotency, future::ResponseFuture, key::KeySelector,
    transitions::TimeLeft,
};

/// Wraps a handler service so each event runs it at most once per idempotency key; built by
/// [`IdempotencyLayer`](super::IdempotencyLayer).
///
/// `poll_ready` is the inner service's. On `call` the key is selected from the payload and
/// the lock is bounded by the event's deadline (`Context::deadline`); the inner service is only
/// called when the key is new (or its record expired). An event whose deadline has passed (or
/// is 0, as in a hand-built `Context::default()`) gets a lock that expires at once: completed
/// responses still answer its duplicates, but concurrent duplicates are not held off.
pub struct IdempotencyService<S, T> {
    inner: S,
    engine: Idempotency,
    key: KeySelector<T>,
    validation: Option<KeySelector<T>>,
}

impl<S, T> IdempotencyService<S, T> {
    pub(crate) fn new(
        inner: S,
        engine: Idempotency,
        key: KeySelector<T>,
        validation: Option<KeySelector<T>>,
    ) -> Self {
        Self {
            inner,
            engine,
            key,
            validation,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone, T> Clone for IdempotencyService<S, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            engine: self.engine.clone(),
            key: self.key.clone(),
            validation: self.validation.clone(),
        }
    }
}

impl<S: fmt::Debug, T> fmt::Debug for IdempotencyService<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyService")
            .field("inner", &self.inner)
            .field("engine", &self.engine)
            .field("key", &self.key)
            .field("validation", &self.validation)
            .finish()
    }
}

impl<S, T, R> Service<LambdaEvent<T>> for IdempotencyService<S, T>
where
    S: Service<LambdaEvent<T>, Response = R> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
    T: Send + 'static,
{
    type Response = R;
    type Error = IdempotencyError<S::Error>;
    type Future = ResponseFuture<R, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(IdempotencyError::Handler)
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        let key = self.key.select(&event.payload);
        let validation = self.validation.as_ref().map(|v| v.select(&event.payload));
        let prepared = self.engine.prepare(key, validation, self.key.description());
        let deadline = TimeLeft::Until(event.context.deadline);
        // Call the instance that was polled ready; leave a fresh clone for the next call.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let engine = self.engine.clone();
        ResponseFuture::new(Box::pin(async move {
            match prepared? {
                Some((key, validation)) => {
                    engine
                        .execute(key, validation, deadline, move || inner.call(event))
                        .await
                }
                None => inner.call(event).await.map_err(IdempotencyError::Handler),
            }
        }))
    }
}
