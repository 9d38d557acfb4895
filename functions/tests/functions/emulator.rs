//! The runtime through the official Lambda Runtime Interface Emulator, on the real `bootstrap`.
//!
//! `make test` points `TERN_BOOTSTRAP` at the `cargo lambda build --release` artifact, so the
//! panic handling proven here is the one that ships (release profile, `panic = "unwind"`).

use std::time::Duration;

use serde_json::{Value, json};
use tern_testkit::{Emulator, EmulatorBuilder};

use crate::support::{LOG_WAIT, bootstrap, init_line};

fn emulator() -> EmulatorBuilder {
    Emulator::builder(bootstrap())
}

/// Waits until the runtime has written `count` JSON lines with `message` inside invocations,
/// and returns every line written inside an invocation (those carrying a `requestId`).
fn invocation_lines(emulator: &Emulator, message: &str, count: usize) -> Vec<Value> {
    emulator
        .wait_for_json_logs(LOG_WAIT, |lines| {
            lines
                .iter()
                .filter(|l| l.get("requestId").is_some() && l["message"] == message)
                .count()
                >= count
        })
        .into_iter()
        .filter(|l| l.get("requestId").is_some())
        .collect()
}

#[test]
fn valid_event_gets_its_response() {
    let emulator = emulator().handler("echo").start();
    let got = emulator.invoke(r#"{"message":"héllo wörld"}"#);
    assert_eq!(got.status, 200);
    assert_eq!(got.body, r#"{"message":"héllo wörld","length":11}"#);
}

#[test]
fn malformed_event_names_the_bad_field_and_the_next_invocation_succeeds() {
    let emulator = emulator().handler("echo").start();
    let bad = emulator.invoke(r#"{"message": 42}"#);
    assert_eq!(bad.status, 200, "{}", bad.body);
    assert_eq!(
        bad.json(),
        json!({
            "errorType": "Runtime.UnmarshalError",
            "errorMessage": "the event does not match the handler's input type: [message] invalid type: \
                             integer, expected a string at line 1 column 14"
        })
    );
    let unknown = emulator.invoke(r#"{"message":"x","colour":"red"}"#);
    assert!(
        unknown
            .error_message()
            .unwrap_or_default()
            .contains("unknown field (name withheld)"),
        "{}",
        unknown.body
    );
    let not_json = emulator.invoke("<order/>");
    assert_eq!(
        not_json.error_message().as_deref(),
        Some(
            "the event does not match the handler's input type: expected value at line 1 column 1"
        ),
        "{}",
        not_json.body
    );

    let pid = emulator.runtime_pid().expect("runtime is running");
    let good = emulator.invoke(r#"{"message":"ok"}"#);
    assert_eq!(good.body, r#"{"message":"ok","length":2}"#);
    assert_eq!(
        emulator.runtime_pid(),
        Some(pid),
        "the runtime process was restarted"
    );
}

#[test]
fn panic_becomes_an_error_response_and_the_next_invocation_is_served() {
    let emulator = emulator().handler("echo").start();
    let first = emulator.invoke(r#"{"message":"warm up"}"#);
    assert_eq!(first.status, 200);
    let pid = emulator.runtime_pid().expect("runtime is running");

    let panicked = emulator.invoke(r#"{"message":"boom","fail":"panic"}"#);
    assert_eq!(
        panicked.json(),
        json!({
            "errorType": "Runtime.HandlerPanic",
            "errorMessage": "handler panicked: echo was asked to panic (message: \"boom\")"
        })
    );
    let after = emulator.invoke(r#"{"message":"still here"}"#);
    assert_eq!(after.body, r#"{"message":"still here","length":10}"#);
    assert_eq!(
        emulator.runtime_pid(),
        Some(pid),
        "the panic restarted the runtime process"
    );

    // The panic is the invocation's one structured error line, not a stderr dump.
    let panic_message = "handler panicked: echo was asked to panic (message: \"boom\")";
    let panic_line = invocation_lines(&emulator, panic_message, 1)
        .into_iter()
        .find(|l| l["message"] == panic_message)
        .expect("a panic log line");
    assert_eq!(panic_line["level"], "ERROR");
    assert_eq!(panic_line["errorType"], "Runtime.HandlerPanic");
    assert!(
        panic_line["panic.location"]
            .as_str()
            .unwrap()
            .contains("echo.rs")
    );
}

#[test]
fn every_failed_invocation_is_one_error_line_without_debug_text() {
    let emulator = emulator().handler("echo").start();
    let failures = [
        (
            r#"{"message":"no","fail":"error"}"#,
            "Echo.RequestedFailure",
            "echo was asked to fail (message: \"no\")",
        ),
        (
            r#"{"message": 42}"#,
            "Runtime.UnmarshalError",
            "the event does not match the handler's input type: [message] invalid type: integer, \
             expected a string at line 1 column 14",
        ),
        (
            r#"{"message":"boom","fail":"panic"}"#,
            "Runtime.HandlerPanic",
            "handler panicked: echo was asked to panic (message: \"boom\")",
        ),
    ];
    for (event, error_type, message) in failures {
        let answer = emulator.invoke(event);
        assert_eq!(
            answer.json(),
            json!({"errorType": error_type, "errorMessage": message})
        );
    }
    assert_eq!(emulator.invoke(r#"{"message":"ok"}"#).status, 200);
    emulator.wait_for_logs(LOG_WAIT, |logs| {
        logs.matches("REPORT RequestId").count() >= 4
    });
    std::thread::sleep(Duration::from_millis(300));

    let lines = emulator.json_logs();
    let errors: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    let summary: Vec<Value> = errors
        .iter()
        .map(|l| json!([l["target"], l["errorType"], l["message"]]))
        .collect();
    let expected: Vec<Value> = failures
        .iter()
        .map(|(_, error_type, message)| json!(["tern_runtime::invocation", error_type, message]))
        .collect();
    assert_eq!(summary, expected, "{}", emulator.logs());
    let mut request_ids = Vec::new();
    for line in &errors {
        let request_id = line["requestId"].as_str().expect("a request id");
        // No correlation id in an echo event: the request id stands in.
        assert_eq!(line["correlation_id"], request_id, "{line}");
        request_ids.push(request_id);
    }
    request_ids.dedup();
    assert_eq!(request_ids.len(), 3, "one line per invocation: {errors:?}");
    let logs = emulator.logs();
    assert!(!logs.contains("Diagnostic"), "{logs}");
    assert!(!logs.contains("lambda_runtime::layers"), "{logs}");
}

#[test]
fn handler_error_keeps_its_error_type() {
    let emulator = emulator().handler("echo").start();
    let got = emulator.invoke(r#"{"message":"no","fail":"error"}"#);
    assert_eq!(
        got.json(),
        json!({"errorType": "Echo.RequestedFailure", "errorMessage": "echo was asked to fail (message: \"no\")"})
    );
}

#[test]
fn unknown_handler_is_an_init_error_listing_registered_names() {
    let emulator = emulator().handler("kinesis2").start();
    let got = emulator.invoke(r#"{"message":"x"}"#);
    assert_eq!(got.status, 502, "{}", got.body);
    assert_eq!(got.error_type().as_deref(), Some("Runtime.UnknownHandler"));
    assert_eq!(
        got.error_message().as_deref(),
        Some(
            "unknown handler `kinesis2` (from _HANDLER); registered handlers: echo, s3, sns, sqs, \
             kinesis, kafka, api, http-echo. Set the function's Handler (zip or layer) or the image CMD \
             to one of them"
        )
    );
    // The runtime exited non-zero after reporting (the emulator logs the exit).
    emulator.wait_for_logs(LOG_WAIT, |logs| logs.contains("exited: exit status 1"));
}

#[test]
fn argument_selects_the_handler_before_handler_env() {
    let emulator = emulator().arg("echo").handler("no-such-handler").start();
    let got = emulator.invoke(r#"{"message":"cmd wins"}"#);
    assert_eq!(got.body, r#"{"message":"cmd wins","length":8}"#);
    let init = init_line(&emulator);
    assert_eq!(init["handler"], "echo");
    assert_eq!(init["selected_by"], "the first command-line argument");
    assert_eq!(init["runtime"], "CurrentThread");
}

#[test]
fn json_logs_carry_request_id_function_name_and_cold_start() {
    let emulator = emulator()
        .handler("echo")
        .function_name("orders-prod")
        .start();
    for message in ["one", "two", "three"] {
        assert_eq!(
            emulator.invoke_json(&json!({"message": message})).status,
            200
        );
    }
    let lines: Vec<Value> = invocation_lines(&emulator, "echo", 3)
        .into_iter()
        .filter(|l| l["message"] == "echo")
        .collect();
    assert_eq!(lines.len(), 3, "{}", emulator.logs());
    let cold: Vec<&Value> = lines.iter().map(|l| &l["cold_start"]).collect();
    assert_eq!(cold, [&json!(true), &json!(false), &json!(false)]);
    let mut request_ids: Vec<&str> = lines
        .iter()
        .map(|l| l["requestId"].as_str().unwrap())
        .collect();
    for line in &lines {
        assert_eq!(line["function_name"], "orders-prod");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["target"], "tern_functions::echo");
        assert_eq!(
            line["requestId"].as_str().unwrap().len(),
            36,
            "a UUID request id"
        );
    }
    request_ids.dedup();
    assert_eq!(
        request_ids.len(),
        3,
        "each invocation has its own request id"
    );
}

#[test]
fn text_format_and_level_follow_lambda_log_controls() {
    let text = emulator()
        .handler("echo")
        .env("AWS_LAMBDA_LOG_FORMAT", "Text")
        .start();
    assert_eq!(text.invoke(r#"{"message":"t"}"#).status, 200);
    let logs = text.wait_for_logs(Duration::from_secs(5), |l| l.contains("echo length=1"));
    let line = logs.lines().find(|l| l.contains("echo length=1")).unwrap();
    assert!(line.contains(" INFO invocation{"), "{line}");
    assert!(line.contains("cold_start=true"), "{line}");
    assert!(line.contains("function_name=tern-test"), "{line}");
    assert!(line.contains("requestId="), "{line}");

    // AWS_LAMBDA_LOG_LEVEL wins over RUST_LOG.
    let quiet = emulator()
        .handler("echo")
        .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
        .env("RUST_LOG", "trace")
        .start();
    assert_eq!(quiet.invoke(r#"{"message":"q"}"#).status, 200);
    assert_eq!(
        quiet.invoke(r#"{"message":"q","fail":"error"}"#).status,
        200
    );
    let levels: Vec<String> = quiet
        .wait_for_json_logs(LOG_WAIT, |lines| {
            lines.iter().any(|l| l["level"] == "ERROR")
        })
        .iter()
        .map(|l| l["level"].as_str().unwrap().to_owned())
        .collect();
    assert!(!levels.is_empty(), "{}", quiet.logs());
    assert!(
        levels.iter().all(|l| l == "WARN" || l == "ERROR"),
        "{levels:?}"
    );
}

#[test]
fn max_concurrency_runs_invocations_concurrently() {
    let emulator = emulator().handler("echo").managed_instances(4).start();
    let answers: Vec<String> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..4)
            .map(|i| {
                let emulator = &emulator;
                scope.spawn(move || {
                    emulator
                        .invoke_json(&json!({"message": format!("m{i}"), "delay_ms": 700}))
                        .body
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    for (i, body) in answers.iter().enumerate() {
        assert_eq!(body, &format!(r#"{{"message":"m{i}","length":2}}"#));
    }
    // Concurrent: all four were waiting before any finished.
    let lines = invocation_lines(&emulator, "echo", 4);
    let events: Vec<String> = lines
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect();
    let first_done = events
        .iter()
        .position(|m| m == "echo")
        .expect("an echo line");
    let waiting_before = events[..first_done]
        .iter()
        .filter(|m| *m == "echo waiting")
        .count();
    assert_eq!(waiting_before, 4, "{events:?}");
    let cold: usize = lines
        .iter()
        .filter(|l| l["message"] == "echo waiting" && l["cold_start"] == json!(true))
        .count();
    assert_eq!(cold, 1, "exactly one invocation is the cold start");
    assert_eq!(init_line(&emulator)["runtime"], "MultiThread");
}

/// The messages an invocation of echo logs, in order, by what happened to it: succeeded or
/// failed, sampled or not (buffering on, INFO level, a delay).
fn echo_lines(failed: bool, sampled: bool) -> &'static [&'static str] {
    match (failed, sampled) {
        (false, false) => &["echo waiting", "echo"],
        (false, true) => &["echo received", "echo waiting", "echo checked", "echo"],
        // Its DEBUG lines were buffered, and come out before the error line.
        (true, false) => &["echo waiting", "echo received", "echo checked", "<error>"],
        (true, true) => &["echo received", "echo waiting", "echo checked", "<error>"],
    }
}

#[test]
fn concurrent_invocations_never_share_ids_lines_buffers_or_sampling_decisions() {
    const WORKERS: usize = 8;
    const EACH: usize = 200;
    let emulator = emulator()
        .handler("echo")
        .managed_instances(WORKERS as u32)
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .env("TERN_LOG_BUFFER", "true")
        .env("TERN_LOG_SAMPLE_RATE", "0.5")
        .env("TERN_LOG_CORRELATION_ID_POINTER", "/message")
        .start();
    // Every fifth invocation fails; each waits 1 to 3 ms, so invocations interleave.
    let fails = |i: usize| i.is_multiple_of(5);
    std::thread::scope(|scope| {
        for worker in 0..WORKERS {
            let emulator = &emulator;
            scope.spawn(move || {
                for i in 0..EACH {
                    let id = format!("w{worker}-{i}");
                    let mut event = json!({"message": id, "delay_ms": 1 + i % 3});
                    if fails(i) {
                        event["fail"] = json!("error");
                    }
                    // The emulator does not queue: with all eight runtime workers between
                    // an answer and their next poll, it refuses the invocation unsent.
                    let answer = loop {
                        let answer = emulator.invoke_json(&event);
                        if answer.json() != json!({"errorType": "Runtime.Unavailable"}) {
                            break answer;
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    };
                    let expected = if fails(i) {
                        json!({
                            "errorType": "Echo.RequestedFailure",
                            "errorMessage": format!("echo was asked to fail (message: \"{id}\")"),
                        })
                    } else {
                        json!({"message": id, "length": id.len()})
                    };
                    assert_eq!(answer.json(), expected, "{id}");
                }
            });
        }
    });
    let total = WORKERS * EACH;
    let failures = WORKERS * EACH.div_ceil(5);
    let lines = emulator.wait_for_json_logs(Duration::from_secs(60), |lines| {
        lines.iter().filter(|l| l["message"] == "echo").count() == total - failures
            && lines.iter().filter(|l| l["level"] == "ERROR").count() == failures
    });

    // Every line of an invocation carries its own ids: one request id per correlation id
    // (the event's message) and the other way round, and no id that was not sent.
    let mut by_id: std::collections::BTreeMap<String, (String, Vec<String>)> = Default::default();
    let mut request_ids = std::collections::BTreeSet::new();
    // (A sampled invocation also logs lambda_runtime's and hyper's DEBUG lines: they carry
    // its ids, and are left out of the sequences below.)
    let ours = |l: &&Value| {
        l["target"] == "tern_functions::echo" || l["target"] == "tern_runtime::invocation"
    };
    for line in lines.iter().filter(|l| l.get("requestId").is_some()) {
        let id = line["correlation_id"].as_str().expect("a correlation id");
        let request_id = line["requestId"].as_str().unwrap();
        let message = if line["level"] == "ERROR" {
            assert_eq!(line["errorType"], "Echo.RequestedFailure", "{line}");
            assert_eq!(
                line["message"],
                format!("echo was asked to fail (message: \"{id}\")"),
                "{line}"
            );
            "<error>".to_owned()
        } else {
            line["message"].as_str().unwrap().to_owned()
        };
        let (seen_request_id, messages) = by_id
            .entry(id.to_owned())
            .or_insert_with(|| (request_id.to_owned(), Vec::new()));
        assert_eq!(seen_request_id, request_id, "{id}: two request ids");
        request_ids.insert(request_id.to_owned());
        if ours(&line) {
            messages.push(message);
        }
    }
    assert_eq!(
        by_id.len(),
        total,
        "every invocation logged, under its own id"
    );
    assert_eq!(
        request_ids.len(),
        total,
        "no request id shared by two invocations"
    );

    // Each invocation's lines are exactly what its own outcome and sampling decision give.
    let mut sampled = [0usize; 2];
    for worker in 0..WORKERS {
        for i in 0..EACH {
            let id = format!("w{worker}-{i}");
            let (_, messages) = &by_id[&id];
            let was_sampled = messages[0] == "echo received";
            assert_eq!(
                messages,
                echo_lines(fails(i), was_sampled),
                "{id}: {messages:?}"
            );
            sampled[usize::from(was_sampled)] += 1;
        }
    }
    // Sampling is decided per invocation: about half of them, never all or none.
    assert!(
        (total / 4..total * 3 / 4).contains(&sampled[1]),
        "sampled {sampled:?}"
    );
}

#[test]
fn sigterm_runs_shutdown_hooks_and_exits_cleanly() {
    let emulator = emulator().handler("echo").start();
    assert_eq!(emulator.invoke(r#"{"message":"x"}"#).status, 200);
    assert_eq!(emulator.invoke(r#"{"message":"y"}"#).status, 200);
    assert_eq!(
        emulator.invoke(r#"{"message":"z","fail":"error"}"#).status,
        200
    );
    let pid = emulator.runtime_pid().expect("runtime is running");
    // SAFETY: signalling the runtime process this test started.
    assert_eq!(unsafe { libc_kill(pid as i32, 15) }, 0);
    let lines = emulator.wait_for_json_logs(LOG_WAIT, |lines| {
        lines.iter().any(|l| l["message"] == "shutdown: complete")
    });
    let shutdown: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"].as_str().is_some_and(|m| m.contains("shut")))
        .collect();
    assert_eq!(shutdown.len(), 3, "{shutdown:?}");
    assert_eq!(shutdown[0]["message"], "shutdown: running hooks");
    assert_eq!(shutdown[0]["hooks"], 1);
    // The hook ran with the handler's state: two answered invocations (the error is not one).
    assert_eq!(shutdown[1]["message"], "echo shutting down");
    assert_eq!(shutdown[1]["answered"], 2);
    assert_eq!(shutdown[2]["message"], "shutdown: complete");
    emulator.wait_for_logs(LOG_WAIT, |logs| logs.contains("exited: exit status 0"));
}

#[test]
fn a_panicking_test_leaves_no_emulator_or_runtime_behind() {
    let pids = std::sync::Mutex::new(None);
    let outcome = std::panic::catch_unwind(|| {
        let emulator = emulator().handler("echo").start();
        assert_eq!(emulator.invoke(r#"{"message":"x"}"#).status, 200);
        let runtime = emulator.runtime_pid().expect("runtime is running");
        *pids.lock().unwrap() = Some(runtime);
        panic!("test failure inside the harness");
    });
    assert!(outcome.is_err());
    let runtime = pids.lock().unwrap().expect("runtime pid recorded");
    let gone = |pid: u32| !std::path::Path::new(&format!("/proc/{pid}")).exists();
    let deadline = std::time::Instant::now() + LOG_WAIT;
    while !gone(runtime) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        gone(runtime),
        "runtime {runtime} survived its emulator guard"
    );
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}
