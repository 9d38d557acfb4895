//! The batch service on the AWS sample events shipped with `aws_lambda_events` (copied into
//! `tests/fixtures/`), decoded from JSON exactly as the runtime decodes them.

use crate::support::batch::*;
use aws_lambda_events::event::{
    dynamodb::EventRecord,
    kafka::{KafkaEvent, KafkaRecord},
    kinesis::KinesisEventRecord,
    sqs::{SqsBatchResponse, SqsEvent, SqsMessage},
};
use lambda_runtime::tower::util::ServiceFn;
use serde::{Deserialize, de::DeserializeOwned};
use tern_middleware::batch::{
    AllFailedPolicy, BatchConfig, BatchError, BatchLayer, BatchService,
    decode::KafkaMessage,
    error::OutcomeCounts,
    source::{BatchSource, Sqs},
};
use tern_runtime::{Error, LambdaEvent};
use tower::Service;

const SQS_EVENT: &str = include_str!("../fixtures/example-sqs-event.json");
const SQS_BATCH_RESPONSE: &str = include_str!("../fixtures/example-sqs-batch-response.json");
const KINESIS_EVENT: &str = include_str!("../fixtures/example-kinesis-event.json");
const DYNAMODB_EVENT: &str = include_str!("../fixtures/example-dynamodb-event.json");
const DYNAMODB_NULL_ITEMS: &str =
    include_str!("../fixtures/example-dynamodb-event-null-items.json");
const KAFKA_EVENT: &str = include_str!("../fixtures/example-kafka-event.json");

const KINESIS_FIRST: &str = "49568167373333333333333333333333333333333333333333333333";
const KINESIS_SECOND: &str = "49568167373333333334444444444444444444444444444444444444";
/// Both records of the DynamoDB sample carry the same sequence number.
const DYNAMODB_SEQUENCE: &str = "1405400000000002063282832";

/// The counts of a batch whose one record was a poison pill.
fn one_poison_pill() -> OutcomeCounts {
    OutcomeCounts {
        poison: 1,
        ..OutcomeCounts::default()
    }
}

fn report_all() -> BatchConfig {
    BatchConfig::new().with_all_failed(AllFailedPolicy::ReportEveryRecord)
}

/// A record handler that takes any JSON.
async fn accept_json(_: LambdaEvent<serde_json::Value>) -> Result<(), Error> {
    Ok(())
}

/// [`run_batch`] on the event `payload`, with no deadline.
async fn run<Src: BatchSource, D, F>(
    layer: BatchLayer<Src, D>,
    handler: F,
    payload: Src::Event,
) -> Result<Src::Response, BatchError>
where
    BatchService<ServiceFn<F>, Src, D>:
        Service<LambdaEvent<Src::Event>, Response = Src::Response, Error = BatchError>,
{
    run_batch(layer, handler, LambdaEvent::new(payload, context(None))).await
}

/// [`run`] on a sample event, decoded from its JSON exactly as the runtime decodes it.
async fn run_sample<Src: BatchSource<Event: DeserializeOwned>, D, F>(
    layer: BatchLayer<Src, D>,
    handler: F,
    json: &str,
) -> Result<Src::Response, BatchError>
where
    BatchService<ServiceFn<F>, Src, D>:
        Service<LambdaEvent<Src::Event>, Response = Src::Response, Error = BatchError>,
{
    run(layer, handler, serde_json::from_str(json).unwrap()).await
}

#[tokio::test]
async fn sqs_sample_raw_messages_reach_the_handler_whole() {
    let (seen, handler) = recorder(|message: SqsMessage| (message, Ok(())));
    let response = run_sample(BatchLayer::sqs_raw(BatchConfig::new()), handler, SQS_EVENT)
        .await
        .unwrap();
    assert_eq!(json(&response), NO_FAILURES);
    let seen = seen.lock().unwrap();
    let expected: SqsEvent = serde_json::from_str(SQS_EVENT).unwrap();
    assert_eq!(*seen, expected.records);
}

