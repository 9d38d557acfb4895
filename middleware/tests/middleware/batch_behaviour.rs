//! The per-record rules on SQS: poison pills, handler errors, readiness errors and panics
//! fail one record; FIFO skips the rest of a failed group (or batch); all failed and empty
//! batches (for every source).

use std::sync::{Arc, Mutex};

use crate::support::batch::*;
use aws_lambda_events::event::sqs::SqsMessage;
use serde::Deserialize;
use tern_middleware::batch::{
    AllFailedPolicy, BatchConfig, BatchError, BatchLayer, FailureScope, error::OutcomeCounts,
};
use tern_runtime::{Diagnostic, Error, LambdaEvent};
use tower::{Layer, Service, ServiceExt};

#[derive(Debug, Deserialize)]
struct Step {
    name: String,
    #[serde(default)]
    fail: bool,
    #[serde(default)]
    panic: bool,
}

/// What the handler saw, in call order.
type Seen = Arc<Mutex<Vec<String>>>;

async fn run_step(seen: Seen, step: Step) -> Result<(), Error> {
    seen.lock().unwrap().push(step.name.clone());
    tokio::task::yield_now().await;
    if step.panic {
        panic!("{EXPECTED_PANIC}: {}", step.name);
    }
    if step.fail {
        return Err(format!("step {} failed", step.name).into());
    }
    Ok(())
}

