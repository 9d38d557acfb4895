//! The bootstrap: handler registry, init phase and the invocation loop.

use std::{fmt, pin::Pin, process::ExitCode};

use lambda_runtime::{Diagnostic, IntoFunctionResponse, LambdaEvent};
use lambda_runtime_api_client::body::Body;
use serde::{Serialize, de::DeserializeOwned};
use tower::Service;

use crate::{
    env::{Env, names},
    guard::{self, HandlerGuard},
    init::{InitContext, InitError},
    invocation::InvocationLayer,
    logging, report,
    rescue::{self, Rescued},
    select::select_handler,
    shutdown::{self, ShutdownHooks, catch_unwind},
};

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;
/// The invocation loop of a built handler; resolves only if the Runtime API fails for good.
type Serve = LocalBoxFuture<Result<(), lambda_runtime::Error>>;
type Start = Box<dyn FnOnce(InitContext) -> LocalBoxFuture<Result<Serve, InitError>>>;

/// Environment variables Lambda (and the emulator) always set; lambda_runtime needs them.
const LAMBDA_ENV: [(&str, &str); 4] = [
    (
        "AWS_LAMBDA_RUNTIME_API",
        "the Runtime API address that Lambda sets",
    ),
    (
        "AWS_LAMBDA_FUNCTION_NAME",
        "the function name that Lambda sets",
    ),
    (
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "the memory size in MB that Lambda sets",
    ),
    (
        "AWS_LAMBDA_FUNCTION_VERSION",
        "the function version that Lambda sets",
    ),
];

/// A service that can be registered as a handler: a tower [`Service`] over
/// [`LambdaEvent<E>`] that is `Clone + Send + 'static` with a `Send` future (one clone runs per
/// concurrent worker). Implemented for every such service; use it to name a constructor's
/// return type, e.g. `impl HandlerService<MyEvent, Response = MyResponse, Error = MyError>`.
pub trait HandlerService<E>:
    Service<LambdaEvent<E>, Future: Send + 'static> + Clone + Send + 'static
{
}

impl<E, S> HandlerService<E> for S where
    S: Service<LambdaEvent<E>, Future: Send + 'static> + Clone + Send + 'static
{
}

/// Which Tokio scheduler runs the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeFlavor {
    /// One thread. The default: Lambda hands an environment one invocation at a time and most
    /// memory sizes have at most one vCPU, where a work-stealing pool only adds overhead.
    CurrentThread,
    /// Work-stealing threads, one per CPU. The default when `AWS_LAMBDA_MAX_CONCURRENCY` > 1.
    MultiThread,
}

impl RuntimeFlavor {
    crate::env_constructors! {
        /// `TERN_TOKIO_RUNTIME` (`current_thread` | `multi_thread`) if set, else `MultiThread` when
        /// `AWS_LAMBDA_MAX_CONCURRENCY` > 1, else `CurrentThread`.
    }

    fn from(env: &Env) -> Result<Self, InitError> {
        let configured = env.choice(
            names::TOKIO_RUNTIME,
            &[
                ("current_thread", Self::CurrentThread),
                ("multi_thread", Self::MultiThread),
            ],
        )?;
        Ok(configured.unwrap_or(if max_concurrency(env) > 1 {
            Self::MultiThread
        } else {
            Self::CurrentThread
        }))
    }
}

/// A registry of named handlers, and the process entry point that runs one of them.
///
/// See the [crate documentation](crate) for the selection rules and an example.
pub struct Bootstrap {
    handlers: Vec<(&'static str, Start)>,
    flavor: Option<RuntimeFlavor>,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bootstrap")
            .field("handlers", &self.handler_names())
            .field("flavor", &self.flavor)
            .finish()
    }
}

impl Bootstrap {
    /// An empty registry.
    pub fn new() -> Self {
        Self {
            handlers: Vec::new(),
            flavor: None,
        }
    }

