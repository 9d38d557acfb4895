//! Helpers of the idempotency tests: an SDK configuration for moto, the table, a DynamoDB
//! call recorder and a manual clock.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use aws_config::{Region, SdkConfig, retry::RetryConfig};
use aws_sdk_dynamodb::{
    Client,
    config::Credentials,
    types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
        ScalarAttributeType,
    },
};
use tern_middleware::idempotency::{config::Clock, store::DynamoDbStore};
use tern_testkit::Moto;

pub const TABLE: &str = "idempotency";

/// An SDK configuration for `moto`, built explicitly (tests never touch the process
/// environment). One attempt per call, so call counts are exact and outages show at once.
pub async fn sdk_config(moto: &Moto) -> SdkConfig {
    sdk_config_at(&moto.endpoint()).await
}

/// Like [`sdk_config`], for any endpoint (e.g. a [`FaultProxy`](tern_testkit::FaultProxy) in front of moto).
pub async fn sdk_config_at(endpoint: &str) -> SdkConfig {
    tern_runtime::aws::config_loader()
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "t"))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

/// Creates the idempotency table as an operator would: partition key `id` (S), on demand.
pub async fn create_table(admin: &Client, table: &str) {
    admin
        .create_table()
        .table_name(table)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

/// The raw item under `key`, read with a consistent `GetItem` by the admin client.
pub async fn raw_item(
    admin: &Client,
    table: &str,
    key: &str,
) -> Option<HashMap<String, AttributeValue>> {
    admin
        .get_item()
        .table_name(table)
        .key("id", AttributeValue::S(key.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

/// Records the DynamoDB operation of every request sent on the wire (`x-amz-target`).
pub use tern_testkit::OperationLog as CallLog;

/// A store on `table` whose calls are recorded.
pub fn recorded_store(sdk: &SdkConfig, table: &str) -> (Arc<DynamoDbStore>, CallLog) {
    let calls = CallLog::default();
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .interceptor(calls.clone())
        .build();
    let store = DynamoDbStore::new(Client::from_conf(config), table);
    (Arc::new(store), calls)
}

/// A clock that moves only when told.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn at(ms: u64) -> Self {
        Self(Arc::new(AtomicU64::new(ms)))
    }

    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The item schema written out by hand (independent of the store's own mapping).
pub fn expected_item(
    key: &str,
    status: &str,
    expiration: u64,
    in_progress_expiration: Option<u64>,
    data: Option<&str>,
    validation: Option<&str>,
) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("id".to_owned(), AttributeValue::S(key.to_owned())),
        ("status".to_owned(), AttributeValue::S(status.to_owned())),
        (
            "expiration".to_owned(),
            AttributeValue::N(expiration.to_string()),
        ),
    ]);
    if let Some(lock) = in_progress_expiration {
        item.insert(
            "in_progress_expiration".to_owned(),
            AttributeValue::N(lock.to_string()),
        );
    }
    if let Some(data) = data {
        item.insert("data".to_owned(), AttributeValue::S(data.to_owned()));
    }
    if let Some(validation) = validation {
        item.insert(
            "validation".to_owned(),
            AttributeValue::S(validation.to_owned()),
        );
    }
    item
}
