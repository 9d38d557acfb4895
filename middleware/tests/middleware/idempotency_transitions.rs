//! Every transition of the idempotency state machine, table-driven, against both stores: the
//! DynamoDB store on a real DynamoDB API (`moto_server` on loopback) and the in-memory store.
//!
//! The engine runs on a manual clock: the store's conditions compare against the `:now` the
//! engine sends, so expiry is stepped through without sleeping. After every step the stored
//! item is compared in full: for DynamoDB the raw attribute map read back with a consistent
//! `GetItem` by a separate client, for memory the record.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use crate::support::idempotency::{
    ManualClock, TABLE, create_table, expected_item, raw_item, recorded_store, sdk_config,
};
use aws_sdk_dynamodb::{Client, types::AttributeValue};
use serde_json::{Value, json};
use tern_middleware::idempotency::{
    Idempotency, IdempotencyConfig, IdempotencyError,
    config::Clock,
    key::hash_value,
    store::{DynamoDbStore, IdempotencyRecord, IdempotencyStore, MemoryStore, RecordStatus},
};
use tern_testkit::Moto;

/// Fake "now" of every case: 2096, far from anything a TTL sweep would touch.
const T0: u64 = 4_000_000_000_000;
const T0_S: u64 = T0 / 1000;
/// Record lifetime of every case.
const EXPIRES_S: u64 = 60;

/// A stored record, minus its key (each case has its own).
#[derive(Debug, Clone, Copy)]
struct Item {
    status: RecordStatus,
    expiration: u64,
    lock: Option<u64>,
    data: Option<&'static str>,
    validation: Option<u32>,
}

const fn in_progress(expiration: u64, lock: Option<u64>, validation: Option<u32>) -> Item {
    Item {
        status: RecordStatus::InProgress,
        expiration,
        lock,
        data: None,
        validation,
    }
}

const fn completed(
    expiration: u64,
    lock: u64,
    data: &'static str,
    validation: Option<u32>,
) -> Item {
    Item {
        status: RecordStatus::Completed,
        expiration,
        lock: Some(lock),
        data: Some(data),
        validation,
    }
}

