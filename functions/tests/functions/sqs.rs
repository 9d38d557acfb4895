//! The `sqs` function end to end: emulator + moto (DynamoDB).

use serde_json::json;
use tern_testkit::{Emulator, Invocation, Scenario, scenario::ORDERS_TABLE};

use crate::support::{self, LOG_WAIT, builder, order_ids, seeded};

fn event(name: &str) -> String {
    tern_testkit::tools::event("sqs", name)
}

/// The sample batch `name` through a fresh `sqs` function: the answer must be `failures` (the
/// batch response) and the orders table must then hold `stored` (order ids).
fn batch(name: &str, failures: &str, stored: &[&str]) -> (Scenario, Emulator, Invocation) {
    let (scenario, function) = seeded("sqs", Scenario::seed_sqs);
    let answer = function.invoke(event(name));
    assert_eq!(answer.body, failures);
    assert_eq!(order_ids(&scenario), stored);
    (scenario, function, answer)
}

#[test]
fn poison_and_invalid_orders_are_reported_and_the_rest_stored() {
    let (scenario, function, answer) = batch(
        "1-orders.json",
        r#"{"batchItemFailures":[{"itemIdentifier":"4f9e2a1c-0003-4c1e-9a51-1d2f3a4b5c03"},{"itemIdentifier":"4f9e2a1c-0004-4c1e-9a51-1d2f3a4b5c04"}]}"#,
        &["o-1001", "o-1002", "o-1005"],
    );
    let stored = scenario.table_items(ORDERS_TABLE);
    let o1002 = stored.iter().find(|i| i["order_id"] == "o-1002").unwrap();
    assert_eq!(
        *o1002,
        json!({
            "order_id": "o-1002",
            "customer_id": "c-7",
            "currency": "EUR",
            "total_cents": 4796,
            "lines": [
                {"sku": "SKU-MUG", "quantity": 1, "unit_price_cents": 899},
                {"sku": "SKU-TEA", "quantity": 3, "unit_price_cents": 1299}
            ]
        })
    );
    // Each failure was logged with its message id and the reason, never the body.
    let logs = function.logs();
    assert!(
        logs.contains("4f9e2a1c-0004-4c1e-9a51-1d2f3a4b5c04"),
        "{logs}"
    );
    assert!(
        logs.contains("order o-1004 is invalid: items[0].quantity must be 1 to 1000"),
        "{logs}"
    );
    assert!(
        !logs.contains("\\\"customer_id\\\": "),
        "a message body reached the logs"
    );

    // Redelivery of the whole batch: stored orders are not stored twice, failures stay failures.
    let again = function.invoke(event("1-orders.json"));
    assert_eq!(again.body, answer.body);
    assert_eq!(scenario.table_items(ORDERS_TABLE).len(), 3);
}

#[test]
fn fifo_failure_holds_back_the_rest_of_its_group_only() {
    // Group customer-c-1: o-2003 is a poison pill (quantity -1), so o-2004 after it is not run.
    batch(
        "2-orders-fifo.json",
        r#"{"batchItemFailures":[{"itemIdentifier":"7a1b0c2d-0003-4e5f-8a9b-0c1d2e3f4a03"},{"itemIdentifier":"7a1b0c2d-0004-4e5f-8a9b-0c1d2e3f4a04"}]}"#,
        &["o-2001", "o-2002", "o-2005"],
    );
}

#[test]
fn a_table_outage_fails_every_message_for_retry() {
    let (mut scenario, function) = seeded("sqs", Scenario::seed_sqs);
    scenario.moto.stop();
    let answer = function.invoke(event("2-orders-fifo.json"));
    // Nothing could be stored: the whole batch fails so Lambda retries it.
    answer.expect_error("Batch.AllRecordsFailed");
}

#[test]
fn missing_table_is_an_init_error_naming_it() {
    let scenario = Scenario::start();
    let answer = support::function(&scenario, "sqs", vec![]).invoke(event("1-orders.json"));
    assert_eq!(
        answer.json(),
        json!({
            "errorType": "Runtime.MissingEnvironmentVariable",
            "errorMessage": "environment variable `ORDERS_TABLE` is not set; it must hold the DynamoDB table orders are written to"
        })
    );
}

fn orders_event(records: &[serde_json::Value]) -> String {
    json!({ "Records": records }).to_string()
}

fn sample_records() -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(&event("1-orders.json")).unwrap()["Records"]
        .as_array()
        .unwrap()
        .clone()
}

/// EMF documents the function wrote (JSON lines with an `_aws` member).
fn emf(
    function: &Emulator,
    until: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    function
        .wait_for_json_logs(LOG_WAIT, |lines| {
            let docs: Vec<serde_json::Value> = lines
                .iter()
                .filter(|l| l.get("_aws").is_some())
                .cloned()
                .collect();
            until(&docs)
        })
        .into_iter()
        .filter(|l| l.get("_aws").is_some())
        .collect()
}

