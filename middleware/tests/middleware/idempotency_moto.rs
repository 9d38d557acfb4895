//! The idempotency layer and engine end to end against a real DynamoDB API (`moto_server` on
//! loopback): duplicates, failures, 50 concurrent invocations, a handler overrunning its
//! deadline, DynamoDB calls per invocation, and store outages.
//!
//! Every test starts its own moto and builds its SDK configuration explicitly (tests run in
//! parallel threads; none touches the process environment). DynamoDB calls are counted on the
//! wire by an SDK interceptor, one attempt per call.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::support::idempotency::{
    CallLog, TABLE, create_table, expected_item, raw_item, recorded_store, sdk_config,
    sdk_config_at,
};
use aws_sdk_dynamodb::{Client, types::AttributeValue};
use serde::{Deserialize, Serialize};
use tern_middleware::idempotency::{
    Idempotency, IdempotencyConfig, IdempotencyError, IdempotencyLayer, KeySelector,
    store::{DynamoDbStore, IdempotencyRecord, IdempotencyStore, PutOutcome},
};
use tern_runtime::{Context, Diagnostic, HandlerService, LambdaEvent};
use tern_testkit::Moto;
use tower::{Layer, Service, ServiceExt};

/// `payments.charge#` + sha256 of `"o-1"` (computed independently, Python hashlib).
const KEY_O1: &str =
    "payments.charge#00d5c8b71f851bbe47626a189b20fb19c11753e244bb658095c370ba3798f85c";
const KEY_O2: &str =
    "payments.charge#64023924f1311ecadbde3438b03b1f6302b6796494ec68d5a9d2cac82c49d8cf";
