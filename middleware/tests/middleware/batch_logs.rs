//! The log lines of a batch: one per failed record (id and reason, never the record's
//! content), the record span around the handler, and the one-line summary.

use crate::support::{
    batch::*,
    logs::{LogBuffer, capture},
};
use serde::Deserialize;
use tern_middleware::batch::{BatchConfig, BatchLayer};
use tern_runtime::{Error, LambdaEvent};
use tower::ServiceExt;

#[derive(Debug, Deserialize)]
struct Order {
    id: String,
}

#[tokio::test]
async fn failures_are_logged_with_their_id_and_reason_never_the_body() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = capture(subscriber);

    let handler = |event: LambdaEvent<Order>| async move {
        tracing::info!("handling");
        if event.payload.id == "o-3" {
            return Err::<(), Error>("warehouse closed".into());
        }
        Ok(())
    };
    let messages = [
        sqs_message("m0", r#"{"id":"o-1"}"#, None),
        sqs_message("m1", r#"{"card":"SECRET-4111"}"#, None),
        sqs_message("m2", r#"{"id":"o-3"}"#, None),
        sqs_message("m3", r#"{"id":"o-4"}"#, None),
    ];
    let response = BatchLayer::sqs(BatchConfig::new())
        .service_fn(handler)
        .oneshot(sqs_event(messages, context(None)))
        .await
        .unwrap();
    assert_eq!(reported_ids(&response), ["m1", "m2"]);

    let text = logs.contents();
    assert!(!text.contains("SECRET"), "{text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let fields = |message_start: &str| -> Vec<serde_json::Value> {
        lines
            .iter()
            .filter(|line| {
                line["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(message_start))
            })
            .cloned()
            .collect()
    };

    // The handler's own lines carry the record id through the record span.
    let handling = fields("handling");
    let ids: Vec<&str> = handling
        .iter()
        .map(|line| line["span"]["record_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["m0", "m2", "m3"]);

    let poison = fields("record does not decode");
    assert_eq!(poison.len(), 1);
    assert_eq!(poison[0]["level"], "WARN");
    assert_eq!(poison[0]["fields"]["record_id"], "m1");
    assert_eq!(poison[0]["fields"]["outcome"], "poison");
    assert_eq!(
        poison[0]["fields"]["reason"],
        "body does not decode: at line 1 column 22: missing field `id`"
    );

    let failed = fields("record handler failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["fields"]["record_id"], "m2");
    assert_eq!(failed[0]["fields"]["reason"], "warehouse closed");

    let summary = fields("batch processed");
    assert_eq!(summary.len(), 1);
    let summary = &summary[0];
    assert_eq!(summary["level"], "WARN");
    assert_eq!(
        summary["fields"]["message"],
        "batch processed: 2 of 4 records reported as failures"
    );
    for (field, value) in [
        ("records", 4),
        ("succeeded", 2),
        ("failed", 1),
        ("poison", 1),
        ("panicked", 0),
        ("skipped", 0),
        ("not_started", 0),
        ("abandoned", 0),
    ] {
        assert_eq!(summary["fields"][field], value, "{field}");
    }
    assert_eq!(summary["fields"]["event_source"], "sqs");
}
