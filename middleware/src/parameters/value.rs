//! A fetched parameter, transformed once per fetched version; secure values never print.

use std::{any::Any, fmt, sync::Arc};

use base64::Engine as _;

use crate::{
    cache::FetchError,
    parameters::{
        config::{Transform, short_type_name},
        error::ParametersError,
    },
};

/// What a back-end fetched, before the declared transform.
pub(crate) struct Raw {
    pub(crate) content: RawContent,
    /// A `SecureString`.
    pub(crate) secure: bool,
    /// The SSM parameter version or the AppConfig configuration version.
    pub(crate) version: Option<String>,
}

pub(crate) enum RawContent {
    /// Text, or bytes that should be (an AppConfig configuration of any content type).
    Bytes(Vec<u8>),
    /// The parameters under a path, by name relative to it.
    #[cfg_attr(not(feature = "ssm"), allow(dead_code))]
    Path(Vec<(String, Raw)>),
}

impl Raw {
    pub(crate) fn text(text: String, secure: bool, version: Option<String>) -> Self {
        Self {
            content: RawContent::Bytes(text.into_bytes()),
            secure,
            version,
        }
    }
}

/// One fetched version of a parameter.
///
/// Cloning is cheap (a reference count). The declared transform ran once, when the version
/// was fetched: reads neither parse nor allocate. A `SecureString` (or a parameter declared
/// [`with_redaction`](crate::parameters::Parameter::with_redaction)) prints
/// `ParameterValue(<redacted>)` in `Debug` and `Display`; other values print their name and
/// kind in `Debug`, and their text in `Display`.
#[derive(Clone)]
pub struct ParameterValue(Arc<Version>);

struct Version {
    name: Arc<str>,
    secure: bool,
    version: Option<String>,
    content: Content,
}

enum Content {
    Text(String),
    Binary(Vec<u8>),
    Typed {
        text: String,
        type_name: &'static str,
        value: Arc<dyn Any + Send + Sync>,
    },
    Path(Vec<(String, ParameterValue)>),
}

impl ParameterValue {
    /// Applies `transform` to what was fetched for the parameter declared as `name`. The error
    /// says what is wrong with the value without quoting it when it is secure.
    pub(crate) fn transform(
        name: &Arc<str>,
        transform: &Transform,
        redacted: bool,
        raw: Raw,
    ) -> Result<Self, FetchError> {
        let secure = raw.secure || redacted;
        let content = match raw.content {
            RawContent::Path(entries) => {
                let mut children = Vec::with_capacity(entries.len());
                for (relative, raw) in entries {
                    let child: Arc<str> = format!("{name}/{relative}").into();
                    children.push((relative, Self::transform(&child, transform, redacted, raw)?));
                }
                Content::Path(children)
            }
            RawContent::Bytes(bytes) => {
                let text = String::from_utf8(bytes).map_err(|error| {
                    invalid(
                        name,
                        format!(
                            "is not UTF-8 text (byte {})",
                            error.utf8_error().valid_up_to()
                        ),
                    )
                })?;
                transform_text(name, transform, secure, text)?
            }
        };
        Ok(Self(Arc::new(Version {
            name: name.clone(),
            secure,
            version: raw.version,
            content,
        })))
    }

    /// The logical name it was declared under (`<name>/<relative name>` for a parameter read
    /// under a path).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether it is treated like a secret (a `SecureString`, or declared with redaction).
    pub fn is_secure(&self) -> bool {
        self.0.secure
    }

    /// The SSM parameter version or the AppConfig configuration version, when the back-end
    /// reported one.
    pub fn version(&self) -> Option<&str> {
        self.0.version.as_deref()
    }

    /// The text: a parameter declared as text, or the text a typed value was parsed from.
    pub fn as_str(&self) -> Result<&str, ParametersError> {
        match &self.0.content {
            Content::Text(text) | Content::Typed { text, .. } => Ok(text),
            _ => Err(self.wrong_kind("text")),
        }
    }

    /// The bytes: decoded from base64 for a parameter declared
    /// [`with_binary`](crate::parameters::Parameter::with_binary), else the UTF-8 bytes of
    /// the text.
    pub fn as_bytes(&self) -> Result<&[u8], ParametersError> {
        match &self.0.content {
            Content::Binary(bytes) => Ok(bytes),
            Content::Text(text) | Content::Typed { text, .. } => Ok(text.as_bytes()),
            Content::Path(_) => Err(self.wrong_kind("bytes")),
        }
    }

    /// The typed value a parameter declared
    /// [`with_json::<T>`](crate::parameters::Parameter::with_json) or
    /// [`with_transform`](crate::parameters::Parameter::with_transform) was parsed into.
    pub fn typed<T: Any>(&self) -> Result<&T, ParametersError> {
        match &self.0.content {
            Content::Typed { value, .. } => value
                .downcast_ref::<T>()
                .ok_or_else(|| self.wrong_kind(&short_type_name(std::any::type_name::<T>()))),
            _ => Err(self.wrong_kind(&short_type_name(std::any::type_name::<T>()))),
        }
    }

