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

use std::{
    fmt::{self, Write as _},
    time::{Duration, UNIX_EPOCH},
};

use tracing::{Event, Subscriber, field::Field, level_filters::LevelFilter, span};
use tracing_subscriber::{
    EnvFilter, Layer, Registry,
    filter::FilterFn,
    fmt::{
        FmtContext, FormatEvent, FormatFields, FormattedFields,
        format::Writer,
        time::{FormatTime, SystemTime},
    },
    layer::SubscriberExt as _,
    registry::LookupSpan,
    util::{SubscriberInitExt as _, TryInitError},
};

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (default).
    Json,
    /// Human-readable text, span fields in braces.
    Text,
}

/// Where the level filter came from; reported once logging is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelSource {
    /// `AWS_LAMBDA_LOG_LEVEL`.
    LambdaLogLevel,
    /// `RUST_LOG`.
    RustLog,
    /// Neither was set (or usable): `INFO`.
    Default,
}

/// Resolved logging settings.
#[derive(Debug)]
pub struct LogSettings {
    /// Line format.
    pub format: LogFormat,
    /// Level directives in `EnvFilter` syntax.
    pub directives: String,
    /// Where `directives` came from.
    pub level_source: LevelSource,
    /// Problems with the environment that should be logged as warnings once logging works.
    pub warnings: Vec<String>,
}

impl LogSettings {
    /// Reads `AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL` and `RUST_LOG`.
    pub fn from_env() -> Self {
        let var = |name| std::env::var(name).ok();
        Self::from_vars(
            var("AWS_LAMBDA_LOG_FORMAT").as_deref(),
            var("AWS_LAMBDA_LOG_LEVEL").as_deref(),
            var("RUST_LOG").as_deref(),
        )
    }

    /// The same resolution from explicit values (unset = `None`).
    pub fn from_vars(
        format: Option<&str>,
        lambda_level: Option<&str>,
        rust_log: Option<&str>,
    ) -> Self {
        let mut warnings = Vec::new();
        let format = match format.map(str::trim) {
            None | Some("") => LogFormat::Json,
            Some(f) if f.eq_ignore_ascii_case("json") => LogFormat::Json,
            Some(f) if f.eq_ignore_ascii_case("text") => LogFormat::Text,
            Some(other) => {
                warnings.push(format!(
                    "AWS_LAMBDA_LOG_FORMAT={other:?} is not JSON or Text; using JSON"
                ));
                LogFormat::Json
            }
        };

        let lambda_level = lambda_level.map(str::trim).filter(|l| !l.is_empty());
        if let Some(level) = lambda_level {
            match lambda_level_directive(level) {
                Some(directive) => {
                    return Self {
                        format,
                        directives: directive.to_owned(),
                        level_source: LevelSource::LambdaLogLevel,
                        warnings,
                    };
                }
                None => warnings.push(format!(
                    "AWS_LAMBDA_LOG_LEVEL={level:?} is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL; ignoring it"
                )),
            }
        }
        if let Some(rust_log) = rust_log.map(str::trim).filter(|l| !l.is_empty()) {
            if EnvFilter::try_new(rust_log).is_ok() {
                return Self {
                    format,
                    directives: rust_log.to_owned(),
                    level_source: LevelSource::RustLog,
                    warnings,
                };
            }
            warnings.push(format!(
                "RUST_LOG={rust_log:?} is not a valid filter; using INFO"
            ));
        }
        Self {
            format,
            directives: "info".to_owned(),
            level_source: LevelSource::Default,
            warnings,
        }
    }
}

fn lambda_level_directive(level: &str) -> Option<&'static str> {
    Some(match level.to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" | "WARNING" => "warn",
        // tracing has no level above ERROR.
        "ERROR" | "FATAL" => "error",
        _ => return None,
    })
}

