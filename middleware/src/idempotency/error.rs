//! What an idempotent invocation can fail with, besides the handler's own error.

use std::fmt;

use lambda_runtime::Diagnostic;

/// `errorType` of [`IdempotencyError::AlreadyInProgress`].
pub const ALREADY_IN_PROGRESS: &str = "Idempotency.AlreadyInProgress";
/// `errorType` of [`IdempotencyError::PayloadMismatch`].
pub const PAYLOAD_MISMATCH: &str = "Idempotency.PayloadMismatch";
/// `errorType` of [`IdempotencyError::MissingKey`].
pub const MISSING_KEY: &str = "Idempotency.MissingKey";
/// `errorType` of [`IdempotencyError::InvalidKeyData`].
pub const INVALID_KEY_DATA: &str = "Idempotency.InvalidKeyData";
/// `errorType` of [`IdempotencyError::Persistence`].
pub const PERSISTENCE_ERROR: &str = "Idempotency.PersistenceError";
/// `errorType` of [`IdempotencyError::ResponseNotSerializable`].
pub const RESPONSE_NOT_SERIALIZABLE: &str = "Idempotency.ResponseNotSerializable";
/// `errorType` of [`IdempotencyError::StoredResponseInvalid`].
pub const STORED_RESPONSE_INVALID: &str = "Idempotency.StoredResponseInvalid";
/// `errorType` of [`IdempotencyError::ResponseNotStored`].
pub const RESPONSE_NOT_STORED: &str = "Idempotency.ResponseNotStored";

/// Why an idempotent invocation failed: the handler's own error `E`, passed through
/// unchanged, or one of the idempotency failures, each with a stable
/// [`error_type`](Self::error_type) to alarm on.
///
/// Failures before the handler runs fail *closed*: when the store cannot be asked, the handler
/// does not run (running it could repeat a side effect).
#[derive(Debug)]
#[non_exhaustive]
pub enum IdempotencyError<E> {
    /// The handler failed; its record was deleted so a retry runs it again. Converts to the
    /// handler's own [`Diagnostic`].
    Handler(E),
    /// Another invocation holds the key and is still running (`Idempotency.AlreadyInProgress`).
    /// Transient: retry after a while. Its lock frees itself at `lock_expires_at_ms` if that
    /// invocation dies or times out.
    AlreadyInProgress {
        /// The idempotency key.
        key: String,
        /// When the lock expires, in epoch milliseconds (`None` for records written without
        /// one: they hold until their `expiration`).
        lock_expires_at_ms: Option<u64>,
    },
    /// The key was seen before with different validated fields (`Idempotency.PayloadMismatch`).
    /// Not transient: the caller reuses a key for another payload.
    PayloadMismatch {
        /// The idempotency key.
        key: String,
    },
    /// The event has no idempotency key and [`MissingKey::Error`](super::MissingKey) is
    /// configured (`Idempotency.MissingKey`). The handler did not run.
    MissingKey {
        /// The key prefix.
        prefix: String,
        /// What selected nothing (`JSON Pointer `/body/id``).
        selector: String,
    },
    /// The selected key or validation data does not serialize to JSON, or a JMESPath function
    /// was given an argument of the wrong type (`Idempotency.InvalidKeyData`; the message names
    /// the expression and the types). The handler did not run.
    InvalidKeyData {
        /// The key prefix.
        prefix: String,
        /// The serialization (or JMESPath) error.
        source: serde_json::Error,
    },
    /// The store failed (`Idempotency.PersistenceError`): the message names the table, the
    /// operation and the AWS error code.
    Persistence {
        /// The table (or store) name.
        table: String,
        /// `false`: the store failed before the handler, which did not run. `true`: the
        /// handler ran, but its completion could not be recorded; the key stays in progress
        /// until its lock expires.
        handler_ran: bool,
        /// The store's error.
        source: StoreError,
    },
    /// The handler's response does not serialize to JSON
    /// (`Idempotency.ResponseNotSerializable`); its record was deleted.
    ResponseNotSerializable {
        /// The idempotency key.
        key: String,
        /// The serialization error.
        source: serde_json::Error,
    },
    /// A stored response does not deserialize into the response type
    /// (`Idempotency.StoredResponseInvalid`): the type changed since it was stored, or does
    /// not round-trip through JSON. The handler did not run.
    StoredResponseInvalid {
        /// The idempotency key.
        key: String,
        /// The deserialization error.
        source: serde_json::Error,
    },
    /// A duplicate of a completed call whose response was too large to store
    /// (`Idempotency.ResponseNotStored`): the handler ran once and does not run again, but
    /// there is no response to replay. Not transient: retrying gets the same answer until the
    /// record expires.
    ResponseNotStored {
        /// The idempotency key.
        key: String,
        /// The length of the response that was not stored, serialized.
        bytes: u64,
        /// Its hex SHA-256.
        sha256: String,
    },
}

