//! Property tests: random batches (sizes 0..50, random groups / keys / partitions) with random
//! failure, panic and poison sets, for every source, at concurrency 1..=8.
//!
//! Checked on every case, from the log the record handler and the decoder keep of what ran:
//! the reported ids are exactly the records whose handler did not return `Ok` (nothing lost,
//! nothing successful reported), in the order records run in; within a FIFO group, stream key
//! or Kafka partition the handler saw records one at a time, in order, and never a record after
//! one that failed; with the whole-batch scope on an ordered source, no record started after
//! the first failure. Where the outcome does not depend on timing, the reported set also equals
//! the one a simple reference model of the rules computes.
//!
//! The deadline properties add random handler durations, time left and margins on Tokio's
//! paused clock: a record starts only while at least the safety margin is left, a success is
//! acknowledged only when it completed before the abandon margin, every record not completed is
//! reported, and at concurrency 1 the report equals the one a sequential model of the timeline
//! computes.

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet, HashSet},
    time::Duration,
};

use crate::support::batch::*;
use proptest::{prelude::*, test_runner::FileFailurePersistence};
use serde::Deserialize;
use serde_dynamo::AttributeValue;
use tern_middleware::batch::{
    AllFailedPolicy, BatchConfig, BatchError, BatchLayer, FailureScope, decode::KafkaMessage,
};
use tern_runtime::{Context, Error, LambdaEvent};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Ok,
    Fail,
    Panic,
    Poison,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    SqsStandard,
    SqsFifo,
    Kinesis,
    DynamoDb,
    Kafka,
}

impl Source {
    fn ordered(self) -> bool {
        self != Self::SqsStandard
    }

    fn default_scope(self) -> FailureScope {
        match self {
            Self::SqsStandard | Self::SqsFifo => FailureScope::OrderingKey,
            Self::Kinesis | Self::DynamoDb | Self::Kafka => FailureScope::Batch,
        }
    }
}

#[derive(Debug, Clone)]
struct Case {
    source: Source,
    /// (ordering key, behaviour) per record, in arrival order.
    records: Vec<(u8, Behaviour)>,
    concurrency: usize,
    scope: Option<FailureScope>,
    report_all: bool,
    /// Handler durations and the invocation's time limits; `None`: no deadline, no sleeping.
    timing: Option<Timing>,
}

/// Virtual time in ticks. Every duration is a whole number of ticks and the deadline is half a
/// tick past a tick, so no record ends exactly at a margin, whatever the few wall-clock
/// milliseconds between building the context and the batch reading it.
const TICK: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
struct Timing {
    /// Ticks each record's handler works before it answers, by position.
    work: Vec<u32>,
    /// Whole ticks left when the batch starts (plus half a tick).
    remaining: u32,
    /// Safety margin in ticks.
    safety: u32,
    /// Abandon margin in ticks, as configured (the batch caps it at the safety margin).
    abandon: u32,
}

impl Timing {
    fn abandon(&self) -> u32 {
        self.abandon.min(self.safety)
    }

    /// The deadline's distance from the batch's start.
    fn deadline(&self) -> Duration {
        TICK * self.remaining + TICK / 2
    }
}

impl Case {
    fn scope(&self) -> FailureScope {
        self.scope.unwrap_or(self.source.default_scope())
    }

    fn config(&self) -> BatchConfig {
        let mut config = BatchConfig::new().with_concurrency(self.concurrency);
        if let Some(scope) = self.scope {
            config = config.with_failure_scope(scope);
        }
        if self.report_all {
            config = config.with_all_failed(AllFailedPolicy::ReportEveryRecord);
        }
        if let Some(timing) = &self.timing {
            config = config
                .with_safety_margin(TICK * timing.safety)
                .with_abandon_margin(TICK * timing.abandon);
        }
        config
    }

    /// The invocation's context: a deadline when the case is timed.
    fn context(&self) -> Context {
        context(self.timing.as_ref().map(Timing::deadline))
    }

    /// How long record `seq`'s handler works.
    fn work(&self, seq: usize) -> Duration {
        self.timing
            .as_ref()
            .map_or(Duration::ZERO, |timing| TICK * timing.work[seq])
    }
}

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        6 => Just(Behaviour::Ok),
        1 => Just(Behaviour::Fail),
        1 => Just(Behaviour::Panic),
        1 => Just(Behaviour::Poison),
    ]
}

