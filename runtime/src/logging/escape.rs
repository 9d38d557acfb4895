//! JSON string escaping for log lines, streaming into the line without allocating.

use std::fmt::{self, Write as _};

/// `value` as a JSON string, quotes included.
pub(super) fn write_json_str(writer: &mut impl fmt::Write, value: &str) -> fmt::Result {
    writer.write_str("\"")?;
    JsonEscape(&mut *writer).write_str(value)?;
    writer.write_str("\"")
}

/// The text `value` formats to, as a JSON string, quotes included (never held in a `String`).
pub(super) fn write_json_display(
    writer: &mut impl fmt::Write,
    value: fmt::Arguments<'_>,
) -> fmt::Result {
    writer.write_str("\"")?;
    JsonEscape(&mut *writer).write_fmt(value)?;
    writer.write_str("\"")
}

/// Escapes what it is given as the inside of a JSON string, streaming, without allocating:
/// clean runs are handed to the inner writer whole. Finding where a run ends looks at eight
/// bytes at a time ([`next_to_escape`]), since most of what lines and span fields carry (ids,
/// ARNs, messages) has nothing to escape: against a byte-by-byte search that saves ~4,900
/// instructions per invocation of the full stack's 10-record SQS batch (its invocation and
/// record spans and its line; callgrind, BENCHMARKS.md "Session 11").
///
/// Written here rather than taken from serde_json, which escapes only into an `io::Write`:
/// bridging that to the line's `fmt::Write` (a buffer, a UTF-8 check of what it wrote and a
/// copy per value) cost ~1,350 more instructions per log line and ~2,550 per invocation and
/// record span pair (callgrind; BENCHMARKS.md, "The log line").
pub(super) struct JsonEscape<W>(pub(super) W);

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
    let mut offset = from;
    for word in rest.chunks_exact(8) {
        let word = u64::from_ne_bytes(word.try_into().expect("eight bytes"));
        // The high bits of `(x - 0x01) & !x` are all clear exactly when the word has no zero
        // byte, and those of `(x - 0x20) & !x` exactly when it has no byte below 0x20: exact
        // for the word as a whole (a borrow may flag the wrong byte of it), so the byte scan
        // below finds the position.
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

    /// The escape every log line relies on, checked byte by byte: every ASCII byte at every
    /// position of strings of several lengths, next to multi-byte characters, against the
    /// escape JSON defines.
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
        // Several escapes in a row, and nothing to escape at all.
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
}
