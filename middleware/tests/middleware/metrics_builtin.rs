//! The framework's built-in metrics, through the real layers composed as ARCHITECTURE.md
//! orders them: metrics → batch → idempotency (per record) → handler.

use std::{sync::Arc, time::Duration};

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Config, Diagnostic, LambdaEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tern_middleware::{
    batch::{BatchConfig, BatchLayer},
    idempotency::{
        Idempotency, IdempotencyConfig, IdempotencyLayer, KeySelector, store::MemoryStore,
    },
    metrics::{MetricsConfig, MetricsLayer},
};
use tower::{ServiceBuilder, ServiceExt, service_fn};

use crate::support::batch::context;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    id: String,
}

fn sqs_event(bodies: &[(&str, &str)]) -> LambdaEvent<SqsEvent> {
    let records: Vec<Value> = bodies
        .iter()
        .map(|(id, body)| json!({"messageId": id, "body": body, "attributes": {}, "messageAttributes": {}}))
        .collect();
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    let mut context = context(Some(Duration::from_secs(30)));
    context.env_config = Arc::new(Config::default());
    LambdaEvent::new(event, context)
}

#[tokio::test]
async fn one_emf_document_carries_batch_and_idempotency_counts() {
    let (config, documents) = MetricsConfig::capturing("Shop", "orders");
    let metrics = MetricsLayer::new(config.with_cold_start_metric(false));
    let engine = Idempotency::new(
        Arc::new(MemoryStore::new()),
        IdempotencyConfig::new().with_prefix("orders.record"),
    );
    let per_record =
        IdempotencyLayer::new(engine, KeySelector::from_fn(|o: &Order| Some(o.id.clone())));
    let service = ServiceBuilder::new()
        .layer(metrics)
        .layer(BatchLayer::sqs(BatchConfig::new()))
        .layer(per_record)
        .service(service_fn(|event: LambdaEvent<Order>| async move {
            if event.payload.id == "bad" {
                return Err(Diagnostic {
                    error_type: "Orders.Invalid".into(),
                    error_message: "bad order".into(),
                });
            }
            Ok(event.payload)
        }));

    // a, b, bad, then a redelivered copy of a under another message id.
    let event = sqs_event(&[
        ("m1", r#"{"id":"a"}"#),
        ("m2", r#"{"id":"b"}"#),
        ("m3", r#"{"id":"bad"}"#),
        ("m4", r#"{"id":"a"}"#),
    ]);
    let response = service.oneshot(event).await.unwrap();
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "m3"}]})
    );
    let documents = documents.lock().unwrap();
    assert_eq!(
        documents.len(),
        1,
        "one EMF document for the invocation: {documents:?}"
    );
    let doc = &documents[0];
    assert_eq!(doc["RecordsProcessed"], 3);
    assert_eq!(doc["RecordsFailed"], 1);
    // One sample per keyed call; CloudWatch sums the samples (Sum = 3).
    assert_eq!(
        doc["IdempotencyMiss"],
        json!([1, 1, 1]),
        "a, b and bad ran the handler"
    );
    assert_eq!(
        doc["IdempotencyHit"], 1,
        "the copy of a was answered from the record"
    );
    let names: Vec<&str> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "IdempotencyMiss",
            "IdempotencyHit",
            "RecordsProcessed",
            "RecordsFailed"
        ]
    );
}
