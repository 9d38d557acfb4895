//! `tern-example-idempotent`: payment captures, made exactly once per payment id.
//!
//! The checkout workflow (a Step Functions task, or a service calling `Invoke`) asks this
//! function to capture an authorised payment: `{"payment_id": "pay-7001", "order_id":
//! "o-1001", "amount_cents": 4796, "currency": "EUR"}`. The function records the capture in
//! the payments table and answers with a receipt carrying the capture id. Callers retry on
//! timeouts and throttling, Step Functions retries failed tasks, and a capture must not
//! happen twice.
//!
//! The idempotency layer keys each invocation on `payment_id`. The first invocation for a key
//! runs the handler and stores its receipt; every later one, for an hour
//! (`TERN_IDEMPOTENCY_EXPIRES_SECONDS`), gets that receipt back byte for byte without running
//! it. One still running makes a concurrent duplicate fail with
//! `Idempotency.AlreadyInProgress`, which the caller retries. The amount and currency are
//! validated too: the same payment id with another amount is a caller's bug, answered with
//! `Idempotency.PayloadMismatch` instead of the old receipt. A failed capture leaves no
//! record, so the retry runs again. The key prefix is set explicitly (`payments.capture`), so
//! renaming the function does not forget the captures already made.
//!
//! - Invocation: synchronous (`RequestResponse`), from Step Functions or a service.
//! - Configuration: `PAYMENTS_TABLE` (partition key `payment_id`, S); `TERN_IDEMPOTENCY_TABLE`
//!   (partition key `id`, S, TTL on `expiration`: the Powertools schema); the role needs
//!   `dynamodb:PutItem` on the first and `PutItem`, `GetItem`, `UpdateItem`, `DeleteItem` on
//!   the second. The other `TERN_IDEMPOTENCY_*` variables.
//! - Sample event: `events/capture.json`.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use tern_middleware::idempotency::{IdempotencyConfig, IdempotencyLayer, KeySelector};
use tern_runtime::{
    Bootstrap, Diagnostic, InitContext, InitError, LambdaEvent, aws::SdkFailure, service_fn,
};
use tower::ServiceBuilder;

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CaptureRequest {
    payment_id: String,
    order_id: String,
    amount_cents: u64,
    currency: String,
}

/// The answer, stored with the idempotency record and replayed to duplicates.
#[derive(Deserialize, Serialize)]
struct Receipt {
    payment_id: String,
    order_id: String,
    capture_id: String,
    amount_cents: u64,
    currency: String,
    status: String,
}

/// The payments table, built once at init.
struct Payments {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

impl Payments {
    async fn capture(&self, event: LambdaEvent<CaptureRequest>) -> Result<Receipt, Diagnostic> {
        let request = event.payload;
        let rejected = |reason: &str| Diagnostic {
            error_type: "Payments.InvalidRequest".to_owned(),
            error_message: format!("payment {}: {reason}", request.payment_id),
        };
        if request.amount_cents == 0 {
            return Err(rejected("amount_cents must be at least 1"));
        }
        if request.currency.len() != 3 || !request.currency.bytes().all(|b| b.is_ascii_uppercase())
        {
            return Err(rejected("currency must be an ISO 4217 code such as EUR"));
        }
        // The payment provider's capture would happen here; its reference is the capture id.
        let capture_id = format!("cap-{}", event.context.request_id);
        let text = |value: &str| AttributeValue::S(value.to_owned());
        let stored = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("payment_id", text(&request.payment_id))
            .item("order_id", text(&request.order_id))
            .item("capture_id", text(&capture_id))
            .item(
                "amount_cents",
                AttributeValue::N(request.amount_cents.to_string()),
            )
            .item("currency", text(&request.currency))
            // Once the idempotency record has expired, a late duplicate must still not capture.
            .condition_expression("attribute_not_exists(payment_id)")
            .send()
            .await;
        if let Err(error) = stored {
            let already = error
                .as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception());
            return Err(if already {
                Diagnostic {
                    error_type: "Payments.AlreadyCaptured".to_owned(),
                    error_message: format!(
                        "payment {} was captured before; its receipt is no longer stored for \
                         replay (look it up in table {})",
                        request.payment_id, self.table
                    ),
                }
            } else {
                SdkFailure::from_sdk_error(&error).diagnostic(
                    "Payments.StoreFailed",
                    format_args!(
                        "PutItem of payment {} in table {}",
                        request.payment_id, self.table
                    ),
                )
            });
        }
        tracing::info!(payment_id = %request.payment_id, capture_id, "payment captured");
        Ok(Receipt {
            payment_id: request.payment_id,
            order_id: request.order_id,
            capture_id,
            amount_cents: request.amount_cents,
            currency: request.currency,
            status: "CAPTURED".to_owned(),
        })
    }
}

fn main() -> std::process::ExitCode {
    Bootstrap::new()
        .handler("capture", |init: InitContext| async move {
            let table = init.required_env(
                "PAYMENTS_TABLE",
                "the DynamoDB table of captured payments (partition key `payment_id`)",
            )?;
            let config = IdempotencyConfig::from_env()?.with_prefix("payments.capture");
            let by_payment = KeySelector::from_fn(|r: &CaptureRequest| Some(r.payment_id.clone()));
            let idempotency = IdempotencyLayer::from_init(&init, config, by_payment)
                .await?
                .with_validation(KeySelector::from_fn(|r: &CaptureRequest| {
                    Some((r.amount_cents, r.currency.clone()))
                }));
            let payments = Arc::new(Payments {
                dynamodb: aws_sdk_dynamodb::Client::new(init.aws_config().await),
                table,
            });
            let service =
                ServiceBuilder::new()
                    .layer(idempotency)
                    .service(service_fn(move |event| {
                        let payments = payments.clone();
                        async move { payments.capture(event).await }
                    }));
            Ok::<_, InitError>(service)
        })
        .run()
}
