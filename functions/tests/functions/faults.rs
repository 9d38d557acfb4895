//! Fault injection against real endpoints: the example functions under the Lambda emulator,
//! talking to moto through a [`FaultProxy`] that throttles, fails with 5xx, closes or resets
//! connections or black-holes chosen operations, to a moto that has been stopped, or to a port
//! where nothing listens.
//!
//! What must hold: a secret that cannot be fetched fails init with an error naming it and the
//! AWS error code; a DynamoDB fault makes idempotency fail closed (the handler does not run,
//! the error says so, no item is half written); the SDK's retries are counted exactly and end
//! before the invocation's deadline, the handler's own calls included (the function answers
//! with `DeadlineExceeded` and the same process serves the next invocation); every message
//! says what failed in words (the AWS code and message, or the cause and the endpoint), never
//! in Rust `Debug` text.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tern_testkit::{
    Emulator, Scenario,
    container::TlsFront,
    faults::{Fault, FaultProxy, Rule, Seen, assert_plain_message},
    free_port,
    scenario::{IDEMPOTENCY_TABLE, NOTIFICATIONS_TABLE, S3_SOURCE_BUCKET},
};

use crate::support::{
    at_endpoint, behind, order_ids, proxied, seed_s3_idempotent, sleep_until_epoch_ms,
};

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

/// How a call that met `fault` at the proxy (listening at `at`) fails, as messages say it:
/// the AWS code and message, or the cause and the endpoint.
fn failure_of(fault: Fault, at: &str) -> String {
    match fault {
        Fault::Throttle => "ThrottlingException: Rate exceeded".to_owned(),
        Fault::InternalError => "InternalServerError: Internal server error".to_owned(),
        Fault::Unavailable => "ServiceUnavailable: Service unavailable".to_owned(),
        Fault::Drop => format!("DispatchFailure: {at} closed the connection without answering"),
        Fault::Reset => {
            format!("DispatchFailure: the connection to {at} was reset before an answer came")
        }
        other => panic!("no failure message for {other:?}"),
    }
}

/// How a call to `endpoint`, where nothing listens, fails.
fn connection_refused(endpoint: &str) -> String {
    format!("DispatchFailure: could not connect to {endpoint}: connection refused")
}