    /// Registers a handler.
    ///
    /// `constructor` runs once, during init, only for the selected handler: build SDK clients,
    /// read configuration, fetch secrets there. It returns the service that handles every
    /// invocation, or an [`InitError`] that is reported to Lambda. The service is cloned per
    /// concurrent worker, so keep shared state behind `Arc`s.
    ///
    /// # Panics
    /// If `name` is already registered: two handlers cannot share a name.
    pub fn handler<E, R, S, F, Fut>(mut self, name: &'static str, constructor: F) -> Self
    where
        F: FnOnce(InitContext) -> Fut + 'static,
        Fut: Future<Output = Result<S, InitError>> + 'static,
        S: Service<LambdaEvent<E>, Response = R> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Diagnostic> + fmt::Debug,
        E: DeserializeOwned + Send + 'static,
        R: IntoFunctionResponse<R, Body> + Serialize + Send + 'static,
    {
        assert!(
            self.handlers.iter().all(|(existing, _)| *existing != name),
            "handler `{name}` is registered twice"
        );
        let start: Start = Box::new(move |init| {
            Box::pin(async move {
                let invocations = InvocationLayer::from_env::<E>()?;
                let service = HandlerGuard::new(constructor(init).await?);
                let serve: Serve = Box::pin(async move {
                    let mut left_pending_at = None;
                    loop {
                        // The guard takes `Decoded<E>`, so decode errors reach it instead of
                        // failing inside lambda_runtime with a type name as errorType.
                        let ended = lambda_runtime::Runtime::new(service.clone())
                            .layer(invocations.clone())
                            .run_concurrent()
                            .await;
                        let Err(error) = ended else { return Ok(()) };
                        // With several workers (Managed Instances) the others keep serving; the
                        // loop only ends once all have, and there is no one invocation to find.
                        if max_concurrency(&Env::process()) > 1 {
                            return Err(error);
                        }
                        let started = rescue::STARTED.load(std::sync::atomic::Ordering::Relaxed);
                        match rescue::rescue().await {
                            Ok(Rescued::Answered) => {}
                            // Readable: the loop gets it again, unless it already failed on it.
                            Ok(Rescued::LeftPending) if left_pending_at != Some(started) => {
                                left_pending_at = Some(started);
                            }
                            Ok(Rescued::LeftPending) | Err(_) => return Err(error),
                        }
                        tracing::warn!(error = %error, "lambda_runtime's loop ended on an invocation; serving on");
                    }
                });
                Ok(serve)
            })
        });
        self.handlers.push((name, start));
        self
    }

    /// Overrides the Tokio scheduler choice of [`RuntimeFlavor::from_env`].
    pub fn with_runtime_flavor(mut self, flavor: RuntimeFlavor) -> Self {
        self.flavor = Some(flavor);
        self
    }

    /// The registered names, in registration order.
    pub fn handler_names(&self) -> Vec<&'static str> {
        self.handlers.iter().map(|(name, _)| *name).collect()
    }

    /// Runs the selected handler until the process is stopped. Call it from `main` (no
    /// `#[tokio::main]`: the bootstrap builds the Tokio runtime that fits the environment).
    ///
    /// Returns a failure exit code after an init error (already reported to Lambda) or if the
    /// Runtime API becomes unusable.
    pub fn run(self) -> ExitCode {
        if let Err(error) = logging::init() {
            return fail_before_runtime(error);
        }
        guard::install_hook();
        let flavor = match self.flavor.map_or_else(RuntimeFlavor::from_env, Ok) {
            Ok(flavor) => flavor,
            Err(error) => return fail_before_runtime(error),
        };
        let mut builder = match flavor {
            RuntimeFlavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            RuntimeFlavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
        };
        let runtime = match builder.enable_all().build() {
            Ok(runtime) => runtime,
            Err(err) => {
                return fail_before_runtime(InitError::failed_with(
                    "Runtime.TokioStartFailed",
                    format!("could not start the Tokio runtime: {err}"),
                    err,
                ));
            }
        };
        let argument = std::env::args().nth(1);
        runtime.block_on(self.serve(argument, flavor))
    }

