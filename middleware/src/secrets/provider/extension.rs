//! The AWS Parameters and Secrets Lambda Extension, over loopback HTTP.

use std::sync::Arc;

use base64::Engine as _;
use serde::Deserialize;

use super::no_value;
use crate::{
    cache::{
        Fault, FetchError,
        loopback::{Loopback, encode},
    },
    secrets::value::SecretValue,
};

/// The error codes the extension relays from Secrets Manager in its error answers.
const RELAYED: [&str; 5] = [
    "ResourceNotFoundException",
    "AccessDeniedException",
    "DecryptionFailure",
    "InvalidRequestException",
    "InvalidParameterException",
];

/// The AWS Parameters and Secrets Lambda Extension, reached over loopback HTTP.
pub(crate) struct Extension(Loopback);

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
    pub(crate) fn new(port: u16, session_token: Option<String>) -> Result<Self, Fault<String>> {
        Self::with_endpoint(format!("http://localhost:{port}"), session_token)
    }

    fn with_endpoint(
        endpoint: String,
        session_token: Option<String>,
    ) -> Result<Self, Fault<String>> {
        Loopback::parameters_and_secrets(endpoint, session_token).map(Self)
    }

    pub(super) async fn fetch(
        &self,
        secret: &Arc<str>,
        secret_id: &str,
    ) -> Result<SecretValue, FetchError> {
        let path = format!("/secretsmanager/get?secretId={}", encode(secret_id));
        let document: ExtensionSecret = self.0.get_json(&path, &RELAYED, "GetSecretValue").await?;
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
                        crate::cache::FetchErrorKind::Other,
                        "InvalidResponse",
                        "the extension's SecretBinary is not valid base64",
                    )),
                }
            }
            (None, None) => Err(no_value()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{FetchErrorKind, loopback::tests::canned_server};

    const JSON: (&str, &str) = ("content-type", "application/json");

    fn extension(port: u16, token: &str) -> Extension {
        Extension::with_endpoint(format!("http://127.0.0.1:{port}"), Some(token.to_owned()))
            .ok()
            .unwrap()
    }

    #[tokio::test]
    async fn extension_request_and_answer() {
        let (port, served) = canned_server(vec![(
            "200 OK",
            vec![JSON],
            r#"{"ARN":"arn:x","Name":"prod/db","VersionId":"v-7","SecretString":"{\"password\":\"s3cr3t\"}","VersionStages":["AWSCURRENT"]}"#.to_owned(),
        )])
        .await;
        let value = extension(port, "session-tok")
            .fetch(&"db".into(), "prod/db")
            .await
            .unwrap();
        assert_eq!(value.json_field("password").unwrap(), "s3cr3t");
        assert_eq!(value.version_id(), Some("v-7"));
        let request = served.await.unwrap().remove(0);
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
        let (port, _served) = canned_server(vec![
            (
                "200 OK",
                vec![JSON],
                r#"{"SecretBinary":"AAECAw==","VersionId":"v-1"}"#.to_owned(),
            ),
            (
                "400 Bad Request",
                vec![JSON],
                r#"{"__type":"AccessDeniedException"}"#.to_owned(),
            ),
            ("200 OK", vec![JSON], r#"{"VersionId":"v-1"}"#.to_owned()),
        ])
        .await;
        let extension = extension(port, "t");
        let value = extension.fetch(&"key".into(), "k").await.unwrap();
        assert_eq!(value.expose_bytes(), [0, 1, 2, 3]);
        let error = extension.fetch(&"key".into(), "k").await.unwrap_err();
        assert_eq!(error.code(), "AccessDeniedException");
        assert_eq!(error.kind(), FetchErrorKind::AccessDenied);
        let error = extension.fetch(&"key".into(), "k").await.unwrap_err();
        assert_eq!(error.code(), "NoSecretValue");
    }

    #[test]
    fn token_must_be_a_header_value() {
        let error = Extension::new(2773, Some("bad\ntoken".into()))
            .err()
            .unwrap();
        let error = crate::secrets::SecretsError::from_fault(error);
        assert_eq!(error.error_type(), "Runtime.InvalidEnvironmentVariable");
        assert!(!error.to_string().contains("bad"), "{error}");
    }
}
