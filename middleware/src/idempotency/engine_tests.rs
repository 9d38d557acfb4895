//! The engine and the service against the in-memory store: policies, cache, failures.
//! (Every store transition is table-tested against both stores in
//! `tests/middleware/idempotency_transitions.rs`.)

use std::{
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt};

use super::{
    config::Clock,
    key::hash_value,
    store::{
        IdempotencyRecord, IdempotencyStore, MemoryStore, PutOutcome, RecordStatus, StoreError,
        StoreFuture,
    },
    *,
};

const T0: u64 = 1_700_000_000_000;

#[derive(Debug, Clone)]
struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    fn at(ms: u64) -> Self {
        Self(Arc::new(AtomicU64::new(ms)))
    }
    fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A memory store that counts calls and fails the operations it is told to.
#[derive(Debug, Default)]
struct Scripted {
    records: MemoryStore,
    calls: Mutex<Vec<&'static str>>,
    fail: Mutex<Vec<&'static str>>,
}

impl Scripted {
    fn calls(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
    fn fail(&self, operation: &'static str) {
        self.fail.lock().unwrap().push(operation);
    }
    fn step<'a, T: Send + 'a>(
        &'a self,
        operation: &'static str,
        then: StoreFuture<'a, T>,
    ) -> StoreFuture<'a, T> {
        self.calls.lock().unwrap().push(operation);
        if self.fail.lock().unwrap().contains(&operation) {
            return Box::pin(async move {
                Err(StoreError::new(
                    operation,
                    "ProvisionedThroughputExceededException",
                    "slow down",
                ))
            });
        }
        then
    }
}

impl IdempotencyStore for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    fn put_in_progress<'a>(
        &'a self,
        r: &'a IdempotencyRecord,
        now: u64,
    ) -> StoreFuture<'a, PutOutcome> {
        self.step("PutItem", self.records.put_in_progress(r, now))
    }
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<IdempotencyRecord>> {
        self.step("GetItem", self.records.get(key))
    }
    fn update_completed<'a>(&'a self, r: &'a IdempotencyRecord) -> StoreFuture<'a, ()> {
        self.step("UpdateItem", self.records.update_completed(r))
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.step("DeleteItem", self.records.delete(key))
    }
}

fn engine(config: IdempotencyConfig) -> (Idempotency, Arc<Scripted>, ManualClock) {
    let store = Arc::new(Scripted::default());
    let clock = ManualClock::at(T0);
    let config = config.with_prefix("fn.h").with_clock(clock.clone());
    (Idempotency::new(store.clone(), config), store, clock)
}

