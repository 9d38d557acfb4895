//! Error messages about events that say what is wrong without repeating what the event holds.
//!
//! serde's data errors quote the input (`invalid type: string "4111 1111 …", expected u32`), and
//! error responses travel on: to the caller, to an async invocation's failure destination, to
//! logs. These helpers keep the part that comes from the handler's type and drop the input.

mod names;

use std::fmt::Write as _;

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

/// What stands in a path for an object key the event holds but the handler's type does not
/// name (a map's key).
const WITHHELD_KEY: &str = "<withheld>";

/// Kinds serde names in `invalid type` / `invalid value` messages, without the value.
const UNEXPECTED_KINDS: [&str; 16] = [
    "boolean",
    "integer",
    "floating point",
    "character",
    "string",
    "byte array",
    "unit value",
    "Option value",
    "newtype struct",
    "sequence",
    "map",
    "enum",
    "unit variant",
    "newtype variant",
    "tuple variant",
    "struct variant",
];

/// Keeps what a serde data error says about the handler's type and drops what it quotes from
/// the input (`invalid type: string "4111…", expected u32` → `invalid type: string, expected
/// u32`). Unknown (custom) messages are withheld entirely: they may contain anything.
pub fn redact_serde_message(message: &str) -> String {
    // Field names in these messages come from the handler's type, not from the input.
    if message.starts_with("missing field `")
        || message.starts_with("duplicate field `")
        || message.starts_with("invalid length ")
    {
        return message.to_owned();
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            // The input comes first; the expectation, from the type, after the last separator.
            if let Some((unexpected, expected)) = rest.rsplit_once(", expected ") {
                let kind = UNEXPECTED_KINDS
                    .iter()
                    .filter(|kind| unexpected.starts_with(**kind))
                    .max_by_key(|kind| kind.len())
                    .copied()
                    .unwrap_or("value");
                return format!("{prefix}{kind}, expected {expected}");
            }
        }
    }
    for (prefix, what) in [
        ("unknown variant `", "unknown variant"),
        ("unknown field `", "unknown field"),
    ] {
        if message.starts_with(prefix) {
            return match message.rsplit_once(", expected ") {
                Some((_, expected)) => format!("{what} (name withheld), expected {expected}"),
                None => format!("{what} (name withheld)"),
            };
        }
    }
    "a custom deserialization error (message withheld: it may quote the record)".to_owned()
}

/// Fixed texts of serde_json's syntax errors: they describe the input's shape, never its content.
const SYNTAX_MESSAGES: [&str; 18] = [
    "EOF while parsing",
    "expected `:`",
    "expected `,` or `]`",
    "expected `,` or `}`",
    "expected ident",
    "expected value",
    "expected `\"`",
    "invalid escape",
    "invalid number",
    "number out of range",
    "invalid unicode code point",
    "control character (\\u0000-\\u001F) found while parsing a string",
    "key must be a string",
    "lone leading surrogate in hex escape",
    "trailing comma",
    "trailing characters",
    "unexpected end of hex escape",
    "recursion limit exceeded",
];

/// Redacts a JSON decoding error message (`<message> at line L column C`): syntax messages are
/// kept, data messages go through [`redact_serde_message`], the position is kept.
pub fn redact_json_error_message(message: &str) -> String {
    let (text, position) = match message.rfind(" at line ") {
        Some(at) => message.split_at(at),
        None => (message, ""),
    };
    if SYNTAX_MESSAGES
        .iter()
        .any(|syntax| text.starts_with(syntax))
    {
        return message.to_owned();
    }
    format!("{}{position}", redact_serde_message(text))
}

/// Decodes `input` as JSON into `T`, like `serde_json::from_slice`; when it does not decode,
/// the reason names the path of the offending field and withholds the input's content:
/// `[lines[1].qty] invalid value: integer, expected u32 at line 1 column 38`. Object keys on
/// the path that `T` does not declare (a map's keys, an unknown field) are withheld too.
///
/// The path is only tracked, in a second decode, once the first has failed: a valid input
/// costs what `serde_json::from_slice` costs.
pub fn decode_json<T: DeserializeOwned>(input: &[u8]) -> Result<T, String> {
    serde_json::from_slice(input).map_err(|first| {
        let jd = &mut serde_json::Deserializer::from_slice(input);
        match serde_path_to_error::deserialize::<_, T>(jd) {
            Err(tracked) => with_path::<T>(tracked),
            // Only the end-of-input check (trailing characters) can fail the first decode alone.
            Ok(_) => redact_json_error_message(&first.to_string()),
        }
    })
}

