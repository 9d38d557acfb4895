//! Whole log lines of invocations, as the bootstrap's subscriber writes them: the ids every
//! line carries (correlation id by event type, SQS attribute and pointer, tenant id), the one
//! error line per failed invocation, sampling and buffering.

use std::{
    fmt,
    sync::{Arc, Mutex, Once},
    task::{self, Poll},
};

use lambda_runtime::{Config, Context, Diagnostic, LambdaEvent, LambdaInvocation};
use serde::{Deserialize, de::DeserializeOwned};
use tower::{Layer as _, Service, ServiceExt as _};
use tracing_subscriber::fmt::{format::Writer, time::FormatTime};

use super::*;
use crate::{
    correlation::Correlation,
    guard::{Decoded, HandlerGuard},
    logging::{Capture, LogSettings},
};

#[derive(Clone, Copy)]
struct FixedTime;

impl FormatTime for FixedTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        w.write_str("2026-11-22T12:00:00.000000Z")
    }
}

/// What lambda_runtime does between the invocation layer and the handler: decodes the body
/// into `Decoded<E>` (with path tracking, as it does) and calls the guard.
struct Decode<S, E>(HandlerGuard<S>, std::marker::PhantomData<fn() -> E>);

impl<S: Clone, E> Clone for Decode<S, E> {
    fn clone(&self) -> Self {
        Self(self.0.clone(), std::marker::PhantomData)
    }
}

impl<S, E> Service<LambdaInvocation> for Decode<S, E>
where
    E: DeserializeOwned,
    HandlerGuard<S>: Service<LambdaEvent<Decoded<E>>, Error = Diagnostic>,
    <HandlerGuard<S> as Service<LambdaEvent<Decoded<E>>>>::Future: 'static,
{
    type Response =
        Result<<HandlerGuard<S> as Service<LambdaEvent<Decoded<E>>>>::Response, Diagnostic>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    fn poll_ready(&mut self, _: &mut task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let jd = &mut serde_json::Deserializer::from_slice(&invocation.body);
        let decoded: Decoded<E> =
            serde_path_to_error::deserialize(jd).expect("Decoded never fails");
        let answer = self.0.call(LambdaEvent::new(decoded, invocation.context));
        Box::pin(async move { Ok(answer.await) })
    }
}

/// A panic hook that records the panics the guard catches, as the bootstrap's does, and leaves
/// every other panic (a failing assertion) to the default hook.
fn record_guarded_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !crate::guard::record_if_guarding(info) {
                default(info);
            }
        }));
    });
}

fn context(request_id: &str) -> Context {
    let mut context = Context::default();
    context.request_id = request_id.to_owned();
    context.env_config = Arc::new(Config {
        function_name: "orders".to_owned(),
        ..Config::default()
    });
    context
}

/// Runs `events` (context, body) one after another through the invocation layer configured by
/// `vars` (as `InvocationLayer::from_env::<E>` reads them), lambda_runtime's decode, the guard
/// and `handler`, under the subscriber `vars` configure; the lines written.
fn run<E, S>(vars: &[(&str, &str)], handler: S, events: Vec<(Context, String)>) -> String
where
    E: DeserializeOwned + 'static,
    S: Service<LambdaEvent<E>> + Clone + 'static,
    S::Error: Into<Diagnostic>,
    S::Future: 'static,
    S::Response: 'static,
{
    record_guarded_panics();
    // Every invocation here is warm: the process's first one, whichever test runs it, is not
    // what these lines are about.
    mark_warm();
    let env = Env::from_vars(vars.iter().copied());
    let settings = LogSettings::from_vars(vars.iter().copied());
    let out = Capture::default();
    let dispatch = crate::logging::dispatch(&settings, out.clone(), FixedTime);
    let layer = InvocationLayer::from(&env, Correlation::for_event::<E>).unwrap();
    let mut service = layer.layer(Decode::<S, E>(
        HandlerGuard::new(handler),
        std::marker::PhantomData,
    ));
    tracing::dispatcher::with_default(&dispatch, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            for (context, body) in events {
                let invocation = LambdaInvocation {
                    parts: http::Response::new(()).into_parts().0,
                    body: Bytes::from(body),
                    context,
                };
                let _ = service.ready().await.unwrap().call(invocation).await;
            }
        });
    });
    String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
}

