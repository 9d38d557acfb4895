//! A small JSON path language for key selection: fields and array indices.

use std::fmt;

use serde_json::Value;

/// A path into a JSON value: field names separated by `.`, array indices in `[n]`.
///
/// `body.order_id`, `Records[0].messageId`, `detail."order-id"`, `[2].id`. A field name is
/// any run of characters other than `.`, `[`, `]`, `"` and whitespace; quote it
/// (`"a.b"`, with `\"` and `\\` escapes) when it holds those. This is the subset of JMESPath
/// that key selection needs; anything richer belongs in a
/// [`KeySelector::from_fn`](super::KeySelector::from_fn) closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Field(String),
    Index(usize),
}

/// A JSON path that does not parse: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid idempotency key path `{path}` at byte {position}: {problem}")]
pub struct PathError {
    /// The path as given.
    pub path: String,
    /// The byte offset of the problem.
    pub position: usize,
    /// What is wrong there.
    pub problem: &'static str,
}

impl From<PathError> for tern_runtime::InitError {
    fn from(error: PathError) -> Self {
        tern_runtime::InitError::failed("Idempotency.InvalidKeyPath", error.to_string())
    }
}

impl JsonPath {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let fail = |position: usize, problem: &'static str| PathError {
            path: text.to_owned(),
            position,
            problem,
        };
        let bytes = text.as_bytes();
        let mut segments = Vec::new();
        let mut at = 0;
        if bytes.is_empty() {
            return Err(fail(0, "the path is empty"));
        }
        loop {
            // One segment: a field (after `.` or at the start) or an index.
            if bytes[at] == b'[' {
                let close = text[at..]
                    .find(']')
                    .map(|i| at + i)
                    .ok_or_else(|| fail(at, "`[` without a closing `]`"))?;
                let digits = &text[at + 1..close];
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(fail(at + 1, "an index must be a non-negative integer"));
                }
                let index = digits
                    .parse()
                    .map_err(|_| fail(at + 1, "the index is too large"))?;
                segments.push(Segment::Index(index));
                at = close + 1;
            } else {
                let (name, next) = parse_field(text, at).map_err(|(p, why)| fail(p, why))?;
                segments.push(Segment::Field(name));
                at = next;
            }
            match bytes.get(at) {
                None => break,
                Some(b'.') => {
                    at += 1;
                    match bytes.get(at) {
                        None => return Err(fail(at, "a field name must follow `.`")),
                        Some(b'[') => return Err(fail(at, "a field name must follow `.`")),
                        Some(_) => {}
                    }
                }
                Some(b'[') => {}
                Some(_) => return Err(fail(at, "expected `.`, `[` or the end of the path")),
            }
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// The value at this path in `value`, if every step exists.
    pub fn select<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        self.segments
            .iter()
            .try_fold(value, |current, segment| match segment {
                Segment::Field(name) => current.as_object()?.get(name),
                Segment::Index(index) => current.as_array()?.get(*index),
            })
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A field name starting at byte `at`: returns it and the byte after it.
fn parse_field(text: &str, at: usize) -> Result<(String, usize), (usize, &'static str)> {
    let rest = &text[at..];
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' if name.is_empty() => return Err((at, "a quoted field name is empty")),
                '"' => return Ok((name, at + 1 + i + 1)),
                '\\' => match chars.next() {
                    Some((_, escaped @ ('"' | '\\'))) => name.push(escaped),
                    _ => return Err((at + 1 + i, "only `\\\"` and `\\\\` are escapes")),
                },
                _ => name.push(c),
            }
        }
        return Err((at, "a quoted field name is not closed"));
    }
    let end = rest
        .find(|c: char| matches!(c, '.' | '[' | ']' | '"') || c.is_whitespace())
        .unwrap_or(rest.len());
    if end == 0 {
        return Err((at, "expected a field name"));
    }
    Ok((rest[..end].to_owned(), at + end))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn selects_fields_and_indices() {
        let event = json!({
            "Records": [{"messageId": "m-1"}, {"messageId": "m-2"}],
            "body": {"order_id": 42, "a.b": {"q\"x": true}},
            "list": [[0, 1], [2, 3]],
        });
        let cases = [
            ("Records[1].messageId", Some(json!("m-2"))),
            ("Records[0]", Some(json!({"messageId": "m-1"}))),
            ("body.order_id", Some(json!(42))),
            (r#"body."a.b"."q\"x""#, Some(json!(true))),
            ("list[1][0]", Some(json!(2))),
            ("Records[2].messageId", None),
            ("body.order_id.deeper", None),
            ("body[0]", None),
            ("missing", None),
        ];
        for (path, expected) in cases {
            let parsed = JsonPath::parse(path).unwrap();
            assert_eq!(parsed.select(&event).cloned(), expected, "{path}");
            assert_eq!(parsed.to_string(), path);
        }
        let root_index = JsonPath::parse("[1]").unwrap();
        assert_eq!(root_index.select(&json!(["a", "b"])), Some(&json!("b")));
    }

    #[test]
    fn rejects_malformed_paths_with_position() {
        let cases = [
            ("", 0, "the path is empty"),
            ("a..b", 2, "expected a field name"),
            ("a.", 2, "a field name must follow `.`"),
            ("a.[0]", 2, "a field name must follow `.`"),
            ("a[", 1, "`[` without a closing `]`"),
            ("a[x]", 2, "an index must be a non-negative integer"),
            ("a[-1]", 2, "an index must be a non-negative integer"),
            ("a[]", 2, "an index must be a non-negative integer"),
            ("a[0]b", 4, "expected `.`, `[` or the end of the path"),
            ("a b", 1, "expected `.`, `[` or the end of the path"),
            ("\"open", 0, "a quoted field name is not closed"),
            ("\"\"", 0, "a quoted field name is empty"),
            ("\"a\\n\"", 2, "only `\\\"` and `\\\\` are escapes"),
            ("a[99999999999999999999999]", 2, "the index is too large"),
        ];
        for (path, position, problem) in cases {
            let error = JsonPath::parse(path).unwrap_err();
            assert_eq!(
                (error.position, error.problem),
                (position, problem),
                "{path}"
            );
        }
        let error = JsonPath::parse("a..b").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid idempotency key path `a..b` at byte 2: expected a field name"
        );
        let init = tern_runtime::InitError::from(error);
        assert_eq!(init.error_type(), "Idempotency.InvalidKeyPath");
    }
}
