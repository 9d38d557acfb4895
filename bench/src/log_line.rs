//! The cost of one JSON log line, in process: tern's formatter against the same formatter with
//! tracing-subscriber's clock, and against tracing-subscriber's own JSON formatter (its clock,
//! serde_json's escaping, span fields stored as JSON and read back for every line).
//!
//! The line is the one the SQS example writes per stored order, inside the invocation span
//! (request id, function name, cold start, X-Ray trace id) and the batch layer's record span.
//! The three formatters alternate sample by sample, each through its own subscriber writing to
//! a sink. What tern writes by hand (the clock, the escaping, the span fields' buffer) is kept
//! only where this shows a saving; BENCHMARKS.md has the instruction counts per part.

use std::{hint::black_box, time::Instant};

use tern_runtime::logging::{LambdaJsonFields, LambdaJsonFormat};
use tracing::{Dispatch, level_filters::LevelFilter};
use tracing_subscriber::{fmt::time::SystemTime, layer::SubscriberExt as _};

use crate::stats::Samples;

/// Nanoseconds per line, one sample per batch of lines.
#[derive(Debug, Default)]
pub struct LogLine {
    /// tern's formatter, as `logging::init` installs it.
    pub tern: Samples,
    /// The same with tracing-subscriber's `SystemTime` instead of tern's clock.
    pub library_clock: Samples,
    /// tracing-subscriber's JSON formatter (flattened event, span list).
    pub library: Samples,
}

fn subscriber<L>(layer: L) -> Dispatch
where
    L: tracing_subscriber::Layer<
            tracing_subscriber::layer::Layered<LevelFilter, tracing_subscriber::Registry>,
        > + Send
        + Sync
        + 'static,
{
    Dispatch::new(
        tracing_subscriber::registry()
            .with(LevelFilter::INFO)
            .with(layer),
    )
}

fn formatters() -> [Dispatch; 3] {
    [
        subscriber(
            tracing_subscriber::fmt::layer()
                .fmt_fields(LambdaJsonFields)
                .event_format(LambdaJsonFormat::new())
                .with_writer(std::io::sink),
        ),
        subscriber(
            tracing_subscriber::fmt::layer()
                .fmt_fields(LambdaJsonFields)
                .event_format(LambdaJsonFormat::new().with_timer(SystemTime))
                .with_writer(std::io::sink),
        ),
        subscriber(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(true)
                .with_writer(std::io::sink),
        ),
    ]
}

/// `lines` lines inside an invocation span and a record span; nanoseconds per line.
fn sample(dispatch: &Dispatch, lines: u32) -> f64 {
    tracing::dispatcher::with_default(dispatch, || {
        let invocation = tracing::info_span!(
            "invocation",
            requestId = "8f5c2a9e-bench-4000-8000-000000000000",
            function_name = "orders",
            cold_start = false,
            xray_trace_id =
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        );
        let _invocation = invocation.enter();
        let record = tracing::info_span!(
            "batch_record",
            record_id = "4f9e2a1c-0001-4c1e-9a51-1d2f3a4b5c01"
        );
        let _record = record.enter();
        let order_id = black_box(String::from("o-1001"));
        let start = Instant::now();
        for _ in 0..lines {
            tracing::info!(order_id = %order_id, total_cents = 2598u64, "order stored");
        }
        start.elapsed().as_secs_f64() * 1e9 / f64::from(lines)
    })
}

/// `samples` samples of each formatter, alternating.
pub fn run(samples: usize) -> LogLine {
    let [tern, library_clock, library] = formatters();
    let lines = 2_000;
    for dispatch in [&tern, &library_clock, &library] {
        sample(dispatch, lines);
    }
    let mut out = LogLine::default();
    for _ in 0..samples {
        out.tern.push(sample(&tern, lines));
        out.library_clock.push(sample(&library_clock, lines));
        out.library.push(sample(&library, lines));
    }
    out
}
