//! The `sns` function end to end: emulator + moto (DynamoDB, Secrets Manager).

use serde_json::{Value, json};
use tern_functions::sns::{PaymentEvent, sign};
use tern_testkit::{
    Scenario,
    scenario::{NOTIFICATIONS_TABLE, SIGNING_KEY},
};

use crate::support::{self, LOG_WAIT, seeded};

fn event(name: &str) -> String {
    tern_testkit::tools::event("sns", name)
}

fn payment(status: &str, payment_id: &str, order_id: &str, amount_cents: u64) -> PaymentEvent {
    PaymentEvent {
        payment_id: payment_id.into(),
        order_id: order_id.into(),
        amount_cents,
        currency: "EUR".into(),
        status: status.into(),
    }
}

#[test]
fn a_duplicate_notification_is_processed_once() {
    let (scenario, function) = seeded("sns", Scenario::seed_sns);
    let message_id = "d2a8c1f0-6b3e-5a9d-8c7f-1e2d3c4b5a01";
    let signature = sign(
        SIGNING_KEY.as_bytes(),
        message_id,
        &payment("captured", "p-5001", "o-1001", 2598),
    );

    let first = function.invoke(event("1-payment-captured.json"));
    assert_eq!(
        first.json(),
        json!({"processed": [{
            "message_id": message_id,
            "payment_id": "p-5001",
            "event_type": "payment.captured",
            "signature": signature,
        }]}),
        "{}",
        first.body
    );
    let duplicate = function.invoke(event("2-payment-captured-duplicate.json"));
    assert_eq!(
        duplicate.body, first.body,
        "the duplicate gets the first response, byte for byte"
    );

    assert_eq!(
        scenario.table_items(NOTIFICATIONS_TABLE),
        [json!({
            "message_id": message_id,
            "payment_id": "p-5001",
            "order_id": "o-1001",
            "amount_cents": 2598,
            "currency": "EUR",
            "status": "captured",
            "event_type": "payment.captured",
            "tenant": "acme",
            "published_at": "2026-11-22T12:00:00+00:00",
            "signature": signature,
        })]
    );
    // The side effect ran once: one "stored" line for two deliveries.
    let stored = function.wait_for_json_logs(LOG_WAIT, |lines| {
        lines.iter().any(|l| l["message"] == "notification stored")
    });
    let stored: Vec<&Value> = stored
        .iter()
        .filter(|l| l["message"] == "notification stored")
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");

    let refund = function.invoke(event("3-payment-refunded.json"));
    assert_eq!(refund.json()["processed"][0]["payment_id"], "p-5002");
    assert_eq!(scenario.table_items(NOTIFICATIONS_TABLE).len(), 2);
}

#[test]
fn event_types_outside_the_filter_are_ignored_and_bad_payloads_fail() {
    let (scenario, function) = seeded("sns", Scenario::seed_sns);

    let disputed =
        event("3-payment-refunded.json").replace("\"payment.refunded\"", "\"payment.disputed\"");
    assert_eq!(
        function.invoke(&disputed).json(),
        json!({
            "processed": [],
            "ignored": [{
                "message_id": "d2a8c1f0-6b3e-5a9d-8c7f-1e2d3c4b5a02",
                "reason": "event_type is not one of ACCEPTED_EVENT_TYPES"
            }]
        })
    );
    let mismatched = event("1-payment-captured.json")
        .replace("\"payment.captured\"", "\"payment.refunded\"")
        .replace("5a01", "5a09");
    let answer = function.invoke(&mismatched);
    assert_eq!(
        answer.json(),
        json!({
            "errorType": "Sns.InvalidMessage",
            "errorMessage": "message d2a8c1f0-6b3e-5a9d-8c7f-1e2d3c4b5a09: the event_type attribute `payment.refunded` (accepted) does not match the payload's status"
        })
    );
    assert!(scenario.table_items(NOTIFICATIONS_TABLE).is_empty());
    // The failed attempt left no idempotency record: a corrected retry would run.
    assert!(
        scenario
            .table_items(tern_testkit::scenario::IDEMPOTENCY_TABLE)
            .iter()
            .all(|i| i["status"] != "INPROGRESS")
    );
}

#[test]
fn secrets_problems_are_init_errors_naming_what_to_fix() {
    let scenario = Scenario::start();
    let env = scenario.seed_sns();

    let without: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| k != "SIGNING_KEY_SECRET_ARN")
        .cloned()
        .collect();
    let answer =
        support::function(&scenario, "sns", without).invoke(event("1-payment-captured.json"));
    assert_eq!(answer.status, 502);
    answer.expect_error("Runtime.MissingEnvironmentVariable");
    assert!(
        answer
            .error_message()
            .unwrap()
            .contains("SIGNING_KEY_SECRET_ARN"),
        "{}",
        answer.body
    );

    let mut wrong = env.clone();
    wrong.retain(|(k, _)| k != "SIGNING_KEY_SECRET_ARN");
    wrong.push((
        "SIGNING_KEY_SECRET_ARN".into(),
        "tern-demo/no-such-secret".into(),
    ));
    let answer =
        support::function(&scenario, "sns", wrong).invoke(event("1-payment-captured.json"));
    assert_eq!(answer.status, 502);
    let message = answer.expect_error("Secrets.NotFound");
    for needle in [
        "SIGNING_KEY_SECRET_ARN",
        "tern-demo/no-such-secret",
        "ResourceNotFoundException",
    ] {
        assert!(message.contains(needle), "{needle} missing from: {message}");
    }

    let without_table: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k != "NOTIFICATIONS_TABLE")
        .collect();
    let answer =
        support::function(&scenario, "sns", without_table).invoke(event("1-payment-captured.json"));
    assert_eq!(
        answer.json(),
        json!({
            "errorType": "Runtime.MissingEnvironmentVariable",
            "errorMessage": "environment variable `NOTIFICATIONS_TABLE` is not set; it must hold the DynamoDB table that stores payment notifications"
        })
    );
}

#[test]
fn the_signing_key_never_reaches_the_logs() {
    let (_scenario, function) = seeded("sns", Scenario::seed_sns);
    function.invoke(event("1-payment-captured.json"));
    function.invoke(event("2-payment-captured-duplicate.json"));
    function.invoke(
        event("1-payment-captured.json")
            .replace("\"EUR\"", "\"eur\"")
            .replace("5a01", "5a07"),
    );
    function.invoke("{\"Records\": 5}");
    let logs = function.logs();
    assert!(
        logs.contains("notification stored"),
        "the run did log: {logs}"
    );
    assert!(
        !logs.contains(SIGNING_KEY),
        "the signing key leaked into the logs"
    );
}
