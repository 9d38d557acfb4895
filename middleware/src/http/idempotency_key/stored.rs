//! A response as the Idempotency-Key layer stores it: status, headers (in order, repeated
//! names kept) and body, as JSON that reads back into the same bytes.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use http_body_util::Full;
use serde::{Deserialize, Serialize};

/// `{"status":201,"headers":[["location","/orders/o-1"]],"body":"…"}`; a body that is not
/// UTF-8 is `"body_base64"` instead, and so is a header value (`{"base64":"…"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredResponse {
    status: u16,
    headers: Vec<(String, StoredValue)>,
    #[serde(flatten)]
    body: StoredBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum StoredValue {
    Text(String),
    Bytes { base64: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum StoredBody {
    #[serde(rename = "body")]
    Text(String),
    #[serde(rename = "body_base64")]
    Base64(String),
}

/// A stored response that no longer converts into a response (edited or corrupted record).
#[derive(Debug)]
pub(crate) struct Unreadable(pub(crate) &'static str);

impl StoredResponse {
    pub(crate) fn new(parts: &http::response::Parts, body: Bytes) -> Self {
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = match value.to_str() {
                    Ok(text) => StoredValue::Text(text.to_owned()),
                    Err(_) => StoredValue::Bytes {
                        base64: STANDARD.encode(value.as_bytes()),
                    },
                };
                (name.as_str().to_owned(), value)
            })
            .collect();
        let body = match String::from_utf8(body.into()) {
            Ok(text) => StoredBody::Text(text),
            Err(not_utf8) => StoredBody::Base64(STANDARD.encode(not_utf8.as_bytes())),
        };
        Self {
            status: parts.status.as_u16(),
            headers,
            body,
        }
    }

    pub(crate) fn status(&self) -> u16 {
        self.status
    }

    pub(crate) fn to_response(&self) -> Result<http::Response<Full<Bytes>>, Unreadable> {
        let body = match &self.body {
            StoredBody::Text(text) => Bytes::from(text.clone()),
            StoredBody::Base64(encoded) => STANDARD
                .decode(encoded)
                .map_err(|_| Unreadable("its body is not base64"))?
                .into(),
        };
        let mut response = http::Response::new(Full::new(body));
        *response.status_mut() =
            StatusCode::from_u16(self.status).map_err(|_| Unreadable("its status is not valid"))?;
        let headers = response.headers_mut();
        headers.reserve(self.headers.len());
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Unreadable("a header name is not valid"))?;
            let value = match value {
                StoredValue::Text(text) => HeaderValue::from_str(text),
                StoredValue::Bytes { base64 } => {
                    let bytes = STANDARD
                        .decode(base64)
                        .map_err(|_| Unreadable("a header value is not base64"))?;
                    HeaderValue::from_bytes(&bytes)
                }
            }
            .map_err(|_| Unreadable("a header value is not valid"))?;
            headers.append(name, value);
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn round_trip(response: http::Response<Bytes>) -> (String, http::Response<Bytes>) {
        let (parts, body) = response.into_parts();
        let stored = StoredResponse::new(&parts, body);
        let json = serde_json::to_string(&stored).unwrap();
        let back: StoredResponse = serde_json::from_str(&json).unwrap();
        let (parts, body) = back.to_response().unwrap().into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (json, http::Response::from_parts(parts, body))
    }

    #[tokio::test]
    async fn text_and_binary_bodies_and_repeated_headers_come_back_identical() {
        let text = http::Response::builder()
            .status(201)
            .header("location", "/orders/o-1")
            .header("set-cookie", "a=1")
            .header("set-cookie", "b=2")
            .header("x-raw", HeaderValue::from_bytes(b"caf\xe9").unwrap())
            .body(Bytes::from_static(b"{\"id\":\"o-1\"}"))
            .unwrap();
        let (json, back) = round_trip(text.clone()).await;
        assert_eq!(
            json,
            r#"{"status":201,"headers":[["location","/orders/o-1"],["set-cookie","a=1"],["set-cookie","b=2"],["x-raw",{"base64":"Y2Fm6Q=="}]],"body":"{\"id\":\"o-1\"}"}"#
        );
        assert_eq!(back.status(), text.status());
        assert_eq!(back.headers(), text.headers());
        assert_eq!(back.body(), text.body());

        let png = http::Response::builder()
            .header("content-type", "image/png")
            .body(Bytes::from_static(b"\x89PNG\r\n\x1a\n\x00"))
            .unwrap();
        let (json, back) = round_trip(png.clone()).await;
        assert_eq!(
            json,
            r#"{"status":200,"headers":[["content-type","image/png"]],"body_base64":"iVBORw0KGgoA"}"#
        );
        assert_eq!(back.body(), png.body());
    }

    #[test]
    fn a_corrupted_record_is_unreadable_not_a_panic() {
        for (json, why) in [
            (
                r#"{"status":99,"headers":[],"body":""}"#,
                "its status is not valid",
            ),
            (
                r#"{"status":200,"headers":[["a b","x"]],"body":""}"#,
                "a header name is not valid",
            ),
            (
                r#"{"status":200,"headers":[],"body_base64":"%%"}"#,
                "its body is not base64",
            ),
        ] {
            let stored: StoredResponse = serde_json::from_str(json).unwrap();
            assert_eq!(stored.to_response().unwrap_err().0, why, "{json}");
        }
    }
}
