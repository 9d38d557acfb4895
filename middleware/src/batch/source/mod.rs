//! The event sources a batch comes from: how their records are identified, ordered and
//! reported.
//!
//! | source | record | identifier | ordering key | response |
//! |---|---|---|---|---|
//! | [`Sqs`] standard | `SqsMessage` | `messageId` | none: every record stands alone | `SqsBatchResponse` |
//! | [`Sqs`] FIFO | `SqsMessage` | `messageId` | `attributes.MessageGroupId` | `SqsBatchResponse` |
//! | [`Kinesis`] | `KinesisEventRecord` | `kinesis.sequenceNumber` | `kinesis.partitionKey` | `KinesisEventResponse` |
//! | [`DynamoDb`] streams | `EventRecord` | `dynamodb.SequenceNumber` | `dynamodb.Keys`, canonical JSON | `DynamoDbEventResponse` |
//! | [`Kafka`] (Amazon MSK, self-managed) | `KafkaRecord` | `{"partition":"<topic>-<partition>","offset":<offset>}` | topic and partition | [`KafkaBatchResponse`] |
//!
//! Every response serializes as `{"batchItemFailures":[{"itemIdentifier":…}]}`: a string for
//! SQS, Kinesis and DynamoDB, an object for Kafka.

use std::{collections::BTreeMap, fmt, hash::Hash};

use aws_lambda_events::event::{
    dynamodb::{Event as DynamoDbEvent, EventRecord},
    kinesis::{KinesisEvent, KinesisEventRecord},
    sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage},
    streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse, KinesisEventResponse},
};

use crate::batch::config::FailureScope;

mod kafka;

pub use kafka::{
    Kafka, KafkaBatchItemFailure, KafkaBatchResponse, KafkaItemIdentifier, KafkaRecordId,
};

/// An event source whose records are processed one by one and reported with
/// `ReportBatchItemFailures`.
///
/// Implemented by [`Sqs`], [`Kinesis`], [`DynamoDb`] and [`Kafka`]; implement it for another
/// source with a partial batch response.
pub trait BatchSource: Send + 'static {
    /// The whole event (`SqsEvent`, …).
    type Event: Send + 'static;
    /// One record of it.
    type Record: Send + 'static;
    /// The partial batch response.
    type Response: Send + 'static;
    /// What one `itemIdentifier` of the response holds: the record's id as a `String` (SQS,
    /// Kinesis, DynamoDB), or a [`KafkaItemIdentifier`].
    type ItemIdentifier: Send + 'static;
    /// A record's identifier as logs show it (`record_id`), borrowed from the record.
    type RecordId<'a>: fmt::Display;
    /// What the records that must run in arrival order share, borrowed from the record where
    /// it can be.
    type OrderingKey<'a>: Hash + Eq;

    /// Short name for logs and errors: `sqs`, `kinesis`, `dynamodb`, `kafka`.
    const NAME: &'static str;
    /// The [`FailureScope`] used unless the configuration sets one.
    const DEFAULT_FAILURE_SCOPE: FailureScope;

    /// The event's records, in the order they run in (arrival order; for Kafka, by partition
    /// and offset).
    fn into_records(event: Self::Event) -> Vec<Self::Record>;

    /// The record's identifier for logs; for SQS, Kinesis and DynamoDB exactly the
    /// `itemIdentifier`, empty when the record has none (Lambda then treats the whole batch as
    /// failed, so nothing is lost).
    fn identifier(record: &Self::Record) -> Self::RecordId<'_>;

    /// Moves the identifier Lambda expects in `itemIdentifier` out of a record that is no
    /// longer needed.
    fn take_identifier(record: &mut Self::Record) -> Self::ItemIdentifier;

    /// The key whose records must run in arrival order, or `None` for a record that may run
    /// in any order relative to every other.
    fn ordering_key(record: &Self::Record) -> Option<Self::OrderingKey<'_>>;

    /// Moves the record out for a handler that takes it whole, leaving a record behind that
    /// still has the identifier.
    fn detach(record: &mut Self::Record) -> Self::Record;

    /// The response reporting `failed` identifiers, in the order the records ran in.
    fn response(failed: Vec<Self::ItemIdentifier>) -> Self::Response;
}