/// Installs the global subscriber writing to stdout, per [`LogSettings::from_env`].
///
/// Does nothing if a global subscriber is already installed (e.g. by a test).
pub fn init() {
    let settings = LogSettings::from_env();
    // A plain level (what `AWS_LAMBDA_LOG_LEVEL` and the default give) is a level filter: it
    // decides per callsite once. `EnvFilter` also looks every span up in its own tables, under
    // locks, when it is entered, exited and closed, which only directives with span or field
    // filters need.
    let installed = match plain_level(&settings.directives) {
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
pub(crate) const RAW_EVENT_TARGET: &str = "lambda_runtime::layers::api_response";

/// Whether `meta` is lambda_runtime's TRACE line with the raw invocation body, which is never
/// written: it would put the event's content in the logs, and lambda_runtime 1.5 converts the
/// body to UTF-8 with `?` for it, so a body that is not UTF-8 would end the run loop (and the
/// process) at TRACE while it is answered with `Runtime.UnmarshalError` at any other level.
/// Disabled here, the callsite is off for good: its arguments are never evaluated.
fn is_raw_event_line(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() == tracing::Level::TRACE && meta.target() == RAW_EVENT_TARGET && !meta.is_span()
}

/// A global filter that turns off [`is_raw_event_line`] and nothing else.
pub(crate) fn raw_event_filter() -> FilterFn<fn(&tracing::Metadata<'_>) -> bool> {
    FilterFn::new(|meta| !is_raw_event_line(meta))
}

/// The level `directives` name when they are one bare level name (`info`, `WARN`, …): no
/// target, span or field filter.
fn plain_level(directives: &str) -> Option<LevelFilter> {
    let directive = directives.trim();
    let named = ["off", "error", "warn", "info", "debug", "trace"]
        .iter()
        .any(|name| directive.eq_ignore_ascii_case(name));
    if named { directive.parse().ok() } else { None }
}

/// Formats events as one flat JSON object per line, with the fields of enclosing spans.
///
/// It works with span fields rendered by [`LambdaJsonFields`] (the subscriber's `fmt_fields`,
/// as [`init`] sets it up): each span's fields are rendered once, when the span is created, and
/// copied into every line logged inside it.
#[derive(Debug, Clone, Default)]
pub struct LambdaJsonFormat<T = UtcMicros> {
    timer: T,
}

impl LambdaJsonFormat {
    /// A formatter with RFC 3339 UTC timestamps ([`UtcMicros`]).
    pub fn new() -> Self {
        Self { timer: UtcMicros }
    }
}

impl<T> LambdaJsonFormat<T> {
    /// Uses another timestamp source (tests use a fixed one).
    pub fn with_timer<T2>(self, timer: T2) -> LambdaJsonFormat<T2> {
        LambdaJsonFormat { timer }
    }
}

impl<S, T> FormatEvent<S, LambdaJsonFields> for LambdaJsonFormat<T>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    T: FormatTime,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, LambdaJsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        self.timer.format_time(&mut writer)?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(meta.level().as_str())?;
        writer.write_str("\",\"target\":")?;
        write_json_str(&mut writer, meta.target())?;

        let mut visitor = JsonVisitor {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut visitor);
        visitor.result?;

        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<LambdaJsonFields>>() {
                    // Already `,"key":value` members of this object.
                    writer.write_str(&fields.fields)?;
                }
            }
        }
        writer.write_str("}\n")
    }
}

/// Timestamps as RFC 3339 in UTC with microseconds, `2026-11-22T12:00:00.123456Z`: the text
/// tracing-subscriber's `SystemTime` writes, put together digit by digit instead of through
/// `fmt` (a tenth of the work, on every log line).
#[derive(Debug, Clone, Copy, Default)]
pub struct UtcMicros;

impl FormatTime for UtcMicros {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let text = std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(rfc3339_micros);
        match text {
            Some(text) => w.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?),
            // A clock before 1970 or after 9999: the general formatter handles both.
            None => SystemTime.format_time(w),
        }
    }
}