const KEY_O3: &str =
    "payments.charge#c6d637a3d9590dc80cca55254fd1608957b2cbb60d8f85d616525a13615a9b00";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payment {
    order_id: String,
    amount_cents: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Line {
    sku: String,
    quantity: u32,
}

/// A response with nesting, an optional field, a float and a map: it must come back from the
/// store byte for byte.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Receipt {
    order_id: String,
    charged_cents: u64,
    attempt: usize,
    rate: f64,
    note: Option<String>,
    lines: Vec<Line>,
    tags: BTreeMap<String, String>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A payment for `order_id` whose invocation has three seconds left.
fn payment(order_id: &str) -> LambdaEvent<Payment> {
    event(order_id, now_ms() + 3_000)
}

fn event(order_id: &str, deadline_ms: u64) -> LambdaEvent<Payment> {
    let mut context = Context::default();
    context.deadline = deadline_ms;
    LambdaEvent::new(
        Payment {
            order_id: order_id.to_owned(),
            amount_cents: 1250,
        },
        context,
    )
}

/// The charge handler: counts its runs; `fail_first` fails run 1, `hang_first` never finishes
/// run 1 (a handler overrunning its deadline).
#[derive(Clone, Default)]
struct Charge {
    runs: Arc<AtomicUsize>,
    fail_first: bool,
    hang_first: bool,
    /// A note of this many bytes in every receipt.
    note_bytes: Option<usize>,
}

impl Charge {
    /// A charge whose first run is declined.
    fn failing_first() -> Self {
        Self {
            fail_first: true,
            ..Self::default()
        }
    }

    /// A charge whose first run never finishes.
    fn hanging_first() -> Self {
        Self {
            hang_first: true,
            ..Self::default()
        }
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }

    fn service(&self) -> impl HandlerService<Payment, Response = Receipt, Error = Diagnostic> {
        let this = self.clone();
        tower::service_fn(move |event: LambdaEvent<Payment>| {
            let this = this.clone();
            async move {
                let attempt = this.runs.fetch_add(1, Ordering::SeqCst) + 1;
                if attempt == 1 && this.fail_first {
                    return Err(Diagnostic {
                        error_type: "Payments.Declined".into(),
                        error_message: "card declined".into(),
                    });
                }
                if attempt == 1 && this.hang_first {
                    std::future::pending::<()>().await;
                }
                Ok(Receipt {
                    order_id: event.payload.order_id,
                    charged_cents: event.payload.amount_cents,
                    attempt,
                    rate: 0.1 + 0.2,
                    note: this.note_bytes.map(|bytes| "n".repeat(bytes)),
                    lines: vec![Line {
                        sku: "é-1".into(),
                        quantity: 2,
                    }],
                    tags: BTreeMap::from([
                        ("z".into(), "last".into()),
                        ("a".into(), "\"q\"".into()),
                    ]),
                })
            }
        })
    }
}

fn layer(store: Arc<DynamoDbStore>, config: IdempotencyConfig) -> IdempotencyLayer<Payment> {
    let engine = Idempotency::new(store, config.with_prefix("payments.charge"));
    IdempotencyLayer::new(
        engine,
        KeySelector::from_fn(|p: &Payment| Some(p.order_id.clone())),
    )
}

async fn invoke<S>(service: &mut S, event: LambdaEvent<Payment>) -> Result<String, Diagnostic>
where
    S: Service<LambdaEvent<Payment>, Response = Receipt, Error = IdempotencyError<Diagnostic>>,
{
    let receipt = service.ready().await?.call(event).await?;
    // What the runtime would send back.
    Ok(serde_json::to_string(&receipt).unwrap())
}

async fn moto_with_table() -> (Moto, Client, aws_config::SdkConfig) {
    let moto = Moto::start();
    let sdk = sdk_config(&moto).await;
    let admin = Client::new(&sdk);
    create_table(&admin, TABLE).await;
    (moto, admin, sdk)
}

/// [`moto_with_table`], and a store on the table that records its calls.
async fn moto_with_recorded_table() -> (Moto, Client, Arc<DynamoDbStore>, CallLog) {
    let (moto, admin, sdk) = moto_with_table().await;
    let (store, calls) = recorded_store(&sdk, TABLE);
    (moto, admin, store, calls)
}

/// Asserts the stored record of `key` and returns it: it expires an hour after the call made
/// between `before_s` and `after_s` (epoch seconds), and is otherwise
/// `expected_item(key, status, <that expiration>, lock, data, None)` (else fails with `why`).
async fn assert_stored(
    admin: &Client,
    key: &str,
    (before_s, after_s): (u64, u64),
    status: &str,
    lock: Option<u64>,
    data: Option<&str>,
    why: &str,
) -> std::collections::HashMap<String, AttributeValue> {
    let item = raw_item(admin, TABLE, key).await.unwrap();
    let expiration: u64 = text(&item, "expiration").parse().unwrap();
    assert!(
        (before_s + 3600..=after_s + 3600).contains(&expiration),
        "{expiration}"
    );
    assert_eq!(
        item,
        expected_item(key, status, expiration, lock, data, None),
        "{why}"
    );
    item
}

fn text(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(s)) | Some(AttributeValue::N(s)) => s.clone(),
        other => panic!("attribute {name}: {other:?}"),
    }
}

#[tokio::test]
async fn duplicate_gets_the_first_response_byte_for_byte_and_costs_one_call_or_none_cached() {
    let (_moto, admin, store, calls) = moto_with_recorded_table().await;
    let charge = Charge::default();
    let mut service = layer(store.clone(), IdempotencyConfig::new()).layer(charge.service());

    let deadline = now_ms() + 3_000;
    let before_s = now_ms() / 1000;
    let first = invoke(&mut service, event("o-1", deadline)).await.unwrap();
    let after_s = now_ms() / 1000;
    assert_eq!(
        calls.take(),
        ["PutItem", "UpdateItem"],
        "a new key costs two calls"
    );
    let stored = (before_s, after_s);
    let item = assert_stored(
        &admin,
        KEY_O1,
        stored,
        "COMPLETED",
        Some(deadline),
        Some(&first),
        "",
    )
    .await;

    let duplicate = invoke(&mut service, payment("o-1")).await.unwrap();
    assert_eq!(calls.take(), ["PutItem"], "a duplicate costs one call");
    assert_eq!(duplicate, first, "byte-identical response");
    assert_eq!(charge.runs(), 1, "the side effect happened once");
    assert_eq!(raw_item(&admin, TABLE, KEY_O1).await.unwrap(), item);

    // Another environment with a local cache, selecting the key by path: the first duplicate
    // asks DynamoDB once, the next ones are answered locally.
    let engine = Idempotency::new(
        store.clone(),
        IdempotencyConfig::new()
            .with_prefix("payments.charge")
            .with_local_cache(16),
    );
    let mut cached = IdempotencyLayer::new(engine, KeySelector::pointer("/order_id").unwrap())
        .layer(charge.service());
    let from_store = invoke(&mut cached, payment("o-1")).await.unwrap();
    assert_eq!(calls.take(), ["PutItem"]);
    for _ in 0..3 {
        let from_cache = invoke(&mut cached, payment("o-1")).await.unwrap();
        assert_eq!(from_cache, first);
    }
    assert_eq!(
        calls.take(),
        Vec::<String>::new(),
        "cache hits cost no call"
    );
    assert_eq!(from_store, first);
    assert_eq!(charge.runs(), 1);
    assert_eq!(
        store.fallback_reads(),
        0,
        "moto returned the old item with the failure"
    );
}

