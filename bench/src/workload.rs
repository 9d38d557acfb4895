//! The benchmark workload: orders from SQS, telemetry from Kinesis, and the events that carry
//! them. The Python handler in `bench/python/handler.py` implements the same rules.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use crate::orders::{Order, OrderLine};

/// What a valid order is worth; stored as the idempotent response of its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// The order's total in minor units.
    pub total_cents: u64,
}

/// The message id of record `index` in [`sqs_batch`].
pub fn message_id(index: usize) -> String {
    format!("5b0c7a52-0000-4000-8000-{index:012}")
}

/// A standard-queue SQS event of `records` orders; the one at `failing` has quantity 0.
pub fn sqs_batch(records: usize, failing: Option<usize>) -> Value {
    let records: Vec<Value> = (0..records)
        .map(|i| {
            let quantity = if Some(i) == failing { 0 } else { 1 + i % 5 };
            let body = json!({
                "order_id": format!("o-{}", 1000 + i),
                "customer_id": format!("c-{}", i % 7),
                "currency": "EUR",
                "items": [
                    {"sku": "SKU-TEA", "quantity": quantity, "unit_price_cents": 1299},
                    {"sku": "SKU-CUP", "quantity": 1, "unit_price_cents": 450}
                ]
            });
            json!({
                "messageId": message_id(i),
                "receiptHandle": format!("AQEB{i:032}"),
                "body": body.to_string(),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1795000000000",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1795000000100"
                },
                "messageAttributes": {},
                "md5OfBody": "fe5b5514da39489341766b90672510ec",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The benchmark's SQS batch: 10 orders, the fourth invalid.
pub fn sqs_event() -> Value {
    sqs_batch(10, Some(3))
}

/// One telemetry reading (the data of a Kinesis record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The device.
    pub device_id: String,
    /// Degrees Celsius.
    pub temperature_c: f64,
}

/// A Kinesis event of `records` readings over 16 partition keys, all valid.
pub fn kinesis_batch(records: usize) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let records: Vec<Value> = (0..records)
        .map(|i| {
            let device = format!("d-{}", i % 16);
            let data = json!({"device_id": device, "temperature_c": 20.0 + (i % 10) as f64});
            let sequence = format!("4959033827149025660855969253836157109592157598913{i:08}");
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": device,
                    "sequenceNumber": sequence,
                    "data": b64.encode(data.to_string()),
                    "approximateArrivalTimestamp": 1795000805.1
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{sequence}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/bench",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/telemetry"
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The per-reading work: a plausibility check.
pub fn check_reading(reading: &Reading) -> Result<(), String> {
    if (-90.0..=60.0).contains(&reading.temperature_c) {
        Ok(())
    } else {
        Err(format!("{}: implausible temperature", reading.device_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqs_event_has_one_invalid_order() {
        let event = sqs_event();
        let failing: Vec<usize> = event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                let order: Order = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
                order.validate().is_err()
            })
            .map(|(i, _)| i)
            .collect();
        assert_eq!(failing, vec![3]);
    }

    #[test]
    fn kinesis_records_decode_to_readings() {
        let event: aws_lambda_events::event::kinesis::KinesisEvent =
            serde_json::from_value(kinesis_batch(3)).unwrap();
        let reading: Reading = serde_json::from_slice(&event.records[2].kinesis.data).unwrap();
        assert_eq!(reading.device_id, "d-2");
        check_reading(&reading).unwrap();
    }
}
