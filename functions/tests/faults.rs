//! Fault injection against real endpoints: the example functions under the Lambda emulator,
//! talking to moto through a [`FaultProxy`] that throttles, fails with 5xx or black-holes
//! chosen operations, or to a moto that has been stopped.
//!
//! What must hold: a secret that cannot be fetched fails init with an error naming it and the
//! AWS error code; a DynamoDB fault makes idempotency fail closed (the handler does not run,
//! the error says so, no item is half written); the SDK's retries are counted exactly and end
//! before the invocation's deadline.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tern_testkit::{
    Emulator, Scenario,
    faults::{Fault, FaultProxy, Rule, Seen},
    scenario::{IDEMPOTENCY_TABLE, NOTIFICATIONS_TABLE, ORDERS_TABLE},
};

fn bootstrap() -> std::path::PathBuf {
    tern_testkit::tools::bootstrap(env!("CARGO_BIN_EXE_bootstrap"))
}

/// The function `handler` with `env`, its AWS endpoint being `proxy`.
fn behind(
    proxy: &FaultProxy,
    scenario: &Scenario,
    handler: &str,
    env: Vec<(String, String)>,
    timeout_secs: u32,
) -> Emulator {
    Emulator::builder(bootstrap())
        .handler(handler)
        .timeout_secs(timeout_secs)
        .envs(env)
        .envs(proxy.sdk_env(&scenario.moto))
        .start()
}

fn seen(operation: &str, fault: Option<Fault>, times: usize) -> Vec<Seen> {
    vec![
        Seen {
            operation: operation.to_owned(),
            fault,
        };
        times
    ]
}

fn sns_event() -> String {
    tern_testkit::tools::event("sns", "1-payment-captured.json")
}

/// The AWS SDK's default retry policy: standard mode, three attempts per call.
const SDK_ATTEMPTS: usize = 3;

#[test]
fn secrets_that_cannot_be_fetched_fail_init_naming_the_secret_and_the_aws_code() {
    let mut scenario = Scenario::start();
    let env = scenario.seed_sns();
    let arn = env
        .iter()
        .find(|(k, _)| k == "SIGNING_KEY_SECRET_ARN")
        .map(|(_, v)| v.clone())
        .unwrap();
    let proxy = FaultProxy::start(&scenario.moto.endpoint());

    for (fault, code) in [
        (Fault::Throttle, "ThrottlingException"),
        (Fault::InternalError, "InternalServerError"),
        (Fault::Unavailable, "ServiceUnavailable"),
    ] {
        proxy.clear();
        proxy.push(Rule::always(Some("GetSecretValue"), fault));
        let before = proxy.seen().len();
        let function = behind(&proxy, &scenario, "sns", env.clone(), 10);
        let started = Instant::now();
        let answer = function.invoke(sns_event());
        assert_eq!(answer.status, 502, "{fault:?}: {}", answer.body);
        assert_eq!(
            answer.error_type().as_deref(),
            Some("Secrets.FetchFailed"),
            "{fault:?}: {}",
            answer.body
        );
        let message = answer.error_message().unwrap();
        let expected_start = format!(
            "fetching secret `{arn}` (from `SIGNING_KEY_SECRET_ARN`, declared as `signing_key`) \
             failed: {code}: "
        );
        assert!(message.starts_with(&expected_start), "{fault:?}: {message}");
        assert_eq!(
            proxy.seen()[before..],
            seen("GetSecretValue", Some(fault), SDK_ATTEMPTS),
            "{fault:?}: the SDK retried a bounded number of times"
        );
        assert!(started.elapsed() < Duration::from_secs(10), "{fault:?}");
        // The process reported the init error and exited: nothing was written.
        function.wait_for_logs(Duration::from_secs(10), |logs| {
            logs.contains("exited: exit status 1")
        });
    }
    assert!(scenario.table_items(NOTIFICATIONS_TABLE).is_empty());
    assert!(scenario.table_items(IDEMPOTENCY_TABLE).is_empty());

    // Secrets Manager gone altogether: moto stopped.
    scenario.moto.stop();
    proxy.clear();
    let function = behind(&proxy, &scenario, "sns", env, 10);
    let answer = function.invoke(sns_event());
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert_eq!(
        answer.error_type().as_deref(),
        Some("Secrets.Unreachable"),
        "{}",
        answer.body
    );
    let message = answer.error_message().unwrap();
    assert!(
        message.starts_with(&format!(
            "could not reach the secrets backend for secret `{arn}` (from \
             `SIGNING_KEY_SECRET_ARN`, declared as `signing_key`): "
        )),
        "{message}"
    );
}

