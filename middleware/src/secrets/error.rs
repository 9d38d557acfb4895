//! What can go wrong with secrets, at init and per invocation. No message carries a value.

use std::{fmt, time::Duration};

use crate::cache::Fault;
pub use crate::cache::{FetchError, FetchErrorKind};

/// Why a [`JsonField`](SecretsError::JsonField) read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonFieldProblem {
    /// The secret is binary, or its string is not a JSON object.
    NotJsonObject,
    /// The object has no such key.
    Missing,
    /// The field exists but is not a string (read it with `expose_json`).
    NotString,
}

impl fmt::Display for JsonFieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotJsonObject => "its value is not a JSON object",
            Self::Missing => "the JSON object has no such key",
            Self::NotString => "the field is not a string; read it with `expose_json`",
        })
    }
}

/// Errors of the secrets middleware.
///
/// Each variant has a stable [`error_type`](Self::error_type), `Secrets.<variant>`
/// (`Secrets.NotFound`, …) but for the two variable errors, which are the runtime's own; it is
/// reported as `errorType` both at init (through [`InitError`](tern_runtime::InitError)) and per
/// invocation (through [`Diagnostic`](lambda_runtime::Diagnostic)). Messages name the secret, its
/// environment variable and id, and say what to fix; they never contain a secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// The variable that names a required secret is unset or blank
    /// (`Runtime.MissingEnvironmentVariable`, like every missing variable).
    #[error("environment variable `{env_var}` is not set; it must hold {purpose}")]
    MissingEnv {
        /// The variable.
        env_var: String,
        /// What it must hold.
        purpose: String,
    },
    /// The configured back-end is not compiled in (`Secrets.BackendNotBuiltIn`).
    #[error(
        "the {backend} back-end of secrets is not built in: enable tern-middleware's `{feature}` \
         feature, or set TERN_SECRETS_BACKEND=extension to use the Parameters and Secrets Lambda \
         Extension"
    )]
    BackendNotBuiltIn {
        /// The back-end.
        backend: &'static str,
        /// The cargo feature that builds it in.
        feature: &'static str,
    },
    /// A variable the backend needs cannot be used (`Runtime.InvalidEnvironmentVariable`, like
    /// every invalid variable).
    #[error("environment variable `{env_var}` is invalid: {reason}")]
    InvalidEnv {
        /// The variable.
        env_var: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// The secret (or its current version) does not exist.
    #[error(
        "secret `{secret_id}` (from `{env_var}`, declared as `{secret}`) was not found ({source}); \
         check that `{env_var}` holds the ARN or name of an existing secret in the function's region"
    )]
    NotFound {
        /// The logical name.
        secret: String,
        /// The variable that holds the id.
        env_var: String,
        /// The ARN or name that was asked for.
        secret_id: String,
        /// The backend's error.
        source: FetchError,
    },
    /// The function's role may not read the secret.
    #[error(
        "access to secret `{secret_id}` (from `{env_var}`, declared as `{secret}`) was denied \
         ({source}); allow `secretsmanager:GetSecretValue` on it (and `kms:Decrypt` on its key if \
         it is customer managed) in the function's execution role"
    )]
    AccessDenied {
        /// The logical name.
        secret: String,
        /// The variable that holds the id.
        env_var: String,
        /// The ARN or name that was asked for.
        secret_id: String,
        /// The backend's error.
        source: FetchError,
    },
    /// The backend did not answer in time or could not be connected to.
    #[error(
        "could not reach the secrets backend for secret `{secret_id}` (from `{env_var}`, declared \
         as `{secret}`): {source}; check the function's network path to Secrets Manager (VPC \
         endpoint or NAT gateway), or that the Parameters and Secrets extension layer is attached \
         when TERN_SECRETS_BACKEND=extension"
    )]
    Unreachable {
        /// The logical name.
        secret: String,
        /// The variable that holds the id.
        env_var: String,
        /// The ARN or name that was asked for.
        secret_id: String,
        /// What happened (`DispatchFailure`, `Timeout`).
        source: FetchError,
    },
    /// Any other error the backend reported.
    #[error(
        "fetching secret `{secret_id}` (from `{env_var}`, declared as `{secret}`) failed: {source}"
    )]
    FetchFailed {
        /// The logical name.
        secret: String,
        /// The variable that holds the id.
        env_var: String,
        /// The ARN or name that was asked for.
        secret_id: String,
        /// The backend's error.
        source: FetchError,
    },
    /// The cached value is past its TTL and grace period and refreshing it keeps failing.
    #[error(
        "secret `{secret}` (`{secret_id}`) is stale: its value is {}s old, past its TTL and grace \
         period, and the last refresh failed ({source}); it is served again once a refresh succeeds",
        .age.as_secs()
    )]
    Stale {
        /// The logical name.
        secret: String,
        /// The ARN or name.
        secret_id: String,
        /// The age of the cached value.
        age: Duration,
        /// The last refresh error.
        source: FetchError,
    },
    /// An optional secret has no value.
    #[error("optional secret `{secret}` is not available: {reason}")]
    Unavailable {
        /// The logical name.
        secret: String,
        /// Why (variable unset, fetch failed).
        reason: String,
    },
    /// The handler asked for a name that was never declared.
    #[error(
        "no secret named `{secret}` is declared (declared: {declared}); add it to the SecretsConfig"
    )]
    Undeclared {
        /// The name asked for.
        secret: String,
        /// The declared names, comma separated.
        declared: String,
    },
    /// Text was asked of a binary secret.
    #[error("secret `{secret}` holds binary data, not text; read it with `expose_bytes`")]
    NotText {
        /// The logical name.
        secret: String,
    },
    /// A JSON field could not be read.
    #[error("secret `{secret}` has no JSON string field `{field}`: {problem}")]
    JsonField {
        /// The logical name.
        secret: String,
        /// The field asked for.
        field: String,
        /// What is wrong.
        problem: JsonFieldProblem,
    },
}

