//! SSM parameters through the AWS Parameters and Secrets Lambda Extension: one `GetParameter`
//! per name, relayed over loopback HTTP.

use serde::Deserialize;

use crate::{
    cache::{
        FetchError,
        loopback::{Loopback, encode},
    },
    parameters::value::Raw,
};

/// The error codes the extension relays from SSM in its error answers.
const RELAYED: [&str; 5] = [
    "ParameterNotFound",
    "ParameterVersionNotFound",
    "AccessDeniedException",
    "InvalidKeyId",
    "ValidationException",
];

/// The `GetParameter`-shaped document the extension returns. No `Debug`: it may hold a
/// decrypted `SecureString`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    parameter: Document,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Document {
    #[serde(rename = "Type")]
    kind: Option<String>,
    value: Option<String>,
    version: Option<i64>,
}

/// `GET /systemsmanager/parameters/get?name=…&withDecryption=true`.
pub(super) async fn get(extension: &Loopback, name: &str) -> Result<Raw, FetchError> {
    let path = format!(
        "/systemsmanager/parameters/get?name={}&withDecryption=true",
        encode(name)
    );
    let answer: Answer = extension.get_json(&path, &RELAYED, "GetParameter").await?;
    let document = answer.parameter;
    Ok(Raw::text(
        document.value.unwrap_or_default(),
        document.kind.as_deref() == Some("SecureString"),
        document.version.map(|v| v.to_string()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{FetchErrorKind, loopback::tests::canned_server};

    #[tokio::test]
    async fn request_answer_and_relayed_errors() {
        let (port, served) = canned_server(vec![
            (
                "200 OK",
                vec![("content-type", "application/json")],
                r#"{"Parameter":{"ARN":"arn:x","DataType":"text","Name":"/shop/db","Type":"SecureString","Value":"pw-1","Version":4},"ResultMetadata":{}}"#.to_owned(),
            ),
            (
                "400 Bad Request",
                vec![],
                r#"{"__type":"ParameterNotFound","message":""}"#.to_owned(),
            ),
        ])
        .await;
        let extension = Loopback::parameters_and_secrets::<()>(
            format!("http://127.0.0.1:{port}"),
            Some("tok".into()),
        )
        .unwrap();
        let raw = get(&extension, "/shop/db:4").await.unwrap();
        assert!(raw.secure);
        assert_eq!(raw.version.as_deref(), Some("4"));
        let error = get(&extension, "/shop/none").await.err().unwrap();
        assert_eq!(
            (error.kind(), error.code()),
            (FetchErrorKind::NotFound, "ParameterNotFound")
        );
        let requests = served.await.unwrap();
        assert!(
            requests[0].starts_with(
                "get /systemsmanager/parameters/get?name=%2fshop%2fdb%3a4&withdecryption=true http/1.1\r\n"
            ),
            "{}",
            requests[0]
        );
        assert!(requests[0].contains("\r\nx-aws-parameters-secrets-token: tok\r\n"));
    }
}
