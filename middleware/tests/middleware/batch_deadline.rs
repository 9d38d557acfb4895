//! Time: the safety margin, abandoning running records, and bounded concurrency.
//!
//! Most tests run on Tokio's paused clock, so the timeline is exact; the wall-clock deadline in
//! the context is read once per invocation and measured on Tokio's clock afterwards.

use std::{
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::support::batch::*;
use serde::Deserialize;
use tern_middleware::batch::{
    AllFailedPolicy, BatchConfig, BatchError, BatchLayer, error::OutcomeCounts,
};
use tern_runtime::{Context, Error, LambdaEvent};
use tokio::time::Instant;
use tower::ServiceExt;

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, Deserialize)]
struct Job {
    id: String,
    /// Milliseconds to work; absent: never finishes.
    work_ms: Option<u64>,
}

/// Sets its flag when dropped: shows that an abandoned handler future was cancelled.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A job at work, as the probe's record handler answers it.
type Work = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

#[derive(Clone, Default)]
struct Probe {
    started: Arc<Mutex<Vec<String>>>,
    running: Arc<AtomicUsize>,
    max_running: Arc<AtomicUsize>,
    dropped: Arc<AtomicBool>,
}

impl Probe {
    async fn work(self, job: Job) -> Result<(), Error> {
        self.started.lock().unwrap().push(job.id);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let _flag = DropFlag(self.dropped.clone());
        match job.work_ms {
            Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            None => std::future::pending().await,
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }

    fn started(&self) -> Vec<String> {
        self.started.lock().unwrap().clone()
    }

    /// A record handler that works each job through this probe.
    fn handler(&self) -> impl Fn(LambdaEvent<Job>) -> Work + Clone + Send + Sync + use<> {
        let probe = self.clone();
        move |event: LambdaEvent<Job>| Box::pin(probe.clone().work(event.payload))
    }
}

fn jobs(
    work: &[Option<u64>],
    group: Option<&str>,
) -> Vec<aws_lambda_events::event::sqs::SqsMessage> {
    work.iter()
        .enumerate()
        .map(|(i, ms)| {
            let id = format!("m{i}");
            let body = match ms {
                Some(ms) => format!(r#"{{"id":"{id}","work_ms":{ms}}}"#),
                None => format!(r#"{{"id":"{id}"}}"#),
            };
            sqs_message(&id, &body, group)
        })
        .collect()
}

fn names(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("m{i}")).collect()
}

fn epoch_ms(time: SystemTime) -> u64 {
    u64::try_from(time.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

async fn run(
    config: BatchConfig,
    work: &[Option<u64>],
    group: Option<&str>,
    context: Context,
) -> (Result<Vec<String>, BatchError>, Probe) {
    let probe = Probe::default();
    let result = BatchLayer::sqs(config)
        .service_fn(probe.handler())
        .oneshot(sqs_event(jobs(work, group), context))
        .await
        .map(|response| reported_ids(&response));
    (result, probe)
}

#[tokio::test(start_paused = true)]
async fn records_not_started_before_the_safety_margin_are_reported() {
    let context = context(Some(300 * MS));
    let deadline = context.deadline;
    let config = BatchConfig::new().with_safety_margin(200 * MS);
    let begin = Instant::now();
    let (result, probe) = run(config, &[Some(150); 10], None, context).await;
    // m0 starts with ~300 ms left and ends at 150 ms; then less than 200 ms is left.
    assert_eq!(result.unwrap(), names(1..10));
    assert_eq!(probe.started(), ["m0"]);
    assert_eq!(begin.elapsed(), 150 * MS);
    assert!(epoch_ms(SystemTime::now()) < deadline);
}

#[tokio::test]
async fn on_the_wall_clock_the_response_leaves_before_the_deadline() {
    // The same timeline, three times slower, measured for real.
    let context = context(Some(900 * MS));
    let deadline = context.deadline;
    let config = BatchConfig::new().with_safety_margin(600 * MS);
    let (result, probe) = run(config, &[Some(450); 10], None, context).await;
    assert_eq!(result.unwrap(), names(1..10));
    assert_eq!(probe.started(), ["m0"]);
    assert!(epoch_ms(SystemTime::now()) < deadline);
}

#[tokio::test(start_paused = true)]
async fn records_running_at_the_abandon_margin_are_dropped_and_reported() {
    let config = BatchConfig::new()
        .with_concurrency(2)
        .with_safety_margin(200 * MS);
    let mut work = vec![Some(60); 10];
    work[1] = None; // never finishes
    let begin = Instant::now();
    let (result, probe) = run(config, &work, None, context(Some(300 * MS))).await;
    // t=0: m0, m1 start. t=60: m0 ends, m2 starts. t=120: m2 ends; <200 ms left: m3.. stay.
    // t≈200 (100 ms left, the default abandon margin): m1 is dropped.
    let mut expected = vec!["m1".to_owned()];
    expected.extend(names(3..10));
    assert_eq!(result.unwrap(), expected);
    assert_eq!(probe.started(), ["m0", "m1", "m2"]);
    assert!(probe.dropped.load(Ordering::SeqCst));
    let elapsed = begin.elapsed();
    assert!(elapsed > 195 * MS && elapsed <= 200 * MS, "{elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn a_fifo_group_behind_an_abandoned_record_is_not_started() {
    let config = BatchConfig::new()
        .with_concurrency(4)
        .with_safety_margin(200 * MS)
        .with_abandon_margin(50 * MS);
    let (result, probe) = run(
        config,
        &[None, Some(1), Some(1)],
        Some("g"),
        context(Some(400 * MS)),
    )
    .await;
    let error = result.unwrap_err();
    let counts = OutcomeCounts {
        abandoned: 1,
        not_started: 2,
        ..OutcomeCounts::default()
    };
    assert_eq!(error, all_failed("sqs", 3, counts));
    assert_eq!(probe.started(), ["m0"]);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_already_past_starts_nothing() {
    let config = BatchConfig::new().with_all_failed(AllFailedPolicy::ReportEveryRecord);
    let (result, probe) = run(config, &[Some(1); 3], None, context(Some(Duration::ZERO))).await;
    assert_eq!(result.unwrap(), names(0..3));
    assert!(probe.started().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_context_without_deadline_never_stops_for_time() {
    let (result, probe) = run(BatchConfig::new(), &[Some(5_000); 3], None, context(None)).await;
    assert_eq!(result.unwrap(), Vec::<String>::new());
    assert_eq!(probe.started(), names(0..3));
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded_and_groups_run_one_record_at_a_time() {
    let cases: [(usize, Option<&str>, Duration, usize); 4] = [
        (1, None, 600 * MS, 1),
        (3, None, 200 * MS, 3),
        (8, None, 100 * MS, 6),
        (8, Some("one-group"), 600 * MS, 1),
    ];
    for (concurrency, group, total, max_running) in cases {
        let begin = Instant::now();
        let config = BatchConfig::new().with_concurrency(concurrency);
        let (result, probe) = run(config, &[Some(100); 6], group, context(None)).await;
        assert_eq!(result.unwrap(), Vec::<String>::new());
        assert_eq!(begin.elapsed(), total, "{concurrency} {group:?}");
        assert_eq!(probe.max_running.load(Ordering::SeqCst), max_running);
        assert_eq!(probe.started(), names(0..6));
    }
}

/// Kafka on the paused clock: partitions run concurrently, a partition's records one at a
/// time; the records not started before the safety margin and the one still running at the
/// abandon margin are reported by partition and offset.
#[tokio::test(start_paused = true)]
async fn kafka_records_past_the_margins_are_reported_by_partition_and_offset() {
    let config = BatchConfig::new()
        .with_concurrency(2)
        .with_safety_margin(200 * MS);
    // (partition, offset, work): partition 0 has a record that never finishes.
    let work = [
        (0, 5, Some(60)),
        (0, 6, None),
        (0, 7, Some(1)),
        (1, 20, Some(60)),
        (1, 21, Some(60)),
        (1, 22, Some(60)),
    ];
    let records = work.iter().map(|(partition, offset, ms)| {
        let id = format!("{partition}@{offset}");
        let body = match ms {
            Some(ms) => format!(r#"{{"id":"{id}","work_ms":{ms}}}"#),
            None => format!(r#"{{"id":"{id}"}}"#),
        };
        kafka_record("jobs", *partition, *offset, body.as_bytes())
    });
    let probe = Probe::default();
    let handler = {
        let probe = probe.clone();
        move |event: LambdaEvent<tern_middleware::batch::decode::KafkaMessage<Job>>| {
            probe.clone().work(event.payload.value)
        }
    };
    let begin = Instant::now();
    let response = BatchLayer::kafka(config)
        .service_fn(handler)
        .oneshot(kafka_event(records, context(Some(300 * MS))))
        .await
        .unwrap();
    // t=0: 0@5 and 1@20 start. t=60: both end; 0@6 (never ends) and 1@21 start. t=120: 1@21
    // ends; 180 ms left, under the safety margin: 1@22 and 0@7 stay. t≈200: 0@6 is dropped.
    assert_eq!(
        kafka_reported(&response),
        [
            ("jobs-0".to_owned(), 6),
            ("jobs-0".to_owned(), 7),
            ("jobs-1".to_owned(), 22)
        ]
    );
    assert_eq!(probe.started(), ["0@5", "1@20", "0@6", "1@21"]);
    assert!(probe.dropped.load(Ordering::SeqCst));
    let elapsed = begin.elapsed();
    assert!(elapsed > 195 * MS && elapsed <= 200 * MS, "{elapsed:?}");
}
