//! The response future of [`BatchService`](crate::batch::BatchService): drives the records of one
//! invocation inside that invocation's task.
//!
//! No record is spawned: the running records' futures sit in the batch's future (one reused
//! slot when records run one at a time, a `FuturesUnordered` otherwise), and each
//! poll of the batch first starts whatever may start (capacity left, lane idle, time left,
//! record handler ready), then collects whatever finished. A record's outcome is final when it
//! is set; the batch ends when every record has one, or when the abandon margin is reached.

use std::{
    marker::PhantomData,
    panic::{AssertUnwindSafe, catch_unwind},
    pin::Pin,
    task::{Context as TaskContext, Poll},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use tern_runtime::panic_message;
use tokio::time::{Instant, Sleep};
use tower::Service;

use crate::batch::{
    config::{AllFailedPolicy, BatchConfig, FailureScope},
    decode::RecordDecoder,
    error::BatchError,
    outcome::{BatchOutcome, RecordOutcome, record_counts},
    record::{RecordFuture, Running, Stop, log_failure},
    schedule::Schedule,
    source::BatchSource,
};

/// The invocation's time limits, on Tokio's clock.
#[derive(Debug, Clone, Copy)]
struct Limits {
    deadline: Instant,
    safety_margin: Duration,
    abandon_at: Instant,
}

impl Limits {
    /// `None` when the context has no deadline (`0`, as in `Context::default()`): then no
    /// record is ever stopped for time.
    fn new(context: &Context, config: &BatchConfig) -> Option<Self> {
        if context.deadline == 0 {
            return None;
        }
        // Read the wall clock once; from here on the monotonic clock measures what is left.
        let deadline = UNIX_EPOCH + Duration::from_millis(context.deadline);
        let remaining = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let now = Instant::now();
        let deadline = now + remaining;
        Some(Self {
            deadline,
            safety_margin: config.safety_margin(),
            abandon_at: deadline.checked_sub(config.abandon_margin()).unwrap_or(now),
        })
    }

    fn may_start(&self) -> bool {
        Instant::now() + self.safety_margin <= self.deadline
    }
}

/// The future returned by [`BatchService::call`](crate::batch::BatchService): resolves to the batch
/// response, or to [`BatchError::AllRecordsFailed`].
#[must_use = "futures do nothing unless polled"]
pub struct BatchFuture<S, Src, D>
where
    Src: BatchSource,
    D: RecordDecoder<Src>,
    S: Service<LambdaEvent<D::Output>>,
{
    service: S,
    context: Context,
    records: Vec<Src::Record>,
    outcomes: Vec<Option<RecordOutcome>>,
    schedule: Schedule,
    running: Running<S::Future>,
    concurrency: usize,
    scope: FailureScope,
    all_failed: AllFailedPolicy,
    metrics: bool,
    limits: Option<Limits>,
    abandon_timer: Option<Pin<Box<Sleep>>>,
    stop: Option<Stop>,
    started: Instant,
    done: bool,
    _decoder: PhantomData<fn() -> D>,
}

// No field is structurally pinned: record futures are pinned inside `Running` (a box or a
// `FuturesUnordered`) and the timer is boxed.
impl<S, Src, D> Unpin for BatchFuture<S, Src, D>
where
    Src: BatchSource,
    D: RecordDecoder<Src>,
    S: Service<LambdaEvent<D::Output>>,
{
}

impl<S, Src, D> BatchFuture<S, Src, D>
where
    Src: BatchSource,
    D: RecordDecoder<Src>,
    S: Service<LambdaEvent<D::Output>>,
    S::Error: Into<Diagnostic>,
{
    pub(crate) fn new(
        service: S,
        config: &BatchConfig,
        records: Vec<Src::Record>,
        context: Context,
    ) -> Self {
        let schedule = Schedule::new(records.iter().map(Src::ordering_key));
        let mut outcomes = Vec::new();
        outcomes.resize_with(records.len(), || None);
        Self {
            service,
            limits: Limits::new(&context, config),
            context,
            records,
            outcomes,
            schedule,
            running: Running::new(config.concurrency()),
            concurrency: config.concurrency(),
            scope: config.failure_scope().unwrap_or(Src::DEFAULT_FAILURE_SCOPE),
            all_failed: config.all_failed(),
            metrics: config.metrics(),
            abandon_timer: None,
            stop: None,
            started: Instant::now(),
            done: false,
            _decoder: PhantomData,
        }
    }

    /// Starts records while there is capacity and a lane is idle; returns when nothing more
    /// can start now (the record handler's readiness wakes the task when it was the reason).
    fn start_ready(&mut self, cx: &mut TaskContext<'_>) {
        while self.running.len() < self.concurrency {
            let Some(position) = self.schedule.peek() else {
                return;
            };
            if self.stop.is_none() && self.limits.is_some_and(|limits| !limits.may_start()) {
                tracing::warn!(
                    event_source = Src::NAME,
                    "less time is left than the batch safety margin: records not started yet \
                     are reported as failures"
                );
                self.stop(Stop::Deadline);
            }
            if let Some(stop) = self.stop {
                self.schedule.pop();
                self.end_lane(position, stop.outcome());
                continue;
            }
            let ready = catch_unwind(AssertUnwindSafe(|| self.service.poll_ready(cx)));
            let failure = match ready {
                Ok(Poll::Pending) => return,
                Ok(Poll::Ready(Ok(()))) => {
                    self.schedule.pop();
                    self.start(position)
                }
                Ok(Poll::Ready(Err(error))) => {
                    self.schedule.pop();
                    Some(RecordOutcome::Failed(error.into()))
                }
                Err(payload) => {
                    self.schedule.pop();
                    Some(RecordOutcome::Panicked(panic_message(payload.as_ref())))
                }
            };
            if let Some(outcome) = failure {
                self.record_finished(position, outcome);
            }
        }
    }

    /// Decodes the record and calls the record handler; the outcome if it ended right there.
    fn start(&mut self, position: usize) -> Option<RecordOutcome> {
        let record = &mut self.records[position];
        let span = tracing::info_span!("batch_record", record_id = %Src::identifier(record));
        let entered = span.enter();
        let service = &mut self.service;
        let context = &self.context;
        let called = catch_unwind(AssertUnwindSafe(|| {
            D::decode(record)
                .map(|payload| service.call(LambdaEvent::new(payload, context.clone())))
        }));
        drop(entered);
        match called {
            Ok(Ok(inner)) => {
                self.running.push(RecordFuture::new(position, span, inner));
                None
            }
            Ok(Err(error)) => Some(RecordOutcome::Poison(error)),
            Err(payload) => Some(RecordOutcome::Panicked(panic_message(payload.as_ref()))),
        }
    }

    /// Sets a finished record's outcome and applies the ordering rules to its lane.
    fn record_finished(&mut self, position: usize, outcome: RecordOutcome) {
        if outcome.is_success() {
            self.schedule.release(position);
        } else {
            let mut skipped = 0usize;
            if self.schedule.is_ordered(position) {
                // A record kept from starting by the deadline passes that on to its lane.
                let rest = match outcome {
                    RecordOutcome::NotStarted => RecordOutcome::NotStarted,
                    _ => RecordOutcome::SkippedAfterFailure,
                };
                for later in self.schedule.rest_of_lane(position) {
                    self.outcomes[later] = Some(rest.clone());
                    skipped += 1;
                }
                if self.scope == FailureScope::Batch {
                    self.stop(Stop::Failure);
                }
            }
            log_failure(Src::identifier(&self.records[position]), &outcome, skipped);
        }
        self.outcomes[position] = Some(outcome);
    }

    /// From now on no record starts: not those waiting in the schedule, and not those called
    /// but not yet polled (their handler has not run). The first stop wins.
    fn stop(&mut self, stop: Stop) {
        if self.stop.is_none() {
            self.stop = Some(stop);
            self.running.stop_unstarted(stop);
        }
    }

    /// Gives `position` (which has not started) and the rest of its lane `outcome`.
    fn end_lane(&mut self, position: usize, outcome: RecordOutcome) {
        for later in self.schedule.rest_of_lane(position) {
            self.outcomes[later] = Some(outcome.clone());
        }
        self.outcomes[position] = Some(outcome);
    }

    /// The abandon margin is reached: drop every running record, stop every other one.
    fn abandon(&mut self) {
        for position in self.running.positions() {
            let record_id = Src::identifier(&self.records[position]);
            tracing::warn!(
                record_id = %record_id,
                outcome = "abandoned",
                "record still running at the batch abandon margin: dropped and reported as a \
                 failure"
            );
            for later in self.schedule.rest_of_lane(position) {
                self.outcomes[later] = Some(RecordOutcome::NotStarted);
            }
            self.outcomes[position] = Some(RecordOutcome::Abandoned);
        }
        // Dropping the futures cancels the handlers at their current await point.
        self.running.clear();
        self.stop = Some(Stop::Deadline);
        while let Some(position) = self.schedule.pop() {
            self.end_lane(position, RecordOutcome::NotStarted);
        }
    }

    /// Whether the abandon margin has been reached. Until the batch first waits there is no
    /// timer, and nothing running to abandon: on that first poll, `start_ready` stops every
    /// record if less than the safety margin (never below the abandon margin) is left.
    fn past_abandon_margin(&mut self, cx: &mut TaskContext<'_>) -> bool {
        self.abandon_timer
            .as_mut()
            .is_some_and(|timer| timer.as_mut().poll(cx).is_ready())
    }

    /// Ends the batch at the abandon margin.
    fn abandon_running(&mut self, cx: &mut TaskContext<'_>) -> Result<Src::Response, BatchError> {
        // Records whose work already finished (not yet collected) keep their outcome:
        // reporting them as abandoned would process them twice. (A record running alone is
        // polled here once more, woken or not; it stays pending if not done.)
        while let Poll::Ready(Some((position, outcome))) = self.running.poll_next(cx) {
            self.record_finished(position, outcome);
        }
        self.abandon();
        self.finish()
    }

    fn finish(&mut self) -> Result<Src::Response, BatchError> {
        self.done = true;
        let outcomes = std::mem::take(&mut self.outcomes)
            .into_iter()
            .map(|outcome| {
                debug_assert!(outcome.is_some(), "a record ended without an outcome");
                // Unreachable; if it were not, reporting the record is the safe answer.
                outcome.unwrap_or(RecordOutcome::NotStarted)
            })
            .collect();
        let outcome = BatchOutcome::new(outcomes);
        outcome.log_summary(Src::NAME, self.started.elapsed());
        // Built-in metrics, in the invocation's EMF document when a metrics layer is present.
        if self.metrics {
            let counts = outcome.counts();
            record_counts(counts.succeeded, counts.reported());
        }
        if outcome.all_failed() && self.all_failed == AllFailedPolicy::Error {
            return Err(BatchError::AllRecordsFailed {
                event_source: Src::NAME,
                records: self.records.len(),
                counts: outcome.counts(),
            });
        }
        let failed: Vec<Src::ItemIdentifier> = outcome
            .reported()
            .map(|position| Src::take_identifier(&mut self.records[position]))
            .collect();
        Ok(Src::response(failed))
    }
}

impl<S, Src, D> Future for BatchFuture<S, Src, D>
where
    Src: BatchSource,
    D: RecordDecoder<Src>,
    S: Service<LambdaEvent<D::Output>>,
    S::Error: Into<Diagnostic>,
{
    type Output = Result<Src::Response, BatchError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "BatchFuture polled after completion");
        if this.past_abandon_margin(cx) {
            return Poll::Ready(this.abandon_running(cx));
        }
        loop {
            this.start_ready(cx);
            match this.running.poll_next(cx) {
                Poll::Ready(Some((position, outcome))) => this.record_finished(position, outcome),
                // Nothing running and nothing startable: every record has its outcome.
                Poll::Ready(None) if this.schedule.is_idle() => return Poll::Ready(this.finish()),
                // Nothing running, but the record handler is not ready: it wakes us.
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        // About to wait for a record or for the handler's readiness: from here on a timer
        // watches the abandon margin. A batch whose records all finish within the poll (the
        // usual case) never arms one: no timer-wheel entry, and no wake-up of the I/O driver
        // that registering an earlier deadline causes.
        if let Some(limits) = this.limits {
            let timer = this
                .abandon_timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(limits.abandon_at)));
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(this.abandon_running(cx));
            }
        }
        Poll::Pending
    }
}
