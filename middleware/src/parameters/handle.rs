//! The handle handlers read parameters through.

use std::{fmt, sync::Arc};

use crate::{
    cache::{Cache, Fault, Noun, Slot, Source as _},
    parameters::{
        config::{Declaration, ParametersConfig, Store},
        error::ParametersError,
        provider::{ParameterKey, Provider, appconfig},
        value::ParameterValue,
    },
};

/// Access to the declared parameters: cheap to clone, `Send + Sync`, shared by every clone of
/// the service and every concurrent invocation.
///
/// Reads are synchronous and never wait on a back-end: they return the cached value and, when
/// it is due, start one background refresh (of every parameter fetched in the same
/// `GetParameters` call that is due too). Get one from
/// [`ParametersLayer::parameters`](crate::parameters::ParametersLayer::parameters).
#[derive(Clone)]
pub struct Parameters {
    cache: Arc<Cache<Provider>>,
}

impl Parameters {
    /// Resolves the declared variables and fetches every parameter concurrently. Fails on the
    /// first required parameter whose variable is unset or unusable (before any fetch), or
    /// whose fetch or transform fails.
    pub(crate) async fn load(
        config: &ParametersConfig,
        provider: Provider,
    ) -> Result<Self, ParametersError> {
        let slots = slots(config)?;
        let cache = Cache::load(Noun::Parameter, provider, slots)
            .await
            .map_err(describe)?;
        Ok(Self { cache })
    }

    /// The cache, unfetched (tests drive fetches themselves).
    #[cfg(test)]
    pub(crate) fn unfetched(config: &ParametersConfig, provider: Provider) -> Self {
        Self {
            cache: Cache::new(Noun::Parameter, provider, slots(config).unwrap()),
        }
    }

    pub(crate) fn cache(&self) -> &Arc<Cache<Provider>> {
        &self.cache
    }

    /// The current value of the parameter declared as `name`.
    ///
    /// Errors: [`Undeclared`](ParametersError::Undeclared) for an unknown name,
    /// [`Unavailable`](ParametersError::Unavailable) for an optional parameter without a value,
    /// [`Stale`](ParametersError::Stale) once the value is past its TTL and grace period and
    /// refreshing it fails.
    pub fn get(&self, name: &str) -> Result<ParameterValue, ParametersError> {
        self.cache.get(name).map_err(describe)
    }

    /// Like [`get`](Self::get), with `None` for an optional parameter that has no value (its
    /// variable is unset, or it could not be fetched yet).
    pub fn get_optional(&self, name: &str) -> Result<Option<ParameterValue>, ParametersError> {
        self.cache.get_optional(name).map_err(describe)
    }

    /// Fetches the parameter now, waits for the answer and caches it; on failure (or a value
    /// that does not transform) the cached value stays and the error is returned. For rare
    /// events — not for every invocation.
    pub async fn force_refresh(&self, name: &str) -> Result<ParameterValue, ParametersError> {
        self.cache.force_refresh(name).await.map_err(describe)
    }

    /// Checks every declared parameter once, as
    /// [`ParametersService`](crate::parameters::ParametersService) does before each invocation:
    /// starts the refreshes that are due and fails with the first required parameter that is
    /// [`Stale`](ParametersError::Stale). Allocation-free when all is well.
    pub fn check(&self) -> Result<(), ParametersError> {
        self.cache.check_for_stale().map(|_| ()).map_err(describe)
    }

    /// The declared names, in declaration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.cache.entries().iter().map(|entry| &*entry.name)
    }
}

impl fmt::Debug for Parameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parameters")
            .field("names", &self.names().collect::<Vec<_>>())
            .field("backend", &self.cache.source().label())
            .finish_non_exhaustive()
    }
}

/// The declarations with their variables read: an unset required variable, an AppConfig
/// profile that is not `application/environment/profile` or a path that does not start with
/// `/` is an error.
fn slots(config: &ParametersConfig) -> Result<Vec<Slot<ParameterKey>>, ParametersError> {
    config
        .parameters
        .iter()
        .map(|declaration| {
            let parameter = &declaration.parameter;
            let key = match config.var(&parameter.env_var) {
                Some(id) => Some(key(declaration, id)?),
                None if declaration.required => {
                    return Err(ParametersError::MissingEnv {
                        env_var: parameter.env_var.clone(),
                        purpose: purpose(declaration),
                    });
                }
                None => None,
            };
            let ttl = match parameter.store {
                Store::AppConfig => parameter.ttl.or(Some(config.appconfig_poll_interval())),
                _ => parameter.ttl,
            };
            Ok(Slot {
                name: parameter.name.clone(),
                env_var: parameter.env_var.clone(),
                key,
                required: declaration.required,
                policy: config.settings.policy(ttl, parameter.grace),
            })
        })
        .collect()
}

