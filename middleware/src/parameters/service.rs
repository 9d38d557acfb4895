//! [`ParametersService`]: keeps the cache warm and recovers or refuses invocations whose
//! parameters went stale.

use lambda_runtime::{Diagnostic, LambdaEvent};
use tower::Service;

use crate::{
    cache::service::{CacheService, CheckedCache},
    parameters::{
        future::ResponseFuture,
        handle::{Parameters, describe},
    },
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
///
/// Built by [`ParametersLayer`](crate::parameters::ParametersLayer), or by
/// `ParametersService::new(inner, parameters)`; `get_ref` is the wrapped service.
pub type ParametersService<S> = CacheService<S, Parameters>;

impl<S> ParametersService<S> {
    /// The parameters handle.
    pub fn parameters(&self) -> &Parameters {
        self.handle()
    }
}

impl CheckedCache for Parameters {
    fn check_then_call<S, T>(&self, inner: &mut S, event: LambdaEvent<T>) -> ResponseFuture<S, T>
    where
        S: Service<LambdaEvent<T>> + Clone,
        S::Error: Into<Diagnostic>,
    {
        let describe = |fault| describe(fault).into();
        crate::cache::service::call(inner, self.cache(), describe, event)
    }
}
