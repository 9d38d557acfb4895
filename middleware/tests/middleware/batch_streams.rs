//! The per-record rules on stream sources: Kinesis stops the batch (by default) or the
//! partition key after a failure; DynamoDB decodes new images and orders records by item;
//! Kafka hands over each value with its metadata and stops the batch or the partition; a
//! stop with concurrency starts nothing that had not started.

use crate::support::batch::*;
use serde::Deserialize;
use serde_dynamo::AttributeValue;
use tern_middleware::batch::{
    AllFailedPolicy, BatchConfig, BatchLayer, FailureScope, decode::KafkaMessage,
};
use tower::ServiceExt;

#[derive(Debug, Deserialize)]
struct Reading {
    n: u32,
}

/// Kinesis records `(sequence, partition key, data)`; the handler fails when `n` is 0.
async fn run_kinesis(
    config: BatchConfig,
    records: &[(&str, &str, &str)],
) -> (Vec<String>, Vec<u32>) {
    let (seen, handler) = recorder(|reading: Reading| {
        let outcome = match reading.n {
            0 => Err("reading 0 is rejected"),
            _ => Ok(()),
        };
        (reading.n, outcome)
    });
    let event = kinesis_event(
        records
            .iter()
            .map(|(sequence, key, data)| kinesis_record(sequence, key, data.as_bytes())),
        context(None),
    );
    let layer = BatchLayer::kinesis(config.with_all_failed(AllFailedPolicy::ReportEveryRecord));
    let response = run_batch(layer, handler, event).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    (reported_ids(&response), seen)
}