fn case(
    source: impl Strategy<Value = Source>,
    concurrency: impl Strategy<Value = usize>,
) -> impl Strategy<Value = Case> {
    (source, 1u8..6, concurrency)
        .prop_flat_map(|(source, keys, concurrency)| {
            (
                Just(source),
                prop::collection::vec((0..keys, behaviour()), 0..50),
                Just(concurrency),
                prop_oneof![
                    Just(None),
                    Just(Some(FailureScope::OrderingKey)),
                    Just(Some(FailureScope::Batch)),
                ],
                any::<bool>(),
            )
        })
        .prop_map(|(source, records, concurrency, scope, report_all)| Case {
            source,
            records,
            concurrency,
            scope,
            report_all,
            timing: None,
        })
}

/// A case with random handler durations (0..=3 ticks), time left (0..=12 ticks) and margins
/// (safety 0..=3 ticks, abandon 0..=3 ticks).
fn timed_case(
    source: impl Strategy<Value = Source>,
    concurrency: impl Strategy<Value = usize>,
) -> impl Strategy<Value = Case> {
    case(source, concurrency).prop_flat_map(|case| {
        let work = prop::collection::vec(0u32..=3, case.records.len());
        (Just(case), work, 0u32..=12, 0u32..=3, 0u32..=3).prop_map(
            |(case, work, remaining, safety, abandon)| Case {
                timing: Some(Timing {
                    work,
                    remaining,
                    safety,
                    abandon,
                }),
                ..case
            },
        )
    })
}

/// The records the rules require to be reported under `scope`, when that does not depend on
/// timing.
fn reference_model(case: &Case, scope: FailureScope) -> Option<BTreeSet<usize>> {
    let failing = |b: Behaviour| b != Behaviour::Ok;
    let records = &case.records;
    if !case.source.ordered() {
        return Some(
            (0..records.len())
                .filter(|&i| failing(records[i].1))
                .collect(),
        );
    }
    match scope {
        FailureScope::OrderingKey => {
            let mut stopped = HashSet::new();
            let mut reported = BTreeSet::new();
            for (i, (key, behaviour)) in records.iter().enumerate() {
                if stopped.contains(key) || failing(*behaviour) {
                    stopped.insert(*key);
                    reported.insert(i);
                }
            }
            Some(reported)
        }
        FailureScope::Batch if case.concurrency == 1 => {
            let first = records.iter().position(|(_, b)| failing(*b));
            Some(first.map_or(BTreeSet::new(), |first| (first..records.len()).collect()))
        }
        FailureScope::Batch => None,
    }
}

/// What ran, in order: the record handler's and the decoder's own log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ran {
    Started(usize),
    Succeeded(usize),
    /// The handler is about to return an error or panic.
    Failed(usize),
    /// The record did not decode.
    Poison(usize),
}

thread_local! {
    // The batch runs on this thread (a current-thread runtime, nothing spawned).
    static RAN: RefCell<Vec<Ran>> = const { RefCell::new(Vec::new()) };
    // When each entry of `RAN` was logged, on Tokio's clock.
    static AT: RefCell<Vec<Instant>> = const { RefCell::new(Vec::new()) };
}

fn ran(event: Ran) {
    RAN.with(|log| log.borrow_mut().push(event));
    AT.with(|at| at.borrow_mut().push(Instant::now()));
}

#[derive(Debug, Deserialize)]
#[serde(try_from = "CmdFields")]
struct Cmd {
    seq: usize,
    behaviour: String,
    work_ms: u64,
}

#[derive(Deserialize)]
struct CmdFields {
    seq: usize,
    behaviour: String,
    work_ms: u64,
}

/// A poison record is well-formed JSON its type refuses, so the decoder's failure is logged.
impl TryFrom<CmdFields> for Cmd {
    type Error = &'static str;

    fn try_from(fields: CmdFields) -> Result<Self, &'static str> {
        if fields.behaviour == "poison" {
            ran(Ran::Poison(fields.seq));
            return Err("poison");
        }
        Ok(Cmd {
            seq: fields.seq,
            behaviour: fields.behaviour,
            work_ms: fields.work_ms,
        })
    }
}