fn key(declaration: &Declaration, id: String) -> Result<ParameterKey, ParametersError> {
    let parameter = &declaration.parameter;
    let invalid = |reason: String| ParametersError::InvalidEnv {
        env_var: parameter.env_var.clone(),
        reason,
    };
    let agent_path = match parameter.store {
        Store::AppConfig => Some(appconfig::request_path(&id).ok_or_else(|| {
            invalid(format!(
                "`{id}` is not `application/environment/profile`; use the AppConfig application, \
                 environment and configuration profile (names or ids) separated by `/`"
            ))
        })?),
        Store::SsmPath { .. } if !id.starts_with('/') => {
            return Err(invalid(format!(
                "`{id}` is not an SSM path; a path starts with `/`, e.g. `/shop/limits`"
            )));
        }
        _ => None,
    };
    Ok(ParameterKey {
        id,
        store: parameter.store,
        transform: parameter.transform.clone(),
        redacted: parameter.redacted,
        agent_path,
    })
}

fn purpose(declaration: &Declaration) -> String {
    let name = &declaration.parameter.name;
    match declaration.parameter.store {
        Store::Ssm => format!("the name or ARN of the SSM parameter the handler reads as `{name}`"),
        Store::SsmPath { .. } => {
            format!("the SSM path of the parameters the handler reads as `{name}`")
        }
        Store::AppConfig => format!(
            "the `application/environment/profile` of the AppConfig configuration the handler \
             reads as `{name}`"
        ),
    }
}

/// What the cache engine reported, in the words of parameters.
pub(crate) fn describe(fault: Fault<ParameterKey>) -> ParametersError {
    match fault {
        Fault::MissingEnv { env_var, purpose } => ParametersError::MissingEnv { env_var, purpose },
        Fault::InvalidEnv { env_var, reason } => ParametersError::InvalidEnv { env_var, reason },
        Fault::Fetch {
            name,
            env_var,
            key,
            source,
        } => {
            let (parameter, id) = (name.to_string(), key.id);
            let hints = Hints::of(key.store);
            match source.kind() {
                crate::cache::FetchErrorKind::NotFound => ParametersError::NotFound {
                    parameter,
                    env_var,
                    id,
                    source,
                    hint: hints.not_found,
                },
                crate::cache::FetchErrorKind::AccessDenied => ParametersError::AccessDenied {
                    parameter,
                    env_var,
                    id,
                    source,
                    hint: hints.access,
                },
                crate::cache::FetchErrorKind::Unreachable => ParametersError::Unreachable {
                    parameter,
                    env_var,
                    id,
                    source,
                    hint: hints.unreachable,
                },
                crate::cache::FetchErrorKind::Invalid => ParametersError::InvalidValue {
                    parameter,
                    env_var,
                    id,
                    source,
                },
                _ => ParametersError::FetchFailed {
                    parameter,
                    env_var,
                    id,
                    source,
                },
            }
        }
        Fault::Stale {
            name,
            key,
            age,
            source,
        } => ParametersError::Stale {
            parameter: name.to_string(),
            id: key.id,
            age,
            source,
        },
        Fault::Unavailable { name, reason } => ParametersError::Unavailable {
            parameter: name.to_string(),
            reason,
        },
        Fault::Undeclared { name, declared } => ParametersError::Undeclared {
            parameter: name,
            declared,
        },
    }
}

/// What to check when a fetch from a store fails.
struct Hints {
    not_found: &'static str,
    access: &'static str,
    unreachable: &'static str,
}

impl Hints {
    fn of(store: Store) -> Self {
        const SSM_UNREACHABLE: &str = "check the function's network path to SSM (VPC endpoint or \
             NAT gateway), or that the Parameters and Secrets extension layer is attached when \
             TERN_PARAMETERS_BACKEND=extension";
        match store {
            Store::Ssm => Self {
                not_found: "check that the variable holds the name or ARN of an existing SSM \
                     parameter (and version or label) in the function's region",
                access: "allow `ssm:GetParameter` on it in the function's execution role \
                     (`ssm:GetParameters` too when it is read together with other parameters, \
                     and `kms:Decrypt` on the key of a SecureString under a customer managed key)",
                unreachable: SSM_UNREACHABLE,
            },
            Store::SsmPath { .. } => Self {
                not_found: "check that the variable holds a path with parameters under it in \
                     the function's region",
                access: "allow `ssm:GetParametersByPath` on the path in the function's execution \
                     role (and `kms:Decrypt` on the key of SecureStrings under a customer managed \
                     key)",
                unreachable: SSM_UNREACHABLE,
            },
            Store::AppConfig => Self {
                not_found: "check that the variable holds the `application/environment/profile` \
                     of a configuration deployed to that environment",
                access: "allow `appconfig:StartConfigurationSession` and \
                     `appconfig:GetLatestConfiguration` on the configuration profile in the \
                     function's execution role (the AppConfig agent calls AppConfig with it)",
                unreachable: "check that the AWS AppConfig Agent Lambda extension layer is \
                     attached and listens on AWS_APPCONFIG_EXTENSION_HTTP_PORT (2772 by default)",
            },
        }
    }
}