/// `[path] reason` of a path-tracked error of decoding into `T` (no prefix at the top
/// level), content withheld: the path keeps indexes and the names `T` declares, and shows
/// `<withheld>` for any other key; the unknown field of an `unknown field` error is left out
/// (the reason says it is unknown, and what was expected).
pub(crate) fn with_path<T: DeserializeOwned>(
    error: serde_path_to_error::Error<serde_json::Error>,
) -> String {
    let reason = redact_json_error_message(&error.inner().to_string());
    let declared = names::declared::<T>(error.path());
    let mut segments: Vec<&Segment> = error.path().iter().collect();
    if reason.starts_with("unknown field")
        && let Some(Segment::Map { key }) = segments.last()
        && !declared.contains(key.as_str())
    {
        segments.pop();
    }
    let mut path = String::new();
    for segment in segments {
        let name = match segment {
            Segment::Seq { index } => {
                let _ = write!(path, "[{index}]");
                continue;
            }
            Segment::Map { key: name } | Segment::Enum { variant: name } => {
                if declared.contains(name.as_str()) {
                    name.as_str()
                } else {
                    WITHHELD_KEY
                }
            }
            Segment::Unknown => "?",
        };
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(name);
    }
    if path.is_empty() {
        reason
    } else {
        format!("[{path}] {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Payment {
        id: String,
        amount_cents: u64,
    }

    #[test]
    fn decode_json_names_the_field_and_withholds_the_value() {
        let cases = [
            (
                r#"{"id":"p","amount_cents":"4111"}"#,
                "[amount_cents] invalid type: string, expected u64 at line 1 column 31",
            ),
            (
                r#"{"id":"p","amount_cents":-5}"#,
                "[amount_cents] invalid value: integer, expected u64 at line 1 column 27",
            ),
            (
                r#"{"id":"p","amount_cents":1e400}"#,
                "[amount_cents] number out of range at line 1 column 30",
            ),
            (
                r#"{"id":"p"}"#,
                "missing field `amount_cents` at line 1 column 10",
            ),
            (
                r#"{"id":"p","amount_cents":1} 4111"#,
                "trailing characters at line 1 column 29",
            ),
        ];
        for (json, expected) in cases {
            let got = decode_json::<Payment>(json.as_bytes()).unwrap_err();
            assert_eq!(got, expected, "{json}");
        }
        assert_eq!(
            decode_json::<Payment>(br#"{"id":"p","amount_cents":7}"#)
                .unwrap()
                .amount_cents,
            7
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Order {
        id: String,
        lines: Vec<Line>,
        #[serde(default)]
        attributes: std::collections::HashMap<String, Attribute>,
        kind: Option<Kind>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Line {
        sku: String,
        qty: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Attribute {
        value: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    enum Kind {
        Gift { note: String },
        Plain,
    }

    #[test]
    fn keys_the_type_does_not_declare_are_withheld_from_the_path() {
        let cases = [
            (
                r#"{"id":"o","lines":[],"c4n4ry":1}"#,
                "unknown field (name withheld), expected one of `id`, `lines`, `attributes`, \
                 `kind` at line 1 column 29",
            ),
            (
                r#"{"id":"o","lines":[{"sku":"a","qty":1,"c4n4ry":2}]}"#,
                "[lines[0]] unknown field (name withheld), expected `sku` or `qty` at line 1 \
                 column 46",
            ),
            (
                r#"{"id":"o","lines":[],"attributes":{"c4n4ry":{"value":7}}}"#,
                "[attributes.<withheld>.value] invalid type: integer, expected a string at line \
                 1 column 54",
            ),
            (
                r#"{"id":"o","lines":[],"attributes":{"c4n4ry":{}}}"#,
                "[attributes.<withheld>] missing field `value` at line 1 column 46",
            ),
            (
                r#"{"id":"o","lines":[],"kind":{"Gift":{"note":5}}}"#,
                "[kind.Gift.note] invalid type: integer, expected a string at line 1 column 45",
            ),
            (
                r#"{"id":"o","lines":[],"kind":"c4n4ry"}"#,
                "[kind] unknown variant (name withheld), expected `Gift` or `Plain` at line 1 \
                 column 36",
            ),
            (
                r#"{"id":"o","lines":[],"attributes":{"c4n4ry":{"value":"x""#,
                "[attributes.<withheld>.?] EOF while parsing an object at line 1 column 56",
            ),
        ];
        for (json, expected) in cases {
            let got = decode_json::<Order>(json.as_bytes()).unwrap_err();
            assert_eq!(got, expected, "{json}");
        }
    }

    #[test]
    fn data_messages_lose_the_input_and_keep_the_type() {
        let cases = [
            (
                "invalid type: string \"4111 1111\", expected u32 at line 1 column 9",
                "invalid type: string, expected u32 at line 1 column 9",
            ),
            (
                "invalid value: integer `-2`, expected u32",
                "invalid value: integer, expected u32",
            ),
            (
                "invalid type: SECRET, expected a date",
                "invalid type: value, expected a date",
            ),
            (
                "missing field `id` at line 1 column 2",
                "missing field `id` at line 1 column 2",
            ),
            (
                "invalid length 3, expected 2 elements",
                "invalid length 3, expected 2 elements",
            ),
            (
                "unknown field `SECRET`, expected `id` or `qty`",
                "unknown field (name withheld), expected `id` or `qty`",
            ),
            (
                "unknown variant `SECRET`, expected `a`",
                "unknown variant (name withheld), expected `a`",
            ),
            (
                "card 4111 1111 rejected",
                "a custom deserialization error (message withheld: it may quote the record)",
            ),
            (
                "expected value at line 1 column 1",
                "expected value at line 1 column 1",
            ),
            (
                "EOF while parsing a list at line 1 column 28",
                "EOF while parsing a list at line 1 column 28",
            ),
            (
                "trailing characters at line 1 column 5",
                "trailing characters at line 1 column 5",
            ),
        ];
        for (message, expected) in cases {
            assert_eq!(redact_json_error_message(message), expected, "{message}");
        }
    }
}
