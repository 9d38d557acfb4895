//! `make demo`: every registered handler through the Lambda Runtime Interface Emulator, against
//! moto, with the sample events in `events/<handler>/`; prints what each invocation did and
//! the AWS state it left.
//!
//! Usage: `demo [BOOTSTRAP]` (default: `$TERN_BOOTSTRAP`).

use std::{collections::HashSet, path::PathBuf, process::ExitCode};

use serde_json::Value;
use tern_testkit::{
    Emulator, Invocation, Scenario,
    scenario::{
        IDEMPOTENCY_TABLE, NOTIFICATIONS_TABLE, ORDERS_TABLE, S3_DATA_BUCKET, S3_IMAGES_BUCKET,
        S3_UNSORTED_BUCKET, TELEMETRY_TABLE,
    },
    tools,
};

/// Handlers the demo runs, in order.
const HANDLERS: &[&str] = &["echo", "s3", "sqs", "sns", "kinesis", "kafka", "api"];

fn main() -> ExitCode {
    let Some(bootstrap) = std::env::args_os()
        .nth(1)
        .or_else(|| std::env::var_os("TERN_BOOTSTRAP"))
        .map(PathBuf::from)
    else {
        eprintln!("usage: demo BOOTSTRAP (or set TERN_BOOTSTRAP); `make demo` does this for you");
        return ExitCode::FAILURE;
    };
    println!("tern demo: {}", bootstrap.display());
    println!("each handler runs in the official Lambda Runtime Interface Emulator; AWS is moto");
    let scenario = Scenario::start();
    println!("moto listening on {}", scenario.moto.endpoint());
    scenario.seed_idempotency();

    let mut failures = 0;
    for handler in HANDLERS {
        let env = match *handler {
            "s3" => scenario.seed_s3(),
            "sqs" => scenario.seed_sqs(),
            "sns" => scenario.seed_sns_without_idempotency(),
            "kinesis" => scenario.seed_kinesis(),
            // The orders table `sqs` created.
            "kafka" => vec![("ORDERS_TABLE".into(), ORDERS_TABLE.into())],
            // The orders table `sqs` wrote; REST APIs route on the resource path.
            "api" => vec![
                ("ORDERS_TABLE".into(), ORDERS_TABLE.into()),
                ("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH".into(), "true".into()),
            ],
            _ => Vec::new(),
        };
        let mut env = env;
        env.push(("TERN_IDEMPOTENCY_TABLE".into(), IDEMPOTENCY_TABLE.into()));
        failures += run_handler(&bootstrap, &scenario, handler, env);
        report_state(&scenario, handler);
    }
    if failures > 0 {
        eprintln!("\n{failures} demo step(s) failed");
        return ExitCode::FAILURE;
    }
    println!("\ndone: every handler answered every event; nothing was restarted");
    ExitCode::SUCCESS
}

fn run_handler(
    bootstrap: &PathBuf,
    scenario: &Scenario,
    handler: &str,
    env: Vec<(String, String)>,
) -> usize {
    let dir = tools::workspace_root().join("events").join(handler);
    let mut events: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().as_bytes()[0].is_ascii_digit())
            })
            .collect(),
        Err(err) => {
            eprintln!("cannot read {}: {err}", dir.display());
            return 1;
        }
    };
    events.sort();
    println!(
        "\n== {handler}: {} events from events/{handler}/ ==",
        events.len()
    );
    let emulator = Emulator::builder(bootstrap)
        .handler(handler)
        .function_name(format!("tern-demo-{handler}"))
        .envs(scenario.function_env())
        .envs(env)
        .start();
    let mut failures = 0;
    let mut seen = HashSet::new();
    for event in &events {
        let name = event
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let payload = match std::fs::read(event) {
            Ok(payload) => payload,
            Err(err) => {
                eprintln!("cannot read {}: {err}", event.display());
                failures += 1;
                continue;
            }
        };
        let answer = emulator.invoke(&payload);
        if answer.status != 200 {
            failures += 1;
        }
        let duplicate = !seen.insert(answer.body.clone()) && answer.error_type().is_none();
        println!("{name:<34} {}", describe(handler, &answer, duplicate));
    }
    match emulator.runtime_pid() {
        Some(pid) => println!("(one runtime process, pid {pid}, served all of them)"),
        None => println!("(the runtime process is not running)"),
    }
    failures
}

