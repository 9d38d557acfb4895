//! `kinesis`: device telemetry from a stream into DynamoDB, with partial failures by sequence
//! number.
//!
//! Each record's data is a JSON reading. The batch layer hands over records one by one (in
//! order per partition key, i.e. per device); a reading that does not decode or is out of range
//! fails its record. A good reading is transformed — Fahrenheit, dew point (Magnus formula),
//! the minute it belongs to — into an item keyed by `reading_id` = `<device>#<recorded_at>`.
//! The items of the batch are then written with `BatchWriteItem`, 25 at a time, and whatever
//! DynamoDB leaves unprocessed is retried with backoff while the deadline allows. Records whose
//! item still could not be written join the failed records in `batchItemFailures`; Lambda
//! resumes the shard from the lowest reported sequence number, and because items are keyed by
//! reading, writing a redelivered reading again is harmless.
//!
//! A bad reading stops only its own device's records ([`FailureScope::OrderingKey`], failure
//! scope `key`, unless `TERN_BATCH_FAILURE_SCOPE` says otherwise): writes are keyed by reading,
//! so records of other devices that Lambda redelivers are rewritten harmlessly, and one broken
//! sensor does not hold up the rest.
//!
//! Configuration: `TELEMETRY_TABLE` (partition key `reading_id`, S); the `TERN_BATCH_*`
//! variables of the batch layer.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, SystemTime},
};

use aws_lambda_events::event::{
    kinesis::{KinesisEvent, KinesisEventRecord},
    streams::{KinesisBatchItemFailure, KinesisEventResponse},
};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use serde::Deserialize;
use tern_middleware::batch::{
    AllFailedPolicy, BatchConfig, BatchError, BatchLayer, FailureScope, decode::Raw,
    error::OutcomeCounts, outcome::record_counts, source::Kinesis,
};
use tern_runtime::{Diagnostic, InitContext, InitError, LambdaEvent, aws::SdkFailure};
use tower::{Layer, Service, ServiceExt, service_fn};

/// `BatchWriteItem` takes at most 25 requests.
const WRITE_CHUNK: usize = 25;
/// Retries of unprocessed items before giving up on them (backoff 50 ms, doubling).
const WRITE_ATTEMPTS: u32 = 6;
/// Time kept free before the deadline for the response: no write is sent into it.
const WRITE_MARGIN: Duration = Duration::from_secs(1);

/// One telemetry reading, the JSON in a record's data.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reading {
    /// The device (also the partition key).
    pub device_id: String,
    /// RFC 3339 UTC time of the measurement, e.g. `2026-11-22T12:00:05Z`.
    pub recorded_at: String,
    /// Temperature in °C (-60 to 80).
    pub temperature_c: f64,
    /// Relative humidity in % (0 to 100).
    pub humidity_pct: f64,
}

/// Why a record was not stored.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The data is not a reading.
    #[error("record {sequence_number}: {reason}")]
    Invalid {
        /// The record.
        sequence_number: String,
        /// What is wrong.
        reason: String,
    },
}

impl From<TelemetryError> for Diagnostic {
    fn from(error: TelemetryError) -> Self {
        Diagnostic {
            error_type: "Telemetry.InvalidReading".to_owned(),
            error_message: error.to_string(),
        }
    }
}

impl Reading {
    /// Decodes and range-checks a record's data.
    pub fn from_record(record: &KinesisEventRecord) -> Result<Self, TelemetryError> {
        let invalid = |reason: String| TelemetryError::Invalid {
            sequence_number: record.kinesis.sequence_number.clone(),
            reason,
        };
        let reading: Reading = tern_runtime::decode_json(&record.kinesis.data.0)
            .map_err(|reason| invalid(format!("data is not a reading: {reason}")))?;
        if reading.device_id.trim().is_empty() {
            return Err(invalid("device_id is empty".to_owned()));
        }
        if reading.device_id != record.kinesis.partition_key {
            return Err(invalid(
                "device_id differs from the record's partition key".to_owned(),
            ));
        }
        if minute_of(&reading.recorded_at).is_none() {
            return Err(invalid(
                "recorded_at is not an RFC 3339 UTC time".to_owned(),
            ));
        }
        if !(-60.0..=80.0).contains(&reading.temperature_c) {
            return Err(invalid("temperature_c is outside -60..80".to_owned()));
        }
        if !(0.0..=100.0).contains(&reading.humidity_pct) {
            return Err(invalid("humidity_pct is outside 0..100".to_owned()));
        }
        Ok(reading)
    }

