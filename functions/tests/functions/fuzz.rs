//! Fuzzing: mutated events from the corpus in `fuzz/corpus/` (the project's sample events,
//! the `aws_lambda_events` fixtures and hand-written hostile events), for a bounded time.
//!
//! - `batch_and_idempotency_paths`: in process, as fast as the machine goes. Each input is
//!   decoded as every event type the functions take; SQS, Kinesis and DynamoDB-stream batches
//!   that decode run through the batch layer with a per-record idempotency engine (keyed on
//!   the message id or sequence number) around the functions' own record validation. Checked
//!   on every input: nothing panics; every record either succeeded or is reported (as a
//!   multiset of ids: missing and duplicate ids included); no record's effect ran twice for
//!   one id; an all-failed batch is an error only when no record succeeded.
//! - `runtime_answers_every_mutated_event`: the same kind of inputs through the Lambda
//!   emulator to the real `bootstrap` for every handler (against moto): each gets a response
//!   or an error whose `errorType` is one the handler documents, never a panic, a timeout or
//!   a restarted process.
//!
//! The inputs are proptest strategies: a corpus seed and one to four [`Mutation`]s (bit flips,
//! hostile tokens, splices of another seed, deep nesting, huge strings, duplicated slices). In
//! process, proptest shrinks a failing input to fewer and smaller mutations before it is
//! reported. Each target runs `TERN_FUZZ_SECONDS` (default 20; `make fuzz FUZZ_SECONDS=600`
//! for longer), its cases following from the seed `TERN_FUZZ_SEED` (default: the clock,
//! printed so a failure can be replayed). An input that breaks an invariant is saved under
//! `target/fuzz-artifacts/`.