    async fn serve(mut self, argument: Option<String>, flavor: RuntimeFlavor) -> ExitCode {
        let handler_env = std::env::var("_HANDLER").ok();
        let names = self.handler_names();
        let selected = match select_handler(&names, argument.as_deref(), handler_env.as_deref()) {
            Ok(selected) => selected,
            Err(error) => return fail(error).await,
        };
        if let Some((name, purpose)) = LAMBDA_ENV
            .iter()
            .find(|(name, _)| std::env::var_os(name).is_none())
        {
            return fail(InitError::MissingEnv {
                name: (*name).to_owned(),
                purpose: (*purpose).to_owned(),
            })
            .await;
        }
        tracing::info!(
            handler = %selected.name,
            selected_by = %selected.source,
            runtime = ?flavor,
            "initialising handler"
        );

        let index = names
            .iter()
            .position(|n| *n == selected.name)
            .unwrap_or_default();
        let (_, start) = self.handlers.swap_remove(index);
        if std::env::var("AWS_LAMBDA_INITIALIZATION_TYPE").as_deref()
            == Ok("provisioned-concurrency")
        {
            // Initialised ahead of traffic: no invocation of this environment waits for init.
            crate::invocation::mark_warm();
        }
        let hooks = ShutdownHooks::default();
        let init = InitContext::new(selected.name.clone(), hooks.clone());
        let serve = match catch_unwind(std::panic::AssertUnwindSafe(start(init))).await {
            Ok(Ok(serve)) => serve,
            Ok(Err(error)) => return fail(error).await,
            Err(panic) => {
                return fail(InitError::failed(
                    "Runtime.InitPanic",
                    format!(
                        "the constructor of handler `{}` panicked: {panic}",
                        selected.name
                    ),
                ))
                .await;
            }
        };
        shutdown::install(hooks).await;

        match serve.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(error = %error, "the Lambda Runtime API failed; exiting");
                ExitCode::FAILURE
            }
        }
    }
}

/// `AWS_LAMBDA_MAX_CONCURRENCY` as lambda_runtime reads it (unset or unusable: 1).
fn max_concurrency(env: &Env) -> u32 {
    env.get("AWS_LAMBDA_MAX_CONCURRENCY")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1)
}

async fn fail(error: InitError) -> ExitCode {
    report::report_init_error(&error).await;
    ExitCode::FAILURE
}

fn fail_before_runtime(error: InitError) -> ExitCode {
    // Reporting needs an async HTTP client; a throwaway current-thread runtime is enough.
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(fail(error)),
        Err(_) => {
            eprintln!("init failed ({}): {error}", error.error_type());
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavor_resolution() {
        use RuntimeFlavor::*;
        let cases = [
            (None, None, Some(CurrentThread)),
            (None, Some("1"), Some(CurrentThread)),
            (None, Some("8"), Some(MultiThread)),
            (None, Some("many"), Some(CurrentThread)),
            (Some("multi_thread"), None, Some(MultiThread)),
            (Some("current_thread"), Some("8"), Some(CurrentThread)),
            (Some("fast"), None, None),
        ];
        for (configured, concurrency, expected) in cases {
            let mut vars = Vec::new();
            vars.extend(configured.map(|v| ("TERN_TOKIO_RUNTIME", v)));
            vars.extend(concurrency.map(|v| ("AWS_LAMBDA_MAX_CONCURRENCY", v)));
            let got = RuntimeFlavor::from_vars(vars).ok();
            assert_eq!(got, expected, "{configured:?} {concurrency:?}");
        }
    }

    #[test]
    #[should_panic(expected = "handler `echo` is registered twice")]
    fn duplicate_names_are_rejected() {
        let build = |_init: InitContext| async {
            Ok::<_, InitError>(lambda_runtime::service_fn(
                |e: LambdaEvent<serde_json::Value>| async move {
                    Ok::<_, lambda_runtime::Error>(e.payload)
                },
            ))
        };
        let _ = Bootstrap::new()
            .handler("echo", build)
            .handler("echo", build);
    }

    #[test]
    fn names_in_registration_order() {
        let build = |_init: InitContext| async {
            Ok::<_, InitError>(lambda_runtime::service_fn(
                |e: LambdaEvent<serde_json::Value>| async move {
                    Ok::<_, lambda_runtime::Error>(e.payload)
                },
            ))
        };
        let bootstrap = Bootstrap::new().handler("s3", build).handler("echo", build);
        assert_eq!(bootstrap.handler_names(), ["s3", "echo"]);
    }
}