    /// The DynamoDB item: the reading plus derived fields.
    pub fn to_item(
        &self,
        sequence_number: &str,
    ) -> std::collections::HashMap<String, AttributeValue> {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let n = |v: f64| AttributeValue::N(format!("{:.2}", v));
        [
            (
                "reading_id".to_owned(),
                s(&format!("{}#{}", self.device_id, self.recorded_at)),
            ),
            ("device_id".to_owned(), s(&self.device_id)),
            ("recorded_at".to_owned(), s(&self.recorded_at)),
            (
                "minute".to_owned(),
                s(minute_of(&self.recorded_at).unwrap_or_default()),
            ),
            ("temperature_c".to_owned(), n(self.temperature_c)),
            (
                "temperature_f".to_owned(),
                n(self.temperature_c * 9.0 / 5.0 + 32.0),
            ),
            ("humidity_pct".to_owned(), n(self.humidity_pct)),
            (
                "dew_point_c".to_owned(),
                n(dew_point(self.temperature_c, self.humidity_pct)),
            ),
            ("sequence_number".to_owned(), s(sequence_number)),
        ]
        .into()
    }
}

/// `2026-11-22T12:00:05Z` → `2026-11-22T12:00`; `None` if it is not that shape.
fn minute_of(timestamp: &str) -> Option<&str> {
    let bytes = timestamp.as_bytes();
    let shape_ok = bytes.len() >= 20
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[16] == b':'
        && timestamp.ends_with('Z')
        && [0..4, 5..7, 8..10, 11..13, 14..16, 17..19]
            .into_iter()
            .all(|r| bytes[r].iter().all(u8::is_ascii_digit));
    shape_ok.then(|| &timestamp[..16])
}

/// Dew point in °C by the Magnus formula (b = 17.62, c = 243.12 °C).
fn dew_point(temperature_c: f64, humidity_pct: f64) -> f64 {
    let gamma =
        (humidity_pct.max(0.01) / 100.0).ln() + 17.62 * temperature_c / (243.12 + temperature_c);
    243.12 * gamma / (17.62 - gamma)
}

/// The `kinesis` service: batch layer over a per-record transform, then batched writes.
#[derive(Clone)]
pub struct TelemetryService {
    dynamodb: aws_sdk_dynamodb::Client,
    table: Arc<str>,
    batch: BatchLayer<Kinesis, Raw>,
    all_failed: AllFailedPolicy,
}

/// Builds the `kinesis` service: metrics → batch → per-record transform, then batched writes.
pub async fn build(
    init: InitContext,
) -> Result<impl crate::FunctionService<KinesisEvent, KinesisEventResponse>, InitError> {
    let table = init.required_env(
        "TELEMETRY_TABLE",
        "the DynamoDB table telemetry readings are written to",
    )?;
    // The batch layer's own counts would be final before the writes: this service reports them.
    let config = batch_config()?.with_metrics(false);
    let service = TelemetryService {
        dynamodb: aws_sdk_dynamodb::Client::new(init.aws_config().await),
        table: table.into(),
        all_failed: config.all_failed(),
        batch: BatchLayer::kinesis_raw(config),
    };
    Ok(crate::observability::metrics_layer().layer(service))
}

/// The batch configuration from the environment, except that by default a bad reading stops
/// only its own device (partition key): writes are keyed by reading, so records of other
/// devices that Lambda redelivers after the failed one are rewritten harmlessly, and progress
/// is not held up by one broken sensor. `TERN_BATCH_FAILURE_SCOPE` still overrides it.
fn batch_config() -> Result<BatchConfig, InitError> {
    let config = BatchConfig::from_env()?;
    Ok(match config.failure_scope() {
        Some(_) => config,
        None => config.with_failure_scope(FailureScope::OrderingKey),
    })
}

type Pending = Arc<Mutex<Vec<(String, WriteRequest)>>>;

