//! The response future of [`HttpService`](super::HttpService), and the wrapper that turns a
//! panic of the inner service into a `500` problem response.

use std::{
    panic::AssertUnwindSafe,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use futures_util::{FutureExt, future};
use http_body_util::{Either, Full};
use lambda_http::Request;
use tower::Service;

use super::{Problem, origin::Origin};

/// The response future of [`HttpService`](super::HttpService) and
/// `IdempotencyKeyService`.
pub type ResponseFuture<R, E> = crate::future::BoxResponseFuture<Result<R, E>>;

/// The body of a response that went through [`Rescue`]: the inner service's, or a problem.
pub(crate) type RescuedBody<B> = Either<B, Full<Bytes>>;

/// Wraps the inner service inside lambda_http's adapter: a panic in its `call` or its future
/// becomes a `500` problem response (the panic hook has already logged it, inside the
/// invocation's span), and the response headers are fitted to the event kind's shape.
pub(crate) struct Rescue<S> {
    inner: S,
    origin: Origin,
}

impl<S> Rescue<S> {
    pub(crate) fn new(inner: S, origin: Origin) -> Self {
        Self { inner, origin }
    }
}

impl<S, B> Service<Request> for Rescue<S>
where
    S: Service<Request, Response = http::Response<B>>,
{
    type Response = http::Response<RescuedBody<B>>;
    type Error = S::Error;
    type Future = RescueFuture<S::Future, Self::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Only ever called by `HttpService::call`, on an instance already polled ready.
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The panic hook has logged it.
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(inner) => future::Either::Left(Rescuing {
                inner: AssertUnwindSafe(inner).catch_unwind(),
                origin: self.origin,
            }),
            Err(_) => future::Either::Right(future::ready(Ok(panic_response()))),
        }
    }
}

/// The future of [`Rescue`]: the inner service's, or the problem response of its panicking
/// `call`.
pub(crate) type RescueFuture<F, R, E> = future::Either<Rescuing<F>, future::Ready<Result<R, E>>>;

pin_project_lite::pin_project! {
    /// The inner service's future: its response with headers fitted to the event kind's
    /// shape, or the problem response of its panic (ready then, so the panicked future is
    /// never polled again).
    pub(crate) struct Rescuing<F> {
        #[pin]
        inner: future::CatchUnwind<AssertUnwindSafe<F>>,
        origin: Origin,
    }
}

impl<F, B, E> Future for Rescuing<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<RescuedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(match std::task::ready!(this.inner.poll(cx)) {
            Ok(Ok(response)) => {
                let mut response = response.map(Either::Left);
                this.origin.fit_headers(response.headers_mut());
                Ok(response)
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Ok(panic_response()),
        })
    }
}

/// What a client gets when the handler panicked: no internals, only that it failed.
pub(crate) fn panic_response<B>() -> http::Response<RescuedBody<B>> {
    Problem::new(
        http::StatusCode::INTERNAL_SERVER_ERROR,
        "the request failed inside the function; the failure is logged under this request's id",
    )
    .into_full_response()
    .map(Either::Right)
}