#[test]
fn secrets_that_cannot_be_fetched_fail_init_naming_the_secret_and_the_aws_code() {
    let (mut scenario, env, proxy) = proxied(Scenario::seed_sns);
    let arn = env
        .iter()
        .find(|(k, _)| k == "SIGNING_KEY_SECRET_ARN")
        .map(|(_, v)| v.clone())
        .unwrap();
    let secret =
        format!("secret `{arn}` (from `SIGNING_KEY_SECRET_ARN`, declared as `signing_key`)");

    for fault in [Fault::Throttle, Fault::InternalError, Fault::Unavailable] {
        let failure = failure_of(fault, proxy.endpoint());
        proxy.clear();
        proxy.push(Rule::always(Some("GetSecretValue"), fault));
        let before = proxy.seen().len();
        let function = behind(&proxy, &scenario, "sns", env.clone(), 10);
        let started = Instant::now();
        let answer = function.invoke(sns_event());
        assert_eq!(answer.status, 502, "{fault:?}: {}", answer.body);
        let message = answer.expect_error_in(format_args!("{fault:?}"), "Secrets.FetchFailed");
        assert_eq!(
            message,
            format!("fetching {secret} failed: {failure}"),
            "{fault:?}"
        );
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

    // No answer: the connection is reset or closed (moto stopped behind the proxy), a black
    // hole (the fetch timeout, 5 s, ends it), nothing listens at the endpoint, or its TLS
    // certificate is not trusted (a TLS front with its own CA in front of moto).
    let unreachable = |failure: &str| {
        format!(
            "could not reach the secrets backend for {secret}: {failure}; check the function's \
             network path to Secrets Manager (VPC endpoint or NAT gateway), or that the \
             Parameters and Secrets extension layer is attached when \
             TERN_SECRETS_BACKEND=extension"
        )
    };
    let at = proxy.endpoint().to_owned();
    let closed = format!("http://127.0.0.1:{}", free_port());
    let front = TlsFront::start(scenario.moto.port());
    let untrusted = front.endpoint();
    let cases = [
        (Some(Fault::Reset), &at, failure_of(Fault::Reset, &at)),
        (
            Some(Fault::Hang),
            &at,
            "Timeout: no answer within 5s".to_owned(),
        ),
        (None, &closed, connection_refused(&closed)),
        (
            None,
            &untrusted,
            format!(
                "DispatchFailure: could not connect to {untrusted}: the TLS handshake failed: the \
                 server's certificate is not issued by a CA this function trusts (see \
                 SSL_CERT_FILE and the system CA bundle)"
            ),
        ),
    ];
    for (fault, endpoint, failure) in cases {
        proxy.clear();
        if let Some(fault) = fault {
            proxy.push(Rule::always(Some("GetSecretValue"), fault));
        }
        let function = at_endpoint(endpoint, &scenario, "sns", env.clone(), 10);
        let answer = function.invoke(sns_event());
        let message = answer.expect_error_in(format_args!("{fault:?}"), "Secrets.Unreachable");
        assert_eq!(message, unreachable(&failure), "{fault:?}");
        assert_plain_message(&message);
    }

    scenario.moto.stop();
    proxy.clear();
    let function = behind(&proxy, &scenario, "sns", env, 10);
    let answer = function.invoke(sns_event());
    assert_eq!(answer.status, 502, "{}", answer.body);
    let message = answer.expect_error("Secrets.Unreachable");
    assert_eq!(message, unreachable(&failure_of(Fault::Drop, &at)));
    assert_plain_message(&message);
}

#[test]
fn dynamodb_faults_make_idempotency_fail_closed() {
    let (scenario, env, proxy) = proxied(Scenario::seed_sns);
    let function = behind(&proxy, &scenario, "sns", env.clone(), 10);
    warm_up(&function);

    // The lock cannot be taken: the handler never runs, nothing is written anywhere.
    for fault in [
        Fault::Throttle,
        Fault::InternalError,
        Fault::Unavailable,
        Fault::Drop,
        Fault::Reset,
    ] {
        let failure = failure_of(fault, proxy.endpoint());
        proxy.clear();
        proxy.push(Rule::always(Some("PutItem"), fault));
        let before = proxy.seen().len();
        let answer = function.invoke(sns_event());
        assert_eq!(answer.status, 200, "{fault:?}");
        let message =
            answer.expect_error_in(format_args!("{fault:?}"), "Idempotency.PersistenceError");
        assert_eq!(
            message,
            persistence_message("PutItem", &failure, "the handler did not run"),
            "{fault:?}"
        );
        assert_plain_message(&message);
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

    // DynamoDB's endpoint has nothing listening (Secrets Manager still answers).
    let closed = format!("http://127.0.0.1:{}", free_port());
    let mut refused_env = env;
    refused_env.push(("AWS_ENDPOINT_URL_DYNAMODB".to_owned(), closed.clone()));
    let refused = behind(&proxy, &scenario, "sns", refused_env, 10);
    let answer = refused.invoke(sns_event());
    let message = answer.error_message().unwrap();
    assert_eq!(
        message,
        persistence_message(
            "PutItem",
            &connection_refused(&closed),
            "the handler did not run"
        ),
        "{}",
        answer.body
    );
    assert_plain_message(&message);

    // The lock is taken and the handler runs, but the outcome cannot be recorded: the error
    // says the handler ran, the lock stays until the invocation's deadline, and the write the
    // handler made is whole (it is itself conditional, so the retry does not repeat it).
    proxy.clear();
    proxy.push(Rule::always(Some("UpdateItem"), Fault::InternalError));
    let answer = function.invoke(sns_event());
    let message = answer.expect_error("Idempotency.PersistenceError");
    assert_eq!(
        message,
        persistence_message(
            "UpdateItem",
            &failure_of(Fault::InternalError, proxy.endpoint()),
            "the handler ran but its response was not recorded (the key stays in progress until \
             its lock expires)"
        )
    );
    assert_plain_message(&message);
    let notifications = scenario.table_items(NOTIFICATIONS_TABLE);
    assert_eq!(notifications.len(), 1, "{notifications:?}");
    let records = scenario.table_items(IDEMPOTENCY_TABLE);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["status"], "INPROGRESS");
    assert_eq!(records[0].get("data"), None, "no half-written response");

    // A duplicate delivered while the lock is live is refused, retryably.
    proxy.clear();
    let refused = function.invoke(sns_event());
    refused.expect_error("Idempotency.AlreadyInProgress");
    // After the lock expires (the failed invocation's deadline) the next delivery completes.
    let lock_ms = records[0]["in_progress_expiration"].as_u64().unwrap();
    sleep_until_epoch_ms(lock_ms + 50);
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

/// The message of an idempotency store failure: `failure` is `code: cause`.
fn persistence_message(operation: &str, failure: &str, outcome: &str) -> String {
    format!(
        "idempotency table `{IDEMPOTENCY_TABLE}`: {operation} failed with {failure}; {outcome}. \
         Check that `{IDEMPOTENCY_TABLE}` exists in the function's region with partition key \
         `id` (S) and that the execution role allows dynamodb:PutItem, GetItem, UpdateItem and \
         DeleteItem on it"
    )
}

/// Runs init (the secret fetch) with an event that makes no AWS call, so what the proxy sees
/// next belongs to the invocation under test.
fn warm_up(function: &Emulator) {
    let answer = function.invoke(r#"{"Records": 5}"#);
    answer.expect_error("Runtime.UnmarshalError");
}

#[test]
fn sdk_retries_end_before_the_invocation_deadline() {
    let (scenario, env, proxy) = proxied(Scenario::seed_sns);
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
            "errorMessage": persistence_message(
                "PutItem",
                &cut_off_at_the_deadline(proxy.endpoint()),
                "the handler did not run"
            ),
        }),
        "after {elapsed:?}"
    );
    assert_plain_message(&answer.error_message().unwrap());
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
    let (scenario, env, proxy) = proxied(Scenario::seed_sqs);
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
    assert_eq!(order_ids(&scenario), ["o-1002", "o-1005"]);

    // Every write throttled: no record succeeded, so the whole batch fails and is retried.
    proxy.push(Rule::always(Some("PutItem"), Fault::Throttle));
    let answer = function.invoke(tern_testkit::tools::event("sqs", "1-orders.json"));
    answer.expect_error("Batch.AllRecordsFailed");
}