#[test]
fn dynamodb_faults_make_idempotency_fail_closed() {
    let scenario = Scenario::start();
    let env = scenario.seed_sns();
    let proxy = FaultProxy::start(&scenario.moto.endpoint());
    let function = behind(&proxy, &scenario, "sns", env, 10);
    warm_up(&function);

    // The lock cannot be taken: the handler never runs, nothing is written anywhere.
    for (fault, code) in [
        (Fault::Throttle, "ThrottlingException"),
        (Fault::InternalError, "InternalServerError"),
        (Fault::Unavailable, "ServiceUnavailable"),
        (Fault::Drop, "DispatchFailure"),
    ] {
        proxy.clear();
        proxy.push(Rule::always(Some("PutItem"), fault));
        let before = proxy.seen().len();
        let answer = function.invoke(sns_event());
        assert_eq!(answer.status, 200, "{fault:?}");
        assert_eq!(
            answer.error_type().as_deref(),
            Some("Idempotency.PersistenceError"),
            "{fault:?}: {}",
            answer.body
        );
        let message = answer.error_message().unwrap();
        assert!(
            message.starts_with(&format!(
                "idempotency table `{IDEMPOTENCY_TABLE}`: PutItem failed with {code}: "
            )),
            "{fault:?}: {message}"
        );
        assert!(message.contains("the handler did not run"), "{message}");
        let attempts = proxy.seen()[before..].to_vec();
        assert_eq!(
            attempts,
            seen("PutItem", Some(fault), SDK_ATTEMPTS),
            "{fault:?}: only the lock was attempted, {SDK_ATTEMPTS} times"
        );
        assert_eq!(
            scenario.table_items(NOTIFICATIONS_TABLE),
            Vec::<Value>::new()
        );
        assert_eq!(scenario.table_items(IDEMPOTENCY_TABLE), Vec::<Value>::new());
    }

    // The lock is taken and the handler runs, but the outcome cannot be recorded: the error
    // says the handler ran, the lock stays until the invocation's deadline, and the write the
    // handler made is whole (it is itself conditional, so the retry does not repeat it).
    proxy.clear();
    proxy.push(Rule::always(Some("UpdateItem"), Fault::InternalError));
    let answer = function.invoke(sns_event());
    assert_eq!(
        answer.error_type().as_deref(),
        Some("Idempotency.PersistenceError"),
        "{}",
        answer.body
    );
    let message = answer.error_message().unwrap();
    assert!(
        message.starts_with(&format!(
            "idempotency table `{IDEMPOTENCY_TABLE}`: UpdateItem failed with InternalServerError: "
        )),
        "{message}"
    );
    let notifications = scenario.table_items(NOTIFICATIONS_TABLE);
    assert_eq!(notifications.len(), 1, "{notifications:?}");
    let records = scenario.table_items(IDEMPOTENCY_TABLE);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["status"], "INPROGRESS");
    assert_eq!(records[0].get("data"), None, "no half-written response");

    // A duplicate delivered while the lock is live is refused, retryably.
    proxy.clear();
    let refused = function.invoke(sns_event());
    assert_eq!(
        refused.error_type().as_deref(),
        Some("Idempotency.AlreadyInProgress"),
        "{}",
        refused.body
    );
    // After the lock expires (the failed invocation's deadline) the next delivery completes.
    let lock_ms = records[0]["in_progress_expiration"].as_u64().unwrap();
    wait_until_epoch_ms(lock_ms + 50);
    let done = function.invoke(sns_event());
    assert_eq!(
        done.json()["processed"][0]["payment_id"],
        "p-5001",
        "{}",
        done.body
    );
    assert_eq!(scenario.table_items(NOTIFICATIONS_TABLE), notifications);
    let records = scenario.table_items(IDEMPOTENCY_TABLE);
    assert_eq!(records[0]["status"], "COMPLETED");
    assert_eq!(records[0]["data"], done.body);
}

