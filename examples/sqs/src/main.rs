//! `tern-example-sqs`: carrier tracking updates, from a standard SQS queue into the shipments
//! table.
//!
//! A carrier integration puts one message per tracking scan on a standard queue:
//! `{"shipment_id": "shp-1001", "status": "IN_TRANSIT", "location": "Leipzig hub",
//! "occurred_at": "2026-11-22T08:15:00Z"}`. A standard queue neither orders nor deduplicates,
//! so a late scan can arrive after a newer one, and any scan can arrive twice. Each update
//! is therefore a conditional `UpdateItem` that only moves a shipment forward in time: an
//! update older than (or as old as) the stored one is a no-op that succeeds, so redelivered
//! and late scans change nothing and are not retried.
//!
//! A message whose body does not decode (a poison pill), or whose scan time is not an
//! RFC 3339 UTC second, is reported in `batchItemFailures` and logged with its message id and
//! the reason, never its body; after the queue's `maxReceiveCount` SQS moves it to the
//! dead-letter queue. So is an update DynamoDB failed to store, which the next delivery
//! retries. The other messages of the batch are not retried.
//!
//! - Event source: a standard SQS queue with `FunctionResponseTypes: [ReportBatchItemFailures]`.
//! - Configuration: `SHIPMENTS_TABLE` (partition key `shipment_id`, S; the role needs
//!   `dynamodb:UpdateItem` on it); the `TERN_BATCH_*` variables, e.g.
//!   `TERN_BATCH_CONCURRENCY=4` to apply four updates at once.
//! - Sample event: `events/tracking-updates.json`.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;
use tern_middleware::batch::{BatchConfig, BatchLayer};
use tern_runtime::{Bootstrap, Diagnostic, InitContext, InitError, LambdaEvent, aws::SdkFailure};

/// One tracking scan: the body of an SQS message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackingUpdate {
    shipment_id: String,
    status: Status,
    location: String,
    /// When the carrier scanned the parcel, `YYYY-MM-DDTHH:MM:SSZ`.
    occurred_at: String,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Status {
    LabelCreated,
    PickedUp,
    InTransit,
    OutForDelivery,
    Delivered,
    ReturnedToSender,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::LabelCreated => "LABEL_CREATED",
            Self::PickedUp => "PICKED_UP",
            Self::InTransit => "IN_TRANSIT",
            Self::OutForDelivery => "OUT_FOR_DELIVERY",
            Self::Delivered => "DELIVERED",
            Self::ReturnedToSender => "RETURNED_TO_SENDER",
        }
    }
}

/// Whether `text` is an RFC 3339 UTC timestamp to the second, `2026-11-22T08:15:00Z`: the one
/// form whose text order is its time order, which the table's condition relies on.
fn is_utc_second(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 20
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            19 => *b == b'Z',
            _ => b.is_ascii_digit(),
        })
}

/// The shipments table, built once at init.
struct Shipments {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

impl Shipments {
    /// Applies one update unless the table already holds a newer (or the same) one.
    async fn apply(&self, update: TrackingUpdate) -> Result<(), Diagnostic> {
        if !is_utc_second(&update.occurred_at) {
            return Err(Diagnostic {
                error_type: "Shipments.InvalidUpdate".to_owned(),
                error_message: format!(
                    "update of shipment {}: occurred_at must be a UTC time such as \
                     2026-11-22T08:15:00Z",
                    update.shipment_id
                ),
            });
        }
        let text = |value: &str| AttributeValue::S(value.to_owned());
        let result = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("shipment_id", text(&update.shipment_id))
            .update_expression("SET #status = :status, #location = :location, updated_at = :at")
            .condition_expression("attribute_not_exists(updated_at) OR updated_at < :at")
            // Both are DynamoDB reserved words.
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#location", "location")
            .expression_attribute_values(":status", text(update.status.as_str()))
            .expression_attribute_values(":location", text(&update.location))
            .expression_attribute_values(":at", text(&update.occurred_at))
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::info!(
                    shipment_id = %update.shipment_id,
                    status = update.status.as_str(),
                    occurred_at = %update.occurred_at,
                    "shipment updated"
                );
                Ok(())
            }
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                tracing::info!(
                    shipment_id = %update.shipment_id,
                    occurred_at = %update.occurred_at,
                    "the table holds a newer update; this one is ignored"
                );
                Ok(())
            }
            Err(error) => Err(SdkFailure::from_sdk_error(&error).diagnostic(
                "Shipments.StoreFailed",
                format_args!(
                    "UpdateItem of shipment {} in table {}",
                    update.shipment_id, self.table
                ),
            )),
        }
    }
}

fn main() -> std::process::ExitCode {
    Bootstrap::new()
        .handler("shipments", |init: InitContext| async move {
            let table = init.required_env(
                "SHIPMENTS_TABLE",
                "the DynamoDB table of shipments (partition key `shipment_id`)",
            )?;
            let batch = BatchLayer::sqs(BatchConfig::from_env()?);
            let shipments = Arc::new(Shipments {
                dynamodb: aws_sdk_dynamodb::Client::new(init.aws_config().await),
                table,
            });
            Ok::<_, InitError>(batch.service_fn(move |event: LambdaEvent<TrackingUpdate>| {
                let shipments = shipments.clone();
                async move { shipments.apply(event.payload).await }
            }))
        })
        .run()
}