use std::{
    cell::RefCell,
    collections::{BTreeMap, HashMap},
    fmt,
    panic::AssertUnwindSafe,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use aws_lambda_events::event::{
    dynamodb::EventRecord, kinesis::KinesisEventRecord, s3::S3Event, sns::SnsEvent, sqs::SqsMessage,
};
use proptest::{
    prelude::*,
    sample::Index,
    strategy::ValueTree,
    test_runner::{Config as ProptestConfig, RngAlgorithm, TestError, TestRng, TestRunner},
};
use serde_json::Value;
use tern_functions::{echo::EchoRequest, kinesis::Reading, sqs::Order};
use tern_middleware::{
    batch::{
        BatchConfig, BatchError, BatchLayer,
        decode::Raw,
        source::{BatchSource, DynamoDb, Kinesis, Sqs},
    },
    idempotency::{Idempotency, IdempotencyConfig, store::MemoryStore},
};
use tern_runtime::{Context, LambdaEvent};
use tern_testkit::{Emulator, Scenario, tools};
use tower::{Layer, Service};

use crate::support::builder;

// ---------------------------------------------------------------------------------------------
// Inputs: corpus, mutations (proptest strategies), budget

/// `TERN_FUZZ_SEED`, else the clock: the seed of the proptest runner, printed so a run can be
/// replayed.
fn seed() -> u64 {
    std::env::var("TERN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// A proptest runner of `cases` cases that all follow from `seed` and `round`; a failure is
/// shrunk for at most a minute and saved by [`save_artifact`], not in a regressions file.
fn runner(seed: u64, round: usize, cases: u32) -> TestRunner {
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_time: 60_000,
        ..ProptestConfig::default()
    };
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&(round as u64).to_le_bytes());
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

fn budget() -> Duration {
    let secs = std::env::var("TERN_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    Duration::from_secs(secs)
}

const TARGETS: [&str; 6] = ["sqs", "kinesis", "dynamodb", "sns", "s3", "echo"];

/// The seeds of one corpus folder, sorted by name.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = tools::workspace_root().join("fuzz/corpus").join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let seeds: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!seeds.is_empty(), "{} is empty", dir.display());
    seeds
}

/// Tokens that tend to break decoders: JSON structure, wrong types, numbers out of range,
/// lone surrogates, bytes that are not UTF-8, base64 that is not.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"true",
    b"-1",
    b"0",
    b"1e999",
    b"18446744073709551616",
    b"-0.0",
    b"\"\"",
    b"\"\\ud800\"",
    b"\\u0000",
    b"\xff",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"%%%",
    b"====",
    b"\"messageId\"",
    b"\"sequenceNumber\"",
    b"\"Records\"",
    b"\"body\"",
    b"\"data\"",
    b"\"MessageGroupId\"",
    b"\"NewImage\"",
    b"{\"S\":1}",
];

/// One edit of an input. Positions are [`Index`]es, taken modulo the input's length when
/// applied, so a mutation stays meaningful while proptest shrinks the others away.
#[derive(Debug, Clone)]
enum Mutation {
    /// Flips one bit of a byte.
    FlipBit(Index, u8),
    /// Inserts a byte.
    Insert(Index, u8),
    /// Removes up to 16 bytes.
    Delete(Index, usize),
    /// Inserts a [`TOKENS`] entry.
    Token(Index, &'static [u8]),
    /// Our head, the other input's tail.
    Splice(Index, Index),
    /// Deep nesting inside a string or a value.
    Nest(Index, usize),
    /// A huge string value (the largest payload Lambda accepts is 6 MB).
    Huge(Index, usize),
    /// Duplicates up to 256 bytes (duplicate records, duplicate keys).
    Duplicate(Index, usize),
    /// Replaces the next quoted string with a [`TOKENS`] entry.
    Replace(Index, &'static [u8]),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let token = || proptest::sample::select(TOKENS);
    prop_oneof![
        8 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        8 => (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        8 => (any::<Index>(), 0usize..=16).prop_map(|(at, len)| Mutation::Delete(at, len)),
        8 => (any::<Index>(), token()).prop_map(|(at, token)| Mutation::Token(at, token)),
        8 => (any::<Index>(), any::<Index>()).prop_map(|(at, from)| Mutation::Splice(at, from)),
        8 => (any::<Index>(), 64usize..4160).prop_map(|(at, depth)| Mutation::Nest(at, depth)),
        1 => (any::<Index>(), 256usize * 1024..768 * 1024)
            .prop_map(|(at, len)| Mutation::Huge(at, len)),
        8 => (any::<Index>(), 1usize..=256).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
        8 => (any::<Index>(), token()).prop_map(|(at, token)| Mutation::Replace(at, token)),
    ]
}

/// `input` after `mutations`; `other` is the input a [`Mutation::Splice`] takes its tail from.
fn mutate(input: &[u8], other: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = input.to_vec();
    for mutation in mutations {
        let len = out.len();
        let position = |at: &Index| at.index(len + 1);
        match mutation {
            Mutation::FlipBit(at, bit) if len > 0 => out[at.index(len)] ^= 1 << bit,
            Mutation::Insert(at, byte) => out.insert(position(at), *byte),
            Mutation::Delete(at, count) => {
                let at = position(at);
                out.drain(at..(at + count).min(len));
            }
            Mutation::Token(at, token) => {
                let at = position(at);
                out.splice(at..at, token.iter().copied());
            }
            Mutation::Splice(at, from) if !other.is_empty() => {
                out.truncate(position(at));
                out.extend_from_slice(&other[from.index(other.len())..]);
            }
            Mutation::Nest(at, depth) => {
                let at = position(at);
                let nested = [vec![b'['; *depth], vec![b']'; *depth]].concat();
                out.splice(at..at, nested);
            }
            Mutation::Huge(at, size) => {
                let at = position(at);
                let huge = format!("\"{}\"", "x".repeat(*size));
                out.splice(at..at, huge.into_bytes());
            }
            Mutation::Duplicate(at, count) => {
                let at = position(at);
                let slice = out[at..(at + count).min(len)].to_vec();
                out.splice(at..at, slice);
            }
            Mutation::Replace(at, token) => {
                let at = position(at);
                if let Some(start) = out[at..].iter().position(|&b| b == b'"') {
                    let start = at + start;
                    if let Some(end) = out[start + 1..].iter().position(|&b| b == b'"') {
                        out.splice(start..start + end + 2, token.iter().copied());
                    }
                }
            }
            Mutation::FlipBit(..) | Mutation::Splice(..) => {}
        }
    }
    out
}

/// One fuzz input: a corpus seed of `target` after one to four mutations.
#[derive(Clone)]
struct Input {
    target: &'static str,
    bytes: Vec<u8>,
    /// How many records a batch runs at once.
    concurrency: usize,
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = String::from_utf8_lossy(&self.bytes);
        let shown: String = text.chars().take(300).collect();
        write!(
            f,
            "{} input of {} bytes: {shown:?}",
            self.target,
            self.bytes.len()
        )
    }
}

/// A seed of one of `corpora` (the target first, then its seed, as the targets have
/// corpora of different sizes) after one to four mutations, sometimes spliced with a seed of
/// another (or the same) target.
fn inputs(corpora: &[(&'static str, Vec<Vec<u8>>)]) -> impl Strategy<Value = Input> + use<> {
    let corpora = Arc::new(corpora.to_vec());
    let seed = || (0..corpora.len(), any::<Index>());
    let pick = seed();
    let other = seed();
    (
        pick,
        other,
        proptest::collection::vec(mutation(), 1..=4),
        1usize..=4,
    )
        .prop_map(
            move |((target, seed), (other, other_seed), mutations, concurrency)| {
                let (target, seeds) = &corpora[target];
                let others = &corpora[other].1;
                Input {
                    target,
                    bytes: mutate(
                        &seeds[seed.index(seeds.len())],
                        &others[other_seed.index(others.len())],
                        &mutations,
                    ),
                    concurrency,
                }
            },
        )
}

/// Saves an input that broke an invariant (named by the run's seed and its place in the run);
/// returns where.
fn save_artifact(target: &str, seed: u64, case: usize, input: &[u8]) -> PathBuf {
    let dir = tools::workspace_root().join("target/fuzz-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{target}-{seed}-{case}.json"));
    std::fs::write(&path, input).unwrap();
    path
}

/// Runs `check(input)`; on a panic, saves the input and fails naming it and the seed.
fn guarded(target: &str, seed: u64, case: usize, input: &[u8], check: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(check)) {
        let path = save_artifact(target, seed, case, input);
        eprintln!(
            "fuzz {target}: invariant broken (TERN_FUZZ_SEED={seed}); input saved to {}",
            path.display()
        );
        std::panic::resume_unwind(panic);
    }
}

// ---------------------------------------------------------------------------------------------
// In process: decoding, batch and idempotency

fn context() -> Context {
    let mut context = Context::default();
    context.request_id = "fuzz".into();
    let deadline = SystemTime::now() + Duration::from_secs(60);
    context.deadline = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    context
}

/// What the record services observed: ids whose record succeeded, and per id how many times
/// its effect ran.
#[derive(Default)]
struct Observed {
    succeeded: Vec<String>,
    effects: HashMap<String, usize>,
}

type Shared = Arc<Mutex<Observed>>;

/// A record service: the idempotency engine keyed on `id(record)`, around `effect`, which
/// validates the record (the functions' own code) and counts the side effect.
fn record_service<R, F>(
    engine: Idempotency,
    observed: Shared,
    id: fn(&R) -> Option<String>,
    effect: F,
) -> impl Service<LambdaEvent<R>, Response = (), Error = String, Future: Send> + Clone + Send
where
    R: Send + Sync + 'static,
    F: Fn(&R) -> Result<(), String> + Clone + Send + Sync + 'static,
{
    tower::service_fn(move |event: LambdaEvent<R>| {
        let (engine, observed, effect) = (engine.clone(), observed.clone(), effect.clone());
        async move {
            let record = event.payload;
            let key = id(&record);
            let outcome = engine
                .run(key.as_ref(), Duration::from_secs(30), || async {
                    effect(&record)?;
                    let mut seen = observed.lock().unwrap();
                    *seen
                        .effects
                        .entry(key.clone().unwrap_or_default())
                        .or_default() += 1;
                    Ok::<_, String>(())
                })
                .await;
            match outcome {
                Ok(()) => {
                    let mut seen = observed.lock().unwrap();
                    seen.succeeded.push(key.unwrap_or_default());
                    Ok(())
                }
                Err(error) => Err(error.to_string()),
            }
        }
    })
}

/// Runs one batch and checks the invariants against what the record services observed.
fn check_batch<Src, S>(
    runtime: &tokio::runtime::Runtime,
    mut service: S,
    event: Src::Event,
    observed: &Shared,
) where
    Src: BatchSource,
    Src::Event: Clone,
    S: Service<LambdaEvent<Src::Event>, Error = BatchError>,
    S::Response: serde::Serialize,
{
    // The batch's record ids, in order (an id may be missing or repeated).
    let ids: Vec<String> = Src::into_records(event.clone())
        .iter()
        .map(|record| Src::identifier(record).to_string())
        .collect();
    let result = runtime.block_on(async {
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .unwrap();
        service.call(LambdaEvent::new(event, context())).await
    });
    let observed = observed.lock().unwrap();
    for (id, runs) in &observed.effects {
        assert_eq!(*runs, 1, "the effect for id {id:?} ran {runs} times");
    }
    let mut expected: Vec<String> = ids.clone();
    for ok in &observed.succeeded {
        let at = expected
            .iter()
            .position(|id| id == ok)
            .unwrap_or_else(|| panic!("succeeded id {ok:?} is not in the batch {ids:?}"));
        expected.remove(at);
    }
    match result {
        Ok(response) => {
            let response = serde_json::to_value(&response).unwrap();
            let mut reported: Vec<String> = response["batchItemFailures"]
                .as_array()
                .expect("batchItemFailures")
                .iter()
                .map(|f| f["itemIdentifier"].as_str().unwrap_or_default().to_owned())
                .collect();
            reported.sort();
            expected.sort();
            assert_eq!(reported, expected, "reported ids vs records not processed");
        }
        Err(BatchError::AllRecordsFailed { .. }) => {
            assert!(!ids.is_empty(), "an empty batch is not a failure");
            assert!(
                observed.succeeded.is_empty(),
                "all-failed although {:?} succeeded",
                observed.succeeded
            );
        }
        Err(other) => panic!("unexpected batch error: {other}"),
    }
}

fn batch_config(concurrency: usize) -> BatchConfig {
    BatchConfig::new()
        .with_concurrency(concurrency)
        .with_metrics(false)
}

fn engine() -> Idempotency {
    Idempotency::new(
        Arc::new(MemoryStore::new()),
        IdempotencyConfig::new().with_prefix("fuzz"),
    )
}

/// One input decoded as every event type, and the types it decoded as.
struct Exercise<'a> {
    runtime: &'a tokio::runtime::Runtime,
    concurrency: usize,
    input: &'a [u8],
    decoded: Vec<&'static str>,
}

impl Exercise<'_> {
    /// Notes `name` if the input decodes as a `T`.
    fn decode<T: serde::de::DeserializeOwned>(&mut self, name: &'static str) {
        if serde_json::from_slice::<T>(self.input).is_ok() {
            self.decoded.push(name);
        }
    }

    /// Notes `name` if the input decodes as an event of the batch source `Src`, and runs that
    /// event through the batch layer over [`record_service`] (each record's idempotency key by
    /// `id`, its effect `effect`), checking the outcome ([`check_batch`]).
    fn batch<Src, F>(
        &mut self,
        name: &'static str,
        id: fn(&Src::Record) -> Option<String>,
        effect: F,
    ) where
        Src: BatchSource,
        Src::Event: serde::de::DeserializeOwned + Clone,
        Src::Record: Sync,
        Src::Response: serde::Serialize,
        F: Fn(&Src::Record) -> Result<(), String> + Clone + Send + Sync + 'static,
    {
        let Ok(event) = serde_json::from_slice::<Src::Event>(self.input) else {
            return;
        };
        self.decoded.push(name);
        let observed = Shared::default();
        let service = BatchLayer::<Src, Raw>::new(batch_config(self.concurrency))
            .layer(record_service(engine(), observed.clone(), id, effect));
        check_batch::<Src, _>(self.runtime, service, event, &observed);
    }
}

/// Decodes `input` as every event type and runs the batches that decode; returns which
/// types decoded.
fn exercise(
    runtime: &tokio::runtime::Runtime,
    concurrency: usize,
    input: &[u8],
) -> Vec<&'static str> {
    let mut exercise = Exercise {
        runtime,
        concurrency,
        input,
        decoded: Vec::new(),
    };
    exercise.batch::<Sqs, _>(
        "sqs",
        |m: &SqsMessage| m.message_id.clone().filter(|id| !id.is_empty()),
        |m: &SqsMessage| {
            let order: Order = serde_json::from_str(m.body.as_deref().unwrap_or_default())
                .map_err(|e| e.to_string())?;
            order.validate().map(drop).map_err(|e| e.to_string())
        },
    );
    exercise.batch::<Kinesis, _>(
        "kinesis",
        |r: &KinesisEventRecord| Some(r.kinesis.sequence_number.clone()).filter(|s| !s.is_empty()),
        |r: &KinesisEventRecord| Reading::from_record(r).map(drop).map_err(|e| e.to_string()),
    );
    exercise.batch::<DynamoDb, _>(
        "dynamodb",
        |r: &EventRecord| r.change.sequence_number.clone().filter(|s| !s.is_empty()),
        |r: &EventRecord| match serde_json::to_value(&r.change.new_image) {
            Ok(Value::Object(image)) if !image.is_empty() => Ok(()),
            Ok(_) => Err("no new image".to_owned()),
            Err(e) => Err(e.to_string()),
        },
    );
    exercise.decode::<SnsEvent>("sns");
    exercise.decode::<S3Event>("s3");
    exercise.decode::<EchoRequest>("echo");
    exercise.decoded
}

