//! Turning one record into what its handler takes: the decoded payload, or the raw record.
//!
//! Decoding happens per record, right before the record runs, so a record that does not
//! decode fails alone (a poison pill) and the others proceed. Decode errors never carry record
//! content: serde messages that quote input (`invalid type: string "…"`, `unknown field `…``)
//! are reduced to what the handler's type expected.

use std::{fmt, marker::PhantomData};

use aws_lambda_events::event::dynamodb::EventRecord;
use serde::de::DeserializeOwned;

use crate::batch::source::{BatchSource, DynamoDb, Kinesis, Sqs};

mod kafka;

pub use kafka::{KafkaHeader, KafkaMessage};

/// Why a record did not decode. The reason names the problem and where (line and column,
/// expected type), never the record's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    reason: String,
}

impl DecodeError {
    /// A decode error with `reason`, which must not contain record content.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// A `serde_json` error on the record's `what` (`body`, `data`), with record content
    /// withheld.
    pub fn json(what: &str, error: &serde_json::Error) -> Self {
        let full = error.to_string();
        let location = format!(" at line {} column {}", error.line(), error.column());
        let message = full.strip_suffix(&location).unwrap_or(&full);
        let message = match error.classify() {
            // Syntax and EOF messages are fixed texts; data messages may quote the input.
            serde_json::error::Category::Data => tern_runtime::redact_serde_message(message),
            _ => message.to_owned(),
        };
        Self::new(format!("{what} does not decode:{location}: {message}"))
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for DecodeError {}

/// Decodes a record of source `Src` into what the record handler takes.
///
/// Implement it to decode another way (e.g. an SNS envelope inside an SQS body); use it as
/// the `D` of [`BatchLayer<Src, D>`](crate::batch::BatchLayer).
pub trait RecordDecoder<Src: BatchSource> {
    /// What the record handler receives as the payload of its `LambdaEvent`.
    type Output: Send + 'static;

    /// Decodes `record`. It may move data out of the record, but must leave its identifier in
    /// place: the batch reads it afterwards to report the record.
    fn decode(record: &mut Src::Record) -> Result<Self::Output, DecodeError>;
}

/// Decode each record's payload into `T`: the SQS `body` as JSON, the Kinesis `data`
/// (base64-decoded by `aws_lambda_events`) as JSON, the DynamoDB `NewImage` through
/// `serde_dynamo` — as `Option<T>`, `None` when the record has no new image (a `REMOVE`, or a
/// `KEYS_ONLY` / `OLD_IMAGE` stream), the Kafka `value` (base64) as JSON — as a
/// [`KafkaMessage<T>`] that also carries the record's topic, partition, offset, key and headers.
/// A record that does not decode is a poison pill: reported, never handed to the handler. For
/// payloads that are not JSON (plain text, XML, Avro), use [`Raw`].
pub struct Payload<T>(PhantomData<fn() -> T>);

/// Hand each record to the handler as it came: `SqsMessage`, `KinesisEventRecord`, the
/// DynamoDB `EventRecord` or `KafkaRecord`. Never a poison pill.
#[derive(Debug, Clone, Copy)]
pub struct Raw;

impl<Src: BatchSource> RecordDecoder<Src> for Raw {
    type Output = Src::Record;

    fn decode(record: &mut Src::Record) -> Result<Src::Record, DecodeError> {
        Ok(Src::detach(record))
    }
}

impl<T: DeserializeOwned + Send + 'static> RecordDecoder<Sqs> for Payload<T> {
    type Output = T;

    fn decode(record: &mut <Sqs as BatchSource>::Record) -> Result<T, DecodeError> {
        let body = record
            .body
            .as_deref()
            .ok_or_else(|| DecodeError::new("the message has no body"))?;
        serde_json::from_str(body).map_err(|error| DecodeError::json("body", &error))
    }
}

impl<T: DeserializeOwned + Send + 'static> RecordDecoder<Kinesis> for Payload<T> {
    type Output = T;

    fn decode(record: &mut <Kinesis as BatchSource>::Record) -> Result<T, DecodeError> {
        serde_json::from_slice(&record.kinesis.data.0)
            .map_err(|error| DecodeError::json("data", &error))
    }
}