    /// The parameters read under a path, by name relative to it, in the order SSM listed them
    /// (empty for anything else).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &ParameterValue)> {
        let entries = match &self.0.content {
            Content::Path(entries) => entries.as_slice(),
            _ => &[],
        };
        entries.iter().map(|(name, value)| (name.as_str(), value))
    }

    /// The parameter read under a path by its name relative to it (`limits/max` under
    /// `/shop` is `limits/max`).
    pub fn entry(&self, relative_name: &str) -> Option<&ParameterValue> {
        self.entries()
            .find(|(name, _)| *name == relative_name)
            .map(|(_, value)| value)
    }

    fn kind(&self) -> String {
        match &self.0.content {
            Content::Text(_) => "text".to_owned(),
            Content::Binary(_) => "binary data".to_owned(),
            Content::Typed { type_name, .. } => format!("a `{}`", short_type_name(type_name)),
            Content::Path(entries) => format!("a path of {} parameters", entries.len()),
        }
    }

    fn wrong_kind(&self, asked: &str) -> ParametersError {
        ParametersError::WrongKind {
            parameter: self.0.name.to_string(),
            holds: self.kind(),
            asked: asked.to_owned(),
        }
    }
}

fn transform_text(
    name: &str,
    transform: &Transform,
    secure: bool,
    text: String,
) -> Result<Content, FetchError> {
    match transform {
        Transform::Text => Ok(Content::Text(text)),
        Transform::Binary => base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map(Content::Binary)
            .map_err(|error| {
                // The error names the offending byte and its offset: not for a secret.
                let detail = if secure {
                    "is not valid base64".to_owned()
                } else {
                    format!("is not valid base64 ({error})")
                };
                invalid(name, detail)
            }),
        Transform::Typed {
            type_name,
            json,
            parse,
        } => match parse(&text) {
            Ok(value) => Ok(Content::Typed {
                text,
                type_name,
                value,
            }),
            Err(problem) => {
                let what = transform.describe();
                // Parser messages may quote the input: a secure value gets the position only.
                let detail = match (secure, *json) {
                    (false, _) => format!("is not {what}: {problem}"),
                    (true, true) => format!("is not {what}{}", json_position(&problem)),
                    (true, false) => format!(
                        "is not {what} (the parser's message is withheld: the value is secure)"
                    ),
                };
                Err(invalid(name, detail))
            }
        },
    }
}

/// ` (at line L column C)` from a serde_json message, which ends with that position.
fn json_position(message: &str) -> String {
    message
        .rfind(" at line ")
        .map(|at| format!(" ({})", &message[at + 1..]))
        .filter(|position| {
            position
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " ()".contains(c))
        })
        .unwrap_or_default()
}

fn invalid(name: &str, detail: String) -> FetchError {
    FetchError::new(
        crate::cache::FetchErrorKind::Invalid,
        "InvalidValue",
        format!("the value of `{name}` {detail}"),
    )
}

const REDACTED: &str = "ParameterValue(<redacted>)";

