//! The JSON line: one flat object per event, with the fields of the spans it is in.

use std::fmt::{self, Write as _};

use tracing::{Event, Subscriber, field::Field, span};
use tracing_subscriber::{
    fmt::{
        FmtContext, FormatEvent, FormatFields, FormattedFields, format::Writer, time::FormatTime,
    },
    registry::LookupSpan,
};

use super::{
    escape::{JsonEscape, write_json_display, write_json_str},
    timestamp::UtcMicros,
};

/// Formats events as one flat JSON object per line, with the fields of enclosing spans.
///
/// It works with span fields rendered by [`LambdaJsonFields`] (the subscriber's `fmt_fields`,
/// as [`init`](super::init) sets it up): each span's fields are rendered once, when the span is created, and
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
        // the fields are written piece by piece; rendered here first, it is written once:
        // ~2,900 fewer instructions per invocation and record span pair (callgrind;
        // BENCHMARKS.md, "The log line").
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

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::EnvFilter;

    use crate::logging::Capture;

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
            "{\"timestamp\":\"2026-11-22T12:00:00.000000Z\",\"level\":\"INFO\",\"target\":\"tern_runtime::logging::format::tests\",\
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
        let prefix = "{\"timestamp\":\"2026-11-22T12:00:00.000000Z\",\"level\":\"INFO\",\"target\":\"tern_runtime::logging::format::tests\",";
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
            "{\"timestamp\":\"2026-11-22T12:00:00.000000Z\",\"level\":\"WARN\",\"target\":\"tern_runtime::logging::format::tests\",\
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
        let prefix = "{\"timestamp\":\"2026-11-22T12:00:00.000000Z\",\"level\":\"INFO\",\"target\":\"tern_runtime::logging::format::tests\",";
        assert_eq!(
            out,
            format!(
                "{prefix}\"message\":\"after\",\"first\":1,\"odd\":\"outer-value\",\"last\":\"z\"}}\n"
            )
        );
    }

    /// The escape every test above relies on, checked byte by byte: every ASCII byte at every
    /// position of strings that straddle the eight-byte words the scan reads, next to
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
