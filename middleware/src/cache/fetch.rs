//! Why one fetch failed, in the back-end's own terms (its error code) and in terms a user can
//! act on (a [`FetchErrorKind`]). Shared by every cached facility.

use std::{borrow::Cow, fmt, sync::Arc};

/// How a fetch failed, in terms a user can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchErrorKind {
    /// No such secret or parameter, or no such version (`ResourceNotFoundException`,
    /// `ParameterNotFound`, an AppConfig profile the agent does not know).
    NotFound,
    /// The function's role may not read it (`AccessDeniedException`).
    AccessDenied,
    /// The back-end did not answer: connection failure or timeout.
    Unreachable,
    /// The value arrived but cannot be used as declared: not JSON for the declared type, not
    /// base64, not text. The message names what is wrong, never the value.
    Invalid,
    /// Anything else the back-end reported.
    Other,
}

/// Why one fetch failed: the back-end's error code and message. Cheap to clone.
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

    /// An error an AWS service reported (or an extension relayed) under its error code.
    pub(crate) fn from_code(code: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        let code = code.into();
        let kind = match &*code {
            "ResourceNotFoundException" | "ParameterNotFound" | "ParameterVersionNotFound" => {
                FetchErrorKind::NotFound
            }
            "AccessDeniedException" => FetchErrorKind::AccessDenied,
            _ => FetchErrorKind::Other,
        };
        Self::new(kind, code, detail)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> FetchErrorKind {
        self.0.kind
    }

    /// The AWS error code (e.g. `ResourceNotFoundException`, `ParameterNotFound`), or
    /// `DispatchFailure` / `Timeout` when no answer came, `HTTP <status>` from an extension,
    /// `InvalidValue` for a value that does not transform.
    pub fn code(&self) -> &str {
        &self.0.code
    }

    /// The back-end's message.
    pub fn detail(&self) -> &str {
        &self.0.detail
    }
}

/// `error: cause: cause…`, from `Display` only (a `Debug` dump may carry a raw response).
/// hyper-util's client error is left out: its text is the `Debug` name of its kind ("client
/// error (Connect)"); the causes under it say what happened.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        if !cause.is::<hyper_util::client::legacy::Error>() {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause.to_string());
        }
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        let cases = [
            ("ResourceNotFoundException", FetchErrorKind::NotFound),
            ("ParameterNotFound", FetchErrorKind::NotFound),
            ("ParameterVersionNotFound", FetchErrorKind::NotFound),
            ("AccessDeniedException", FetchErrorKind::AccessDenied),
            ("DecryptionFailure", FetchErrorKind::Other),
        ];
        for (code, kind) in cases {
            let error = FetchError::from_code(code, "detail");
            assert_eq!((error.kind(), error.code()), (kind, code));
            assert_eq!(error.to_string(), format!("{code}: detail"));
        }
    }
}
