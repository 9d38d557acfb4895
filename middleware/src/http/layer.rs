//! The tower layer that turns an `http::Request` service into a Lambda handler.

use tower::Layer;

use super::HttpService;

/// Serves API Gateway (REST and HTTP API), Function URL and ALB events through the
/// `tower::Service<http::Request<lambda_http::Body>>` it wraps, such as an axum `Router`.
///
/// The layered service is a registry handler over
/// [`LambdaEvent<LambdaRequest>`](lambda_http::request::LambdaRequest): see the
/// [module documentation](super) for what it adds. It holds no state.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpLayer {
    _private: (),
}

impl HttpLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for HttpLayer {
    type Service = HttpService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpService::new(inner)
    }
}