#[test]
fn batch_and_idempotency_paths() {
    let seed = seed();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let corpora: Vec<(&str, Vec<Vec<u8>>)> = TARGETS.iter().map(|t| (*t, corpus(t))).collect();

    // Every seed as it is first: each must decode as its own type (the corpus is valid input).
    for (target, seeds) in &corpora {
        for (case, input) in seeds.iter().enumerate() {
            let mut decoded = Vec::new();
            guarded(target, seed, case, input, || {
                decoded = exercise(&runtime, 1 + case % 4, input)
            });
            if !decoded.contains(target) && !is_meant_invalid(input) {
                panic!(
                    "a {target} seed does not decode as {target}: {}",
                    String::from_utf8_lossy(&input[..input.len().min(200)])
                );
            }
        }
    }

    // Then mutated seeds, in rounds of 64 cases until the budget is spent. A failing input is
    // shrunk (fewer and smaller mutations) before it is saved and reported.
    const ROUND: u32 = 64;
    let strategy = inputs(&corpora);
    let decoded_counts = RefCell::new(BTreeMap::<&str, usize>::new());
    let deadline = Instant::now() + budget();
    let mut rounds = 0usize;
    while Instant::now() < deadline {
        let result = runner(seed, rounds, ROUND).run(&strategy, |input| {
            for kind in exercise(&runtime, input.concurrency, &input.bytes) {
                *decoded_counts.borrow_mut().entry(kind).or_default() += 1;
            }
            Ok(())
        });
        if let Err(error) = result {
            if let TestError::Fail(_, input) = &error {
                let path = save_artifact(input.target, seed, rounds, &input.bytes);
                eprintln!(
                    "fuzz in process: the shrunk input is saved to {}",
                    path.display()
                );
            }
            panic!("fuzz in process (TERN_FUZZ_SEED={seed}): {error}");
        }
        rounds += 1;
    }
    let decoded_counts = decoded_counts.into_inner();
    eprintln!(
        "fuzz in process: {} inputs (TERN_FUZZ_SEED={seed}); decoded as: {decoded_counts:?}",
        rounds * ROUND as usize
    );
    // The mutations keep many inputs decodable, so the batch paths were really exercised.
    for kind in ["sqs", "kinesis", "dynamodb"] {
        assert!(
            decoded_counts.get(kind).copied().unwrap_or(0) >= 10,
            "too few {kind} batches decoded: {decoded_counts:?}"
        );
    }
}

