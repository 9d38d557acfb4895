//! The idempotency engine against DynamoDB (moto) behind a [`FaultProxy`]: store calls that
//! never answer end before the invocation's deadline, fail closed before the handler, and
//! after it leave the lock for the next delivery; every failure is told in words that name
//! the table, the operation, the code and the cause.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use crate::support::idempotency::{
    CallLog, TABLE, create_table, raw_item, recorded_store, sdk_config_at,
};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::{Client, types::AttributeValue};
use tern_middleware::idempotency::{Idempotency, IdempotencyConfig, IdempotencyError};
use tern_testkit::{
    Moto,
    faults::{Fault, FaultProxy, Rule, assert_plain_message},
    free_port,
};

async fn run(
    engine: &Idempotency,
    runs: &Arc<AtomicUsize>,
    remaining: Duration,
) -> Result<String, IdempotencyError<String>> {
    let runs = runs.clone();
    engine
        .run(Some("order-9"), remaining, || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>("charged".to_owned())
        })
        .await
}

/// moto with the table, behind a fault proxy, and an engine on it whose calls are recorded.
struct Faulty {
    _moto: Moto,
    proxy: FaultProxy,
    sdk: SdkConfig,
    engine: Idempotency,
    calls: CallLog,
    runs: Arc<AtomicUsize>,
}

async fn faulty() -> Faulty {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let sdk = sdk_config_at(proxy.endpoint()).await;
    create_table(&Client::new(&sdk), TABLE).await;
    let (store, calls) = recorded_store(&sdk, TABLE);
    Faulty {
        _moto: moto,
        proxy,
        sdk,
        engine: Idempotency::new(store, IdempotencyConfig::new().with_prefix("faults")),
        calls,
        runs: Arc::new(AtomicUsize::new(0)),
    }
}

#[tokio::test]
async fn unanswered_store_calls_end_at_the_deadline_and_fail_closed() {
    let Faulty {
        _moto,
        proxy,
        sdk,
        engine,
        calls,
        runs,
    } = faulty().await;
    let key = engine.key_for("order-9").unwrap();

    // The lock is never answered: an error 100 ms before the deadline; the handler never ran.
    proxy.push(Rule::always(Some("PutItem"), Fault::Hang));
    let started = Instant::now();
    let error = run(&engine, &runs, Duration::from_millis(600))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        (Duration::from_millis(450)..Duration::from_millis(600)).contains(&elapsed),
        "{elapsed:?}"
    );
    match &error {
        IdempotencyError::Persistence {
            table,
            handler_ran,
            source,
        } => {
            assert_eq!(
                (
                    table.as_str(),
                    *handler_ran,
                    source.operation(),
                    source.code()
                ),
                (TABLE, false, "PutItem", "DeadlineExceeded")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        persistence_message(
            "PutItem",
            "DeadlineExceeded: no answer before the invocation's deadline (less 100 ms to send \
             the error)",
            false
        )
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert_eq!(calls.take(), ["PutItem"]);

    // The completion is never answered: the handler ran once, the error says so, and the lock
    // stays in progress (with no response) until it expires.
    proxy.clear();
    proxy.push(Rule::always(Some("UpdateItem"), Fault::Hang));
    let started = Instant::now();
    let error = run(&engine, &runs, Duration::from_millis(600))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(600));
    assert!(
        matches!(
            &error,
            IdempotencyError::Persistence { handler_ran: true, source, .. }
                if source.operation() == "UpdateItem" && source.code() == "DeadlineExceeded"
        ),
        "{error:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(calls.take(), ["PutItem", "UpdateItem"]);
    proxy.clear();
    let item = raw_item(&Client::new(&sdk), TABLE, key.as_str())
        .await
        .unwrap();
    assert_eq!(item["status"], AttributeValue::S("INPROGRESS".into()));
    assert_eq!(item.get("data"), None);

    // A context without a deadline (remaining zero) is not bounded: a slow lock is waited for.
    proxy.push(Rule::times(
        Some("PutItem"),
        1,
        Fault::Delay(Duration::from_millis(300)),
    ));
    let answer = engine
        .run(Some("order-10"), Duration::ZERO, || async {
            Ok::<_, String>("charged".to_owned())
        })
        .await
        .unwrap();
    assert_eq!(answer, "charged");
    assert_eq!(calls.take(), ["PutItem", "UpdateItem"]);
}

/// The message of a [`run`] that fails, checked to be written in words.
async fn failed_run(engine: &Idempotency, runs: &Arc<AtomicUsize>) -> String {
    let error = run(engine, runs, Duration::from_secs(5))
        .await
        .unwrap_err()
        .to_string();
    assert_plain_message(&error);
    error
}

/// The message of a store failure of `operation`, `failure` being `code: cause`.
fn persistence_message(operation: &str, failure: &str, handler_ran: bool) -> String {
    let outcome = if handler_ran {
        "the handler ran but its response was not recorded (the key stays in progress until \
         its lock expires)"
    } else {
        "the handler did not run"
    };
    format!(
        "idempotency table `{TABLE}`: {operation} failed with {failure}; {outcome}. Check that \
         `{TABLE}` exists in the function's region with partition key `id` (S) and that the \
         execution role allows dynamodb:PutItem, GetItem, UpdateItem and DeleteItem on it"
    )
}

#[tokio::test]
async fn store_failures_name_the_endpoint_and_the_cause_in_words() {
    let Faulty {
        _moto,
        proxy,
        engine,
        calls,
        runs,
        ..
    } = faulty().await;
    let at = proxy.endpoint();

    // The lock cannot be taken: the handler does not run.
    let lock_failures = [
        (
            Fault::Drop,
            format!("DispatchFailure: {at} closed the connection without answering"),
        ),
        (
            Fault::Reset,
            format!("DispatchFailure: the connection to {at} was reset before an answer came"),
        ),
        (
            Fault::InternalError,
            "InternalServerError: Internal server error".to_owned(),
        ),
        (
            Fault::Unavailable,
            "ServiceUnavailable: Service unavailable".to_owned(),
        ),
    ];
    for (fault, failure) in lock_failures {
        proxy.clear();
        proxy.push(Rule::always(Some("PutItem"), fault));
        let error = failed_run(&engine, &runs).await;
        assert_eq!(
            error,
            persistence_message("PutItem", &failure, false),
            "{fault:?}"
        );
        assert_eq!(calls.take(), ["PutItem"], "{fault:?}");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    // Nothing listens at the endpoint.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let (unreachable, _) = recorded_store(&sdk_config_at(&closed).await, TABLE);
    let unreachable = Idempotency::new(unreachable, IdempotencyConfig::new().with_prefix("faults"));
    assert_eq!(
        failed_run(&unreachable, &runs).await,
        persistence_message(
            "PutItem",
            &format!("DispatchFailure: could not connect to {closed}: connection refused"),
            false
        )
    );

    // The lock is taken, the handler runs, and its outcome cannot be recorded.
    proxy.clear();
    proxy.push(Rule::always(Some("UpdateItem"), Fault::Reset));
    assert_eq!(
        failed_run(&engine, &runs).await,
        persistence_message(
            "UpdateItem",
            &format!("DispatchFailure: the connection to {at} was reset before an answer came"),
            true
        )
    );
    assert_eq!(calls.take(), ["PutItem", "UpdateItem"]);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}