#[test]
fn s3_faults_name_the_object_the_code_and_the_cause() {
    let (scenario, mut env, proxy) = proxied(seed_s3_idempotent);
    let function = behind(&proxy, &scenario, "s3", env.clone(), 10);
    let event = tern_testkit::tools::event("s3", "1-orders-json.json");
    let object = format!("s3://{S3_SOURCE_BUCKET}/incoming/orders 2026-11-22.json");

    let get_object = format!("GET /{S3_SOURCE_BUCKET}/");
    for fault in [Fault::Reset, Fault::Drop, Fault::InternalError] {
        let failure = failure_of(fault, proxy.endpoint());
        proxy.clear();
        proxy.push(Rule::always(Some(&get_object), fault));
        let answer = function.invoke(&event);
        let message = answer.expect_error_in(format_args!("{fault:?}"), "S3.RequestFailed");
        assert_eq!(
            message,
            format!("GetObject {object} failed: {failure}"),
            "{fault:?}"
        );
        assert_plain_message(&message);
    }

    // S3's endpoint has nothing listening (DynamoDB, for idempotency, still answers).
    proxy.clear();
    let closed = format!("http://127.0.0.1:{}", free_port());
    env.push(("AWS_ENDPOINT_URL_S3".to_owned(), closed.clone()));
    let refused = behind(&proxy, &scenario, "s3", env, 10);
    let answer = refused.invoke(&event);
    let message = answer.error_message().unwrap();
    assert_eq!(
        message,
        format!("GetObject {object} failed: {}", connection_refused(&closed)),
        "{}",
        answer.body
    );
    assert_plain_message(&message);
}

