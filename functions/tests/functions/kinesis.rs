//! The `kinesis` function end to end: emulator + moto (DynamoDB).

use serde_json::json;
use tern_testkit::{Scenario, scenario::TELEMETRY_TABLE};

use crate::support::{self, seeded};

fn event() -> String {
    tern_testkit::tools::event("kinesis", "1-telemetry.json")
}

#[test]
fn the_bad_record_is_reported_by_sequence_number_and_the_rest_stored() {
    let (scenario, function) = seeded("kinesis", Scenario::seed_kinesis);
    let answer = function.invoke(event());
    assert_eq!(
        answer.body,
        r#"{"batchItemFailures":[{"itemIdentifier":"49590338271490256608559692538361571095921575989136588804"}]}"#
    );
    let items = scenario.table_items(TELEMETRY_TABLE);
    let ids: Vec<&str> = items
        .iter()
        .map(|i| i["reading_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    let first = items
        .iter()
        .find(|i| i["reading_id"] == "d-100#2026-11-22T12:00:05Z")
        .unwrap();
    assert_eq!(
        *first,
        json!({
            "reading_id": "d-100#2026-11-22T12:00:05Z",
            "device_id": "d-100",
            "recorded_at": "2026-11-22T12:00:05Z",
            "minute": "2026-11-22T12:00",
            "temperature_c": 21.5,
            "temperature_f": 70.7,
            "humidity_pct": 40.0,
            "dew_point_c": 7.32,
            "sequence_number": "49590338271490256608559692538361571095921575989136588801"
        })
    );
    // Lambda redelivers from the reported record on: rewriting readings is harmless.
    let again = function.invoke(event());
    assert_eq!(again.body, answer.body);
    assert_eq!(scenario.table_items(TELEMETRY_TABLE).len(), 5);
}

#[test]
fn readings_not_written_are_reported_too() {
    let mut scenario = Scenario::start();
    let mut env = scenario.seed_kinesis();
    env.push(("TERN_BATCH_ALL_FAILED".into(), "report".into()));
    let function = support::function(&scenario, "kinesis", env);
    scenario.moto.stop();
    let answer = function.invoke(event());
    // Every good reading failed to write and the bad one failed to decode: all six reported.
    let reported = answer.reported_ids();
    let expected: Vec<String> = (801..=806)
        .map(|n| format!("49590338271490256608559692538361571095921575989136588{n}"))
        .collect();
    assert_eq!(reported, expected);
}

#[test]
fn with_the_default_policy_a_batch_that_wrote_nothing_fails_whole() {
    let (mut scenario, function) = seeded("kinesis", Scenario::seed_kinesis);
    scenario.moto.stop();
    let answer = function.invoke(event());
    answer.expect_error("Batch.AllRecordsFailed");
}

#[test]
fn a_reading_delivered_twice_in_one_batch_is_written_once() {
    let (scenario, function) = seeded("kinesis", Scenario::seed_kinesis);
    // A producer retry: the first reading again, under a new sequence number.
    let mut batch: serde_json::Value = serde_json::from_str(&event()).unwrap();
    let records = batch["Records"].as_array_mut().unwrap();
    let mut again = records[0].clone();
    again["kinesis"]["sequenceNumber"] =
        json!("49590338271490256608559692538361571095921575989136588807");
    records.push(again);
    let answer = function.invoke(batch.to_string());
    // Only the undecodable record fails; the duplicate does not poison its write chunk.
    assert_eq!(
        answer.body,
        r#"{"batchItemFailures":[{"itemIdentifier":"49590338271490256608559692538361571095921575989136588804"}]}"#
    );
    let items = scenario.table_items(TELEMETRY_TABLE);
    assert_eq!(items.len(), 5);
    let first = items
        .iter()
        .find(|i| i["reading_id"] == "d-100#2026-11-22T12:00:05Z")
        .unwrap();
    assert_eq!(
        first["sequence_number"], "49590338271490256608559692538361571095921575989136588807",
        "the later record's write wins"
    );
}