/// A handler that counts its runs and answers `{"n": <run number>}`.
fn counted(
    runs: &Arc<AtomicUsize>,
) -> impl FnOnce() -> std::future::Ready<Result<Value, String>> + use<> {
    let runs = runs.clone();
    move || {
        let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
        std::future::ready(Ok(json!({ "n": n })))
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn missing_key_errors_by_default_or_runs_unprotected_when_configured() {
    let runs = Arc::new(AtomicUsize::new(0));
    let (strict, store, _) = engine(IdempotencyConfig::new());
    for data in [None, Some(&Value::Null), Some(&json!([null, null]))] {
        let error = block_on(strict.run(data, Duration::from_secs(1), counted(&runs))).unwrap_err();
        assert_eq!(error.error_type(), Some("Idempotency.MissingKey"));
        assert_eq!(
            Diagnostic::from(error).error_message,
            "the event has no idempotency key: the key data passed to Idempotency::run selected \
             nothing (or only null) for prefix `fn.h`; fix the selection, or use \
             MissingKey::RunWithoutIdempotency to run such events without idempotency"
        );
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert!(store.calls().is_empty());

    let (lenient, store, _) =
        engine(IdempotencyConfig::new().with_missing_key(MissingKey::RunWithoutIdempotency));
    for expected in [1, 2] {
        let answer = block_on(lenient.run(None::<&str>, Duration::ZERO, counted(&runs))).unwrap();
        assert_eq!(answer, json!({ "n": expected }));
    }
    assert!(store.calls().is_empty(), "no record without a key");
    assert!(store.records.is_empty());
}

#[test]
fn unserializable_key_data_fails_before_the_store() {
    let (engine, store, _) = engine(IdempotencyConfig::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let bad = std::collections::HashMap::from([((1, 2), 3)]);
    let error = block_on(engine.run(Some(&bad), Duration::ZERO, counted(&runs))).unwrap_err();
    assert_eq!(error.error_type(), Some("Idempotency.InvalidKeyData"));
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert!(store.calls().is_empty());
}

#[test]
fn a_response_over_the_limit_is_recorded_by_size_and_hash_and_duplicates_do_not_run() {
    let runs = Arc::new(AtomicUsize::new(0));
    // `{"n":1}` is 7 bytes: at the limit, stored.
    let (at_limit, _, _) = engine(IdempotencyConfig::new().with_max_response_bytes(7));
    let first = block_on(at_limit.run(Some("small"), Duration::ZERO, counted(&runs))).unwrap();
    let again = block_on(at_limit.run(Some("small"), Duration::ZERO, counted(&runs))).unwrap();
    assert_eq!((first, again), (json!({"n": 1}), json!({"n": 1})));

    // `{"n":2}` under a 6-byte limit: completed without it.
    let (engine, store, _) = engine(IdempotencyConfig::new().with_max_response_bytes(6));
    let big = block_on(engine.run(Some("big"), Duration::ZERO, counted(&runs))).unwrap();
    assert_eq!(big, json!({"n": 2}));
    assert_eq!(store.calls(), ["PutItem", "UpdateItem"]);
    let key = engine.key_for("big").unwrap();
    let record = block_on(store.records.get(key.as_str())).unwrap().unwrap();
    assert_eq!(record.status, RecordStatus::Completed);
    assert_eq!(record.data, None);
    let omitted = record.omitted.unwrap();
    // sha256(b'{"n":2}') (Python hashlib).
    assert_eq!(
        (omitted.bytes, omitted.sha256.as_str()),
        (
            7,
            "363379742f80b51bdb9206579af7754911543079b9399cb3fc315fb199f476e8"
        )
    );
    for _ in 0..2 {
        let error = block_on(engine.run(Some("big"), Duration::ZERO, counted(&runs))).unwrap_err();
        assert_eq!(error.error_type(), Some("Idempotency.ResponseNotStored"));
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "each key's handler ran once"
    );
}

#[test]
fn local_cache_answers_without_store_calls_until_expiry_and_never_holds_locks() {
    let (engine, store, clock) = engine(
        IdempotencyConfig::new()
            .with_local_cache(8)
            .with_expires_after(Duration::from_secs(60)),
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let first = block_on(engine.run(Some("k"), Duration::from_secs(5), counted(&runs))).unwrap();
    assert_eq!(store.calls(), ["PutItem", "UpdateItem"]);
    // Even with the record gone from the store, the cache answers.
    block_on(store.records.delete(engine.key_for("k").unwrap().as_str())).unwrap();
    for _ in 0..3 {
        let again =
            block_on(engine.run(Some("k"), Duration::from_secs(5), counted(&runs))).unwrap();
        assert_eq!(again, first);
    }
    assert!(store.calls().is_empty(), "cache hits cost no store call");
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    clock.advance(61_000); // expiration (T0/1000 + 60) is now in the past
    let after = block_on(engine.run(Some("k"), Duration::from_secs(5), counted(&runs))).unwrap();
    assert_eq!(after, json!({ "n": 2 }));
    assert_eq!(store.calls(), ["PutItem", "UpdateItem"]);

    // An in-progress record is never cached: every duplicate asks the store.
    let lock = IdempotencyRecord::in_progress(
        engine.key_for("busy").unwrap().into_string(),
        T0 / 1000 + 1_000,
        T0 + 500_000,
        None,
    );
    block_on(store.records.put_in_progress(&lock, T0)).unwrap();
    for _ in 0..2 {
        let error = block_on(engine.run(Some("busy"), Duration::ZERO, counted(&runs))).unwrap_err();
        assert_eq!(error.error_type(), Some("Idempotency.AlreadyInProgress"));
    }
    assert_eq!(store.calls(), ["PutItem", "PutItem"]);
}

#[test]
fn cached_duplicates_still_check_the_payload_hash() {
    let (engine, _, _) = engine(IdempotencyConfig::new().with_local_cache(2));
    let runs = Arc::new(AtomicUsize::new(0));
    let run = |amount: u32| {
        block_on(engine.run_validated(Some("order-1"), &amount, Duration::ZERO, counted(&runs)))
    };
    assert_eq!(run(10).unwrap(), json!({ "n": 1 }));
    assert_eq!(run(10).unwrap(), json!({ "n": 1 }));
    assert_eq!(
        run(11).unwrap_err().error_type(),
        Some("Idempotency.PayloadMismatch")
    );
}

#[test]
fn store_failures_fail_closed_and_name_the_store() {
    let runs = Arc::new(AtomicUsize::new(0));
    let (engine_a, store, _) = engine(IdempotencyConfig::new());
    store.fail("PutItem");
    let error = block_on(engine_a.run(Some("k"), Duration::ZERO, counted(&runs))).unwrap_err();
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the handler must not run");
    assert!(matches!(
        error,
        IdempotencyError::Persistence {
            handler_ran: false,
            ..
        }
    ));
    assert!(Diagnostic::from(error).error_message.starts_with(
        "idempotency table `scripted`: PutItem failed with \
             ProvisionedThroughputExceededException: slow down; the handler did not run."
    ));

    let (engine_b, store, _) = engine(IdempotencyConfig::new());
    store.fail("UpdateItem");
    let error =
        block_on(engine_b.run(Some("k"), Duration::from_secs(9), counted(&runs))).unwrap_err();
    assert!(matches!(
        error,
        IdempotencyError::Persistence {
            handler_ran: true,
            ..
        }
    ));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(store.calls(), ["PutItem", "UpdateItem"]);
    let left = block_on(store.records.get(engine_b.key_for("k").unwrap().as_str())).unwrap();
    assert_eq!(left.map(|r| r.status), Some(RecordStatus::InProgress));
}

#[test]
fn failed_delete_still_returns_the_handler_error() {
    let (engine, store, _) = engine(IdempotencyConfig::new());
    store.fail("DeleteItem");
    let error = block_on(engine.run(Some("k"), Duration::ZERO, || async {
        Err::<Value, _>("boom".to_owned())
    }))
    .unwrap_err();
    assert_eq!(error.into_handler_error().unwrap(), "boom");
    assert_eq!(store.calls(), ["PutItem", "DeleteItem"]);
}

#[test]
fn a_panicking_handler_frees_its_key_and_the_panic_continues() {
    let (engine, store, _) = engine(IdempotencyConfig::new());
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        block_on(engine.run(Some("k"), Duration::from_secs(3), || async {
            panic!("handler bug");
            #[allow(unreachable_code)]
            Ok::<Value, String>(Value::Null)
        }))
    }));
    let payload = panicked.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"handler bug"));
    assert_eq!(store.calls(), ["PutItem", "DeleteItem"]);
    assert!(store.records.is_empty());
}

