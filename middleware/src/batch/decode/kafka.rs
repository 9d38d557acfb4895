//! Kafka records: the base64 JSON value decoded into the handler's type, with the record's
//! topic, partition, offset, key and headers alongside.

use aws_lambda_events::{encodings::MillisecondTimestamp, event::kafka::KafkaRecord};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::de::DeserializeOwned;

use crate::batch::{
    decode::{DecodeError, Payload, RecordDecoder},
    source::Kafka,
};

/// What a Kafka record handler receives from [`BatchLayer::kafka`](crate::batch::BatchLayer::kafka):
/// the record's value decoded into `T`, and where it came from.
///
/// The key and header values are the bytes the producer sent (Lambda delivers them base64- and
/// byte-array-encoded). A tombstone (a record without a value) decodes as JSON `null`: take
/// `KafkaMessage<Option<T>>` to receive tombstones as `None`; with any other `T` a tombstone
/// fails its record as a poison pill.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaMessage<T> {
    /// The topic.
    pub topic: String,
    /// The partition within the topic.
    pub partition: i64,
    /// The record's offset within the partition.
    pub offset: i64,
    /// The record's timestamp.
    pub timestamp: MillisecondTimestamp,
    /// What the timestamp means: `CREATE_TIME` or `LOG_APPEND_TIME`.
    pub timestamp_type: Option<String>,
    /// The key, if the record has one.
    pub key: Option<Vec<u8>>,
    /// The headers, in the order the record lists them (a name may repeat).
    pub headers: Vec<KafkaHeader>,
    /// The value, decoded from JSON.
    pub value: T,
}

/// One header of a Kafka record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaHeader {
    /// The header's name.
    pub name: String,
    /// The header's value as the producer sent it.
    pub value: Vec<u8>,
}

impl<T> KafkaMessage<T> {
    /// The value of the first header called `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|header| header.name == name)
            .map(|header| header.value.as_slice())
    }
}

/// Decodes the record's value (base64, then JSON) into `T`, and its key (base64) and headers.
/// A value or key that is not base64, or a value that is not `T`, is a poison pill.
impl<T: DeserializeOwned + Send + 'static> RecordDecoder<Kafka> for Payload<T> {
    type Output = KafkaMessage<T>;

    fn decode(record: &mut KafkaRecord) -> Result<KafkaMessage<T>, DecodeError> {
        let value = match record.value.take() {
            Some(text) => {
                let json = base64_in_place(text)
                    .map_err(|reason| DecodeError::new(format!("value is not base64: {reason}")))?;
                serde_json::from_slice(&json).map_err(|error| DecodeError::json("value", &error))?
            }
            None => serde_json::from_str("null").map_err(|_| {
                DecodeError::new(
                    "the record has no value (a tombstone) and the handler's type has no null; \
                     take KafkaMessage<Option<T>> to receive tombstones as None",
                )
            })?,
        };
        let key = record
            .key
            .take()
            .map(base64_in_place)
            .transpose()
            .map_err(|reason| DecodeError::new(format!("key is not base64: {reason}")))?;
        let headers = std::mem::take(&mut record.headers)
            .into_iter()
            .flatten()
            .map(|(name, value)| KafkaHeader {
                name,
                // Lambda sends header bytes as signed numbers; same size, so this reuses the
                // vector's memory.
                value: value.into_iter().map(|byte| byte as u8).collect(),
            })
            .collect();
        Ok(KafkaMessage {
            // The record keeps its topic: it identifies the record if it has to be reported.
            topic: record.topic.clone().unwrap_or_default(),
            partition: record.partition,
            offset: record.offset,
            timestamp: std::mem::take(&mut record.timestamp),
            timestamp_type: record.timestamp_type.take(),
            key,
            headers,
            value,
        })
    }
}

/// Input bytes decoded per step: the step is copied out first, so the output (never longer
/// than the input read so far) can go into the same buffer.
const STEP: usize = 1024;

/// Decodes standard base64 (with padding) into the text's own buffer: no second allocation
/// per record. The reason on error names the problem and its offset, never the input.
fn base64_in_place(text: String) -> Result<Vec<u8>, String> {
    let mut buffer = text.into_bytes();
    let mut step = [0u8; STEP];
    let (mut read, mut written) = (0, 0);
    while read < buffer.len() {
        let end = buffer.len().min(read + STEP);
        let input = &mut step[..end - read];
        input.copy_from_slice(&buffer[read..end]);
        // Padding may only end the whole input, not a step.
        if end < buffer.len() && input.last() == Some(&b'=') {
            return Err(format!("padding at offset {}", end - 1));
        }
        written += STANDARD
            .decode_slice(&*input, &mut buffer[written..])
            .map_err(|error| base64_reason(error, read))?;
        read = end;
    }
    buffer.truncate(written);
    Ok(buffer)
}

