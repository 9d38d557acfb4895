//! Records in a DynamoDB table, in the item schema of Powertools for AWS Lambda.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicU64, Ordering},
};

use aws_sdk_dynamodb::{
    Client,
    config::http::HttpResponse,
    error::{ProvideErrorMetadata, SdkError},
    operation::put_item::PutItemError,
    types::{AttributeValue, ReturnValuesOnConditionCheckFailure},
};
use tern_runtime::aws::SdkFailure;

use super::{AttributeNames, IdempotencyStore, PutOutcome, StoreError, StoreFuture};
use crate::idempotency::record::{IdempotencyRecord, RecordStatus};

/// Admits a new lock when there is no item, it expired, or it is a lock that expired.
const ADMIT_NEW_LOCK: &str =
    "attribute_not_exists(#id) OR #exp < :now OR (#status = :inprogress AND #ipexp < :now_ms)";

/// How often a put that lost its condition, and then found no item, is tried again before
/// giving up (the item was deleted between the two calls each time).
const PUT_ATTEMPTS: usize = 3;

/// An [`IdempotencyStore`] backed by a DynamoDB table with partition key `id` (S) and,
/// ideally, TTL on `expiration`.
///
/// Calls per invocation: a new key costs two (a conditional `PutItem`, then `UpdateItem` on
/// success or `DeleteItem` on failure); a duplicate costs one, the `PutItem` whose failed
/// condition returns the stored item (`ReturnValuesOnConditionCheckFailure=ALL_OLD`). Only if
/// an endpoint does not return that item is it read with a consistent `GetItem`
/// ([`fallback_reads`](Self::fallback_reads) counts those).
///
/// The execution role needs `dynamodb:PutItem`, `GetItem`, `UpdateItem` and `DeleteItem` on
/// the table.
#[derive(Debug)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    names: AttributeNames,
    fallback_reads: AtomicU64,
}

impl DynamoDbStore {
    /// A store on `table` through `client`, with the default attribute names.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            names: AttributeNames::default(),
            fallback_reads: AtomicU64::new(0),
        }
    }

    /// Uses other attribute names.
    pub fn with_attribute_names(mut self, names: AttributeNames) -> Self {
        self.names = names;
        self
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The attribute names in use.
    pub fn attribute_names(&self) -> &AttributeNames {
        &self.names
    }

    /// How many times a failed conditional put had to read the item with `GetItem` because
    /// the endpoint did not return it. Stays 0 against DynamoDB (and moto).
    pub fn fallback_reads(&self) -> u64 {
        self.fallback_reads.load(Ordering::Relaxed)
    }
    /// The DynamoDB item for `record`; optional fields that are `None` are left out.
    pub fn to_item(&self, record: &IdempotencyRecord) -> HashMap<String, AttributeValue> {
        self.names.to_item(record)
    }

    /// The record an item holds; an error (code `MalformedRecord`, naming the attribute) when
    /// a required attribute is missing or has the wrong type.
    pub fn from_item(
        &self,
        item: &HashMap<String, AttributeValue>,
    ) -> Result<IdempotencyRecord, StoreError> {
        self.names.parse_item(item, &self.table, "GetItem")
    }

    fn key(&self, key: &str) -> HashMap<String, AttributeValue> {
        self.names.key(key)
    }

    async fn put(&self, record: &IdempotencyRecord, now_ms: u64) -> Result<PutOutcome, StoreError> {
        for _ in 0..PUT_ATTEMPTS {
            let sent = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(self.to_item(record)))
                .condition_expression(ADMIT_NEW_LOCK)
                .expression_attribute_names("#id", &self.names.key)
                .expression_attribute_names("#exp", &self.names.expiration)
                .expression_attribute_names("#status", &self.names.status)
                .expression_attribute_names("#ipexp", &self.names.in_progress_expiration)
                .expression_attribute_values(":now", AttributeValue::N((now_ms / 1000).to_string()))
                .expression_attribute_values(":now_ms", AttributeValue::N(now_ms.to_string()))
                .expression_attribute_values(
                    ":inprogress",
                    AttributeValue::S(RecordStatus::InProgress.as_str().to_owned()),
                )
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let error = match sent {
                Ok(_) => return Ok(PutOutcome::Acquired),
                Err(error) => error,
            };
            let old_item = match &error {
                SdkError::ServiceError(service) => match service.err() {
                    PutItemError::ConditionalCheckFailedException(failed) => failed.item(),
                    _ => return Err(sdk_error("PutItem", error)),
                },
                _ => return Err(sdk_error("PutItem", error)),
            };
            if let Some(item) = old_item {
                return self
                    .names
                    .parse_item(item, &self.table, "PutItem")
                    .map(PutOutcome::Exists);
            }
            self.fallback_reads.fetch_add(1, Ordering::Relaxed);
            if let Some(old) = self.read(&record.key).await? {
                return Ok(PutOutcome::Exists(old));
            }
        }
        Err(StoreError::new(
            "PutItem",
            "ConditionalCheckFailedException",
            format!(
                "the record `{}` blocked the write {PUT_ATTEMPTS} times but was gone when read \
                 back; it is being deleted and re-created concurrently, retry the invocation",
                record.key
            ),
        ))
    }

    async fn read(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error("GetItem", error))?;
        output
            .item()
            .map(|item| self.names.parse_item(item, &self.table, "GetItem"))
            .transpose()
    }
}

impl IdempotencyStore for DynamoDbStore {
    fn name(&self) -> &str {
        &self.table
    }

    fn put_in_progress<'a>(
        &'a self,
        record: &'a IdempotencyRecord,
        now_ms: u64,
    ) -> StoreFuture<'a, PutOutcome> {
        Box::pin(self.put(record, now_ms))
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<IdempotencyRecord>> {
        Box::pin(self.read(key))
    }

    fn update_completed<'a>(&'a self, record: &'a IdempotencyRecord) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(self.key(&record.key)))
                .expression_attribute_names("#status", &self.names.status)
                .expression_attribute_names("#exp", &self.names.expiration)
                .expression_attribute_values(
                    ":status",
                    AttributeValue::S(record.status.as_str().to_owned()),
                )
                .expression_attribute_values(
                    ":exp",
                    AttributeValue::N(record.expiration.to_string()),
                );
            update = match (&record.data, &record.omitted) {
                (Some(data), _) => update
                    .update_expression("SET #status = :status, #exp = :exp, #data = :data")
                    .expression_attribute_names("#data", &self.names.data)
                    .expression_attribute_values(":data", AttributeValue::S(data.clone())),
                (None, Some(omitted)) => update
                    .update_expression("SET #status = :status, #exp = :exp, #omitted = :omitted")
                    .expression_attribute_names("#omitted", &self.names.omitted)
                    .expression_attribute_values(":omitted", super::item::omitted_value(omitted)),
                (None, None) => update.update_expression("SET #status = :status, #exp = :exp"),
            };
            update
                .send()
                .await
                .map_err(|error| sdk_error("UpdateItem", error))?;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(self.key(key)))
                .send()
                .await
                .map_err(|error| sdk_error("DeleteItem", error))?;
            Ok(())
        })
    }
}
/// The AWS error code and message of a failed call, or the kind of failure and its plain
/// cause (naming the endpoint) when no answer came: [`SdkFailure`].
fn sdk_error<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (code, message) = SdkFailure::from_sdk_error(&error).into_parts();
    StoreError::new(operation, code, message).with_source(error)
}
