//! The boxed response future that services with an `async` body share.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

/// A response future boxed once per call, for services whose work is an `async` block:
/// the idempotency services' (plain and `Idempotency-Key`) and
/// [`HttpService`](crate::http::HttpService)'s. Each module names it `ResponseFuture`
/// with its own output type.
pub struct BoxResponseFuture<T> {
    inner: Pin<Box<dyn Future<Output = T> + Send>>,
}

impl<T> BoxResponseFuture<T> {
    pub(crate) fn new(inner: Pin<Box<dyn Future<Output = T> + Send>>) -> Self {
        Self { inner }
    }
}

impl<T> Future for BoxResponseFuture<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.inner.as_mut().poll(cx)
    }
}

impl<T> fmt::Debug for BoxResponseFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