/// `since_epoch` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`, or `None` after the year 9999.
fn rfc3339_micros(since_epoch: Duration) -> Option<[u8; 27]> {
    const SECS_PER_DAY: u64 = 86_400;
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_date(secs / SECS_PER_DAY);
    if year > 9999 {
        return None;
    }
    let time = secs % SECS_PER_DAY;
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    put_digits(&mut out[0..4], year);
    put_digits(&mut out[5..7], month);
    put_digits(&mut out[8..10], day);
    put_digits(&mut out[11..13], time / 3600);
    put_digits(&mut out[14..16], time / 60 % 60);
    put_digits(&mut out[17..19], time % 60);
    put_digits(&mut out[20..26], u64::from(since_epoch.subsec_micros()));
    Some(out)
}

/// Writes `value`'s last `out.len()` decimal digits into `out`, zero-padded.
fn put_digits(out: &mut [u8], mut value: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The proleptic Gregorian (year, month, day) of the day `days` after 1970-01-01.
///
/// Counts in 400-year eras (146,097 days each) of years that start on 1 March, so that the
/// leap day is the last day of its year; the month then follows from the day of the year with
/// one linear formula (the lengths 31, 30, 31, 30, 31 repeat from March on).
fn civil_date(days: u64) -> (u64, u64, u64) {
    // 1970-01-01 is day 719,468 counted from 0000-03-01.
    let days = days + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let (month, year_offset) = if month_from_march < 10 {
        (month_from_march + 3, 0)
    } else {
        (month_from_march - 9, 1)
    };
    (era * 400 + year_of_era + year_offset, month, day)
}

/// Renders span fields for [`LambdaJsonFormat`]: `,"key":value` per field, in the order the
/// fields were recorded, written straight into the span's buffer (no intermediate map).
///
/// A field recorded again later (`Span::record`) is appended; a key recorded twice therefore
/// appears twice in the line, and JSON readers keep the last value.
#[derive(Debug, Clone, Copy, Default)]
pub struct LambdaJsonFields;

impl<'writer> FormatFields<'writer> for LambdaJsonFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        // The span's buffer starts empty and would grow (allocate again) several times while
        // the fields are written piece by piece; rendered here first, it is written once.
        let mut fields = Some(fields);
        let buffered = SCRATCH.try_with(|scratch| {
            let mut scratch = scratch.try_borrow_mut().ok()?;
            let fields = fields.take()?;
            scratch.clear();
            let result = render_fields(&mut Writer::new(&mut *scratch), fields)
                .and_then(|()| writer.write_str(&scratch));
            if scratch.capacity() > SCRATCH_KEPT {
                *scratch = String::new();
            }
            Some(result)
        });
        match (buffered, fields) {
            (Ok(Some(result)), _) => result,
            // No scratch buffer at hand (the thread is exiting, or a field's `Debug` renders
            // a span of its own): write straight through.
            (_, Some(fields)) => render_fields(&mut writer, fields),
            (_, None) => unreachable!("the fields are taken only when they are rendered"),
        }
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &span::Record<'_>,
    ) -> fmt::Result {
        // Every member carries its own leading comma: appending needs no separator.
        self.format_fields(current.as_writer(), fields)
    }
}

thread_local! {
    /// Where [`LambdaJsonFields`] renders a span's fields before they go into its buffer.
    static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The most scratch space kept between spans; a larger rendering's buffer is let go.
const SCRATCH_KEPT: usize = 4096;

fn render_fields<R: tracing_subscriber::field::RecordFields>(
    writer: &mut Writer<'_>,
    fields: R,
) -> fmt::Result {
    let mut visitor = JsonVisitor {
        writer,
        result: Ok(()),
    };
    fields.record(&mut visitor);
    visitor.result
}

struct JsonVisitor<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl JsonVisitor<'_, '_> {
    fn key(&mut self, field: &Field) -> fmt::Result {
        // `,"` and `":` in one call each: two dynamic `Write` calls per key instead of four.
        self.writer.write_str(",\"")?;
        JsonEscape(&mut *self.writer).write_str(field.name())?;
        self.writer.write_str("\":")
    }

    fn emit(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| value(self.writer));
        }
    }
}