/// Each element of the JSON array `array` (none if it is not one), described by `describe`.
fn each(array: &Value, describe: impl Fn(&Value) -> String) -> Vec<String> {
    array
        .as_array()
        .into_iter()
        .flatten()
        .map(describe)
        .collect()
}

/// The string `name` of `object`, or "" if it has none.
fn field<'v>(object: &'v Value, name: &str) -> &'v str {
    object[name].as_str().unwrap_or("")
}

fn describe(handler: &str, answer: &Invocation, duplicate: bool) -> String {
    if let Some(error_type) = answer.error_type() {
        return format!(
            "error {error_type}: {}",
            answer.error_message().unwrap_or_default()
        );
    }
    let body = answer.json();
    let text = match handler {
        "s3" => each(&body["routed"], |r| {
            format!(
                "{} -> {} ({})",
                field(r, "source"),
                field(r, "destination"),
                field(r, "class")
            )
        })
        .join("; "),
        "sqs" | "kinesis" | "kafka" => {
            let failed = each(&body["batchItemFailures"], |f| match &f["itemIdentifier"] {
                // Kafka: {"partition": "<topic>-<partition>", "offset": <offset>}
                Value::Object(id) => format!(
                    "{}@{}",
                    id["partition"].as_str().unwrap_or_default(),
                    id["offset"]
                ),
                id => id.as_str().unwrap_or_default().to_owned(),
            });
            if failed.is_empty() {
                "every record processed".to_owned()
            } else {
                format!("reported failed for retry: {}", failed.join(", "))
            }
        }
        "sns" => {
            let processed = each(&body["processed"], |p| {
                let signature = field(p, "signature");
                format!(
                    "{} {} signed {}…",
                    field(p, "event_type"),
                    field(p, "payment_id"),
                    &signature[..12.min(signature.len())]
                )
            });
            format!("stored: {}", processed.join(", "))
        }
        "api" => {
            // The four HTTP event kinds answer in their own shapes.
            let header = |name: &str| {
                body["headers"][name]
                    .as_str()
                    .or_else(|| body["multiValueHeaders"][name][0].as_str())
                    .map(str::to_owned)
            };
            let location = header("location").or_else(|| header("Location"));
            format!(
                "HTTP {}{} {}",
                body["statusCode"],
                location
                    .map(|l| format!(" Location: {l}"))
                    .unwrap_or_default(),
                body["body"].as_str().unwrap_or("")
            )
        }
        _ => answer.body.clone(),
    };
    if duplicate {
        format!("duplicate: answered from the idempotency record, nothing redone ({text})")
    } else {
        text
    }
}

fn report_state(scenario: &Scenario, handler: &str) {
    let count = |table: &str| scenario.table_items(table).len();
    match handler {
        "s3" => {
            for bucket in [S3_DATA_BUCKET, S3_IMAGES_BUCKET, S3_UNSORTED_BUCKET] {
                for key in scenario.s3_keys(bucket) {
                    let (metadata, content_type) = scenario.s3_head(bucket, &key);
                    println!(
                        "  s3://{bucket}/{key}  [{}; tern-content-class={}]",
                        content_type.unwrap_or_default(),
                        metadata
                            .get("tern-content-class")
                            .map_or("?", String::as_str)
                    );
                }
            }
        }
        "sqs" | "kafka" | "api" => {
            let ids: Vec<String> = scenario
                .table_items(ORDERS_TABLE)
                .iter()
                .map(|i| {
                    format!(
                        "{} ({} cents)",
                        i["order_id"].as_str().unwrap_or(""),
                        i["total_cents"]
                    )
                })
                .collect();
            println!("  {ORDERS_TABLE}: {} orders: {}", ids.len(), ids.join(", "));
        }
        "sns" => println!(
            "  {NOTIFICATIONS_TABLE}: {} signed notifications",
            count(NOTIFICATIONS_TABLE)
        ),
        "kinesis" => {
            let readings: Vec<Value> = scenario.table_items(TELEMETRY_TABLE);
            let ids: Vec<&str> = readings
                .iter()
                .filter_map(|r| r["reading_id"].as_str())
                .collect();
            println!(
                "  {TELEMETRY_TABLE}: {} readings: {}",
                ids.len(),
                ids.join(", ")
            );
        }
        _ => {}
    }
    if matches!(handler, "s3" | "sns") {
        println!(
            "  {IDEMPOTENCY_TABLE}: {} records",
            count(IDEMPOTENCY_TABLE)
        );
    }
}
