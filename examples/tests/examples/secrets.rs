//! `examples/secrets`: webhooks checked against a signing key fetched from Secrets Manager.

use serde_json::json;
use tern_testkit::{EmulatorBuilder, Scenario};

use crate::support::{event, example, with_table};

const TABLE: &str = "webhook-inbox";
/// The key `events/push-*.json` are signed with (the tampered one before its body changed).
const SIGNING_KEY: &str = "whsec-tern-example-5c1f0e9b7d2a";
const SIGNED_DELIVERY: &str = "7e4b2c10-a8b1-11f0-8f7e-3c1d2e4f5a6b";

fn inbox() -> (Scenario, EmulatorBuilder) {
    with_table(
        example!("secrets"),
        TABLE,
        "delivery_id",
        "WEBHOOK_INBOX_TABLE",
    )
}

/// The function URL response, as the function serializes it (fields in declaration order).
fn response(status: u16, body: serde_json::Value) -> String {
    format!(
        r#"{{"statusCode":{status},"headers":{{"content-type":"application/json"}},"body":{},"isBase64Encoded":false,"cookies":[]}}"#,
        serde_json::Value::String(body.to_string())
    )
}

#[test]
fn signed_deliveries_are_queued_once_and_tampered_ones_refused() {
    let (scenario, function) = inbox();
    let arn = scenario.create_secret("partners/github-webhook", SIGNING_KEY);
    let function = function.env("WEBHOOK_SECRET_ARN", arn).start();
    let signed = event("secrets", "push-signed.json");

    let queued = function.invoke(&signed);
    assert_eq!(
        queued.body,
        response(
            202,
            json!({"delivery_id": SIGNED_DELIVERY, "status": "queued"})
        )
    );
    let request: serde_json::Value = serde_json::from_str(&signed).expect("JSON");
    assert_eq!(
        json!(scenario.table_items(TABLE)),
        json!([{
            "delivery_id": SIGNED_DELIVERY,
            "event": "push",
            "received_at_ms": 1795343467000u64,
            "payload": request["body"]
        }])
    );

    // The sender redelivers it: acknowledged, not stored twice.
    assert_eq!(
        function.invoke(&signed).body,
        response(
            200,
            json!({"delivery_id": SIGNED_DELIVERY, "status": "duplicate"})
        )
    );
    assert_eq!(scenario.table_items(TABLE).len(), 1);

    // The body changed after signing: refused, nothing stored.
    assert_eq!(
        function.invoke(event("secrets", "push-tampered.json")).body,
        response(401, json!({"message": "signature missing or wrong"}))
    );
    let unsigned = signed.replace("x-hub-signature-256", "x-hub-signature-none");
    assert_eq!(
        function.invoke(unsigned).body,
        response(401, json!({"message": "signature missing or wrong"}))
    );
    assert_eq!(scenario.table_items(TABLE).len(), 1);
    assert!(
        !function.logs().contains(SIGNING_KEY),
        "the signing key reached the logs"
    );
}

#[test]
fn a_secret_that_does_not_exist_fails_init_naming_it() {
    let (_scenario, function) = inbox();
    let function = function
        .env("WEBHOOK_SECRET_ARN", "partners/no-such-secret")
        .start();
    let answer = function.invoke(event("secrets", "push-signed.json"));
    assert_eq!(
        answer.json(),
        json!({
            "errorType": "Secrets.NotFound",
            "errorMessage": "secret `partners/no-such-secret` (from `WEBHOOK_SECRET_ARN`, \
                             declared as `webhook`) was not found (ResourceNotFoundException: \
                             Secrets Manager can't find the specified secret.); check that \
                             `WEBHOOK_SECRET_ARN` holds the ARN or name of an existing secret in \
                             the function's region"
        })
    );
}
