//! `tern-bench`: runs every benchmark and writes the result tables (`make bench`).
//!
//! ```text
//! tern-bench --bin-dir DIR --python PY [--bootstrap FILE] [--layer ZIP] [--image NAME]
//!            [--rounds N] [--invokes N] [--build-rounds N] [--build-dir DIR] [--out FILE]
//!            [--only api] [--previous-full FILE --previous-rev REV]
//! ```
//! `--bin-dir` holds the release `tern-bench-full`, `tern-bench-bare`,
//! `tern-bench-bare-fetch`, `tern-bench-api` and `tern-bench-bare-api`; `--python` is the
//! interpreter of the venv with the pinned Powertools and awslambdaric. `--build-rounds`
//! (default 1) clean release builds of the bare function and the minimal tern example are made
//! in `--build-dir` (default `target/bench/clean`), for their build times and sizes. `--only
//! api` runs the `api` comparison alone (with `--bootstrap`, the shipped bootstrap as a fourth
//! row). `--previous-full` is the previous release's `tern-bench-full` (built from `--previous-rev`
//! by `make bench`): it runs end to end alternated with the others, and its warm busy time is
//! the full stack's regression target.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use tern_bench::{
    api, clean_build, harness_support, inprocess, log_line,
    rie::{self, Function, Run},
    stats::Samples,
    workload,
};
use tern_testkit::{Moto, Scenario, tools::workspace_root};

struct Options {
    bin_dir: PathBuf,
    python: PathBuf,
    bootstrap: Option<PathBuf>,
    layer: Option<PathBuf>,
    image: Option<String>,
    rounds: usize,
    invokes: usize,
    build_rounds: usize,
    build_dir: PathBuf,
    out: Option<PathBuf>,
    only: Option<String>,
    previous: Option<(PathBuf, String)>,
}

fn options() -> Options {
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let value = raw.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        args.insert(flag.trim_start_matches("--").to_owned(), value);
    }
    // Absolute, not canonical: the venv's python is a symlink that must stay in the venv.
    let path = |name: &str| {
        args.get(name)
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| PathBuf::from(p)))
    };
    let number = |name: &str, default: usize| {
        args.get(name)
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("--{name} takes a number"))
            })
            .unwrap_or(default)
    };
    Options {
        bin_dir: path("bin-dir").expect("--bin-dir DIR (the release tern-bench-* binaries)"),
        python: path("python").expect("--python PATH (the bench venv's interpreter)"),
        bootstrap: path("bootstrap"),
        layer: path("layer"),
        image: args.get("image").cloned(),
        rounds: number("rounds", 20),
        invokes: number("invokes", 150),
        build_rounds: number("build-rounds", 1),
        build_dir: path("build-dir").unwrap_or_else(|| workspace_root().join("target/bench/clean")),
        out: path("out"),
        only: args.get("only").cloned(),
        previous: path("previous-full").map(|full| {
            let rev = args.get("previous-rev").cloned();
            (
                full,
                rev.expect("--previous-rev REV names the --previous-full build"),
            )
        }),
    }
}

fn functions(
    options: &Options,
    moto: &Moto,
    secret_arn: &str,
    parameters: &[(String, String)],
) -> Vec<Function> {
    let rust = |label: &str, bin: &str, args: &[&str], extra: &[(&str, &str)]| Function {
        label: label.to_owned(),
        program: options.bin_dir.join(bin),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        cwd: None,
        env: moto
            .sdk_env()
            .into_iter()
            .chain(
                extra
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            )
            .collect(),
    };
    let python_dir = workspace_root().join("bench/python");
    let secret = ("BENCH_SECRET_ARN", secret_arn);
    let mut prefetch: Vec<(&str, &str)> = parameters
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    prefetch.push(secret);
    let mut functions = vec![
        rust("tern full stack", "tern-bench-full", &["orders"], &[]),
        rust(
            "tern full stack + secret prefetch",
            "tern-bench-full",
            &["orders"],
            &[secret],
        ),
        rust(
            "tern full stack + 3 parameters and 1 secret prefetched",
            "tern-bench-full",
            &["orders"],
            &prefetch,
        ),
        rust(
            "bare lambda_runtime, current_thread",
            "tern-bench-bare",
            &[],
            &[("BENCH_TOKIO", "current_thread")],
        ),
        rust(
            "bare lambda_runtime, current_thread + GetSecretValue at init",
            "tern-bench-bare-fetch",
            &[],
            &[secret],
        ),
        rust(
            "bare lambda_runtime, current_thread + GetParameters (3 names) and GetSecretValue at init",
            "tern-bench-bare-fetch",
            &[],
            &prefetch,
        ),
        rust(
            "bare lambda_runtime, multi_thread",
            "tern-bench-bare",
            &[],
            &[("BENCH_TOKIO", "multi_thread")],
        ),
        Function {
            label: "Powertools Python BatchProcessor".to_owned(),
            program: options.python.clone(),
            args: ["-m", "awslambdaric", "handler.lambda_handler"]
                .map(str::to_owned)
                .to_vec(),
            cwd: Some(python_dir.clone()),
            env: vec![(
                "PYTHONPATH".to_owned(),
                python_dir.to_string_lossy().into_owned(),
            )],
        },
    ];
    // Last, so the rows above keep their places; it alternates with them like any other.
    if let Some((program, rev)) = &options.previous {
        functions.push(Function {
            label: format!("tern full stack, previous release ({rev})"),
            program: program.clone(),
            ..functions[0].clone()
        });
    }
    functions
}

