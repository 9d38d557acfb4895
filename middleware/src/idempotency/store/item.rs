//! The item schema: attribute names and the mapping between items and records.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::StoreError;
use crate::idempotency::record::{IdempotencyRecord, OmittedResponse, RecordStatus};

/// The attribute names of the table. The defaults are Powertools' (`id`, `expiration`,
/// `in_progress_expiration`, `status`, `data`, `validation`); change them to share a table
/// that was set up with other names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeNames {
    /// The partition key (type S). Default `id`.
    pub key: String,
    /// Record expiry in epoch seconds (type N); make it the table's TTL attribute.
    /// Default `expiration`.
    pub expiration: String,
    /// Lock expiry in epoch milliseconds (type N). Default `in_progress_expiration`.
    pub in_progress_expiration: String,
    /// `INPROGRESS` or `COMPLETED` (type S). Default `status`.
    pub status: String,
    /// The serialized response (type S). Default `data`.
    pub data: String,
    /// The payload validation hash (type S). Default `validation`.
    pub validation: String,
    /// Size and hash of a response too large to store (type M, `bytes` N and `sha256` S).
    /// Default `omitted_data`; not part of Powertools' schema, which has no such records.
    pub omitted: String,
}

impl Default for AttributeNames {
    fn default() -> Self {
        Self {
            key: "id".into(),
            expiration: "expiration".into(),
            in_progress_expiration: "in_progress_expiration".into(),
            status: "status".into(),
            data: "data".into(),
            validation: "validation".into(),
            omitted: "omitted_data".into(),
        }
    }
}

impl AttributeNames {
    /// The DynamoDB item for `record`; optional fields that are `None` are left out.
    pub(super) fn to_item(&self, record: &IdempotencyRecord) -> HashMap<String, AttributeValue> {
        let n = self;
        let mut item = HashMap::with_capacity(6);
        item.insert(n.key.clone(), AttributeValue::S(record.key.clone()));
        item.insert(
            n.expiration.clone(),
            AttributeValue::N(record.expiration.to_string()),
        );
        if let Some(lock) = record.in_progress_expiration {
            item.insert(
                n.in_progress_expiration.clone(),
                AttributeValue::N(lock.to_string()),
            );
        }
        item.insert(
            n.status.clone(),
            AttributeValue::S(record.status.as_str().to_owned()),
        );
        if let Some(data) = &record.data {
            item.insert(n.data.clone(), AttributeValue::S(data.clone()));
        }
        if let Some(validation) = &record.validation {
            item.insert(n.validation.clone(), AttributeValue::S(validation.clone()));
        }
        if let Some(omitted) = &record.omitted {
            item.insert(n.omitted.clone(), omitted_value(omitted));
        }
        item
    }

    /// The record an item holds; an error (code `MalformedRecord`, naming the attribute and
    /// `table`) when a required attribute is missing or has the wrong type.
    pub(super) fn parse_item(
        &self,
        item: &HashMap<String, AttributeValue>,
        table: &str,
        operation: &'static str,
    ) -> Result<IdempotencyRecord, StoreError> {
        let n = self;
        let malformed = |attribute: &str, problem: &str| {
            StoreError::new(
                operation,
                "MalformedRecord",
                format!(
                    "the item's `{attribute}` attribute {problem}; delete the item or fix the \
                     attribute names configured for table `{table}`"
                ),
            )
        };
        let text = |name: &str| match item.get(name) {
            None => Ok(None),
            Some(AttributeValue::S(s)) => Ok(Some(s.clone())),
            Some(_) => Err(malformed(name, "is not a string (S)")),
        };
        let number = |name: &str| match item.get(name) {
            None => Ok(None),
            Some(AttributeValue::N(n)) => parse_number(n)
                .map(Some)
                .ok_or_else(|| malformed(name, "is not a non-negative number")),
            Some(_) => Err(malformed(name, "is not a number (N)")),
        };
        let omitted = match item.get(&n.omitted) {
            None => None,
            Some(value) => Some(parse_omitted(value).ok_or_else(|| {
                malformed(
                    &n.omitted,
                    "is not a map (M) of `bytes` (N) and `sha256` (S)",
                )
            })?),
        };
        let key = text(&n.key)?.ok_or_else(|| malformed(&n.key, "is missing"))?;
        let status = text(&n.status)?.ok_or_else(|| malformed(&n.status, "is missing"))?;
        let status = RecordStatus::parse(&status)
            .ok_or_else(|| malformed(&n.status, "is neither INPROGRESS nor COMPLETED"))?;
        Ok(IdempotencyRecord {
            key,
            status,
            expiration: number(&n.expiration)?
                .ok_or_else(|| malformed(&n.expiration, "is missing"))?,
            in_progress_expiration: number(&n.in_progress_expiration)?,
            data: text(&n.data)?,
            validation: text(&n.validation)?,
            omitted,
        })
    }

