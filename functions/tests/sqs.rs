//! The `sqs` function end to end: emulator + moto (DynamoDB).

use serde_json::json;
use tern_testkit::{Emulator, Scenario, scenario::ORDERS_TABLE};

fn event(name: &str) -> String {
    std::fs::read_to_string(
        tern_testkit::tools::workspace_root()
            .join("events/sqs")
            .join(name),
    )
    .unwrap()
}

fn emulator(scenario: &Scenario, env: Vec<(String, String)>) -> Emulator {
    Emulator::builder(tern_testkit::tools::bootstrap(env!(
        "CARGO_BIN_EXE_bootstrap"
    )))
    .handler("sqs")
    .envs(scenario.function_env())
    .envs(env)
    .start()
}

fn order_ids(scenario: &Scenario) -> Vec<String> {
    scenario
        .table_items(ORDERS_TABLE)
        .iter()
        .map(|item| item["order_id"].as_str().unwrap().to_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[test]
fn poison_and_invalid_orders_are_reported_and_the_rest_stored() {
    let scenario = Scenario::start();
    let env = scenario.seed_sqs();
    let function = emulator(&scenario, env);
    let answer = function.invoke(event("1-orders.json"));
    assert_eq!(
        answer.body,
        r#"{"batchItemFailures":[{"itemIdentifier":"4f9e2a1c-0003-4c1e-9a51-1d2f3a4b5c03"},{"itemIdentifier":"4f9e2a1c-0004-4c1e-9a51-1d2f3a4b5c04"}]}"#
    );
    assert_eq!(order_ids(&scenario), ["o-1001", "o-1002", "o-1005"]);
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
        logs.contains("line 0 (SKU-POT) has quantity 0; allowed 1 to 1000"),
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
    let scenario = Scenario::start();
    let env = scenario.seed_sqs();
    let function = emulator(&scenario, env);
    let answer = function.invoke(event("2-orders-fifo.json"));
    // Group customer-c-1: o-2003 is a poison pill (quantity -1), so o-2004 after it is not run.
    assert_eq!(
        answer.body,
        r#"{"batchItemFailures":[{"itemIdentifier":"7a1b0c2d-0003-4e5f-8a9b-0c1d2e3f4a03"},{"itemIdentifier":"7a1b0c2d-0004-4e5f-8a9b-0c1d2e3f4a04"}]}"#
    );
    assert_eq!(order_ids(&scenario), ["o-2001", "o-2002", "o-2005"]);
}

#[test]
fn a_table_outage_fails_every_message_for_retry() {
    let mut scenario = Scenario::start();
    let env = scenario.seed_sqs();
    let function = emulator(&scenario, env.clone());
    scenario.moto.stop();
    let answer = function.invoke(event("2-orders-fifo.json"));
    // Nothing could be stored: the whole batch fails so Lambda retries it.
    assert_eq!(
        answer.error_type().as_deref(),
        Some("Batch.AllRecordsFailed"),
        "{}",
        answer.body
    );
}

#[test]
fn missing_table_is_an_init_error_naming_it() {
    let scenario = Scenario::start();
    let answer = emulator(&scenario, vec![]).invoke(event("1-orders.json"));
    assert_eq!(
        answer.json(),
        json!({
            "errorType": "Runtime.MissingEnvironmentVariable",
            "errorMessage": "environment variable `ORDERS_TABLE` is not set; it must hold the DynamoDB table orders are written to"
        })
    );
}
