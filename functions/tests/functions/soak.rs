//! Soak: 10,000 mixed valid and malformed invocations against one runtime process, through
//! the official Lambda Runtime Interface Emulator.
//!
//! Every invocation must get its exact answer (a response or an error with a stable
//! `errorType`), the runtime process must never restart (one pid throughout), and its resident
//! memory must stay flat once warm: what it holds after the first 2,000 invocations is what it
//! holds after 10,000, within a small allocator slack.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tern_testkit::Emulator;

use crate::support::bootstrap;

const INVOCATIONS: usize = 10_000;
/// RSS is sampled from here on: every kind of input, the largest included, has been seen many
/// times, so the allocator has grown to its working size.
const WARM_UP: usize = 2_000;
/// Allowed growth of the runtime's RSS between the end of warm-up and the end (KiB).
const RSS_SLACK_KIB: u64 = 1_024;

/// The kinds of input, cycled through with a stride so neighbours differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Valid,
    Unicode,
    HandlerError,
    Panic,
    WrongType,
    UnknownField,
    NotJson,
    InvalidUtf8,
    DeepJson,
    Empty,
    Null,
    TrailingGarbage,
    Huge,
}

const KINDS: [Kind; 13] = [
    Kind::Valid,
    Kind::Unicode,
    Kind::HandlerError,
    Kind::Panic,
    Kind::WrongType,
    Kind::UnknownField,
    Kind::NotJson,
    Kind::InvalidUtf8,
    Kind::DeepJson,
    Kind::Empty,
    Kind::Null,
    Kind::TrailingGarbage,
    Kind::Huge,
];

/// 256 KiB of message: large enough to move the allocator, small enough to keep the run short.
const HUGE_LEN: usize = 256 * 1024;

fn kind_of(i: usize) -> Kind {
    // Huge bodies every 97th invocation; the rest cycle through the other kinds.
    if i % 97 == 50 {
        Kind::Huge
    } else {
        KINDS[(i * 7) % (KINDS.len() - 1)]
    }
}

/// The error answer of type `error_type` saying `message`.
fn error(error_type: &str, message: String) -> Value {
    json!({"errorType": error_type, "errorMessage": message})
}

fn unmarshal(reason: &str) -> Value {
    error(
        "Runtime.UnmarshalError",
        format!("the event does not match the handler's input type: {reason}"),
    )
}

/// An echo event asking the handler to `fail` (`error` or `panic`).
fn failing(message: &str, fail: &str) -> Vec<u8> {
    json!({"message": message, "fail": fail})
        .to_string()
        .into_bytes()
}

