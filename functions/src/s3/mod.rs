//! `s3`: route new objects by content.
//!
//! For each `ObjectCreated` record: read the object's first bytes, classify them (JSON, CSV,
//! image by magic bytes, unknown), and copy the object server-side to the bucket and prefix the
//! [routing rules](routing) name for that class. The copy's metadata records the decision
//! (`tern-source`, `tern-content-class`, `tern-source-sequencer`). S3 may notify twice, so the
//! handler runs behind the idempotency layer keyed by bucket, key and version (or sequencer):
//! a duplicate notification returns the first report without copying again.
//!
//! Configuration (read at init): `ROUTING_RULES_PARAMETER` (an SSM parameter, re-read after
//! `TERN_PARAMETERS_TTL_SECONDS`), `ROUTING_RULES` or `ROUTING_RULES_FILE` (see [`routing`]);
//! `TERN_IDEMPOTENCY_TABLE`; `S3_FORCE_PATH_STYLE=true` for S3-compatible endpoints such as
//! moto.

pub mod classify;
pub mod routing;

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use aws_sdk_s3::{
    error::{ProvideErrorMetadata, SdkError},
    primitives::ByteStream,
    types::MetadataDirective,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use tern_middleware::{
    idempotency::{IdempotencyConfig, IdempotencyLayer, KeySelector},
    parameters::{ParametersError, ParametersLayer},
};
use tern_runtime::{Diagnostic, InitContext, InitError, aws::SdkFailure};
use tower::ServiceBuilder;

use classify::{SAMPLE_BYTES, classify};
use routing::{RoutingRules, Rules};

/// Largest object `CopyObject` copies in one request.
const MAX_COPY_BYTES: i64 = 5 * 1024 * 1024 * 1024;

/// Characters left as they are in a `CopySource` (S3 wants the key URL-encoded, `/` kept).
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What the handler did with one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routed {
    /// `s3://bucket/key` of the new object.
    pub source: String,
    /// `s3://bucket/key` of the copy.
    pub destination: String,
    /// The content class (`json`, `csv`, `image/png`, `unknown`, …).
    pub class: String,
}

/// The response: one entry per routed object, and the records skipped (not `ObjectCreated`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RoutingReport {
    /// Routed objects, in record order.
    pub routed: Vec<Routed>,
    /// Event names of records that were not object creations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

/// Why routing an object failed; the invocation fails and Lambda's async retries (then the
/// on-failure destination) take over.
#[derive(Debug, thiserror::Error)]
pub enum S3RouteError {
    /// The record lacks a field S3 always sends.
    #[error("record {index} has no {field}")]
    MissingField {
        /// Record position.
        index: usize,
        /// The missing field.
        field: &'static str,
    },
    /// A field of the record is not what S3 sends (the key is not URL-encoded UTF-8 or is
    /// longer than S3 allows, the bucket name breaks S3's naming rules, …). The message names
    /// the field and the rule, never the field's content.
    #[error("record {index}: {field} {problem}")]
    InvalidField {
        /// Record position.
        index: usize,
        /// The field, e.g. `s3.object.key`.
        field: &'static str,
        /// Which rule it breaks.
        problem: String,
    },
    /// Routing would write into the bucket that triggered the function.
    #[error(
        "s3://{bucket}/{key} would be routed into its own bucket, which can re-trigger this function \
         forever; route `{class}` to another bucket"
    )]
    SameBucket {
        /// Source bucket.
        bucket: String,
        /// Source key.
        key: String,
        /// Its class.
        class: String,
    },
    /// The object is too large for a single-request copy.
    #[error(
        "s3://{bucket}/{key} is {size} bytes; objects over 5 GiB need a multipart copy, which this handler does not do"
    )]
    TooLarge {
        /// Source bucket.
        bucket: String,
        /// Source key.
        key: String,
        /// Object size.
        size: i64,
    },
    /// The routing rules parameter cannot be read (stale past its grace period).
    #[error(transparent)]
    Rules(#[from] ParametersError),
    /// An S3 call failed.
    #[error("{operation} s3://{bucket}/{key} failed: {code}: {message}")]
    S3 {
        /// `GetObject` or `CopyObject`.
        operation: &'static str,
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// AWS error code, or the kind of failure when no answer came (`SdkFailure::code`);
        /// `ReadFailed` when the object's body could not be read.
        code: String,
        /// AWS error message, or the plain cause (`SdkFailure::message`).
        message: String,
    },
}

