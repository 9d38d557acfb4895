//! `examples/idempotent`: a payment captured once, however often it is requested.

use serde_json::json;
use tern_testkit::Scenario;

use crate::support::{event, example, with_moto, with_table};

const TABLE: &str = "payments";

#[test]
fn a_repeated_capture_gets_the_first_receipt_and_another_amount_is_refused() {
    let (scenario, function) = with_table(
        example!("idempotent"),
        TABLE,
        "payment_id",
        "PAYMENTS_TABLE",
    );
    let function = function.envs(scenario.seed_idempotency()).start();
    let capture = event("idempotent", "capture.json");

    let first = function.invoke(&capture);
    let receipt = first.json();
    let capture_id = receipt["capture_id"]
        .as_str()
        .expect("capture_id")
        .to_owned();
    assert!(
        capture_id.len() == "cap-".len() + 36 && capture_id.starts_with("cap-"),
        "{capture_id}"
    );
    assert_eq!(
        first.body,
        format!(
            r#"{{"payment_id":"pay-7001","order_id":"o-1002","capture_id":"{capture_id}","amount_cents":4796,"currency":"EUR","status":"CAPTURED"}}"#
        )
    );
    let stored = json!([{"payment_id": "pay-7001", "order_id": "o-1002",
                         "capture_id": capture_id, "amount_cents": 4796, "currency": "EUR"}]);
    assert_eq!(json!(scenario.table_items(TABLE)), stored);

    // The caller timed out and asks again: the stored receipt, byte for byte; no second capture.
    let second = function.invoke(&capture);
    assert_eq!(second.body, first.body);
    assert_eq!(json!(scenario.table_items(TABLE)), stored);

    // The same payment id with another amount is a caller's bug, not a duplicate.
    let key = scenario.table_items(tern_testkit::scenario::IDEMPOTENCY_TABLE)[0]["id"]
        .as_str()
        .expect("the record's key")
        .to_owned();
    assert!(key.starts_with("payments.capture#"), "{key}");
    let changed = capture.replace("4796", "5796");
    assert_eq!(
        function.invoke(changed).json(),
        json!({
            "errorType": "Idempotency.PayloadMismatch",
            "errorMessage": format!(
                "idempotency key `{key}` was used before with a different payload (its \
                 validation hash differs); a key must identify one payload: fix the key \
                 selection, or the caller that reuses the key"
            )
        })
    );
    assert_eq!(json!(scenario.table_items(TABLE)), stored);
}

#[test]
fn without_the_idempotency_table_init_fails_naming_the_variable() {
    let scenario = Scenario::start();
    let function = with_moto(example!("idempotent"), &scenario)
        .env("PAYMENTS_TABLE", TABLE)
        .start();
    let answer = function.invoke(event("idempotent", "capture.json"));
    assert_eq!(
        answer.json(),
        json!({
            "errorType": "Runtime.MissingEnvironmentVariable",
            "errorMessage": "environment variable `TERN_IDEMPOTENCY_TABLE` is not set; it must \
                             hold the name of the DynamoDB table for idempotency records \
                             (partition key `id` of type S, TTL on `expiration`)"
        })
    );
}
