//! `tern-example-dynamodb-streams`: reorder requests from the stream of an inventory table.
//!
//! The warehouse keeps one item per product in an inventory table (`sku`, `name`, `stock`,
//! `reorder_point`, `reorder_quantity`). Its stream (view type `NEW_AND_OLD_IMAGES` or
//! `NEW_IMAGE`) feeds this function: whenever a product's new image shows its stock at or
//! below its reorder point, the function opens a reorder request for it in the reorders
//! table, which purchasing works through. The put is conditional on no request for the sku
//! being open, so repeated low-stock changes and redelivered records open one request, not
//! several.
//!
//! The batch layer decodes each record's `NewImage` into `Option<Product>`. A `REMOVE` record
//! (a product taken out of the catalogue) has no new image: its payload is `None`, and there
//! is nothing to reorder. (A function that must act on deletions, such as one that keeps a
//! search index in step, takes whole records with `BatchLayer::dynamodb_raw` and reads their
//! `Keys` and `OldImage`.) Records of one item run in stream order; a record whose image does
//! not decode, or a write DynamoDB failed, stops the batch: it and every record after it is
//! reported, since the stream resumes from the lowest sequence number reported anyway.
//!
//! - Event source: the inventory table's stream with
//!   `FunctionResponseTypes: [ReportBatchItemFailures]`.
//! - Configuration: `REORDERS_TABLE` (partition key `sku`, S; the role needs
//!   `dynamodb:PutItem`); the `TERN_BATCH_*` variables.
//! - Sample events: `events/inventory-changes.json` (`INSERT`, `MODIFY`, `REMOVE`) and
//!   `events/inventory-bad-image.json` (an image that does not decode).

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;
use tern_middleware::batch::{BatchConfig, BatchLayer};
use tern_runtime::{Bootstrap, Diagnostic, InitContext, InitError, LambdaEvent, aws::SdkFailure};

/// A product: the new image of an inventory item. Attributes the function does not use are
/// ignored, so the table can grow.
#[derive(Deserialize)]
struct Product {
    sku: String,
    name: String,
    stock: u32,
    reorder_point: u32,
    reorder_quantity: u32,
}

/// The reorders table, built once at init.
struct Reorders {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

impl Reorders {
    /// Opens a reorder request when the product runs low.
    async fn check(&self, product: Option<Product>) -> Result<(), Diagnostic> {
        let Some(product) = product else {
            tracing::info!("product removed from the inventory; nothing to reorder");
            return Ok(());
        };
        if product.stock > product.reorder_point {
            return Ok(());
        }
        let number = |n: u32| AttributeValue::N(n.to_string());
        let result = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("sku", AttributeValue::S(product.sku.clone()))
            .item("name", AttributeValue::S(product.name))
            .item("quantity", number(product.reorder_quantity))
            .item("stock_at_request", number(product.stock))
            .item("status", AttributeValue::S("OPEN".to_owned()))
            .condition_expression("attribute_not_exists(sku)")
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::info!(sku = %product.sku, stock = product.stock, quantity = product.reorder_quantity, "reorder requested");
                Ok(())
            }
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                tracing::info!(sku = %product.sku, "a reorder request is already open");
                Ok(())
            }
            Err(error) => Err(SdkFailure::from_sdk_error(&error).diagnostic(
                "Inventory.ReorderFailed",
                format_args!(
                    "PutItem of the reorder of {} in table {}",
                    product.sku, self.table
                ),
            )),
        }
    }
}

fn main() -> std::process::ExitCode {
    Bootstrap::new()
        .handler("reorders", |init: InitContext| async move {
            let table = init.required_env(
                "REORDERS_TABLE",
                "the DynamoDB table of reorder requests (partition key `sku`)",
            )?;
            let batch = BatchLayer::dynamodb(BatchConfig::from_env()?);
            let reorders = Arc::new(Reorders {
                dynamodb: aws_sdk_dynamodb::Client::new(init.aws_config().await),
                table,
            });
            Ok::<_, InitError>(
                batch.service_fn(move |event: LambdaEvent<Option<Product>>| {
                    let reorders = reorders.clone();
                    async move { reorders.check(event.payload).await }
                }),
            )
        })
        .run()
}
