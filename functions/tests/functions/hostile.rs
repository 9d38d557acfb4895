//! Hostile events through the emulator: bytes that are not UTF-8 at every log level, record
//! fields no AWS service sends, values that do not fit their field, and responses too large
//! to store. Each one is answered with a clear error, and the process keeps serving.

use serde_json::{Value, json};
use tern_testkit::{Emulator, Scenario, scenario::NOTIFICATIONS_TABLE};

use crate::support::{self, LOG_WAIT, bootstrap, builder, seed_s3_idempotent, seeded};

/// Every handler the `bootstrap` registers, from its registry (a new handler cannot be missed).
fn handlers() -> Vec<&'static str> {
    tern_functions::bootstrap().handler_names()
}

/// The ways a log level reaches the runtime: `AWS_LAMBDA_LOG_LEVEL` at TRACE (where
/// lambda_runtime 1.5 would log the raw body), DEBUG and INFO; and `RUST_LOG` alone, as a plain
/// level and as a directive for lambda_runtime only (which the runtime hands to `EnvFilter`).
const LOG_SETTINGS: [(&str, &str); 5] = [
    ("AWS_LAMBDA_LOG_LEVEL", "TRACE"),
    ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
    ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
    ("RUST_LOG", "trace"),
    ("RUST_LOG", "lambda_runtime=trace"),
];

/// Events that are not UTF-8: a stray byte at the top level, inside a field no handler knows,
/// and a surrogate encoded as UTF-8 bytes (CESU-8, which UTF-8 forbids).
fn not_utf8(handler: &str) -> [Vec<u8>; 3] {
    let known = if handler == "echo" {
        r#""message":"x""#
    } else {
        r#""Records":[]"#
    };
    [
        b"\xff".to_vec(),
        [b"{", known.as_bytes(), b",\"note\":\"\xff\"}"].concat(),
        [b"{", known.as_bytes(), b",\"note\":\"\xed\xa0\x80\"}"].concat(),
    ]
}

/// One valid event per handler, to prove the process still serves after the bad ones.
fn valid(handler: &str) -> String {
    match handler {
        // No sample events of its own: an HTTP API request for its echo route.
        "http-echo" => json!({
            "version": "2.0",
            "routeKey": "GET /echo/{name}",
            "rawPath": "/echo/tern",
            "rawQueryString": "",
            "headers": {"host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "a1b2c3d4e5",
                "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
                "http": {
                    "method": "GET",
                    "path": "/echo/tern",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.10",
                    "userAgent": "curl/8.5.0"
                },
                "requestId": "hostile-1",
                "routeKey": "GET /echo/{name}",
                "stage": "$default",
                "time": "04/Dec/2026:14:51:56 +0000",
                "timeEpoch": 1796309516000_u64
            },
            "isBase64Encoded": false
        })
        .to_string(),
        _ => tern_testkit::tools::first_event(handler),
    }
}

#[test]
fn events_that_are_not_utf8_are_unmarshal_errors_at_every_level_and_the_process_survives() {
    let scenario = Scenario::start();
    let env = scenario.seed_every_handler();
    let handlers = handlers();
    assert!(handlers.contains(&"http-echo"), "{handlers:?}");
    for (variable, value) in LOG_SETTINGS {
        let level = format!("{variable}={value}");
        for &handler in &handlers {
            let function = builder(&scenario, handler, env.clone())
                .env(variable, value)
                .start();
            let warm = function.invoke(valid(handler));
            assert_eq!(warm.error_type(), None, "{level} {handler}: {}", warm.body);
            if handler == "http-echo" {
                // Routed, not a 404: the event is one the handler serves.
                assert_eq!(warm.json()["statusCode"], 200, "{level}: {}", warm.body);
            }
            let pid = function.runtime_pid().expect("runtime is running");
            for (index, event) in not_utf8(handler).iter().enumerate() {
                let got = function.invoke(event);
                let label = format!("{level} {handler} event {index}");
                assert_eq!(got.status, 200, "{label}: {}", got.body);
                got.expect_error_in(&label, "Runtime.UnmarshalError");
                assert_eq!(function.runtime_pid(), Some(pid), "{label}: restarted");
            }
            // The unknown field holding the bad bytes: the handler's type either refuses the
            // field by name (withheld) or skips it, and the bytes are found all the same.
            let inside = function.invoke(&not_utf8(handler)[1]);
            let message = inside.error_message().unwrap_or_default();
            // The unknown field's name is left out of the path too.
            let expected = match handler {
                "echo" => {
                    "the event does not match the handler's input type: unknown field (name \
                     withheld), expected one of `message`, `fail`, `delay_ms` at line 1 column 21"
                }
                // lambda_http reads every field to tell the event kind apart.
                "api" | "http-echo" => {
                    "the event does not match the handler's input type: invalid unicode code \
                     point at line 1 column 23"
                }
                _ => {
                    "the event does not match the handler's input type: the event is not valid \
                     UTF-8 (at byte 22)"
                }
            };
            assert_eq!(message, expected, "{level} {handler}");
            let after = function.invoke(valid(handler));
            assert_eq!(
                after.error_type(),
                None,
                "{level} {handler}: {}",
                after.body
            );
            assert_eq!(function.runtime_pid(), Some(pid), "{level} {handler}");
        }
    }
}