#[tokio::test]
async fn a_response_too_large_to_store_completes_its_record_without_it_and_never_runs_twice() {
    let (_moto, admin, store, calls) = moto_with_recorded_table().await;
    // Over DynamoDB's 400 KB item size, which moto enforces like DynamoDB: with the whole
    // response in it, the completing UpdateItem would fail and every retry would run again.
    let charge = Charge {
        note_bytes: Some(450_000),
        ..Charge::default()
    };
    let mut service = layer(store.clone(), IdempotencyConfig::new()).layer(charge.service());
    let first = invoke(&mut service, payment("o-1")).await.unwrap();
    assert!(first.len() > 450_000);
    assert_eq!(calls.take(), ["PutItem", "UpdateItem"]);
    let item = raw_item(&admin, TABLE, KEY_O1).await.unwrap();
    assert_eq!(text(&item, "status"), "COMPLETED");
    assert!(!item.contains_key("data"), "{:?}", item.keys());
    let omitted = item["omitted_data"].as_m().unwrap();
    assert_eq!(text(omitted, "bytes"), first.len().to_string());
    let sha256 = text(omitted, "sha256");
    assert_eq!(sha256.len(), 64);

    // Three more deliveries: recognised, answered with the documented error, never run again.
    for _ in 0..3 {
        let duplicate = invoke(&mut service, payment("o-1")).await.unwrap_err();
        assert_eq!(duplicate.error_type, "Idempotency.ResponseNotStored");
        assert_eq!(
            duplicate.error_message,
            format!(
                "idempotency key `{KEY_O1}` was already processed, but its response ({} bytes, \
                 SHA-256 {sha256}) was larger than the limit for stored responses \
                 (TERN_IDEMPOTENCY_MAX_RESPONSE_BYTES) and cannot be replayed; the handler did \
                 not run again",
                first.len()
            )
        );
    }
    assert_eq!(calls.take(), ["PutItem", "PutItem", "PutItem"]);
    assert_eq!(charge.runs(), 1, "the handler ran once for four deliveries");

    // The limit is configurable: a small response under a lower limit is withheld the same
    // way, and a local cache answers its duplicates without a call.
    let small = Charge::default();
    let engine = Idempotency::new(
        store,
        IdempotencyConfig::new()
            .with_prefix("payments.charge")
            .with_max_response_bytes(100)
            .with_local_cache(4),
    );
    let mut limited = IdempotencyLayer::new(
        engine,
        KeySelector::from_fn(|p: &Payment| Some(p.order_id.clone())),
    )
    .layer(small.service());
    let receipt = invoke(&mut limited, payment("o-2")).await.unwrap();
    assert!(receipt.len() > 100, "{receipt}");
    let item = raw_item(&admin, TABLE, KEY_O2).await.unwrap();
    assert!(!item.contains_key("data"));
    calls.take();
    for _ in 0..2 {
        let duplicate = invoke(&mut limited, payment("o-2")).await.unwrap_err();
        assert_eq!(duplicate.error_type, "Idempotency.ResponseNotStored");
    }
    assert_eq!(
        calls.take(),
        Vec::<String>::new(),
        "answered from the local cache"
    );
    assert_eq!(small.runs(), 1);
}