async fn handle(cmd: Cmd) -> Result<(), Error> {
    ran(Ran::Started(cmd.seq));
    if cmd.work_ms > 0 {
        tokio::time::sleep(Duration::from_millis(cmd.work_ms)).await;
    } else {
        // Interleave records differently depending on their position.
        for _ in 0..cmd.seq % 3 {
            tokio::task::yield_now().await;
        }
    }
    match cmd.behaviour.as_str() {
        "ok" => {
            ran(Ran::Succeeded(cmd.seq));
            Ok(())
        }
        "fail" => {
            ran(Ran::Failed(cmd.seq));
            Err(format!("record {} fails", cmd.seq).into())
        }
        "panic" => {
            ran(Ran::Failed(cmd.seq));
            panic!("{EXPECTED_PANIC}: record {}", cmd.seq)
        }
        other => unreachable!("{other}"),
    }
}

fn name(behaviour: Behaviour) -> &'static str {
    match behaviour {
        Behaviour::Ok => "ok",
        Behaviour::Fail => "fail",
        Behaviour::Panic => "panic",
        Behaviour::Poison => "poison",
    }
}

/// The record's JSON: its position, behaviour and how long its handler works.
fn json(seq: usize, behaviour: Behaviour, work: Duration) -> String {
    format!(
        r#"{{"seq":{seq},"behaviour":"{}","work_ms":{}}}"#,
        name(behaviour),
        work.as_millis()
    )
}

/// Kafka topic-partition of a key: two topics, partitions 0.. in each.
fn topic_partition(key: u8) -> (&'static str, i64) {
    let topic = if key.is_multiple_of(2) {
        "orders"
    } else {
        "returns"
    };
    (topic, i64::from(key / 2))
}

/// Runs the case through the batch service; the response's ids as positions.
async fn run(case: &Case) -> Result<Vec<usize>, BatchError> {
    let ordered = case.source.ordered();
    let config = case.config();
    let handler = |event: LambdaEvent<Cmd>| handle(event.payload);
    let records = case.records.iter().enumerate();
    let ids = match case.source {
        Source::SqsStandard | Source::SqsFifo => {
            let group = |key: u8| ordered.then(|| format!("group-{key}"));
            let messages = records.map(|(seq, (key, behaviour))| {
                sqs_message(
                    &seq.to_string(),
                    &json(seq, *behaviour, case.work(seq)),
                    group(*key).as_deref(),
                )
            });
            let event = sqs_event(messages, case.context());
            let response = run_batch(BatchLayer::sqs(config), handler, event).await?;
            reported_ids(&response)
        }
        Source::Kinesis => {
            let records = records.map(|(seq, (key, behaviour))| {
                let data = json(seq, *behaviour, case.work(seq));
                kinesis_record(&seq.to_string(), &format!("key-{key}"), data.as_bytes())
            });
            let event = kinesis_event(records, case.context());
            let response = run_batch(BatchLayer::kinesis(config), handler, event).await?;
            reported_ids(&response)
        }
        Source::DynamoDb => {
            let records = records.map(|(seq, (key, behaviour))| {
                let behaviour = name(*behaviour).to_owned();
                dynamodb_record(
                    &seq.to_string(),
                    &format!("item-{key}"),
                    &[
                        ("seq", AttributeValue::N(seq.to_string())),
                        ("behaviour", AttributeValue::S(behaviour)),
                        (
                            "work_ms",
                            AttributeValue::N(case.work(seq).as_millis().to_string()),
                        ),
                    ],
                )
            });
            let event = dynamodb_event(records, case.context());
            let handler = move |event: LambdaEvent<Option<Cmd>>| {
                handler(LambdaEvent::new(
                    event.payload.expect("every record has a new image"),
                    event.context,
                ))
            };
            let response = run_batch(BatchLayer::dynamodb(config), handler, event).await?;
            reported_ids(&response)
        }
        Source::Kafka => {
            // Topic-partition from the key, offset = position: `normalized` made positions
            // run in topic, partition, then offset order, the order a Kafka batch runs in.
            let records = records.map(|(seq, (key, behaviour))| {
                let data = json(seq, *behaviour, case.work(seq));
                let (topic, partition) = topic_partition(*key);
                kafka_record(topic, partition, seq as i64, data.as_bytes())
            });
            let event = kafka_event(records, case.context());
            let expected_key = |seq: usize| format!("key-{seq}").into_bytes();
            let handler = move |event: LambdaEvent<KafkaMessage<Cmd>>| {
                let message = event.payload;
                let seq = message.value.seq;
                // Metadata that does not match fails the record, and so the check.
                let metadata = (
                    (message.topic.as_str(), message.partition),
                    message.offset,
                    message.key.as_deref(),
                );
                let expected = (
                    topic_partition(case.records[seq].0),
                    seq as i64,
                    Some(&expected_key(seq)[..]),
                );
                let wrong = metadata != expected;
                async move {
                    if wrong {
                        ran(Ran::Failed(seq));
                        return Err::<(), Error>(format!("record {seq}: wrong metadata").into());
                    }
                    handle(message.value).await
                }
            };
            let response = run_batch(BatchLayer::kafka(config), handler, event).await?;
            let reported = kafka_reported(&response);
            for (partition, offset) in &reported {
                let (topic, number) =
                    topic_partition(case.records[usize::try_from(*offset).unwrap()].0);
                assert_eq!(*partition, format!("{topic}-{number}"));
            }
            reported
                .into_iter()
                .map(|(_, offset)| offset.to_string())
                .collect()
        }
    };
    Ok(ids.iter().map(|id| id.parse().unwrap()).collect())
}