    /// The primary key of the item for `key`.
    pub(super) fn key(&self, key: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([(self.key.clone(), AttributeValue::S(key.to_owned()))])
    }
}

/// The stored form of an [`OmittedResponse`].
pub(super) fn omitted_value(omitted: &OmittedResponse) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        (
            "bytes".to_owned(),
            AttributeValue::N(omitted.bytes.to_string()),
        ),
        (
            "sha256".to_owned(),
            AttributeValue::S(omitted.sha256.clone()),
        ),
    ]))
}

fn parse_omitted(value: &AttributeValue) -> Option<OmittedResponse> {
    let map = value.as_m().ok()?;
    Some(OmittedResponse {
        bytes: map.get("bytes")?.as_n().ok()?.parse().ok()?,
        sha256: map.get("sha256")?.as_s().ok()?.clone(),
    })
}

/// An epoch number as DynamoDB returns it; other writers may have stored a decimal.
fn parse_number(text: &str) -> Option<u64> {
    text.parse::<u64>().ok().or_else(|| {
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            // Truncation is what "epoch seconds" means for a fractional value.
            .map(|f| f as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_with_custom_names() {
        let names = AttributeNames {
            key: "pk".into(),
            status: "state".into(),
            ..AttributeNames::default()
        };
        let record = IdempotencyRecord::in_progress("p#k", 1_700_003_600, 1_700_000_000_250, None)
            .completed("[1]".into(), 1_700_003_601);
        let item = names.to_item(&record);
        let expected = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("p#k".into())),
            (
                "expiration".to_owned(),
                AttributeValue::N("1700003601".into()),
            ),
            (
                "in_progress_expiration".to_owned(),
                AttributeValue::N("1700000000250".into()),
            ),
            ("state".to_owned(), AttributeValue::S("COMPLETED".into())),
            ("data".to_owned(), AttributeValue::S("[1]".into())),
        ]);
        assert_eq!(item, expected);
        assert_eq!(names.parse_item(&item, "idem", "GetItem").unwrap(), record);
        assert_eq!(
            names.key("p#k"),
            HashMap::from([("pk".to_owned(), AttributeValue::S("p#k".into()))])
        );
    }

    #[test]
    fn malformed_items_name_the_attribute_and_the_table() {
        let names = AttributeNames::default();
        let base = names.to_item(&IdempotencyRecord::in_progress("p#k", 5, 6, None));
        let cases = [
            (
                "status",
                Some(AttributeValue::S("DONE".into())),
                "`status` attribute is neither INPROGRESS nor COMPLETED",
            ),
            ("status", None, "`status` attribute is missing"),
            (
                "expiration",
                Some(AttributeValue::S("5".into())),
                "`expiration` attribute is not a number (N)",
            ),
            (
                "expiration",
                Some(AttributeValue::N("-5".into())),
                "`expiration` attribute is not a non-negative number",
            ),
            (
                "id",
                Some(AttributeValue::N("1".into())),
                "`id` attribute is not a string (S)",
            ),
        ];
        for (attribute, value, problem) in cases {
            let mut item = base.clone();
            match value {
                Some(value) => item.insert(attribute.to_owned(), value),
                None => item.remove(attribute),
            };
            let error = names.parse_item(&item, "idem", "PutItem").unwrap_err();
            assert_eq!(
                (error.operation(), error.code()),
                ("PutItem", "MalformedRecord")
            );
            assert_eq!(
                error.message(),
                format!(
                    "the item's {problem}; delete the item or fix the attribute names configured \
                     for table `idem`"
                )
            );
        }
        // Read back with one attribute set to `value`.
        let read_with = |attribute: &str, value: AttributeValue| {
            let mut item = base.clone();
            item.insert(attribute.to_owned(), value);
            names.parse_item(&item, "idem", "GetItem")
        };
        let omitted = read_with("omitted_data", AttributeValue::S("big".into())).unwrap_err();
        assert_eq!(
            omitted.message(),
            "the item's `omitted_data` attribute is not a map (M) of `bytes` (N) and `sha256` \
             (S); delete the item or fix the attribute names configured for table `idem`"
        );
        let decimal = read_with("expiration", AttributeValue::N("7.9".into())).unwrap();
        assert_eq!(decimal.expiration, 7);
    }
}