impl tracing::field::Visit for JsonVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.emit(field, |w| write_json_str(w, value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.emit(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.emit(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.emit(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.emit(field, |w| write!(w, "{value}"));
        } else {
            // JSON has no NaN or infinities.
            self.emit(field, |w| write!(w, "\"{value}\""));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.emit(field, |w| write_json_display(w, format_args!("{value}")));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.emit(field, |w| write_json_display(w, format_args!("{value:?}")));
    }
}

fn write_json_str(writer: &mut impl fmt::Write, value: &str) -> fmt::Result {
    writer.write_str("\"")?;
    JsonEscape(&mut *writer).write_str(value)?;
    writer.write_str("\"")
}

fn write_json_display(writer: &mut impl fmt::Write, value: fmt::Arguments<'_>) -> fmt::Result {
    writer.write_str("\"")?;
    JsonEscape(&mut *writer).write_fmt(value)?;
    writer.write_str("\"")
}

/// Escapes what it is given as the inside of a JSON string, streaming, without allocating.
///
/// Clean runs are handed to the inner writer whole; finding where a run ends looks at eight
/// bytes at a time, since most of what a log line carries (ids, ARNs, messages) has nothing to
/// escape.
struct JsonEscape<W>(W);

impl<W: fmt::Write> fmt::Write for JsonEscape<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let bytes = s.as_bytes();
        let mut start = 0;
        while let Some(i) = next_to_escape(bytes, start) {
            // `i` is an ASCII byte, so both slices end on character boundaries.
            self.0.write_str(&s[start..i])?;
            match bytes[i] {
                b'"' => self.0.write_str("\\\""),
                b'\\' => self.0.write_str("\\\\"),
                b'\n' => self.0.write_str("\\n"),
                b'\r' => self.0.write_str("\\r"),
                b'\t' => self.0.write_str("\\t"),
                byte => write!(self.0, "\\u{byte:04x}"),
            }?;
            start = i + 1;
        }
        self.0.write_str(&s[start..])
    }
}

/// Whether JSON needs `byte` escaped inside a string: a quote, a backslash, a control character.
const fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// The position of the first byte at or after `from` that [`needs_escape`].
fn next_to_escape(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let rest = bytes.get(from..)?;
    let mut words = rest.chunks_exact(8);
    let mut offset = from;
    for word in words.by_ref() {
        let word = u64::from_ne_bytes(word.try_into().expect("eight bytes"));
        // Per byte, the high bit of `(x - 0x01) & !x` is set for a zero byte and for none when
        // the word has no zero byte, so each test below is exact for the word as a whole
        // (control characters: `x - 0x20` borrows exactly for bytes below 0x20).
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let control = word.wrapping_sub(ONES * 0x20) & !word;
        let zero_in = |x: u64| x.wrapping_sub(ONES) & !x;
        if (control | zero_in(quote) | zero_in(backslash)) & HIGH != 0 {
            break;
        }
        offset += 8;
    }
    bytes[offset..]
        .iter()
        .position(|&byte| needs_escape(byte))
        .map(|position| offset + position)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    struct FixedTime;
    impl FormatTime for FixedTime {
        fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
            w.write_str("2026-11-22T12:00:00.000000Z")
        }
    }

    fn capture(f: impl FnOnce()) -> String {
        let out = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("trace"))
            .fmt_fields(LambdaJsonFields)
            .event_format(LambdaJsonFormat::new().with_timer(FixedTime))
            .with_writer(out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn json_line_is_flat_and_carries_span_fields() {
        let out = capture(|| {
            let span = tracing::info_span!(
                "invocation",
                requestId = "req-1",
                function_name = "orders",
                cold_start = true,
                xray_trace_id = "Root=1-abc"
            );
            let _g = span.enter();
            tracing::info!(count = 3, ok = false, ratio = 0.5, "processed \"batch\"\n");
        });
        assert_eq!(
            out,
            "{\"timestamp\":\"2026-11-22T12:00:00.000000Z\",\"level\":\"INFO\",\"target\":\"tern_runtime::logging::tests\",\
             \"message\":\"processed \\\"batch\\\"\\n\",\"count\":3,\"ok\":false,\"ratio\":0.5,\
             \"requestId\":\"req-1\",\"function_name\":\"orders\",\"cold_start\":true,\"xray_trace_id\":\"Root=1-abc\"}\n"
        );
        let parsed: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(parsed["requestId"], "req-1");
    }

    #[test]
    fn nested_spans_and_fields_recorded_later() {
        let out = capture(|| {
            let invocation = tracing::info_span!(
                "invocation",
                requestId = "req-2",
                status = tracing::field::Empty
            );
            let _outer = invocation.enter();
            let record = tracing::info_span!("batch_record", record_id = "a\"b\\c");
            let _inner = record.enter();
            tracing::info!("before");
            invocation.record("status", 200);
            tracing::info!("after");
        });
        let prefix = "{\"timestamp\":\"2026-11-22T12:00:00.000000Z\",\"level\":\"INFO\",\"target\":\"tern_runtime::logging::tests\",";
        assert_eq!(
            out,
            format!(
                "{prefix}\"message\":\"before\",\"requestId\":\"req-2\",\"record_id\":\"a\\\"b\\\\c\"}}\n\
                 {prefix}\"message\":\"after\",\"requestId\":\"req-2\",\"status\":200,\"record_id\":\"a\\\"b\\\\c\"}}\n"
            )
        );
        for line in out.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    #[test]
    fn json_line_outside_a_span_and_odd_values() {
        let out = capture(|| {
            let err = std::io::Error::other("disk \u{1} full");
            tracing::warn!(error = &err as &dyn std::error::Error, nan = f64::NAN, debug = ?vec![1, 2], "no span");
        });
        assert_eq!(
            out,
            "{\"timestamp\":\"2026-11-22T12:00:00.000000Z\",\"level\":\"WARN\",\"target\":\"tern_runtime::logging::tests\",\
             \"message\":\"no span\",\"error\":\"disk \\u0001 full\",\"nan\":\"NaN\",\"debug\":\"[1, 2]\"}\n"
        );
        serde_json::from_str::<serde_json::Value>(out.trim_end()).unwrap();
    }

    /// A field whose `Debug` opens a span and logs while the outer span's fields are being
    /// rendered: tracing does not dispatch from inside the subscriber (that span and line are
    /// dropped), and the outer span keeps exactly its own fields.
    #[test]
    fn span_fields_rendered_while_another_span_renders_its_own() {
        struct OpensSpan;
        impl fmt::Debug for OpensSpan {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let nested = tracing::info_span!("nested", depth = 2, tag = "in");
                let _entered = nested.enter();
                tracing::info!("inside debug");
                f.write_str("outer-value")
            }
        }
        let out = capture(|| {
            let outer = tracing::info_span!("outer", first = 1, odd = ?OpensSpan, last = "z");
            let _entered = outer.enter();
            tracing::info!("after");
        });
        let prefix = "{\"timestamp\":\"2026-11-22T12:00:00.000000Z\",\"level\":\"INFO\",\"target\":\"tern_runtime::logging::tests\",";
        assert_eq!(
            out,
            format!(
                "{prefix}\"message\":\"after\",\"first\":1,\"odd\":\"outer-value\",\"last\":\"z\"}}\n"
            )
        );
    }

    /// The escape every test above relies on, checked byte by byte: every ASCII byte at every
    /// position of strings that straddle the eight-byte words the scan reads, next to
    /// multi-byte characters, against the escape JSON defines.
    #[test]
    fn json_escape_every_ascii_byte_at_every_position() {
        fn expected(s: &str) -> String {
            let mut out = String::new();
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                    c => out.push(c),
                }
            }
            out
        }
        let fillers = ["abcdefghijklmnopqrstuvwxy", "é€😀ß", "\u{7f}\u{80}~ "];
        let mut checked = 0;
        for filler in fillers {
            let filler: Vec<char> = filler.chars().cycle().take(25).collect();
            for len in 0..=filler.len() {
                for position in 0..=len {
                    for byte in 0u8..0x80 {
                        let mut s: String = filler[..len].iter().collect();
                        let at = s.char_indices().nth(position).map_or(s.len(), |(i, _)| i);
                        s.insert(at, char::from(byte));
                        let mut out = String::new();
                        write_json_str(&mut out, &s).unwrap();
                        assert_eq!(out, format!("\"{}\"", expected(&s)), "{s:?}");
                        assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s);
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 3 * 128 * (1..=26).sum::<usize>());
        // Several escapes in one word, and nothing to escape at all.
        let mut out = String::new();
        write_json_str(&mut out, "a\"\\\n\r\t\u{0}b").unwrap();
        assert_eq!(out, r#""a\"\\\n\r\t\u0000b""#);
        out.clear();
        write_json_str(
            &mut out,
            "shardId-000000000000:49590338271490256608559692538361571095921575989130000001",
        )
        .unwrap();
        assert_eq!(
            out,
            "\"shardId-000000000000:49590338271490256608559692538361571095921575989130000001\""
        );
    }

    #[test]
    fn lambda_runtime_raw_event_line_is_never_enabled() {
        use tracing_subscriber::layer::SubscriberExt as _;
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

    #[test]
    fn level_resolution_order() {
        // (AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL, RUST_LOG) -> (format, directives, source, #warnings)
        let cases = [
            (
                None,
                None,
                None,
                LogFormat::Json,
                "info",
                LevelSource::Default,
                0,
            ),
            (
                Some("Text"),
                None,
                None,
                LogFormat::Text,
                "info",
                LevelSource::Default,
                0,
            ),
            (
                Some("json"),
                Some("DEBUG"),
                Some("trace"),
                LogFormat::Json,
                "debug",
                LevelSource::LambdaLogLevel,
                0,
            ),
            (
                None,
                Some("FATAL"),
                None,
                LogFormat::Json,
                "error",
                LevelSource::LambdaLogLevel,
                0,
            ),
            (
                None,
                None,
                Some("warn,tern=debug"),
                LogFormat::Json,
                "warn,tern=debug",
                LevelSource::RustLog,
                0,
            ),
            (
                None,
                Some("LOUD"),
                Some("warn"),
                LogFormat::Json,
                "warn",
                LevelSource::RustLog,
                1,
            ),
            (
                Some("xml"),
                None,
                Some("=[bad"),
                LogFormat::Json,
                "info",
                LevelSource::Default,
                2,
            ),
        ];
        for (format, level, rust_log, want_format, want_directives, want_source, warnings) in cases
        {
            let s = LogSettings::from_vars(format, level, rust_log);
            assert_eq!(s.format, want_format, "{format:?} {level:?} {rust_log:?}");
            assert_eq!(
                s.directives, want_directives,
                "{format:?} {level:?} {rust_log:?}"
            );
            assert_eq!(
                s.level_source, want_source,
                "{format:?} {level:?} {rust_log:?}"
            );
            assert_eq!(s.warnings.len(), warnings, "{:?}", s.warnings);
        }
    }

    #[test]
    fn a_bare_level_name_is_a_plain_level_filter_and_anything_else_an_env_filter() {
        let cases = [
            ("info", Some(LevelFilter::INFO)),
            (" WARN ", Some(LevelFilter::WARN)),
            ("error", Some(LevelFilter::ERROR)),
            ("Debug", Some(LevelFilter::DEBUG)),
            ("trace", Some(LevelFilter::TRACE)),
            ("off", Some(LevelFilter::OFF)),
            ("", None),
            ("3", None),
            ("info,aws_smithy_runtime=warn", None),
            ("tern_runtime=debug", None),
            ("tern_runtime", None),
            ("[batch_record]=debug", None),
            ("[{record_id}]", None),
        ];
        for (directives, expected) in cases {
            assert_eq!(plain_level(directives), expected, "{directives:?}");
        }
        // Every level Lambda's setting can name resolves to a plain level.
        for level in [
            "TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL",
        ] {
            let settings = LogSettings::from_vars(None, Some(level), None);
            assert!(plain_level(&settings.directives).is_some(), "{level}");
        }
    }

    /// The date of every day from 1970 to 9999, against a walk through the calendar one day at
    /// a time with the month lengths and the leap-year rule written out.
    #[test]
    fn timestamp_dates_follow_the_gregorian_calendar_for_every_day_to_9999() {
        let leap =
            |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
        let (mut year, mut month, mut day) = (1970, 1, 1);
        let mut days = 0;
        loop {
            assert_eq!(civil_date(days), (year, month, day), "day {days}");
            let length = match month {
                2 if leap(year) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            day += 1;
            if day > length {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
            if year == 10_000 {
                break;
            }
            days += 1;
        }
        assert_eq!(days, 2_932_896, "9999-12-31 is day 2,932,896");
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let text = |secs: u64, micros: u32| {
            rfc3339_micros(Duration::new(secs, micros * 1_000))
                .map(|t| String::from_utf8(t.to_vec()).unwrap())
        };
        assert_eq!(text(0, 0).unwrap(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(text(951_782_400, 1).unwrap(), "2000-02-29T00:00:00.000001Z");
        assert_eq!(
            text(1_795_000_805, 100_000).unwrap(),
            "2026-11-18T11:20:05.100000Z"
        );
        assert_eq!(
            text(4_107_542_399, 999_999).unwrap(),
            "2100-02-28T23:59:59.999999Z"
        );
        assert_eq!(
            text(253_402_300_799, 999_999).unwrap(),
            "9999-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            text(253_402_300_800, 0),
            None,
            "year 10000 goes to the general path"
        );
        // Nanoseconds are truncated to microseconds, as tracing-subscriber does.
        let truncated = rfc3339_micros(Duration::new(0, 999)).unwrap();
        assert_eq!(&truncated[20..26], b"000000");
    }

    #[test]
    fn timestamps_agree_with_tracing_subscribers_system_time() {
        let render = |timer: &dyn FormatTime| {
            let mut out = String::new();
            timer.format_time(&mut Writer::new(&mut out)).unwrap();
            out
        };
        // Ours before and after theirs: theirs matches one of them to the second (and in
        // shape), whichever second boundary falls in between.
        let before = render(&UtcMicros);
        let theirs = render(&SystemTime);
        let after = render(&UtcMicros);
        assert_eq!(before.len(), theirs.len());
        assert!(
            [&before[..19], &after[..19]].contains(&&theirs[..19]),
            "{before} / {theirs} / {after}"
        );
        assert!(theirs.ends_with('Z') && before.ends_with('Z') && &before[19..20] == ".");
    }

    #[test]
    fn integer_and_bool_fields_are_json_numbers_and_literals() {
        let out = capture(|| {
            tracing::info!(
                small = 0u64,
                big = u64::MAX,
                negative = i64::MIN,
                yes = true,
                no = false,
                "numbers"
            );
        });
        let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(line["small"], 0);
        assert_eq!(line["big"], u64::MAX);
        assert_eq!(line["negative"], i64::MIN);
        assert_eq!(line["yes"], true);
        assert_eq!(line["no"], false);
        assert!(out.contains(r#""big":18446744073709551615,"negative":-9223372036854775808,"yes":true,"no":false"#), "{out}");
    }
}