/// How a call should end.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// The handler ran and returned this JSON.
    Ran(&'static str),
    /// The handler did not run; the stored response (this JSON) came back.
    Replayed(&'static str),
    /// The handler ran and failed; its error came back.
    HandlerFailed,
    AlreadyInProgress,
    PayloadMismatch,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    /// Write a record through the store API (an `INPROGRESS` put, then the completion).
    Seed(Item),
    Advance(u64),
    /// Run with this validation amount and remaining time; the handler answers `answer`, or
    /// fails when it is `None`.
    Call {
        validation: Option<u32>,
        remaining_ms: u64,
        answer: Option<&'static str>,
        expect: Outcome,
    },
    /// The stored record now (all attributes).
    Holds(Option<Item>),
}

use Outcome::*;
use Step::*;

const fn call(answer: &'static str, expect: Outcome) -> Step {
    Call {
        validation: None,
        remaining_ms: 5_000,
        answer: Some(answer),
        expect,
    }
}

/// `seed` (in progress) still holds `held_ms` later, refusing a call; 1 ms after that a call
/// takes it over and completes.
fn held_then_taken_over(seed: Item, held_ms: u64) -> Vec<Step> {
    let now = T0 + held_ms + 1;
    vec![
        Seed(seed),
        Advance(held_ms),
        call(r#"1"#, AlreadyInProgress),
        Advance(1),
        call(r#"2"#, Ran(r#"2"#)),
        Holds(Some(completed(
            now / 1000 + EXPIRES_S,
            now + 5_000,
            r#"2"#,
            None,
        ))),
    ]
}

fn cases() -> Vec<(&'static str, Vec<Step>)> {
    vec![
        (
            "new key: lock, run, complete",
            vec![
                call(r#"{"n":1}"#, Ran(r#"{"n":1}"#)),
                Holds(Some(completed(
                    T0_S + EXPIRES_S,
                    T0 + 5_000,
                    r#"{"n":1}"#,
                    None,
                ))),
            ],
        ),
        (
            "completed and live: stored response, handler not run, item unchanged",
            vec![
                call(r#"{"n":1}"#, Ran(r#"{"n":1}"#)),
                Advance(1_500),
                call(r#"{"n":2}"#, Replayed(r#"{"n":1}"#)),
                Holds(Some(completed(
                    T0_S + EXPIRES_S,
                    T0 + 5_000,
                    r#"{"n":1}"#,
                    None,
                ))),
            ],
        ),
        (
            "handler fails: no record, the retry runs again",
            vec![
                Call {
                    validation: None,
                    remaining_ms: 5_000,
                    answer: None,
                    expect: HandlerFailed,
                },
                Holds(None),
                Advance(10),
                call(r#""second""#, Ran(r#""second""#)),
                Holds(Some(completed(
                    T0_S + EXPIRES_S,
                    T0 + 5_010,
                    r#""second""#,
                    None,
                ))),
            ],
        ),
        (
            "completed expires: at expiration still stored, one second later run again",
            vec![
                call(r#"[1]"#, Ran(r#"[1]"#)),
                Advance(EXPIRES_S * 1000 + 999), // now = expiration (seconds): still live
                call(r#"[2]"#, Replayed(r#"[1]"#)),
                Advance(1), // now = expiration + 1 s
                call(r#"[3]"#, Ran(r#"[3]"#)),
                Holds(Some(completed(
                    T0_S + 2 * EXPIRES_S + 1,
                    T0 + 61_000 + 5_000,
                    r#"[3]"#,
                    None,
                ))),
            ],
        ),
        (
            "live in-progress: already in progress, item unchanged",
            vec![
                Seed(in_progress(T0_S + EXPIRES_S, Some(T0 + 10_000), None)),
                call(r#"1"#, AlreadyInProgress),
                Holds(Some(in_progress(T0_S + EXPIRES_S, Some(T0 + 10_000), None))),
            ],
        ),
        (
            "in-progress lock: held at its expiry, taken over 1 ms later",
            held_then_taken_over(in_progress(T0_S + EXPIRES_S, Some(T0 + 2_000), None), 2_000),
        ),
        (
            "in-progress without a lock attribute holds until its expiration",
            held_then_taken_over(in_progress(T0_S + 1, None, None), 1_999),
        ),
        (
            "remaining time 0 is a value: the lock is now",
            vec![
                Call {
                    validation: None,
                    remaining_ms: 0,
                    answer: Some("0"),
                    expect: Ran("0"),
                },
                Holds(Some(completed(T0_S + EXPIRES_S, T0, "0", None))),
            ],
        ),
        (
            "payload validation: same fields stored, other fields mismatch",
            vec![
                Call {
                    validation: Some(10),
                    remaining_ms: 5_000,
                    answer: Some("10"),
                    expect: Ran("10"),
                },
                Holds(Some(completed(
                    T0_S + EXPIRES_S,
                    T0 + 5_000,
                    "10",
                    Some(10),
                ))),
                Call {
                    validation: Some(11),
                    remaining_ms: 5_000,
                    answer: Some("11"),
                    expect: PayloadMismatch,
                },
                Call {
                    validation: Some(10),
                    remaining_ms: 5_000,
                    answer: Some("12"),
                    expect: Replayed("10"),
                },
                Holds(Some(completed(
                    T0_S + EXPIRES_S,
                    T0 + 5_000,
                    "10",
                    Some(10),
                ))),
            ],
        ),
        (
            "payload mismatch wins over in progress",
            vec![
                Seed(in_progress(T0_S + EXPIRES_S, Some(T0 + 10_000), Some(10))),
                Call {
                    validation: Some(11),
                    remaining_ms: 5_000,
                    answer: Some("1"),
                    expect: PayloadMismatch,
                },
                Call {
                    validation: Some(10),
                    remaining_ms: 5_000,
                    answer: Some("1"),
                    expect: AlreadyInProgress,
                },
                Holds(Some(in_progress(
                    T0_S + EXPIRES_S,
                    Some(T0 + 10_000),
                    Some(10),
                ))),
            ],
        ),
    ]
}

/// Where the records of a run live, and how to read one back raw.
enum Backend {
    Memory(Arc<MemoryStore>),
    Dynamo {
        store: Arc<DynamoDbStore>,
        admin: Client,
    },
}

impl Backend {
    fn store(&self) -> Arc<dyn IdempotencyStore> {
        match self {
            Self::Memory(store) => store.clone(),
            Self::Dynamo { store, .. } => store.clone(),
        }
    }

    async fn assert_stored(&self, key: &str, expected: Option<Item>, context: &str) {
        let record = expected.map(|item| record(key, item));
        match self {
            Self::Memory(store) => {
                assert_eq!(store.get(key).await.unwrap(), record, "{context}");
            }
            Self::Dynamo { admin, .. } => {
                let want: Option<HashMap<String, AttributeValue>> = record.map(|r| {
                    expected_item(
                        &r.key,
                        r.status.as_str(),
                        r.expiration,
                        r.in_progress_expiration,
                        r.data.as_deref(),
                        r.validation.as_deref(),
                    )
                });
                assert_eq!(raw_item(admin, TABLE, key).await, want, "{context}");
            }
        }
    }
}

fn record(key: &str, item: Item) -> IdempotencyRecord {
    IdempotencyRecord {
        key: key.to_owned(),
        status: item.status,
        expiration: item.expiration,
        in_progress_expiration: item.lock,
        data: item.data.map(str::to_owned),
        validation: item.validation.map(|amount| hash_value(&json!(amount))),
        omitted: None,
    }
}

async fn run_cases(backend: &Backend, label: &str) {
    for (index, (case, steps)) in cases().into_iter().enumerate() {
        let clock = ManualClock::at(T0);
        let engine = Idempotency::with_store(
            backend.store(),
            IdempotencyConfig::new()
                .with_prefix(format!("{label}-case-{index}"))
                .with_expires_after(Duration::from_secs(EXPIRES_S))
                .with_clock(clock.clone()),
        );
        let key = engine.key_for("order-1").unwrap().into_string();
        let runs = Arc::new(AtomicUsize::new(0));
        for (at, step) in steps.into_iter().enumerate() {
            let context = format!("{label}: {case}: step {at}: {step:?}");
            match step {
                Seed(item) => {
                    let seeded = record(&key, item);
                    let lock = IdempotencyRecord {
                        status: RecordStatus::InProgress,
                        data: None,
                        ..seeded.clone()
                    };
                    let store = backend.store();
                    store.put_in_progress(&lock, clock.now_ms()).await.unwrap();
                    if seeded.status == RecordStatus::Completed {
                        store.update_completed(&seeded).await.unwrap();
                    }
                }
                Advance(ms) => clock.advance(ms),
                Call {
                    validation,
                    remaining_ms,
                    answer,
                    expect,
                } => {
                    let ran_before = runs.load(Ordering::SeqCst);
                    let handler = || {
                        let runs = runs.clone();
                        async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            match answer {
                                Some(json) => Ok(serde_json::from_str::<Value>(json).unwrap()),
                                None => Err("handler failed".to_owned()),
                            }
                        }
                    };
                    let remaining = Duration::from_millis(remaining_ms);
                    let result = match validation {
                        Some(amount) => {
                            engine
                                .run_validated(Some("order-1"), &amount, remaining, handler)
                                .await
                        }
                        None => engine.run(Some("order-1"), remaining, handler).await,
                    };
                    let ran = runs.load(Ordering::SeqCst) - ran_before;
                    let text = result
                        .as_ref()
                        .ok()
                        .map(|v| serde_json::to_string(v).unwrap());
                    match expect {
                        Ran(json) => {
                            assert_eq!((ran, text.as_deref()), (1, Some(json)), "{context}")
                        }
                        Replayed(json) => {
                            assert_eq!((ran, text.as_deref()), (0, Some(json)), "{context}")
                        }
                        HandlerFailed => {
                            assert_eq!(ran, 1, "{context}");
                            assert_eq!(
                                result.unwrap_err().into_handler_error().unwrap(),
                                "handler failed",
                                "{context}"
                            );
                        }
                        AlreadyInProgress => {
                            assert_eq!(ran, 0, "{context}");
                            assert!(
                                matches!(result, Err(IdempotencyError::AlreadyInProgress { .. })),
                                "{context}: {result:?}"
                            );
                        }
                        PayloadMismatch => {
                            assert_eq!(ran, 0, "{context}");
                            assert!(
                                matches!(result, Err(IdempotencyError::PayloadMismatch { .. })),
                                "{context}: {result:?}"
                            );
                        }
                    }
                }
                Holds(expected) => backend.assert_stored(&key, expected, &context).await,
            }
        }
    }
}

#[tokio::test]
async fn every_transition_against_the_in_memory_store() {
    run_cases(&Backend::Memory(Arc::new(MemoryStore::new())), "memory").await;
}

#[tokio::test]
async fn every_transition_against_dynamodb_on_moto() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto).await;
    let admin = Client::new(&sdk);
    create_table(&admin, TABLE).await;
    let (store, _calls) = recorded_store(&sdk, TABLE);
    let backend = Backend::Dynamo {
        store: store.clone(),
        admin,
    };
    run_cases(&backend, "dynamodb").await;
    assert_eq!(
        store.fallback_reads(),
        0,
        "moto returns the old item with the failed condition"
    );
}