/// Kafka runs records in topic, then partition order: sort the records (stable) so that
/// positions are that order, their durations with them.
fn normalized(case: &Case) -> Case {
    let mut case = case.clone();
    if case.source == Source::Kafka {
        let mut order: Vec<usize> = (0..case.records.len()).collect();
        order.sort_by_key(|&i| topic_partition(case.records[i].0));
        case.records = order.iter().map(|&i| case.records[i]).collect();
        if let Some(timing) = &mut case.timing {
            timing.work = order.iter().map(|&i| timing.work[i]).collect();
        }
    }
    case
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    quiet_expected_panics();
    let case = &normalized(case);
    RAN.with(|log| log.borrow_mut().clear());
    AT.with(|at| at.borrow_mut().clear());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(case.timing.is_some())
        .build()
        .unwrap();
    let (result, elapsed, begin) = runtime.block_on(async {
        let begin = Instant::now();
        let result = run(case).await;
        (result, begin.elapsed(), begin)
    });
    let log = RAN.with(|log| log.take());
    let at: Vec<Duration> = AT
        .with(|at| at.take())
        .into_iter()
        .map(|at| at - begin)
        .collect();

    let all: BTreeSet<usize> = (0..case.records.len()).collect();
    let succeeded: BTreeSet<usize> = log
        .iter()
        .filter_map(|ran| match ran {
            Ran::Succeeded(seq) => Some(*seq),
            _ => None,
        })
        .collect();
    let expected: BTreeSet<usize> = all.difference(&succeeded).copied().collect();
    match result {
        Ok(ids) => {
            // Run order, no duplicates, exactly what did not succeed.
            prop_assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
            let reported: BTreeSet<usize> = ids.into_iter().collect();
            prop_assert_eq!(&reported, &expected);
            prop_assert!(case.report_all || reported.len() < all.len() || all.is_empty());
        }
        Err(BatchError::AllRecordsFailed {
            records, counts, ..
        }) => {
            prop_assert!(!case.report_all);
            prop_assert_eq!(records, case.records.len());
            prop_assert!(records > 0 && succeeded.is_empty());
            prop_assert_eq!(counts.reported(), records);
        }
        Err(other) => prop_assert!(false, "unexpected error {other}"),
    }
    let per_key = reference_model(case, FailureScope::OrderingKey).unwrap();
    match (&case.timing, reference_model(case, case.scope())) {
        (None, Some(model)) => prop_assert_eq!(&expected, &model),
        // Batch scope with concurrency: which other keys were already running when the first
        // failure came depends on timing, but every key is stopped at its own first failure.
        (None, None) => prop_assert!(per_key.is_subset(&expected), "{per_key:?} {expected:?}"),
        // With a deadline too: time only adds to what is reported.
        (Some(timing), _) => {
            prop_assert!(per_key.is_subset(&expected), "{per_key:?} {expected:?}");
            check_time(case, timing, &log, &at, elapsed)?;
            if case.concurrency == 1 {
                prop_assert_eq!(&expected, &sequential_model(case, timing));
            }
        }
    }
    if case.source.ordered() {
        check_lanes(case, &log)?;
        if case.scope() == FailureScope::Batch {
            check_stop(&log)?;
        }
    }
    Ok(())
}