#[test]
fn unserializable_responses_and_undecodable_records_are_distinct_errors() {
    #[derive(Debug)]
    struct Opaque;
    impl Serialize for Opaque {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("opaque"))
        }
    }
    impl<'de> Deserialize<'de> for Opaque {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
            Ok(Opaque)
        }
    }
    let (engine, store, _) = engine(IdempotencyConfig::new());
    let error = block_on(engine.run(Some("k"), Duration::ZERO, || async {
        Ok::<_, String>(Opaque)
    }))
    .unwrap_err();
    assert_eq!(
        error.error_type(),
        Some("Idempotency.ResponseNotSerializable")
    );
    assert_eq!(store.calls(), ["PutItem", "DeleteItem"]);
    assert!(store.records.is_empty());

    // A record stored as a string, read back as a number.
    let runs = Arc::new(AtomicUsize::new(0));
    block_on(engine.run(Some("k2"), Duration::ZERO, || async {
        Ok::<_, String>("text".to_owned())
    }))
    .unwrap();
    let error = block_on(engine.run(Some("k2"), Duration::ZERO, || async {
        runs.fetch_add(1, Ordering::SeqCst);
        Ok::<u32, String>(7)
    }))
    .unwrap_err();
    assert_eq!(
        error.error_type(),
        Some("Idempotency.StoredResponseInvalid")
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    id: Option<String>,
    amount: u32,
}