/// Seeds that are meant not to decode as their type (they exercise the error paths).
fn is_meant_invalid(input: &[u8]) -> bool {
    let text = String::from_utf8_lossy(input);
    text.contains("not base64 %%%")
        || text.contains("\"message\": 42")
        || text.contains("\"delay_ms\":-1")
}

// ---------------------------------------------------------------------------------------------
// Through the emulator

/// The error types a handler may answer a hostile event with (anything else — a panic, a
/// timeout, an unknown type — breaks the invariant).
fn allowed_errors(handler: &str) -> &'static [&'static str] {
    match handler {
        "echo" => &[
            "Runtime.UnmarshalError",
            "Echo.RequestedFailure",
            "Runtime.HandlerPanic",
        ],
        "sqs" | "kinesis" => &["Runtime.UnmarshalError", "Batch.AllRecordsFailed"],
        "sns" => &[
            "Runtime.UnmarshalError",
            "Sns.InvalidMessage",
            // DynamoDB refuses the write (e.g. a message id past its 2 KiB key limit).
            "Sns.StoreFailed",
            "Idempotency.AlreadyInProgress",
            "Idempotency.PayloadMismatch",
        ],
        "s3" => &[
            "Runtime.UnmarshalError",
            "S3.InvalidRecord",
            "S3.RequestFailed",
            "S3.RoutingLoop",
            "S3.ObjectTooLarge",
        ],
        _ => &[],
    }
}

