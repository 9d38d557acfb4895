//! Routing rules: which bucket (and key prefix) each content class goes to. Read once, at init.
//!
//! ```json
//! {
//!   "default": { "bucket": "shop-unsorted", "prefix": "unknown/" },
//!   "routes": {
//!     "json":  { "bucket": "shop-data",   "prefix": "json/" },
//!     "csv":   { "bucket": "shop-data",   "prefix": "csv/" },
//!     "image": { "bucket": "shop-images" }
//!   }
//! }
//! ```
//!
//! From `ROUTING_RULES` (the JSON itself) or `ROUTING_RULES_FILE` (a path; relative paths are
//! resolved against `LAMBDA_TASK_ROOT`, where Lambda unpacks the function package). A class
//! without a route goes to `default`. The routed copy's key is `prefix` + the source key.

use std::{collections::BTreeMap, path::PathBuf};

use serde::Deserialize;
use tern_runtime::{InitContext, InitError};

use super::classify::ContentClass;

/// Where objects of one class go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// Destination bucket.
    pub bucket: String,
    /// Key prefix (may be empty).
    #[serde(default)]
    pub prefix: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesDocument {
    default: Destination,
    #[serde(default)]
    routes: BTreeMap<String, Destination>,
}

/// The validated rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingRules {
    json: Destination,
    csv: Destination,
    image: Destination,
    unknown: Destination,
}

const CLASSES: [&str; 4] = ["json", "csv", "image", "unknown"];

impl RoutingRules {
    /// Reads `ROUTING_RULES` or `ROUTING_RULES_FILE`.
    pub fn from_init(init: &InitContext) -> Result<Self, InitError> {
        let invalid = |name: &str, reason: String| InitError::InvalidEnv {
            name: name.to_owned(),
            reason,
        };
        if let Some(text) = init.optional_env("ROUTING_RULES") {
            return Self::from_json(&text).map_err(|reason| invalid("ROUTING_RULES", reason));
        }
        let Some(file) = init.optional_env("ROUTING_RULES_FILE") else {
            return Err(InitError::MissingEnv {
                name: "ROUTING_RULES".to_owned(),
                purpose:
                    "the routing rules as JSON (or set ROUTING_RULES_FILE to a JSON file in the \
                          function package)"
                        .to_owned(),
            });
        };
        let mut path = PathBuf::from(&file);
        if path.is_relative()
            && let Some(root) = init.optional_env("LAMBDA_TASK_ROOT")
        {
            path = PathBuf::from(root).join(path);
        }
        let text = std::fs::read_to_string(&path).map_err(|err| {
            invalid(
                "ROUTING_RULES_FILE",
                format!("cannot read {}: {err}", path.display()),
            )
        })?;
        Self::from_json(&text).map_err(|reason| {
            invalid(
                "ROUTING_RULES_FILE",
                format!("{}: {reason}", path.display()),
            )
        })
    }

    /// Parses and validates a rules document.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let document: RulesDocument = serde_json::from_str(text)
            .map_err(|err| format!("not a valid rules document: {err}"))?;
        if let Some(unknown) = document
            .routes
            .keys()
            .find(|k| !CLASSES.contains(&k.as_str()))
        {
            return Err(format!(
                "unknown content class `{unknown}` in routes; use {}",
                CLASSES.join(", ")
            ));
        }
        let route = |class: &str| -> Result<Destination, String> {
            let destination = document
                .routes
                .get(class)
                .unwrap_or(&document.default)
                .clone();
            check_bucket(&destination.bucket)
                .map_err(|reason| format!("route `{class}`: {reason}"))?;
            Ok(destination)
        };
        Ok(Self {
            json: route("json")?,
            csv: route("csv")?,
            image: route("image")?,
            unknown: route("unknown")?,
        })
    }

    /// The destination for a class.
    pub fn destination(&self, class: ContentClass) -> &Destination {
        match class {
            ContentClass::Json => &self.json,
            ContentClass::Csv => &self.csv,
            ContentClass::Image(_) => &self.image,
            ContentClass::Unknown => &self.unknown,
        }
    }
}

fn check_bucket(bucket: &str) -> Result<(), String> {
    let valid_chars = bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if (3..=63).contains(&bucket.len()) && valid_chars {
        Ok(())
    } else {
        Err(format!(
            "bucket {bucket:?} is not a valid S3 bucket name (3-63 lowercase letters, digits, '-' or '.')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::classify::ImageFormat;

    #[test]
    fn routes_fall_back_to_default() {
        let rules = RoutingRules::from_json(
            r#"{"default": {"bucket": "unsorted", "prefix": "u/"},
                "routes": {"json": {"bucket": "data", "prefix": "json/"}, "image": {"bucket": "images"}}}"#,
        )
        .unwrap();
        let to = |class| rules.destination(class).clone();
        assert_eq!(
            to(ContentClass::Json),
            Destination {
                bucket: "data".into(),
                prefix: "json/".into()
            }
        );
        assert_eq!(
            to(ContentClass::Image(ImageFormat::Gif)),
            Destination {
                bucket: "images".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            to(ContentClass::Csv),
            Destination {
                bucket: "unsorted".into(),
                prefix: "u/".into()
            }
        );
        assert_eq!(
            to(ContentClass::Unknown),
            Destination {
                bucket: "unsorted".into(),
                prefix: "u/".into()
            }
        );
    }

    #[test]
    fn invalid_documents_say_what_is_wrong() {
        let cases = [
            (
                "{}",
                "not a valid rules document: missing field `default` at line 1 column 2",
            ),
            (
                r#"{"default": {"bucket": "ok-bucket"}, "routes": {"pdf": {"bucket": "docs"}}}"#,
                "unknown content class `pdf` in routes; use json, csv, image, unknown",
            ),
            (
                r#"{"default": {"bucket": "Bad_Bucket"}}"#,
                "route `json`: bucket \"Bad_Bucket\" is not a valid S3 bucket name (3-63 lowercase letters, digits, '-' or '.')",
            ),
            (
                r#"{"default": {"bucket": "ok-bucket", "prefx": "x/"}}"#,
                "not a valid rules document: unknown field `prefx`, expected `bucket` or `prefix` at line 1 column 43",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                RoutingRules::from_json(text).unwrap_err(),
                expected,
                "{text}"
            );
        }
    }
}
