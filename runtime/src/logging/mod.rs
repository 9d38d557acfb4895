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

pub(crate) mod buffer;
mod escape;
mod filter;
mod format;
pub mod settings;
mod timestamp;
mod writer;

use std::hash::{BuildHasher as _, RandomState};

use tracing::Dispatch;
use tracing_subscriber::{
    EnvFilter, Layer, Registry,
    fmt::{MakeWriter, time::FormatTime},
    layer::SubscriberExt as _,
};

pub use format::{LambdaJsonFields, LambdaJsonFormat};
pub use settings::{InvocationLogSettings, LevelSource, LogFormat, LogSettings};
pub use timestamp::UtcMicros;

use crate::init::InitError;

/// Installs the global subscriber writing to stdout, per [`LogSettings::from_env`].
///
/// Does nothing if a global subscriber is already installed (e.g. by a test). An error is a
/// sampling or buffering variable that cannot be used: logging is installed without them, so
/// that the error can be reported.
pub fn init() -> Result<(), InitError> {
    let settings = LogSettings::from_env();
    let installed =
        tracing::dispatcher::set_global_default(dispatch(&settings, std::io::stdout, UtcMicros));
    if installed.is_ok() {
        for warning in &settings.warnings {
            tracing::warn!("{warning}");
        }
    }
    settings.invocations.map(drop)
}

/// The subscriber [`init`] installs, writing to `writer` with `timer`'s timestamps (tests
/// capture lines with a fixed time).
pub(crate) fn dispatch<W, T>(settings: &LogSettings, writer: W, timer: T) -> Dispatch
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    T: FormatTime + Clone + Send + Sync + 'static,
{
    // A plain level (what `AWS_LAMBDA_LOG_LEVEL` and the default give) is a level filter: it
    // decides per callsite once. `EnvFilter` also looks every span up in its own tables, under
    // locks, when it is entered, exited and closed, which only directives with span or field
    // filters need. Lines below the level are let through only when invocations may want
    // them, and only with a plain level (`settings` warns otherwise).
    let below_level = settings
        .invocations
        .as_ref()
        .is_ok_and(InvocationLogSettings::below_level);
    let format = settings.format;
    match settings.plain_level() {
        Some(level) if below_level => {
            let writer = writer::InvocationWriter {
                inner: writer,
                level,
                format,
                timer: timer.clone(),
            };
            subscriber(filter::InvocationLevel { level }, format, writer, timer)
        }
        Some(level) => subscriber(level, format, writer, timer),
        None => subscriber(EnvFilter::new(&settings.directives), format, writer, timer),
    }
}

fn subscriber<F, W, T>(filter: F, format: LogFormat, writer: W, timer: T) -> Dispatch
where
    F: Layer<Registry> + Send + Sync + 'static,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    T: FormatTime + Send + Sync + 'static,
{
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(filter::lambda_runtime_lines());
    match format {
        LogFormat::Json => Dispatch::new(
            subscriber.with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(LambdaJsonFields)
                    .event_format(LambdaJsonFormat::new().with_timer(timer))
                    .with_writer(writer),
            ),
        ),
        LogFormat::Text => Dispatch::new(
            subscriber.with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(writer),
            ),
        ),
    }
}

/// One draw of the sampling decision: `true` with probability `below / u64::MAX`.
pub(crate) fn sample(below: u64) -> bool {
    // `RandomState` seeds SipHash from the OS once per thread and varies the key on every
    // `new`, which is random enough to pick invocations and costs no dependency.
    RandomState::new().hash_one(0u8) <= below
}

/// Captures the lines a test's subscriber writes.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Capture(pub(crate) std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sampling_draws_follow_the_rate() {
        assert!((0..1_000).all(|_| super::sample(u64::MAX)));
        let half = (0..10_000).filter(|_| super::sample(u64::MAX / 2)).count();
        assert!((4_500..=5_500).contains(&half), "{half} of 10000");
        let tenth = (0..10_000).filter(|_| super::sample(u64::MAX / 10)).count();
        assert!((800..=1_200).contains(&tenth), "{tenth} of 10000");
    }
}