/// The message of a handler's own call cut off at the invocation's deadline (100 ms kept).
fn cut_off_at_the_deadline(endpoint: &str) -> String {
    format!(
        "DeadlineExceeded: no answer from {endpoint} before the invocation's deadline (less 100 \
         ms to send the error)"
    )
}

/// Invokes `event` on `function` whose own call black-holes: the answer comes before the
/// 3-second timeout (having used its time), and the next invocation (`next`, with the proxy
/// forwarding again) is served by the same process.
fn answered_before_the_timeout(
    function: &Emulator,
    proxy: &FaultProxy,
    event: &str,
    next: &str,
) -> (Value, Value) {
    let pid = function.runtime_pid().expect("the runtime is running");
    let started = Instant::now();
    let answer = function.invoke(event);
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(3),
        "{elapsed:?}: {}",
        answer.body
    );
    assert!(
        elapsed > Duration::from_millis(2_500),
        "it used its time: {elapsed:?}"
    );
    assert_plain_message(&answer.error_message().unwrap_or_default());
    proxy.clear();
    let served = function.invoke(next);
    assert_eq!(served.error_type(), None, "{}", served.body);
    assert_eq!(
        function.runtime_pid(),
        Some(pid),
        "the process was not restarted"
    );
    assert!(
        !function.logs().contains("Task timed out"),
        "{}",
        function.logs()
    );
    (answer.json(), served.json())
}

#[test]
fn a_handlers_own_call_that_never_answers_ends_before_the_timeout_in_the_same_process() {
    let (scenario, env, proxy) =
        proxied(|scenario| [scenario.seed_sns(), scenario.seed_s3()].concat());
    let at = proxy.endpoint().to_owned();

    // sns: the idempotency lock (the first PutItem) is taken; the write to the notifications
    // table (the second) is never answered.
    let sns = behind(&proxy, &scenario, "sns", env.clone(), 3);
    warm_up(&sns);
    proxy.push(Rule::after(Some("PutItem"), 1, Fault::Hang));
    let (answer, served) = answered_before_the_timeout(
        &sns,
        &proxy,
        &sns_event(),
        &tern_testkit::tools::event("sns", "3-payment-refunded.json"),
    );
    assert_eq!(
        answer,
        json!({
            "errorType": "Sns.StoreFailed",
            "errorMessage": format!(
                "storing message d2a8c1f0-6b3e-5a9d-8c7f-1e2d3c4b5a01 in table \
                 {NOTIFICATIONS_TABLE}: PutItem failed with {}",
                cut_off_at_the_deadline(&at)
            ),
        })
    );
    assert_eq!(served["processed"][0]["payment_id"], "p-5002", "{served}");

    // s3: the object is read; the copy into the data bucket is never answered.
    let s3 = behind(&proxy, &scenario, "s3", env, 3);
    warm_up(&s3);
    proxy.push(Rule::always(Some("PUT /tern-demo-data/"), Fault::Hang));
    let (answer, served) = answered_before_the_timeout(
        &s3,
        &proxy,
        &tern_testkit::tools::event("s3", "1-orders-json.json"),
        &tern_testkit::tools::event("s3", "3-report-csv.json"),
    );
    assert_eq!(
        answer,
        json!({
            "errorType": "S3.RequestFailed",
            "errorMessage": format!(
                "CopyObject s3://{S3_SOURCE_BUCKET}/incoming/orders 2026-11-22.json failed: {}",
                cut_off_at_the_deadline(&at)
            ),
        })
    );
    assert_eq!(served["routed"][0]["class"], "csv", "{served}");
}
