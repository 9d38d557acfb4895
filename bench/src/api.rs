//! The `api` function against a bare `lambda_http` function serving the same axum router.
//!
//! Both serve [`tern_functions::api::router`]: the same routes, the same order store and the
//! same Idempotency-Key layer on DynamoDB tables in moto. tern's side is the `api` handler
//! registered alone on tern's runtime (`tern-bench-api`, run as `api`), the function a team
//! serving one HTTP API builds; the bare side is `lambda_http::run` on a current-thread Tokio runtime with lambda_runtime's
//! default subscriber (`tern-bench-bare-api`). tern's side runs without a metrics namespace
//! (the bare function writes no metrics), and once more with one, as the template deploys it
//! (one EMF line per invocation). When the shipped static bootstrap (every example handler
//! registered) is given, it runs as a fourth implementation. Each has tables of its own (same schema, same size).
//!
//! The requests are HTTP API (payload 2.0) events, the template's front door, alternated within
//! every run:
//!
//! - a retried `POST /orders` (the sample `events/api/1-http-api-create-order.json`): the first
//!   request of a run creates the order; every later one is a replay of the stored response,
//!   one DynamoDB `PutItem` (the conditional lock that finds the completed record);
//! - `GET /orders/o-3001`: one `GetItem`;
//! - `GET /orders/not-an-id`: a `400` problem from the handler, no DynamoDB call: the request
//!   path through the framework and the router alone.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tern_testkit::{Scenario, tools};

use crate::{rie, stats::Samples};

/// One kind of request, as an HTTP API event, and the status it must get.
pub struct Workload {
    /// Label in the tables.
    pub label: &'static str,
    /// The event.
    pub event: String,
    /// The status code every answer must have.
    pub status: u16,
}

/// The sample `POST /orders` event as a `GET` of `path`, routed by `GET /orders/{order_id}`.
fn get_event(path: &str, order_id: &str) -> String {
    let mut event: Value =
        serde_json::from_str(&tools::event("api", "1-http-api-create-order.json"))
            .expect("the sample is JSON");
    event["routeKey"] = json!("GET /orders/{order_id}");
    event["requestContext"]["routeKey"] = json!("GET /orders/{order_id}");
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["requestContext"]["http"]["method"] = json!("GET");
    event["pathParameters"] = json!({ "order_id": order_id });
    let headers = event["headers"].as_object_mut().expect("headers");
    for name in ["content-length", "content-type", "idempotency-key"] {
        headers.remove(name);
    }
    let object = event.as_object_mut().expect("an object");
    object.remove("body");
    object.remove("cookies");
    event.to_string()
}

/// The three requests, in the order each run sends them.
pub fn workloads() -> Vec<Workload> {
    vec![
        Workload {
            label: "POST /orders, a retry (stored response replayed)",
            event: tools::event("api", "1-http-api-create-order.json"),
            status: 201,
        },
        Workload {
            label: "GET /orders/{order_id}, found",
            event: get_event("/orders/o-3001", "o-3001"),
            status: 200,
        },
        Workload {
            label: "GET /orders/{order_id}, not an id (400, no DynamoDB call)",
            event: get_event("/orders/not-an-id", "not-an-id"),
            status: 400,
        },
    ]
}

/// The implementations: tern's, the bare one, tern's with metrics (then the shipped bootstrap).
pub fn functions(
    scenario: &Scenario,
    bin_dir: &Path,
    shipped: Option<&Path>,
) -> Vec<rie::Function> {
    let function = |label: &str, program: PathBuf, args: &[&str], tables: &str| {
        let orders = format!("bench-orders-{tables}");
        let records = format!("bench-api-records-{tables}");
        scenario.create_table(&orders, "order_id");
        scenario.create_table(&records, "id");
        let mut env = scenario.function_env();
        env.push(("ORDERS_TABLE".to_owned(), orders));
        env.push(("TERN_IDEMPOTENCY_TABLE".to_owned(), records));
        if tables == "metrics" {
            env.push(("TERN_METRICS_NAMESPACE".to_owned(), "TernBench".to_owned()));
        }
        rie::Function {
            label: label.to_owned(),
            program,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            cwd: None,
            env,
        }
    };
    let mut functions = vec![
        function(
            "tern `api` handler (registered alone on tern's runtime, release build)",
            bin_dir.join("tern-bench-api"),
            &["api"],
            "tern",
        ),
        function(
            "bare `lambda_http::run`, same router and store",
            bin_dir.join("tern-bench-bare-api"),
            &[],
            "bare",
        ),
        function(
            "tern `api` handler + EMF metrics (TERN_METRICS_NAMESPACE set, as the template deploys it)",
            bin_dir.join("tern-bench-api"),
            &["api"],
            "metrics",
        ),
    ];
    if let Some(bootstrap) = shipped {
        functions.push(function(
            "tern `api` handler, the shipped static bootstrap",
            bootstrap.to_owned(),
            &["api"],
            "shipped",
        ));
    }
    functions
}

