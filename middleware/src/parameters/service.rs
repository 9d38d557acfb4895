//! [`ParametersService`]: keeps the cache warm and recovers or refuses invocations whose
//! parameters went stale.

use std::task::{Context, Poll};

use lambda_runtime::{Diagnostic, LambdaEvent};
use tower::Service;

use crate::parameters::{
    future::ResponseFuture,
    handle::{Parameters, describe},
};

/// Runs [`Parameters::check`] before each invocation, then calls the inner service.
///
/// The check starts any refresh that is due in the background — even for parameters this
/// invocation does not read. A value past its TTL and grace period after failed refreshes
/// ([`Stale`](crate::parameters::ParametersError::Stale)) gets one fetch before the handler
/// runs, shared with concurrent invocations and ending 100 ms before this invocation's
/// deadline. If a required parameter is still stale, the invocation fails with a
/// [`Diagnostic`] of type `Parameters.Stale` without calling the inner service. Failed
/// background refreshes are reported as the `ParameterRefreshFailed` metric of the next
/// invocation. Inner errors are converted into [`Diagnostic`] as the runtime would. Readiness
/// is the inner service's.
#[derive(Clone, Debug)]
pub struct ParametersService<S> {
    inner: S,
    parameters: Parameters,
}

impl<S> ParametersService<S> {
    /// Wraps `inner`; usually built by [`ParametersLayer`](crate::parameters::ParametersLayer).
    pub fn new(inner: S, parameters: Parameters) -> Self {
        Self { inner, parameters }
    }

    /// The parameters handle.
    pub fn parameters(&self) -> &Parameters {
        &self.parameters
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, T> Service<LambdaEvent<T>> for ParametersService<S>
where
    S: Service<LambdaEvent<T>> + Clone,
    S::Error: Into<Diagnostic>,
{
    type Response = S::Response;
    type Error = Diagnostic;
    type Future = ResponseFuture<S, T>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        let cache = self.parameters.cache();
        let describe = |fault| describe(fault).into();
        crate::cache::service::call(&mut self.inner, cache, describe, event)
    }
}
