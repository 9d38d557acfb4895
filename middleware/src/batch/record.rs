//! One running record: its handler's future inside the record's span, with panics caught;
//! and the log line of a record that failed.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    pin::Pin,
    task::{Context as TaskContext, Poll},
};

use lambda_runtime::Diagnostic;
use tracing::Span;

use crate::batch::outcome::RecordOutcome;

pin_project_lite::pin_project! {
    /// One running record: its handler's future, inside the record's span, with panics caught.
    pub(crate) struct RecordFuture<F> {
        pub(crate) position: usize,
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
            span,
            inner,
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
        let _entered = this.span.enter();
        let outcome = match catch_unwind(AssertUnwindSafe(|| this.inner.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(_))) => RecordOutcome::Succeeded,
            Ok(Poll::Ready(Err(error))) => RecordOutcome::Failed(error.into()),
            // Ready now: `FuturesUnordered` drops the panicked future without polling it again.
            Err(payload) => RecordOutcome::Panicked(panic_message(payload.as_ref())),
        };
        Poll::Ready((*this.position, outcome))
    }
}

pub(crate) fn log_failure(record_id: &str, outcome: &RecordOutcome, skipped: usize) {
    let label = outcome.label();
    match outcome {
        RecordOutcome::Failed(diagnostic) => tracing::warn!(
            record_id,
            outcome = label,
            error_type = %diagnostic.error_type,
            reason = %diagnostic.error_message,
            skipped_after = skipped,
            "record handler failed; the record is reported as a batch item failure"
        ),
        RecordOutcome::Poison(error) => tracing::warn!(
            record_id,
            outcome = label,
            reason = %error,
            skipped_after = skipped,
            "record does not decode into the handler's type (poison pill); it is reported as a \
             batch item failure"
        ),
        RecordOutcome::Panicked(message) => tracing::error!(
            record_id,
            outcome = label,
            reason = %message,
            skipped_after = skipped,
            "record handler panicked; only this record fails"
        ),
        _ => {}
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic payload that is not a string)".to_owned())
}