#[test]
fn a_client_context_lambda_runtime_cannot_read_is_an_error_answer_and_the_process_survives() {
    let function = Emulator::builder(bootstrap()).handler("echo").start();
    let readable = function.invoke_with_client_context(
        r#"{"message":"a"}"#,
        &json!({"custom": {"tenant": "acme"}, "env": {"locale": "en"}}),
    );
    assert_eq!(readable.body, r#"{"message":"a","length":1}"#);
    let pid = function.runtime_pid().expect("runtime is running");
    // `custom` must map to strings: lambda_runtime's run loop ends on this one.
    let unreadable = function
        .invoke_with_client_context(r#"{"message":"b"}"#, &json!({"custom": {"tenant": 4111}}));
    assert_eq!(
        unreadable.json(),
        json!({
            "errorType": "Runtime.InvalidInvocationContext",
            "errorMessage": "the invocation's context from Lambda cannot be read: invalid type: \
                             integer, expected a string at line 1 column 24; the client context of \
                             an Invoke call must be base64 JSON whose `custom` and `env` maps hold \
                             strings"
        })
    );
    for message in ["c", "d"] {
        let after = function.invoke(format!(r#"{{"message":"{message}"}}"#));
        assert_eq!(
            after.body,
            format!(r#"{{"message":"{message}","length":1}}"#)
        );
    }
    assert_eq!(
        function.runtime_pid(),
        Some(pid),
        "the runtime was restarted"
    );
}

fn s3_event(key: &str) -> String {
    let mut event: Value =
        serde_json::from_str(&tern_testkit::tools::event("s3", "1-orders-json.json")).unwrap();
    event["Records"][0]["s3"]["object"]["key"] = json!(key);
    event.to_string()
}

#[test]
fn object_keys_longer_than_s3_allows_are_invalid_records_before_any_aws_call() {
    let (_scenario, function) = seeded("s3", seed_s3_idempotent);
    let pid = {
        let first = function.invoke(s3_event("incoming/orders+2026-11-22.json"));
        assert_eq!(first.error_type(), None, "{}", first.body);
        function.runtime_pid().unwrap()
    };
    for bytes in [1_025, 100_000] {
        let got = function.invoke(s3_event(&"k".repeat(bytes)));
        assert_eq!(
            got.json(),
            json!({
                "errorType": "S3.InvalidRecord",
                "errorMessage": format!(
                    "record 0: s3.object.key is {bytes} bytes long once decoded; S3 keys are 1 \
                     to 1024 bytes"
                ),
            })
        );
        assert_eq!(function.runtime_pid(), Some(pid));
    }
}

fn sns_event(message: &str) -> String {
    let mut event: Value = serde_json::from_str(&tern_testkit::tools::first_event("sns")).unwrap();
    event["Records"][0]["Sns"]["Message"] = json!(message);
    event.to_string()
}

#[test]
fn payment_fields_of_the_wrong_type_are_named_without_their_value() {
    let (_scenario, function) = seeded("sns", Scenario::seed_sns);
    let payment = |amount: &str| {
        format!(
            r#"{{"payment_id":"p-1","order_id":"o-1","amount_cents":{amount},"currency":"EUR","status":"captured"}}"#
        )
    };
    let cases = [
        (
            r#""4111""#,
            "[amount_cents] invalid type: string, expected u64 at line 1 column 58",
        ),
        (
            "-4111",
            "[amount_cents] invalid value: integer, expected u64 at line 1 column 57",
        ),
        (
            "4111e400",
            "[amount_cents] number out of range at line 1 column 60",
        ),
    ];
    for (amount, reason) in cases {
        let got = function.invoke(sns_event(&payment(amount)));
        assert_eq!(
            got.json(),
            json!({
                "errorType": "Sns.InvalidMessage",
                "errorMessage": format!(
                    "message d2a8c1f0-6b3e-5a9d-8c7f-1e2d3c4b5a01: not a payment event: {reason}"
                ),
            }),
            "{amount}"
        );
        assert!(!got.body.contains("4111"), "{amount}: {}", got.body);
    }
}

#[test]
fn a_response_over_the_configured_limit_runs_the_handler_once_for_three_deliveries() {
    let scenario = Scenario::start();
    let mut env = scenario.seed_sns();
    env.push((
        "TERN_IDEMPOTENCY_MAX_RESPONSE_BYTES".to_owned(),
        "100".to_owned(),
    ));
    let function = support::function(&scenario, "sns", env);
    let event = tern_testkit::tools::first_event("sns");
    let first = function.invoke(&event);
    assert_eq!(first.error_type(), None, "{}", first.body);
    assert!(first.body.len() > 100, "{}", first.body);
    for _ in 0..2 {
        let duplicate = function.invoke(&event);
        duplicate.expect_error("Idempotency.ResponseNotStored");
    }
    // The handler ran once: one stored notification, logged once.
    assert_eq!(scenario.table_items(NOTIFICATIONS_TABLE).len(), 1);
    let lines = function.wait_for_json_logs(LOG_WAIT, |lines| {
        lines
            .iter()
            .filter(|l| l.get("requestId").is_some())
            .count()
            >= 3
    });
    let stored = lines
        .iter()
        .filter(|l| l["message"] == "notification stored")
        .count();
    assert_eq!(stored, 1, "{}", function.logs());
}
