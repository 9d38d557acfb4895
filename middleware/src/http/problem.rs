//! RFC 9457 problem details: the body of every error response the HTTP middleware writes.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header::CONTENT_TYPE};
use http_body_util::Full;
use serde_json::{Map, Value};

/// The media type of a problem details document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem details document: `{"type":"about:blank","title":…,"status":…,
/// "detail":…}` served as `application/problem+json`.
///
/// The type is always `about:blank`, so the title is the status code's reason phrase and the
/// status code is what a client branches on; `detail` says what went wrong and how to fix it.
/// Extension members (e.g. `"field":"items[0].quantity"`) carry machine-readable specifics.
/// Write details that name the thing at fault, never the request's own content.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    status: StatusCode,
    detail: String,
    members: Map<String, Value>,
}

impl Problem {
    /// A problem with `status` and a human-readable `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            members: Map::new(),
        }
    }

    /// Adds an extension member. The RFC's own members (`type`, `title`, `status`, `detail`)
    /// cannot be replaced this way.
    pub fn with_member(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        if !matches!(name.as_str(), "type" | "title" | "status" | "detail") {
            self.members.insert(name, value.into());
        }
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The detail.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The JSON document.
    pub fn to_json(&self) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct Document<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            title: &'static str,
            status: u16,
            detail: &'a str,
            #[serde(flatten)]
            members: &'a Map<String, Value>,
        }
        let document = Document {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            members: &self.members,
        };
        // Strings, numbers and JSON values always serialize.
        serde_json::to_vec(&document).unwrap_or_default()
    }

    /// The response: this status, `Content-Type: application/problem+json`, the document.
    pub fn into_response<B: From<Bytes>>(self) -> http::Response<B> {
        let mut response = http::Response::new(B::from(Bytes::from(self.to_json())));
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }

    /// [`into_response`](Self::into_response) with a [`Full`] body.
    pub fn into_full_response(self) -> http::Response<Full<Bytes>> {
        self.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_has_the_rfc_members_first_then_extensions() {
        let problem = Problem::new(StatusCode::BAD_REQUEST, "the body is not JSON")
            .with_member("field", "items[0].quantity")
            .with_member("status", 200);
        assert_eq!(
            String::from_utf8(problem.to_json()).unwrap(),
            r#"{"type":"about:blank","title":"Bad Request","status":400,"detail":"the body is not JSON","field":"items[0].quantity"}"#
        );
        let response = problem.into_full_response();
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
    }
}
