//! The guard between lambda_runtime and a handler: undecodable events and panics become error
//! responses with stable `errorType`s, and every failed invocation is logged as one structured
//! line with its `errorType` and message.
//!
//! lambda_runtime already rejects undecodable events and catches panics, but reports both with
//! a Rust type name as the `errorType`. Decoding through [`Decoded`] and catching panics one
//! layer closer to the handler lets us report `Runtime.UnmarshalError` and
//! `Runtime.HandlerPanic`, which users can alarm and filter on. The panic hook replaces the
//! default multi-line stderr dump: a handler's panic becomes the invocation's error line (with
//! the panic's location), any other panic one line of its own.

use std::{
    cell::{Cell, RefCell},
    fmt,
    panic::{AssertUnwindSafe, PanicHookInfo},
    pin::Pin,
    task::{self, Poll},
};

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use tower::Service;

use crate::invocation;

/// The `errorType` of an invocation whose handler panicked.
pub const HANDLER_PANIC: &str = "Runtime.HandlerPanic";

/// The `errorType` of an invocation whose event does not decode into the handler's type.
pub const UNMARSHAL_ERROR: &str = "Runtime.UnmarshalError";

/// An event as lambda_runtime hands it over: decoded into `E`, or the reason it did not decode
/// (with the path of the offending field, e.g. `[Records[0].body] invalid type …`).
///
/// Decoding never fails at lambda_runtime's level, so the error reaches [`HandlerGuard`] and is
/// reported with our `errorType`. (lambda_runtime reads nothing after the payload, so
/// stopping at the first error is safe.)
///
/// lambda_runtime already decodes through `serde_path_to_error`, whose path it keeps to itself;
/// tracking the path a second time here would make every decode about a third slower. So `E`
/// is decoded as given, and only when that fails is the body (which [`InvocationLayer`]
/// makes visible during the decode) decoded again with path tracking, to name the field.
/// Without that layer the reason comes without the path.
///
/// [`InvocationLayer`]: crate::InvocationLayer
pub(crate) struct Decoded<E>(Result<E, String>);

impl<'de, E: DeserializeOwned> Deserialize<'de> for Decoded<E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(
            E::deserialize(deserializer).map_err(|error| failure_reason::<E>(&error)),
        ))
    }
}

/// Why the body does not decode into `E`: the path of the offending field, when the body is at
/// hand, and the error without what it may quote of the event (the reason travels into the
/// error response and to failure destinations).
#[cold]
fn failure_reason<E: DeserializeOwned>(first: &dyn fmt::Display) -> String {
    // The same decode lambda_runtime runs (path tracking, no end-of-input check), so it fails
    // at the same place.
    let tracked = invocation::decoding_body(|body| {
        let jd = &mut serde_json::Deserializer::from_slice(body);
        match serde_path_to_error::deserialize::<_, E>(jd) {
            Err(error) => Err(crate::redact::with_path::<E>(error)),
            // The original decodes, so `E` was handed an emptied body because this one is not
            // UTF-8 (see `InvocationService`).
            Ok(_) => Ok(std::str::from_utf8(body).err()),
        }
    });
    match tracked {
        Some(Err(reason)) => reason,
        Some(Ok(Some(not_utf8))) => format!(
            "the event is not valid UTF-8 (at byte {})",
            not_utf8.valid_up_to()
        ),
        Some(Ok(None)) | None => crate::redact::redact_json_error_message(&first.to_string()),
    }
}

/// Wraps a handler: an undecodable event never reaches it, and a panic in `call` or in its
/// future becomes a [`Diagnostic`].
#[derive(Clone)]
pub(crate) struct HandlerGuard<S> {
    inner: S,
}