#[test]
fn the_service_bounds_the_lock_by_the_deadline_and_forwards_readiness() {
    let (engine, store, clock) = engine(IdempotencyConfig::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let handler = {
        let runs = runs.clone();
        tower::service_fn(move |event: LambdaEvent<Order>| {
            let runs = runs.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Diagnostic>(json!({ "charged": event.payload.amount }))
            }
        })
    };
    let layer = IdempotencyLayer::new(engine.clone(), KeySelector::pointer("/id").unwrap())
        .with_validation(KeySelector::from_fn(|o: &Order| Some(o.amount)));
    let mut service = layer.layer(handler);
    let event = |id: Option<&str>, amount: u32, deadline: u64| {
        let mut context = Context::default();
        context.deadline = deadline;
        LambdaEvent::new(
            Order {
                id: id.map(str::to_owned),
                amount,
            },
            context,
        )
    };
    let call = |service: &mut IdempotencyService<_, Order>, e| block_on(invoke(service, e));

    // Lock = now + remaining = the deadline; remaining 0 (deadline passed) is now itself.
    clock.advance(500);
    assert_eq!(
        call(&mut service, event(Some("o-1"), 5, T0 + 3_000)).unwrap(),
        json!({"charged": 5})
    );
    let key = engine.key_for("o-1").unwrap();
    let stored = block_on(store.records.get(key.as_str())).unwrap().unwrap();
    assert_eq!(stored.in_progress_expiration, Some(T0 + 3_000));
    assert_eq!(stored.validation, Some(hash_value(&json!(5))));
    assert_eq!(
        call(&mut service, event(Some("o-1"), 5, 0)).unwrap(),
        json!({"charged": 5})
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    let error = call(&mut service, event(Some("o-1"), 6, 0)).unwrap_err();
    assert_eq!(
        Diagnostic::from(error).error_type,
        "Idempotency.PayloadMismatch"
    );
    let error = call(&mut service, event(None, 6, 0)).unwrap_err();
    let diagnostic = Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "Idempotency.MissingKey");
    assert!(
        diagnostic
            .error_message
            .contains("JSON Pointer `/id` selected nothing")
    );

    call(&mut service, event(Some("o-2"), 1, 0)).unwrap();
    let stored = block_on(store.records.get(engine.key_for("o-2").unwrap().as_str()))
        .unwrap()
        .unwrap();
    assert_eq!(stored.in_progress_expiration, Some(T0 + 500));
}