impl<E> IdempotencyError<E> {
    /// The stable `errorType`, or `None` for [`Handler`](Self::Handler) (which keeps the
    /// handler's own).
    pub fn error_type(&self) -> Option<&'static str> {
        Some(match self {
            Self::Handler(_) => return None,
            Self::AlreadyInProgress { .. } => ALREADY_IN_PROGRESS,
            Self::PayloadMismatch { .. } => PAYLOAD_MISMATCH,
            Self::MissingKey { .. } => MISSING_KEY,
            Self::InvalidKeyData { .. } => INVALID_KEY_DATA,
            Self::Persistence { .. } => PERSISTENCE_ERROR,
            Self::ResponseNotSerializable { .. } => RESPONSE_NOT_SERIALIZABLE,
            Self::StoredResponseInvalid { .. } => STORED_RESPONSE_INVALID,
            Self::ResponseNotStored { .. } => RESPONSE_NOT_STORED,
        })
    }

    /// The handler's error, if that is what this is.
    pub fn into_handler_error(self) -> Result<E, Self> {
        match self {
            Self::Handler(error) => Ok(error),
            other => Err(other),
        }
    }

    /// Writes the message of every variant but `Handler`.
    fn write_own(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Handler(_) => Ok(()),
            Self::AlreadyInProgress {
                key,
                lock_expires_at_ms,
            } => {
                write!(
                    f,
                    "another invocation is processing idempotency key `{key}`; retry later"
                )?;
                match lock_expires_at_ms {
                    Some(at) => write!(
                        f,
                        " (its lock frees itself at {at} ms since the epoch if that invocation \
                         dies)"
                    ),
                    None => Ok(()),
                }
            }
            Self::PayloadMismatch { key } => write!(
                f,
                "idempotency key `{key}` was used before with a different payload (its \
                 validation hash differs); a key must identify one payload: fix the key \
                 selection, or the caller that reuses the key"
            ),
            Self::MissingKey { prefix, selector } => write!(
                f,
                "the event has no idempotency key: {selector} selected nothing (or only null) \
                 for prefix `{prefix}`; fix the selection, or use \
                 MissingKey::RunWithoutIdempotency to run such events without idempotency"
            ),
            Self::InvalidKeyData { prefix, source } => write!(
                f,
                "the data selected for idempotency (prefix `{prefix}`) does not serialize to \
                 JSON ({source}); select plain data (map keys must be strings)"
            ),
            Self::Persistence {
                table,
                handler_ran,
                source,
            } => {
                write!(
                    f,
                    "idempotency table `{table}`: {} failed with {}: {}; ",
                    source.operation(),
                    source.code(),
                    source.message()
                )?;
                f.write_str(if *handler_ran {
                    "the handler ran but its response was not recorded (the key stays in \
                     progress until its lock expires). "
                } else {
                    "the handler did not run. "
                })?;
                write!(
                    f,
                    "Check that `{table}` exists in the function's region with partition key \
                     `id` (S) and that the execution role allows dynamodb:PutItem, GetItem, \
                     UpdateItem and DeleteItem on it"
                )
            }
            Self::ResponseNotSerializable { key, source } => write!(
                f,
                "the handler's response for idempotency key `{key}` does not serialize to JSON \
                 ({source}); the record was removed. The response type must serialize and \
                 deserialize back to the same JSON"
            ),
            Self::StoredResponseInvalid { key, source } => write!(
                f,
                "the stored response of idempotency key `{key}` does not deserialize into the \
                 response type ({source}); the type changed or does not round-trip through \
                 JSON: change the key prefix or delete the record"
            ),
            Self::ResponseNotStored { key, bytes, sha256 } => write!(
                f,
                "idempotency key `{key}` was already processed, but its response ({bytes} bytes, \
                 SHA-256 {sha256}) was larger than the limit for stored responses \
                 (TERN_IDEMPOTENCY_MAX_RESPONSE_BYTES) and cannot be replayed; the handler did \
                 not run again"
            ),
        }
    }
}