impl<S> HandlerGuard<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S, E> Service<LambdaEvent<Decoded<E>>> for HandlerGuard<S>
where
    S: Service<LambdaEvent<E>>,
    S::Error: Into<Diagnostic>,
{
    type Response = S::Response;
    type Error = Diagnostic;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        match guarded(|| self.inner.poll_ready(cx)) {
            Ok(ready) => ready.map_err(Into::into),
            Err(panic) => {
                // Not an invocation's failure: lambda_runtime ends its loop on it.
                let diagnostic = panic.diagnostic();
                panic.log_alone();
                Poll::Ready(Err(diagnostic))
            }
        }
    }

    fn call(&mut self, event: LambdaEvent<Decoded<E>>) -> Self::Future {
        let (Decoded(payload), context) = event.into_parts();
        let payload = match payload {
            Ok(payload) => payload,
            Err(reason) => {
                return GuardFuture::Failed {
                    failure: Some(Failure::Error(Diagnostic {
                        error_type: UNMARSHAL_ERROR.to_owned(),
                        error_message: format!(
                            "the event does not match the handler's input type: {reason}"
                        ),
                    })),
                };
            }
        };
        let event = LambdaEvent::new(payload, context);
        match guarded(|| self.inner.call(event)) {
            Ok(inner) => GuardFuture::Running { inner },
            Err(panic) => GuardFuture::Failed {
                failure: Some(Failure::Panic(panic)),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`HandlerGuard`].
    #[project = GuardProj]
    pub(crate) enum GuardFuture<F> {
        Running { #[pin] inner: F },
        Failed { failure: Option<Failure> },
    }
}

impl<F, R, Er> Future for GuardFuture<F>
where
    F: Future<Output = Result<R, Er>>,
    Er: Into<Diagnostic>,
{
    type Output = Result<R, Diagnostic>;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        let failure = match self.project() {
            GuardProj::Running { inner } => match guarded(|| inner.poll(cx)) {
                Ok(Poll::Ready(Ok(response))) => return Poll::Ready(Ok(response)),
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(Err(error))) => Failure::Error(error.into()),
                // Ready now, so the panicked future is never polled again.
                Err(panic) => Failure::Panic(panic),
            },
            GuardProj::Failed { failure } => failure.take().unwrap_or_else(|| {
                Failure::Error(Diagnostic {
                    error_type: HANDLER_PANIC.to_owned(),
                    error_message: "the handler's future was polled after it completed".to_owned(),
                })
            }),
        };
        Poll::Ready(Err(failure.report()))
    }
}

/// Why an invocation failed.
pub(crate) enum Failure {
    /// The handler's error, or an event that does not decode.
    Error(Diagnostic),
    /// The handler panicked.
    Panic(CaughtPanic),
}

impl Failure {
    /// Writes the invocation's error line and hands back what Lambda is told.
    ///
    /// The one line per failed invocation: `errorType` and the message (with the panic's
    /// location for a panic), inside the invocation's span, so with its request and
    /// correlation ids. (lambda_runtime's own line, the `Diagnostic`'s `Debug` text, is
    /// filtered out by `logging`.)
    fn report(self) -> Diagnostic {
        match self {
            Self::Error(diagnostic) => {
                tracing::error!(
                    target: FAILURE_TARGET,
                    errorType = %diagnostic.error_type,
                    "{}",
                    diagnostic.error_message
                );
                diagnostic
            }
            Self::Panic(panic) => {
                let diagnostic = panic.diagnostic();
                match panic.report.as_deref() {
                    Some(Report {
                        location,
                        backtrace: Some(backtrace),
                        ..
                    }) => tracing::error!(
                        target: FAILURE_TARGET,
                        errorType = %diagnostic.error_type,
                        panic.location = %location,
                        panic.backtrace = %backtrace,
                        "{}",
                        diagnostic.error_message
                    ),
                    Some(Report { location, .. }) => tracing::error!(
                        target: FAILURE_TARGET,
                        errorType = %diagnostic.error_type,
                        panic.location = %location,
                        "{}",
                        diagnostic.error_message
                    ),
                    None => tracing::error!(
                        target: FAILURE_TARGET,
                        errorType = %diagnostic.error_type,
                        "{}",
                        diagnostic.error_message
                    ),
                }
                diagnostic
            }
        }
    }
}

/// The text of a panic payload: `panic!("…")` carries a `&str` or a `String`; any other
/// payload (`std::panic::panic_any(42)`) is named as such.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("record {} is malformed", 7)).unwrap_err();
/// assert_eq!(tern_runtime::panic_message(payload.as_ref()), "record 7 is malformed");
/// ```
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic payload that is not a string)".to_owned())
}

/// The target of the line that reports a failed invocation.
pub(crate) const FAILURE_TARGET: &str = "tern_runtime::invocation";

/// A panic the guard caught: its payload's message, and what the panic hook saw of it.
pub(crate) struct CaughtPanic {
    message: String,
    /// Boxed: the error side of [`guarded`]'s result stays small.
    report: Option<Box<Report>>,
}

impl CaughtPanic {
    fn diagnostic(&self) -> Diagnostic {
        Diagnostic {
            error_type: HANDLER_PANIC.to_owned(),
            error_message: format!("handler panicked: {}", self.message),
        }
    }

    /// Logs the panic as the hook would have, for a panic that does not fail an invocation.
    fn log_alone(self) {
        match self.report {
            Some(report) => report.log(),
            None => tracing::error!("panic: {}", self.message),
        }
    }
}

/// What the panic hook records of a panic: where it happened, the backtrace when
/// `RUST_BACKTRACE` asks for one, and the span it happened in.
struct Report {
    message: String,
    location: String,
    backtrace: Option<String>,
    span: tracing::Span,
}