fn base64_reason(error: base64::DecodeSliceError, offset: usize) -> String {
    use base64::{DecodeError as E, DecodeSliceError as S};
    match error {
        S::DecodeError(E::InvalidByte(at, _)) => {
            format!("a character that is not base64 at offset {}", offset + at)
        }
        S::DecodeError(E::InvalidLastSymbol(at, _)) => {
            format!(
                "a truncated or corrupt last symbol at offset {}",
                offset + at
            )
        }
        S::DecodeError(E::InvalidLength(_)) => "a length that base64 cannot have".to_owned(),
        S::DecodeError(E::InvalidPadding) => "incorrect padding".to_owned(),
        // The output is the input's own buffer, which is always long enough.
        S::OutputSliceTooSmall => "an output buffer too small".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::decode::tests::{Kind, Order};
    use std::collections::HashMap;

    fn record(value: Option<&str>, key: Option<&str>) -> KafkaRecord {
        let mut record = KafkaRecord::default();
        record.topic = Some("orders".into());
        record.partition = 2;
        record.offset = 41;
        record.timestamp_type = Some("CREATE_TIME".into());
        record.value = value.map(|v| STANDARD.encode(v));
        record.key = key.map(|k| STANDARD.encode(k));
        record
    }

    fn decode<T: DeserializeOwned + Send + 'static>(
        record: &mut KafkaRecord,
    ) -> Result<KafkaMessage<T>, DecodeError> {
        <Payload<T> as RecordDecoder<Kafka>>::decode(record)
    }

    #[test]
    fn base64_in_place_matches_the_base64_crate_at_every_length() {
        // Lengths around the step boundary and well past it.
        for len in (0..40)
            .chain(760..780)
            .chain(1530..1545)
            .chain([3000, 4096])
        {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let text = STANDARD.encode(&bytes);
            assert_eq!(base64_in_place(text).unwrap(), bytes, "length {len}");
        }
    }

    #[test]
    fn base64_errors_name_the_offset_not_the_input() {
        let cases = [
            ("eyJ@", "a character that is not base64 at offset 3"),
            ("eyJ", "incorrect padding"),
            ("eyJhY", "a length that base64 cannot have"),
            ("QR==", "a truncated or corrupt last symbol at offset 1"),
        ];
        for (input, reason) in cases {
            assert_eq!(
                base64_in_place(input.into()).unwrap_err(),
                reason,
                "{input}"
            );
        }
        // A bad character past the first step is reported at its offset in the whole input.
        let mut long = "A".repeat(2048);
        long.replace_range(1500..1501, "!");
        assert_eq!(
            base64_in_place(long).unwrap_err(),
            "a character that is not base64 at offset 1500"
        );
        // Padding at the end of a step is padding in the middle of the input.
        let mut padded = "A".repeat(2048);
        padded.replace_range(1022..1024, "==");
        assert_eq!(
            base64_in_place(padded).unwrap_err(),
            "padding at offset 1023"
        );
    }

    #[test]
    fn value_key_and_headers_are_decoded() {
        let mut r = record(
            Some(r#"{"id":"o-1","qty":2,"kind":"Retail"}"#),
            Some("customer-7"),
        );
        r.headers = vec![
            HashMap::from([("trace".to_owned(), vec![97, 98])]),
            HashMap::from([("bin".to_owned(), vec![-1, 0, 127])]),
        ];
        let message: KafkaMessage<Order> = decode(&mut r).unwrap();
        assert_eq!(
            message.value,
            Order {
                id: "o-1".into(),
                qty: 2,
                kind: Kind::Retail
            }
        );
        assert_eq!(
            (message.topic.as_str(), message.partition, message.offset),
            ("orders", 2, 41)
        );
        assert_eq!(message.key.as_deref(), Some(&b"customer-7"[..]));
        assert_eq!(message.header("trace"), Some(&b"ab"[..]));
        assert_eq!(message.header("bin"), Some(&[255u8, 0, 127][..]));
        assert_eq!(message.header("missing"), None);
        assert_eq!(message.timestamp_type.as_deref(), Some("CREATE_TIME"));
        // The record keeps what identifies it.
        assert_eq!(
            (r.topic.as_deref(), r.partition, r.offset),
            (Some("orders"), 2, 41)
        );
    }

    #[test]
    fn poison_values_fail_without_quoting_the_record() {
        let cases: [(KafkaRecord, &str); 5] = [
            (
                record(Some(r#"{"id":"SECRET-1","qty":"SECRET"}"#), None),
                "value does not decode: at line 1 column 31: invalid type: string, expected u32",
            ),
            (
                record(Some("not json SECRET"), None),
                "value does not decode: at line 1 column 2: expected ident",
            ),
            (
                {
                    let mut r = record(None, None);
                    r.value = Some("SECRET!!".into());
                    r
                },
                "value is not base64: a character that is not base64 at offset 6",
            ),
            (
                {
                    let mut r = record(Some(r#"{"id":"o-1","qty":2,"kind":"Retail"}"#), None);
                    r.key = Some("SECRET*".into());
                    r
                },
                "key is not base64: a character that is not base64 at offset 6",
            ),
            (
                record(None, Some("k")),
                "the record has no value (a tombstone) and the handler's type has no null; take \
                 KafkaMessage<Option<T>> to receive tombstones as None",
            ),
        ];
        for (mut r, reason) in cases {
            let error = decode::<Order>(&mut r).unwrap_err();
            assert_eq!(error.reason(), reason);
            assert!(!error.reason().contains("SECRET"));
        }
    }

    #[test]
    fn tombstones_decode_as_none_for_an_optional_type() {
        let mut r = record(None, Some("o-1"));
        let message: KafkaMessage<Option<Order>> = decode(&mut r).unwrap();
        assert_eq!(message.value, None);
        assert_eq!(message.key.as_deref(), Some(&b"o-1"[..]));
    }
}
