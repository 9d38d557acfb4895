//! Amazon MSK and self-managed Apache Kafka: records grouped by topic-partition, reported by
//! partition and offset.

use std::fmt;

use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use serde::{Deserialize, Serialize};

use crate::batch::{config::FailureScope, source::BatchSource};

/// Amazon MSK and self-managed Apache Kafka (`KafkaEvent` → [`KafkaBatchResponse`]); both send
/// the same event, `eventSource` `aws:kafka` or `SelfManagedKafka`.
///
/// Records of one topic-partition run one at a time in offset order; partitions are
/// independent and run concurrently up to the configured concurrency. The event lists
/// partitions in no particular order (a JSON object), so the batch orders them by topic, then
/// partition number, then offset: the order records run in with concurrency 1 and the order
/// of the response. A failure stops the whole batch by default, as on streams: Lambda resumes
/// each partition from its lowest reported offset, so a record processed after a failure
/// could run again.
#[derive(Debug, Clone, Copy)]
pub struct Kafka;

/// The partial batch response for Kafka:
/// `{"batchItemFailures":[{"itemIdentifier":{"partition":"orders-0","offset":15}}]}`.
///
/// Lambda's Kafka event source mappings (with `FunctionResponseTypes:
/// [ReportBatchItemFailures]`) take an object identifier, not the string the other sources
/// use; a string identifier makes Lambda retry the whole batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaBatchResponse {
    /// The records to retry.
    pub batch_item_failures: Vec<KafkaBatchItemFailure>,
}

/// One record to retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaBatchItemFailure {
    /// Which record.
    pub item_identifier: KafkaItemIdentifier,
}

/// A Kafka record as Lambda identifies it in a partial batch response.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KafkaItemIdentifier {
    /// `<topic>-<partition>`, the key the event groups the record's partition under
    /// (`orders-0`).
    pub partition: String,
    /// The record's offset in that partition.
    pub offset: i64,
}

/// A Kafka record's identifier in logs: `<topic>-<partition>@<offset>` (`orders-0@15`).
#[derive(Debug, Clone, Copy)]
pub struct KafkaRecordId<'a> {
    topic: &'a str,
    partition: i64,
    offset: i64,
}

impl fmt::Display for KafkaRecordId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}@{}", self.topic, self.partition, self.offset)
    }
}

impl BatchSource for Kafka {
    type Event = KafkaEvent;
    type Record = KafkaRecord;
    type Response = KafkaBatchResponse;
    type ItemIdentifier = KafkaItemIdentifier;
    type RecordId<'a> = KafkaRecordId<'a>;
    type OrderingKey<'a> = (&'a str, i64);

    const NAME: &'static str = "kafka";
    const DEFAULT_FAILURE_SCOPE: FailureScope = FailureScope::Batch;

    fn into_records(event: KafkaEvent) -> Vec<KafkaRecord> {
        let mut records = Vec::with_capacity(event.records.values().map(Vec::len).sum());
        for (topic_partition, partition) in event.records {
            for mut record in partition {
                if record.topic.is_none() {
                    // Lambda always names the topic; without it, the key is `<topic>-<n>`.
                    let suffix = format!("-{}", record.partition);
                    let topic = topic_partition.strip_suffix(&suffix);
                    record.topic = Some(topic.unwrap_or(&topic_partition).to_owned());
                }
                records.push(record);
            }
        }
        // Stable: records Lambda sent twice keep their relative order.
        records.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
        records
    }

    fn identifier(record: &KafkaRecord) -> KafkaRecordId<'_> {
        KafkaRecordId {
            topic: topic(record),
            partition: record.partition,
            offset: record.offset,
        }
    }

    fn take_identifier(record: &mut KafkaRecord) -> KafkaItemIdentifier {
        KafkaItemIdentifier {
            partition: format!("{}-{}", topic(record), record.partition),
            offset: record.offset,
        }
    }

    fn ordering_key(record: &KafkaRecord) -> Option<(&str, i64)> {
        Some((topic(record), record.partition))
    }

    fn detach(record: &mut KafkaRecord) -> KafkaRecord {
        let taken = std::mem::take(record);
        record.topic.clone_from(&taken.topic);
        record.partition = taken.partition;
        record.offset = taken.offset;
        taken
    }

    fn response(failed: Vec<KafkaItemIdentifier>) -> KafkaBatchResponse {
        KafkaBatchResponse {
            batch_item_failures: failed
                .into_iter()
                .map(|item_identifier| KafkaBatchItemFailure { item_identifier })
                .collect(),
        }
    }
}

fn topic(record: &KafkaRecord) -> &str {
    record.topic.as_deref().unwrap_or_default()
}

fn order_key(record: &KafkaRecord) -> (&str, i64, i64) {
    (topic(record), record.partition, record.offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(topic: Option<&str>, partition: i64, offset: i64) -> KafkaRecord {
        let mut record = KafkaRecord::default();
        record.topic = topic.map(str::to_owned);
        record.partition = partition;
        record.offset = offset;
        record.value = Some(format!("{partition}/{offset}"));
        record
    }

    #[test]
    fn records_run_by_topic_partition_then_offset() {
        let mut event = KafkaEvent::default();
        event.records.insert(
            "orders-10".into(),
            vec![record(Some("orders"), 10, 7), record(Some("orders"), 10, 8)],
        );
        event.records.insert(
            "orders-2".into(),
            // Out of order on purpose: offsets decide.
            vec![record(Some("orders"), 2, 41), record(Some("orders"), 2, 40)],
        );
        event
            .records
            .insert("audit-log-0".into(), vec![record(None, 0, 3)]);
        let order: Vec<(String, i64, i64)> = Kafka::into_records(event)
            .iter()
            .map(|r| (r.topic.clone().unwrap(), r.partition, r.offset))
            .collect();
        let expected = [
            ("audit-log", 0, 3),
            ("orders", 2, 40),
            ("orders", 2, 41),
            ("orders", 10, 7),
            ("orders", 10, 8),
        ]
        .map(|(t, p, o)| (t.to_owned(), p, o));
        assert_eq!(order, expected);
    }

    #[test]
    fn identifiers_keys_and_detach() {
        let mut r = record(Some("orders"), 3, 15);
        assert_eq!(Kafka::identifier(&r).to_string(), "orders-3@15");
        assert_eq!(Kafka::ordering_key(&r), Some(("orders", 3)));
        let detached = Kafka::detach(&mut r);
        assert_eq!(detached.value.as_deref(), Some("3/15"));
        assert_eq!(r.value, None);
        assert_eq!(
            Kafka::take_identifier(&mut r),
            KafkaItemIdentifier {
                partition: "orders-3".into(),
                offset: 15
            }
        );
    }

    #[test]
    fn response_serializes_the_object_identifier_and_round_trips() {
        let failed = vec![
            KafkaItemIdentifier {
                partition: "orders-0".into(),
                offset: 15,
            },
            KafkaItemIdentifier {
                partition: "orders-1".into(),
                offset: 3,
            },
        ];
        let json = r#"{"batchItemFailures":[{"itemIdentifier":{"partition":"orders-0","offset":15}},{"itemIdentifier":{"partition":"orders-1","offset":3}}]}"#;
        let response = Kafka::response(failed);
        assert_eq!(serde_json::to_string(&response).unwrap(), json);
        let parsed: KafkaBatchResponse = serde_json::from_str(json).unwrap();
        assert_eq!(parsed, response);
        assert_eq!(
            serde_json::to_string(&Kafka::response(Vec::new())).unwrap(),
            r#"{"batchItemFailures":[]}"#
        );
    }
}
