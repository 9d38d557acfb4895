//! Property tests: random batches (sizes 0..50, random groups / keys) with random failure,
//! panic and poison sets, for every source, at concurrency 1..=8.
//!
//! Checked on every case: the reported ids are exactly the records whose handler did not
//! return `Ok` (nothing lost, nothing successful reported), in arrival order; within a FIFO
//! group or stream key the handler saw records one at a time, in arrival order, and never a
//! record after one that failed. Where the outcome does not depend on timing, the reported set
//! also equals the one a simple reference model of the rules computes.

mod batch_support;

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use batch_support::*;
use proptest::prelude::*;
use serde::Deserialize;
use serde_dynamo::AttributeValue;
use tern_middleware::batch::{AllFailedPolicy, BatchConfig, BatchError, BatchLayer, FailureScope};
use tern_runtime::{Error, LambdaEvent};
use tower::ServiceExt;

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
}

impl Source {
    fn ordered(self) -> bool {
        self != Self::SqsStandard
    }

    fn default_scope(self) -> FailureScope {
        match self {
            Self::SqsStandard | Self::SqsFifo => FailureScope::OrderingKey,
            Self::Kinesis | Self::DynamoDb => FailureScope::Batch,
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
        config
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

#[derive(Debug, Deserialize)]
struct Cmd {
    seq: usize,
    key: u8,
    behaviour: String,
}

/// What the record handler observed.
#[derive(Default)]
struct Observer {
    /// Per key, the records started, in start order.
    started: Mutex<BTreeMap<u8, Vec<usize>>>,
    succeeded: Mutex<BTreeSet<usize>>,
    active: Mutex<HashSet<u8>>,
    overlap: AtomicBool,
}

/// Marks a key active for the life of one handler call, panics included.
struct Active<'a>(&'a Observer, u8);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.active.lock().unwrap().remove(&self.1);
    }
}

