//! Plain HTTP to a Lambda extension on localhost: the AWS Parameters and Secrets Lambda
//! Extension (secrets and SSM parameters) and the AWS AppConfig Agent Lambda extension.

use http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::{
    client::legacy::{Client as HttpClient, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde::de::DeserializeOwned;

use super::{
    Fault,
    fetch::{FetchError, FetchErrorKind, error_chain},
};

/// Header carrying the session token the Parameters and Secrets extension authenticates
/// callers with.
const TOKEN_HEADER: &str = "X-Aws-Parameters-Secrets-Token";
/// Secrets are at most 64 KiB, parameters 8 KiB, AppConfig configurations 2 MB (hosted) or
/// 4 MB (S3): anything larger is not an answer to what was asked.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// An extension's answer.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    #[cfg_attr(not(feature = "parameters"), allow(dead_code))]
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// A client for one extension on loopback.
pub(crate) struct Loopback {
    client: HttpClient<HttpConnector, Empty<Bytes>>,
    endpoint: String,
    /// Who answers, for messages: `the extension at http://localhost:2773`.
    who: String,
    token: Option<HeaderValue>,
}

impl Loopback {
    /// A client for `endpoint` (`http://localhost:<port>`); `what` names the extension in
    /// messages.
    pub(crate) fn new(what: &str, endpoint: String) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Self {
            client: HttpClient::builder(TokioExecutor::new()).build(connector),
            who: format!("{what} at {endpoint}"),
            endpoint,
            token: None,
        }
    }

    /// The Parameters and Secrets extension at `endpoint`, authenticating with the function's
    /// `AWS_SESSION_TOKEN` as the extension requires.
    pub(crate) fn parameters_and_secrets<K>(
        endpoint: String,
        session_token: Option<String>,
    ) -> Result<Self, Fault<K>> {
        let session_token = session_token.ok_or_else(|| Fault::MissingEnv {
            env_var: "AWS_SESSION_TOKEN".to_owned(),
            purpose: "the session token the Parameters and Secrets extension authenticates \
                      callers with (Lambda sets it)"
                .to_owned(),
        })?;
        let mut token = HeaderValue::from_str(&session_token).map_err(|_| Fault::InvalidEnv {
            env_var: "AWS_SESSION_TOKEN".to_owned(),
            reason: "it contains characters that cannot be sent in an HTTP header".to_owned(),
        })?;
        token.set_sensitive(true);
        let mut this = Self::new("the extension", endpoint);
        this.token = Some(token);
        Ok(this)
    }

    /// `GET <endpoint><path_and_query>`: the answer, whatever its status, or `Unreachable`.
    pub(crate) async fn get(&self, path_and_query: &str) -> Result<Answer, FetchError> {
        let mut request = Request::get(format!("{}{path_and_query}", self.endpoint));
        if let Some(token) = &self.token {
            request = request.header(TOKEN_HEADER, token.clone());
        }
        let request = request.body(Empty::new()).map_err(|err| {
            FetchError::new(FetchErrorKind::Other, "InvalidRequest", err.to_string())
        })?;
        let unreachable = |detail: String| {
            FetchError::new(
                FetchErrorKind::Unreachable,
                "DispatchFailure",
                format!("{} did not answer: {detail}", self.who),
            )
        };
        let response = self
            .client
            .request(request)
            .await
            .map_err(|err| unreachable(error_chain(&err)))?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|err| unreachable(error_chain(&*err)))?
            .to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// `GET` a JSON document (an AWS API response relayed by the extension): parsed, or the
    /// error the extension answered with, recognising the AWS error codes in `relayed`.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        path_and_query: &str,
        relayed: &[&'static str],
        document: &str,
    ) -> Result<T, FetchError> {
        let answer = self.get(path_and_query).await?;
        if !answer.status.is_success() {
            return Err(self.error_answer(answer.status, &answer.body, relayed));
        }
        // serde_json's messages may quote the input: report only that the shape was wrong.
        serde_json::from_slice(&answer.body).map_err(|_| {
            FetchError::new(
                FetchErrorKind::Other,
                "InvalidResponse",
                format!("the extension's answer is not a {document} document"),
            )
        })
    }

    /// An error answer. The extension relays the AWS error code in its body when it has one;
    /// otherwise the HTTP status says what kind of failure it was.
    pub(crate) fn error_answer(
        &self,
        status: StatusCode,
        body: &[u8],
        relayed: &[&'static str],
    ) -> FetchError {
        let text = String::from_utf8_lossy(body);
        let excerpt: String = text.trim().chars().take(300).collect();
        let detail = format!("{} answered {status}: {excerpt}", self.who);
        if let Some(code) = relayed.iter().find(|code| text.contains(**code)) {
            return FetchError::from_code(*code, detail);
        }
        let kind = match status {
            StatusCode::NOT_FOUND => FetchErrorKind::NotFound,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => FetchErrorKind::AccessDenied,
            _ if status.is_server_error() => FetchErrorKind::Unreachable,
            _ => FetchErrorKind::Other,
        };
        FetchError::new(kind, format!("HTTP {}", status.as_u16()), detail)
    }
}

/// Percent-encodes a query value or path segment (ARNs hold `:` and `/`, names may hold `+`).
pub(crate) fn encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    #[test]
    fn values_are_percent_encoded() {
        assert_eq!(
            encode("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db+x y-AbCd"),
            "arn%3Aaws%3Asecretsmanager%3Aus-east-1%3A123456789012%3Asecret%3Aprod%2Fdb%2Bx%20y-AbCd"
        );
        assert_eq!(encode("plain_name.v2~"), "plain_name.v2~");
    }

    #[test]
    fn error_answers_keep_the_relayed_code() {
        let extension = Loopback::new("the extension", "http://localhost:2773".to_owned());
        let relayed = extension.error_answer(
            StatusCode::BAD_REQUEST,
            br#"{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#,
            &["ResourceNotFoundException", "AccessDeniedException"],
        );
        assert_eq!(relayed.kind(), FetchErrorKind::NotFound);
        assert_eq!(relayed.code(), "ResourceNotFoundException");
        let denied = extension.error_answer(StatusCode::UNAUTHORIZED, b"missing token", &[]);
        assert_eq!(denied.kind(), FetchErrorKind::AccessDenied);
        assert_eq!(denied.code(), "HTTP 401");
        assert_eq!(
            denied.detail(),
            "the extension at http://localhost:2773 answered 401 Unauthorized: missing token"
        );
        let cases = [
            (StatusCode::BAD_GATEWAY, FetchErrorKind::Unreachable),
            (StatusCode::NOT_FOUND, FetchErrorKind::NotFound),
            (StatusCode::BAD_REQUEST, FetchErrorKind::Other),
        ];
        for (status, kind) in cases {
            assert_eq!(extension.error_answer(status, b"", &[]).kind(), kind);
        }
    }

    #[test]
    fn the_session_token_must_be_a_header_value() {
        let fault =
            Loopback::parameters_and_secrets::<()>("http://x".into(), Some("bad\ntoken".into()))
                .err()
                .unwrap();
        let Fault::InvalidEnv { env_var, reason } = fault else {
            panic!("not InvalidEnv")
        };
        assert_eq!(env_var, "AWS_SESSION_TOKEN");
        assert!(!reason.contains("bad"), "{reason}");
        let missing = Loopback::parameters_and_secrets::<()>("http://x".into(), None)
            .err()
            .unwrap();
        assert!(
            matches!(missing, Fault::MissingEnv { env_var, .. } if env_var == "AWS_SESSION_TOKEN")
        );
    }

    /// Reads one HTTP request's head (the requests here have no body).
    pub(crate) async fn read_request(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
        let mut request = Vec::new();
        let mut buffer = [0u8; 1024];
        while !request.ends_with(b"\r\n\r\n") {
            let read = stream.read(&mut buffer).await.unwrap();
            assert!(read > 0, "connection closed mid-request");
            request.extend_from_slice(&buffer[..read]);
        }
        request
    }

    /// A loopback port nothing listens on: one just released.
    pub(crate) async fn closed_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    }

    /// One canned answer: status line, headers, body.
    pub(crate) type Canned = (&'static str, Vec<(&'static str, &'static str)>, String);

    /// Serves canned HTTP answers on a loopback port, one per connection, in order; returns
    /// the port and the requests it read (lowercased).
    pub(crate) async fn canned_server(
        answers: Vec<Canned>,
    ) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = tokio::spawn(async move {
            let mut requests = Vec::new();
            for (status_line, headers, body) in answers {
                let (mut stream, _) = listener.accept().await.unwrap();
                let request = read_request(&mut stream).await;
                let mut answer = format!("HTTP/1.1 {status_line}\r\n");
                for (name, value) in headers {
                    answer.push_str(&format!("{name}: {value}\r\n"));
                }
                answer.push_str(&format!(
                    "content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                ));
                stream.write_all(answer.as_bytes()).await.unwrap();
                requests.push(String::from_utf8(request).unwrap().to_ascii_lowercase());
            }
            requests
        });
        (port, served)
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_naming_the_extension() {
        let closed = closed_port().await;
        let agent = Loopback::new("the AppConfig agent", format!("http://127.0.0.1:{closed}"));
        let error = agent.get("/x").await.err().unwrap();
        assert_eq!(error.kind(), FetchErrorKind::Unreachable);
        assert_eq!(error.code(), "DispatchFailure");
        assert!(
            error.detail().starts_with(&format!(
                "the AppConfig agent at http://127.0.0.1:{closed} did not answer: "
            )),
            "{error}"
        );
    }
}