impl From<S3RouteError> for Diagnostic {
    fn from(error: S3RouteError) -> Self {
        let error_type = match &error {
            S3RouteError::MissingField { .. } | S3RouteError::InvalidField { .. } => {
                "S3.InvalidRecord"
            }
            S3RouteError::SameBucket { .. } => "S3.RoutingLoop",
            S3RouteError::TooLarge { .. } => "S3.ObjectTooLarge",
            S3RouteError::S3 { .. } => "S3.RequestFailed",
            S3RouteError::Rules(rules) => rules.error_type(),
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// Builds the `s3` service: the rules parameter kept fresh (when the rules come from one) →
/// idempotency (per bucket, key and version or sequencer) → router.
pub async fn build(
    init: InitContext,
) -> Result<impl crate::FunctionService<S3Event, RoutingReport>, InitError> {
    let (router, rules_parameter) = S3Router::from_init(&init).await?;
    let by_object = KeySelector::from_fn(|event: &S3Event| Some(idempotency_data(event)));
    let idempotency =
        IdempotencyLayer::from_init(&init, IdempotencyConfig::from_env()?, by_object).await?;
    Ok(ServiceBuilder::new()
        .layer(crate::observability::metrics_layer())
        .option_layer(rules_parameter)
        .map_err(Diagnostic::from)
        .layer(idempotency)
        .service(tern_runtime::service_fn(
            move |event: tern_runtime::LambdaEvent<S3Event>| {
                let router = router.clone();
                async move { router.route_event(&event.payload).await }
            },
        )))
}

/// The state built at init.
#[derive(Clone)]
pub struct S3Router {
    client: aws_sdk_s3::Client,
    rules: Rules,
}

impl S3Router {
    /// Reads the rules (fetching their parameter, whose layer it returns, when they come from
    /// one) and builds the S3 client from the shared SDK configuration.
    pub async fn from_init(
        init: &InitContext,
    ) -> Result<(Self, Option<ParametersLayer>), InitError> {
        let (rules, rules_parameter) = Rules::from_init(init).await?;
        let path_style = match init.optional_env("S3_FORCE_PATH_STYLE").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(InitError::InvalidEnv {
                    name: "S3_FORCE_PATH_STYLE".to_owned(),
                    reason: "use `true` or `false`".to_owned(),
                });
            }
        };
        let config = aws_sdk_s3::config::Builder::from(init.aws_config().await)
            .force_path_style(path_style)
            .build();
        let router = Self {
            client: aws_sdk_s3::Client::from_conf(config),
            rules,
        };
        Ok((router, rules_parameter))
    }

    /// Routes every `ObjectCreated` record of the event, in order, by the rules in force when
    /// it arrived.
    pub async fn route_event(&self, event: &S3Event) -> Result<RoutingReport, S3RouteError> {
        let rules = self.rules.current()?;
        let mut report = RoutingReport::default();
        for (index, record) in event.records.iter().enumerate() {
            let name = record.event_name.as_deref().unwrap_or_default();
            if !name.starts_with("ObjectCreated:") {
                tracing::info!(index, event_name = name, "not an object creation; skipped");
                report.skipped.push(name.to_owned());
                continue;
            }
            report.routed.push(self.route(&rules, index, record).await?);
        }
        Ok(report)
    }

    async fn route(
        &self,
        rules: &RoutingRules,
        index: usize,
        record: &S3EventRecord,
    ) -> Result<Routed, S3RouteError> {
        let object = ObjectRef::from_record(index, record)?;
        let (sample, complete) = self.sample(&object).await?;
        let class = classify(&sample, complete);
        let destination = rules.destination(class);
        if destination.bucket == object.bucket {
            return Err(S3RouteError::SameBucket {
                bucket: object.bucket,
                key: object.key,
                class: class.to_string(),
            });
        }
        if object.size > MAX_COPY_BYTES {
            return Err(S3RouteError::TooLarge {
                bucket: object.bucket,
                key: object.key,
                size: object.size,
            });
        }
        let target_key = format!("{}{}", destination.prefix, object.key);
        let mut copy_source = format!(
            "{}/{}",
            object.bucket,
            utf8_percent_encode(&object.key, COPY_SOURCE)
        );
        if let Some(version) = &object.version_id {
            copy_source.push_str("?versionId=");
            copy_source.extend(utf8_percent_encode(version, NON_ALPHANUMERIC));
        }
        let source_uri = format!("s3://{}/{}", object.bucket, object.key);
        self.client
            .copy_object()
            .copy_source(copy_source)
            .bucket(&destination.bucket)
            .key(&target_key)
            .metadata_directive(MetadataDirective::Replace)
            .content_type(class.content_type())
            // Metadata values must be ASCII: the source URI goes in URL-encoded.
            .metadata(
                "tern-source",
                utf8_percent_encode(&source_uri, COPY_SOURCE).to_string(),
            )
            .metadata("tern-content-class", class.to_string())
            .metadata(
                "tern-source-sequencer",
                object.sequencer.clone().unwrap_or_default(),
            )
            .send()
            .await
            .map_err(|err| object.error("CopyObject", &err))?;
        let routed = Routed {
            source: source_uri,
            destination: format!("s3://{}/{}", destination.bucket, target_key),
            class: class.to_string(),
        };
        tracing::info!(source = %routed.source, destination = %routed.destination, class = %routed.class, "routed");
        Ok(routed)
    }

    /// The first bytes of the object, and whether they are all of it.
    async fn sample(&self, object: &ObjectRef) -> Result<(Vec<u8>, bool), S3RouteError> {
        if object.size == 0 {
            return Ok((Vec::new(), true)); // a ranged GET of an empty object is an error
        }
        let mut request = self
            .client
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .range(format!("bytes=0-{}", SAMPLE_BYTES - 1));
        if let Some(version) = &object.version_id {
            request = request.version_id(version);
        }
        let output = request
            .send()
            .await
            .map_err(|err| object.error("GetObject", &err))?;
        let body: ByteStream = output.body;
        let bytes = body
            .collect()
            .await
            .map_err(|err| S3RouteError::S3 {
                operation: "GetObject",
                bucket: object.bucket.clone(),
                key: object.key.clone(),
                code: "ReadFailed".to_owned(),
                message: err.to_string(),
            })?
            .into_bytes()
            .to_vec();
        let complete = bytes.len() < SAMPLE_BYTES || bytes.len() as i64 >= object.size;
        Ok((bytes, complete))
    }
}

/// One record's object, with its key decoded.
struct ObjectRef {
    bucket: String,
    key: String,
    size: i64,
    version_id: Option<String>,
    sequencer: Option<String>,
}

impl ObjectRef {
    fn from_record(index: usize, record: &S3EventRecord) -> Result<Self, S3RouteError> {
        let missing = |field| S3RouteError::MissingField { index, field };
        let (s3, object) = (&record.s3, &record.s3.object);
        let bucket = s3.bucket.name.clone().ok_or(missing("s3.bucket.name"))?;
        let raw_key = object.key.as_deref().ok_or(missing("s3.object.key"))?;
        let invalid = |field, problem: &str| S3RouteError::InvalidField {
            index,
            field,
            problem: problem.to_owned(),
        };
        // Everything below reaches the SDK's request builders, which panic on some inputs (a
        // URI over 64 KiB): check what S3 itself guarantees before any of it is used.
        check_bucket_name(&bucket).map_err(|problem| invalid("s3.bucket.name", problem))?;
        let key = decode_key(raw_key)
            .ok_or_else(|| invalid("s3.object.key", "is not URL-encoded UTF-8"))?;
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(invalid(
                "s3.object.key",
                &format!(
                    "is {} bytes long once decoded; S3 keys are 1 to {MAX_KEY_BYTES} bytes",
                    key.len()
                ),
            ));
        }
        let version_id = object.version_id.clone().filter(|v| !v.is_empty());
        if let Some(version) = &version_id {
            check_token(version, MAX_KEY_BYTES)
                .map_err(|problem| invalid("s3.object.versionId", problem))?;
        }
        if let Some(sequencer) = &object.sequencer {
            check_token(sequencer, MAX_SEQUENCER_BYTES)
                .map_err(|problem| invalid("s3.object.sequencer", problem))?;
        }
        let size = object.size.unwrap_or_default();
        if size < 0 {
            return Err(invalid("s3.object.size", "is negative"));
        }
        Ok(Self {
            bucket,
            key,
            size,
            version_id,
            sequencer: object.sequencer.clone(),
        })
    }