/// Runs init (the secret fetch) with an event that makes no AWS call, so what the proxy sees
/// next belongs to the invocation under test.
fn warm_up(function: &Emulator) {
    let answer = function.invoke(r#"{"Records": 5}"#);
    assert_eq!(
        answer.error_type().as_deref(),
        Some("Runtime.UnmarshalError"),
        "{}",
        answer.body
    );
}

fn wait_until_epoch_ms(ms: u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    std::thread::sleep(Duration::from_millis(ms.saturating_sub(now)));
}

#[test]
fn sdk_retries_end_before_the_invocation_deadline() {
    let scenario = Scenario::start();
    let env = scenario.seed_sns();
    let proxy = FaultProxy::start(&scenario.moto.endpoint());
    let sns = behind(&proxy, &scenario, "sns", env, 3);
    warm_up(&sns);

    // DynamoDB accepts the connection and never answers: without a bound, the SDK would wait
    // until Lambda kills the invocation (no response, the environment restarted).
    proxy.push(Rule::always(Some("PutItem"), Fault::Hang));
    let started = Instant::now();
    let answer = sns.invoke(sns_event());
    let elapsed = started.elapsed();
    assert_eq!(
        answer.json(),
        json!({
            "errorType": "Idempotency.PersistenceError",
            "errorMessage": format!(
                "idempotency table `{IDEMPOTENCY_TABLE}`: PutItem failed with DeadlineExceeded: no \
                 answer before the invocation's deadline (less 100 ms to send the error); the \
                 handler did not run. Check that `{IDEMPOTENCY_TABLE}` exists in the function's \
                 region with partition key `id` (S) and that the execution role allows \
                 dynamodb:PutItem, GetItem, UpdateItem and DeleteItem on it"
            ),
        }),
        "after {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(
        elapsed > Duration::from_millis(2_500),
        "it used its time: {elapsed:?}"
    );
    assert_eq!(
        scenario.table_items(NOTIFICATIONS_TABLE),
        Vec::<Value>::new()
    );
    assert_eq!(scenario.table_items(IDEMPOTENCY_TABLE), Vec::<Value>::new());
    // (Record handlers in a batch are bounded by the batch layer's abandon margin: see
    // sqs.rs, a_hanging_table_is_abandoned_before_the_timeout_and_every_record_reported.)
}

#[test]
fn throttled_batch_writes_are_reported_not_lost() {
    let scenario = Scenario::start();
    let env = scenario.seed_sqs();
    let proxy = FaultProxy::start(&scenario.moto.endpoint());
    let function = behind(&proxy, &scenario, "sqs", env, 10);

    // The first valid order's write is throttled on every attempt: that message is reported
    // with the two invalid ones; the others are stored.
    proxy.push(Rule::times(
        Some("PutItem"),
        SDK_ATTEMPTS as u32,
        Fault::Throttle,
    ));
    let answer = function.invoke(tern_testkit::tools::event("sqs", "1-orders.json"));
    assert_eq!(
        answer.json(),
        json!({"batchItemFailures": [
            {"itemIdentifier": "4f9e2a1c-0001-4c1e-9a51-1d2f3a4b5c01"},
            {"itemIdentifier": "4f9e2a1c-0003-4c1e-9a51-1d2f3a4b5c03"},
            {"itemIdentifier": "4f9e2a1c-0004-4c1e-9a51-1d2f3a4b5c04"},
        ]}),
        "{}",
        answer.body
    );
    let ids: Vec<Value> = scenario
        .table_items(ORDERS_TABLE)
        .iter()
        .map(|i| i["order_id"].clone())
        .collect();
    assert_eq!(ids, [json!("o-1002"), json!("o-1005")]);

    // Every write throttled: no record succeeded, so the whole batch fails and is retried.
    proxy.push(Rule::always(Some("PutItem"), Fault::Throttle));
    let answer = function.invoke(tern_testkit::tools::event("sqs", "1-orders.json"));
    assert_eq!(
        answer.error_type().as_deref(),
        Some("Batch.AllRecordsFailed"),
        "{}",
        answer.body
    );
}