impl Service<LambdaEvent<KinesisEvent>> for TelemetryService {
    type Response = KinesisEventResponse;
    type Error = BatchError;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<KinesisEventResponse, BatchError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent<KinesisEvent>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let deadline = event.context.deadline();
            let total = event.payload.records.len();
            // Each invocation collects its own items; the record handler only transforms.
            let pending: Pending = Arc::default();
            let collect = pending.clone();
            let transform = service_fn(move |record: LambdaEvent<KinesisEventRecord>| {
                let collect = collect.clone();
                async move {
                    let record = record.payload;
                    let reading = Reading::from_record(&record)?;
                    let sequence_number = record.kinesis.sequence_number;
                    let put = PutRequest::builder()
                        .set_item(Some(reading.to_item(&sequence_number)))
                        .build()
                        .expect("item is set");
                    let write = WriteRequest::builder().put_request(put).build();
                    collect
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((sequence_number, write));
                    Ok::<_, TelemetryError>(())
                }
            });
            let mut response = match this.batch.layer(transform).oneshot(event).await {
                Ok(response) => response,
                Err(error) => {
                    record_counts(0, total);
                    return Err(error);
                }
            };
            let pending = std::mem::take(&mut *pending.lock().unwrap_or_else(|p| p.into_inner()));
            let unwritten = this.write_all(pending, deadline).await;
            for sequence_number in unwritten {
                let mut failure = KinesisBatchItemFailure::default();
                failure.item_identifier = Some(sequence_number);
                response.batch_item_failures.push(failure);
            }
            response.batch_item_failures.sort_by(|a, b| {
                sequence_order(a.item_identifier.as_deref(), b.item_identifier.as_deref())
            });
            response
                .batch_item_failures
                .dedup_by(|a, b| a.item_identifier == b.item_identifier);
            // The final counts, after the writes (the batch layer's own are turned off).
            let failed = response.batch_item_failures.len();
            record_counts(total - failed.min(total), failed);
            if total > 0 && failed >= total && this.all_failed == AllFailedPolicy::Error {
                return Err(BatchError::AllRecordsFailed {
                    event_source: "kinesis",
                    records: total,
                    counts: OutcomeCounts {
                        failed: total,
                        ..OutcomeCounts::default()
                    },
                });
            }
            Ok(response)
        })
    }
}

/// Kinesis sequence numbers are decimal strings of up to 128 bits: compare by length first.
fn sequence_order(a: Option<&str>, b: Option<&str>) -> std::cmp::Ordering {
    fn key(s: Option<&str>) -> Option<(usize, &str)> {
        s.map(|s| (s.len(), s))
    }
    key(a).cmp(&key(b))
}

