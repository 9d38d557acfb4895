//! What happened to each record of a batch, and the one-line summary logged per batch.

use lambda_runtime::Diagnostic;

use crate::batch::{decode::DecodeError, error::OutcomeCounts};

/// What happened to one record. Every outcome but [`Succeeded`](Self::Succeeded) is reported
/// to Lambda as a batch item failure, so the record is delivered again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordOutcome {
    /// The record handler returned `Ok`.
    Succeeded,
    /// The record handler returned an error (or was not ready to take the record).
    Failed(Diagnostic),
    /// The record did not decode into the handler's type (a poison pill); the handler never
    /// saw it.
    Poison(DecodeError),
    /// The record handler panicked; the payload's message.
    Panicked(String),
    /// An earlier record of the same message group / ordering key (or, with
    /// [`FailureScope::Batch`](crate::batch::FailureScope::Batch), of the batch) failed, so this
    /// one was not run.
    SkippedAfterFailure,
    /// The invocation's remaining time fell below the safety margin before the record started.
    NotStarted,
    /// The record was still running when the remaining time fell below the abandon margin; its
    /// future was dropped.
    Abandoned,
}

impl RecordOutcome {
    /// `true` only for [`Succeeded`](Self::Succeeded).
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Succeeded)
    }

    /// A short stable label for logs: `succeeded`, `failed`, `poison`, `panicked`, `skipped`,
    /// `not_started`, `abandoned`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed(_) => "failed",
            Self::Poison(_) => "poison",
            Self::Panicked(_) => "panicked",
            Self::SkippedAfterFailure => "skipped",
            Self::NotStarted => "not_started",
            Self::Abandoned => "abandoned",
        }
    }
}

impl OutcomeCounts {
    /// Counts `outcome`.
    pub fn add(&mut self, outcome: &RecordOutcome) {
        let slot = match outcome {
            RecordOutcome::Succeeded => &mut self.succeeded,
            RecordOutcome::Failed(_) => &mut self.failed,
            RecordOutcome::Poison(_) => &mut self.poison,
            RecordOutcome::Panicked(_) => &mut self.panicked,
            RecordOutcome::SkippedAfterFailure => &mut self.skipped,
            RecordOutcome::NotStarted => &mut self.not_started,
            RecordOutcome::Abandoned => &mut self.abandoned,
        };
        *slot += 1;
    }
}

/// The outcome of every record of one batch, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    records: Vec<RecordOutcome>,
    counts: OutcomeCounts,
}

impl BatchOutcome {
    /// The outcomes of a batch's records, in arrival order.
    pub fn new(records: Vec<RecordOutcome>) -> Self {
        let mut counts = OutcomeCounts::default();
        for outcome in &records {
            counts.add(outcome);
        }
        Self { records, counts }
    }

    /// Per-record outcomes, in arrival order.
    pub fn records(&self) -> &[RecordOutcome] {
        &self.records
    }

    /// The counts per outcome.
    pub fn counts(&self) -> OutcomeCounts {
        self.counts
    }

    /// The batch had records and none succeeded.
    pub fn all_failed(&self) -> bool {
        !self.records.is_empty() && self.counts.succeeded == 0
    }

    /// Positions (arrival order) of the records to report as batch item failures.
    pub fn reported(&self) -> impl Iterator<Item = usize> + '_ {
        self.records
            .iter()
            .enumerate()
            .filter(|(_, outcome)| !outcome.is_success())
            .map(|(index, _)| index)
    }

    /// Logs the one-line summary of the batch: the event source, the counts and how long it
    /// took; at `WARN` when any record is reported, else at `INFO`. Never a record's content.
    pub fn log_summary(&self, event_source: &'static str, elapsed: std::time::Duration) {
        let c = &self.counts;
        let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        macro_rules! summary {
            ($level:ident) => {
                tracing::$level!(
                    event_source,
                    records = self.records.len(),
                    succeeded = c.succeeded,
                    failed = c.failed,
                    poison = c.poison,
                    panicked = c.panicked,
                    skipped = c.skipped,
                    not_started = c.not_started,
                    abandoned = c.abandoned,
                    elapsed_ms,
                    "batch processed: {} of {} records reported as failures",
                    c.reported(),
                    self.records.len()
                )
            };
        }
        if c.reported() == 0 {
            summary!(info);
        } else {
            summary!(warn);
        }
    }
}

/// Adds `RecordsProcessed` and `RecordsFailed` to the current invocation's metrics (a no-op
/// without a metrics layer). The batch layer calls it unless
/// [`BatchConfig::with_metrics`](crate::batch::BatchConfig::with_metrics) turned it off; a handler that finishes the work later
/// reports its final counts with it.
pub fn record_counts(processed: usize, failed: usize) {
    crate::builtin_metric("RecordsProcessed", processed as f64);
    crate::builtin_metric("RecordsFailed", failed as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BatchOutcome {
        BatchOutcome::new(vec![
            RecordOutcome::Succeeded,
            RecordOutcome::Failed(Diagnostic {
                error_type: "Orders.Rejected".into(),
                error_message: "no stock".into(),
            }),
            RecordOutcome::Poison(DecodeError::new("missing field `id`")),
            RecordOutcome::Panicked("boom".into()),
            RecordOutcome::SkippedAfterFailure,
            RecordOutcome::NotStarted,
            RecordOutcome::Abandoned,
            RecordOutcome::Succeeded,
        ])
    }

    #[test]
    fn counts_every_outcome_once() {
        let outcome = sample();
        let expected = OutcomeCounts {
            succeeded: 2,
            failed: 1,
            poison: 1,
            panicked: 1,
            skipped: 1,
            not_started: 1,
            abandoned: 1,
        };
        assert_eq!(outcome.counts(), expected);
        assert_eq!(expected.total(), 8);
        assert_eq!(expected.reported(), 6);
        assert_eq!(
            expected.to_string(),
            "succeeded 2, failed 1, poison 1, panicked 1, skipped 1, not_started 1, abandoned 1"
        );
    }

    #[test]
    fn reports_every_record_but_the_successes() {
        let reported: Vec<usize> = sample().reported().collect();
        assert_eq!(reported, [1, 2, 3, 4, 5, 6]);
        assert!(!sample().all_failed());
    }

    #[test]
    fn all_failed_needs_records() {
        assert!(!BatchOutcome::new(Vec::new()).all_failed());
        assert!(BatchOutcome::new(vec![RecordOutcome::NotStarted]).all_failed());
    }

    #[test]
    fn labels_are_stable() {
        let labels: Vec<&str> = sample()
            .records()
            .iter()
            .map(RecordOutcome::label)
            .collect();
        assert_eq!(
            labels,
            [
                "succeeded",
                "failed",
                "poison",
                "panicked",
                "skipped",
                "not_started",
                "abandoned",
                "succeeded"
            ]
        );
    }
}
