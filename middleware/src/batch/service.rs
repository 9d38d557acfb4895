//! [`Batch`]: the service that runs a record handler over every record of a batch event.

use std::{fmt, marker::PhantomData, task::Poll};

use lambda_runtime::{Diagnostic, LambdaEvent};
use tower::Service;

use crate::batch::{
    config::BatchConfig, decode::RecordDecoder, error::BatchError, future::BatchFuture,
    source::BatchSource,
};

/// A [`Service`] over `LambdaEvent<Src::Event>` that runs the record handler `S` — a service
/// over `LambdaEvent<D::Output>` — once per record and answers with the source's partial batch
/// response. Built by [`BatchLayer`](crate::batch::BatchLayer) or [`BatchService::new`].
///
/// Every record handler call gets the invocation's [`Context`](lambda_runtime::Context) (its
/// deadline, request id), so per-record middleware such as idempotency wraps `S` exactly as it
/// wraps a whole-event handler.
pub struct BatchService<S, Src, D> {
    inner: S,
    config: BatchConfig,
    _source: PhantomData<fn() -> (Src, D)>,
}

impl<S, Src, D> BatchService<S, Src, D> {
    /// Runs `inner` per record with `config`.
    pub fn new(inner: S, config: BatchConfig) -> Self {
        Self {
            inner,
            config,
            _source: PhantomData,
        }
    }

    /// The record handler.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The configuration.
    pub fn config(&self) -> &BatchConfig {
        &self.config
    }
}

impl<S: Clone, Src, D> Clone for BatchService<S, Src, D> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: self.config.clone(),
            _source: PhantomData,
        }
    }
}

impl<S, Src: BatchSource, D> fmt::Debug for BatchService<S, Src, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchService")
            .field("source", &Src::NAME)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S, Src, D> Service<LambdaEvent<Src::Event>> for BatchService<S, Src, D>
where
    Src: BatchSource,
    D: RecordDecoder<Src>,
    S: Service<LambdaEvent<D::Output>> + Clone,
    S::Error: Into<Diagnostic>,
{
    type Response = Src::Response;
    type Error = BatchError;
    type Future = BatchFuture<S, Src, D>;

    /// Always ready. The record handler is called many times per batch, so its readiness is
    /// awaited before each record inside the batch, where a readiness error fails that record
    /// instead of the invocation (or, through lambda_runtime, the whole process).
    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent<Src::Event>) -> Self::Future {
        let (payload, context) = event.into_parts();
        BatchFuture::new(
            self.inner.clone(),
            &self.config,
            Src::into_records(payload),
            context,
        )
    }
}
