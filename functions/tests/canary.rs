//! Secrets hygiene: every handler runs with canary secrets through its success and error
//! paths, and no canary may appear in anything the function emits — stdout and stderr (log
//! lines and EMF metric documents alike, both captured by the emulator) and the responses and
//! error responses it returns.
//!
//! The canaries are the secrets a Lambda function really holds: the execution role's
//! credentials (`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`; every handler signs its AWS
//! calls with them) and, for `sns`, the HMAC key fetched from Secrets Manager at init
//! ([`SIGNING_KEY`]). Error paths include handler errors, undecodable events, a panic, a
//! missing object, and moto stopped mid-run so every AWS call fails.

use std::time::Duration;

use tern_testkit::{Emulator, Invocation, Scenario, scenario::SIGNING_KEY};

const SECRET_ACCESS_KEY: &str = "canary-secret-access-key-5c2e81f0d9b7";
const SESSION_TOKEN: &str = "canary-session-token-a41f6e09c3d8";

fn event(handler: &str, name: &str) -> String {
    tern_testkit::tools::event(handler, name)
}

/// A function with the canary credentials, EMF metrics on, and TRACE logs: everything the
/// runtime, the middleware and the AWS SDK can log reaches the output.
fn function(scenario: &Scenario, handler: &str, env: Vec<(String, String)>) -> Emulator {
    Emulator::builder(tern_testkit::tools::bootstrap(env!(
        "CARGO_BIN_EXE_bootstrap"
    )))
    .handler(handler)
    .envs(scenario.function_env())
    .envs(env)
    .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
    .env("TERN_METRICS_NAMESPACE", "tern-canary")
    .env("AWS_LAMBDA_LOG_LEVEL", "TRACE")
    .start()
}

/// What one invocation must answer: `Ok(None)` any success, `Ok(Some(body))` this exact body,
/// `Err(errorType)` an error of this type.
type Expect = Result<Option<&'static str>, &'static str>;

struct Run {
    handler: &'static str,
    emulator: Emulator,
    answers: Vec<Invocation>,
}

impl Run {
    fn invoke(&mut self, payload: &str, expect: Expect) {
        let answer = self.emulator.invoke(payload);
        let label = format!("{} ← {}", self.handler, &payload[..payload.len().min(80)]);
        match expect {
            Ok(body) => {
                assert_eq!(answer.error_type(), None, "{label}: {}", answer.body);
                if let Some(body) = body {
                    assert_eq!(answer.body, body, "{label}");
                }
            }
            Err(error_type) => {
                assert_eq!(
                    answer.error_type().as_deref(),
                    Some(error_type),
                    "{label}: {}",
                    answer.body
                )
            }
        }
        self.answers.push(answer);
    }
}

fn assert_no_canary(run: &Run) {
    // Log lines travel to the emulator asynchronously: wait for every invocation's report
    // line, then a little for lines the runtime wrote after its response.
    run.emulator.wait_for_logs(Duration::from_secs(10), |logs| {
        logs.matches("REPORT RequestId").count() >= run.answers.len()
    });
    std::thread::sleep(Duration::from_millis(300));
    let output = run.emulator.logs();
    for canary in [SECRET_ACCESS_KEY, SESSION_TOKEN, SIGNING_KEY] {
        assert!(
            !output.contains(canary),
            "{}: `{canary}` leaked into the output:\n{output}",
            run.handler
        );
        for answer in &run.answers {
            assert!(
                !answer.body.contains(canary),
                "{}: `{canary}` leaked into a response: {}",
                run.handler,
                answer.body
            );
        }
    }
    // The paths ran and logged: EMF documents (every handler but echo has the metrics layer)
    // and at least one error line.
    if run.handler != "echo" {
        assert!(
            output.contains("\"Namespace\":\"tern-canary\""),
            "{}: no EMF:\n{output}",
            run.handler
        );
    }
    assert!(
        output.contains("\"level\":\"ERROR\"") || output.contains("\"level\":\"WARN\""),
        "{}: no error was logged:\n{output}",
        run.handler
    );
}

#[test]
fn no_canary_secret_reaches_output_or_responses_on_any_path() {
    let mut scenario = Scenario::start();
    let mut runs: Vec<Run> = scenario
        .seed_handlers()
        .into_iter()
        .map(|(handler, env)| Run {
            handler,
            emulator: function(&scenario, handler, env),
            answers: Vec::new(),
        })
        .collect();
    let [echo, s3, sns, sqs, kinesis] = &mut runs[..] else {
        unreachable!()
    };

    // Success and error paths with AWS up.
    echo.invoke(
        &event("echo", "1-hello.json"),
        Ok(Some(r#"{"message":"hello from tern","length":15}"#)),
    );
    echo.invoke(
        r#"{"message":"no","fail":"error"}"#,
        Err("Echo.RequestedFailure"),
    );
    echo.invoke(&event("echo", "4-panic.json"), Err("Runtime.HandlerPanic"));
    echo.invoke(
        &event("echo", "3-malformed.json"),
        Err("Runtime.UnmarshalError"),
    );
    for name in [
        "1-orders-json.json",
        "2-photo-png.json",
        "3-report-csv.json",
        "4-orders-json-duplicate.json",
        "5-unknown-bin.json",
    ] {
        s3.invoke(&event("s3", name), Ok(None));
    }
    s3.invoke(
        &event("s3", "1-orders-json.json").replace("orders+2026", "missing+2026"),
        Err("S3.RequestFailed"),
    );
    s3.invoke(r#"{"Records":[{"s3":{}}]}"#, Err("Runtime.UnmarshalError"));
    for name in [
        "1-payment-captured.json",
        "2-payment-captured-duplicate.json",
        "3-payment-refunded.json",
    ] {
        sns.invoke(&event("sns", name), Ok(None));
    }
    sns.invoke(
        &event("sns", "1-payment-captured.json")
            .replace("\"payment.captured\"", "\"payment.refunded\"")
            .replace("5a01", "5a09"),
        Err("Sns.InvalidMessage"),
    );
    sns.invoke(r#"{"Records": 5}"#, Err("Runtime.UnmarshalError"));
    sqs.invoke(&event("sqs", "1-orders.json"), Ok(None));
    sqs.invoke(&event("sqs", "2-orders-fifo.json"), Ok(None));
    sqs.invoke(r#"{"Records":[{"body":1}]}"#, Err("Runtime.UnmarshalError"));
    kinesis.invoke(&event("kinesis", "1-telemetry.json"), Ok(None));
    kinesis.invoke(
        r#"{"Records":[{"kinesis":{"data":"%%%"}}]}"#,
        Err("Runtime.UnmarshalError"),
    );

    // AWS gone: every SDK call fails, and its error travels through logs and responses.
    scenario.moto.stop();
    s3.invoke(
        &event("s3", "3-report-csv.json").replace("0062E1E1B8E5C0F8A3", "0062E1E1B8E5C0F8FF"),
        Err("Idempotency.PersistenceError"),
    );
    sns.invoke(
        &event("sns", "3-payment-refunded.json").replace("5a02", "5a0e"),
        Err("Idempotency.PersistenceError"),
    );
    sqs.invoke(
        &event("sqs", "2-orders-fifo.json"),
        Err("Batch.AllRecordsFailed"),
    );
    kinesis.invoke(
        &event("kinesis", "1-telemetry.json"),
        Err("Batch.AllRecordsFailed"),
    );

    for run in &runs {
        assert_no_canary(run);
    }
}
