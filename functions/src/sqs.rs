//! `sqs`: orders from a queue into DynamoDB, with partial batch failures.
//!
//! Each message body is an order (JSON). The batch layer decodes each body on its own: a body
//! that is not an order is a poison pill, reported failed and logged with its message id. A
//! decoded order is validated (the reason is logged per message) and written with a
//! conditional put, so a redelivered order is never stored twice or overwritten. Only the
//! messages that failed are returned in `batchItemFailures`; the queue's redrive policy moves a
//! message that keeps failing to the dead-letter queue. On a FIFO queue the rest of a failed
//! message's group is reported without running, so orders of one customer (group) never
//! overtake each other.
//!
//! Configuration: `ORDERS_TABLE` (partition key `order_id`, S); the `TERN_BATCH_*` variables
//! of the batch layer (e.g. `TERN_BATCH_CONCURRENCY`).

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_dynamodb::{
    error::ProvideErrorMetadata,
    operation::put_item::PutItemError,
    types::{AttributeValue, ReturnValuesOnConditionCheckFailure},
};
use serde::Deserialize;
use tern_middleware::batch::{BatchConfig, BatchLayer};
use tern_runtime::{Diagnostic, HandlerService, InitContext, InitError, LambdaEvent, service_fn};
use tower::ServiceBuilder;

/// An order message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    /// Unique order id (`o-` and digits).
    pub order_id: String,
    /// The customer.
    pub customer_id: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Order lines (1 to 100).
    pub items: Vec<OrderLine>,
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    /// Stock keeping unit.
    pub sku: String,
    /// 1 to 1000.
    pub quantity: u32,
    /// Price per unit in minor units.
    pub unit_price_cents: u64,
}

/// Why an order was not stored (the message is reported failed).
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The order breaks a rule.
    #[error("order {order_id} is invalid: {reason}")]
    Invalid {
        /// The order.
        order_id: String,
        /// Which rule.
        reason: String,
    },
    /// DynamoDB refused or failed the write.
    #[error("storing order {order_id} in table {table} failed: {code}: {message}")]
    Store {
        /// The order.
        order_id: String,
        /// The table.
        table: String,
        /// AWS error code.
        code: String,
        /// AWS error message.
        message: String,
    },
}

impl From<OrderError> for Diagnostic {
    fn from(error: OrderError) -> Self {
        Diagnostic {
            error_type: match error {
                OrderError::Invalid { .. } => "Orders.Invalid",
                OrderError::Store { .. } => "Orders.StoreFailed",
            }
            .to_owned(),
            error_message: error.to_string(),
        }
    }
}

impl Order {
    /// Checks the business rules; the error names the first one broken.
    pub fn validate(&self) -> Result<u64, OrderError> {
        let invalid = |reason: String| OrderError::Invalid {
            order_id: self.order_id.clone(),
            reason,
        };
        let id_ok = self.order_id.strip_prefix("o-").is_some_and(|digits| {
            !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())
        });
        if !id_ok {
            return Err(invalid(
                "order_id must be `o-` followed by 1 to 20 digits".to_owned(),
            ));
        }
        if self.customer_id.trim().is_empty() {
            return Err(invalid("customer_id is empty".to_owned()));
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(invalid(format!(
                "currency {:?} is not an ISO 4217 code",
                self.currency
            )));
        }
        if self.items.is_empty() || self.items.len() > 100 {
            return Err(invalid(format!(
                "an order has 1 to 100 lines, this one has {}",
                self.items.len()
            )));
        }
        let mut total: u64 = 0;
        for (index, line) in self.items.iter().enumerate() {
            if line.sku.trim().is_empty() {
                return Err(invalid(format!("line {index} has no sku")));
            }
            if !(1..=1000).contains(&line.quantity) {
                return Err(invalid(format!(
                    "line {index} ({}) has quantity {}; allowed 1 to 1000",
                    line.sku, line.quantity
                )));
            }
            total = line
                .unit_price_cents
                .checked_mul(u64::from(line.quantity))
                .and_then(|amount| total.checked_add(amount))
                .ok_or_else(|| invalid("the total overflows".to_owned()))?;
        }
        Ok(total)
    }
}

/// State built at init.
pub struct OrderStore {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

/// Builds the `sqs` service: batch layer → per-order handler.
pub async fn build(
    init: InitContext,
) -> Result<
    impl HandlerService<
        SqsEvent,
        Response = aws_lambda_events::event::sqs::SqsBatchResponse,
        Error = impl Into<Diagnostic> + std::fmt::Debug,
    >,
    InitError,
> {
    let config = BatchConfig::from_env()?;
    let store = Arc::new(OrderStore::from_env(&init).await?);
    Ok(ServiceBuilder::new()
        .layer(crate::observability::metrics_layer())
        .layer(BatchLayer::sqs(config))
        .service(service_fn(move |event: LambdaEvent<Order>| {
            let store = store.clone();
            async move { store.save(&event.payload).await }
        })))
}

impl OrderStore {
    /// The store of the table named by `ORDERS_TABLE`.
    pub async fn from_env(init: &InitContext) -> Result<Self, InitError> {
        let table =
            init.required_env("ORDERS_TABLE", "the DynamoDB table orders are written to")?;
        Ok(Self {
            dynamodb: aws_sdk_dynamodb::Client::new(init.aws_config().await),
            table,
        })
    }

