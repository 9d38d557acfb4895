//! The service that answers HTTP events through an `http::Request` service.

use std::{
    convert::Infallible,
    task::{Context, Poll},
};

use bytes::Bytes;
use lambda_http::{Adapter, Request, request::LambdaRequest};
use lambda_runtime::LambdaEvent;
use tower::Service;

use super::{
    BoxError,
    future::{Rescue, RescuedBody, ResponseFuture},
    origin::Origin,
};

/// The response of an [`HttpService`]: lambda_http's response in the shape of the event kind
/// (API Gateway REST, HTTP API, ALB), which lambda_http does not export by name.
pub type LambdaResponse = <Adapter<
    'static,
    http::Response<lambda_http::Body>,
    tower::util::ServiceFn<
        fn(Request) -> std::future::Ready<Result<http::Response<lambda_http::Body>, Infallible>>,
    >,
> as Service<LambdaEvent<LambdaRequest>>>::Response;

/// lambda_http's adapter around the panic-catching wrapper of `S`.
type Adapted<S, B> = Adapter<'static, http::Response<RescuedBody<B>>, Rescue<S>>;

/// A Lambda handler over HTTP events, built by [`HttpLayer`](super::HttpLayer) around an
/// `http::Request` service `S`.
///
/// `poll_ready` is the inner service's. Each call converts the event with lambda_http (which
/// also puts the Lambda [`Context`](lambda_runtime::Context) and the API Gateway / ALB
/// request context in the request's extensions), calls the instance that was polled ready,
/// and answers in the shape of the event kind. The response future of `S` is boxed once by
/// lambda_http's adapter.
#[derive(Debug, Clone)]
pub struct HttpService<S> {
    inner: S,
}

impl<S> HttpService<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, B> Service<LambdaEvent<LambdaRequest>> for HttpService<S>
where
    S: Service<Request, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: http_body::Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = LambdaResponse;
    type Error = S::Error;
    type Future = ResponseFuture<Self::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<LambdaRequest>) -> Self::Future {
        let origin = Origin::of(&event.payload);
        // Call the instance that was polled ready; leave a clone for the next call.
        let fresh = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, fresh);
        let mut adapter: Adapted<S, B> = Adapter::from(Rescue::new(ready, origin));
        ResponseFuture::new(Box::pin(adapter.call(event)))
    }
}
