//! What can fail a whole batch invocation, and its `errorType`.

use std::fmt;

use lambda_runtime::Diagnostic;

/// `errorType` of an invocation in which no record succeeded
/// ([`AllFailedPolicy::Error`](crate::batch::AllFailedPolicy::Error)).
pub const ALL_RECORDS_FAILED: &str = "Batch.AllRecordsFailed";

/// Errors of the batch middleware.
///
/// A failing *record* is never an error: it is reported in the batch response. Each variant
/// has a stable [`error_type`](Self::error_type) (`Batch.*`) that reaches Lambda as `errorType`
/// through [`Diagnostic`]. (An unusable `TERN_BATCH_*` variable is an init error of the
/// runtime's: `Runtime.InvalidEnvironmentVariable`.)
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
        /// The event source (`sqs`, `kinesis`, `dynamodb`, `kafka`).
        event_source: &'static str,
        /// How many records the batch had.
        records: usize,
        /// How they failed.
        counts: OutcomeCounts,
    },
}

impl BatchError {
    /// The stable `errorType`: `Batch.AllRecordsFailed`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::AllRecordsFailed { .. } => ALL_RECORDS_FAILED,
        }
    }
}

impl From<BatchError> for Diagnostic {
    fn from(error: BatchError) -> Self {
        crate::diagnostic(error.error_type(), &error)
    }
}

/// How many records of a batch ended in each
/// [`RecordOutcome`](crate::batch::outcome::RecordOutcome).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutcomeCounts {
    /// [`RecordOutcome::Succeeded`](crate::batch::outcome::RecordOutcome::Succeeded).
    pub succeeded: usize,
    /// [`RecordOutcome::Failed`](crate::batch::outcome::RecordOutcome::Failed).
    pub failed: usize,
    /// [`RecordOutcome::Poison`](crate::batch::outcome::RecordOutcome::Poison).
    pub poison: usize,
    /// [`RecordOutcome::Panicked`](crate::batch::outcome::RecordOutcome::Panicked).
    pub panicked: usize,
    /// [`RecordOutcome::SkippedAfterFailure`](crate::batch::outcome::RecordOutcome::SkippedAfterFailure).
    pub skipped: usize,
    /// [`RecordOutcome::NotStarted`](crate::batch::outcome::RecordOutcome::NotStarted).
    pub not_started: usize,
    /// [`RecordOutcome::Abandoned`](crate::batch::outcome::RecordOutcome::Abandoned).
    pub abandoned: usize,
}

impl OutcomeCounts {
    /// All records counted.
    pub fn total(&self) -> usize {
        self.succeeded + self.reported()
    }

    /// Records reported to Lambda as batch item failures (all but the successes).
    pub fn reported(&self) -> usize {
        self.failed + self.poison + self.panicked + self.skipped + self.not_started + self.abandoned
    }
}

impl fmt::Display for OutcomeCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "succeeded {}, failed {}, poison {}, panicked {}, skipped {}, not_started {}, \
             abandoned {}",
            self.succeeded,
            self.failed,
            self.poison,
            self.panicked,
            self.skipped,
            self.not_started,
            self.abandoned
        )
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
}
