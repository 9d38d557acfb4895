//! The init phase: shared state built once, and the errors that stop a function from starting.

use std::{borrow::Cow, fmt, sync::Arc};

#[cfg(feature = "aws")]
use aws_config::SdkConfig;
#[cfg(feature = "aws")]
use tokio::sync::OnceCell;

use crate::{env::Env, select::HandlerSource, shutdown::ShutdownHooks};

/// What a handler constructor receives during Lambda's init phase.
///
/// Cheap to clone; every clone shares the same state. The AWS SDK configuration is loaded
/// at most once per process, on first use, so handlers that never call AWS pay nothing for it
/// and handlers that build several clients share one credentials chain and HTTP client.
#[derive(Clone)]
pub struct InitContext {
    inner: Arc<Inner>,
}

struct Inner {
    handler: String,
    #[cfg(feature = "aws")]
    aws: OnceCell<SdkConfig>,
    shutdown: ShutdownHooks,
}

impl InitContext {
    pub(crate) fn new(handler: String, shutdown: ShutdownHooks) -> Self {
        Self {
            inner: Arc::new(Inner {
                handler,
                #[cfg(feature = "aws")]
                aws: OnceCell::new(),
                shutdown,
            }),
        }
    }

    /// The name of the handler being initialised (as registered with the bootstrap).
    pub fn handler_name(&self) -> &str {
        &self.inner.handler
    }

    /// The shared AWS SDK configuration, loaded on first call and reused afterwards.
    ///
    /// It follows the SDK's standard resolution: region and credentials from the Lambda
    /// environment, `AWS_ENDPOINT_URL` (and per-service `AWS_ENDPOINT_URL_<SERVICE>`) when set.
    /// (The `aws` feature, on by default.)
    #[cfg(feature = "aws")]
    pub async fn aws_config(&self) -> &SdkConfig {
        self.inner
            .aws
            .get_or_init(|| crate::aws::config_loader().load())
            .await
    }

    /// Reads a required environment variable; `purpose` completes the sentence
    /// "it must hold …" in the init error when the variable is unset or empty.
    ///
    /// Like every configuration read of tern, through [`Env`]: surrounding whitespace is
    /// dropped and blank means unset.
    pub fn required_env(&self, name: &str, purpose: &str) -> Result<String, InitError> {
        Env::process().required(name, purpose)
    }

    /// Reads an optional environment variable; unset and blank are both `None`.
    pub fn optional_env(&self, name: &str) -> Option<String> {
        Env::process().get(name)
    }

    /// Registers an async hook to run when Lambda shuts the execution environment down
    /// (`SIGTERM`), e.g. to flush buffered metrics. Hooks run in registration order and should
    /// finish within a few hundred milliseconds: Lambda sends `SIGKILL` soon after. Lambda
    /// signals only runtimes with an extension: the `graceful-shutdown` feature (default)
    /// registers one when hooks exist; without it, hooks run if another extension is attached.
    pub fn on_shutdown<F, Fut>(&self, hook: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.inner.shutdown.push(hook);
    }
}

impl fmt::Debug for InitContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("InitContext");
        debug.field("handler", &self.inner.handler);
        #[cfg(feature = "aws")]
        debug.field("aws_config_loaded", &self.inner.aws.initialized());
        debug.finish_non_exhaustive()
    }
}