/// What one implementation measured over all rounds.
#[derive(Debug, Default)]
pub struct Measured {
    /// Busy time per workload, ms.
    pub busy: Vec<Samples>,
    /// Client latency per workload, ms.
    pub client: Vec<Samples>,
    /// Cold init, ms, one sample per round.
    pub init: Samples,
    /// Peak RSS, MiB, one sample per round.
    pub rss_mib: Samples,
}

/// `rounds` rounds alternating the implementations, each run `warmup` then `invokes` rounds
/// over every workload.
pub fn measure(
    functions: &[rie::Function],
    workloads: &[Workload],
    rounds: usize,
    warmup: usize,
    invokes: usize,
) -> Vec<Measured> {
    let payloads: Vec<&str> = workloads.iter().map(|w| w.event.as_str()).collect();
    let mut measured: Vec<Measured> = functions
        .iter()
        .map(|_| Measured {
            busy: vec![Samples::new(); workloads.len()],
            client: vec![Samples::new(); workloads.len()],
            ..Measured::default()
        })
        .collect();
    for round in 0..rounds {
        for (function, out) in functions.iter().zip(&mut measured) {
            let run = rie::measure(function, &payloads, warmup, invokes);
            for (index, workload) in workloads.iter().enumerate() {
                let response: Value = serde_json::from_str(&run.last_response[index])
                    .unwrap_or_else(|_| {
                        panic!("{}: not JSON: {}", function.label, run.last_response[index])
                    });
                assert_eq!(
                    response["statusCode"],
                    json!(workload.status),
                    "{} on {}: {response}",
                    function.label,
                    workload.label
                );
                out.busy[index].extend(run.busy_ms[index].iter().copied());
                out.client[index].extend(run.client_ms[index].iter().copied());
            }
            out.init.push(run.init_ms);
            out.rss_mib.push(run.peak_rss_kib as f64 / 1024.0);
        }
        eprintln!("  api round {}/{rounds} done", round + 1);
    }
    measured
}

/// Writes the start of an implementation's row in a table by workload: its `label`, then each
/// workload's samples, ms (the row's remaining cells and its end are the caller's).
fn workload_cells(text: &mut String, label: &str, per_workload: &[Samples]) {
    use std::fmt::Write as _;
    let _ = write!(text, "| {label} |");
    for samples in per_workload {
        let _ = write!(text, " {} |", samples.summary(3));
    }
}

/// The section of the report, and the target rows (`target`, `measured`, met).
pub fn report(
    functions: &[rie::Function],
    workloads: &[Workload],
    measured: &[Measured],
    rounds: usize,
    invokes: usize,
) -> (String, Vec<(String, String, bool)>) {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "### The `api` function against bare `lambda_http`\n\n\
         HTTP API (payload 2.0) events, moto's DynamoDB behind both; {rounds} rounds alternating \
         the implementations, each run sending the {} requests in turn, {invokes} measured \
         rounds after 20 unmeasured. Busy time, ms, median [p25–p75].\n",
        workloads.len()
    );
    let mut header = String::from("| implementation |");
    let mut rule = String::from("|---|");
    for workload in workloads {
        let _ = write!(header, " {} |", workload.label);
        rule.push_str("---|");
    }
    let _ = writeln!(
        text,
        "{header} cold init, ms | peak RSS, MiB |\n{rule}---|---|"
    );
    for (function, m) in functions.iter().zip(measured) {
        workload_cells(&mut text, &function.label, &m.busy);
        let _ = writeln!(text, " {} | {} |", m.init.summary(2), m.rss_mib.summary(1));
    }
    let _ = writeln!(
        text,
        "\nClient latency, ms, median [p25–p75]:\n\n{header}\n{rule}"
    );
    for (function, m) in functions.iter().zip(measured) {
        workload_cells(&mut text, &function.label, &m.client);
        text.push('\n');
    }
    let [tern, bare, ..] = measured else {
        unreachable!("tern's and the bare implementation")
    };
    let mut targets = Vec::new();
    for (index, workload) in workloads.iter().enumerate() {
        let ratio = tern.busy[index].median() / bare.busy[index].median();
        targets.push((
            format!(
                "`api` warm busy time ≤ 1.10× bare lambda_http: {}",
                workload.label
            ),
            format!(
                "{ratio:.2}× ({:.3} vs {:.3} ms)",
                tern.busy[index].median(),
                bare.busy[index].median()
            ),
            ratio <= 1.10,
        ));
    }
    let cold = tern.init.median() / bare.init.median();
    targets.push((
        "`api` cold init ≤ 1.2× bare lambda_http".to_owned(),
        format!(
            "{cold:.2}× ({:.2} vs {:.2} ms)",
            tern.init.median(),
            bare.init.median()
        ),
        cold <= 1.2,
    ));
    (text, targets)
}
