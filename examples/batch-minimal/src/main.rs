//! `tern-example-batch-minimal`: an order intake gate on the batch layer alone.
//!
//! Orders arrive on a standard SQS queue as JSON. Each message is decoded on its own and checked
//! against the intake rules: an order id of `o-` and digits, a customer, an ISO 4217 currency,
//! 1 to 100 lines of 1 to 1,000 units each, a total that fits. An accepted order becomes one
//! structured log line (`order accepted`, with its total), which a CloudWatch Logs
//! subscription filter hands to fulfilment. A message that does not decode or breaks a rule is
//! reported in `batchItemFailures` (and logged with its message id and the reason, never its
//! body): SQS delivers it again and, after the queue's `maxReceiveCount`, moves it to the
//! dead-letter queue for a person to look at. The rest of the batch is not retried.
//!
//! The function uses the minimal features: `tern-runtime` without its default `aws` feature
//! and `tern-middleware` with `batch` only. Its dependency tree holds no AWS SDK crate and no
//! TLS stack (`make test` checks it), and its release binary is compared with the same
//! function on bare `lambda_runtime` in BENCHMARKS.md.
//!
//! - Event source: an SQS queue with `FunctionResponseTypes: [ReportBatchItemFailures]`.
//! - Configuration: the `TERN_BATCH_*` variables (README, "Configuration reference").
//! - Sample event: `events/sqs/1-orders.json` (a truncated body and an order line of 0 units
//!   among three good orders).

use serde::Deserialize;
use tern_middleware::batch::{BatchConfig, BatchLayer};
use tern_runtime::{Bootstrap, Diagnostic, InitContext, InitError, LambdaEvent};

/// One order: the body of an SQS message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Order {
    order_id: String,
    customer_id: String,
    currency: String,
    items: Vec<OrderLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderLine {
    sku: String,
    quantity: u32,
    unit_price_cents: u64,
}

impl Order {
    /// The order's total in minor units, or the first intake rule it breaks.
    fn total_cents(&self) -> Result<u64, String> {
        let id_ok = self.order_id.strip_prefix("o-").is_some_and(|digits| {
            (1..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
        });
        if !id_ok {
            return Err("order_id must be `o-` followed by 1 to 20 digits".to_owned());
        }
        if self.customer_id.trim().is_empty() {
            return Err("customer_id is empty".to_owned());
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err("currency must be an ISO 4217 code such as EUR".to_owned());
        }
        if !(1..=100).contains(&self.items.len()) {
            return Err(format!(
                "an order has 1 to 100 lines, this one has {}",
                self.items.len()
            ));
        }
        let mut total: u64 = 0;
        for (index, line) in self.items.iter().enumerate() {
            if line.sku.trim().is_empty() {
                return Err(format!("line {index} has no sku"));
            }
            if !(1..=1000).contains(&line.quantity) {
                return Err(format!(
                    "line {index} ({}) has quantity {}; allowed 1 to 1000",
                    line.sku, line.quantity
                ));
            }
            total = line
                .unit_price_cents
                .checked_mul(u64::from(line.quantity))
                .and_then(|amount| total.checked_add(amount))
                .ok_or("the total does not fit in 64 bits")?;
        }
        Ok(total)
    }
}

/// One message: accept the order or report it. An error fails this message only.
async fn admit(event: LambdaEvent<Order>) -> Result<(), Diagnostic> {
    let order = event.payload;
    let total_cents = order.total_cents().map_err(|reason| Diagnostic {
        error_type: "Orders.Rejected".to_owned(),
        error_message: format!("order {} rejected: {reason}", order.order_id),
    })?;
    tracing::info!(
        order_id = %order.order_id,
        customer_id = %order.customer_id,
        currency = %order.currency,
        total_cents,
        "order accepted"
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    Bootstrap::new()
        .handler("orders", |_init: InitContext| async {
            let batch = BatchLayer::sqs(BatchConfig::from_env()?);
            Ok::<_, InitError>(batch.service_fn(admit))
        })
        .run()
}
