//! Helpers of the batch tests: events of every source, contexts with a deadline, reading a
//! response's identifiers, and quiet expected panics.

use std::{
    pin::Pin,
    sync::{Arc, Mutex, Once},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aws_lambda_events::event::{
    dynamodb::{Event as DynamoDbEvent, EventRecord},
    kafka::{KafkaEvent, KafkaRecord},
    kinesis::{KinesisEvent, KinesisEventRecord},
    sqs::{SqsEvent, SqsMessage},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use lambda_runtime::tower::util::ServiceFn;
use serde::Serialize;
use serde_dynamo::AttributeValue;
use tern_middleware::batch::{
    BatchError, BatchLayer, BatchService, error::OutcomeCounts, source::BatchSource,
};
use tern_runtime::{Context, LambdaEvent};
use tower::{Service, ServiceExt};

pub const FIFO_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:orders.fifo";
pub const STANDARD_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:orders";

/// Panics whose message starts with this are expected by the test and not printed.
pub const EXPECTED_PANIC: &str = "expected test panic";

/// A context whose deadline is `remaining` from now (wall clock, epoch milliseconds), or no
/// deadline at all.
pub fn context(remaining: Option<Duration>) -> Context {
    let mut context = Context::default();
    context.request_id = "request-1".into();
    if let Some(remaining) = remaining {
        let deadline = SystemTime::now() + remaining;
        context.deadline =
            u64::try_from(deadline.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
    }
    context
}

pub fn sqs_message(id: &str, body: &str, group: Option<&str>) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.to_owned());
    message.body = Some(body.to_owned());
    message.event_source = Some("aws:sqs".into());
    match group {
        Some(group) => {
            message
                .attributes
                .insert("MessageGroupId".into(), group.to_owned());
            message.event_source_arn = Some(FIFO_ARN.into());
        }
        None => message.event_source_arn = Some(STANDARD_ARN.into()),
    }
    message
}

/// Stamps out `name(records, context)`: an event of that type whose `records` hold `records`.
macro_rules! events_of_records {
    ($($name:ident: $event:ty = [$record:ty];)*) => {$(
        pub fn $name(
            records: impl IntoIterator<Item = $record>,
            context: Context,
        ) -> LambdaEvent<$event> {
            let mut event = <$event>::default();
            event.records = records.into_iter().collect();
            LambdaEvent::new(event, context)
        }
    )*};
}

events_of_records! {
    sqs_event: SqsEvent = [SqsMessage];
    kinesis_event: KinesisEvent = [KinesisEventRecord];
    dynamodb_event: DynamoDbEvent = [EventRecord];
}

pub fn kinesis_record(sequence: &str, partition_key: &str, data: &[u8]) -> KinesisEventRecord {
    let mut record = KinesisEventRecord::default();
    record.kinesis.sequence_number = sequence.to_owned();
    record.kinesis.partition_key = partition_key.to_owned();
    record.kinesis.data.0 = data.to_vec();
    record.event_source = Some("aws:kinesis".into());
    record
}

/// A stream record of the item `pk = key`, with `new_image` as its new image (empty: none).
pub fn dynamodb_record(
    sequence: &str,
    key: &str,
    new_image: &[(&str, AttributeValue)],
) -> EventRecord {
    let mut record = EventRecord::default();
    record.event_name = if new_image.is_empty() {
        "REMOVE".into()
    } else {
        "MODIFY".into()
    };
    record.change.sequence_number = Some(sequence.to_owned());
    record
        .change
        .keys
        .insert("pk".into(), AttributeValue::S(key.to_owned()));
    for (name, value) in new_image {
        record
            .change
            .new_image
            .insert((*name).to_owned(), value.clone());
    }
    record
}

/// A Kafka record of `topic`-`partition` at `offset` whose value is `value` (base64-encoded
/// here, as Lambda sends it).
pub fn kafka_record(topic: &str, partition: i64, offset: i64, value: &[u8]) -> KafkaRecord {
    let mut record = KafkaRecord::default();
    record.topic = Some(topic.to_owned());
    record.partition = partition;
    record.offset = offset;
    record.timestamp_type = Some("CREATE_TIME".into());
    record.key = Some(STANDARD.encode(format!("key-{offset}")));
    record.value = Some(STANDARD.encode(value));
    record
}

/// A Kafka event grouping `records` under `<topic>-<partition>`, as Lambda does.
pub fn kafka_event(
    records: impl IntoIterator<Item = KafkaRecord>,
    context: Context,
) -> LambdaEvent<KafkaEvent> {
    let mut event = KafkaEvent::default();
    event.event_source = Some("aws:kafka".into());
    for record in records {
        let key = format!(
            "{}-{}",
            record.topic.as_deref().unwrap_or_default(),
            record.partition
        );
        event.records.entry(key).or_default().push(record);
    }
    LambdaEvent::new(event, context)
}

/// The answer of `layer` with `handler` to `event`.
pub async fn run_batch<Src: BatchSource, D, F>(
    layer: BatchLayer<Src, D>,
    handler: F,
    event: LambdaEvent<Src::Event>,
) -> Result<Src::Response, BatchError>
where
    BatchService<ServiceFn<F>, Src, D>:
        Service<LambdaEvent<Src::Event>, Response = Src::Response, Error = BatchError>,
{
    layer.service_fn(handler).oneshot(event).await
}

/// The answer of a batch in which no record failed.
pub const NO_FAILURES: &str = r#"{"batchItemFailures":[]}"#;

/// A response as the runtime sends it: compact JSON.
pub fn json(response: &impl Serialize) -> String {
    serde_json::to_string(response).unwrap()
}

/// The error of a batch of `records` records of `event_source` that all failed, as `counts`.
pub fn all_failed(event_source: &'static str, records: usize, counts: OutcomeCounts) -> BatchError {
    BatchError::AllRecordsFailed {
        event_source,
        records,
        counts,
    }
}

/// The `itemIdentifier`s of a batch response, read back from its JSON (which must have
/// exactly the `{"batchItemFailures":[{"itemIdentifier":…}]}` shape).
fn item_identifiers(response: &impl Serialize) -> Vec<serde_json::Value> {
    let json = serde_json::to_value(response).unwrap();
    let object = json.as_object().expect("response is an object");
    assert_eq!(object.len(), 1, "{json}");
    object["batchItemFailures"]
        .as_array()
        .expect("batchItemFailures is an array")
        .iter()
        .map(|failure| {
            let failure = failure.as_object().unwrap();
            assert_eq!(failure.len(), 1, "{json}");
            failure["itemIdentifier"].clone()
        })
        .collect()
}

/// What a [`recorder`] kept, in run order.
pub type Kept<T> = Arc<Mutex<Vec<T>>>;

/// What a [`recorder`]'s handler answers.
pub type Answer = Pin<Box<dyn Future<Output = Result<(), tern_runtime::Error>> + Send>>;

/// A record handler that keeps what `record` makes of each payload when it runs (when its
/// future is first polled: a record the batch called but stopped before polling is not kept),
/// and answers with the outcome it gives (an `Err` fails the record with that text); returns
/// what it kept so far, in run order, and the handler.
pub fn recorder<P: Send + 'static, T: Send + 'static>(
    record: impl Fn(P) -> (T, Result<(), &'static str>) + Clone + Send + Sync + 'static,
) -> (
    Kept<T>,
    impl Fn(LambdaEvent<P>) -> Answer + Clone + Send + 'static,
) {
    let kept = Arc::new(Mutex::new(Vec::new()));
    let keep = kept.clone();
    let handler = move |event: LambdaEvent<P>| -> Answer {
        let (record, keep) = (record.clone(), keep.clone());
        Box::pin(async move {
            let (kept, outcome) = record(event.payload);
            keep.lock().unwrap().push(kept);
            outcome.map_err(Into::into)
        })
    };
    (kept, handler)
}

/// The identifiers of a batch response whose identifiers are strings (SQS, Kinesis, DynamoDB).
pub fn reported_ids(response: &impl Serialize) -> Vec<String> {
    item_identifiers(response)
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect()
}

/// The identifiers of a Kafka batch response as `(partition, offset)`: each must be exactly
/// `{"partition":…,"offset":…}`.
pub fn kafka_reported(response: &impl Serialize) -> Vec<(String, i64)> {
    item_identifiers(response)
        .iter()
        .map(|id| {
            let id = id.as_object().unwrap();
            assert_eq!(id.len(), 2, "{id:?}");
            (
                id["partition"].as_str().unwrap().to_owned(),
                id["offset"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Installs (once per test binary) a panic hook that stays silent for [`EXPECTED_PANIC`]
/// panics and prints every other one as usual.
pub fn quiet_expected_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or_default();
            if !message.starts_with(EXPECTED_PANIC) {
                default(info);
            }
        }));
    });
}