const PREFIX: &str = r#"{"timestamp":"2026-11-22T12:00:00.000000Z","#;

/// An event of no particular shape: the request id is its correlation id unless a pointer says
/// otherwise.
#[derive(Debug, Deserialize)]
struct Plain {
    #[allow(dead_code)]
    detail: serde_json::Value,
}

/// Logs one INFO line, succeeds.
fn logs_once<E: fmt::Debug + Send + 'static>()
-> impl Service<LambdaEvent<E>, Response = (), Error = Diagnostic, Future: 'static> + Clone {
    tower::service_fn(|_: LambdaEvent<E>| async {
        tracing::info!(target: "orders", "handled");
        Ok::<(), Diagnostic>(())
    })
}

#[test]
fn every_line_carries_the_correlation_id_the_event_type_gives() {
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct ApiRequest {
        request_context: serde_json::Value,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Batch {
        #[serde(rename = "Records")]
        records: Vec<serde_json::Value>,
    }
    let api = run::<ApiRequest, _>(
        &[],
        logs_once(),
        vec![(
            context("req-1"),
            include_str!("../fixtures/api-gateway-rest.json").to_owned(),
        )],
    );
    assert_eq!(
        api,
        format!(
            "{PREFIX}\"level\":\"INFO\",\"target\":\"orders\",\"message\":\"handled\",\
             \"requestId\":\"req-1\",\"correlation_id\":\"c6af9ac6-7b61-11e6-9a41-93e8deadbeef\",\
             \"function_name\":\"orders\",\"cold_start\":false}}\n"
        )
    );
    let sqs = r#"{"Records":[{"messageId":"m-1","body":"{}","messageAttributes":{"trace":{"stringValue":"order-flow-7","dataType":"String"}}},{"messageId":"m-2","body":"{}","messageAttributes":{}}]}"#;
    let lines = run::<Batch, _>(
        &[("TERN_LOG_CORRELATION_ID_ATTRIBUTE", "trace")],
        logs_once(),
        vec![
            (context("req-2"), sqs.to_owned()),
            // Without the attribute: the request id.
            (context("req-3"), sqs.replace("trace", "other")),
        ],
    );
    let line = |request_id: &str, correlation_id: &str| {
        format!(
            "{PREFIX}\"level\":\"INFO\",\"target\":\"orders\",\"message\":\"handled\",\
             \"requestId\":\"{request_id}\",\"correlation_id\":\"{correlation_id}\",\
             \"function_name\":\"orders\",\"cold_start\":false}}\n"
        )
    };
    assert_eq!(
        lines,
        line("req-2", "order-flow-7") + &line("req-3", "req-3")
    );
    let pointer = run::<Plain, _>(
        &[("TERN_LOG_CORRELATION_ID_POINTER", "/detail/order/id")],
        logs_once(),
        vec![
            (
                context("req-4"),
                r#"{"detail":{"order":{"id":"o-1001"}}}"#.to_owned(),
            ),
            (
                context("req-5"),
                r#"{"detail":{"order":{"id":17}}}"#.to_owned(),
            ),
            (context("req-6"), r#"{"detail":{}}"#.to_owned()),
        ],
    );
    assert_eq!(
        pointer,
        line("req-4", "o-1001") + &line("req-5", "17") + &line("req-6", "req-6")
    );
}

#[test]
fn tenant_and_trace_ids_come_from_the_context() {
    let mut tenant = context("req-7");
    tenant.tenant_id = Some("tenant-42".to_owned());
    tenant.xray_trace_id = Some("Root=1-6745f3a1-5b2c0d9e8f7a6b5c4d3e2f1a;Sampled=1".to_owned());
    let lines = run::<Plain, _>(
        &[],
        logs_once(),
        vec![
            (tenant, r#"{"detail":1}"#.to_owned()),
            (context("req-8"), r#"{"detail":2}"#.to_owned()),
        ],
    );
    assert_eq!(
        lines,
        format!(
            "{PREFIX}\"level\":\"INFO\",\"target\":\"orders\",\"message\":\"handled\",\
             \"requestId\":\"req-7\",\"correlation_id\":\"req-7\",\"tenant_id\":\"tenant-42\",\
             \"function_name\":\"orders\",\"cold_start\":false,\
             \"xray_trace_id\":\"Root=1-6745f3a1-5b2c0d9e8f7a6b5c4d3e2f1a;Sampled=1\"}}\n\
             {PREFIX}\"level\":\"INFO\",\"target\":\"orders\",\"message\":\"handled\",\
             \"requestId\":\"req-8\",\"correlation_id\":\"req-8\",\"function_name\":\"orders\",\
             \"cold_start\":false}}\n"
        )
    );
}

/// The event the tests below send: `steps` DEBUG lines, an INFO line, then the outcome.
#[derive(Debug, Deserialize)]
struct Work {
    steps: u32,
    outcome: String,
}

fn works()
-> impl Service<LambdaEvent<Work>, Response = (), Error = Diagnostic, Future: 'static> + Clone {
    tower::service_fn(|event: LambdaEvent<Work>| async move {
        let Work { steps, outcome } = event.payload;
        for step in 1..=steps {
            tracing::debug!(target: "orders", step, "working");
        }
        tracing::info!(target: "orders", "worked");
        match outcome.as_str() {
            "fail" => Err(Diagnostic {
                error_type: "Orders.Failed".to_owned(),
                error_message: "the order could not be stored".to_owned(),
            }),
            "panic" => panic!("order {steps} broke"),
            "log error" => {
                tracing::error!(target: "orders", "a part failed");
                tracing::debug!(target: "orders", "after the error");
                Ok(())
            }
            _ => Ok(()),
        }
    })
}

fn work(request_id: &str, steps: u32, outcome: &str) -> (Context, String) {
    (
        context(request_id),
        format!(r#"{{"steps":{steps},"outcome":"{outcome}"}}"#),
    )
}

fn ids(request_id: &str) -> String {
    format!(
        "\"requestId\":\"{request_id}\",\"correlation_id\":\"{request_id}\",\
         \"function_name\":\"orders\",\"cold_start\":false"
    )
}

fn debug_line(request_id: &str, step: u32) -> String {
    format!(
        "{PREFIX}\"level\":\"DEBUG\",\"target\":\"orders\",\"message\":\"working\",\
         \"step\":{step},{}}}\n",
        ids(request_id)
    )
}

fn info_line(request_id: &str) -> String {
    format!(
        "{PREFIX}\"level\":\"INFO\",\"target\":\"orders\",\"message\":\"worked\",{}}}\n",
        ids(request_id)
    )
}

fn error_line(request_id: &str) -> String {
    format!(
        "{PREFIX}\"level\":\"ERROR\",\"target\":\"tern_runtime::invocation\",\
         \"message\":\"the order could not be stored\",\"errorType\":\"Orders.Failed\",{}}}\n",
        ids(request_id)
    )
}

#[test]
fn one_error_line_per_failed_invocation() {
    let lines = run::<Work, _>(
        &[],
        works(),
        vec![
            work("req-1", 0, "fail"),
            (
                context("req-2"),
                r#"{"steps":"four","outcome":"ok"}"#.to_owned(),
            ),
            work("req-3", 0, "ok"),
        ],
    );
    assert_eq!(
        lines,
        info_line("req-1")
            + &error_line("req-1")
            + &format!(
                "{PREFIX}\"level\":\"ERROR\",\"target\":\"tern_runtime::invocation\",\
                 \"message\":\"the event does not match the handler's input type: [steps] \
                 invalid type: string, expected u32 at line 1 column 15\",\
                 \"errorType\":\"Runtime.UnmarshalError\",{}}}\n",
                ids("req-2")
            )
            + &info_line("req-3")
    );
}

#[test]
fn a_panic_is_the_invocations_one_error_line_with_its_location() {
    let lines = run::<Work, _>(&[], works(), vec![work("req-1", 3, "panic")]);
    let lines: Vec<serde_json::Value> = lines
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let error = &lines[1];
    assert_eq!(error["level"], "ERROR");
    assert_eq!(error["target"], "tern_runtime::invocation");
    assert_eq!(error["errorType"], "Runtime.HandlerPanic");
    assert_eq!(error["message"], "handler panicked: order 3 broke");
    assert_eq!(error["requestId"], "req-1");
    let location = error["panic.location"].as_str().unwrap();
    assert!(
        location.starts_with("runtime/src/invocation_tests.rs:"),
        "{location}"
    );
}

#[test]
fn sampling_at_rate_zero_and_one() {
    let events = || vec![work("req-1", 2, "ok"), work("req-2", 1, "ok")];
    let level = ("AWS_LAMBDA_LOG_LEVEL", "INFO");
    let none = run::<Work, _>(&[level, ("TERN_LOG_SAMPLE_RATE", "0")], works(), events());
    assert_eq!(none, info_line("req-1") + &info_line("req-2"));
    let all = debug_line("req-1", 1)
        + &debug_line("req-1", 2)
        + &info_line("req-1")
        + &debug_line("req-2", 1)
        + &info_line("req-2");
    let sampled = run::<Work, _>(&[level, ("TERN_LOG_SAMPLE_RATE", "1")], works(), events());
    assert_eq!(sampled, all);
    // Powertools' name for it.
    let powertools = run::<Work, _>(
        &[level, ("POWERTOOLS_LOGGER_SAMPLE_RATE", "1.0")],
        works(),
        events(),
    );
    assert_eq!(powertools, all);
    // Outside an invocation DEBUG stays off.
    let outside = Capture::default();
    let settings = LogSettings::from_vars([level, ("TERN_LOG_SAMPLE_RATE", "1")]);
    tracing::dispatcher::with_default(
        &crate::logging::dispatch(&settings, outside.clone(), FixedTime),
        || tracing::debug!(target: "orders", "at init"),
    );
    assert!(outside.0.lock().unwrap().is_empty());
}

#[test]
fn buffered_lines_are_written_before_the_error_and_only_then() {
    let buffering = [
        ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
        ("TERN_LOG_BUFFER", "true"),
    ];
    let lines = run::<Work, _>(
        &buffering,
        works(),
        vec![
            work("req-1", 2, "fail"),
            work("req-2", 2, "ok"),
            work("req-3", 1, "log error"),
        ],
    );
    assert_eq!(
        lines,
        // Failed: its DEBUG lines, in order, before the error line.
        info_line("req-1")
            + &debug_line("req-1", 1)
            + &debug_line("req-1", 2)
            + &error_line("req-1")
            // Succeeded: none of them.
            + &info_line("req-2")
            // Logged at ERROR: the lines before it; what comes after is discarded.
            + &info_line("req-3")
            + &debug_line("req-3", 1)
            + &format!(
                "{PREFIX}\"level\":\"ERROR\",\"target\":\"orders\",\"message\":\"a part failed\",{}}}\n",
                ids("req-3")
            )
    );
}

#[test]
fn the_buffer_keeps_the_newest_lines_within_its_bound_and_counts_the_rest() {
    let line = debug_line("req-1", 1).len();
    // Room for two DEBUG lines (steps 8 and 9 take as many bytes as step 1), not three.
    let bound = (2 * line + line / 2).to_string();
    let lines = run::<Work, _>(
        &[
            ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
            ("TERN_LOG_BUFFER", "true"),
            ("TERN_LOG_BUFFER_MAX_BYTES", &bound),
        ],
        works(),
        vec![work("req-1", 9, "fail")],
    );
    assert_eq!(
        lines,
        info_line("req-1")
            + &format!(
                "{PREFIX}\"level\":\"WARN\",\"target\":\"tern_runtime::logging\",\"message\":\
                 \"the log buffer was full: 7 older lines below the level were dropped \
                 (TERN_LOG_BUFFER_MAX_BYTES)\",\"dropped_lines\":7,\"requestId\":\"req-1\",\
                 \"correlation_id\":\"req-1\"}}\n"
            )
            + &debug_line("req-1", 8)
            + &debug_line("req-1", 9)
            + &error_line("req-1")
    );
    // What was written of the buffer is within the bound.
    let kept: usize = lines
        .lines()
        .filter(|l| l.contains("\"DEBUG\""))
        .map(|l| l.len() + 1)
        .sum();
    assert!(kept <= bound.parse().unwrap(), "{kept}");
}

#[test]
fn invalid_sampling_and_buffering_variables_are_init_errors() {
    let cases = [
        (
            ("TERN_LOG_SAMPLE_RATE", "10%"),
            "environment variable `TERN_LOG_SAMPLE_RATE` is invalid: `10%` is not a number; use \
             a number from 0 to 1, e.g. `0.1`",
        ),
        (
            ("POWERTOOLS_LOGGER_SAMPLE_RATE", "2"),
            "environment variable `POWERTOOLS_LOGGER_SAMPLE_RATE` is invalid: `2` is out of \
             range; use a number from 0 to 1",
        ),
        (
            ("TERN_LOG_BUFFER", "yes"),
            "environment variable `TERN_LOG_BUFFER` is invalid: `yes` is not one of the \
             choices; use `true` or `false`",
        ),
        (
            ("TERN_LOG_BUFFER_MAX_BYTES", "0"),
            "environment variable `TERN_LOG_BUFFER_MAX_BYTES` is invalid: `0` is out of range; \
             use a whole number from 1 to 16777216",
        ),
        (
            ("TERN_AWS_DEADLINE_MARGIN_MS", "1s"),
            "environment variable `TERN_AWS_DEADLINE_MARGIN_MS` is invalid: `1s` is not a \
             whole number of milliseconds; use a whole number of milliseconds from 0 to 900000",
        ),
    ];
    for ((name, value), message) in cases {
        let env = Env::from_vars([(name, value)]);
        let error = InvocationLayer::from(&env, Correlation::for_event::<Plain>).unwrap_err();
        assert_eq!(error.error_type(), "Runtime.InvalidEnvironmentVariable");
        assert_eq!(error.to_string(), message);
    }
}

/// The body lambda_runtime would decode, and the one the guard would see.
type Seen = (Vec<u8>, Option<Vec<u8>>);

/// Records what each invocation hands on.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl Service<LambdaInvocation> for Recorder {
    type Response = ();
    type Error = lambda_runtime::Error;
    type Future = std::future::Ready<Result<(), lambda_runtime::Error>>;

    fn poll_ready(&mut self, _: &mut task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let original = decoding_body(<[u8]>::to_vec);
        self.0
            .lock()
            .unwrap()
            .push((invocation.body.to_vec(), original));
        std::future::ready(Ok(()))
    }
}

#[tokio::test]
async fn a_body_that_is_not_utf8_never_reaches_lambda_runtime_and_stays_visible_to_the_guard() {
    let recorder = Recorder::default();
    let mut service = InvocationLayer::new().layer(recorder.clone());
    for body in [
        &b"{\"m\":\"\xc3\xa9\"}"[..],
        b"{\"m\":\"\xff\"}",
        b"\xed\xa0\x80",
    ] {
        service
            .call(LambdaInvocation {
                parts: http::Response::new(()).into_parts().0,
                body: Bytes::from_static(body),
                context: context("req"),
            })
            .await
            .unwrap();
    }
    let seen = recorder.0.lock().unwrap().clone();
    let expected: Vec<Seen> = vec![
        (
            b"{\"m\":\"\xc3\xa9\"}".to_vec(),
            Some(b"{\"m\":\"\xc3\xa9\"}".to_vec()),
        ),
        (Vec::new(), Some(b"{\"m\":\"\xff\"}".to_vec())),
        (Vec::new(), Some(b"\xed\xa0\x80".to_vec())),
    ];
    assert_eq!(seen, expected);
}