#[tokio::test]
async fn kinesis_stops_the_batch_by_default_and_the_key_on_request() {
    let records = [
        ("100", "p1", r#"{"n":1}"#),
        ("101", "p2", r#"{"n":0}"#),
        ("102", "p1", r#"{"n":2}"#),
        ("103", "p2", r#"{"n":3}"#),
        ("104", "p3", "garbage"),
        ("105", "p3", r#"{"n":5}"#),
    ];
    let (reported, seen) = run_kinesis(BatchConfig::new(), &records).await;
    assert_eq!(reported, ["101", "102", "103", "104", "105"]);
    assert_eq!(seen, [1, 0]);

    let by_key = BatchConfig::new().with_failure_scope(FailureScope::OrderingKey);
    let (reported, seen) = run_kinesis(by_key.clone(), &records).await;
    assert_eq!(reported, ["101", "103", "104", "105"]);
    assert_eq!(seen, [1, 0, 2]);

    let (reported, mut seen) = run_kinesis(by_key.with_concurrency(8), &records).await;
    assert_eq!(reported, ["101", "103", "104", "105"]);
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2]);
}

#[derive(Debug, Deserialize, PartialEq)]
struct Counter {
    pk: String,
    count: u32,
}

#[tokio::test]
async fn dynamodb_decodes_new_images_and_orders_by_item() {
    let n = |v: &str| AttributeValue::N(v.into());
    let s = |v: &str| AttributeValue::S(v.into());
    let records = [
        dynamodb_record("1", "a", &[("pk", s("a")), ("count", n("1"))]),
        dynamodb_record("2", "b", &[("pk", s("b")), ("count", n("1"))]),
        dynamodb_record("3", "a", &[]), // REMOVE: no new image
        dynamodb_record("4", "b", &[("pk", s("b")), ("count", s("two"))]), // poison
        dynamodb_record("5", "b", &[("pk", s("b")), ("count", n("3"))]),
        dynamodb_record("6", "c", &[("pk", s("c")), ("count", n("0"))]),
    ];
    let (seen, handler) = recorder(|counter: Option<Counter>| {
        let outcome = match counter.as_ref().map(|c| c.count) {
            Some(0) => Err("count 0 is rejected"),
            _ => Ok(()),
        };
        (counter, outcome)
    });
    let config = BatchConfig::new().with_failure_scope(FailureScope::OrderingKey);
    let response = BatchLayer::dynamodb(config)
        .service_fn(handler)
        .oneshot(dynamodb_event(records, context(None)))
        .await
        .unwrap();
    assert_eq!(reported_ids(&response), ["4", "5", "6"]);
    let counter = |pk: &str, count| {
        Some(Counter {
            pk: pk.into(),
            count,
        })
    };
    assert_eq!(
        *seen.lock().unwrap(),
        [counter("a", 1), counter("b", 1), None, counter("c", 0)]
    );
}

/// Issue #23, the minimal case: `r0[key 1] fails, r1[key 5] ok` at concurrency 2. Both are
/// called at once, but r1's handler would first be polled after r0 failed: it must not run,
/// and is reported.
#[tokio::test]
async fn a_record_not_yet_polled_when_the_batch_stops_never_runs() {
    let n = |v: &str| AttributeValue::N(v.into());
    let records = [
        dynamodb_record(
            "r0",
            "1",
            &[("pk", AttributeValue::S("1".into())), ("count", n("0"))],
        ),
        dynamodb_record(
            "r1",
            "5",
            &[("pk", AttributeValue::S("5".into())), ("count", n("1"))],
        ),
    ];
    let (ran, handler) = recorder(|counter: Option<Counter>| {
        let counter = counter.unwrap();
        let outcome = match counter.count {
            0 => Err("count 0 is rejected"),
            _ => Ok(()),
        };
        (counter.pk, outcome)
    });
    for concurrency in [2, 8] {
        ran.lock().unwrap().clear();
        let config = BatchConfig::new()
            .with_concurrency(concurrency)
            .with_all_failed(AllFailedPolicy::ReportEveryRecord);
        let response = BatchLayer::dynamodb(config)
            .service_fn(handler.clone())
            .oneshot(dynamodb_event(records.clone(), context(None)))
            .await
            .unwrap();
        assert_eq!(reported_ids(&response), ["r0", "r1"], "{concurrency}");
        assert_eq!(*ran.lock().unwrap(), ["1"], "{concurrency}");
    }
}

#[derive(Debug, Deserialize)]
struct Payment {
    amount: i64,
}

/// Kafka records `(partition, offset, value)` of topic `payments`; the handler fails when the
/// amount is negative and records what it saw.
async fn run_kafka(
    config: BatchConfig,
    records: &[(i64, i64, &str)],
) -> (Vec<(String, i64)>, Vec<String>) {
    let (seen, handler) = recorder(|message: KafkaMessage<Payment>| {
        let key = String::from_utf8(message.key.clone().unwrap()).unwrap();
        let trace = String::from_utf8(message.header("trace").unwrap().to_vec()).unwrap();
        let outcome = match message.value.amount {
            ..0 => Err("negative amount"),
            _ => Ok(()),
        };
        let seen = format!(
            "{}-{}@{} key={key} trace={trace}",
            message.topic, message.partition, message.offset
        );
        (seen, outcome)
    });
    let event = kafka_event(
        records.iter().map(|(partition, offset, value)| {
            let mut record = kafka_record("payments", *partition, *offset, value.as_bytes());
            record.headers = vec![std::collections::HashMap::from([(
                "trace".to_owned(),
                format!("t{offset}").bytes().map(|b| b as i8).collect(),
            )])];
            record
        }),
        context(None),
    );
    let layer = BatchLayer::kafka(config.with_all_failed(AllFailedPolicy::ReportEveryRecord));
    let response = run_batch(layer, handler, event).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    (kafka_reported(&response), seen)
}

#[tokio::test]
async fn kafka_stops_the_batch_by_default_and_the_partition_on_request() {
    let records = [
        (1, 10, r#"{"amount":5}"#),
        (0, 7, r#"{"amount":1}"#),
        (0, 8, r#"{"amount":-2}"#),
        (1, 11, r#"{"amount":3}"#),
        (0, 9, r#"{"amount":4}"#),
        (2, 3, "not json"),
        (2, 4, r#"{"amount":6}"#),
    ];
    let id = |p: &str, o| (p.to_owned(), o);
    // Partition 0 runs first; its failure at offset 8 stops everything after it.
    let (reported, seen) = run_kafka(BatchConfig::new(), &records).await;
    assert_eq!(
        reported,
        [
            id("payments-0", 8),
            id("payments-0", 9),
            id("payments-1", 10),
            id("payments-1", 11),
            id("payments-2", 3),
            id("payments-2", 4),
        ]
    );
    assert_eq!(
        seen,
        [
            "payments-0@7 key=key-7 trace=t7",
            "payments-0@8 key=key-8 trace=t8"
        ]
    );

    let by_partition = BatchConfig::new().with_failure_scope(FailureScope::OrderingKey);
    let expected = [
        id("payments-0", 8),
        id("payments-0", 9),
        id("payments-2", 3),
        id("payments-2", 4),
    ];
    let (reported, seen) = run_kafka(by_partition.clone(), &records).await;
    assert_eq!(reported, expected);
    assert_eq!(seen.len(), 4, "{seen:?}");

    let (reported, mut seen) = run_kafka(by_partition.with_concurrency(8), &records).await;
    assert_eq!(reported, expected);
    seen.sort();
    assert_eq!(
        seen,
        [
            "payments-0@7 key=key-7 trace=t7",
            "payments-0@8 key=key-8 trace=t8",
            "payments-1@10 key=key-10 trace=t10",
            "payments-1@11 key=key-11 trace=t11",
        ]
    );
}
