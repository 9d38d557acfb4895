//! Secrets hygiene: every handler runs with canary secrets through its success and error
//! paths, and no canary may appear in anything the function emits — stdout and stderr (log
//! lines and EMF metric documents alike, both captured by the emulator) and the responses and
//! error responses it returns. Hostile events carry a canary of their own in unknown keys and
//! bad values (the envelope the runtime decodes, and the payloads the handlers and the batch
//! layer decode): events may hold personal data, and a decode error never repeats them.
//!
//! The canaries are the secrets a Lambda function really holds: the execution role's
//! credentials (`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`; every handler signs its AWS
//! calls with them) and, for `sns`, the HMAC key fetched from Secrets Manager at init
//! ([`SIGNING_KEY`]). Error paths include handler errors, undecodable events, a panic, a
//! missing object, and moto stopped mid-run so every AWS call fails.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tern_testkit::{Emulator, Invocation, Scenario, scenario::SIGNING_KEY};

use crate::support::{LOG_WAIT, builder};

const SECRET_ACCESS_KEY: &str = "canary-secret-access-key-5c2e81f0d9b7";
const SESSION_TOKEN: &str = "canary-session-token-a41f6e09c3d8";

fn event(handler: &str, name: &str) -> String {
    tern_testkit::tools::event(handler, name)
}

/// A function with the canary credentials, EMF metrics on, and TRACE logs: everything the
/// runtime, the middleware and the AWS SDK can log reaches the output.
fn function(scenario: &Scenario, handler: &str, env: Vec<(String, String)>) -> Emulator {
    builder(scenario, handler, env)
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
    assert_none_of(run, &[SECRET_ACCESS_KEY, SESSION_TOKEN, SIGNING_KEY]);
}

