//! The orders of the SQS workload and the bare path over a batch of them: what a
//! hand-written `lambda_runtime` function does. Self-contained (serde, serde_json,
//! aws_lambda_events, tracing), so that `bin/bare.rs` builds it alone, in its own package
//! (`bench/bare`), and the size and build time of a bare function are measured without the
//! rest of the benchmark crate.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde::{Deserialize, Serialize};

/// One order message (the body of an SQS record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// `o-` and digits.
    pub order_id: String,
    /// The customer.
    pub customer_id: String,
    /// ISO 4217 code.
    pub currency: String,
    /// 1 to 100 lines.
    pub items: Vec<OrderLine>,
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// Stock keeping unit.
    pub sku: String,
    /// 1 to 1000.
    pub quantity: u32,
    /// Price per unit in minor units.
    pub unit_price_cents: u64,
}

impl Order {
    /// The order's total, or the first rule it breaks.
    pub fn validate(&self) -> Result<u64, String> {
        let id_ok = self.order_id.strip_prefix("o-").is_some_and(|digits| {
            !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())
        });
        if !id_ok {
            return Err(format!("order {}: bad order_id", self.order_id));
        }
        if self.customer_id.trim().is_empty() {
            return Err(format!("order {}: customer_id is empty", self.order_id));
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!("order {}: bad currency", self.order_id));
        }
        if self.items.is_empty() || self.items.len() > 100 {
            return Err(format!("order {}: 1 to 100 lines", self.order_id));
        }
        let mut total: u64 = 0;
        for line in &self.items {
            if line.sku.trim().is_empty() || !(1..=1000).contains(&line.quantity) {
                return Err(format!("order {}: bad line {}", self.order_id, line.sku));
            }
            total = line
                .unit_price_cents
                .checked_mul(u64::from(line.quantity))
                .and_then(|amount| total.checked_add(amount))
                .ok_or_else(|| format!("order {}: total overflows", self.order_id))?;
        }
        Ok(total)
    }
}

/// The bare path a hand-written `lambda_runtime` function takes for the same batch: each body
/// parsed and validated in a loop, failures logged and collected.
pub fn bare_sqs(event: &SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in &event.records {
        let outcome = match record.body.as_deref().map(serde_json::from_str::<Order>) {
            Some(Ok(order)) => order.validate().map(|_| ()),
            Some(Err(err)) => Err(err.to_string()),
            None => Err("no body".to_owned()),
        };
        if let Err(reason) = outcome {
            let id = record.message_id.clone().unwrap_or_default();
            tracing::warn!(message_id = %id, %reason, "record failed");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
