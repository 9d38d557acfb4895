//! The idempotency engine against DynamoDB (moto) behind a [`FaultProxy`]: store calls that
//! never answer end before the invocation's deadline, fail closed before the handler, and
//! after it leave the lock for the next delivery.

mod idempotency_support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use aws_sdk_dynamodb::{Client, types::AttributeValue};
use idempotency_support::{TABLE, create_table, raw_item, recorded_store, sdk_config_at};
use tern_middleware::idempotency::{Idempotency, IdempotencyConfig, IdempotencyError};
use tern_testkit::{
    Moto,
    faults::{Fault, FaultProxy, Rule},
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

#[tokio::test]
async fn unanswered_store_calls_end_at_the_deadline_and_fail_closed() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    let sdk = sdk_config_at(proxy.endpoint()).await;
    create_table(&Client::new(&sdk), TABLE).await;
    let (store, calls) = recorded_store(&sdk, TABLE);
    let engine = Idempotency::new(store, IdempotencyConfig::new().with_prefix("faults"));
    let key = engine.key_for("order-9").unwrap();
    let runs = Arc::new(AtomicUsize::new(0));

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