/// Amazon SQS, standard and FIFO queues (`SqsEvent` → `SqsBatchResponse`).
///
/// A message is ordered when it has a `MessageGroupId` attribute and does not come from a
/// standard queue: standard queues with fair-queue group ids (`eventSourceARN` not ending in
/// `.fifo`) give no ordering guarantee, so their messages stand alone.
#[derive(Debug, Clone, Copy)]
pub struct Sqs;

/// Amazon Kinesis Data Streams (`KinesisEvent` → `KinesisEventResponse`).
#[derive(Debug, Clone, Copy)]
pub struct Kinesis;

/// Amazon DynamoDB Streams (`aws_lambda_events::event::dynamodb::Event` →
/// `DynamoDbEventResponse`). Records of the same item (equal `Keys`) run in order.
#[derive(Debug, Clone, Copy)]
pub struct DynamoDb;

/// Implements [`BatchSource`] for a source whose event holds its records in `records` and
/// whose `itemIdentifier` is the string field `id` of the record (a `String`, or an
/// `Option<String>` read as empty when absent), which `detach` leaves behind. What differs
/// per source follows the header: the `Response` and `OrderingKey` types, `ordering_key` and
/// `response`.
macro_rules! string_id_source {
    (
        $source:ident: $event:ty => $record:ty, id: $($id:ident).+;
        name: $name:literal, default scope: $scope:ident;
        $($per_source:tt)*
    ) => {
        impl BatchSource for $source {
            type Event = $event;
            type Record = $record;
            type ItemIdentifier = String;
            type RecordId<'a> = &'a str;

            const NAME: &'static str = $name;
            const DEFAULT_FAILURE_SCOPE: FailureScope = FailureScope::$scope;

            fn into_records(event: $event) -> Vec<$record> {
                event.records
            }

            fn identifier(record: &$record) -> &str {
                StringId::as_id(&record.$($id).+)
            }

            fn take_identifier(record: &mut $record) -> String {
                StringId::take_id(&mut record.$($id).+)
            }

            fn detach(record: &mut $record) -> $record {
                let taken = std::mem::take(record);
                record.$($id).+.clone_from(&taken.$($id).+);
                taken
            }

            $($per_source)*
        }
    };
}

/// A record's string identifier field, for [`string_id_source!`].
trait StringId {
    /// The identifier, empty when the record has none.
    fn as_id(&self) -> &str;
    /// Moves the identifier out, empty when the record has none.
    fn take_id(&mut self) -> String;
}

impl StringId for String {
    fn as_id(&self) -> &str {
        self
    }

    fn take_id(&mut self) -> String {
        std::mem::take(self)
    }
}

impl StringId for Option<String> {
    fn as_id(&self) -> &str {
        self.as_deref().unwrap_or_default()
    }

    fn take_id(&mut self) -> String {
        self.take().unwrap_or_default()
    }
}

/// One failure entry per identifier: `set_id` writes the identifier into a default entry (the
/// entry types are non-exhaustive, so they cannot be built with a literal).
fn failure_entries<F: Default>(failed: Vec<String>, set_id: impl Fn(&mut F, String)) -> Vec<F> {
    failed
        .into_iter()
        .map(|id| {
            let mut failure = F::default();
            set_id(&mut failure, id);
            failure
        })
        .collect()
}

