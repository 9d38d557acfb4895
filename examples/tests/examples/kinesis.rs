//! `examples/kinesis`: audit events archived to S3, and where a stream batch stops.

use serde_json::json;
use tern_testkit::Scenario;

use crate::support::{event, example, failures, with_moto};

const BUCKET: &str = "audit-archive";
const SEQUENCE: &str = "4959033827149025660855969253836157109592157598913650000";

fn sequence(record: u32) -> String {
    format!("{SEQUENCE}{record}")
}

fn archive(scenario: &Scenario, scope: Option<&str>) -> tern_testkit::Emulator {
    scenario.block_on(async {
        scenario
            .s3()
            .create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("create bucket");
    });
    let mut function = with_moto(example!("kinesis"), scenario)
        .env("AUDIT_BUCKET", BUCKET)
        .env("S3_FORCE_PATH_STYLE", "true");
    if let Some(scope) = scope {
        function = function.env("TERN_BATCH_FAILURE_SCOPE", scope);
    }
    function.start()
}

fn object(scenario: &Scenario, key: &str) -> serde_json::Value {
    let body = scenario.block_on(async {
        let object = scenario
            .s3()
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .expect("get object");
        object
            .body
            .collect()
            .await
            .expect("object body")
            .into_bytes()
    });
    serde_json::from_slice(&body).expect("the object is JSON")
}

#[test]
fn the_first_bad_record_stops_the_batch_and_everything_after_it_is_reported() {
    let scenario = Scenario::start();
    let function = archive(&scenario, None);
    let answer = function.invoke(event("kinesis", "audit-events.json"));
    // Record 3 is not JSON: it and records 4 and 5 (not run) are reported; Kinesis resumes
    // the shard at record 3.
    assert_eq!(
        answer.body,
        failures(&[&sequence(3), &sequence(4), &sequence(5)])
    );
    assert_eq!(
        scenario.s3_keys(BUCKET),
        [
            "audit/tenant=acme/date=2026-11-22/ae-9001.json",
            "audit/tenant=globex/date=2026-11-22/ae-9002.json"
        ]
    );
    assert_eq!(
        object(&scenario, "audit/tenant=acme/date=2026-11-22/ae-9001.json"),
        json!({
            "event_id": "ae-9001", "tenant": "acme", "actor": "user:1842",
            "action": "invoice.approved", "occurred_at": "2026-11-22T10:02:11Z",
            "details": {"invoice_id": "inv-3310", "amount_cents": 125000}
        })
    );
}

#[test]
fn with_the_key_scope_other_tenants_go_on() {
    let scenario = Scenario::start();
    let function = archive(&scenario, Some("key"));
    let answer = function.invoke(event("kinesis", "audit-events.json"));
    // Only acme (record 3's partition key) stops: globex's record 4 is archived.
    assert_eq!(answer.body, failures(&[&sequence(3), &sequence(5)]));
    assert_eq!(
        scenario.s3_keys(BUCKET),
        [
            "audit/tenant=acme/date=2026-11-22/ae-9001.json",
            "audit/tenant=globex/date=2026-11-22/ae-9002.json",
            "audit/tenant=globex/date=2026-11-22/ae-9004.json"
        ]
    );
    assert_eq!(
        object(
            &scenario,
            "audit/tenant=globex/date=2026-11-22/ae-9004.json"
        ),
        json!({
            "event_id": "ae-9004", "tenant": "globex", "actor": "service:billing",
            "action": "subscription.renewed", "occurred_at": "2026-11-22T10:02:20Z"
        })
    );
}