    /// Validates and stores one order; an order already stored (a redelivery) succeeds.
    pub async fn save(&self, order: &Order) -> Result<(), OrderError> {
        let total = order.validate()?;
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let lines = order
            .items
            .iter()
            .map(|line| {
                AttributeValue::M(
                    [
                        ("sku".to_owned(), s(&line.sku)),
                        (
                            "quantity".to_owned(),
                            AttributeValue::N(line.quantity.to_string()),
                        ),
                        (
                            "unit_price_cents".to_owned(),
                            AttributeValue::N(line.unit_price_cents.to_string()),
                        ),
                    ]
                    .into(),
                )
            })
            .collect();
        let put = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("order_id", s(&order.order_id))
            .item("customer_id", s(&order.customer_id))
            .item("currency", s(&order.currency))
            .item("total_cents", AttributeValue::N(total.to_string()))
            .item("lines", AttributeValue::L(lines))
            .condition_expression("attribute_not_exists(order_id)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put {
            Ok(_) => {
                tracing::info!(order_id = %order.order_id, total_cents = total, "order stored");
                Ok(())
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                // A redelivery carries the same order; another order under a stored id is a
                // conflict, failed so it reaches the dead-letter queue instead of vanishing.
                let stored = match err.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                        failed.item().cloned()
                    }
                    _ => None,
                };
                let text = |item: &std::collections::HashMap<String, AttributeValue>,
                            name: &str| {
                    item.get(name)
                        .and_then(|v| v.as_s().or_else(|_| v.as_n()).ok())
                        .cloned()
                };
                let same = stored.as_ref().is_none_or(|item| {
                    text(item, "customer_id").as_deref() == Some(order.customer_id.as_str())
                        && text(item, "currency").as_deref() == Some(order.currency.as_str())
                        && text(item, "total_cents") == Some(total.to_string())
                });
                if !same {
                    return Err(OrderError::Invalid {
                        order_id: order.order_id.clone(),
                        reason: "an order with this id but different content is already stored"
                            .to_owned(),
                    });
                }
                tracing::info!(order_id = %order.order_id, "order already stored (redelivery); not overwritten");
                Ok(())
            }
            Err(err) => Err(OrderError::Store {
                order_id: order.order_id.clone(),
                table: self.table.clone(),
                code: err.code().unwrap_or("Unknown").to_owned(),
                message: err.message().map_or_else(|| err.to_string(), str::to_owned),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(json: &str) -> Order {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn validation_rules() {
        let valid = r#"{"order_id":"o-1","customer_id":"c","currency":"EUR","items":[{"sku":"A","quantity":2,"unit_price_cents":150},{"sku":"B","quantity":1,"unit_price_cents":5}]}"#;
        assert_eq!(order(valid).validate().unwrap(), 305);
        let cases = [
            (
                r#""order_id":"o-1""#,
                r#""order_id":"1""#,
                "order 1 is invalid: order_id must be `o-` followed by 1 to 20 digits",
            ),
            (
                r#""customer_id":"c""#,
                r#""customer_id":" ""#,
                "order o-1 is invalid: customer_id is empty",
            ),
            (
                r#""currency":"EUR""#,
                r#""currency":"Euro""#,
                "order o-1 is invalid: currency \"Euro\" is not an ISO 4217 code",
            ),
            (
                r#""quantity":2"#,
                r#""quantity":0"#,
                "order o-1 is invalid: line 0 (A) has quantity 0; allowed 1 to 1000",
            ),
            (
                r#""sku":"B""#,
                r#""sku":"""#,
                "order o-1 is invalid: line 1 has no sku",
            ),
            (
                r#""unit_price_cents":150"#,
                r#""unit_price_cents":18446744073709551615"#,
                "order o-1 is invalid: the total overflows",
            ),
        ];
        for (from, to, expected) in cases {
            let err = order(&valid.replace(from, to)).validate().unwrap_err();
            assert_eq!(err.to_string(), expected, "{to}");
        }
        let empty = valid.split(r#","items""#).next().unwrap().to_owned() + r#","items":[]}"#;
        assert_eq!(
            order(&empty).validate().unwrap_err().to_string(),
            "order o-1 is invalid: an order has 1 to 100 lines, this one has 0"
        );
    }

    #[test]
    fn unknown_fields_and_negative_quantities_do_not_decode() {
        assert!(
            serde_json::from_str::<Order>(
                r#"{"order_id":"o-1","customer_id":"c","currency":"EUR","items":[],"coupon":"X"}"#
            )
            .is_err()
        );
        assert!(serde_json::from_str::<Order>(r#"{"order_id":"o-1","customer_id":"c","currency":"EUR","items":[{"sku":"A","quantity":-1,"unit_price_cents":1}]}"#).is_err());
    }
}