/// Why a function could not start. Reported to the Runtime API's `/runtime/init/error`
/// with [`error_type`](InitError::error_type) as `errorType` and the `Display` text as
/// `errorMessage`; the process then exits non-zero.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The requested handler name is not registered in this bootstrap.
    #[error(
        "unknown handler `{requested}` (from {origin}); registered handlers: {registered}. \
         Set the function's Handler (zip or layer) or the image CMD to one of them"
    )]
    UnknownHandler {
        /// The name that was asked for.
        requested: String,
        /// Where the name came from.
        origin: HandlerSource,
        /// The registered names, comma separated.
        registered: String,
    },
    /// Several handlers are registered and nothing says which one to run.
    #[error(
        "no handler selected: this bootstrap registers {registered}; set the function's \
         Handler (`_HANDLER`) or pass the handler name as the first argument (image CMD)"
    )]
    NoHandlerSelected {
        /// The registered names, comma separated.
        registered: String,
    },
    /// The bootstrap was built without any handler.
    #[error("this bootstrap registers no handler; call `Bootstrap::handler` before `run`")]
    NoHandlers,
    /// A required environment variable is unset or empty.
    #[error("environment variable `{name}` is not set; it must hold {purpose}")]
    MissingEnv {
        /// The variable's name.
        name: String,
        /// What the variable is for.
        purpose: String,
    },
    /// An environment variable is set to a value that cannot be used.
    #[error("environment variable `{name}` is invalid: {reason}")]
    InvalidEnv {
        /// The variable's name.
        name: String,
        /// What is wrong and what is accepted (never the value itself if it may be sensitive).
        reason: String,
    },
    /// Any other init failure, with its own stable `errorType`.
    #[error("{message}")]
    Failed {
        /// The `errorType` reported to Lambda, e.g. `Secrets.NotFound`.
        error_type: Cow<'static, str>,
        /// What happened and what to do about it.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<lambda_runtime::Error>,
    },
}

impl InitError {
    /// An init failure with a custom `errorType` (e.g. `Secrets.AccessDenied`).
    pub fn failed(error_type: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::Failed {
            error_type: error_type.into(),
            message: message.into(),
            source: None,
        }
    }

    /// Like [`failed`](Self::failed), keeping the underlying error as `source()`.
    pub fn failed_with(
        error_type: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
        source: impl Into<lambda_runtime::Error>,
    ) -> Self {
        Self::Failed {
            error_type: error_type.into(),
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The stable `errorType` string reported to Lambda; alarm on these.
    pub fn error_type(&self) -> &str {
        match self {
            Self::UnknownHandler { .. } => "Runtime.UnknownHandler",
            Self::NoHandlerSelected { .. } => "Runtime.NoHandlerSelected",
            Self::NoHandlers => "Runtime.NoHandlers",
            Self::MissingEnv { .. } => "Runtime.MissingEnvironmentVariable",
            Self::InvalidEnv { .. } => "Runtime.InvalidEnvironmentVariable",
            Self::Failed { error_type, .. } => error_type,
        }
    }
}

impl From<InitError> for lambda_runtime::Diagnostic {
    fn from(error: InitError) -> Self {
        Self {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_are_stable_and_messages_name_the_fix() {
        let cases: Vec<(InitError, &str, &str)> = vec![
            (
                InitError::UnknownHandler {
                    requested: "sqs2".into(),
                    origin: HandlerSource::HandlerEnv,
                    registered: "echo, sqs".into(),
                },
                "Runtime.UnknownHandler",
                "unknown handler `sqs2` (from _HANDLER); registered handlers: echo, sqs. \
                 Set the function's Handler (zip or layer) or the image CMD to one of them",
            ),
            (
                InitError::MissingEnv {
                    name: "ORDERS_TABLE".into(),
                    purpose: "the DynamoDB table for orders".into(),
                },
                "Runtime.MissingEnvironmentVariable",
                "environment variable `ORDERS_TABLE` is not set; it must hold the DynamoDB table for orders",
            ),
            (
                InitError::failed("Secrets.NotFound", "secret `db` not found"),
                "Secrets.NotFound",
                "secret `db` not found",
            ),
        ];
        for (error, error_type, message) in cases {
            assert_eq!(error.error_type(), error_type);
            assert_eq!(error.to_string(), message);
            let diagnostic = lambda_runtime::Diagnostic::from(error);
            assert_eq!(diagnostic.error_type, error_type);
            assert_eq!(diagnostic.error_message, message);
        }
    }

    #[test]
    fn required_env_rejects_unset_and_blank() {
        let ctx = InitContext::new("echo".into(), ShutdownHooks::default());
        let err = ctx
            .required_env("TERN_TEST_SURELY_UNSET_VARIABLE", "a table name")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable `TERN_TEST_SURELY_UNSET_VARIABLE` is not set; it must hold a table name"
        );
        assert_eq!(ctx.optional_env("TERN_TEST_SURELY_UNSET_VARIABLE"), None);
    }
}
