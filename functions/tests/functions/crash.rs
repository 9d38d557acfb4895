//! Crash and deadline mid-invocation: what a killed handler, or one whose call is cut off at
//! the invocation's deadline, leaves behind must be resolved by the next delivery (Lambda
//! retries a failed invocation; SQS redelivers a batch).
//!
//! - Idempotency (`sns`): the lock taken before the handler ran stays `INPROGRESS` until the
//!   dead invocation's deadline; a redelivery before then is refused retryably, the one after
//!   it runs the handler and completes, and the handler's write exists exactly once.
//! - Batch (`sqs`): a batch whose process dies half-way is redelivered whole; orders already
//!   written are not written twice, the rest are, and only the invalid ones are reported.
//!
//! The handler is held mid-way by a [`FaultProxy`] that black-holes its own DynamoDB write
//! (the idempotency lock before it goes through), then the runtime is killed (`SIGKILL`) or
//! left to reach the deadline: the runtime then ends the write with `DeadlineExceeded`, too
//! late for the idempotency layer to release its lock.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tern_testkit::{
    Scenario,
    faults::{Fault, FaultProxy, Rule},
    scenario::{IDEMPOTENCY_TABLE, NOTIFICATIONS_TABLE},
};

use crate::support::{behind, now_ms, order_ids, proxied, sleep_until_epoch_ms};

/// Polls until the proxy has seen `count` requests of `operation`.
fn wait_for_requests(proxy: &FaultProxy, operation: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy
        .operations()
        .iter()
        .filter(|o| *o == operation)
        .count()
        < count
    {
        assert!(Instant::now() < deadline, "{:?}", proxy.operations());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn kill(pid: u32) {
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The sns event with its message id ending in `suffix` (a fresh notification).
fn notification(suffix: &str) -> String {
    tern_testkit::tools::event("sns", "1-payment-captured.json").replace("5a01", suffix)
}

#[test]
fn an_idempotent_handler_killed_or_cut_off_mid_way_is_completed_by_the_next_delivery() {
    let (scenario, env, proxy) = proxied(Scenario::seed_sns);
    let function = behind(&proxy, &scenario, "sns", env, 3);

    for (case, suffix) in [("killed", "5a21"), ("cut off", "5a22")] {
        proxy.clear();
        // The lock (PutItem on the idempotency table) goes through; the handler's own write
        // (the next PutItem) never gets an answer.
        proxy.push(Rule::after(Some("PutItem"), 1, Fault::Hang));
        let puts_before = proxy
            .operations()
            .iter()
            .filter(|o| *o == "PutItem")
            .count();
        let event = notification(suffix);
        let message_id = format!("d2a8c1f0-6b3e-5a9d-8c7f-1e2d3c4b{suffix}");
        let stored = |scenario: &Scenario| -> Vec<Value> {
            scenario
                .table_items(NOTIFICATIONS_TABLE)
                .into_iter()
                .filter(|n| n["message_id"] == json!(message_id))
                .collect()
        };
        let started = now_ms();
        let answer = std::thread::scope(|scope| {
            let call = scope.spawn(|| function.invoke(&event));
            wait_for_requests(&proxy, "PutItem", puts_before + 2);
            if case == "killed" {
                kill(function.runtime_pid().expect("the runtime is running"));
            }
            call.join().unwrap()
        });
        if case == "killed" {
            assert_eq!(answer.status, 502, "{}", answer.body);
            assert_eq!(answer.error_type().as_deref(), Some("Runtime.ExitError"));
            assert!(
                answer
                    .error_message()
                    .unwrap()
                    .ends_with("Error: Runtime exited with error: signal: killed"),
                "{}",
                answer.body
            );
        } else {
            // The handler's answer, before Lambda's timeout.
            assert_eq!(
                answer.json(),
                json!({
                    "errorType": "Sns.StoreFailed",
                    "errorMessage": format!(
                        "storing message {message_id} in table {NOTIFICATIONS_TABLE}: PutItem \
                         failed with DeadlineExceeded: no answer from {} before the invocation's deadline \
                         (less 100 ms to send the error)",
                        proxy.endpoint()
                    ),
                })
            );
        }
        let records = scenario.table_items(IDEMPOTENCY_TABLE);
        let record = records
            .iter()
            .find(|r| r["status"] == "INPROGRESS")
            .unwrap_or_else(|| panic!("{case}: no lock left: {records:?}"));
        let lock_ms = record["in_progress_expiration"].as_u64().unwrap();
        assert!(
            (started + 2_900..=started + 3_500).contains(&lock_ms),
            "{case}: the lock lasts until the invocation's deadline: {lock_ms} vs start {started}"
        );
        assert_eq!(
            stored(&scenario),
            Vec::<Value>::new(),
            "{case}: the held write never reached the table"
        );

        proxy.clear();
        if case == "killed" {
            // Redelivered while the lock is live (a crash ends an invocation before its
            // deadline): refused, retryably, by a fresh runtime.
            let refused = function.invoke(&event);
            refused.expect_error("Idempotency.AlreadyInProgress");
        }
        // After the deadline of the dead invocation (a cut-off one has reached it already):
        // the handler runs and completes.
        sleep_until_epoch_ms(lock_ms + 50);
        let done = function.invoke(&event);
        assert_eq!(done.status, 200, "{case}: {}", done.body);
        assert_eq!(
            done.json()["processed"][0]["message_id"],
            json!(message_id),
            "{case}: {}",
            done.body
        );
        let written = stored(&scenario);
        assert_eq!(
            written.len(),
            1,
            "{case}: written exactly once: {written:?}"
        );
        let completed = scenario
            .table_items(IDEMPOTENCY_TABLE)
            .into_iter()
            .filter(|r| r["status"] == "COMPLETED" && r["data"] == json!(done.body))
            .count();
        assert_eq!(completed, 1, "{case}");
    }
}

#[test]
fn a_batch_whose_runtime_dies_half_way_is_redelivered_without_double_writes() {
    let (scenario, env, proxy) = proxied(Scenario::seed_sqs);
    let function = behind(&proxy, &scenario, "sqs", env, 10);
    let batch = tern_testkit::tools::event("sqs", "1-orders.json");

    // The first order is written, the second write hangs, and the process is killed.
    proxy.push(Rule::after(Some("PutItem"), 1, Fault::Hang));
    let crashed = std::thread::scope(|scope| {
        let call = scope.spawn(|| function.invoke(&batch));
        wait_for_requests(&proxy, "PutItem", 2);
        kill(function.runtime_pid().expect("the runtime is running"));
        call.join().unwrap()
    });
    assert_eq!(
        (crashed.status, crashed.error_type().as_deref()),
        (502, Some("Runtime.ExitError")),
        "{}",
        crashed.body
    );
    assert_eq!(order_ids(&scenario), ["o-1001"]);

    // SQS redelivers the whole batch (no response was given): a fresh runtime stores the
    // rest, skips what is stored, and reports only the invalid messages.
    proxy.clear();
    let answer = function.invoke(&batch);
    assert_eq!(
        answer.json(),
        json!({"batchItemFailures": [
            {"itemIdentifier": "4f9e2a1c-0003-4c1e-9a51-1d2f3a4b5c03"},
            {"itemIdentifier": "4f9e2a1c-0004-4c1e-9a51-1d2f3a4b5c04"},
        ]})
    );
    assert_eq!(order_ids(&scenario), ["o-1001", "o-1002", "o-1005"]);
}
