//! A fetched secret value that never prints itself.

use std::{fmt, sync::Arc};

use serde_json::{Map, Value};

use crate::secrets::error::{JsonFieldProblem, SecretsError};

/// One fetched version of a secret.
///
/// Cloning is cheap (a reference count). `Debug` and `Display` print `SecretValue(<redacted>)`;
/// the value is reached only through the `expose_*` accessors and
/// [`json_field`](Self::json_field), so it cannot end up in a log line by accident.
#[derive(Clone)]
pub struct SecretValue {
    version: Arc<Version>,
}

struct Version {
    secret: Arc<str>,
    data: Data,
    /// The `SecretString` parsed as a JSON object, once per fetched version (`None` when it is
    /// not one), so field reads on the hot path neither parse nor allocate.
    json: Option<Map<String, Value>>,
    version_id: Option<String>,
}

enum Data {
    Text(String),
    Binary(Vec<u8>),
}

impl SecretValue {
    /// A `SecretString` value.
    pub(crate) fn text(secret: Arc<str>, text: String, version_id: Option<String>) -> Self {
        let json = serde_json::from_str::<Map<String, Value>>(&text).ok();
        Self::new(secret, Data::Text(text), json, version_id)
    }

    /// A `SecretBinary` value.
    pub(crate) fn binary(secret: Arc<str>, bytes: Vec<u8>, version_id: Option<String>) -> Self {
        Self::new(secret, Data::Binary(bytes), None, version_id)
    }

    fn new(
        secret: Arc<str>,
        data: Data,
        json: Option<Map<String, Value>>,
        version_id: Option<String>,
    ) -> Self {
        Self {
            version: Arc::new(Version {
                secret,
                data,
                json,
                version_id,
            }),
        }
    }

    /// The logical name the secret was declared under.
    pub fn secret_name(&self) -> &str {
        &self.version.secret
    }

    /// The Secrets Manager version id of this value, when the backend reported one.
    pub fn version_id(&self) -> Option<&str> {
        self.version.version_id.as_deref()
    }

    /// Whether the secret is a `SecretBinary`.
    pub fn is_binary(&self) -> bool {
        matches!(self.version.data, Data::Binary(_))
    }

    /// The `SecretString`; [`SecretsError::NotText`] for a binary secret.
    pub fn expose_str(&self) -> Result<&str, SecretsError> {
        match &self.version.data {
            Data::Text(text) => Ok(text),
            Data::Binary(_) => Err(SecretsError::NotText {
                secret: self.secret_name().to_owned(),
            }),
        }
    }

    /// The raw bytes: the `SecretBinary`, or the UTF-8 bytes of the `SecretString`.
    pub fn expose_bytes(&self) -> &[u8] {
        match &self.version.data {
            Data::Text(text) => text.as_bytes(),
            Data::Binary(bytes) => bytes,
        }
    }

    /// The `SecretString` as a JSON object (the shape of RDS and most key/value secrets), or
    /// `None` if it is not one. Careful: `serde_json` values print their content.
    pub fn expose_json(&self) -> Option<&Map<String, Value>> {
        self.version.json.as_ref()
    }

    /// A string field of the JSON object in the `SecretString`, e.g. `json_field("password")`.
    pub fn json_field(&self, field: &str) -> Result<&str, SecretsError> {
        let problem = match self.version.json.as_ref().map(|object| object.get(field)) {
            None => JsonFieldProblem::NotJsonObject,
            Some(None) => JsonFieldProblem::Missing,
            Some(Some(Value::String(value))) => return Ok(value),
            Some(Some(_)) => JsonFieldProblem::NotString,
        };
        Err(SecretsError::JsonField {
            secret: self.secret_name().to_owned(),
            field: field.to_owned(),
            problem,
        })
    }
}

const REDACTED: &str = "SecretValue(<redacted>)";

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &str) -> SecretValue {
        SecretValue::text("db".into(), value.to_owned(), Some("v-1".into()))
    }

    #[test]
    fn debug_and_display_are_redacted() {
        let value = text(r#"{"username":"admin","password":"hunter2"}"#);
        assert_eq!(format!("{value:?}"), "SecretValue(<redacted>)");
        assert_eq!(format!("{value:#?}"), "SecretValue(<redacted>)");
        assert_eq!(format!("{value}"), "SecretValue(<redacted>)");
        assert_eq!(
            format!("{:?}", Some(&value)),
            "Some(SecretValue(<redacted>))"
        );
        let binary = SecretValue::binary("key".into(), vec![0xde, 0xad], None);
        assert_eq!(
            format!("{binary:?} {binary}"),
            "SecretValue(<redacted>) SecretValue(<redacted>)"
        );
    }

    #[test]
    fn accessors() {
        let value = text(r#"{"username":"admin","password":"hunter2","port":5432}"#);
        assert_eq!(value.secret_name(), "db");
        assert_eq!(value.version_id(), Some("v-1"));
        assert!(!value.is_binary());
        assert_eq!(
            value.expose_str().unwrap(),
            r#"{"username":"admin","password":"hunter2","port":5432}"#
        );
        assert_eq!(
            value.expose_bytes(),
            br#"{"username":"admin","password":"hunter2","port":5432}"#
        );
        assert_eq!(value.json_field("password").unwrap(), "hunter2");
        assert_eq!(value.json_field("username").unwrap(), "admin");
        assert_eq!(
            value.expose_json().and_then(|o| o.get("port")),
            Some(&Value::from(5432))
        );

        let binary = SecretValue::binary("key".into(), vec![0, 159, 146, 150], None);
        assert!(binary.is_binary());
        assert_eq!(binary.expose_bytes(), [0, 159, 146, 150]);
        assert_eq!(binary.version_id(), None);
        let error = binary.expose_str().unwrap_err();
        assert_eq!(error.error_type(), "Secrets.NotText");
        assert_eq!(
            error.to_string(),
            "secret `key` holds binary data, not text; read it with `expose_bytes`"
        );
    }

    #[test]
    fn json_field_errors_name_the_field_not_the_value() {
        let object = text(r#"{"password":"hunter2","port":5432}"#);
        let plain = text("hunter2");
        let cases = [
            (
                &object,
                "user",
                "secret `db` has no JSON string field `user`: the JSON object has no such key",
            ),
            (
                &object,
                "port",
                "secret `db` has no JSON string field `port`: the field is not a string; read it with `expose_json`",
            ),
            (
                &plain,
                "password",
                "secret `db` has no JSON string field `password`: its value is not a JSON object",
            ),
        ];
        for (value, field, message) in cases {
            let error = value.json_field(field).unwrap_err();
            assert_eq!(error.error_type(), "Secrets.JsonField");
            assert_eq!(error.to_string(), message);
            assert!(!format!("{error:?}").contains("hunter2"));
        }
        assert!(plain.expose_json().is_none());
        // A JSON array is not an object either.
        assert!(text(r#"["hunter2"]"#).expose_json().is_none());
    }
}