impl SecretsError {
    /// A failed fetch of a declared secret, as the variant matching its kind.
    pub(crate) fn fetch(secret: &str, env_var: &str, secret_id: &str, source: FetchError) -> Self {
        let (secret, env_var, secret_id) =
            (secret.to_owned(), env_var.to_owned(), secret_id.to_owned());
        match source.kind() {
            FetchErrorKind::NotFound => Self::NotFound {
                secret,
                env_var,
                secret_id,
                source,
            },
            FetchErrorKind::AccessDenied => Self::AccessDenied {
                secret,
                env_var,
                secret_id,
                source,
            },
            FetchErrorKind::Unreachable => Self::Unreachable {
                secret,
                env_var,
                secret_id,
                source,
            },
            FetchErrorKind::Invalid | FetchErrorKind::Other => Self::FetchFailed {
                secret,
                env_var,
                secret_id,
                source,
            },
        }
    }

    /// What the cache engine reported, in the words of secrets.
    pub(crate) fn from_fault(fault: Fault<String>) -> Self {
        match fault {
            Fault::MissingEnv { env_var, purpose } => Self::MissingEnv { env_var, purpose },
            Fault::InvalidEnv { env_var, reason } => Self::InvalidEnv { env_var, reason },
            Fault::Fetch {
                name,
                env_var,
                key,
                source,
            } => Self::fetch(&name, &env_var, &key, source),
            Fault::Stale {
                name,
                key,
                age,
                source,
            } => Self::Stale {
                secret: name.to_string(),
                secret_id: key,
                age,
                source,
            },
            Fault::Unavailable { name, reason } => Self::Unavailable {
                secret: name.to_string(),
                reason,
            },
            Fault::Undeclared { name, declared } => Self::Undeclared {
                secret: name,
                declared,
            },
        }
    }

