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

    /// Environment for a function under the emulator: moto's endpoint and credentials.
    pub fn function_env(&self) -> Vec<(String, String)> {
        self.moto.sdk_env()
    }

    /// Creates the `s3` function's buckets, uploads `events/s3/objects.json`, and returns the
    /// environment the function needs (routing rules, path-style addressing).
    pub fn seed_s3(&self) -> Vec<(String, String)> {
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
        let rules = serde_json::json!({
            "default": {"bucket": S3_UNSORTED_BUCKET, "prefix": "unknown/"},
            "routes": {
                "json": {"bucket": S3_DATA_BUCKET, "prefix": "json/"},
                "csv": {"bucket": S3_DATA_BUCKET, "prefix": "csv/"},
                "image": {"bucket": S3_IMAGES_BUCKET, "prefix": ""}
            }
        });
        vec![
            ("ROUTING_RULES".to_owned(), rules.to_string()),
            ("S3_FORCE_PATH_STYLE".to_owned(), "true".to_owned()),
        ]
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