fn body(name: &str, outcome: &str) -> String {
    match outcome {
        "ok" => format!(r#"{{"name":"{name}"}}"#),
        "fail" => format!(r#"{{"name":"{name}","fail":true}}"#),
        "panic" => format!(r#"{{"name":"{name}","panic":true}}"#),
        "poison" => format!("not json: {name}"),
        other => unreachable!("{other}"),
    }
}

/// One SQS message: id, message group, outcome (`ok`, `fail`, `panic`, `poison`).
type Record<'a> = (&'a str, Option<&'a str>, &'a str);

/// Runs an SQS batch and returns (reported ids, handler calls).
async fn run_sqs(
    config: BatchConfig,
    records: &[Record<'_>],
) -> (Result<Vec<String>, BatchError>, Vec<String>) {
    quiet_expected_panics();
    let seen = Seen::default();
    let handler = {
        let seen = seen.clone();
        move |event: LambdaEvent<Step>| run_step(seen.clone(), event.payload)
    };
    let service = BatchLayer::sqs(config).service_fn(handler);
    let messages: Vec<SqsMessage> = records
        .iter()
        .map(|(id, group, outcome)| sqs_message(id, &body(id, outcome), *group))
        .collect();
    let result = service
        .oneshot(sqs_event(messages, context(None)))
        .await
        .map(|response| reported_ids(&response));
    let seen = seen.lock().unwrap().clone();
    (result, seen)
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

#[tokio::test]
async fn standard_sqs_failures_stay_with_their_record() {
    let config = BatchConfig::new().with_all_failed(AllFailedPolicy::ReportEveryRecord);
    // (records, reported, handler calls)
    let cases: [(&[Record<'static>], &[&str], &[&str]); 5] = [
        (&[], &[], &[]),
        (&[("a", None, "ok"), ("b", None, "ok")], &[], &["a", "b"]),
        (
            &[("a", None, "poison"), ("b", None, "ok"), ("c", None, "ok")],
            &["a"],
            &["b", "c"],
        ),
        (
            &[("a", None, "ok"), ("b", None, "panic"), ("c", None, "ok")],
            &["b"],
            &["a", "b", "c"],
        ),
        (
            &[
                ("a", None, "fail"),
                ("b", None, "poison"),
                ("c", None, "panic"),
            ],
            &["a", "b", "c"],
            &["a", "c"],
        ),
    ];
    for (records, reported, ran) in cases {
        let (result, seen) = run_sqs(config.clone(), records).await;
        assert_eq!(result.unwrap(), ids(reported), "{records:?}");
        assert_eq!(seen, ids(ran), "{records:?}");
    }
}

#[tokio::test]
async fn ten_messages_with_one_poison_pill_report_exactly_that_id() {
    let records: Vec<(String, &str)> = (0..10)
        .map(|i| (format!("msg-{i}"), if i == 6 { "poison" } else { "ok" }))
        .collect();
    let records: Vec<Record<'_>> = records
        .iter()
        .map(|(id, outcome)| (id.as_str(), None, *outcome))
        .collect();
    let (result, seen) = run_sqs(BatchConfig::new().with_concurrency(4), &records).await;
    assert_eq!(result.unwrap(), ["msg-6"]);
    assert_eq!(seen.len(), 9);
    assert!(!seen.contains(&"msg-6".to_owned()));
}

#[tokio::test]
async fn fifo_skips_the_rest_of_a_failed_group_without_running_it() {
    let records = [
        ("a1", Some("a"), "ok"),
        ("b1", Some("b"), "ok"),
        ("a2", Some("a"), "fail"),
        ("b2", Some("b"), "ok"),
        ("a3", Some("a"), "ok"),
        ("c1", Some("c"), "poison"),
        ("c2", Some("c"), "ok"),
        ("b3", Some("b"), "ok"),
        ("a4", Some("a"), "ok"),
    ];
    for concurrency in [1, 3, 8] {
        let config = BatchConfig::new().with_concurrency(concurrency);
        let (result, mut seen) = run_sqs(config, &records).await;
        assert_eq!(
            result.unwrap(),
            ["a2", "a3", "c1", "c2", "a4"],
            "{concurrency}"
        );
        seen.sort();
        assert_eq!(seen, ["a1", "a2", "b1", "b2", "b3"], "{concurrency}");
    }
}

#[tokio::test]
async fn fifo_batch_scope_stops_every_group_after_a_failure() {
    let records = [
        ("a1", Some("a"), "ok"),
        ("b1", Some("b"), "ok"),
        ("a2", Some("a"), "panic"),
        ("b2", Some("b"), "ok"),
        ("c1", Some("c"), "ok"),
    ];
    let config = BatchConfig::new().with_failure_scope(FailureScope::Batch);
    let (result, seen) = run_sqs(config, &records).await;
    assert_eq!(result.unwrap(), ["a2", "b2", "c1"]);
    assert_eq!(seen, ["a1", "b1", "a2"]);
}

#[tokio::test]
async fn standard_queue_group_ids_do_not_order_messages() {
    // Fair queues put a MessageGroupId on standard-queue messages; they stay independent.
    let mut first = sqs_message("a1", &body("a1", "fail"), Some("tenant"));
    first.event_source_arn = Some(STANDARD_ARN.into());
    let mut second = sqs_message("a2", &body("a2", "ok"), Some("tenant"));
    second.event_source_arn = Some(STANDARD_ARN.into());
    let seen = Seen::default();
    let handler = {
        let seen = seen.clone();
        move |event: LambdaEvent<Step>| run_step(seen.clone(), event.payload)
    };
    let response = BatchLayer::sqs(BatchConfig::new())
        .service_fn(handler)
        .oneshot(sqs_event([first, second], context(None)))
        .await
        .unwrap();
    assert_eq!(reported_ids(&response), ["a1"]);
    assert_eq!(*seen.lock().unwrap(), ["a1", "a2"]);
}

#[tokio::test]
async fn all_failed_is_an_error_unless_configured_to_report_every_id() {
    let records = [
        ("a", None, "fail"),
        ("b", None, "poison"),
        ("c", None, "panic"),
    ];
    let (result, _) = run_sqs(BatchConfig::new(), &records).await;
    let error = result.unwrap_err();
    let counts = OutcomeCounts {
        failed: 1,
        poison: 1,
        panicked: 1,
        ..OutcomeCounts::default()
    };
    assert_eq!(error, all_failed("sqs", 3, counts));
    assert_eq!(Diagnostic::from(error).error_type, "Batch.AllRecordsFailed");

    let config = BatchConfig::new().with_all_failed(AllFailedPolicy::ReportEveryRecord);
    let (result, _) = run_sqs(config, &records).await;
    assert_eq!(result.unwrap(), ["a", "b", "c"]);
}

#[tokio::test]
async fn empty_batches_answer_an_empty_failure_list_for_every_source() {
    let ok = |_: LambdaEvent<serde_json::Value>| async { Ok::<_, Error>(()) };

    let sqs = BatchLayer::sqs(BatchConfig::new())
        .service_fn(ok)
        .oneshot(sqs_event([], context(None)))
        .await
        .unwrap();
    assert_eq!(json(&sqs), NO_FAILURES);
    let kinesis = BatchLayer::kinesis(BatchConfig::new())
        .service_fn(ok)
        .oneshot(kinesis_event([], context(None)))
        .await
        .unwrap();
    assert_eq!(json(&kinesis), NO_FAILURES);
    let dynamodb = BatchLayer::dynamodb_raw(BatchConfig::new())
        .service_fn(|_| async { Ok::<_, Error>(()) })
        .oneshot(dynamodb_event([], context(None)))
        .await
        .unwrap();
    assert_eq!(json(&dynamodb), NO_FAILURES);
}

/// A record handler whose `poll_ready` fails for every other record and whose `call` panics
/// for one record: both fail only the record at hand.
#[derive(Clone, Default)]
struct Flaky {
    polls: Arc<Mutex<usize>>,
    seen: Seen,
}

impl Service<LambdaEvent<Step>> for Flaky {
    type Response = ();
    type Error = Diagnostic;
    type Future = std::future::Ready<Result<(), Diagnostic>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Diagnostic>> {
        let mut polls = self.polls.lock().unwrap();
        *polls += 1;
        std::task::Poll::Ready(if *polls == 2 {
            Err(Diagnostic {
                error_type: "Pool.Exhausted".into(),
                error_message: "no connection".into(),
            })
        } else {
            Ok(())
        })
    }

    fn call(&mut self, event: LambdaEvent<Step>) -> Self::Future {
        assert!(
            !event.payload.panic,
            "{EXPECTED_PANIC}: call of {}",
            event.payload.name
        );
        self.seen.lock().unwrap().push(event.payload.name);
        std::future::ready(Ok(()))
    }
}

#[tokio::test]
async fn readiness_errors_and_panics_in_call_fail_one_record() {
    quiet_expected_panics();
    let flaky = Flaky::default();
    let service = BatchLayer::<_, _>::sqs(BatchConfig::new()).layer(flaky.clone());
    let messages = [
        sqs_message("a", &body("a", "ok"), None),
        sqs_message("b", &body("b", "ok"), None),
        sqs_message("c", &body("c", "panic"), None),
        sqs_message("d", &body("d", "ok"), None),
    ];
    let response = service
        .oneshot(sqs_event(messages, context(None)))
        .await
        .unwrap();
    assert_eq!(reported_ids(&response), ["b", "c"]);
    assert_eq!(*flaky.seen.lock().unwrap(), ["a", "d"]);
}