impl<T: DeserializeOwned + Send + 'static> RecordDecoder<DynamoDb> for Payload<T> {
    type Output = Option<T>;

    fn decode(record: &mut EventRecord) -> Result<Option<T>, DecodeError> {
        if record.change.new_image.is_empty() {
            return Ok(None);
        }
        // The image is not needed after decoding: move it instead of cloning.
        let image = std::mem::take(&mut record.change.new_image);
        serde_dynamo::from_item(image).map(Some).map_err(|error| {
            DecodeError::new(format!(
                "NewImage does not decode: {}",
                tern_runtime::redact_serde_message(&error.to_string())
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::{kinesis::KinesisEventRecord, sqs::SqsMessage};
    use serde::Deserialize;

    /// The record type of the decoders' tests (Kafka's too).
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Order {
        pub(super) id: String,
        pub(super) qty: u32,
        pub(super) kind: Kind,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    pub(super) enum Kind {
        Retail,
        Wholesale,
    }

    fn sqs_body(body: Option<&str>) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some("m-1".into());
        message.body = body.map(str::to_owned);
        message
    }

    #[test]
    fn sqs_bodies_decode_or_fail_without_quoting_the_body() {
        // (body, decoded (id, qty) or the reason)
        type Case = (
            Option<&'static str>,
            Result<(&'static str, u32), &'static str>,
        );
        let cases: [Case; 9] = [
            (
                Some(r#"{"id":"o-1","qty":2,"kind":"Retail"}"#),
                Ok(("o-1", 2)),
            ),
            (None, Err("the message has no body")),
            (
                Some("not json"),
                Err("body does not decode: at line 1 column 2: expected ident"),
            ),
            (
                Some(""),
                Err("body does not decode: at line 1 column 0: EOF while parsing a value"),
            ),
            (
                Some(r#"{"id":"o-1","qty":"SECRET-4111","kind":"Retail"}"#),
                Err(
                    "body does not decode: at line 1 column 31: invalid type: string, expected u32",
                ),
            ),
            (
                Some(r#"{"id":"o-1","qty":-7,"kind":"Retail"}"#),
                Err(
                    "body does not decode: at line 1 column 20: invalid value: integer, \
                     expected u32",
                ),
            ),
            (
                Some(r#"{"id":"o-1","kind":"Retail"}"#),
                Err("body does not decode: at line 1 column 28: missing field `qty`"),
            ),
            (
                Some(r#"{"id":"o-1","qty":1,"kind":"SECRET"}"#),
                Err(
                    "body does not decode: at line 1 column 35: unknown variant (name \
                     withheld), expected `Retail` or `Wholesale`",
                ),
            ),
            (
                Some(r#"{"id":"o-1","SECRET":1}"#),
                Err(
                    "body does not decode: at line 1 column 20: unknown field (name \
                     withheld), expected one of `id`, `qty`, `kind`",
                ),
            ),
        ];
        for (body, expected) in cases {
            let mut record = sqs_body(body);
            let got = <Payload<Order> as RecordDecoder<Sqs>>::decode(&mut record);
            match expected {
                Ok((id, qty)) => {
                    let order = got.unwrap();
                    assert_eq!((order.id.as_str(), order.qty), (id, qty));
                }
                Err(reason) => {
                    let error = got.unwrap_err();
                    assert_eq!(error.reason(), reason, "{body:?}");
                    assert!(!error.reason().contains("SECRET"));
                }
            }
            assert_eq!(record.message_id.as_deref(), Some("m-1"));
        }
    }

    #[test]
    fn kinesis_data_decodes_as_json() {
        let mut record = KinesisEventRecord::default();
        record.kinesis.sequence_number =
            "49590338271490256608559692538361571095921575989136588898".into();
        record.kinesis.data.0 = br#"{"id":"o-9","qty":1,"kind":"Wholesale"}"#.to_vec();
        let order = <Payload<Order> as RecordDecoder<Kinesis>>::decode(&mut record).unwrap();
        assert_eq!(
            order,
            Order {
                id: "o-9".into(),
                qty: 1,
                kind: Kind::Wholesale
            }
        );

        record.kinesis.data.0 = b"\xff\xfe".to_vec();
        let error = <Payload<Order> as RecordDecoder<Kinesis>>::decode(&mut record).unwrap_err();
        assert_eq!(
            error.reason(),
            "data does not decode: at line 1 column 1: expected value"
        );
    }

    #[test]
    fn raw_records_keep_their_identifier_behind() {
        let mut record = sqs_body(Some("anything, not JSON"));
        let raw = <Raw as RecordDecoder<Sqs>>::decode(&mut record).unwrap();
        assert_eq!(raw.body.as_deref(), Some("anything, not JSON"));
        assert_eq!(raw.message_id.as_deref(), Some("m-1"));
        assert_eq!(Sqs::identifier(&record), "m-1");
        assert_eq!(record.body, None);
    }

    #[test]
    fn custom_messages_are_withheld() {
        let cases = [
            (
                "card 4111 1111 rejected",
                "a custom deserialization error (message withheld: it may quote the record)",
            ),
            (
                "invalid type: SECRET, expected a date",
                "invalid type: value, expected a date",
            ),
            (
                "invalid value: floating point `1.5`, expected an integer",
                "invalid value: floating point, expected an integer",
            ),
            (
                "invalid length 3, expected 2 elements",
                "invalid length 3, expected 2 elements",
            ),
            (
                "unknown field `SECRET`, there are no fields",
                "unknown field (name withheld)",
            ),
        ];
        for (message, expected) in cases {
            assert_eq!(tern_runtime::redact_serde_message(message), expected);
        }
    }
}