impl<E: fmt::Display> fmt::Display for IdempotencyError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Handler(error) => error.fmt(f),
            own => own.write_own(f),
        }
    }
}

impl<E> std::error::Error for IdempotencyError<E>
where
    E: std::error::Error + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent: the handler's error speaks for itself.
            Self::Handler(error) => error.source(),
            Self::InvalidKeyData { source, .. }
            | Self::ResponseNotSerializable { source, .. }
            | Self::StoredResponseInvalid { source, .. } => Some(source),
            Self::Persistence { source, .. } => Some(source),
            Self::AlreadyInProgress { .. }
            | Self::PayloadMismatch { .. }
            | Self::MissingKey { .. }
            | Self::ResponseNotStored { .. } => None,
        }
    }
}

/// The message of an idempotency failure, whatever the handler's error type.
pub(crate) struct OwnMessage<'a, E>(pub(crate) &'a IdempotencyError<E>);

impl<E> fmt::Display for OwnMessage<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write_own(f)
    }
}

impl<E: Into<Diagnostic>> From<IdempotencyError<E>> for Diagnostic {
    fn from(error: IdempotencyError<E>) -> Self {
        match error {
            IdempotencyError::Handler(handler) => handler.into(),
            own => Diagnostic {
                error_type: own.error_type().map_or_else(String::new, str::to_owned),
                error_message: OwnMessage(&own).to_string(),
            },
        }
    }
}

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {code}: {message}")]
pub struct StoreError {
    operation: &'static str,
    code: String,
    message: String,
    #[source]
    source: Option<lambda_runtime::Error>,
}

