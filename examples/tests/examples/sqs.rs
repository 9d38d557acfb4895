//! `examples/sqs`: tracking updates into the shipments table, late and repeated ones included.

use serde_json::json;
use tern_testkit::{Scenario, free_port};

use crate::support::{event, example, failed_record, failures, with_moto, with_table};

const TABLE: &str = "shipments";

#[test]
fn updates_move_shipments_forward_and_bad_messages_are_reported() {
    let (scenario, function) = with_table(example!("sqs"), TABLE, "shipment_id", "SHIPMENTS_TABLE");
    let function = function.start();
    let updates = event("sqs", "tracking-updates.json");
    let expected = failures(&[
        "2b6f1c9e-71a4-4d0b-9d3e-0c5a8e1f2a03",
        "2b6f1c9e-71a4-4d0b-9d3e-0c5a8e1f2a05",
    ]);
    // (In the order of their JSON text, which starts with `location`.)
    let stored = json!([
        {"shipment_id": "shp-1002", "status": "OUT_FOR_DELIVERY", "location": "Berlin-Mitte depot",
         "updated_at": "2026-11-22T09:40:00Z"},
        {"shipment_id": "shp-1001", "status": "IN_TRANSIT", "location": "Leipzig hub",
         "updated_at": "2026-11-22T08:15:00Z"}
    ]);
    assert_eq!(function.invoke(&updates).body, expected);
    // shp-1001's late PICKED_UP scan (record 4) succeeded without going back in time.
    assert_eq!(json!(scenario.table_items(TABLE)), stored);
    let invalid = failed_record(&function, "2b6f1c9e-71a4-4d0b-9d3e-0c5a8e1f2a05");
    assert_eq!(invalid["error_type"], "Shipments.InvalidUpdate");
    assert_eq!(
        invalid["reason"],
        "update of shipment shp-1004: occurred_at must be a UTC time such as 2026-11-22T08:15:00Z"
    );

    // SQS delivers the whole batch again: nothing changes, the same two are reported.
    assert_eq!(function.invoke(&updates).body, expected);
    assert_eq!(json!(scenario.table_items(TABLE)), stored);
}

#[test]
fn an_update_dynamodb_does_not_answer_is_reported_with_the_cause() {
    let (_scenario, function) =
        with_table(example!("sqs"), TABLE, "shipment_id", "SHIPMENTS_TABLE");
    let closed = format!("http://127.0.0.1:{}", free_port());
    // Every record fails: reported one by one rather than as a failed batch.
    let function = function
        .env("AWS_ENDPOINT_URL_DYNAMODB", &closed)
        .env("TERN_BATCH_ALL_FAILED", "report")
        .start();
    assert_eq!(
        function.invoke(event("sqs", "tracking-updates.json")).body,
        failures(&[
            "2b6f1c9e-71a4-4d0b-9d3e-0c5a8e1f2a01",
            "2b6f1c9e-71a4-4d0b-9d3e-0c5a8e1f2a02",
            "2b6f1c9e-71a4-4d0b-9d3e-0c5a8e1f2a03",
            "2b6f1c9e-71a4-4d0b-9d3e-0c5a8e1f2a04",
            "2b6f1c9e-71a4-4d0b-9d3e-0c5a8e1f2a05",
        ])
    );
    let unstored = failed_record(&function, "2b6f1c9e-71a4-4d0b-9d3e-0c5a8e1f2a01");
    assert_eq!(unstored["error_type"], "Shipments.StoreFailed");
    assert_eq!(
        unstored["reason"],
        format!(
            "UpdateItem of shipment shp-1001 in table {TABLE} failed: DispatchFailure: could not \
             connect to {closed}: connection refused"
        )
    );
}

#[test]
fn a_missing_table_variable_fails_init_naming_it() {
    let scenario = Scenario::start();
    let function = with_moto(example!("sqs"), &scenario).start();
    assert_eq!(
        function
            .invoke(event("sqs", "tracking-updates.json"))
            .json(),
        json!({
            "errorType": "Runtime.MissingEnvironmentVariable",
            "errorMessage": "environment variable `SHIPMENTS_TABLE` is not set; it must hold the \
                             DynamoDB table of shipments (partition key `shipment_id`)"
        })
    );
}