fn check_answer(handler: &str, input: &[u8], status: u16, body: &str) {
    assert_eq!(status, 200, "{handler}: status {status}: {body}");
    let answer: Value = serde_json::from_str(body)
        .unwrap_or_else(|err| panic!("{handler}: the answer is not JSON ({err}): {body}"));
    if let Some(error_type) = answer.get("errorType").and_then(Value::as_str) {
        assert!(
            allowed_errors(handler).contains(&error_type),
            "{handler}: unexpected {error_type}: {body}"
        );
        if error_type == "Runtime.HandlerPanic" {
            // Only echo panics, and only when asked to.
            assert!(
                String::from_utf8_lossy(input).contains("\"panic\""),
                "{handler}: a panic nobody asked for: {body}"
            );
        }
        let message = answer["errorMessage"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty(),
            "{handler}: an error without a message: {body}"
        );
    } else if handler == "sqs" || handler == "kinesis" {
        assert!(answer["batchItemFailures"].is_array(), "{handler}: {body}");
    }
}

#[test]
fn runtime_answers_every_mutated_event() {
    let seed = seed();
    let mut runner = runner(seed, 0, 1);
    // Which seed, which seed a splice takes its tail from, and the mutations.
    let picks = (
        any::<Index>(),
        any::<Index>(),
        proptest::collection::vec(mutation(), 1..=4),
    );
    let scenario = Scenario::start();
    let functions: Vec<(&str, Emulator, Vec<Vec<u8>>)> = scenario
        .seed_handlers()
        .into_iter()
        .map(|(handler, env)| {
            let emulator = builder(&scenario, handler, env)
                .env("AWS_LAMBDA_LOG_LEVEL", "ERROR")
                .timeout_secs(10)
                .start();
            (handler, emulator, corpus(handler))
        })
        .collect();

    let mut pids: HashMap<&str, u32> = HashMap::new();
    let mut counts = BTreeMap::<String, usize>::new();
    let deadline = Instant::now() + budget();
    let mut runs = 0usize;
    while Instant::now() < deadline || runs < functions.len() {
        let (handler, emulator, seeds) = &functions[runs % functions.len()];
        let (pick, other, mutations) = picks.new_tree(&mut runner).unwrap().current();
        let seed_input = &seeds[pick.index(seeds.len())];
        // The first round sends the seeds as they are.
        let input = if runs < functions.len() {
            seed_input.clone()
        } else {
            mutate(seed_input, &seeds[other.index(seeds.len())], &mutations)
        };
        // echo waits `delay_ms`: a mutation may ask for hours, which is not a hostile input.
        if serde_json::from_slice::<EchoRequest>(&input).is_ok_and(|r| r.delay_ms > 1_000) {
            continue;
        }
        guarded(handler, seed, runs, &input, || {
            let answer = emulator.invoke(&input);
            check_answer(handler, &input, answer.status, &answer.body);
            let kind = answer.error_type().unwrap_or_else(|| "ok".into());
            *counts.entry(format!("{handler}:{kind}")).or_default() += 1;
        });
        runs += 1;
        if runs.is_multiple_of(100) || Instant::now() >= deadline {
            // One process per handler throughout: a crash would restart it with a new pid.
            for (handler, emulator, _) in &functions {
                let pid = emulator.runtime_pid().expect("the runtime is running");
                assert_eq!(
                    *pids.entry(handler).or_insert(pid),
                    pid,
                    "{handler} restarted"
                );
            }
        }
    }
    eprintln!(
        "fuzz through the emulator: {runs} invocations (TERN_FUZZ_SEED={seed}); answers: {counts:?}"
    );
    for handler in ["echo", "sqs", "kinesis", "sns", "s3"] {
        assert!(
            counts.keys().any(|k| k.starts_with(&format!("{handler}:"))),
            "{handler} was never invoked"
        );
    }
}
