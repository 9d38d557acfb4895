//! The service that runs a request at most once per `Idempotency-Key`.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Either, Full};
use serde_json::Value;
use tower::Service;

use crate::{
    http::{BoxError, Problem, future::ResponseFuture},
    idempotency::{Idempotency, IdempotencyError, TimeLeft, key::sha256_hex_of},
};

use super::{
    key::idempotency_key,
    outcome::{Unstored, capture, problem, replay},
};

/// Wraps an `http::Request` service so each request of the configured methods runs at most
/// once per `Idempotency-Key`; built by [`IdempotencyKeyLayer`](super::IdempotencyKeyLayer).
///
/// `poll_ready` is the inner service's. The request body is read whole (to fingerprint it)
/// and handed on as `B::from(bytes)`. The lock lasts until the invocation's deadline, from
/// the Lambda [`Context`](lambda_runtime::Context) lambda_http puts in the request's
/// extensions (without one, the lock expires at once: completed responses still replay, but
/// concurrent duplicates are not held off).
#[derive(Clone, Debug)]
pub struct IdempotencyKeyService<S> {
    inner: S,
    engine: Idempotency,
    methods: Arc<[Method]>,
}

impl<S> IdempotencyKeyService<S> {
    pub(crate) fn new(inner: S, engine: Idempotency, methods: Arc<[Method]>) -> Self {
        Self {
            inner,
            engine,
            methods,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// The response body: the inner service's when it passes through, else the stored one.
type KeyBody<B> = Either<B, Full<Bytes>>;

impl<S, ReqB, ResB> Service<http::Request<ReqB>> for IdempotencyKeyService<S>
where
    S: Service<http::Request<ReqB>, Response = http::Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqB: http_body::Body + From<Bytes> + Send + 'static,
    ReqB::Data: Send,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Response = http::Response<KeyBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<Self::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqB>) -> Self::Future {
        // Call the instance that was polled ready; leave a clone for the next call.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        if !self.methods.contains(request.method()) {
            let future = inner.call(request);
            return ResponseFuture::new(Box::pin(
                async move { Ok(future.await?.map(Either::Left)) },
            ));
        }
        let engine = self.engine.clone();
        ResponseFuture::new(Box::pin(run_once(engine, inner, request)))
    }
}

async fn run_once<S, ReqB, ResB>(
    engine: Idempotency,
    mut inner: S,
    request: http::Request<ReqB>,
) -> Result<http::Response<KeyBody<ResB>>, S::Error>
where
    S: Service<http::Request<ReqB>, Response = http::Response<ResB>>,
    ReqB: http_body::Body + From<Bytes>,
    ResB: http_body::Body<Data = Bytes>,
    ResB::Error: Into<BoxError>,
{
    let answer = |problem: Problem| Ok(problem.into_full_response().map(Either::Right));
    let key = match idempotency_key(request.headers()) {
        Ok(key) => key,
        Err(problem) => return answer(problem),
    };
    let deadline = request
        .extensions()
        .get::<lambda_runtime::Context>()
        .map_or(0, |context| context.deadline);
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|collected| collected.to_bytes()) else {
        return answer(Problem::new(
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        ));
    };
    let fingerprint = fingerprint(&parts, &body);
    let prepared = engine.prepare(
        Ok(key.map(Value::String)),
        Some(Ok(Some(Value::String(fingerprint)))),
        "the Idempotency-Key header",
    );
    let request = http::Request::from_parts(parts, ReqB::from(body));
    let (key, validation) = match prepared {
        Ok(Some(prepared)) => prepared,
        // No key, and the engine is set to run such requests without idempotency.
        Ok(None) => return Ok(inner.call(request).await?.map(Either::Left)),
        Err(error) => return answer(problem::<Unstored<S::Error>>(&error)),
    };
    let outcome = engine
        .execute(key, validation, TimeLeft::Until(deadline), || async move {
            let response = inner.call(request).await.map_err(Unstored::Inner)?;
            capture(response).await
        })
        .await;
    match outcome {
        Ok(stored) => Ok(replay(&stored).map(Either::Right)),
        Err(IdempotencyError::Handler(Unstored::Inner(error))) => Err(error),
        Err(IdempotencyError::Handler(Unstored::Response(response))) => {
            Ok(response.map(Either::Right))
        }
        Err(error) => answer(problem(&error)),
    }
}

/// What makes two requests "the same request" for one key: method, path and query, body
/// (the key's validation hash; a mismatch is `422`).
fn fingerprint(parts: &http::request::Parts, body: &[u8]) -> String {
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    sha256_hex_of(&[
        parts.method.as_str().as_bytes(),
        b" ",
        target.as_bytes(),
        b"\n",
        body,
    ])
}
