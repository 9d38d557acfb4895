//! One running record: its handler's future inside the record's span, with panics caught;
//! the set of records running at once; and the log line of a record that failed.
//!
//! A record has started when its handler's future has been polled once: that is when an
//! `async fn` handler's code begins. Records are handed to the running set when they are
//! called, but a `FuturesUnordered` polls a new future only on its next turn, after any other
//! record that finishes first. So when a stop comes (a failure with the whole-batch scope, or
//! the deadline), the running set is told: every record in it that has not been polled yet
//! ends at its first poll with the stop's outcome, without its handler future ever running.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    pin::Pin,
    task::{Context as TaskContext, Poll},
};

use futures_util::{StreamExt, stream::FuturesUnordered};
use lambda_runtime::Diagnostic;
use tracing::Span;

use tern_runtime::panic_message;

use crate::batch::outcome::RecordOutcome;

/// Why records stop being started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// A record failed under [`FailureScope::Batch`](crate::batch::FailureScope::Batch).
    Failure,
    /// The remaining time fell below the safety margin.
    Deadline,
}

impl Stop {
    /// The outcome of a record the stop kept from starting.
    pub(crate) fn outcome(self) -> RecordOutcome {
        match self {
            Self::Failure => RecordOutcome::SkippedAfterFailure,
            Self::Deadline => RecordOutcome::NotStarted,
        }
    }
}

/// Where a record is between being called and finishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Called, its future not polled yet: the handler's code has not run.
    Called,
    /// Polled at least once.
    Started,
    /// A stop came before the first poll: it ends with the stop's outcome, unpolled.
    Stopped(Stop),
}

pin_project_lite::pin_project! {
    /// One running record: its handler's future, inside the record's span, with panics caught.
    pub(crate) struct RecordFuture<F> {
        pub(crate) position: usize,
        progress: Progress,
        span: Span,
        #[pin]
        inner: F,
    }
}

impl<F> RecordFuture<F> {
    /// The record at `position`, whose handler future `inner` runs inside `span`.
    pub(crate) fn new(position: usize, span: Span, inner: F) -> Self {
        Self {
            position,
            progress: Progress::Called,
            span,
            inner,
        }
    }

    /// Keeps the record from starting if it has not started yet.
    fn stop_if_unstarted(self: Pin<&mut Self>, stop: Stop) {
        let progress = self.project().progress;
        if *progress == Progress::Called {
            *progress = Progress::Stopped(stop);
        }
    }
}

impl<F, R, E> Future for RecordFuture<F>
where
    F: Future<Output = Result<R, E>>,
    E: Into<Diagnostic>,
{
    type Output = (usize, RecordOutcome);

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match *this.progress {
            Progress::Called => *this.progress = Progress::Started,
            Progress::Started => {}
            Progress::Stopped(stop) => return Poll::Ready((*this.position, stop.outcome())),
        }
        let _entered = this.span.enter();
        let outcome = match catch_unwind(AssertUnwindSafe(|| this.inner.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(_))) => RecordOutcome::Succeeded,
            Ok(Poll::Ready(Err(error))) => RecordOutcome::Failed(error.into()),
            // Ready now: `Running` drops the panicked future without polling it again.
            Err(payload) => RecordOutcome::Panicked(panic_message(payload.as_ref())),
        };
        Poll::Ready((*this.position, outcome))
    }
}

/// The records of one batch that are running now.
///
/// With room for one record at a time (the default, and what ordered sources need) the running
/// record sits in one pinned slot that every record of the batch reuses: no allocation, task
/// bookkeeping or wake-up queue per record. With more, the records run in a `FuturesUnordered`.
pub(crate) enum Running<F> {
    /// Capacity 1; the slot is allocated when the first record starts.
    One(Option<Pin<Box<Slot<F>>>>),
    /// Capacity above 1.
    Many(FuturesUnordered<RecordFuture<F>>),
}

