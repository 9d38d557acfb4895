//! What can fail a whole batch invocation, or the batch configuration at init.

use lambda_runtime::Diagnostic;
use tern_runtime::InitError;

use crate::batch::outcome::OutcomeCounts;

/// `errorType` of an invocation in which no record succeeded
/// ([`AllFailedPolicy::Error`](crate::batch::AllFailedPolicy::Error)).
pub const ALL_RECORDS_FAILED: &str = "Batch.AllRecordsFailed";
/// `errorType` of an unusable `TERN_BATCH_*` environment variable.
pub const INVALID_ENVIRONMENT_VARIABLE: &str = "Batch.InvalidEnvironmentVariable";

/// Errors of the batch middleware.
///
/// A failing *record* is never an error: it is reported in the batch response. Each variant
/// has a stable [`error_type`](Self::error_type) (`Batch.*`) that reaches Lambda as `errorType`
/// through [`Diagnostic`] (per invocation) or [`InitError`] (at init).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The batch had records and none of them succeeded; Lambda retries the whole batch.
    #[error(
        "all {records} records of the {event_source} batch failed ({counts}); Lambda retries the \
         whole batch. The log lines before this one name each record and why it failed; to \
         report every record as a batch item failure instead, set TERN_BATCH_ALL_FAILED=report"
    )]
    AllRecordsFailed {
        /// The event source (`sqs`, `kinesis`, `dynamodb`).
        event_source: &'static str,
        /// How many records the batch had.
        records: usize,
        /// How they failed.
        counts: OutcomeCounts,
    },
    /// A `TERN_BATCH_*` environment variable is set to a value that cannot be used.
    #[error("environment variable `{name}` is invalid: {reason}")]
    InvalidEnv {
        /// The variable.
        name: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
}

impl BatchError {
    /// The stable `errorType`: `Batch.AllRecordsFailed` or `Batch.InvalidEnvironmentVariable`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::AllRecordsFailed { .. } => ALL_RECORDS_FAILED,
            Self::InvalidEnv { .. } => INVALID_ENVIRONMENT_VARIABLE,
        }
    }
}

impl From<BatchError> for Diagnostic {
    fn from(error: BatchError) -> Self {
        Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}

impl From<BatchError> for InitError {
    fn from(error: BatchError) -> Self {
        InitError::failed(error.error_type(), error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_failed_becomes_a_diagnostic_with_a_stable_type() {
        let counts = OutcomeCounts {
            failed: 2,
            poison: 1,
            ..OutcomeCounts::default()
        };
        let diagnostic = Diagnostic::from(BatchError::AllRecordsFailed {
            event_source: "sqs",
            records: 3,
            counts,
        });
        assert_eq!(diagnostic.error_type, "Batch.AllRecordsFailed");
        assert_eq!(
            diagnostic.error_message,
            "all 3 records of the sqs batch failed (succeeded 0, failed 2, poison 1, panicked 0, \
             skipped 0, not_started 0, abandoned 0); Lambda retries the whole batch. The log \
             lines before this one name each record and why it failed; to report every record \
             as a batch item failure instead, set TERN_BATCH_ALL_FAILED=report"
        );
    }

    #[test]
    fn invalid_env_becomes_an_init_error_with_a_stable_type() {
        let error = InitError::from(BatchError::InvalidEnv {
            name: "TERN_BATCH_CONCURRENCY".into(),
            reason: "`x` is not a whole number of at least 1".into(),
        });
        assert_eq!(error.error_type(), "Batch.InvalidEnvironmentVariable");
        assert_eq!(
            error.to_string(),
            "environment variable `TERN_BATCH_CONCURRENCY` is invalid: `x` is not a whole \
             number of at least 1"
        );
    }
}
