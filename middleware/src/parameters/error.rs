//! What can go wrong with parameters, at init and per invocation. No message carries the value
//! of a secure parameter.

use std::time::Duration;

pub use crate::cache::{FetchError, FetchErrorKind};

/// Errors of the parameters middleware.
///
/// Each variant has a stable [`error_type`](Self::error_type), `Parameters.<variant>`
/// (`Parameters.NotFound`, …) but for the two variable errors, which are the runtime's own; it is
/// reported as `errorType` both at init (through [`InitError`](tern_runtime::InitError)) and per
/// invocation (through [`Diagnostic`](lambda_runtime::Diagnostic)). Messages name the parameter,
/// its environment variable and id, and say what to fix; they never contain the value of a secure
/// parameter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParametersError {
    /// The variable that names a required parameter is unset or blank
    /// (`Runtime.MissingEnvironmentVariable`, like every missing variable).
    #[error("environment variable `{env_var}` is not set; it must hold {purpose}")]
    MissingEnv {
        /// The variable.
        env_var: String,
        /// What it must hold.
        purpose: String,
    },
    /// A variable cannot be used (`Runtime.InvalidEnvironmentVariable`, like every invalid
    /// variable).
    #[error("environment variable `{env_var}` is invalid: {reason}")]
    InvalidEnv {
        /// The variable.
        env_var: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// The configured SSM back-end is not compiled in (`Parameters.BackendNotBuiltIn`).
    #[error(
        "the {backend} back-end of parameters is not built in: enable tern-middleware's \
         `{feature}` feature, or set TERN_PARAMETERS_BACKEND=extension to use the Parameters \
         and Secrets Lambda Extension"
    )]
    BackendNotBuiltIn {
        /// The back-end.
        backend: &'static str,
        /// The cargo feature that builds it in.
        feature: &'static str,
    },
    /// The declaration asks for something the configured back-end cannot do
    /// (`Parameters.Unsupported`).
    #[error("parameter `{parameter}` cannot be read: {reason}")]
    Unsupported {
        /// The logical name.
        parameter: String,
        /// What and why, and what to change.
        reason: String,
    },
    /// The parameter, path or AppConfig configuration does not exist.
    #[error(
        "parameter `{id}` (from `{env_var}`, declared as `{parameter}`) was not found \
         ({source}); {hint}"
    )]
    NotFound {
        /// The logical name.
        parameter: String,
        /// The variable that holds the id.
        env_var: String,
        /// The name, path or `application/environment/profile` that was asked for.
        id: String,
        /// The back-end's error.
        source: FetchError,
        /// What to check.
        hint: &'static str,
    },
    /// The function's role may not read it.
    #[error(
        "access to parameter `{id}` (from `{env_var}`, declared as `{parameter}`) was denied \
         ({source}); {hint}"
    )]
    AccessDenied {
        /// The logical name.
        parameter: String,
        /// The variable that holds the id.
        env_var: String,
        /// The name, path or `application/environment/profile` that was asked for.
        id: String,
        /// The back-end's error.
        source: FetchError,
        /// Which permissions the role needs.
        hint: &'static str,
    },
    /// The back-end did not answer in time or could not be connected to.
    #[error(
        "could not reach the back-end of parameter `{id}` (from `{env_var}`, declared as \
         `{parameter}`): {source}; {hint}"
    )]
    Unreachable {
        /// The logical name.
        parameter: String,
        /// The variable that holds the id.
        env_var: String,
        /// The name, path or `application/environment/profile` that was asked for.
        id: String,
        /// What happened (`DispatchFailure`, `Timeout`, an HTTP status from an extension).
        source: FetchError,
        /// What to check.
        hint: &'static str,
    },
    /// The value arrived but does not transform as declared (`Parameters.InvalidValue`): not
    /// JSON for the declared type, not base64, not text. The message says what is wrong, and
    /// quotes the value only when it is not secure.
    #[error(
        "parameter `{id}` (from `{env_var}`, declared as `{parameter}`) has a value that cannot \
         be used: {}; fix the value (a value that was good before is still served)",
        .source.detail()
    )]
    InvalidValue {
        /// The logical name.
        parameter: String,
        /// The variable that holds the id.
        env_var: String,
        /// The name, path or `application/environment/profile` that was asked for.
        id: String,
        /// What is wrong (code `InvalidValue`).
        source: FetchError,
    },
    /// Any other error the back-end reported.
    #[error(
        "fetching parameter `{id}` (from `{env_var}`, declared as `{parameter}`) failed: {source}"
    )]
    FetchFailed {
        /// The logical name.
        parameter: String,
        /// The variable that holds the id.
        env_var: String,
        /// The name, path or `application/environment/profile` that was asked for.
        id: String,
        /// The back-end's error.
        source: FetchError,
    },
    /// The cached value is past its TTL and grace period and refreshing it keeps failing.
    #[error(
        "parameter `{parameter}` (`{id}`) is stale: its value is {}s old, past its TTL and \
         grace period, and the last refresh failed ({source}); it is served again once a \
         refresh succeeds",
        .age.as_secs()
    )]
    Stale {
        /// The logical name.
        parameter: String,
        /// The name, path or `application/environment/profile`.
        id: String,
        /// The age of the cached value.
        age: Duration,
        /// The last refresh error.
        source: FetchError,
    },
    /// An optional parameter has no value.
    #[error("optional parameter `{parameter}` is not available: {reason}")]
    Unavailable {
        /// The logical name.
        parameter: String,
        /// Why (variable unset, fetch failed).
        reason: String,
    },
    /// The handler asked for a name that was never declared.
    #[error(
        "no parameter named `{parameter}` is declared (declared: {declared}); add it to the \
         ParametersConfig"
    )]
    Undeclared {
        /// The name asked for.
        parameter: String,
        /// The declared names, comma separated.
        declared: String,
    },
    /// The value was read as something it is not (text of a binary parameter, another type
    /// than the one declared).
    #[error("parameter `{parameter}` holds {holds}, not {}", wrong_kind_asked(.asked))]
    WrongKind {
        /// The logical name.
        parameter: String,
        /// What it holds: `text`, `binary data`, a type, a path.
        holds: String,
        /// What was asked for.
        asked: String,
    },
}

fn wrong_kind_asked(asked: &str) -> String {
    match asked {
        "text" | "bytes" => asked.to_owned(),
        type_name => format!("`{type_name}`"),
    }
}

impl ParametersError {
    crate::error_types! {
        "Parameters":
        MissingEnv => "Runtime.MissingEnvironmentVariable",
        InvalidEnv => "Runtime.InvalidEnvironmentVariable",
        BackendNotBuiltIn, Unsupported, NotFound, AccessDenied, Unreachable, InvalidValue,
        FetchFailed, Stale, Unavailable, Undeclared, WrongKind,
    }
}

crate::cache::facility_error_conversions!(
    ParametersError,
    fetched: NotFound | AccessDenied | Unreachable | InvalidValue | FetchFailed | Stale
);
