//! `examples/metrics`: checkout events as EMF documents on stdout.

use std::time::Duration;

use serde_json::{Value, json};
use tern_testkit::Emulator;

use crate::support::{event, example};

/// The EMF documents the function printed so far, timestamps zeroed (they are the clock's).
fn documents(function: &Emulator, count: usize) -> Vec<Value> {
    let lines = function.wait_for_json_logs(Duration::from_secs(10), |lines| {
        lines.iter().filter(|l| l.get("_aws").is_some()).count() >= count
    });
    lines
        .into_iter()
        .filter(|l| l.get("_aws").is_some())
        .map(|mut document| {
            assert!(document["_aws"]["Timestamp"].is_u64(), "{document}");
            document["_aws"]["Timestamp"] = json!(0);
            document
        })
        .collect()
}

fn metric(name: &str, unit: &str) -> Value {
    json!({"Name": name, "Unit": unit, "StorageResolution": 60})
}

#[test]
fn an_order_becomes_metrics_and_a_rejected_event_is_counted() {
    let function = Emulator::builder(example!("metrics"))
        .function_name("order-metrics")
        .env("TERN_METRICS_NAMESPACE", "Shop/Checkout")
        .start();
    let answer = function.invoke(event("metrics", "order-placed-web.json"));
    assert_eq!(answer.body, "null");
    assert_eq!(
        documents(&function, 2),
        [
            json!({
                "_aws": {"Timestamp": 0, "CloudWatchMetrics": [{
                    "Namespace": "Shop/Checkout",
                    "Dimensions": [["service", "function_name"]],
                    "Metrics": [metric("ColdStart", "Count")]
                }]},
                "service": "order-metrics",
                "function_name": "order-metrics",
                "ColdStart": 1
            }),
            json!({
                "_aws": {"Timestamp": 0, "CloudWatchMetrics": [{
                    "Namespace": "Shop/Checkout",
                    "Dimensions": [["service", "channel", "currency"]],
                    "Metrics": [
                        metric("OrdersPlaced", "Count"),
                        metric("OrderValue", "None"),
                        metric("ItemsPerOrder", "Count")
                    ]
                }]},
                "service": "order-metrics",
                "channel": "web",
                "currency": "EUR",
                "order_id": "o-1002",
                "payment_method": "card",
                "OrdersPlaced": 1,
                "OrderValue": 47.96,
                "ItemsPerOrder": 4
            })
        ]
    );

    let rejected = function.invoke(event("metrics", "order-placed-invalid.json"));
    assert_eq!(
        rejected.json(),
        json!({
            "errorType": "Orders.InvalidEvent",
            "errorMessage": "order o-1009 has no items or no value"
        })
    );
    assert_eq!(
        documents(&function, 3)[2],
        json!({
            "_aws": {"Timestamp": 0, "CloudWatchMetrics": [{
                "Namespace": "Shop/Checkout",
                "Dimensions": [["service"]],
                "Metrics": [metric("RejectedEvents", "Count")]
            }]},
            "service": "order-metrics",
            "RejectedEvents": 1
        })
    );
}