    fn error<E, R>(&self, operation: &'static str, err: &SdkError<E, R>) -> S3RouteError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let (code, message) = SdkFailure::from_sdk_error(err).into_parts();
        S3RouteError::S3 {
            operation,
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            code: code.into_owned(),
            message,
        }
    }
}

/// The longest object key S3 accepts, in bytes of UTF-8 (version ids are no longer either).
const MAX_KEY_BYTES: usize = 1024;
/// Sequencers are short hexadecimal strings; anything much longer is not from S3.
const MAX_SEQUENCER_BYTES: usize = 64;

/// S3's rules for bucket names: 3 to 63 characters; lowercase letters, digits, dots and
/// hyphens; a letter or digit first and last.
fn check_bucket_name(name: &str) -> Result<(), &'static str> {
    let bytes = name.as_bytes();
    if !(3..=63).contains(&bytes.len()) {
        return Err("is not 3 to 63 characters long, as S3 bucket names are");
    }
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-';
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.iter().all(allowed) || !edge(&bytes[0]) || !edge(&bytes[bytes.len() - 1]) {
        return Err(
            "is not a valid S3 bucket name (lowercase letters, digits, dots and hyphens, \
             starting and ending with a letter or digit)",
        );
    }
    Ok(())
}

/// Version ids and sequencers are opaque, printable ASCII and bounded in length.
fn check_token(token: &str, max_bytes: usize) -> Result<(), &'static str> {
    if token.len() > max_bytes {
        return Err("is longer than S3 makes it");
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("holds characters S3 never uses in it (only printable ASCII)");
    }
    Ok(())
}