/// The payload of invocation `i` and the exact answer it must get.
fn case(i: usize) -> (Vec<u8>, Value) {
    let message = format!("m-{i}");
    match kind_of(i) {
        Kind::Valid => (
            json!({"message": message}).to_string().into_bytes(),
            json!({"message": message, "length": message.len()}),
        ),
        Kind::Unicode => {
            let message = format!("grüße, 世界 {i} 🦀");
            (
                json!({"message": message}).to_string().into_bytes(),
                json!({"message": message, "length": message.chars().count()}),
            )
        }
        Kind::HandlerError => (
            failing(&message, "error"),
            error(
                "Echo.RequestedFailure",
                format!("echo was asked to fail (message: \"{message}\")"),
            ),
        ),
        Kind::Panic => (
            failing(&message, "panic"),
            error(
                "Runtime.HandlerPanic",
                format!("handler panicked: echo was asked to panic (message: \"{message}\")"),
            ),
        ),
        Kind::WrongType => (
            format!(r#"{{"message": {i}}}"#).into_bytes(),
            unmarshal(&format!(
                "[message] invalid type: integer, expected a string at line 1 column {}",
                12 + i.to_string().len()
            )),
        ),
        Kind::UnknownField => (
            format!(r#"{{"message":"{message}","secret":"s-{i}"}}"#).into_bytes(),
            unmarshal(&format!(
                "unknown field (name withheld), expected one of `message`, `fail`, `delay_ms` \
                 at line 1 column {}",
                message.len() + 22
            )),
        ),
        Kind::NotJson => (
            format!("<order id=\"{i}\"/>").into_bytes(),
            unmarshal("expected value at line 1 column 1"),
        ),
        Kind::InvalidUtf8 => {
            let mut payload = br#"{"message":""#.to_vec();
            payload.extend_from_slice(&[0xff, 0xfe, b'x']);
            payload.extend_from_slice(br#""}"#);
            (
                payload,
                unmarshal("[message] invalid unicode code point at line 1 column 13"),
            )
        }
        Kind::DeepJson => {
            let depth = 10_000;
            let payload = format!(
                r#"{{"message":"{message}","fail":{}{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            (
                payload.into_bytes(),
                unmarshal(&format!(
                    "[fail] expected value at line 1 column {}",
                    message.len() + 22
                )),
            )
        }
        Kind::Empty => (
            Vec::new(),
            unmarshal("EOF while parsing a value at line 1 column 0"),
        ),
        Kind::Null => (
            b"null".to_vec(),
            unmarshal("invalid type: value, expected struct EchoRequest at line 1 column 4"),
        ),
        // lambda_runtime decodes the first JSON value and ignores what follows. Lambda's Invoke
        // API rejects a payload that is not JSON before it reaches a runtime, so this input
        // exists only under the emulator; it must still get an answer.
        Kind::TrailingGarbage => (
            format!(r#"{{"message":"{message}"}} trailing"#).into_bytes(),
            json!({"message": message, "length": message.len()}),
        ),
        Kind::Huge => {
            let message = "λ".repeat(HUGE_LEN / 2);
            (
                json!({"message": message}).to_string().into_bytes(),
                json!({"message": message, "length": HUGE_LEN / 2}),
            )
        }
    }
}

#[test]
fn ten_thousand_mixed_invocations_one_process_flat_memory() {
    let emulator = Emulator::builder(bootstrap())
        .handler("echo")
        // Quiet logs: the process under test writes nothing per valid invocation, so the test
        // measures the runtime, not the pipe to the emulator.
        .env("AWS_LAMBDA_LOG_LEVEL", "ERROR")
        .start();
    let started = Instant::now();
    let mut pid = None;
    let mut rss_after_warm_up = 0;
    let mut samples = Vec::new();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..INVOCATIONS {
        let (payload, expected) = case(i);
        let answer = emulator.invoke(&payload);
        assert_eq!(
            answer.status,
            200,
            "invocation {i} ({:?}): {}",
            kind_of(i),
            answer.body
        );
        let got: Value = serde_json::from_str(&answer.body)
            .unwrap_or_else(|err| panic!("invocation {i}: not JSON ({err}): {}", answer.body));
        assert_eq!(got, expected, "invocation {i} ({:?})", kind_of(i));
        *counts.entry(format!("{:?}", kind_of(i))).or_default() += 1;

        // Reading /proc for the pid costs more than an invocation: check every 100th (a
        // restarted runtime gets a new pid, so a restart in between is still caught).
        if i % 100 == 0 || i + 1 == INVOCATIONS {
            let now = emulator.runtime_pid().expect("the runtime is running");
            assert_eq!(
                *pid.get_or_insert(now),
                now,
                "the runtime restarted by invocation {i}"
            );
        }
        if (i + 1) % 1_000 == 0 {
            let rss = emulator.runtime_rss_kib().expect("runtime RSS");
            samples.push((i + 1, rss));
            if i + 1 == WARM_UP {
                rss_after_warm_up = rss;
            }
        }
    }
    let elapsed = started.elapsed();
    let (_, rss_end) = *samples.last().unwrap();
    eprintln!(
        "{INVOCATIONS} invocations in {elapsed:?}; RSS (KiB) every 1,000: {samples:?}; kinds {counts:?}"
    );
    assert!(
        rss_end <= rss_after_warm_up + RSS_SLACK_KIB,
        "RSS grew from {rss_after_warm_up} KiB after {WARM_UP} invocations to {rss_end} KiB: {samples:?}"
    );
    assert!(counts.len() == KINDS.len(), "every kind ran: {counts:?}");
    assert!(elapsed < Duration::from_secs(240), "too slow: {elapsed:?}");
}