/// `TERN_IDEMPOTENCY_EVENT_KEY` through the service: the JMESPath key hashes what it selects,
/// an event where it finds nothing is `MissingKey` naming the expression, and a type error in
/// it is `InvalidKeyData` naming the expression; the handler runs once in all.
#[cfg(feature = "jmespath")]
#[test]
fn the_configured_event_key_selects_through_the_service() {
    let config = IdempotencyConfig::from_vars([(
        tern_runtime::env::names::IDEMPOTENCY_EVENT_KEY,
        "[id, amount]",
    )])
    .unwrap();
    let key = KeySelector::expression(config.event_key().unwrap().clone());
    let (engine, store, _clock) = engine(config);
    let runs = Arc::new(AtomicUsize::new(0));
    let runs_in = runs.clone();
    let mut service = IdempotencyLayer::new(engine.clone(), key).layer(tower::service_fn(
        move |_: LambdaEvent<Order>| {
            runs_in.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Diagnostic>(json!("done")) }
        },
    ));
    let order = |id: Option<&str>, amount| {
        let id = id.map(str::to_owned);
        LambdaEvent::new(Order { id, amount }, Context::default())
    };
    block_on(invoke(&mut service, order(Some("o-1"), 5))).unwrap();
    let key = engine.key_for(&json!(["o-1", 5])).unwrap();
    assert!(block_on(store.records.get(key.as_str())).unwrap().is_some());
    block_on(invoke(&mut service, order(Some("o-1"), 5))).unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    let fresh = self::engine(IdempotencyConfig::new()).0;
    let cases = [
        (
            "id",
            order(None, 5),
            "Idempotency.MissingKey",
            "JMESPath `id` selected nothing",
        ),
        (
            "abs(id)",
            order(Some("o-2"), 5),
            "Idempotency.InvalidKeyData",
            "JMESPath `abs(id)` failed",
        ),
    ];
    for (expression, event, error_type, message) in cases {
        let key = KeySelector::jmespath(expression).unwrap();
        let mut service = IdempotencyLayer::new(fresh.clone(), key).layer(tower::service_fn(
            |_: LambdaEvent<Order>| async { Ok::<_, Diagnostic>(json!("never")) },
        ));
        let diagnostic = Diagnostic::from(block_on(invoke(&mut service, event)).unwrap_err());
        assert_eq!(diagnostic.error_type, error_type, "{expression}");
        assert!(
            diagnostic.error_message.contains(message),
            "{}",
            diagnostic.error_message
        );
        assert!(
            !diagnostic.error_message.contains("o-2"),
            "{}",
            diagnostic.error_message
        );
    }
}

async fn invoke<S: Service<LambdaEvent<Order>>>(
    service: &mut S,
    event: LambdaEvent<Order>,
) -> Result<S::Response, S::Error> {
    service.ready().await?.call(event).await
}

#[test]
fn handler_errors_pass_through_the_service_unchanged() {
    let (engine, store, _) = engine(IdempotencyConfig::new());
    let failing = tower::service_fn(|_: LambdaEvent<Order>| async {
        Err::<Value, _>(Diagnostic {
            error_type: "Orders.Declined".into(),
            error_message: "card declined".into(),
        })
    });
    let mut service =
        IdempotencyLayer::new(engine, KeySelector::pointer("/id").unwrap()).layer(failing);
    let event = LambdaEvent::new(
        Order {
            id: Some("o".into()),
            amount: 1,
        },
        Context::default(),
    );
    let error = block_on(invoke(&mut service, event)).unwrap_err();
    assert_eq!(
        Diagnostic::from(error),
        Diagnostic {
            error_type: "Orders.Declined".into(),
            error_message: "card declined".into()
        }
    );
    assert_eq!(store.calls(), ["PutItem", "DeleteItem"]);
    assert!(store.records.is_empty());
}

#[test]
fn per_record_runs_select_their_key_and_report_the_selector_when_missing() {
    struct Message {
        id: Option<String>,
    }
    let (engine, store, _) = engine(IdempotencyConfig::new());
    let by_id = KeySelector::from_fn(|m: &Message| m.id.clone());
    let runs = Arc::new(AtomicUsize::new(0));
    let message = Message {
        id: Some("m-1".into()),
    };
    for _ in 0..2 {
        let answer =
            block_on(engine.run_selected(&by_id, &message, Duration::ZERO, counted(&runs)));
        assert_eq!(answer.unwrap(), json!({ "n": 1 }));
    }
    assert_eq!(store.calls(), ["PutItem", "UpdateItem", "PutItem"]);
    assert!(
        block_on(store.records.get(engine.key_for("m-1").unwrap().as_str()))
            .unwrap()
            .is_some()
    );

    let error = block_on(engine.run_selected(
        &by_id,
        &Message { id: None },
        Duration::ZERO,
        counted(&runs),
    ))
    .unwrap_err();
    assert!(matches!(
        &error,
        IdempotencyError::MissingKey { selector, .. } if selector == "a key extractor closure"
    ));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}