#[tokio::test]
async fn failing_handler_leaves_no_record_and_the_retry_runs_again() {
    let (_moto, admin, store, calls) = moto_with_recorded_table().await;
    let charge = Charge::failing_first();
    let mut service = layer(store, IdempotencyConfig::new()).layer(charge.service());

    let error = invoke(&mut service, payment("o-2")).await.unwrap_err();
    assert_eq!(
        error,
        Diagnostic {
            error_type: "Payments.Declined".into(),
            error_message: "card declined".into(),
        },
        "the handler's error, unchanged"
    );
    assert_eq!(calls.take(), ["PutItem", "DeleteItem"]);
    assert_eq!(
        raw_item(&admin, TABLE, KEY_O2).await,
        None,
        "no record left"
    );

    let retry = invoke(&mut service, payment("o-2")).await.unwrap();
    assert_eq!(calls.take(), ["PutItem", "UpdateItem"]);
    assert_eq!(charge.runs(), 2, "the retry ran the handler again");
    let receipt: Receipt = serde_json::from_str(&retry).unwrap();
    assert_eq!(receipt.attempt, 2);
    let item = raw_item(&admin, TABLE, KEY_O2).await.unwrap();
    assert_eq!(
        (text(&item, "status"), text(&item, "data")),
        ("COMPLETED".into(), retry)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_invocations_run_the_handler_once() {
    let (moto, admin, _) = moto_with_table().await;
    // moto's conditional put is not atomic across its request threads; DynamoDB's is. The
    // proxy gives moto DynamoDB's one-write-at-a-time order (see `FaultProxy::serial`).
    let proxy = tern_testkit::FaultProxy::serial(&moto.endpoint());
    let (store, calls) = recorded_store(&sdk_config_at(proxy.endpoint()).await, TABLE);

    // The raw conditional put: exactly one of 50 acquires the key.
    let lock = IdempotencyRecord::in_progress("race#put", u64::MAX / 2000, u64::MAX / 2, None);
    let start = Arc::new(tokio::sync::Barrier::new(50));
    let puts = (0..50).map(|_| {
        let (store, lock, start) = (store.clone(), lock.clone(), start.clone());
        tokio::spawn(async move {
            start.wait().await;
            store.put_in_progress(&lock, now_ms()).await.unwrap()
        })
    });
    let outcomes = futures_util::future::join_all(puts).await;
    let acquired = outcomes
        .iter()
        .filter(|o| matches!(o.as_ref().unwrap(), PutOutcome::Acquired))
        .count();
    assert_eq!(acquired, 1);
    assert_eq!(calls.take().len(), 50, "each task sent its own put");
    for outcome in outcomes {
        match outcome.unwrap() {
            PutOutcome::Acquired => {}
            PutOutcome::Exists(old) => assert_eq!(old, lock),
        }
    }

    // Through the engine: one run, the others see it in progress or completed.
    let engine = Idempotency::new(store.clone(), IdempotencyConfig::new().with_prefix("race"));
    let runs = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(50));
    let tasks = (0..50).map(|i| {
        let (engine, runs, start) = (engine.clone(), runs.clone(), start.clone());
        tokio::spawn(async move {
            start.wait().await;
            engine
                .run(Some("order-7"), Duration::from_secs(10), || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok::<_, String>(format!("charged by task {i}"))
                })
                .await
        })
    });
    let mut answers = Vec::new();
    let mut in_progress = 0;
    for result in futures_util::future::join_all(tasks).await {
        match result.unwrap() {
            Ok(answer) => answers.push(answer),
            Err(IdempotencyError::AlreadyInProgress { .. }) => in_progress += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "exactly one ran the handler"
    );
    assert_eq!(answers.len() + in_progress, 50);
    assert!(!answers.is_empty(), "the runner got its own answer");
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    let key = engine.key_for("order-7").unwrap();
    let item = raw_item(&admin, TABLE, key.as_str()).await.unwrap();
    assert_eq!(
        text(&item, "data"),
        serde_json::to_string(&answers[0]).unwrap()
    );
}

#[tokio::test]
async fn an_overrunning_handler_leaves_a_lock_that_a_retry_after_the_deadline_takes_over() {
    let (_moto, admin, store, calls) = moto_with_recorded_table().await;
    let charge = Charge::hanging_first();
    let service = layer(store, IdempotencyConfig::new()).layer(charge.service());

    // Deadlines with room for moto's answers on a loaded 2-core CI machine (a 200 ms one for
    // the retry left its UpdateItem cut off there): the rules tested are the same at any length.
    let deadline_a = now_ms() + 600;
    let before_s = now_ms() / 1000;
    let mut first = service.clone();
    let overrun = tokio::spawn(async move { invoke(&mut first, event("o-3", deadline_a)).await });
    while charge.runs() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let after_s = now_ms() / 1000;
    // Before the deadline (checked first): the retry is refused, retryably.
    let mut retry = service.clone();
    let refused = invoke(&mut retry, event("o-3", now_ms() + 2000))
        .await
        .unwrap_err();
    assert_eq!(refused.error_type, "Idempotency.AlreadyInProgress");
    assert_eq!(
        refused.error_message,
        format!(
            "another invocation is processing idempotency key `{KEY_O3}`; retry later (its lock \
             frees itself at {deadline_a} ms since the epoch if that invocation dies)"
        )
    );
    assert!(
        now_ms() < deadline_a,
        "the refusal must happen before the deadline"
    );

    assert_eq!(calls.take(), ["PutItem", "PutItem"]);
    assert_stored(
        &admin,
        KEY_O3,
        (before_s, after_s),
        "INPROGRESS",
        Some(deadline_a),
        None,
        "the lock lasts until the first invocation's deadline",
    )
    .await;

    // After it: the lock is taken over while the first handler still hangs.
    tokio::time::sleep(Duration::from_millis(
        (deadline_a + 20).saturating_sub(now_ms()),
    ))
    .await;
    let deadline_c = now_ms() + 2000;
    let before_s = now_ms() / 1000;
    let answer = invoke(&mut retry, event("o-3", deadline_c)).await.unwrap();
    let after_s = now_ms() / 1000;
    assert_eq!(calls.take(), ["PutItem", "UpdateItem"]);
    assert_eq!(charge.runs(), 2);
    let receipt: Receipt = serde_json::from_str(&answer).unwrap();
    assert_eq!(receipt.attempt, 2);
    let stored = (before_s, after_s);
    assert_stored(
        &admin,
        KEY_O3,
        stored,
        "COMPLETED",
        Some(deadline_c),
        Some(&answer),
        "",
    )
    .await;
    assert!(
        !overrun.is_finished(),
        "the first invocation is still hanging"
    );
    overrun.abort(); // what Lambda does to a timed-out environment
}

#[tokio::test]
async fn store_failures_fail_closed_naming_the_table_and_the_aws_error_code() {
    let (mut moto, _admin, sdk) = moto_with_table().await;
    let charge = Charge::default();

    let (missing, _) = recorded_store(&sdk, "no-such-table");
    let mut service = layer(missing, IdempotencyConfig::new()).layer(charge.service());
    let error = invoke(&mut service, payment("o-1")).await.unwrap_err();
    assert_eq!(error.error_type, "Idempotency.PersistenceError");
    assert!(
        error.error_message.starts_with(
            "idempotency table `no-such-table`: PutItem failed with ResourceNotFoundException: "
        ),
        "{}",
        error.error_message
    );
    assert!(
        error
            .error_message
            .contains("; the handler did not run. Check that `no-such-table` exists")
    );

    let (store, calls) = recorded_store(&sdk, TABLE);
    let mut service = layer(store, IdempotencyConfig::new()).layer(charge.service());
    let endpoint = moto.endpoint();
    moto.stop();
    let error = invoke(&mut service, payment("o-1")).await.unwrap_err();
    assert_eq!(error.error_type, "Idempotency.PersistenceError");
    assert!(
        error.error_message.starts_with(&format!(
            "idempotency table `idempotency`: PutItem failed with DispatchFailure: could not \
             connect to {endpoint}: connection refused; the handler did not run. "
        )),
        "{}",
        error.error_message
    );
    tern_testkit::faults::assert_plain_message(&error.error_message);
    assert_eq!(calls.take(), ["PutItem"]);
    assert_eq!(charge.runs(), 0, "the handler never ran without its lock");
}