#[tokio::test]
async fn sqs_sample_body_is_a_poison_pill_for_a_json_handler() {
    let response = run_sample(BatchLayer::sqs(report_all()), accept_json, SQS_EVENT)
        .await
        .unwrap();
    assert_eq!(
        json(&response),
        r#"{"batchItemFailures":[{"itemIdentifier":"MessageID_1"}]}"#
    );

    let error = run_sample(BatchLayer::sqs(BatchConfig::new()), accept_json, SQS_EVENT)
        .await
        .unwrap_err();
    assert_eq!(error, all_failed("sqs", 1, one_poison_pill()));
}

#[tokio::test]
async fn sqs_sample_batch_response_round_trips_byte_for_byte() {
    let compact = serde_json::to_string(
        &serde_json::from_str::<serde_json::Value>(SQS_BATCH_RESPONSE).unwrap(),
    )
    .unwrap();
    let parsed: SqsBatchResponse = serde_json::from_str(SQS_BATCH_RESPONSE).unwrap();
    assert_eq!(parsed, Sqs::response(vec!["id2".into(), "id4".into()]));
    assert_eq!(json(&parsed), compact);

    // The same response, produced by a batch of five copies of the sample message.
    let sample: SqsEvent = serde_json::from_str(SQS_EVENT).unwrap();
    let mut batch = SqsEvent::default();
    batch.records = (1..=5)
        .map(|i| {
            let mut message = sample.records[0].clone();
            message.message_id = Some(format!("id{i}"));
            message
        })
        .collect();
    let handler = |event: LambdaEvent<SqsMessage>| async move {
        match event.payload.message_id.as_deref() {
            Some("id2" | "id4") => Err::<(), Error>("rejected".into()),
            _ => Ok(()),
        }
    };
    let response = run(BatchLayer::sqs_raw(BatchConfig::new()), handler, batch)
        .await
        .unwrap();
    assert_eq!(json(&response), compact);
}