impl Report {
    fn capture(info: &PanicHookInfo<'_>) -> Self {
        let backtrace = std::backtrace::Backtrace::capture();
        Self {
            message: panic_message(info.payload()),
            location: info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_default(),
            backtrace: (backtrace.status() == std::backtrace::BacktraceStatus::Captured)
                .then(|| backtrace.to_string()),
            span: tracing::Span::current(),
        }
    }

    /// The panic's own line, in the span it happened in.
    fn log(&self) {
        let _entered = self.span.enter();
        match &self.backtrace {
            Some(backtrace) => tracing::error!(
                panic.location = %self.location,
                panic.backtrace = %backtrace,
                "panic: {}",
                self.message
            ),
            None => tracing::error!(panic.location = %self.location, "panic: {}", self.message),
        }
    }
}

thread_local! {
    /// Set while [`guarded`] runs the handler on this thread: a panic then is recorded in
    /// [`PANICS`] instead of logged, and reported by the guard.
    static GUARDING: Cell<bool> = const { Cell::new(false) };
    /// Panics recorded while [`GUARDING`], in order.
    static PANICS: RefCell<Vec<Report>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` catching a panic. A panic that unwinds out of `f` is the handler's: it comes back
/// with what the hook recorded, for the invocation's one error line. Panics that code inside
/// `f` caught itself (the batch layer's record handlers) are logged here, each in its own span,
/// as the hook logs panics anywhere else.
fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, CaughtPanic> {
    let outer = GUARDING.replace(true);
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    GUARDING.set(outer);
    let mut reports = PANICS.take();
    let caught = match result {
        Ok(value) => Ok(value),
        Err(payload) => Err(CaughtPanic {
            message: panic_message(payload.as_ref()),
            report: reports.pop().map(Box::new),
        }),
    };
    for inner in &reports {
        inner.log();
    }
    caught
}

/// Replaces the default panic hook with one that logs a single structured error line (inside
/// the current span, so inside an invocation it carries the request id), with the location,
/// and a backtrace when `RUST_BACKTRACE` asks for one. A panic in a handler is not logged here
/// but in the invocation's error line.
pub(crate) fn install_hook() {
    std::panic::set_hook(Box::new(|info: &PanicHookInfo<'_>| {
        if !record_if_guarding(info) {
            Report::capture(info).log();
        }
    }));
}

/// Records a panic that happens while [`guarded`] runs; `false` for any other panic.
pub(crate) fn record_if_guarding(info: &PanicHookInfo<'_>) -> bool {
    if GUARDING.get() {
        PANICS.with_borrow_mut(|panics| panics.push(Report::capture(info)));
    }
    GUARDING.get()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::{Config, Context};
    use std::sync::Arc;

    /// A subscriber for this test's thread. tracing caches whether a log line is enabled per
    /// callsite, across every subscriber alive: the guard's error lines, first reached here
    /// with none (while another test's subscriber is being registered), could be cached as off
    /// for the tests in `invocation` that assert them.
    fn subscribed() -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(tracing_subscriber::registry())
    }

    fn event() -> LambdaEvent<Decoded<u8>> {
        decode("1")
    }

    fn decode(json: &str) -> LambdaEvent<Decoded<u8>> {
        let mut context = Context::default();
        context.env_config = Arc::new(Config::default());
        LambdaEvent::new(lambda_decode(json), context)
    }

    /// What lambda_runtime does under [`InvocationLayer`](crate::InvocationLayer): path
    /// tracking, no end-of-input check, the body visible to the guard's decode.
    fn lambda_decode<E: DeserializeOwned>(json: &str) -> Decoded<E> {
        invocation::with_decoding_body(json.as_bytes(), || {
            let jd = &mut serde_json::Deserializer::from_slice(json.as_bytes());
            serde_path_to_error::deserialize(jd).expect("Decoded never fails")
        })
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Order {
        id: String,
        lines: Vec<Line>,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Line {
        qty: u32,
    }

    #[test]
    fn decoded_reports_the_path_of_the_bad_field() {
        let cases = [
            (r#"{"id":"a","lines":[{"qty":1}]}"#, Ok(())),
            (
                r#"{"id":"a","lines":[{"qty":1},{"qty":-2}]}"#,
                Err("[lines[1].qty] invalid value: integer, expected u32 at line 1 column 38"),
            ),
            (
                r#"{"lines":[]}"#,
                Err("missing field `id` at line 1 column 12"),
            ),
            (
                r#"{"id":"a","lines":[{"qty":1}"#,
                Err("[lines] EOF while parsing a list at line 1 column 28"),
            ),
            ("", Err("EOF while parsing a value at line 1 column 0")),
        ];
        for (json, expected) in cases {
            let Decoded(got) = lambda_decode::<Order>(json);
            match (got, expected) {
                (Ok(order), Ok(())) => assert_eq!(order.lines, vec![Line { qty: 1 }]),
                (Err(reason), Err(want)) => assert_eq!(reason, want, "{json}"),
                (got, want) => panic!("{json}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn an_emptied_body_is_reported_by_what_is_wrong_with_the_original() {
        // What `InvocationLayer` hands lambda_runtime for a body that is not UTF-8.
        let emptied = |original: &[u8]| {
            invocation::with_decoding_body(original, || {
                let jd = &mut serde_json::Deserializer::from_slice(b"");
                let Decoded(got) = serde_path_to_error::deserialize::<_, Decoded<Order>>(jd)
                    .expect("Decoded never fails");
                got.unwrap_err()
            })
        };
        // Where the type reads the bytes, serde_json names the place.
        assert_eq!(
            emptied(b"{\"id\":\"\xff\",\"lines\":[]}"),
            "[id] invalid unicode code point at line 1 column 8"
        );
        // Where it skips them (a field it does not know), only the UTF-8 check finds them.
        assert_eq!(
            emptied(b"{\"id\":\"a\",\"lines\":[],\"note\":\"\xff\"}"),
            "the event is not valid UTF-8 (at byte 29)"
        );
    }

    #[test]
    fn without_the_body_at_hand_the_reason_has_no_path() {
        let json = r#"{"id":"a","lines":[{"qty":1},{"qty":-2}]}"#;
        let jd = &mut serde_json::Deserializer::from_str(json);
        let Decoded(got) = serde_path_to_error::deserialize::<_, Decoded<Order>>(jd).unwrap();
        assert_eq!(
            got.unwrap_err(),
            "invalid value: integer, expected u32 at line 1 column 38"
        );
    }

    #[tokio::test]
    async fn undecodable_event_never_reaches_the_handler() {
        let _subscribed = subscribed();
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = calls.clone();
        let mut guard = HandlerGuard::new(tower::service_fn(move |e: LambdaEvent<u8>| {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { Ok::<u8, Diagnostic>(e.payload) }
        }));
        let got = guard.call(decode(r#""seven""#)).await.unwrap_err();
        assert_eq!(got.error_type, "Runtime.UnmarshalError");
        assert_eq!(
            got.error_message,
            "the event does not match the handler's input type: invalid type: string, expected u8 at line 1 column 7"
        );
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(guard.call(decode("9")).await.unwrap(), 9);
    }

    #[tokio::test]
    async fn panics_in_call_and_in_future_become_handler_panic_diagnostics() {
        let _subscribed = subscribed();
        let mut in_future = HandlerGuard::new(tower::service_fn(|_e: LambdaEvent<u8>| async {
            if true {
                panic!("bad record {}", 7);
            }
            Ok::<u8, Diagnostic>(0)
        }));
        let got = in_future.call(event()).await.unwrap_err();
        assert_eq!(got.error_type, "Runtime.HandlerPanic");
        assert_eq!(got.error_message, "handler panicked: bad record 7");

        let mut in_call = HandlerGuard::new(tower::service_fn(
            |_e: LambdaEvent<u8>| -> std::future::Ready<Result<u8, Diagnostic>> {
                panic!("before the future")
            },
        ));
        let got = in_call.call(event()).await.unwrap_err();
        assert_eq!(got.error_message, "handler panicked: before the future");

        let mut any = HandlerGuard::new(tower::service_fn(|_e: LambdaEvent<u8>| async {
            if true {
                std::panic::panic_any(42_u8);
            }
            Ok::<u8, Diagnostic>(0)
        }));
        let got = any.call(event()).await.unwrap_err();
        assert_eq!(
            got.error_message,
            "handler panicked: (a panic payload that is not a string)"
        );
    }

    #[tokio::test]
    async fn errors_and_values_pass_through() {
        let _subscribed = subscribed();
        let mut ok = HandlerGuard::new(tower::service_fn(|e: LambdaEvent<u8>| async move {
            Ok::<u8, Diagnostic>(e.payload + 1)
        }));
        assert_eq!(ok.call(event()).await.unwrap(), 2);
        let mut err = HandlerGuard::new(tower::service_fn(|_e: LambdaEvent<u8>| async {
            Err::<u8, _>(Diagnostic {
                error_type: "Orders.Invalid".into(),
                error_message: "no id".into(),
            })
        }));
        assert_eq!(
            err.call(event()).await.unwrap_err().error_type,
            "Orders.Invalid"
        );
    }
}
