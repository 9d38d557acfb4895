//! The `kafka` function end to end: emulator + moto (DynamoDB), with the MSK and self-managed
//! Kafka sample events in `events/kafka/`.

use tern_testkit::{Emulator, Scenario};

use crate::support::{self, order_ids};

/// Moto with the orders table, the function (with `extra` environment) in the emulator, and
/// its answer to `events/kafka/<event>`.
fn invoke(event: &str, extra: &[(&str, &str)]) -> (Scenario, Emulator, String) {
    let scenario = Scenario::start();
    let mut env = scenario.seed_sqs();
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let function = support::function(&scenario, "kafka", env);
    let answer = function.invoke(tern_testkit::tools::event("kafka", event));
    (scenario, function, answer.body)
}

/// The log line of the batch layer about record `record_id` (`<topic>-<partition>@<offset>`)
/// that failed.
fn failure_line(function: &Emulator, record_id: &str) -> serde_json::Value {
    function
        .json_logs()
        .into_iter()
        .find(|l| l["record_id"] == record_id && l["outcome"].is_string())
        .unwrap_or_else(|| panic!("no failure line for {record_id}: {}", function.logs()))
}

/// `{"batchItemFailures":[…]}` with Kafka's object identifiers, in order.
fn failures(identifiers: &[(&str, i64)]) -> String {
    let items: Vec<String> = identifiers
        .iter()
        .map(|(partition, offset)| {
            format!(r#"{{"itemIdentifier":{{"partition":"{partition}","offset":{offset}}}}}"#)
        })
        .collect();
    format!(r#"{{"batchItemFailures":[{}]}}"#, items.join(","))
}

#[test]
fn a_poison_record_and_a_failing_record_stop_their_partitions_and_are_reported() {
    // orders-0: 100 ok, 101 poison (its value is cut short), 102 ok.
    // orders-1: 200 ok, 201 fails validation (quantity 0), 202 ok.
    let (scenario, function, body) =
        invoke("1-orders-msk.json", &[("TERN_BATCH_FAILURE_SCOPE", "key")]);
    assert_eq!(
        body,
        failures(&[
            ("orders-0", 101),
            ("orders-0", 102),
            ("orders-1", 201),
            ("orders-1", 202),
        ])
    );
    assert_eq!(order_ids(&scenario), ["o-2001", "o-2004"]);

    let poison = failure_line(&function, "orders-0@101");
    assert_eq!(poison["outcome"], "poison");
    assert_eq!(
        poison["reason"],
        "value does not decode: at line 1 column 38: EOF while parsing a value"
    );
    let failed = failure_line(&function, "orders-1@201");
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["error_type"], "Orders.Invalid");
    // Nothing of the records' content reaches the logs.
    assert!(!function.logs().contains("c-7"), "{}", function.logs());
}

#[test]
fn by_default_the_first_failure_stops_the_whole_batch() {
    let (scenario, function, body) = invoke("1-orders-msk.json", &[]);
    // Partitions run in order, orders-0 first: after its poison record nothing starts.
    assert_eq!(
        body,
        failures(&[
            ("orders-0", 101),
            ("orders-0", 102),
            ("orders-1", 200),
            ("orders-1", 201),
            ("orders-1", 202),
        ])
    );
    assert_eq!(order_ids(&scenario), ["o-2001"]);
    // Lambda redelivers from the reported offsets: storing o-2001 again is harmless.
    let again = function.invoke(tern_testkit::tools::event("kafka", "1-orders-msk.json"));
    assert_eq!(again.body, body);
    assert_eq!(order_ids(&scenario), ["o-2001"]);
}

#[test]
fn a_self_managed_record_under_another_key_is_refused() {
    let (scenario, function, body) = invoke("2-orders-self-managed.json", &[]);
    assert_eq!(body, failures(&[("orders-2", 8)]));
    assert_eq!(order_ids(&scenario), ["o-3001"]);
    let refused = failure_line(&function, "orders-2@8");
    assert_eq!(refused["outcome"], "failed");
    assert_eq!(refused["error_type"], "Orders.KeyMismatch");
}
