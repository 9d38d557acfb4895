//! Routing rules: which bucket (and key prefix) each content class goes to.
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
//! From `ROUTING_RULES_PARAMETER` (the name of an SSM parameter holding the JSON, cached and
//! re-read after `TERN_PARAMETERS_TTL_SECONDS`, so a changed rule applies without a redeploy),
//! `ROUTING_RULES` (the JSON itself) or `ROUTING_RULES_FILE` (a path; relative paths are
//! resolved against `LAMBDA_TASK_ROOT`, where Lambda unpacks the function package); the last
//! two are read once, at init. A class without a route goes to `default`. The routed copy's key
//! is `prefix` + the source key. Rules that do not validate fail init; a changed parameter that
//! does not validate is logged and the rules in force stay.

use std::{collections::BTreeMap, path::PathBuf, sync::Arc};

use serde::Deserialize;
use tern_middleware::parameters::{
    Parameter, ParameterValue, Parameters, ParametersConfig, ParametersError, ParametersLayer,
};
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

/// The variable naming the SSM parameter that holds the rules.
pub const RULES_PARAMETER_ENV: &str = "ROUTING_RULES_PARAMETER";

/// The rules the handler routes by: fixed at init, or the current value of an SSM parameter.
#[derive(Clone, Debug)]
pub enum Rules {
    /// From `ROUTING_RULES` or `ROUTING_RULES_FILE`, read once.
    Fixed(Arc<RoutingRules>),
    /// From the SSM parameter `ROUTING_RULES_PARAMETER` names, validated once per version.
    Parameter(Parameters),
}

impl Rules {
    /// The logical name of the rules parameter.
    const PARAMETER: &str = "routing_rules";

    /// The rules, and the layer that keeps the parameter fresh when they come from one.
    pub async fn from_init(
        init: &InitContext,
    ) -> Result<(Self, Option<ParametersLayer>), InitError> {
        if init.optional_env(RULES_PARAMETER_ENV).is_none() {
            return Ok((Self::Fixed(Arc::new(RoutingRules::from_init(init)?)), None));
        }
        if let Some(other) = ["ROUTING_RULES", "ROUTING_RULES_FILE"]
            .into_iter()
            .find(|name| init.optional_env(name).is_some())
        {
            return Err(InitError::InvalidEnv {
                name: other.to_owned(),
                reason: format!(
                    "the rules come from the parameter {RULES_PARAMETER_ENV} names; unset one of \
                     the two"
                ),
            });
        }
        let rules = Parameter::ssm(Self::PARAMETER, RULES_PARAMETER_ENV)
            .with_transform(RoutingRules::from_json);
        let config = ParametersConfig::from_env()?.with_parameter(rules);
        let layer = ParametersLayer::from_init(init, config).await?;
        Ok((Self::Parameter(layer.parameters().clone()), Some(layer)))
    }

    /// The rules in force: a reference count, no parse (the parameter's rules were validated
    /// once, when that version was fetched).
    pub fn current(&self) -> Result<CurrentRules, ParametersError> {
        match self {
            Self::Fixed(rules) => Ok(CurrentRules::Fixed(rules.clone())),
            Self::Parameter(parameters) => {
                let value = parameters.get(Self::PARAMETER)?;
                value.typed::<RoutingRules>()?;
                Ok(CurrentRules::Parameter(value))
            }
        }
    }
}

/// The rules one event is routed by.
pub enum CurrentRules {
    /// Fixed at init.
    Fixed(Arc<RoutingRules>),
    /// A version of the rules parameter, holding [`RoutingRules`] (checked by [`Rules::current`]).
    Parameter(ParameterValue),
}

impl std::ops::Deref for CurrentRules {
    type Target = RoutingRules;

    fn deref(&self) -> &RoutingRules {
        match self {
            Self::Fixed(rules) => rules,
            Self::Parameter(value) => value
                .typed::<RoutingRules>()
                .expect("Rules::current hands out values that hold RoutingRules"),
        }
    }
}

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
                purpose: format!(
                    "the routing rules as JSON (or set ROUTING_RULES_FILE to a JSON file in the \
                     function package, or {RULES_PARAMETER_ENV} to the name of an SSM parameter \
                     holding them)"
                ),
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
