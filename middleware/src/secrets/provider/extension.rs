//! The AWS Parameters and Secrets Lambda Extension, over loopback HTTP.

use std::sync::Arc;

use base64::Engine as _;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::{
    client::legacy::{Client as HttpClient, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde::Deserialize;

use super::{FetchError, FetchErrorKind, no_value};
use crate::secrets::{error::SecretsError, value::SecretValue};

/// Header carrying the session token the extension authenticates callers with.
const TOKEN_HEADER: &str = "X-Aws-Parameters-Secrets-Token";
/// Secrets are at most 64 KiB; anything far larger is not a `GetSecretValue` answer.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The AWS Parameters and Secrets Lambda Extension, reached over loopback HTTP.
pub(crate) struct Extension {
    client: HttpClient<HttpConnector, Empty<Bytes>>,
    endpoint: String,
    token: HeaderValue,
}

/// The `GetSecretValue`-shaped document the extension returns. No `Debug`: it holds the value.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ExtensionSecret {
    secret_string: Option<String>,
    secret_binary: Option<String>,
    version_id: Option<String>,
}

impl Extension {
    /// A client for the extension on `localhost:<port>`, authenticating with `session_token`
    /// (`AWS_SESSION_TOKEN`).
    pub(crate) fn new(port: u16, session_token: &str) -> Result<Self, SecretsError> {
        Self::with_endpoint(format!("http://localhost:{port}"), session_token)
    }

    fn with_endpoint(endpoint: String, session_token: &str) -> Result<Self, SecretsError> {
        let mut token =
            HeaderValue::from_str(session_token).map_err(|_| SecretsError::InvalidEnv {
                env_var: "AWS_SESSION_TOKEN".to_owned(),
                reason: "it contains characters that cannot be sent in an HTTP header".to_owned(),
            })?;
        token.set_sensitive(true);
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = HttpClient::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            client,
            endpoint,
            token,
        })
    }

    pub(super) async fn fetch(
        &self,
        secret: &Arc<str>,
        secret_id: &str,
    ) -> Result<SecretValue, FetchError> {
        let uri = format!(
            "{}/secretsmanager/get?secretId={}",
            self.endpoint,
            encode_query_value(secret_id)
        );
        let request = Request::get(uri)
            .header(TOKEN_HEADER, self.token.clone())
            .body(Empty::new())
            .map_err(|err| {
                FetchError::new(FetchErrorKind::Other, "InvalidRequest", err.to_string())
            })?;
        let unreachable = |detail: String| {
            FetchError::new(
                FetchErrorKind::Unreachable,
                "DispatchFailure",
                format!(
                    "the extension at {} did not answer: {detail}",
                    self.endpoint
                ),
            )
        };
        let response = self
            .client
            .request(request)
            .await
            .map_err(|err| unreachable(error_chain(&err)))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|err| unreachable(error_chain(&*err)))?
            .to_bytes();
        if !status.is_success() {
            return Err(extension_error(status, &body));
        }
        // serde_json's messages may quote the input: report only that the shape was wrong.
        let document: ExtensionSecret = serde_json::from_slice(&body).map_err(|_| {
            FetchError::new(
                FetchErrorKind::Other,
                "InvalidResponse",
                "the extension's answer is not a GetSecretValue document",
            )
        })?;
        match (document.secret_string, document.secret_binary) {
            (Some(text), _) => Ok(SecretValue::text(secret.clone(), text, document.version_id)),
            (None, Some(encoded)) => {
                match base64::engine::general_purpose::STANDARD.decode(&encoded) {
                    Ok(bytes) => Ok(SecretValue::binary(
                        secret.clone(),
                        bytes,
                        document.version_id,
                    )),
                    Err(_) => Err(FetchError::new(
                        FetchErrorKind::Other,
                        "InvalidResponse",
                        "the extension's SecretBinary is not valid base64",
                    )),
                }
            }
            (None, None) => Err(no_value()),
        }
    }
}

/// An error answer from the extension. It relays Secrets Manager's error code in its body when
/// it has one; otherwise the HTTP status says what kind of failure it was.
fn extension_error(status: StatusCode, body: &[u8]) -> FetchError {
    let text = String::from_utf8_lossy(body);
    let excerpt: String = text.trim().chars().take(300).collect();
    let detail = format!("the extension answered {status}: {excerpt}");
    const RELAYED: [&str; 5] = [
        "ResourceNotFoundException",
        "AccessDeniedException",
        "DecryptionFailure",
        "InvalidRequestException",
        "InvalidParameterException",
    ];
    if let Some(code) = RELAYED.into_iter().find(|code| text.contains(code)) {
        return FetchError::from_code(code, detail);
    }
    let kind = match status {
        StatusCode::NOT_FOUND => FetchErrorKind::NotFound,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => FetchErrorKind::AccessDenied,
        _ => FetchErrorKind::Other,
    };
    FetchError::new(kind, format!("HTTP {}", status.as_u16()), detail)
}

