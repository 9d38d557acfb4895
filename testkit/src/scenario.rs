//! The AWS resources the example functions need, created in moto: shared by the end-to-end
//! tests and the demo, so both exercise the same setup.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use crate::{Moto, tools};

/// Source bucket of the `s3` function's sample events (`events/s3/`).
pub const S3_SOURCE_BUCKET: &str = "tern-demo-incoming";
/// Where the `s3` function routes JSON and CSV.
pub const S3_DATA_BUCKET: &str = "tern-demo-data";
/// Where it routes images.
pub const S3_IMAGES_BUCKET: &str = "tern-demo-images";
/// Where everything else goes.
pub const S3_UNSORTED_BUCKET: &str = "tern-demo-unsorted";
/// The `sns` function's table of processed notifications (partition key `message_id`).
pub const NOTIFICATIONS_TABLE: &str = "tern-demo-notifications";
/// The secret holding the `sns` function's HMAC signing key.
pub const SIGNING_KEY_SECRET: &str = "tern-demo/signing-key";
/// The signing key's value in the scenario (a test canary: it must never appear in logs).
pub const SIGNING_KEY: &str = "canary-7d1f3c9a-signing-key-do-not-log";
/// The `sqs` function's orders table (partition key `order_id`).
pub const ORDERS_TABLE: &str = "tern-demo-orders";
/// The `kinesis` function's readings table (partition key `reading_id`).
pub const TELEMETRY_TABLE: &str = "tern-demo-telemetry";
/// The idempotency table every example function shares (Powertools schema).
pub const IDEMPOTENCY_TABLE: &str = "tern-demo-idempotency";
/// The SSM parameter holding the `s3` function's routing rules (JSON), when it reads them
/// from one.
pub const S3_RULES_PARAMETER: &str = "/tern-demo/routing-rules";

/// The `s3` function's routing rules in the scenario: JSON and CSV to the data bucket (under
/// `json/` and `csv/`), images to the images bucket, the rest to the unsorted bucket.
pub fn s3_routing_rules() -> Value {
    serde_json::json!({
        "default": {"bucket": S3_UNSORTED_BUCKET, "prefix": "unknown/"},
        "routes": {
            "json": {"bucket": S3_DATA_BUCKET, "prefix": "json/"},
            "csv": {"bucket": S3_DATA_BUCKET, "prefix": "csv/"},
            "image": {"bucket": S3_IMAGES_BUCKET, "prefix": ""}
        }
    })
}

/// moto, a Tokio runtime for SDK calls from synchronous tests, and the SDK configuration.
pub struct Scenario {
    /// The moto server (stop it to simulate an outage).
    pub moto: Moto,
    runtime: tokio::runtime::Runtime,
    sdk: aws_config::SdkConfig,
}

impl Scenario {
    /// Starts moto and prepares SDK clients for it.
    pub fn start() -> Self {
        let moto = Moto::start();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a Tokio runtime for the test's SDK calls");
        let sdk = runtime.block_on(moto.sdk_config());
        Self { moto, runtime, sdk }
    }