impl TelemetryService {
    /// Writes the items, one write per reading, 25 per `BatchWriteItem`, retrying what DynamoDB
    /// leaves unprocessed with backoff; each call is bounded by the time left before the
    /// deadline (less a margin for the response). Returns the sequence numbers not written.
    async fn write_all(
        &self,
        pending: Vec<(String, WriteRequest)>,
        deadline: SystemTime,
    ) -> Vec<String> {
        // A stream may carry one reading twice (producer retries), and BatchWriteItem rejects a
        // request that touches an item twice: the later record's write wins, and every sequence
        // number of the reading shares that write's outcome.
        let mut readings: Vec<(String, WriteRequest, Vec<String>)> =
            Vec::with_capacity(pending.len());
        let mut position: HashMap<String, usize> = HashMap::with_capacity(pending.len());
        for (sequence_number, write) in pending {
            let key = reading_id(&write);
            match position.get(&key) {
                Some(&at) => {
                    readings[at].1 = write;
                    readings[at].2.push(sequence_number);
                }
                None => {
                    position.insert(key.clone(), readings.len());
                    readings.push((key, write, vec![sequence_number]));
                }
            }
        }

        let mut unwritten = Vec::new();
        for chunk in readings.chunks(WRITE_CHUNK) {
            let mut left: Vec<&(String, WriteRequest, Vec<String>)> = chunk.iter().collect();
            let mut backoff = Duration::from_millis(50);
            for attempt in 1..=WRITE_ATTEMPTS {
                let Some(budget) = time_left(deadline).checked_sub(WRITE_MARGIN) else {
                    tracing::warn!(table = %self.table, "no time left before the deadline to write readings");
                    break;
                };
                let requests: Vec<WriteRequest> =
                    left.iter().map(|(_, write, _)| write.clone()).collect();
                let call = self
                    .dynamodb
                    .batch_write_item()
                    .request_items(self.table.to_string(), requests)
                    .send();
                match tokio::time::timeout(budget, call).await {
                    Err(_) => {
                        tracing::warn!(table = %self.table, "BatchWriteItem did not answer before the deadline");
                        break;
                    }
                    Ok(Ok(output)) => {
                        let unprocessed = output.unprocessed_items().cloned().unwrap_or_default();
                        if unprocessed.is_empty() {
                            left.clear();
                            break;
                        }
                        match unprocessed.get(&*self.table) {
                            Some(retry) => {
                                let keys: HashSet<String> = retry.iter().map(reading_id).collect();
                                left.retain(|(key, _, _)| keys.contains(key));
                            }
                            // Never expected; retrying everything is the safe reading.
                            None => {
                                tracing::warn!(table = %self.table, "unprocessed items name another table; retrying the chunk")
                            }
                        }
                        if left.is_empty() {
                            break;
                        }
                        tracing::warn!(attempt, table = %self.table, unprocessed = left.len(), "DynamoDB left readings unprocessed (throttling?); retrying");
                    }
                    Ok(Err(err)) => {
                        let failure = SdkFailure::from_sdk_error(&err);
                        let code = failure.code();
                        tracing::warn!(attempt, table = %self.table, code, error = failure.message(), "BatchWriteItem failed; check the table's capacity and the dynamodb:BatchWriteItem permission");
                        if code == "ValidationException"
                            || code == "AccessDeniedException"
                            || code == "ResourceNotFoundException"
                        {
                            break; // retrying cannot help
                        }
                    }
                }
                if attempt == WRITE_ATTEMPTS || time_left(deadline) < backoff + WRITE_MARGIN {
                    break;
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            for (key, _, sequence_numbers) in left {
                tracing::error!(reading_id = %key, table = %self.table, "reading not written; reported for retry");
                unwritten.extend(sequence_numbers.iter().cloned());
            }
        }
        unwritten
    }
}

/// The `reading_id` of a write (the table's key).
fn reading_id(write: &WriteRequest) -> String {
    write
        .put_request()
        .and_then(|put| put.item().get("reading_id"))
        .and_then(|value| value.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

fn time_left(deadline: SystemTime) -> Duration {
    deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<KinesisEventRecord> {
        let event: KinesisEvent =
            serde_json::from_str(include_str!("../../events/kinesis/1-telemetry.json")).unwrap();
        event.records
    }

    #[test]
    fn readings_decode_and_bad_data_names_the_record() {
        let records = records();
        let first = Reading::from_record(&records[0]).unwrap();
        assert_eq!(first.device_id, "d-100");
        assert_eq!(first.temperature_c, 21.5);
        let err = Reading::from_record(&records[3]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "record 49590338271490256608559692538361571095921575989136588804: data is not a reading: expected value at line 1 column 1"
        );
    }

    #[test]
    fn items_carry_derived_fields() {
        let reading = Reading::from_record(&records()[0]).unwrap();
        let item = reading.to_item("42");
        let text = |k: &str| match &item[k] {
            AttributeValue::S(s) | AttributeValue::N(s) => s.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(text("reading_id"), "d-100#2026-11-22T12:00:05Z");
        assert_eq!(text("minute"), "2026-11-22T12:00");
        assert_eq!(text("temperature_f"), "70.70");
        // Magnus (b = 17.62, c = 243.12) computed independently in Python: 21.5 °C at 40 % → 7.32.
        assert_eq!(text("dew_point_c"), "7.32");
        assert_eq!(text("sequence_number"), "42");
    }

    #[test]
    fn range_and_shape_checks() {
        assert_eq!(minute_of("2026-11-22T12:00:05Z"), Some("2026-11-22T12:00"));
        assert_eq!(minute_of("2026-11-22 12:00:05Z"), None);
        assert_eq!(minute_of("2026-11-22T12:00:05+01:00"), None);
        assert_eq!(
            sequence_order(Some("9"), Some("10")),
            std::cmp::Ordering::Less,
            "numeric order, not text order"
        );
    }
}