/// Records a failure stops without running: the rest of its lane (on an ordered source) and,
/// with the whole-batch scope, every record not started.
fn stopped_by_failure(case: &Case, log: &[Ran], seq: usize) -> bool {
    if !case.source.ordered() {
        return false;
    }
    let failed = log.iter().filter_map(|ran| match *ran {
        Ran::Failed(seq) | Ran::Poison(seq) => Some(seq),
        Ran::Started(_) | Ran::Succeeded(_) => None,
    });
    let key = case.records[seq].0;
    match case.scope() {
        FailureScope::Batch => failed.count() > 0,
        FailureScope::OrderingKey => failed
            .filter(|&failed| failed < seq)
            .any(|failed| case.records[failed].0 == key),
    }
}

/// The deadline rules on the paused clock (`at[i]`: when `log[i]` happened, from the batch's
/// start; `elapsed`: when the batch answered). All work is whole ticks and the deadline half a
/// tick past `remaining` ticks, so "at least the safety margin is left at `t`" is
/// `t + safety <= remaining` in ticks, and "before the abandon margin" `t + abandon <= remaining`.
fn check_time(
    case: &Case,
    timing: &Timing,
    log: &[Ran],
    at: &[Duration],
    elapsed: Duration,
) -> Result<(), TestCaseError> {
    let whole = TICK * timing.remaining;
    let safety = TICK * timing.safety;
    let abandon = TICK * timing.abandon();
    // The answer leaves by the abandon margin (the timer fires on a whole millisecond).
    let latest = timing.deadline().saturating_sub(abandon) + Duration::from_millis(2);
    prop_assert!(
        elapsed <= latest,
        "answered at {elapsed:?}, after {latest:?}"
    );
    let mut started = BTreeMap::new();
    let mut answered = BTreeSet::new();
    let mut decoded = BTreeSet::new();
    for (ran, &at) in log.iter().zip(at) {
        match *ran {
            Ran::Started(seq) => {
                prop_assert!(at + safety <= whole, "{seq} started at {at:?}");
                started.insert(seq, at);
            }
            Ran::Succeeded(seq) | Ran::Failed(seq) => {
                // The handler answered after its work, and a success before the abandon margin.
                let ends = started
                    .get(&seq)
                    .map(|&start: &Duration| start + case.work(seq));
                prop_assert_eq!(Some(at), ends, "record {}", seq);
                if matches!(ran, Ran::Succeeded(_)) {
                    prop_assert!(at + abandon <= whole, "{seq} succeeded at {at:?}");
                }
                answered.insert(seq);
            }
            Ran::Poison(seq) => {
                prop_assert!(at + safety <= whole, "{seq} decoded at {at:?}");
                decoded.insert(seq);
            }
        }
    }
    for seq in 0..case.records.len() {
        match started.get(&seq) {
            // Dropped at the abandon margin: its work would have gone past it.
            Some(&start) if !answered.contains(&seq) => prop_assert!(
                start + case.work(seq) + abandon > whole,
                "{seq} was dropped, yet its work ends in time"
            ),
            Some(_) => {}
            // Never started nor decoded: a failure stopped it, or time did (less than the
            // safety margin was left when the batch ended).
            None if !decoded.contains(&seq) && !stopped_by_failure(case, log, seq) => {
                prop_assert!(
                    elapsed + safety > whole,
                    "{seq} did not start, though the batch ended at {elapsed:?}"
                );
            }
            None => {}
        }
    }
    Ok(())
}

/// At concurrency 1 the timeline is exact: records run one after another in position order.
/// The positions reported: a failure stops its key (and the batch, with the whole-batch scope
/// on an ordered source); a record that would start with less than the safety margin left, or
/// whose work would end past the abandon margin, stops the batch there.
fn sequential_model(case: &Case, timing: &Timing) -> BTreeSet<usize> {
    let ordered = case.source.ordered();
    let mut now = 0;
    let mut stopped_keys = HashSet::new();
    let mut stopped = false;
    let mut reported = BTreeSet::new();
    for (seq, &(key, behaviour)) in case.records.iter().enumerate() {
        if stopped || (ordered && stopped_keys.contains(&key)) {
            reported.insert(seq);
            continue;
        }
        if now + timing.safety > timing.remaining {
            stopped = true;
            reported.insert(seq);
            continue;
        }
        if behaviour != Behaviour::Poison {
            let end = now + timing.work[seq];
            if end + timing.abandon() > timing.remaining {
                stopped = true;
                reported.insert(seq);
                continue;
            }
            now = end;
            if behaviour == Behaviour::Ok {
                continue;
            }
        }
        reported.insert(seq);
        if ordered {
            stopped_keys.insert(key);
            stopped |= case.scope() == FailureScope::Batch;
        }
    }
    reported
}