impl fmt::Debug for ParameterValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.secure {
            return f.write_str(REDACTED);
        }
        let mut debug = f.debug_struct("ParameterValue");
        debug
            .field("name", &self.0.name)
            .field("kind", &self.kind());
        if let Content::Path(entries) = &self.0.content {
            debug.field(
                "entries",
                &entries.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            );
        }
        debug
            .field("version", &self.0.version)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ParameterValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.content {
            _ if self.0.secure => f.write_str(REDACTED),
            Content::Text(text) | Content::Typed { text, .. } => f.write_str(text),
            Content::Binary(bytes) => write!(f, "<{} bytes>", bytes.len()),
            Content::Path(entries) => write!(f, "<path of {} parameters>", entries.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parameters::Parameter;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Limits {
        max_items: u32,
    }

    fn value(parameter: Parameter, text: &str, secure: bool) -> Result<ParameterValue, FetchError> {
        let raw = Raw::text(text.to_owned(), secure, Some("3".into()));
        ParameterValue::transform(
            &parameter.name,
            &parameter.transform,
            parameter.redacted,
            raw,
        )
    }

    #[test]
    fn transforms_run_once_and_reads_borrow() {
        let json = value(
            Parameter::ssm("limits", "L").with_json::<Limits>(),
            r#"{"max_items": 7}"#,
            false,
        )
        .unwrap();
        assert_eq!(json.typed::<Limits>().unwrap(), &Limits { max_items: 7 });
        assert_eq!(json.as_str().unwrap(), r#"{"max_items": 7}"#);
        assert_eq!(json.version(), Some("3"));
        let error = json.typed::<String>().unwrap_err();
        assert_eq!(error.error_type(), "Parameters.WrongKind");
        assert_eq!(
            error.to_string(),
            "parameter `limits` holds a `Limits`, not `String`"
        );

        let binary = value(
            Parameter::ssm("cert", "C").with_binary(),
            "AAECAw==\n",
            false,
        )
        .unwrap();
        assert_eq!(binary.as_bytes().unwrap(), [0, 1, 2, 3]);
        assert_eq!(
            binary.as_str().unwrap_err().to_string(),
            "parameter `cert` holds binary data, not text"
        );
        assert_eq!(binary.to_string(), "<4 bytes>");

        let text = value(Parameter::ssm("greeting", "G"), "hello", false).unwrap();
        assert_eq!(
            (text.as_str().unwrap(), text.to_string().as_str()),
            ("hello", "hello")
        );
        assert_eq!(
            format!("{text:?}"),
            r#"ParameterValue { name: "greeting", kind: "text", version: Some("3"), .. }"#
        );
        assert!(text.entries().next().is_none());
    }

    #[test]
    fn values_that_do_not_transform_say_why_naming_the_parameter() {
        let cases = [
            (
                Parameter::ssm("limits", "L").with_json::<Limits>(),
                r#"{"max_items": "seven"}"#,
                false,
                "InvalidValue: the value of `limits` is not JSON for `Limits`: invalid type: \
                 string \"seven\", expected u32 at line 1 column 21",
            ),
            (
                Parameter::ssm("limits", "L").with_json::<Limits>(),
                r#"{"max_items": "hunter2"}"#,
                true,
                "InvalidValue: the value of `limits` is not JSON for `Limits` (at line 1 column 23)",
            ),
            (
                Parameter::ssm("cert", "C").with_binary(),
                "hunter2!",
                true,
                "InvalidValue: the value of `cert` is not valid base64",
            ),
            (
                Parameter::ssm("cert", "C").with_binary(),
                "ab-d",
                false,
                "InvalidValue: the value of `cert` is not valid base64 (Invalid symbol 45, offset 2.)",
            ),
            (
                Parameter::ssm("port", "P").with_transform(|text: &str| {
                    text.parse::<u16>()
                        .map_err(|_| format!("`{text}` is not a port"))
                }),
                "hunter2",
                true,
                "InvalidValue: the value of `port` is not a valid `u16` (the parser's message is \
                 withheld: the value is secure)",
            ),
        ];
        for (parameter, text, secure, message) in cases {
            let error = value(parameter, text, secure).unwrap_err();
            assert_eq!(error.to_string(), message);
            assert_eq!(error.kind(), crate::cache::FetchErrorKind::Invalid);
        }
    }

    #[test]
    fn secure_values_never_print() {
        let secure = value(Parameter::ssm("db", "D"), "hunter2", true).unwrap();
        let redacted = value(
            Parameter::appconfig("keys", "K").with_redaction(),
            "hunter2",
            false,
        )
        .unwrap();
        for value in [&secure, &redacted] {
            assert!(value.is_secure());
            assert_eq!(
                format!("{value:?} {value:#?} {value}"),
                [REDACTED; 3].join(" ")
            );
            assert_eq!(value.as_str().unwrap(), "hunter2");
        }
    }

    #[test]
    fn a_path_transforms_each_parameter_under_it() {
        let raw = |text: &str, secure| Raw::text(text.to_owned(), secure, None);
        let path = Raw {
            content: RawContent::Path(vec![
                ("a".into(), raw(r#"{"max_items": 1}"#, false)),
                ("nested/b".into(), raw(r#"{"max_items": 2}"#, true)),
            ]),
            secure: false,
            version: None,
        };
        let parameter = Parameter::ssm_path("limits", "L").with_json::<Limits>();
        let value =
            ParameterValue::transform(&parameter.name, &parameter.transform, false, path).unwrap();
        let read: Vec<_> = value
            .entries()
            .map(|(name, v)| {
                (
                    name,
                    v.name(),
                    v.typed::<Limits>().unwrap().max_items,
                    v.is_secure(),
                )
            })
            .collect();
        assert_eq!(
            read,
            [
                ("a", "limits/a", 1, false),
                ("nested/b", "limits/nested/b", 2, true)
            ]
        );
        assert_eq!(
            value
                .entry("nested/b")
                .unwrap()
                .typed::<Limits>()
                .unwrap()
                .max_items,
            2
        );
        assert_eq!(
            format!("{value:?}"),
            r#"ParameterValue { name: "limits", kind: "a path of 2 parameters", entries: ["a", "nested/b"], version: None, .. }"#
        );
        assert_eq!(format!("{:?}", value.entry("nested/b").unwrap()), REDACTED);
        let bad = Raw {
            content: RawContent::Path(vec![("a".into(), raw("[]", false))]),
            secure: false,
            version: None,
        };
        let error = ParameterValue::transform(&parameter.name, &parameter.transform, false, bad)
            .unwrap_err();
        assert!(
            error
                .detail()
                .starts_with("the value of `limits/a` is not JSON for"),
            "{error}"
        );
    }
}