    /// Runs an SDK future to completion.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// An S3 client for moto (path-style addressing).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// A DynamoDB client for moto.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    /// Creates a table with a string partition key (on-demand billing).
    pub fn create_table(&self, table: &str, partition_key: &str) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let dynamodb = self.dynamodb();
        self.block_on(async {
            dynamodb
                .create_table()
                .table_name(table)
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(partition_key)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .expect("attribute definition"),
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(partition_key)
                        .key_type(KeyType::Hash)
                        .build()
                        .expect("key schema"),
                )
                .send()
                .await
                .unwrap_or_else(|err| panic!("create table {table}: {err:?}"));
        });
    }

    /// Creates a Secrets Manager secret with a text value; returns its ARN.
    pub fn create_secret(&self, name: &str, value: &str) -> String {
        let secrets = aws_sdk_secretsmanager::Client::new(&self.sdk);
        self.block_on(async {
            secrets
                .create_secret()
                .name(name)
                .secret_string(value)
                .send()
                .await
                .unwrap_or_else(|err| panic!("create secret {name}: {err:?}"))
                .arn()
                .expect("secret ARN")
                .to_owned()
        })
    }

    /// Creates the Powertools-compatible idempotency table (`id`) and returns the variable
    /// that names it.
    pub fn seed_idempotency(&self) -> Vec<(String, String)> {
        self.create_table(IDEMPOTENCY_TABLE, "id");
        vec![(
            "TERN_IDEMPOTENCY_TABLE".to_owned(),
            IDEMPOTENCY_TABLE.to_owned(),
        )]
    }

    /// Creates the `sns` function's table and signing-key secret; returns the function's
    /// environment (including the idempotency table, created too).
    pub fn seed_sns(&self) -> Vec<(String, String)> {
        let mut env = self.seed_sns_without_idempotency();
        env.extend(self.seed_idempotency());
        env
    }

    /// [`seed_sns`](Self::seed_sns) for a moto that already has the idempotency table.
    pub fn seed_sns_without_idempotency(&self) -> Vec<(String, String)> {
        self.create_table(NOTIFICATIONS_TABLE, "message_id");
        let arn = self.create_secret(SIGNING_KEY_SECRET, SIGNING_KEY);
        vec![
            (
                "NOTIFICATIONS_TABLE".to_owned(),
                NOTIFICATIONS_TABLE.to_owned(),
            ),
            ("SIGNING_KEY_SECRET_ARN".to_owned(), arn),
        ]
    }

    /// Seeds what every example function needs (one shared idempotency table); returns each
    /// handler's own environment: `echo`, `s3`, `sns`, `sqs` and `kinesis`, in this order.
    pub fn seed_handlers(&self) -> [(&'static str, Vec<(String, String)>); 5] {
        let shared = self.seed_idempotency();
        let mut s3 = self.seed_s3();
        s3.extend(shared.iter().cloned());
        let mut sns = self.seed_sns_without_idempotency();
        sns.extend(shared);
        [
            ("echo", Vec::new()),
            ("s3", s3),
            ("sns", sns),
            ("sqs", self.seed_sqs()),
            ("kinesis", self.seed_kinesis()),
        ]
    }

    /// Seeds what every example function needs (one shared idempotency table); returns the
    /// union of their environments, so one environment serves any handler.
    pub fn seed_every_handler(&self) -> Vec<(String, String)> {
        let mut env = self.seed_idempotency();
        env.extend(self.seed_s3());
        env.extend(self.seed_sqs());
        env.extend(self.seed_sns_without_idempotency());
        env.extend(self.seed_kinesis());
        env
    }

    /// Creates the `sqs` function's orders table; returns its environment.
    pub fn seed_sqs(&self) -> Vec<(String, String)> {
        self.create_table(ORDERS_TABLE, "order_id");
        vec![("ORDERS_TABLE".to_owned(), ORDERS_TABLE.to_owned())]
    }

    /// Creates the `kinesis` function's readings table; returns its environment.
    pub fn seed_kinesis(&self) -> Vec<(String, String)> {
        self.create_table(TELEMETRY_TABLE, "reading_id");
        vec![("TELEMETRY_TABLE".to_owned(), TELEMETRY_TABLE.to_owned())]
    }

    /// Every item of a table, as JSON objects (`{"attr": {"S": "…"}}` → `{"attr": "…"}`),
    /// sorted by their JSON text.
    pub fn table_items(&self, table: &str) -> Vec<Value> {
        use aws_sdk_dynamodb::types::AttributeValue;
        fn plain(value: &AttributeValue) -> Value {
            match value {
                AttributeValue::S(s) => Value::String(s.clone()),
                AttributeValue::N(n) => serde_json::from_str(n).unwrap_or(Value::String(n.clone())),
                AttributeValue::Bool(b) => Value::Bool(*b),
                AttributeValue::M(m) => {
                    Value::Object(m.iter().map(|(k, v)| (k.clone(), plain(v))).collect())
                }
                AttributeValue::L(l) => Value::Array(l.iter().map(plain).collect()),
                AttributeValue::Null(_) => Value::Null,
                other => Value::String(format!("{other:?}")),
            }
        }
        let dynamodb = self.dynamodb();
        self.block_on(async {
            let scanned = dynamodb
                .scan()
                .table_name(table)
                .send()
                .await
                .expect("scan");
            let mut items: Vec<Value> = scanned
                .items()
                .iter()
                .map(|item| {
                    Value::Object(item.iter().map(|(k, v)| (k.clone(), plain(v))).collect())
                })
                .collect();
            items.sort_by_key(|item| item.to_string());
            items
        })
    }

    /// The emulator running `bootstrap` as `handler` (by `_HANDLER`), talking to this moto, with
    /// `env` on top (what the `seed_*` methods return).
    pub fn function(
        &self,
        bootstrap: &std::path::Path,
        handler: &str,
        env: Vec<(String, String)>,
    ) -> crate::Emulator {
        crate::Emulator::builder(bootstrap)
            .handler(handler)
            .envs(self.function_env())
            .envs(env)
            .start()
    }

    /// Environment for a function under the emulator: moto's endpoint and credentials.
    pub fn function_env(&self) -> Vec<(String, String)> {
        self.moto.sdk_env()
    }

    /// Creates the `s3` function's buckets, uploads `events/s3/objects.json`, and returns the
    /// environment the function needs (routing rules, path-style addressing).
    pub fn seed_s3(&self) -> Vec<(String, String)> {
        self.seed_s3_objects();
        vec![
            ("ROUTING_RULES".to_owned(), s3_routing_rules().to_string()),
            ("S3_FORCE_PATH_STYLE".to_owned(), "true".to_owned()),
        ]
    }

    /// Like [`seed_s3`](Self::seed_s3), with the rules in the SSM parameter
    /// [`S3_RULES_PARAMETER`] and the function told to read them there.
    pub fn seed_s3_with_rules_parameter(&self) -> Vec<(String, String)> {
        self.seed_s3_objects();
        self.put_parameter(S3_RULES_PARAMETER, &s3_routing_rules().to_string());
        vec![
            (
                "ROUTING_RULES_PARAMETER".to_owned(),
                S3_RULES_PARAMETER.to_owned(),
            ),
            ("S3_FORCE_PATH_STYLE".to_owned(), "true".to_owned()),
        ]
    }

    /// Creates or overwrites a `String` parameter in SSM, as an operator would.
    pub fn put_parameter(&self, name: &str, value: &str) {
        self.block_on(crate::put_parameter(&self.sdk, name, value, false));
    }

    /// Uploads an object to the `s3` function's source bucket.
    pub fn put_source_object(&self, key: &str, body: &[u8]) {
        let s3 = self.s3();
        self.block_on(async {
            s3.put_object()
                .bucket(S3_SOURCE_BUCKET)
                .key(key)
                .body(body.to_vec().into())
                .send()
                .await
                .unwrap_or_else(|err| panic!("put object {key}: {err:?}"));
        });
    }

    fn seed_s3_objects(&self) {
        let manifest: Value = serde_json::from_str(
            &std::fs::read_to_string(tools::workspace_root().join("events/s3/objects.json"))
                .expect("events/s3/objects.json"),
        )
        .expect("objects.json is JSON");
        let objects: BTreeMap<String, Value> =
            serde_json::from_value(manifest["objects"].clone()).expect("objects map");
        let s3 = self.s3();
        self.block_on(async {
            for bucket in [
                S3_SOURCE_BUCKET,
                S3_DATA_BUCKET,
                S3_IMAGES_BUCKET,
                S3_UNSORTED_BUCKET,
            ] {
                s3.create_bucket()
                    .bucket(bucket)
                    .send()
                    .await
                    .expect("create bucket");
            }
            for (key, content) in &objects {
                let body = match (&content["text"], &content["base64"]) {
                    (Value::String(text), _) => text.as_bytes().to_vec(),
                    (_, Value::String(b64)) => base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .expect("base64 object content"),
                    _ => panic!("object {key} has neither text nor base64"),
                };
                s3.put_object()
                    .bucket(S3_SOURCE_BUCKET)
                    .key(key)
                    .body(body.into())
                    .send()
                    .await
                    .expect("put object");
            }
        });
    }

    /// Keys in a bucket, sorted.
    pub fn s3_keys(&self, bucket: &str) -> Vec<String> {
        let s3 = self.s3();
        self.block_on(async {
            let listed = s3
                .list_objects_v2()
                .bucket(bucket)
                .send()
                .await
                .expect("list objects");
            let mut keys: Vec<String> = listed
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned))
                .collect();
            keys.sort();
            keys
        })
    }

    /// An object's user metadata and content type.
    pub fn s3_head(&self, bucket: &str, key: &str) -> (BTreeMap<String, String>, Option<String>) {
        let s3 = self.s3();
        self.block_on(async {
            let head = s3
                .head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .expect("head object");
            let metadata = head
                .metadata()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect();
            (metadata, head.content_type().map(str::to_owned))
        })
    }
}