/// Within a key, one record at a time, in order, up to its first failure at the latest.
fn check_lanes(case: &Case, log: &[Ran]) -> Result<(), TestCaseError> {
    let key = |seq: usize| case.records[seq].0;
    let mut started: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
    let mut active = HashSet::new();
    for ran in log {
        match *ran {
            Ran::Started(seq) => {
                prop_assert!(
                    active.insert(key(seq)),
                    "key {} ran two records at once",
                    key(seq)
                );
                started.entry(key(seq)).or_default().push(seq);
            }
            Ran::Succeeded(seq) | Ran::Failed(seq) => {
                active.remove(&key(seq));
            }
            Ran::Poison(_) => {}
        }
    }
    for (key, started) in &started {
        let lane: Vec<usize> = (0..case.records.len())
            .filter(|&i| case.records[i].0 == *key)
            .collect();
        // A prefix of the lane, in order, ending at its first failure at the latest.
        prop_assert_eq!(started.as_slice(), &lane[..started.len()]);
        let failed_before_last = started[..started.len() - 1]
            .iter()
            .any(|&i| case.records[i].1 != Behaviour::Ok);
        prop_assert!(
            !failed_before_last,
            "key {key} ran a record after a failure"
        );
    }
    Ok(())
}

/// The whole-batch stop: no record starts after the first failure (handler error, panic or
/// poison) was logged. Records already running may still finish.
fn check_stop(log: &[Ran]) -> Result<(), TestCaseError> {
    let first_failure = log
        .iter()
        .position(|ran| matches!(ran, Ran::Failed(_) | Ran::Poison(_)));
    if let Some(first) = first_failure {
        let late: Vec<&Ran> = log[first..]
            .iter()
            .filter(|ran| matches!(ran, Ran::Started(_)))
            .collect();
        prop_assert!(late.is_empty(), "started after {:?}: {late:?}", log[first]);
    }
    Ok(())
}

/// The configuration of every property test here.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 192,
        // The stored failure cases stay next to this file: by default proptest keeps them in a
        // `proptest-regressions` folder beside the directory of `main.rs`.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// Stamps out, for each source, the property tests `$name` (random cases) and `$deadline`
/// (issue #23, the deadline: random handler durations, time left and margins, `check_time`;
/// exact at concurrency 1), both at concurrency 1..=8.
macro_rules! per_source {
    ($($name:ident, $deadline:ident: $source:ident;)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $name(case in case(Just(Source::$source), 1usize..=8)) {
                    check(&case)?;
                }

                #[test]
                fn $deadline(case in timed_case(Just(Source::$source), 1usize..=8)) {
                    check(&case)?;
                }
            )*
        }
    };
}

per_source! {
    standard_sqs, deadline_standard_sqs: SqsStandard;
    fifo_sqs, deadline_fifo_sqs: SqsFifo;
    kinesis, deadline_kinesis: Kinesis;
    dynamodb, deadline_dynamodb: DynamoDb;
    kafka, deadline_kafka: Kafka;
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn per_key_order_is_arrival_order_at_concurrency_8(
        case in case(
            prop_oneof![
                Just(Source::SqsFifo),
                Just(Source::Kinesis),
                Just(Source::DynamoDb),
                Just(Source::Kafka),
            ],
            Just(8usize),
        )
    ) {
        check(&case)?;
    }

    /// Issue #23: with concurrency and the whole-batch scope, a record of another key must
    /// not start once a failure stopped the batch (`check_stop`), and the report is exactly
    /// the records that did not succeed.
    #[test]
    fn whole_batch_stop_starts_nothing_after_the_first_failure(
        case in case(
            prop_oneof![Just(Source::Kinesis), Just(Source::DynamoDb), Just(Source::Kafka)],
            2usize..=8,
        ).prop_map(|case| Case { scope: Some(FailureScope::Batch), ..case })
    ) {
        check(&case)?;
    }
}