string_id_source! {
    Sqs: SqsEvent => SqsMessage, id: message_id;
    name: "sqs", default scope: OrderingKey;

    type Response = SqsBatchResponse;
    type OrderingKey<'a> = &'a str;

    fn ordering_key(record: &SqsMessage) -> Option<&str> {
        let group = record.attributes.get("MessageGroupId")?;
        let standard_queue = record
            .event_source_arn
            .as_deref()
            .is_some_and(|arn| !arn.ends_with(".fifo"));
        (!standard_queue).then_some(group.as_str())
    }

    fn response(failed: Vec<String>) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures =
            failure_entries(failed, |failure: &mut BatchItemFailure, id| failure.item_identifier = id);
        response
    }
}

string_id_source! {
    Kinesis: KinesisEvent => KinesisEventRecord, id: kinesis.sequence_number;
    name: "kinesis", default scope: Batch;

    type Response = KinesisEventResponse;
    type OrderingKey<'a> = &'a str;

    fn ordering_key(record: &KinesisEventRecord) -> Option<&str> {
        Some(&record.kinesis.partition_key)
    }

    fn response(failed: Vec<String>) -> KinesisEventResponse {
        let mut response = KinesisEventResponse::default();
        response.set_failures(failed);
        response
    }
}

string_id_source! {
    DynamoDb: DynamoDbEvent => EventRecord, id: change.sequence_number;
    name: "dynamodb", default scope: Batch;

    type Response = DynamoDbEventResponse;
    type OrderingKey<'a> = String;

    fn ordering_key(record: &EventRecord) -> Option<String> {
        Some(canonical_keys(&record.change.keys))
    }

    fn response(failed: Vec<String>) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        response.batch_item_failures = failure_entries(failed, |failure: &mut DynamoDbBatchItemFailure, id| {
            failure.item_identifier = Some(id)
        });
        response
    }
}