/// No `canaries` in the function's output or in any answer, once every invocation's lines
/// are in; and the paths ran (EMF documents, at least one WARN or ERROR line).
fn assert_none_of(run: &Run, canaries: &[&str]) {
    // Log lines travel to the emulator asynchronously: wait for every invocation's report
    // line, then a little for lines the runtime wrote after its response.
    run.emulator.wait_for_logs(LOG_WAIT, |logs| {
        logs.matches("REPORT RequestId").count() >= run.answers.len()
    });
    std::thread::sleep(Duration::from_millis(300));
    let output = run.emulator.logs();
    for &canary in canaries {
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
    // The api function answers bad requests with 400 problems: not errors of the function.
    assert!(
        run.handler == "api"
            || output.contains("\"level\":\"ERROR\"")
            || output.contains("\"level\":\"WARN\""),
        "{}: no error was logged:\n{output}",
        run.handler
    );
}

/// Each handler as a function with the canary credentials, in this order: echo, s3, sns, sqs,
/// kinesis (what each needs seeded, one idempotency table shared).
fn every_function(scenario: &Scenario, env: &[(String, String)]) -> Vec<Run> {
    ["echo", "s3", "sns", "sqs", "kinesis"]
        .into_iter()
        .map(|handler| Run {
            handler,
            emulator: function(scenario, handler, env.to_vec()),
            answers: Vec::new(),
        })
        .collect()
}

#[test]
fn no_canary_secret_reaches_output_or_responses_on_any_path() {
    let mut scenario = Scenario::start();
    let env = scenario.seed_every_handler();
    let mut runs = every_function(&scenario, &env);
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

/// A string no AWS service sends, placed in hostile events: it must come back nowhere.
const CANARY: &str = "c4n4ry-e1f07a";

fn sample(handler: &str, name: &str) -> Value {
    serde_json::from_str(&event(handler, name)).expect("a sample event")
}

/// `event` changed by `edit`, as a payload.
fn hostile(mut event: Value, edit: impl FnOnce(&mut Value)) -> String {
    edit(&mut event);
    event.to_string()
}

/// `event` with one copy of its first record per payload, `fill` setting each copy's
/// payload (and ids) from its index and payload, as a payload.
fn records_of(event: Value, payloads: &[String], fill: impl Fn(&mut Value, usize, &str)) -> String {
    hostile(event, |e| {
        let template = e["Records"][0].clone();
        e["Records"] = payloads
            .iter()
            .enumerate()
            .map(|(index, payload)| {
                let mut record = template.clone();
                fill(&mut record, index, payload);
                record
            })
            .collect();
    })
}

/// `value` with an extra member named by the canary.
fn with_canary_key(mut value: Value) -> Value {
    value[CANARY] = json!(CANARY);
    value
}

/// An order holding the canary (as a SKU).
fn canary_order() -> Value {
    json!({
        "order_id": "o-9001", "customer_id": "c-1", "currency": "EUR",
        "items": [{"sku": CANARY, "quantity": 1, "unit_price_cents": 100}]
    })
}

/// The canary order as the `sqs` and `kafka` records carry it: under an unknown key, as a map
/// where a string goes, as bad values, and in a body that is not JSON.
fn hostile_orders() -> Vec<String> {
    let order = canary_order();
    vec![
        with_canary_key(order.clone()).to_string(),
        hostile(order.clone(), |o| o["customer_id"] = json!({ CANARY: 1 })),
        hostile(order.clone(), |o| o["currency"] = json!(CANARY)),
        hostile(order.clone(), |o| o["order_id"] = json!(CANARY)),
        hostile(order, |o| o["items"][0]["quantity"] = json!(CANARY)),
        format!("{CANARY} is not JSON"),
    ]
}

fn base64(data: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[test]
fn a_canary_in_unknown_keys_and_bad_values_reaches_no_response_and_no_log_line() {
    let scenario = Scenario::start();
    let env = scenario.seed_every_handler();
    let mut runs = every_function(&scenario, &env);
    let [echo, s3, sns, sqs, kinesis] = &mut runs[..] else {
        unreachable!()
    };
    let unmarshal = Err("Runtime.UnmarshalError");

    // The envelope, decoded by the runtime: an unknown key, a bad value holding the canary,
    // a map's key on the way to a bad value.
    let hello = sample("echo", "1-hello.json");
    echo.invoke(&with_canary_key(hello.clone()).to_string(), unmarshal);
    echo.invoke(
        &hostile(hello.clone(), |e| e["message"] = json!({ CANARY: CANARY })),
        unmarshal,
    );
    echo.invoke(&hostile(hello, |e| e["fail"] = json!(CANARY)), unmarshal);
    echo.invoke(&format!("{{\"{CANARY}\": [1, "), unmarshal);

    let s3_event = sample("s3", "1-orders-json.json");
    s3.invoke(&with_canary_key(s3_event.clone()).to_string(), Ok(None));
    s3.invoke(
        &hostile(s3_event.clone(), |e| {
            e["Records"][0]["s3"]["object"]["size"] = json!(CANARY)
        }),
        unmarshal,
    );
    s3.invoke(
        &hostile(s3_event.clone(), |e| {
            e["Records"][0]["s3"]["bucket"]["name"] = json!(format!("{CANARY}_Bucket!"))
        }),
        Err("S3.InvalidRecord"),
    );
    s3.invoke(
        &hostile(s3_event.clone(), |e| {
            e["Records"][0]["s3"]["object"]["sequencer"] = json!(format!("{CANARY}\u{1}"))
        }),
        Err("S3.InvalidRecord"),
    );
    s3.invoke(
        &hostile(s3_event, |e| {
            e["Records"][0]["eventTime"] = json!(CANARY);
        }),
        unmarshal,
    );

    // sns: the envelope, then the payload the handler decodes, and the attribute it matches.
    let captured = sample("sns", "1-payment-captured.json");
    let message = |id: &str, payload: Value| {
        hostile(captured.clone(), |e| {
            e["Records"][0]["Sns"]["MessageId"] = json!(id);
            e["Records"][0]["Sns"]["Message"] = json!(payload.to_string());
        })
    };
    let payment = json!({
        "payment_id": "p-9001", "order_id": "o-9001", "amount_cents": 5, "currency": "EUR",
        "status": "captured"
    });
    sns.invoke(
        &hostile(captured.clone(), |e| {
            e["Records"][0]["Sns"]["MessageAttributes"][CANARY] = json!({"Type": 5})
        }),
        unmarshal,
    );
    sns.invoke(
        &hostile(captured.clone(), |e| {
            e["Records"][0]["Sns"]["Timestamp"] = json!(CANARY)
        }),
        unmarshal,
    );
    for (id, payload) in [
        ("c1", with_canary_key(payment.clone())),
        (
            "c2",
            hostile(payment.clone(), |p| p["currency"] = json!(CANARY))
                .parse()
                .unwrap(),
        ),
        (
            "c3",
            hostile(payment.clone(), |p| p["status"] = json!(CANARY))
                .parse()
                .unwrap(),
        ),
        (
            "c4",
            hostile(payment.clone(), |p| p["amount_cents"] = json!(CANARY))
                .parse()
                .unwrap(),
        ),
        ("c5", json!(CANARY)),
    ] {
        sns.invoke(&message(id, payload), Err("Sns.InvalidMessage"));
    }
    sns.invoke(&format!("{{\"Records\": [{{\"Sns\": \"{CANARY}"), unmarshal);
    sns.invoke(
        &hostile(captured, |e| {
            e["Records"][0]["Sns"]["MessageAttributes"]["event_type"]["Value"] = json!(CANARY)
        }),
        Ok(None),
    );

    // sqs: the envelope, then each body through the batch layer's record decode and the
    // handler's validation.
    let orders = sample("sqs", "1-orders.json");
    sqs.invoke(
        &hostile(orders.clone(), |e| {
            e["Records"][0]["messageAttributes"][CANARY] = json!({"dataType": 5})
        }),
        unmarshal,
    );
    let mut bodies = hostile_orders();
    bodies.insert(
        4,
        hostile(canary_order(), |o| o["items"][0]["quantity"] = json!(0)),
    );
    let batch = records_of(orders, &bodies, |record, index, body| {
        record["messageId"] = json!(format!("m-{index}"));
        record["body"] = json!(body);
    });
    sqs.invoke(&batch, Err("Batch.AllRecordsFailed"));

    // kinesis: the envelope, then each record's data.
    let telemetry = sample("kinesis", "1-telemetry.json");
    kinesis.invoke(
        &hostile(telemetry.clone(), |e| {
            e["Records"][0]["kinesis"]["data"] = json!(format!("{CANARY}!"))
        }),
        unmarshal,
    );
    // One device per record: a failed reading holds back only its own device's records.
    let reading = |device: usize| {
        json!({
            "device_id": format!("d-{device}"), "recorded_at": "2026-11-22T12:00:05Z",
            "temperature_c": 21.5, "humidity_pct": 40
        })
    };
    let data = [
        with_canary_key(reading(0)).to_string(),
        hostile(reading(1), |r| r["device_id"] = json!(CANARY)),
        hostile(reading(2), |r| r["recorded_at"] = json!(CANARY)),
        hostile(reading(3), |r| r["temperature_c"] = json!(CANARY)),
        hostile(reading(4), |r| r["humidity_pct"] = json!({ CANARY: 1 })),
        format!("{CANARY} is not JSON"),
    ];
    let records = records_of(telemetry, &data, |record, index, data| {
        record["kinesis"]["partitionKey"] = json!(format!("d-{index}"));
        record["kinesis"]["sequenceNumber"] = json!(format!("{index}"));
        record["kinesis"]["data"] = json!(base64(data));
    });
    kinesis.invoke(&records, Err("Batch.AllRecordsFailed"));

    // kafka: the envelope, then each record's value through the batch layer's decode and the
    // order checks. One partition per record (and the key scope), so that every record runs.
    let mut kafka = Run {
        handler: "kafka",
        emulator: function(&scenario, "kafka", {
            let mut env = env.clone();
            env.push(("TERN_BATCH_FAILURE_SCOPE".to_owned(), "key".to_owned()));
            env
        }),
        answers: Vec::new(),
    };
    let msk = sample("kafka", "1-orders-msk.json");
    kafka.invoke(
        &hostile(msk.clone(), |e| {
            e["records"]["orders-0"][0]["partition"] = json!(CANARY)
        }),
        unmarshal,
    );
    let values = hostile_orders();
    let batch = hostile(msk, |e| {
        let template = e["records"]["orders-0"][0].clone();
        let records: serde_json::Map<String, Value> = values
            .iter()
            .enumerate()
            .map(|(index, value)| {
                let mut record = template.clone();
                record["partition"] = json!(index);
                record["offset"] = json!(100 + index);
                record["key"] = json!(base64("o-9001"));
                record["value"] = json!(base64(value));
                (format!("orders-{index}"), json!([record]))
            })
            .collect();
        e["records"] = Value::Object(records);
    });
    kafka.invoke(&batch, Err("Batch.AllRecordsFailed"));

    // api: the request bodies the handler decodes and validates, answered with 400 problems,
    // and a canary Idempotency-Key.
    let mut api = Run {
        handler: "api",
        emulator: function(&scenario, "api", env),
        answers: Vec::new(),
    };
    let create = sample("api", "1-http-api-create-order.json");
    let order: Value = serde_json::from_str(create["body"].as_str().expect("a body")).unwrap();
    let requests = [
        with_canary_key(order.clone()).to_string(),
        hostile(order.clone(), |o| o["currency"] = json!(CANARY)),
        hostile(order.clone(), |o| o["order_id"] = json!(CANARY)),
        hostile(order.clone(), |o| o["items"][0]["quantity"] = json!(CANARY)),
        format!("{CANARY} is not JSON"),
    ];
    for (index, body) in requests.iter().enumerate() {
        api.invoke(
            &hostile(create.clone(), |e| {
                e["body"] = json!(body);
                e["headers"]["idempotency-key"] = json!(format!("\"k-{index}\""));
                e["headers"]
                    .as_object_mut()
                    .unwrap()
                    .remove("content-length");
            }),
            Ok(None),
        );
        assert!(
            api.answers[index].body.contains("\"statusCode\":400"),
            "api ← {body}: {}",
            api.answers[index].body
        );
    }
    api.invoke(
        &hostile(create, |e| {
            e["headers"]["idempotency-key"] = json!(format!("\"{CANARY}\""));
            e["headers"]
                .as_object_mut()
                .unwrap()
                .remove("content-length");
        }),
        Ok(None),
    );

    // A map's key on the path is withheld; the names the type declares stay.
    let in_type = "the event does not match the handler's input type:";
    for (run, index, expected) in [
        (
            &runs[2],
            0,
            format!(
                "{in_type} [Records[0].Sns.MessageAttributes.<withheld>.Type] invalid type: \
                 integer, expected a string at line 1 column 357"
            ),
        ),
        (
            &runs[3],
            0,
            format!(
                "{in_type} [Records[0].messageAttributes.<withheld>.dataType] invalid type: \
                 integer, expected a string at line 1 column 550"
            ),
        ),
    ] {
        assert_eq!(
            run.answers[index].error_message(),
            Some(expected),
            "{}",
            run.handler
        );
    }
    for run in runs.iter().chain([&kafka, &api]) {
        assert_none_of(run, &[CANARY]);
    }
}