impl StoreError {
    /// A failure of `operation` (`PutItem`, `GetItem`, `UpdateItem`, `DeleteItem`) with the
    /// backend's error `code` (for AWS, `ProvideErrorMetadata::code()`, e.g.
    /// `ResourceNotFoundException`) and message.
    pub fn new(
        operation: &'static str,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            operation,
            code: code.into(),
            message: message.into(),
            source: None,
        }
    }

    /// Keeps the underlying error as `source()`.
    pub fn with_source(mut self, source: impl Into<lambda_runtime::Error>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The operation that failed.
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The backend's error code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The backend's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn json_error() -> serde_json::Error {
        serde_json::from_str::<u8>("x").unwrap_err()
    }

    #[test]
    fn every_failure_has_its_own_type_and_a_message_with_the_fix() {
        let key = "orders.pay#ab".to_owned();
        let cases: Vec<(IdempotencyError<Diagnostic>, &str, String)> = vec![
            (
                IdempotencyError::AlreadyInProgress { key: key.clone(), lock_expires_at_ms: Some(1_700_000_000_250) },
                "Idempotency.AlreadyInProgress",
                "another invocation is processing idempotency key `orders.pay#ab`; retry later (its \
                 lock frees itself at 1700000000250 ms since the epoch if that invocation dies)".into(),
            ),
            (
                IdempotencyError::AlreadyInProgress { key: key.clone(), lock_expires_at_ms: None },
                "Idempotency.AlreadyInProgress",
                "another invocation is processing idempotency key `orders.pay#ab`; retry later".into(),
            ),
            (
                IdempotencyError::PayloadMismatch { key: key.clone() },
                "Idempotency.PayloadMismatch",
                "idempotency key `orders.pay#ab` was used before with a different payload (its \
                 validation hash differs); a key must identify one payload: fix the key selection, \
                 or the caller that reuses the key".into(),
            ),
            (
                IdempotencyError::MissingKey { prefix: "orders.pay".into(), selector: "JSON Pointer `/body/id`".into() },
                "Idempotency.MissingKey",
                "the event has no idempotency key: JSON Pointer `/body/id` selected nothing (or only null) \
                 for prefix `orders.pay`; fix the selection, or use MissingKey::RunWithoutIdempotency \
                 to run such events without idempotency".into(),
            ),
            (
                IdempotencyError::InvalidKeyData { prefix: "orders.pay".into(), source: json_error() },
                "Idempotency.InvalidKeyData",
                "the data selected for idempotency (prefix `orders.pay`) does not serialize to JSON \
                 (expected value at line 1 column 1); select plain data (map keys must be strings)".into(),
            ),
            (
                IdempotencyError::Persistence {
                    table: "idem".into(),
                    handler_ran: false,
                    source: StoreError::new("PutItem", "ResourceNotFoundException", "Requested resource not found"),
                },
                "Idempotency.PersistenceError",
                "idempotency table `idem`: PutItem failed with ResourceNotFoundException: Requested \
                 resource not found; the handler did not run. Check that `idem` exists in the \
                 function's region with partition key `id` (S) and that the execution role allows \
                 dynamodb:PutItem, GetItem, UpdateItem and DeleteItem on it".into(),
            ),
            (
                IdempotencyError::Persistence {
                    table: "idem".into(),
                    handler_ran: true,
                    source: StoreError::new("UpdateItem", "Timeout", "no answer"),
                },
                "Idempotency.PersistenceError",
                "idempotency table `idem`: UpdateItem failed with Timeout: no answer; the handler ran \
                 but its response was not recorded (the key stays in progress until its lock \
                 expires). Check that `idem` exists in the function's region with partition key `id` \
                 (S) and that the execution role allows dynamodb:PutItem, GetItem, UpdateItem and \
                 DeleteItem on it".into(),
            ),
            (
                IdempotencyError::ResponseNotSerializable { key: key.clone(), source: json_error() },
                "Idempotency.ResponseNotSerializable",
                "the handler's response for idempotency key `orders.pay#ab` does not serialize to \
                 JSON (expected value at line 1 column 1); the record was removed. The response \
                 type must serialize and deserialize back to the same JSON".into(),
            ),
            (
                IdempotencyError::ResponseNotStored { key: key.clone(), bytes: 512_000, sha256: "5e1f".into() },
                "Idempotency.ResponseNotStored",
                "idempotency key `orders.pay#ab` was already processed, but its response (512000 \
                 bytes, SHA-256 5e1f) was larger than the limit for stored responses \
                 (TERN_IDEMPOTENCY_MAX_RESPONSE_BYTES) and cannot be replayed; the handler did not \
                 run again".into(),
            ),
            (
                IdempotencyError::StoredResponseInvalid { key, source: json_error() },
                "Idempotency.StoredResponseInvalid",
                "the stored response of idempotency key `orders.pay#ab` does not deserialize into \
                 the response type (expected value at line 1 column 1); the type changed or does \
                 not round-trip through JSON: change the key prefix or delete the record".into(),
            ),
        ];
        let mut seen = std::collections::HashSet::new();
        for (error, error_type, message) in cases {
            assert_eq!(error.error_type(), Some(error_type));
            seen.insert(error_type);
            let diagnostic = Diagnostic::from(error);
            assert_eq!(diagnostic.error_type, error_type);
            assert_eq!(diagnostic.error_message, message);
        }
        assert_eq!(seen.len(), 8, "each failure has its own errorType");
    }

    #[test]
    fn the_handler_error_passes_through_unchanged() {
        let handler = Diagnostic {
            error_type: "Orders.CardDeclined".into(),
            error_message: "card declined".into(),
        };
        let error = IdempotencyError::Handler(handler.clone());
        assert_eq!(error.error_type(), None);
        assert_eq!(Diagnostic::from(error), handler);

        let io = IdempotencyError::Handler(std::io::Error::other("disk full"));
        assert_eq!(io.to_string(), "disk full");
        assert!(io.source().is_none());
        let persistence: IdempotencyError<std::io::Error> = IdempotencyError::Persistence {
            table: "idem".into(),
            handler_ran: false,
            source: StoreError::new("PutItem", "Throttling", "slow down"),
        };
        assert_eq!(
            persistence.source().map(ToString::to_string).as_deref(),
            Some("PutItem failed: Throttling: slow down")
        );
        assert!(persistence.into_handler_error().is_err());
    }
}