#[test]
fn emf_metrics_count_records_and_cold_start_once() {
    let scenario = Scenario::start();
    let mut env = scenario.seed_sqs();
    env.push(("TERN_METRICS_NAMESPACE".into(), "TernDemo".into()));
    let function = support::function(&scenario, "sqs", env);
    // Four messages, one a poison pill (the invalid order is left out).
    let records: Vec<serde_json::Value> = sample_records()
        .into_iter()
        .filter(|r| r["messageId"] != "4f9e2a1c-0004-4c1e-9a51-1d2f3a4b5c04")
        .collect();
    let batch = orders_event(&records);
    let first = function.invoke(&batch);
    assert_eq!(
        first.body,
        r#"{"batchItemFailures":[{"itemIdentifier":"4f9e2a1c-0003-4c1e-9a51-1d2f3a4b5c03"}]}"#
    );
    let docs = emf(&function, |docs| docs.len() >= 2);
    assert_eq!(docs.len(), 2, "{docs:?}");
    assert_eq!(docs[0]["ColdStart"], 1);
    assert_eq!(docs[0]["function_name"], "tern-test");
    assert_eq!(
        docs[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "TernDemo"
    );
    assert_eq!(docs[1]["RecordsProcessed"], 3);
    assert_eq!(docs[1]["RecordsFailed"], 1);
    assert_eq!(
        docs[1]["service"], "tern-test",
        "the service dimension defaults to the function name"
    );
    assert!(docs[1].get("ColdStart").is_none());

    function.invoke(&batch);
    let docs = emf(&function, |docs| docs.len() >= 3);
    assert_eq!(
        docs.len(),
        3,
        "the second invocation writes one document and no ColdStart: {docs:?}"
    );
    assert_eq!(docs[2]["RecordsProcessed"], 3);
    assert_eq!(docs[2]["RecordsFailed"], 1);
}

#[test]
fn a_ten_message_batch_with_one_poison_pill_reports_exactly_it() {
    let (scenario, function) = seeded("sqs", Scenario::seed_sqs);
    let template = sample_records()[0].clone();
    let records: Vec<serde_json::Value> = (0..10)
        .map(|n| {
            let mut record = template.clone();
            record["messageId"] = json!(format!("msg-{n:02}"));
            record["body"] = if n == 6 {
                json!("{\"order_id\": \"o-9006\", \"items\": [")
            } else {
                json!(format!(
                    r#"{{"order_id":"o-90{n:02}","customer_id":"c-{n}","currency":"EUR","items":[{{"sku":"SKU-{n}","quantity":1,"unit_price_cents":100}}]}}"#
                ))
            };
            record
        })
        .collect();
    let answer = function.invoke(orders_event(&records));
    assert_eq!(
        answer.body,
        r#"{"batchItemFailures":[{"itemIdentifier":"msg-06"}]}"#
    );
    assert_eq!(order_ids(&scenario).len(), 9);
}

#[test]
fn a_hanging_table_is_abandoned_before_the_timeout_and_every_record_reported() {
    let scenario = Scenario::start();
    let mut env = scenario.seed_sqs();
    // DynamoDB that accepts connections and never answers: every write hangs.
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = blackhole.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in blackhole.incoming().flatten() {
            held.push(stream);
        }
    });
    env.push((
        "AWS_ENDPOINT_URL_DYNAMODB".into(),
        format!("http://127.0.0.1:{port}"),
    ));
    env.push(("TERN_BATCH_ALL_FAILED".into(), "report".into()));
    let function = builder(&scenario, "sqs", env).timeout_secs(3).start();
    let answer = function.invoke(event("1-orders.json"));
    // An answer, not a timeout: the running record was abandoned near the deadline and every
    // record (running, invalid or never started) is reported for retry.
    assert_eq!(answer.status, 200, "{}", answer.body);
    let reported = answer.reported_ids();
    let all: Vec<String> = (1..=5)
        .map(|n| format!("4f9e2a1c-000{n}-4c1e-9a51-1d2f3a4b5c0{n}"))
        .collect();
    assert_eq!(reported, all);
    let logs = function.logs();
    assert!(!logs.contains("Task timed out"), "{logs}");
}

#[test]
fn another_order_under_a_stored_id_is_a_conflict_not_a_redelivery() {
    let (scenario, function) = seeded("sqs", Scenario::seed_sqs);
    assert_eq!(function.invoke(event("1-orders.json")).status, 200);
    let mut clash = sample_records()[0].clone();
    clash["messageId"] = json!("clash-1");
    clash["body"] = json!(
        r#"{"order_id":"o-1001","customer_id":"c-999","currency":"EUR","items":[{"sku":"SKU-TEA","quantity":2,"unit_price_cents":1299}]}"#
    );
    let mut redelivery = sample_records()[0].clone();
    redelivery["messageId"] = json!("redelivery-1");
    let answer = function.invoke(orders_event(&[clash, redelivery]));
    assert_eq!(
        answer.body,
        r#"{"batchItemFailures":[{"itemIdentifier":"clash-1"}]}"#
    );
    let stored = scenario.table_items(ORDERS_TABLE);
    let o1001 = stored.iter().find(|i| i["order_id"] == "o-1001").unwrap();
    assert_eq!(
        o1001["customer_id"], "c-42",
        "the stored order is untouched"
    );
    assert!(
        function
            .logs()
            .contains("an order with this id but different content is already stored"),
        "the conflict is logged with its reason"
    );
}