pin_project_lite::pin_project! {
    /// The place of the one running record.
    #[project = SlotProj]
    pub(crate) enum Slot<F> {
        Empty,
        Busy { #[pin] record: RecordFuture<F> },
    }
}

impl<F> Running<F> {
    /// Room for `capacity` records at once (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        if capacity <= 1 {
            Self::One(None)
        } else {
            Self::Many(FuturesUnordered::new())
        }
    }

    /// How many records are running.
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::One(slot) => usize::from(slot.as_deref().is_some_and(Slot::is_busy)),
            Self::Many(records) => records.len(),
        }
    }

    /// Starts polling `record`; the caller keeps within the capacity.
    pub(crate) fn push(&mut self, record: RecordFuture<F>) {
        match self {
            Self::One(Some(slot)) => {
                debug_assert!(!slot.is_busy(), "a second record in a slot for one");
                slot.set(Slot::Busy { record });
            }
            Self::One(empty) => *empty = Some(Box::pin(Slot::Busy { record })),
            Self::Many(records) => records.push(record),
        }
    }

    /// The positions of the running records.
    pub(crate) fn positions(&self) -> Vec<usize> {
        match self {
            Self::One(slot) => match slot.as_deref() {
                Some(Slot::Busy { record }) => vec![record.position],
                _ => Vec::new(),
            },
            Self::Many(records) => Pin::new(records)
                .iter_pin_ref()
                .map(|record| record.get_ref().position)
                .collect(),
        }
    }

    /// A stop came: records called but not polled yet will end with its outcome, unstarted.
    pub(crate) fn stop_unstarted(&mut self, stop: Stop) {
        match self {
            Self::One(Some(slot)) => {
                if let SlotProj::Busy { record } = slot.as_mut().project() {
                    record.stop_if_unstarted(stop);
                }
            }
            Self::One(None) => {}
            Self::Many(records) => {
                for record in Pin::new(records).iter_pin_mut() {
                    record.stop_if_unstarted(stop);
                }
            }
        }
    }

    /// Drops every running record (cancelling its handler at its current await point).
    pub(crate) fn clear(&mut self) {
        match self {
            Self::One(slot) => {
                if let Some(slot) = slot {
                    slot.set(Slot::Empty);
                }
            }
            Self::Many(records) => records.clear(),
        }
    }
}

impl<F, R, E> Running<F>
where
    F: Future<Output = Result<R, E>>,
    E: Into<Diagnostic>,
{
    /// The next record to finish: its position and outcome; `Ready(None)` when none is running.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<(usize, RecordOutcome)>> {
        match self {
            Self::One(None) => Poll::Ready(None),
            Self::One(Some(slot)) => match slot.as_mut().project() {
                SlotProj::Empty => Poll::Ready(None),
                SlotProj::Busy { record } => match record.poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(finished) => {
                        // A finished record is dropped at once, never polled again.
                        slot.set(Slot::Empty);
                        Poll::Ready(Some(finished))
                    }
                },
            },
            Self::Many(records) => records.poll_next_unpin(cx),
        }
    }
}

impl<F> Slot<F> {
    fn is_busy(&self) -> bool {
        matches!(self, Self::Busy { .. })
    }
}

pub(crate) fn log_failure(
    record_id: impl std::fmt::Display,
    outcome: &RecordOutcome,
    skipped: usize,
) {
    let label = outcome.label();
    match outcome {
        RecordOutcome::Failed(diagnostic) => tracing::warn!(
            record_id = %record_id,
            outcome = label,
            error_type = %diagnostic.error_type,
            reason = %diagnostic.error_message,
            skipped_after = skipped,
            "record handler failed; the record is reported as a batch item failure"
        ),
        RecordOutcome::Poison(error) => tracing::warn!(
            record_id = %record_id,
            outcome = label,
            reason = %error,
            skipped_after = skipped,
            "record does not decode into the handler's type (poison pill); it is reported as a \
             batch item failure"
        ),
        RecordOutcome::Panicked(message) => tracing::error!(
            record_id = %record_id,
            outcome = label,
            reason = %message,
            skipped_after = skipped,
            "record handler panicked; only this record fails"
        ),
        _ => {}
    }
}
