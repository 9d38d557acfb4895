//! Error messages about events that say what is wrong without repeating what the event holds.
//!
//! serde's data errors quote the input (`invalid type: string "4111 1111 …", expected u32`), and
//! error responses travel on: to the caller, to an async invocation's failure destination, to
//! logs. These helpers keep the part that comes from the handler's type and drop the input.

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

#[cfg(test)]
mod tests {
    use super::*;

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
