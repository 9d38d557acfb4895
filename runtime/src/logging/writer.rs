//! Where a formatted line goes: out, into the invocation's buffer, or nowhere; and the buffer
//! out before the invocation's first ERROR line.

use std::{fmt::Write as _, io};

use tracing::{Level, Metadata, level_filters::LevelFilter};
use tracing_subscriber::fmt::{MakeWriter, format::Writer, time::FormatTime};

use super::{LogFormat, buffer::InvocationIds, escape::write_json_str};
use crate::invocation::with_current;

/// Sends each line according to its level and the invocation on the current task: lines at
/// the level go to `inner`; lines below it (only enabled inside a sampled or buffering
/// invocation, see `filter::InvocationLevel`) go to `inner` when the invocation is sampled
/// and into its buffer when it buffers. An ERROR line first writes out what the buffer holds.
#[derive(Debug, Clone)]
pub(super) struct InvocationWriter<M, T> {
    pub(super) inner: M,
    pub(super) level: LevelFilter,
    pub(super) format: LogFormat,
    /// The formatter's clock, for the line that reports dropped lines.
    pub(super) timer: T,
}

/// The writer of one line.
pub(super) enum Line<W> {
    Out(W),
    Keep,
    Discard,
}

impl<'a, M: MakeWriter<'a>, T: FormatTime> MakeWriter<'a> for InvocationWriter<M, T> {
    type Writer = Line<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Line::Out(self.inner.make_writer())
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        if self.level >= *meta.level() {
            if *meta.level() == Level::ERROR
                && let Some((notice, lines)) = self.take_buffered()
            {
                let mut out = self.inner.make_writer();
                for line in notice
                    .iter()
                    .map(String::as_bytes)
                    .chain(lines.iter().map(|l| &**l))
                {
                    let _ = io::Write::write_all(&mut out, line);
                }
            }
            return Line::Out(self.inner.make_writer_for(meta));
        }
        let sampled = with_current(|current| {
            if current.log.sampled {
                Some(true)
            } else {
                current.log.buffer.is_some().then_some(false)
            }
        });
        match sampled.flatten() {
            Some(true) => Line::Out(self.inner.make_writer_for(meta)),
            Some(false) => Line::Keep,
            None => Line::Discard,
        }
    }
}

/// What an invocation's buffer held, taken for writing out.
type Buffered = (Option<String>, std::collections::VecDeque<Box<[u8]>>);

impl<M, T: FormatTime> InvocationWriter<M, T> {
    /// Empties the current invocation's buffer: the line saying how many older lines did not
    /// fit (if any did not), and the lines kept, oldest first. `None` when nothing was kept.
    fn take_buffered(&self) -> Option<Buffered> {
        with_current(|current| {
            let mut buffer = current.log.buffer.as_ref()?.try_borrow_mut().ok()?;
            let (lines, dropped) = buffer.take();
            let notice = (dropped > 0).then(|| self.dropped_notice(dropped, &buffer.ids));
            (notice.is_some() || !lines.is_empty()).then_some((notice, lines))
        })
        .flatten()
    }

    /// The WARN line that reports buffered lines dropped to keep within the bound, in the
    /// configured format, with the invocation's ids.
    fn dropped_notice(&self, dropped: usize, ids: &InvocationIds) -> String {
        let message = format!(
            "the log buffer was full: {dropped} older line{} below the level {} dropped \
             (TERN_LOG_BUFFER_MAX_BYTES)",
            if dropped == 1 { "" } else { "s" },
            if dropped == 1 { "was" } else { "were" },
        );
        let mut line = String::with_capacity(message.len() + 200);
        let _ = write_notice(&mut line, self.format, &self.timer, &message, dropped, ids);
        line
    }
}

fn write_notice(
    line: &mut String,
    format: LogFormat,
    timer: &impl FormatTime,
    message: &str,
    dropped: usize,
    ids: &InvocationIds,
) -> std::fmt::Result {
    let target = "tern_runtime::logging";
    match format {
        LogFormat::Json => {
            line.push_str("{\"timestamp\":\"");
            timer.format_time(&mut Writer::new(line))?;
            write!(
                line,
                "\",\"level\":\"WARN\",\"target\":\"{target}\",\"message\":"
            )?;
            write_json_str(line, message)?;
            write!(line, ",\"dropped_lines\":{dropped},\"requestId\":")?;
            write_json_str(line, &ids.request_id)?;
            line.push_str(",\"correlation_id\":");
            write_json_str(line, &ids.correlation_id)?;
            line.push_str("}\n");
        }
        LogFormat::Text => {
            timer.format_time(&mut Writer::new(line))?;
            writeln!(
                line,
                "  WARN invocation{{requestId={} correlation_id={}}}: {target}: {message} \
                 dropped_lines={dropped}",
                ids.request_id, ids.correlation_id
            )?;
        }
    }
    Ok(())
}

impl<W: io::Write> io::Write for Line<W> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        match self {
            Self::Out(out) => out.write(line),
            Self::Keep => {
                // The formatter hands over a whole line in one call.
                with_current(|current| {
                    if let Some(buffer) = &current.log.buffer
                        && let Ok(mut buffer) = buffer.try_borrow_mut()
                    {
                        buffer.push(line);
                    }
                });
                Ok(line.len())
            }
            Self::Discard => Ok(line.len()),
        }
    }

    fn write_all(&mut self, line: &[u8]) -> io::Result<()> {
        match self {
            Self::Out(out) => out.write_all(line),
            Self::Keep | Self::Discard => self.write(line).map(drop),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Out(out) => out.flush(),
            Self::Keep | Self::Discard => Ok(()),
        }
    }
}