#[tokio::test]
async fn kinesis_sample_data_is_base64_decoded_and_ordered_by_partition_key() {
    let (seen, handler) = recorder(|record: KinesisEventRecord| {
        let record = record.kinesis;
        let outcome = if record.sequence_number == KINESIS_SECOND {
            Err("second record rejected")
        } else {
            Ok(())
        };
        (record.data.0, outcome)
    });
    let layer = BatchLayer::kinesis_raw(BatchConfig::new());
    let response = run_sample(layer, handler, KINESIS_EVENT).await.unwrap();
    assert_eq!(
        json(&response),
        format!(r#"{{"batchItemFailures":[{{"itemIdentifier":"{KINESIS_SECOND}"}}]}}"#)
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [b"Hello World".to_vec(), b"Hello World".to_vec()]
    );
}

#[tokio::test]
async fn kinesis_sample_text_data_is_poison_for_a_json_handler_and_stops_the_shard() {
    let response = run_sample(
        BatchLayer::kinesis(report_all()),
        accept_json,
        KINESIS_EVENT,
    )
    .await
    .unwrap();
    assert_eq!(reported_ids(&response), [KINESIS_FIRST, KINESIS_SECOND]);
}

#[derive(Debug, Deserialize, PartialEq)]
struct SampleItem {
    key: String,
    val: String,
    #[serde(rename = "Boolean")]
    boolean: Option<bool>,
}

#[tokio::test]
async fn dynamodb_sample_new_images_decode_through_serde_dynamo() {
    let (seen, handler) = recorder(|item: Option<SampleItem>| (item, Ok(())));
    let layer = BatchLayer::dynamodb(BatchConfig::new());
    let response = run_sample(layer, handler, DYNAMODB_EVENT).await.unwrap();
    assert_eq!(json(&response), NO_FAILURES);
    let item = |boolean| {
        Some(SampleItem {
            key: "binary".into(),
            val: "data".into(),
            boolean,
        })
    };
    assert_eq!(*seen.lock().unwrap(), [item(None), item(Some(true))]);
}

#[tokio::test]
async fn dynamodb_sample_records_of_one_item_stop_together() {
    // Both records change the same item (equal Keys): the second must not run after the
    // first failed, whatever the scope.
    let (runs, handler) = recorder(|_: EventRecord| ((), Err("rejected")));
    for scope in [
        tern_middleware::batch::FailureScope::OrderingKey,
        tern_middleware::batch::FailureScope::Batch,
    ] {
        runs.lock().unwrap().clear();
        let config = report_all().with_failure_scope(scope).with_concurrency(4);
        let layer = BatchLayer::dynamodb_raw(config);
        let response = run_sample(layer, handler.clone(), DYNAMODB_EVENT)
            .await
            .unwrap();
        assert_eq!(
            reported_ids(&response),
            [DYNAMODB_SEQUENCE, DYNAMODB_SEQUENCE]
        );
        assert_eq!(runs.lock().unwrap().len(), 1, "{scope:?}");
    }
}

#[tokio::test]
async fn dynamodb_sample_with_null_images_gives_none() {
    let (seen, handler) = recorder(|item: Option<SampleItem>| (item.map(|item| item.key), Ok(())));
    let layer = BatchLayer::dynamodb(BatchConfig::new());
    let response = run_sample(layer, handler, DYNAMODB_NULL_ITEMS)
        .await
        .unwrap();
    assert_eq!(reported_ids(&response), Vec::<String>::new());
    assert_eq!(*seen.lock().unwrap(), [None, Some("binary".to_owned())]);
}

#[tokio::test]
async fn kafka_sample_raw_record_reaches_the_handler_whole_and_is_reported_by_partition_and_offset()
{
    let (seen, handler) = recorder(|record: KafkaRecord| (record, Err("rejected")));
    let response = run_sample(BatchLayer::kafka_raw(report_all()), handler, KAFKA_EVENT)
        .await
        .unwrap();
    assert_eq!(
        json(&response),
        r#"{"batchItemFailures":[{"itemIdentifier":{"partition":"AWSKafkaTopic-0","offset":0}}]}"#
    );
    let expected: KafkaEvent = serde_json::from_str(KAFKA_EVENT).unwrap();
    assert_eq!(*seen.lock().unwrap(), expected.records["AWSKafkaTopic-0"]);
}

#[tokio::test]
async fn kafka_sample_value_is_a_poison_pill_for_a_json_handler() {
    // The sample's value is a UUID in plain text, not JSON.
    let handler = |_: LambdaEvent<KafkaMessage<serde_json::Value>>| async { Ok::<_, Error>(()) };
    let error = run_sample(BatchLayer::kafka(BatchConfig::new()), handler, KAFKA_EVENT)
        .await
        .unwrap_err();
    assert_eq!(error, all_failed("kafka", 1, one_poison_pill()));

    // As a string in JSON it decodes, with the key and the header.
    let mut event: KafkaEvent = serde_json::from_str(KAFKA_EVENT).unwrap();
    let record = &mut event.records.get_mut("AWSKafkaTopic-0").unwrap()[0];
    record.value = Some("IjhkNTU5NmI0LTE4MTMtNDIzOC1iMjRiLTZkYWQ4ZTNkMWMwYyI=".into());
    let (seen, handler) = recorder(|message: KafkaMessage<String>| (message, Ok(())));
    let response = run(BatchLayer::kafka(BatchConfig::new()), handler, event)
        .await
        .unwrap();
    assert_eq!(reported_ids(&response), Vec::<String>::new());
    let message = seen.lock().unwrap().pop().unwrap();
    assert_eq!(message.value, "8d5596b4-1813-4238-b24b-6dad8e3d1c0c");
    assert_eq!(
        message.key.as_deref(),
        Some(&b"8d5596b4-1813-4238-b24b-6dad8e3d1c0c"[..])
    );
    assert_eq!(message.header("headerKey"), Some(&b"headerValue"[..]));
    assert_eq!(
        (message.topic.as_str(), message.partition, message.offset),
        ("AWSKafkaTopic", 0, 0)
    );
}
