//! Structured logging that follows Lambda's log controls.
//!
//! - Format: `AWS_LAMBDA_LOG_FORMAT` = `JSON` (the default here) or `Text`.
//! - Level: `AWS_LAMBDA_LOG_LEVEL` (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`), else
//!   `RUST_LOG` (full `tracing` directive syntax, e.g. `info,aws_smithy_runtime=warn`), else `INFO`.
//!
//! A JSON line has `timestamp`, `level`, `target`, `message`, the event's own fields, and the
//! fields of the spans it is in. Inside an invocation that includes `requestId` (the key Lambda's
//! own JSON logs use, so CloudWatch Logs Insights queries work unchanged), `function_name`,
//! `cold_start` and, when tracing is active, `xray_trace_id`:
//!
//! ```text
//! {"timestamp":"2026-11-22T12:00:00.123456Z","level":"INFO","target":"tern_functions::echo","message":"echo","length":5,"requestId":"8f5c…","function_name":"orders","cold_start":true}
//! ```
//!
//! [`settings`] reads the environment; [`LambdaJsonFormat`] and [`LambdaJsonFields`] write the
//! lines. Three parts of the formatter are written by hand because each measurably shortens
//! every line or span against the library it replaces (BENCHMARKS.md, "The log line"): the
//! timestamp ([`UtcMicros`], not tracing-subscriber's `SystemTime`), the JSON string escape
//! (streaming into the line, not serde_json's) and the per-thread buffer span fields are
//! rendered in.

mod escape;
mod format;
pub mod settings;
mod timestamp;

use tracing_subscriber::{
    EnvFilter, Layer, Registry,
    filter::FilterFn,
    layer::SubscriberExt as _,
    util::{SubscriberInitExt as _, TryInitError},
};

pub use format::{LambdaJsonFields, LambdaJsonFormat};
pub use settings::{LevelSource, LogFormat, LogSettings};
pub use timestamp::UtcMicros;

/// Installs the global subscriber writing to stdout, per [`LogSettings::from_env`].
///
/// Does nothing if a global subscriber is already installed (e.g. by a test).
pub fn init() {
    let settings = LogSettings::from_env();
    // A plain level (what `AWS_LAMBDA_LOG_LEVEL` and the default give) is a level filter: it
    // decides per callsite once. `EnvFilter` also looks every span up in its own tables, under
    // locks, when it is entered, exited and closed, which only directives with span or field
    // filters need.
    let installed = match settings.plain_level() {
        Some(level) => install(level, settings.format),
        None => install(EnvFilter::new(&settings.directives), settings.format),
    };
    if installed.is_ok() {
        for warning in &settings.warnings {
            tracing::warn!("{warning}");
        }
    }
}

fn install<F>(filter: F, format: LogFormat) -> Result<(), TryInitError>
where
    F: Layer<Registry> + Send + Sync + 'static,
{
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(raw_event_filter());
    match format {
        LogFormat::Json => subscriber
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(LambdaJsonFields)
                    .event_format(LambdaJsonFormat::new())
                    .with_writer(std::io::stdout),
            )
            .try_init(),
        LogFormat::Text => subscriber
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(std::io::stdout),
            )
            .try_init(),
    }
}

/// The target of lambda_runtime's TRACE line with the raw invocation body.
const RAW_EVENT_TARGET: &str = "lambda_runtime::layers::api_response";

/// Whether `meta` is lambda_runtime's TRACE line with the raw invocation body, which is never
/// written: it would put the event's content in the logs, and lambda_runtime 1.5 converts the
/// body to UTF-8 with `?` for it, so a body that is not UTF-8 would end the run loop (and the
/// process) at TRACE while it is answered with `Runtime.UnmarshalError` at any other level.
/// Disabled here, the callsite is off for good: its arguments are never evaluated.
fn is_raw_event_line(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() == tracing::Level::TRACE && meta.target() == RAW_EVENT_TARGET && !meta.is_span()
}

/// A global filter that turns off [`is_raw_event_line`] and nothing else.
fn raw_event_filter() -> FilterFn<fn(&tracing::Metadata<'_>) -> bool> {
    FilterFn::new(|meta| !is_raw_event_line(meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::level_filters::LevelFilter;

    #[test]
    fn lambda_runtime_raw_event_line_is_never_enabled() {
        let subscriber = tracing_subscriber::registry()
            .with(LevelFilter::TRACE)
            .with(raw_event_filter());
        tracing::subscriber::with_default(subscriber, || {
            assert!(!tracing::enabled!(
                target: "lambda_runtime::layers::api_response",
                tracing::Level::TRACE
            ));
            assert!(tracing::enabled!(
                target: "lambda_runtime::layers::api_response",
                tracing::Level::DEBUG
            ));
            assert!(tracing::enabled!(target: "lambda_runtime::runtime", tracing::Level::TRACE));
        });
    }
}
