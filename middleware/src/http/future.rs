//! The response future of [`HttpService`](super::HttpService), and the wrapper that turns a
//! panic of the inner service into a `500` problem response.

use std::{
    any::Any,
    panic::AssertUnwindSafe,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
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
    type Future = RescueFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Only ever called by `HttpService::call`, on an instance already polled ready.
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let origin = self.origin;
        // The panic hook has logged it; the payload is dropped once the response is ready.
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(inner) => RescueFuture::Running { inner, origin },
            Err(panic) => RescueFuture::Panicked { panic: Some(panic) },
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Rescue`].
    #[project = RescueProj]
    pub(crate) enum RescueFuture<F> {
        Running { #[pin] inner: F, origin: Origin },
        Panicked { panic: Option<Box<dyn Any + Send>> },
    }
}

impl<F, B, E> Future for RescueFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<RescuedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            RescueProj::Running { inner, origin } => {
                match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
                    Ok(Poll::Pending) => Poll::Pending,
                    Ok(Poll::Ready(Ok(response))) => {
                        let mut response = response.map(Either::Left);
                        origin.fit_headers(response.headers_mut());
                        Poll::Ready(Ok(response))
                    }
                    Ok(Poll::Ready(Err(error))) => Poll::Ready(Err(error)),
                    // Ready now, so the panicked future is never polled again.
                    Err(_) => Poll::Ready(Ok(panic_response())),
                }
            }
            RescueProj::Panicked { panic } => {
                drop(panic.take());
                Poll::Ready(Ok(panic_response()))
            }
        }
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