/// S3 event keys are URL-encoded with `+` for spaces (a literal `+` arrives as `%2B`).
pub fn decode_key(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|k| k.into_owned())
}

/// The idempotency key data of an event: every record's bucket, key and version (or, in an
/// unversioned bucket, the sequencer S3 assigns to each write of a key).
pub fn idempotency_data(event: &S3Event) -> Vec<(String, String, String)> {
    event
        .records
        .iter()
        .map(|r| {
            let object = &r.s3.object;
            let version = object
                .version_id
                .clone()
                .filter(|v| !v.is_empty())
                .or_else(|| object.sequencer.clone())
                .unwrap_or_default();
            (
                r.s3.bucket.name.clone().unwrap_or_default(),
                object.key.clone().unwrap_or_default(),
                version,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_like_s3_encodes_them() {
        let cases = [
            (
                "incoming/orders+2026-11-22.json",
                Some("incoming/orders 2026-11-22.json"),
            ),
            (
                "incoming/photos/k%C3%A4se+%26+brot.png",
                Some("incoming/photos/käse & brot.png"),
            ),
            ("a%2Bb.txt", Some("a+b.txt")),
            ("plain/key.csv", Some("plain/key.csv")),
            ("bad%FF.txt", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(decode_key(raw).as_deref(), expected, "{raw}");
        }
    }

    #[test]
    fn records_that_s3_cannot_have_sent_are_invalid_naming_the_field_not_its_content() {
        let base: S3Event =
            serde_json::from_str(include_str!("../../../events/s3/1-orders-json.json")).unwrap();
        let key_of = |bytes: usize| "k".repeat(bytes);
        type Edit = fn(&mut S3EventRecord, &str);
        let set_key: Edit = |r, v| r.s3.object.key = Some(v.to_owned());
        let set_bucket: Edit = |r, v| r.s3.bucket.name = Some(v.to_owned());
        let set_version: Edit = |r, v| r.s3.object.version_id = Some(v.to_owned());
        let set_sequencer: Edit = |r, v| r.s3.object.sequencer = Some(v.to_owned());
        let cases: Vec<(Edit, String, Option<&str>)> = vec![
            (set_key, key_of(1024), None),
            (
                set_key,
                key_of(1025),
                Some(
                    "record 0: s3.object.key is 1025 bytes long once decoded; S3 keys are 1 to 1024 bytes",
                ),
            ),
            (
                set_key,
                key_of(100_000),
                Some(
                    "record 0: s3.object.key is 100000 bytes long once decoded; S3 keys are 1 to 1024 bytes",
                ),
            ),
            // 1024 bytes once decoded, 3072 as sent.
            (set_key, "%C3%A9".repeat(512), None),
            (
                set_key,
                "secret%FF".to_owned(),
                Some("record 0: s3.object.key is not URL-encoded UTF-8"),
            ),
            (
                set_key,
                String::new(),
                Some(
                    "record 0: s3.object.key is 0 bytes long once decoded; S3 keys are 1 to 1024 bytes",
                ),
            ),
            (
                set_bucket,
                "Secret_Bucket".to_owned(),
                Some(
                    "record 0: s3.bucket.name is not a valid S3 bucket name (lowercase letters, \
                     digits, dots and hyphens, starting and ending with a letter or digit)",
                ),
            ),
            (
                set_bucket,
                "b".repeat(64),
                Some(
                    "record 0: s3.bucket.name is not 3 to 63 characters long, as S3 bucket names are",
                ),
            ),
            (
                set_version,
                "v\nsecret".to_owned(),
                Some(
                    "record 0: s3.object.versionId holds characters S3 never uses in it (only printable ASCII)",
                ),
            ),
            (
                set_sequencer,
                "0".repeat(65),
                Some("record 0: s3.object.sequencer is longer than S3 makes it"),
            ),
        ];
        for (edit, value, expected) in cases {
            let mut record = base.records[0].clone();
            edit(&mut record, &value);
            let got = ObjectRef::from_record(0, &record).map(|_| ()).map_err(|e| {
                let message = e.to_string();
                assert!(!message.contains("secret"), "{message}");
                assert_eq!(Diagnostic::from(e).error_type, "S3.InvalidRecord");
                message
            });
            match expected {
                None => assert_eq!(got, Ok(()), "{}", &value[..value.len().min(40)]),
                Some(message) => assert_eq!(got, Err(message.to_owned())),
            }
        }
    }

    #[test]
    fn copy_source_keeps_slashes_and_encodes_the_rest() {
        let encoded = utf8_percent_encode("photos/käse & brot.png", COPY_SOURCE).to_string();
        assert_eq!(encoded, "photos/k%C3%A4se%20%26%20brot.png");
    }

    #[test]
    fn idempotency_data_prefers_the_version_then_the_sequencer() {
        let event: S3Event =
            serde_json::from_str(include_str!("../../../events/s3/1-orders-json.json")).unwrap();
        assert_eq!(
            idempotency_data(&event),
            [(
                "tern-demo-incoming".to_owned(),
                "incoming/orders+2026-11-22.json".to_owned(),
                "0062E1E1B8E5C0F8A1".to_owned()
            )]
        );
    }
}