async fn handle(observer: Arc<Observer>, cmd: Cmd, ordered: bool) -> Result<(), Error> {
    observer
        .started
        .lock()
        .unwrap()
        .entry(cmd.key)
        .or_default()
        .push(cmd.seq);
    let _active = ordered.then(|| {
        if !observer.active.lock().unwrap().insert(cmd.key) {
            observer.overlap.store(true, Ordering::SeqCst);
        }
        Active(&observer, cmd.key)
    });
    // Interleave records differently depending on their position.
    for _ in 0..cmd.seq % 3 {
        tokio::task::yield_now().await;
    }
    match cmd.behaviour.as_str() {
        "ok" => {
            observer.succeeded.lock().unwrap().insert(cmd.seq);
            Ok(())
        }
        "fail" => Err(format!("record {} fails", cmd.seq).into()),
        "panic" => panic!("{EXPECTED_PANIC}: record {}", cmd.seq),
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

/// The record's JSON; a poison record's is cut short.
fn json(seq: usize, key: u8, behaviour: Behaviour) -> String {
    let full = format!(
        r#"{{"seq":{seq},"key":{key},"behaviour":"{}"}}"#,
        name(behaviour)
    );
    match behaviour {
        Behaviour::Poison => full[..full.len() / 2].to_owned(),
        _ => full,
    }
}

/// Runs the case through the batch service; the response's ids as positions.
async fn run(case: &Case, observer: Arc<Observer>) -> Result<Vec<usize>, BatchError> {
    let ordered = case.source.ordered();
    let config = case.config();
    let handler = move |event: LambdaEvent<Cmd>| handle(observer.clone(), event.payload, ordered);
    let records = case.records.iter().enumerate();
    let ids = match case.source {
        Source::SqsStandard | Source::SqsFifo => {
            let group = |key: u8| ordered.then(|| format!("group-{key}"));
            let messages = records.map(|(seq, (key, behaviour))| {
                sqs_message(
                    &seq.to_string(),
                    &json(seq, *key, *behaviour),
                    group(*key).as_deref(),
                )
            });
            let event = sqs_event(messages, context(None));
            let response = BatchLayer::sqs(config)
                .service_fn(handler)
                .oneshot(event)
                .await?;
            reported_ids(&response)
        }
        Source::Kinesis => {
            let records = records.map(|(seq, (key, behaviour))| {
                let data = json(seq, *key, *behaviour);
                kinesis_record(&seq.to_string(), &format!("key-{key}"), data.as_bytes())
            });
            let event = kinesis_event(records, context(None));
            let response = BatchLayer::kinesis(config)
                .service_fn(handler)
                .oneshot(event)
                .await?;
            reported_ids(&response)
        }
        Source::DynamoDb => {
            let records = records.map(|(seq, (key, behaviour))| {
                let seq_value = if *behaviour == Behaviour::Poison {
                    AttributeValue::S("not a number".into())
                } else {
                    AttributeValue::N(seq.to_string())
                };
                let behaviour = name(*behaviour).to_owned();
                dynamodb_record(
                    &seq.to_string(),
                    &format!("item-{key}"),
                    &[
                        ("seq", seq_value),
                        ("key", AttributeValue::N(key.to_string())),
                        ("behaviour", AttributeValue::S(behaviour)),
                    ],
                )
            });
            let event = dynamodb_event(records, context(None));
            let handler = move |event: LambdaEvent<Option<Cmd>>| {
                handler(LambdaEvent::new(
                    event.payload.expect("every record has a new image"),
                    event.context,
                ))
            };
            let response = BatchLayer::dynamodb(config)
                .service_fn(handler)
                .oneshot(event)
                .await?;
            reported_ids(&response)
        }
    };
    Ok(ids.iter().map(|id| id.parse().unwrap()).collect())
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    quiet_expected_panics();
    let observer = Arc::new(Observer::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(run(case, observer.clone()));

    let all: BTreeSet<usize> = (0..case.records.len()).collect();
    let succeeded = observer.succeeded.lock().unwrap().clone();
    let expected: BTreeSet<usize> = all.difference(&succeeded).copied().collect();
    match result {
        Ok(ids) => {
            // Arrival order, no duplicates, exactly what did not succeed.
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
    match reference_model(case, case.scope()) {
        Some(model) => prop_assert_eq!(&expected, &model),
        // Batch scope with concurrency: which other keys were already running when the first
        // failure came depends on timing, but every key is stopped at its own first failure.
        None => {
            let per_key = reference_model(case, FailureScope::OrderingKey).unwrap();
            prop_assert!(per_key.is_subset(&expected), "{per_key:?} {expected:?}");
        }
    }
    if case.source.ordered() {
        prop_assert!(
            !observer.overlap.load(Ordering::SeqCst),
            "a key ran two records at once"
        );
        let lanes = observer.started.lock().unwrap();
        for (key, started) in lanes.iter() {
            let lane: Vec<usize> = all
                .iter()
                .copied()
                .filter(|&i| case.records[i].0 == *key)
                .collect();
            // A prefix of the lane, in arrival order, ending at its first failure at the latest.
            prop_assert_eq!(started.as_slice(), &lane[..started.len()]);
            let failed_before_last = started[..started.len() - 1]
                .iter()
                .any(|&i| case.records[i].1 != Behaviour::Ok);
            prop_assert!(
                !failed_before_last,
                "key {key} ran a record after a failure"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn standard_sqs(case in case(Just(Source::SqsStandard), 1usize..=8)) {
        check(&case)?;
    }

    #[test]
    fn fifo_sqs(case in case(Just(Source::SqsFifo), 1usize..=8)) {
        check(&case)?;
    }

    #[test]
    fn kinesis(case in case(Just(Source::Kinesis), 1usize..=8)) {
        check(&case)?;
    }

    #[test]
    fn dynamodb(case in case(Just(Source::DynamoDb), 1usize..=8)) {
        check(&case)?;
    }

    #[test]
    fn per_key_order_is_arrival_order_at_concurrency_8(
        case in case(
            prop_oneof![Just(Source::SqsFifo), Just(Source::Kinesis), Just(Source::DynamoDb)],
            Just(8usize),
        )
    ) {
        check(&case)?;
    }
}
