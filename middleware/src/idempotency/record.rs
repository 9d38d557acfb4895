//! One idempotency record: what the store holds per key, and how its state is read.

use std::fmt;

/// The `status` attribute of a record. "Expired" is never stored: it is computed on read from
/// the two expiry attributes (see [`IdempotencyRecord::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordStatus {
    /// A handler holds the key and is running (stored as `INPROGRESS`).
    InProgress,
    /// The handler finished and its response is stored (stored as `COMPLETED`).
    Completed,
}

impl RecordStatus {
    /// The stored form: `INPROGRESS` or `COMPLETED` (as Powertools for AWS Lambda writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "INPROGRESS",
            Self::Completed => "COMPLETED",
        }
    }

    /// Parses the stored form; `None` for anything else.
    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "INPROGRESS" => Some(Self::InProgress),
            "COMPLETED" => Some(Self::Completed),
            _ => None,
        }
    }
}

impl fmt::Display for RecordStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a record means at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    /// `INPROGRESS` and its lock has not expired: another invocation is running.
    InProgress,
    /// `COMPLETED` and not expired: its stored response answers duplicates.
    Completed,
    /// Past `expiration`, or `INPROGRESS` past `in_progress_expiration`: the key is free.
    Expired,
}

/// An idempotency record, in the item schema of Powertools for AWS Lambda.
///
/// | field | DynamoDB attribute (default name) | type |
/// |---|---|---|
/// | `key` | `id` (partition key) | S |
/// | `expiration` | `expiration` (the table's TTL attribute), epoch **seconds** | N |
/// | `in_progress_expiration` | `in_progress_expiration`, epoch **milliseconds** | N |
/// | `status` | `status`: `INPROGRESS` or `COMPLETED` | S |
/// | `data` | `data`: the response serialized as JSON | S |
/// | `validation` | `validation`: hex SHA-256 of the payload's validated fields | S |
/// | `omitted` | `omitted_data`: `{bytes: N, sha256: S}` of a response too large to store | M |
///
/// A `COMPLETED` record keeps the `in_progress_expiration` of the lock it replaced, as
/// Powertools' update does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The idempotency key, `<prefix>#<hex sha256>`.
    pub key: String,
    /// `INPROGRESS` or `COMPLETED`.
    pub status: RecordStatus,
    /// When the record stops counting, in epoch seconds (also the table's TTL).
    pub expiration: u64,
    /// When an `INPROGRESS` lock frees itself, in epoch milliseconds.
    pub in_progress_expiration: Option<u64>,
    /// The serialized response of a `COMPLETED` record.
    pub data: Option<String>,
    /// The payload validation hash, when validation is configured.
    pub validation: Option<String>,
    /// A `COMPLETED` record whose response was too large to store has no `data`, and this
    /// instead (a tern attribute; other readers see a record without `data`).
    pub omitted: Option<OmittedResponse>,
}

/// What is kept of a response that was too large to store: enough to say which response a
/// duplicate would have got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OmittedResponse {
    /// Its length, serialized as JSON.
    pub bytes: u64,
    /// Hex SHA-256 of the serialized response.
    pub sha256: String,
}

impl IdempotencyRecord {
    /// A fresh `INPROGRESS` record.
    pub fn in_progress(
        key: impl Into<String>,
        expiration: u64,
        in_progress_expiration: u64,
        validation: Option<String>,
    ) -> Self {
        Self {
            key: key.into(),
            status: RecordStatus::InProgress,
            expiration,
            in_progress_expiration: Some(in_progress_expiration),
            data: None,
            validation,
            omitted: None,
        }
    }

    /// This record turned `COMPLETED` with `data`, expiring at `expiration` (epoch seconds).
    pub fn completed(self, data: String, expiration: u64) -> Self {
        Self {
            status: RecordStatus::Completed,
            expiration,
            data: Some(data),
            omitted: None,
            ..self
        }
    }

    /// This record turned `COMPLETED` without its response, which was too large to store.
    pub fn completed_without_data(self, omitted: OmittedResponse, expiration: u64) -> Self {
        Self {
            status: RecordStatus::Completed,
            expiration,
            data: None,
            omitted: Some(omitted),
            ..self
        }
    }

    /// The record's state at `now_ms` (epoch milliseconds).
    ///
    /// The comparisons are the ones of the store's conditional write: expired when
    /// `expiration < now` (seconds), or when `INPROGRESS` and `in_progress_expiration < now`
    /// (milliseconds). An `INPROGRESS` record without `in_progress_expiration` (older writers)
    /// holds its lock until `expiration`.
    pub fn state(&self, now_ms: u64) -> RecordState {
        if self.expiration < now_ms / 1000 {
            return RecordState::Expired;
        }
        match self.status {
            RecordStatus::Completed => RecordState::Completed,
            RecordStatus::InProgress => match self.in_progress_expiration {
                Some(lock) if lock < now_ms => RecordState::Expired,
                _ => RecordState::InProgress,
            },
        }
    }

    /// Whether a conditional `INPROGRESS` write may replace this record at `now_ms`.
    pub fn admits_new_lock(&self, now_ms: u64) -> bool {
        self.state(now_ms) == RecordState::Expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_follows_the_conditional_write() {
        let lock = IdempotencyRecord::in_progress("p#k", 1_000, 900_500, None);
        let done = lock.clone().completed("{}".into(), 1_000);
        let legacy = IdempotencyRecord {
            in_progress_expiration: None,
            ..lock.clone()
        };
        let cases = [
            (&lock, 900_499, RecordState::InProgress),
            (&lock, 900_500, RecordState::InProgress),
            (&lock, 900_501, RecordState::Expired),
            (&done, 900_501, RecordState::Completed),
            (&done, 1_000_999, RecordState::Completed),
            (&done, 1_001_000, RecordState::Expired),
            (&legacy, 1_000_999, RecordState::InProgress),
            (&legacy, 1_001_000, RecordState::Expired),
        ];
        for (record, now_ms, expected) in cases {
            assert_eq!(record.state(now_ms), expected, "{record:?} at {now_ms}");
            assert_eq!(
                record.admits_new_lock(now_ms),
                expected == RecordState::Expired
            );
        }
    }

    #[test]
    fn completing_keeps_key_lock_and_validation() {
        let done = IdempotencyRecord::in_progress("p#k", 10, 20, Some("v".into()))
            .completed(r#"{"ok":true}"#.into(), 30);
        assert_eq!(
            done,
            IdempotencyRecord {
                key: "p#k".into(),
                status: RecordStatus::Completed,
                expiration: 30,
                in_progress_expiration: Some(20),
                data: Some(r#"{"ok":true}"#.into()),
                validation: Some("v".into()),
                omitted: None,
            }
        );
        assert_eq!(
            RecordStatus::parse("COMPLETED"),
            Some(RecordStatus::Completed)
        );
        assert_eq!(
            RecordStatus::parse("INPROGRESS"),
            Some(RecordStatus::InProgress)
        );
        assert_eq!(RecordStatus::parse("EXPIRED"), None);
        assert_eq!(RecordStatus::InProgress.to_string(), "INPROGRESS");
    }
}
