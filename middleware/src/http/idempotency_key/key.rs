//! The `Idempotency-Key` request header, as the IETF httpapi draft defines it: an
//! sf-string (`"…"`); bare tokens, which many clients send, are accepted too.

use http::{HeaderMap, HeaderName, StatusCode};

use super::super::Problem;

/// The header's name.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The longest key accepted, in characters.
pub const MAX_KEY_LEN: usize = 255;

/// The key of the request, `None` without the header, or the `400` problem saying what is
/// wrong with it (never quoting it).
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let invalid = |why: &str| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!("the Idempotency-Key header {why}"),
        )
        .with_member("header", "Idempotency-Key")
    };
    if values.next().is_some() {
        return Err(invalid("is sent more than once; send one key per request"));
    }
    let bytes = value.as_bytes();
    let key = match bytes {
        [b'"', inner @ .., b'"'] => unquote(inner).ok_or_else(|| {
            invalid("is not a valid string: printable ASCII with `\\\"` and `\\\\` escapes")
        })?,
        _ if bytes.iter().all(|b| b.is_ascii_graphic()) => {
            String::from_utf8(bytes.to_vec()).unwrap_or_default()
        }
        _ => {
            return Err(invalid(
                "must be a quoted string or a token of printable ASCII without spaces",
            ));
        }
    };
    if key.is_empty() {
        return Err(invalid(
            "is empty; send a unique value per request, e.g. a UUID",
        ));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(invalid(&format!("is longer than {MAX_KEY_LEN} characters")));
    }
    Ok(Some(key))
}

/// The content of an sf-string (RFC 8941, 3.3.3), without its quotes.
fn unquote(inner: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.iter();
    while let Some(&byte) = chars.next() {
        match byte {
            b'\\' => match chars.next() {
                Some(&escaped @ (b'"' | b'\\')) => out.push(char::from(escaped)),
                _ => return None,
            },
            b'"' => return None,
            b' '..=b'~' => out.push(char::from(byte)),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn key(values: &[&[u8]]) -> Result<Option<String>, String> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(IDEMPOTENCY_KEY, HeaderValue::from_bytes(value).unwrap());
        }
        idempotency_key(&headers).map_err(|problem| problem.detail().to_owned())
    }

    #[test]
    fn quoted_strings_and_tokens_are_keys() {
        assert_eq!(key(&[]), Ok(None));
        let uuid = "8e03978e-40d5-43e8-bc93-6894a57f9324";
        assert_eq!(
            key(&[format!("\"{uuid}\"").as_bytes()]),
            Ok(Some(uuid.to_owned()))
        );
        assert_eq!(key(&[uuid.as_bytes()]), Ok(Some(uuid.to_owned())));
        assert_eq!(
            key(&[br#""a \"b\" \\c""#]),
            Ok(Some(r#"a "b" \c"#.to_owned()))
        );
    }

    #[test]
    fn bad_keys_are_named_never_quoted() {
        let long = "k".repeat(MAX_KEY_LEN + 1);
        let cases: [(&[&[u8]], &str); 6] = [
            (
                &[b"a", b"b"],
                "is sent more than once; send one key per request",
            ),
            (
                &[b"\"\""],
                "is empty; send a unique value per request, e.g. a UUID",
            ),
            (
                &[b"two words"],
                "must be a quoted string or a token of printable ASCII without spaces",
            ),
            (
                &[b"\"bad \\n escape\""],
                "is not a valid string: printable ASCII with `\\\"` and `\\\\` escapes",
            ),
            (
                &[b"\"caf\xe9\""],
                "is not a valid string: printable ASCII with `\\\"` and `\\\\` escapes",
            ),
            (&[long.as_bytes()], "is longer than 255 characters"),
        ];
        for (values, why) in cases {
            assert_eq!(
                key(values),
                Err(format!("the Idempotency-Key header {why}"))
            );
        }
    }
}
