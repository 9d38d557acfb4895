//! [`ParametersService`]: keeps the cache warm and recovers or refuses invocations whose
//! parameters went stale.

use crate::{
    cache::service::{CacheService, checked_cache},
    parameters::handle::{Parameters, describe},
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
///
/// [`Diagnostic`]: lambda_runtime::Diagnostic
pub type ParametersService<S> = CacheService<S, Parameters>;

impl<S> ParametersService<S> {
    /// The parameters handle.
    pub fn parameters(&self) -> &Parameters {
        self.handle()
    }
}

checked_cache!(Parameters, |fault| describe(fault).into());