/// `error: cause: cause…`, from `Display` only (a `Debug` dump may carry a raw response).
/// hyper-util's client error is left out: its text is the `Debug` name of its kind ("client
/// error (Connect)"); the causes under it say what happened.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        if !cause.is::<hyper_util::client::legacy::Error>() {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause.to_string());
        }
        next = cause.source();
    }
    text
}

/// Percent-encodes a query parameter value (ARNs hold `:` and `/`, names may hold `+`).
fn encode_query_value(value: &str) -> String {
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
mod tests {
    use super::*;
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode_query_value(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db+x y-AbCd"
            ),
            "arn%3Aaws%3Asecretsmanager%3Aus-east-1%3A123456789012%3Asecret%3Aprod%2Fdb%2Bx%20y-AbCd"
        );
        assert_eq!(encode_query_value("plain_name.v2~"), "plain_name.v2~");
    }

    #[test]
    fn extension_errors_keep_the_relayed_code() {
        let relayed = extension_error(
            StatusCode::BAD_REQUEST,
            br#"{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#,
        );
        assert_eq!(relayed.kind(), FetchErrorKind::NotFound);
        assert_eq!(relayed.code(), "ResourceNotFoundException");
        let denied = extension_error(StatusCode::UNAUTHORIZED, b"missing token");
        assert_eq!(denied.kind(), FetchErrorKind::AccessDenied);
        assert_eq!(denied.code(), "HTTP 401");
        assert_eq!(
            denied.detail(),
            "the extension answered 401 Unauthorized: missing token"
        );
        assert_eq!(
            extension_error(StatusCode::BAD_GATEWAY, b"").kind(),
            FetchErrorKind::Other
        );
    }

    /// Serves one canned HTTP answer on a loopback port; returns the port and the request.
    async fn one_shot_server(
        status_line: &'static str,
        body: &'static str,
    ) -> (u16, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let read = stream.read(&mut buffer).await.unwrap();
                assert!(read > 0, "connection closed mid-request");
                request.extend_from_slice(&buffer[..read]);
            }
            let answer = format!(
                "HTTP/1.1 {status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8(request).unwrap()
        });
        (port, served)
    }

    #[tokio::test]
    async fn extension_request_and_answer() {
        let (port, served) = one_shot_server(
            "200 OK",
            r#"{"ARN":"arn:x","Name":"prod/db","VersionId":"v-7","SecretString":"{\"password\":\"s3cr3t\"}","VersionStages":["AWSCURRENT"]}"#,
        )
        .await;
        let extension =
            Extension::with_endpoint(format!("http://127.0.0.1:{port}"), "session-tok").unwrap();
        let value = extension.fetch(&"db".into(), "prod/db").await.unwrap();
        assert_eq!(value.json_field("password").unwrap(), "s3cr3t");
        assert_eq!(value.version_id(), Some("v-7"));
        let request = served.await.unwrap().to_ascii_lowercase();
        assert!(
            request.starts_with("get /secretsmanager/get?secretid=prod%2fdb http/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains("\r\nx-aws-parameters-secrets-token: session-tok\r\n"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn extension_binary_and_errors() {
        let (port, _served) =
            one_shot_server("200 OK", r#"{"SecretBinary":"AAECAw==","VersionId":"v-1"}"#).await;
        let extension = Extension::with_endpoint(format!("http://127.0.0.1:{port}"), "t").unwrap();
        let value = extension.fetch(&"key".into(), "k").await.unwrap();
        assert_eq!(value.expose_bytes(), [0, 1, 2, 3]);

        let (port, _served) =
            one_shot_server("400 Bad Request", r#"{"__type":"AccessDeniedException"}"#).await;
        let extension = Extension::with_endpoint(format!("http://127.0.0.1:{port}"), "t").unwrap();
        let error = extension.fetch(&"key".into(), "k").await.unwrap_err();
        assert_eq!(error.code(), "AccessDeniedException");

        // Nothing listens on a port we just released: the extension is not attached.
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let extension =
            Extension::with_endpoint(format!("http://127.0.0.1:{closed}"), "t").unwrap();
        let error = extension.fetch(&"key".into(), "k").await.unwrap_err();
        assert_eq!(error.kind(), FetchErrorKind::Unreachable);
        assert_eq!(error.code(), "DispatchFailure");
        assert!(
            error.detail().starts_with(&format!(
                "the extension at http://127.0.0.1:{closed} did not answer: tcp connect error: "
            )),
            "{error}"
        );
        assert!(!error.detail().contains("(Connect)"), "{error}");
    }

    #[test]
    fn token_must_be_a_header_value() {
        let error = Extension::new(2773, "bad\ntoken").err().unwrap();
        assert_eq!(error.error_type(), "Runtime.InvalidEnvironmentVariable");
        assert!(!error.to_string().contains("bad"), "{error}");
    }
}