/// The item's key attributes as JSON with sorted attribute names, so equal keys give equal
/// strings whatever order the stream record listed them in.
fn canonical_keys(keys: &serde_dynamo::Item) -> String {
    let sorted: BTreeMap<&str, &serde_dynamo::AttributeValue> = keys
        .iter()
        .map(|(name, value)| (name.as_str(), value))
        .collect();
    // Serializing strings, numbers and bytes into a String cannot fail.
    serde_json::to_string(&sorted).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_dynamo::AttributeValue;

    fn sqs(id: &str, group: Option<&str>, arn: Option<&str>) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some(id.into());
        if let Some(group) = group {
            message
                .attributes
                .insert("MessageGroupId".into(), group.into());
        }
        message.event_source_arn = arn.map(str::to_owned);
        message
    }

    #[test]
    fn sqs_ordering_keys() {
        let fifo = Some("arn:aws:sqs:us-east-1:123456789012:orders.fifo");
        let standard = Some("arn:aws:sqs:us-east-1:123456789012:orders");
        let cases = [
            (sqs("a", Some("g1"), fifo), Some("g1")),
            (sqs("b", Some("g1"), None), Some("g1")),
            (sqs("c", Some("tenant-7"), standard), None),
            (sqs("d", None, fifo), None),
            (sqs("e", None, standard), None),
        ];
        for (message, expected) in cases {
            assert_eq!(
                Sqs::ordering_key(&message),
                expected,
                "{:?}",
                message.message_id
            );
        }
    }

    #[test]
    fn identifiers_and_keys_per_source() {
        let mut message = sqs("059f36b4-87a3-44ab-83d2-661975830a7d", None, None);
        assert_eq!(
            Sqs::identifier(&message),
            "059f36b4-87a3-44ab-83d2-661975830a7d"
        );
        assert_eq!(
            Sqs::take_identifier(&mut message),
            "059f36b4-87a3-44ab-83d2-661975830a7d"
        );
        assert_eq!(Sqs::identifier(&SqsMessage::default()), "");

        let mut record = KinesisEventRecord::default();
        record.kinesis.sequence_number = "4959033827149025660855969".into();
        record.kinesis.partition_key = "device-1".into();
        assert_eq!(Kinesis::identifier(&record), "4959033827149025660855969");
        assert_eq!(Kinesis::ordering_key(&record), Some("device-1"));
        let detached = Kinesis::detach(&mut record);
        assert_eq!(detached.kinesis.partition_key, "device-1");
        assert_eq!(Kinesis::identifier(&record), "4959033827149025660855969");
        assert_eq!(record.kinesis.partition_key, "");

        let mut change = EventRecord::default();
        change.change.sequence_number = Some("111".into());
        assert_eq!(DynamoDb::identifier(&change), "111");
        assert_eq!(DynamoDb::take_identifier(&mut change), "111");
        assert_eq!(DynamoDb::identifier(&change), "");
    }

    /// A stream record of the item with these key attributes, listed in this order.
    fn keyed<const N: usize>(keys: [(&str, AttributeValue); N]) -> EventRecord {
        let mut record = EventRecord::default();
        for (name, value) in keys {
            record.change.keys.insert(name.into(), value);
        }
        record
    }

    #[test]
    fn dynamodb_keys_are_canonical() {
        let pk = || ("pk", AttributeValue::S("order#1".into()));
        let sk = || ("sk", AttributeValue::N("42".into()));
        let a = keyed([pk(), sk()]);
        let b = keyed([sk(), pk()]);
        let expected = r#"{"pk":{"S":"order#1"},"sk":{"N":"42"}}"#;
        assert_eq!(DynamoDb::ordering_key(&a).as_deref(), Some(expected));
        assert_eq!(DynamoDb::ordering_key(&b).as_deref(), Some(expected));

        // The same value under a different type is a different item.
        let c = keyed([("pk", AttributeValue::N("1".into()))]);
        let d = keyed([("pk", AttributeValue::S("1".into()))]);
        assert_ne!(DynamoDb::ordering_key(&c), DynamoDb::ordering_key(&d));
    }

    #[test]
    fn responses_serialize_byte_for_byte() {
        let ids = || vec!["id-1".to_owned(), "id-2".to_owned()];
        let expected =
            r#"{"batchItemFailures":[{"itemIdentifier":"id-1"},{"itemIdentifier":"id-2"}]}"#;
        assert_eq!(
            serde_json::to_string(&Sqs::response(ids())).unwrap(),
            expected
        );
        assert_eq!(
            serde_json::to_string(&Kinesis::response(ids())).unwrap(),
            expected
        );
        assert_eq!(
            serde_json::to_string(&DynamoDb::response(ids())).unwrap(),
            expected
        );

        let empty = r#"{"batchItemFailures":[]}"#;
        assert_eq!(
            serde_json::to_string(&Sqs::response(Vec::new())).unwrap(),
            empty
        );
        assert_eq!(
            serde_json::to_string(&Kinesis::response(Vec::new())).unwrap(),
            empty
        );
        assert_eq!(
            serde_json::to_string(&DynamoDb::response(Vec::new())).unwrap(),
            empty
        );
    }

    #[test]
    fn responses_round_trip() {
        let json = r#"{"batchItemFailures":[{"itemIdentifier":"a"},{"itemIdentifier":"b"}]}"#;
        let sqs: SqsBatchResponse = serde_json::from_str(json).unwrap();
        assert_eq!(sqs, Sqs::response(vec!["a".into(), "b".into()]));
        assert_eq!(serde_json::to_string(&sqs).unwrap(), json);
        let kinesis: KinesisEventResponse = serde_json::from_str(json).unwrap();
        assert_eq!(kinesis, Kinesis::response(vec!["a".into(), "b".into()]));
        assert_eq!(serde_json::to_string(&kinesis).unwrap(), json);
        let dynamodb: DynamoDbEventResponse = serde_json::from_str(json).unwrap();
        assert_eq!(dynamodb, DynamoDb::response(vec!["a".into(), "b".into()]));
        assert_eq!(serde_json::to_string(&dynamodb).unwrap(), json);
    }
}