#[derive(Default)]
struct Measured {
    busy: Samples,
    client: Samples,
    init: Samples,
    cold_client: Samples,
    rss_mib: Samples,
}

fn end_to_end(options: &Options, functions: &[Function]) -> Vec<Measured> {
    let payload = workload::sqs_event().to_string();
    let expected_failure = workload::message_id(3);
    let mut measured: Vec<Measured> = functions.iter().map(|_| Measured::default()).collect();
    for round in 0..options.rounds {
        // A B C … A B C …: every implementation sees the same neighbours' noise.
        for (function, out) in functions.iter().zip(&mut measured) {
            let run: Run = rie::measure(function, &[&payload], 20, options.invokes);
            let response = &run.last_response[0];
            assert!(
                response.contains(&expected_failure)
                    && response.matches("itemIdentifier").count() == 1,
                "{}: unexpected response {response}",
                function.label,
            );
            out.busy.extend(run.busy_ms.concat());
            out.client.extend(run.client_ms.concat());
            out.init.push(run.init_ms);
            out.cold_client.push(run.cold_client_ms);
            out.rss_mib.push(run.peak_rss_kib as f64 / 1024.0);
        }
        eprintln!("  round {}/{} done", round + 1, options.rounds);
    }
    measured
}

/// µs per batch of the Powertools handler in-process, `samples` samples.
fn python_inprocess(options: &Options, samples: usize) -> Samples {
    let dir = std::env::temp_dir().join(format!("tern-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let event = dir.join("event.json");
    let out = dir.join("out.json");
    std::fs::write(&event, workload::sqs_event().to_string()).expect("write the event");
    let python_dir = workspace_root().join("bench/python");
    let status = Command::new(&options.python)
        .arg(python_dir.join("inprocess.py"))
        .arg(&event)
        .arg(samples.to_string())
        .arg("500")
        .arg(&out)
        .current_dir(&python_dir)
        .env("PYTHONPATH", &python_dir)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .stdout(Stdio::null())
        .status()
        .expect("run the Python in-process benchmark");
    assert!(status.success(), "inprocess.py failed");
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("its output")).expect("JSON");
    let _ = std::fs::remove_dir_all(&dir);
    let mut samples_out = Samples::new();
    samples_out.extend(
        result["us_per_batch"]
            .as_array()
            .expect("us_per_batch")
            .iter()
            .filter_map(serde_json::Value::as_f64),
    );
    samples_out
}

fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

fn image_size(name: &str) -> Option<u64> {
    let output = Command::new("podman")
        .args(["image", "inspect", "--format", "{{.Size}}", name])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

/// The SQS benchmarks (in process, end to end, DynamoDB calls) and the sizes: their target
/// rows, the note under the targets, and their tables.
fn sqs(options: &Options, scenario: &Scenario) -> (String, String, String) {
    let moto = &scenario.moto;
    let mut report = String::new();
    let secret_arn = harness_support::create_secret(moto);
    // SSM on a moto of its own, named by the SDK's service-specific endpoint variable: one
    // moto_server is one Python process whose request threads take turns (the GIL), so SSM
    // and Secrets Manager on the same one would serialize the two requests a concurrent
    // prefetch overlaps, which two AWS services never do. Both prefetching functions get the same
    // endpoints; the parameters exist only there, so an SDK that ignored the variable fails
    // their init (and the run) instead of measuring something else.
    let ssm_moto = Moto::start();
    let mut parameters = harness_support::create_parameters(&ssm_moto);
    parameters.push(("AWS_ENDPOINT_URL_SSM".to_owned(), ssm_moto.endpoint()));
    let round_trips = harness_support::secret_round_trips(moto, 15);

    eprintln!("in-process: tern and bare (Rust), Powertools (Python), alternating");
    let secrets = harness_support::fetch_secret(moto);
    let mut rust = inprocess::InProcess::default();
    let mut python = Samples::new();
    let mut line = log_line::LogLine::default();
    for _ in 0..3 {
        let part = inprocess::run(Some(secrets.clone()), 5);
        rust.sqs_full.extend(part.sqs_full.values().iter().copied());
        rust.sqs_bare.extend(part.sqs_bare.values().iter().copied());
        rust.kinesis_full
            .extend(part.kinesis_full.values().iter().copied());
        rust.kinesis_bare
            .extend(part.kinesis_bare.values().iter().copied());
        python.extend(python_inprocess(options, 5).values().iter().copied());
        let part = log_line::run(5);
        line.tern.extend(part.tern.values().iter().copied());
        line.library_clock
            .extend(part.library_clock.values().iter().copied());
        line.library.extend(part.library.values().iter().copied());
    }

    eprintln!(
        "end to end through the emulator: {} rounds × {} warm invokes",
        options.rounds, options.invokes
    );
    let functions = functions(options, moto, &secret_arn, &parameters);
    let measured = end_to_end(options, &functions);

    eprintln!("idempotency: DynamoDB requests on the wire");
    let calls = harness_support::idempotency_calls(scenario);

    eprintln!(
        "clean release builds of the bare function and the minimal tern example, {} round(s)",
        options.build_rounds
    );
    let built_functions = [
        clean_build::Function {
            label: "bare lambda_runtime (`bench/src/bin/bare.rs`)",
            package: "tern-bench-bare",
            bin: "tern-bench-bare",
        },
        clean_build::Function {
            label: "tern, minimal features (`examples/batch-minimal`)",
            package: "tern-example-batch-minimal",
            bin: "tern-example-batch-minimal",
        },
    ];
    let built = clean_build::measure(&built_functions, options.build_rounds, &options.build_dir);

    // ---- tables ----
    let _ = writeln!(
        report,
        "### End to end through the Runtime Interface Emulator\n\n\
         10-record SQS batch, one invalid record; {} rounds alternating the implementations, \
         {} measured warm invokes per round after 20 unmeasured. median [p25–p75].\n\n\
         | implementation | busy time, ms | client latency, ms | cold init, ms | peak RSS, MiB |\n\
         |---|---|---|---|---|",
        options.rounds, options.invokes
    );
    for (function, m) in functions.iter().zip(&measured) {
        let _ = writeln!(
            report,
            "| {} | {} | {} | {} | {} |",
            function.label,
            m.busy.summary(3),
            m.client.summary(3),
            m.init.summary(1),
            m.rss_mib.summary(1)
        );
    }
    let _ = writeln!(
        report,
        "\nOne `GetSecretValue` to moto through a new client: {} ms on a new connection (as \
         at init), {} ms on a pooled one.\n",
        round_trips.new_connection.summary(2),
        round_trips.pooled.summary(2)
    );

    let per_record_ns =
        (rust.kinesis_full.median() - rust.kinesis_bare.median()) / 10_000.0 * 1000.0;
    let _ = writeln!(
        report,
        "### In process (no emulator, no network)\n\n\
         | workload | tern | bare Rust | Powertools Python |\n|---|---|---|---|\n\
         | 10-record SQS batch, µs | {} | {} | {} |\n\
         | 10,000-record Kinesis batch, ms | {:.2} | {:.2} | — |\n\
         | framework cost per Kinesis record, ns | {:.0} | — | — |\n",
        rust.sqs_full.summary(1),
        rust.sqs_bare.summary(1),
        python.summary(1),
        rust.kinesis_full.median() / 1000.0,
        rust.kinesis_bare.median() / 1000.0,
        per_record_ns
    );

    let _ = writeln!(
        report,
        "### One JSON log line, in process\n\n\
         The SQS example's per-order line inside the invocation and record spans, ns per line, \
         the three alternating.\n\n\
         | formatter | ns per line |\n|---|---|\n\
         | tern (`LambdaJsonFormat`) | {} |\n\
         | tern with tracing-subscriber's `SystemTime` clock | {} |\n\
         | tracing-subscriber's JSON (`fmt::layer().json()`) | {} |\n",
        line.tern.summary(0),
        line.library_clock.summary(0),
        line.library.summary(0)
    );

    let _ = writeln!(
        report,
        "### DynamoDB requests per idempotent invocation (counted on the wire, moto)\n\n\
         | case | requests | operations |\n|---|---|---|"
    );
    for (case, operations) in &calls.cases {
        let _ = writeln!(
            report,
            "| {case} | {} | {} |",
            operations.len(),
            if operations.is_empty() {
                "—".to_owned()
            } else {
                operations.join(", ")
            }
        );
    }

    let bootstrap = options.bootstrap.as_deref().and_then(file_size);
    let layer = options.layer.as_deref().and_then(file_size);
    let image = options.image.as_deref().and_then(image_size);
    let mb = |bytes: Option<u64>| {
        bytes.map_or("not built".to_owned(), |b| {
            format!("{:.2} MB ({b} bytes)", b as f64 / 1e6)
        })
    };
    let _ = writeln!(
        report,
        "\n### Sizes\n\n| artifact | size |\n|---|---|\n\
         | bootstrap (stripped, all handlers) | {} |\n| layer zip | {} |\n| image | {} |\n",
        mb(bootstrap),
        mb(layer),
        mb(image)
    );
    let _ = writeln!(
        report,
        "### The minimal function: size and clean build\n\n\
         The same SQS order function, each package alone: `cargo build --release` from an empty \
         target directory (release profile, stripped), {} round(s) alternated; the fastest \
         round. CPU is user + system time of cargo and the compilers.\n\n\
         | function | stripped binary | clean build, wall | clean build, CPU |\n|---|---|---|---|",
        options.build_rounds
    );
    for (function, m) in built_functions.iter().zip(&built) {
        let _ = writeln!(
            report,
            "| {} | {} | {:.0} s | {:.0} s |",
            function.label,
            mb(Some(m.size)),
            m.wall_s.quantile(0.0),
            m.cpu_s.quantile(0.0)
        );
    }
    let _ = writeln!(report);

    // ---- targets ----
    let (
        [
            full,
            full_secrets,
            full_prefetch,
            bare,
            bare_secrets,
            bare_prefetch,
            bare_mt,
            powertools,
        ],
        previous,
    ) = (&measured[..8], measured.get(8))
    else {
        unreachable!("eight implementations, then the previous release if given")
    };
    let _ = bare_mt;
    let mut targets = String::new();
    let mut row = |target: &str, measured: String, met: bool| {
        let _ = writeln!(targets, "| {target} | {measured} | {} |", verdict(met));
    };
    let warm = full.busy.median() / bare.busy.median();
    row(
        "warm busy time ≤ 1.05× bare current_thread",
        format!("{warm:.2}×"),
        warm <= 1.05,
    );
    if let (Some(previous), Some((_, rev))) = (previous, &options.previous) {
        // The same binary's source at the previous release, same workload, same rounds.
        let regression = full.busy.median() / previous.busy.median();
        row(
            &format!("warm busy time ≤ 1.03× the previous release ({rev})"),
            format!(
                "{regression:.3}× ({:.3} vs {:.3} ms)",
                full.busy.median(),
                previous.busy.median()
            ),
            regression <= 1.03,
        );
    }
    let vs_python = powertools.busy.median() / full.busy.median();
    row(
        "warm busy time ≥ 1.3× faster than Powertools",
        format!("{vs_python:.2}× faster"),
        vs_python >= 1.3,
    );
    let in_process = rust.sqs_full.median() / rust.sqs_bare.median();
    row(
        "in-process ≤ 1.2× bare",
        format!("{in_process:.2}×"),
        in_process <= 1.2,
    );
    let in_process_py = python.median() / rust.sqs_full.median();
    row(
        "in-process ≥ 2.5× faster than Powertools",
        format!("{in_process_py:.1}× faster"),
        in_process_py >= 2.5,
    );
    row(
        "framework cost < 1 µs per Kinesis record",
        format!("{per_record_ns:.0} ns"),
        per_record_ns < 1000.0,
    );
    let cold = full.init.median() / bare.init.median();
    row(
        "cold init ≤ 1.5× bare (no secrets)",
        format!("{cold:.2}×"),
        cold <= 1.5,
    );
    let cold_py = powertools.init.median() / full.init.median();
    row(
        "cold init ≥ 20× faster than Powertools",
        format!("{cold_py:.0}× faster"),
        cold_py >= 20.0,
    );
    // A function's first request at init opens its connection: the round trip it adds is
    // the new-connection one. The pooled one is shown too, the stricter reading.
    let round_trip = round_trips.new_connection.median();
    let budget = bare.init.median() + round_trip;
    row(
        "cold init with prefetch ≤ bare + one Secrets Manager round trip",
        format!(
            "{:.1} ms vs {:.1} + {round_trip:.1} = {budget:.1} ms (pooled round trip: {:.1} ms)",
            full_secrets.init.median(),
            bare.init.median(),
            round_trips.pooled.median()
        ),
        full_secrets.init.median() <= budget,
    );
    // Three parameters and a secret fetched concurrently, against the same fetched by hand
    // (one GetParameters, then GetSecretValue), with the same SDK and HTTP client.
    let prefetch = full_prefetch.init.median() / bare_prefetch.init.median();
    row(
        "cold init, 3 parameters + 1 secret prefetched ≤ 1.0× the same fetched by hand",
        format!(
            "{:.1} vs {:.1} ms ({prefetch:.2}×)",
            full_prefetch.init.median(),
            bare_prefetch.init.median()
        ),
        prefetch <= 1.0,
    );
    let rss = full
        .rss_mib
        .quantile(1.0)
        .max(full_secrets.rss_mib.quantile(1.0))
        .max(full_prefetch.rss_mib.quantile(1.0));
    row(
        "peak RSS ≤ 11 MiB",
        format!("{rss:.1} MiB (max)"),
        rss <= 11.0,
    );
    // The artifacts' sizes, those measured: (target, size, limit in bytes).
    for (target, size, limit) in [
        ("bootstrap ≤ 8 MB stripped", bootstrap, 8_000_000),
        ("layer zip ≤ 4 MB", layer, 4_000_000),
        ("image ≤ 10 MB", image, 10_000_000),
    ] {
        if let Some(size) = size {
            row(
                target,
                format!("{:.2} MB", size as f64 / 1e6),
                size <= limit,
            );
        }
    }
    let [built_bare, built_minimal] = &built[..] else {
        unreachable!("two clean builds")
    };
    let size_ratio = built_minimal.size as f64 / built_bare.size as f64;
    row(
        "minimal example ≤ 1.25× bare, stripped size",
        format!(
            "{size_ratio:.2}× ({:.2} vs {:.2} MB)",
            built_minimal.size as f64 / 1e6,
            built_bare.size as f64 / 1e6
        ),
        size_ratio <= 1.25,
    );
    let build_ratio = built_minimal.wall_s.quantile(0.0) / built_bare.wall_s.quantile(0.0);
    row(
        "minimal example clean release build ≤ 1.5× bare",
        format!(
            "{build_ratio:.2}× wall, {:.2}× CPU",
            built_minimal.cpu_s.quantile(0.0) / built_bare.cpu_s.quantile(0.0)
        ),
        build_ratio <= 1.5,
    );
    // Not a target: what prefetching through the secrets layer costs over fetching the same
    // secret by hand at init (same SDK, same HTTP client, same moto).
    let by_hand = format!(
        "Cold init with prefetch against a bare function that fetches the same secret at init \
         by hand: {:.1} vs {:.1} ms ({:.2}×).\n",
        full_secrets.init.median(),
        bare_secrets.init.median(),
        full_secrets.init.median() / bare_secrets.init.median()
    );
    (targets, by_hand, report)
}

fn main() {
    let options = options();
    eprintln!("starting moto");
    let scenario = Scenario::start();
    let (mut targets, by_hand, mut report) = if options.only.as_deref() == Some("api") {
        Default::default()
    } else {
        sqs(&options, &scenario)
    };

    eprintln!(
        "the api function against bare lambda_http: {} rounds × {} warm rounds of {} requests",
        options.rounds,
        options.invokes,
        api::workloads().len()
    );
    let workloads = api::workloads();
    let functions = api::functions(&scenario, &options.bin_dir, options.bootstrap.as_deref());
    let measured = api::measure(&functions, &workloads, options.rounds, 20, options.invokes);
    let (section, rows) = api::report(
        &functions,
        &workloads,
        &measured,
        options.rounds,
        options.invokes,
    );
    for (target, measured, met) in rows {
        let _ = writeln!(targets, "| {target} | {measured} | {} |", verdict(met));
    }
    report.push_str(&section);

    let report = format!(
        "### Targets\n\n| target | measured | verdict |\n|---|---|---|\n{targets}\n{by_hand}\n{report}"
    );
    print!("{report}");
    if let Some(out) = &options.out {
        std::fs::write(out, &report).expect("write the report");
        eprintln!("written to {}", out.display());
    }
}