    crate::error_types! {
        "Secrets":
        MissingEnv => "Runtime.MissingEnvironmentVariable",
        InvalidEnv => "Runtime.InvalidEnvironmentVariable",
        BackendNotBuiltIn, NotFound, AccessDenied, Unreachable, FetchFailed, Stale, Unavailable,
        Undeclared, NotText, JsonField,
    }
}

crate::cache::facility_error_conversions!(
    SecretsError,
    fetched: NotFound | AccessDenied | Unreachable | FetchFailed | Stale
);

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Diagnostic;
    use std::error::Error as _;
    use tern_runtime::InitError;

    #[test]
    fn fetch_errors_map_to_variants_and_stable_types() {
        let cases = [
            (
                FetchError::from_code("ResourceNotFoundException", "gone"),
                "Secrets.NotFound",
            ),
            (
                FetchError::from_code("AccessDeniedException", "no"),
                "Secrets.AccessDenied",
            ),
            (
                FetchError::new(FetchErrorKind::Unreachable, "DispatchFailure", "refused"),
                "Secrets.Unreachable",
            ),
            (
                FetchError::from_code("DecryptionFailure", "kms"),
                "Secrets.FetchFailed",
            ),
        ];
        for (source, error_type) in cases {
            let error = SecretsError::fetch("db", "DB_SECRET_ARN", "prod/db", source.clone());
            assert_eq!(error.error_type(), error_type);
            assert_eq!(
                error.fetch_error().map(FetchError::code),
                Some(source.code())
            );
            let init = InitError::from(SecretsError::fetch(
                "db",
                "DB_SECRET_ARN",
                "prod/db",
                source,
            ));
            assert_eq!(init.error_type(), error_type);
            assert_eq!(init.to_string(), error.to_string());
            assert_eq!(
                init.source().map(ToString::to_string),
                error.fetch_error().map(ToString::to_string)
            );
        }
    }

    #[test]
    fn messages_name_the_secret_and_the_fix() {
        let not_found = SecretsError::fetch(
            "db",
            "DB_SECRET_ARN",
            "prod/db",
            FetchError::from_code(
                "ResourceNotFoundException",
                "Secrets Manager can't find the specified secret.",
            ),
        );
        assert_eq!(
            not_found.to_string(),
            "secret `prod/db` (from `DB_SECRET_ARN`, declared as `db`) was not found \
             (ResourceNotFoundException: Secrets Manager can't find the specified secret.); check \
             that `DB_SECRET_ARN` holds the ARN or name of an existing secret in the function's region"
        );
        let stale = SecretsError::Stale {
            secret: "db".into(),
            secret_id: "prod/db".into(),
            age: Duration::from_millis(611_900),
            source: FetchError::new(
                FetchErrorKind::Unreachable,
                "Timeout",
                "no answer within 5s",
            ),
        };
        assert_eq!(
            stale.to_string(),
            "secret `db` (`prod/db`) is stale: its value is 611s old, past its TTL and grace period, \
             and the last refresh failed (Timeout: no answer within 5s); it is served again once a \
             refresh succeeds"
        );
        let diagnostic = Diagnostic::from(stale);
        assert_eq!(diagnostic.error_type, "Secrets.Stale");
        assert!(
            diagnostic
                .error_message
                .starts_with("secret `db` (`prod/db`) is stale")
        );

        let field = SecretsError::JsonField {
            secret: "db".into(),
            field: "port".into(),
            problem: JsonFieldProblem::NotString,
        };
        assert_eq!(
            field.to_string(),
            "secret `db` has no JSON string field `port`: the field is not a string; read it with `expose_json`"
        );
        let init = InitError::from(SecretsError::MissingEnv {
            env_var: "DB_SECRET_ARN".into(),
            purpose: "the ARN or name of the `db` secret".into(),
        });
        assert_eq!(init.error_type(), "Runtime.MissingEnvironmentVariable");
        assert_eq!(
            init.to_string(),
            "environment variable `DB_SECRET_ARN` is not set; it must hold the ARN or name of the `db` secret"
        );
        assert!(init.source().is_none());
    }
}
