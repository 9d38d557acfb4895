//! Backends that fetch a secret's current value: Secrets Manager through the AWS SDK, or the
//! AWS Parameters and Secrets Lambda Extension on localhost.

mod extension;
mod sdk;

use std::{borrow::Cow, fmt, sync::Arc};

use crate::secrets::value::SecretValue;

pub(crate) use extension::Extension;

/// Where values come from. An enum rather than a trait object: two backends, no boxing of
/// the fetch future.
pub(crate) enum Provider {
    SecretsManager(aws_sdk_secretsmanager::Client),
    Extension(Box<Extension>),
    #[cfg(test)]
    Scripted(Arc<crate::secrets::scripted::Script>),
}

impl Provider {
    /// A short name for logs and `Debug`.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::SecretsManager(_) => "secrets-manager",
            Self::Extension(_) => "parameters-and-secrets-extension",
            #[cfg(test)]
            Self::Scripted(_) => "scripted",
        }
    }

    /// Fetches the current value of `secret_id`, declared as `secret`.
    pub(crate) async fn fetch(
        &self,
        secret: &Arc<str>,
        secret_id: &str,
    ) -> Result<SecretValue, FetchError> {
        match self {
            Self::SecretsManager(client) => sdk::fetch(client, secret, secret_id).await,
            Self::Extension(extension) => extension.fetch(secret, secret_id).await,
            #[cfg(test)]
            Self::Scripted(script) => script.fetch(secret).await,
        }
    }
}

/// How a fetch failed, in terms a user can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchErrorKind {
    /// No such secret, or no current version (`ResourceNotFoundException`).
    NotFound,
    /// The function's role may not read it (`AccessDeniedException`).
    AccessDenied,
    /// The backend did not answer: connection failure or timeout.
    Unreachable,
    /// Anything else the backend reported.
    Other,
}

/// Why one fetch of a secret failed: the backend's error code and message. Cheap to clone.
#[derive(Clone, thiserror::Error)]
#[error("{}: {}", .0.code, .0.detail)]
pub struct FetchError(Arc<FetchErrorInner>);

#[derive(Debug)]
struct FetchErrorInner {
    kind: FetchErrorKind,
    code: Cow<'static, str>,
    detail: String,
}

impl fmt::Debug for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchError")
            .field("kind", &self.0.kind)
            .field("code", &self.0.code)
            .field("detail", &self.0.detail)
            .finish()
    }
}

impl FetchError {
    pub(crate) fn new(
        kind: FetchErrorKind,
        code: impl Into<Cow<'static, str>>,
        detail: impl Into<String>,
    ) -> Self {
        Self(Arc::new(FetchErrorInner {
            kind,
            code: code.into(),
            detail: detail.into(),
        }))
    }

    /// An error reported by Secrets Manager (or relayed by the extension) under an AWS error code.
    pub(crate) fn from_code(code: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        let code = code.into();
        let kind = match &*code {
            "ResourceNotFoundException" => FetchErrorKind::NotFound,
            "AccessDeniedException" => FetchErrorKind::AccessDenied,
            _ => FetchErrorKind::Other,
        };
        Self::new(kind, code, detail)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> FetchErrorKind {
        self.0.kind
    }

    /// The AWS error code (e.g. `ResourceNotFoundException`), or `DispatchFailure` / `Timeout`
    /// when no answer came, or `HTTP <status>` from the extension.
    pub fn code(&self) -> &str {
        &self.0.code
    }

    /// The backend's message.
    pub fn detail(&self) -> &str {
        &self.0.detail
    }
}

/// A version with neither `SecretString` nor `SecretBinary`.
fn no_value() -> FetchError {
    FetchError::new(
        FetchErrorKind::Other,
        "NoSecretValue",
        "the current version has neither SecretString nor SecretBinary",
    )
}

/// `error: cause: cause…`, from `Display` only (a `Debug` dump may carry a raw response).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
