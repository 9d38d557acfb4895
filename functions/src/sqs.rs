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
    error::{ProvideErrorMetadata, SdkError},
    operation::put_item::PutItemError,
    types::{AttributeValue, ReturnValuesOnConditionCheckFailure},
};
use serde::{Deserialize, Serialize};
use tern_middleware::batch::{BatchConfig, BatchLayer};
use tern_runtime::{Diagnostic, InitContext, InitError, LambdaEvent, aws::SdkFailure, service_fn};
use tower::ServiceBuilder;

/// An order: the `sqs` message body and the `api` request body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    /// Stock keeping unit.
    pub sku: String,
    /// 1 to 1000.
    pub quantity: u32,
    /// Price per unit in minor units.
    pub unit_price_cents: u64,
}

/// The first business rule an order breaks: the field (a path such as `items[0].quantity`)
/// and the rule, never the field's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {rule}")]
pub struct Violation {
    /// The path of the field.
    pub field: String,
    /// What the field must be.
    pub rule: &'static str,
}

/// Why an order was not stored (the message is reported failed).
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The order breaks a rule. Neither names a value of the order but its id (the message
    /// travels to logs and failure destinations), and not even the id when the id itself
    /// breaks the rules.
    #[error("order {} is invalid: {violation}", .order_id.as_deref().unwrap_or("(id withheld)"))]
    Invalid {
        /// The order; `None` when the id itself breaks the rules (it is withheld).
        order_id: Option<String>,
        /// Which rule.
        violation: Violation,
    },
    /// Another order is already stored under this id.
    #[error(
        "order {order_id} is invalid: an order with this id but different content is already stored"
    )]
    Conflict {
        /// The order.
        order_id: String,
    },
    /// DynamoDB refused or failed the write.
    #[error("storing order {order_id} in table {table}: PutItem failed with {code}: {message}")]
    Store {
        /// The order.
        order_id: String,
        /// The table.
        table: String,
        /// AWS error code, or the kind of failure when no answer came (`SdkFailure::code`).
        code: String,
        /// AWS error message, or the plain cause (`SdkFailure::message`).
        message: String,
    },
}

impl From<OrderError> for Diagnostic {
    fn from(error: OrderError) -> Self {
        Diagnostic {
            error_type: match error {
                OrderError::Invalid { .. } | OrderError::Conflict { .. } => "Orders.Invalid",
                OrderError::Store { .. } => "Orders.StoreFailed",
            }
            .to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// What [`OrderStore::save`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// The order is new and was stored.
    Created,
    /// The same order was already stored (a redelivery or a retry); nothing was written.
    AlreadyStored,
}

/// Checks that `order_id` is `o-` followed by 1 to 20 digits.
pub fn check_order_id(order_id: &str) -> Result<(), Violation> {
    let id_ok = order_id.strip_prefix("o-").is_some_and(|digits| {
        !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())
    });
    if id_ok {
        Ok(())
    } else {
        Err(Violation {
            field: "order_id".to_owned(),
            rule: "must be `o-` followed by 1 to 20 digits",
        })
    }
}

impl Order {
    /// Checks the business rules; the violation names the first one broken. Returns the
    /// total in minor units.
    pub fn validate(&self) -> Result<u64, Violation> {
        let broken = |field: &str, rule| Violation {
            field: field.to_owned(),
            rule,
        };
        check_order_id(&self.order_id)?;
        if self.customer_id.trim().is_empty() {
            return Err(broken("customer_id", "must not be empty"));
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(broken(
                "currency",
                "must be an ISO 4217 code (three capital letters)",
            ));
        }
        if self.items.is_empty() || self.items.len() > 100 {
            return Err(broken("items", "must have 1 to 100 lines"));
        }
        let mut total: u64 = 0;
        for (index, line) in self.items.iter().enumerate() {
            let field = |name: &str| format!("items[{index}].{name}");
            if line.sku.trim().is_empty() {
                return Err(broken(&field("sku"), "must not be empty"));
            }
            if !(1..=1000).contains(&line.quantity) {
                return Err(broken(&field("quantity"), "must be 1 to 1000"));
            }
            total = line
                .unit_price_cents
                .checked_mul(u64::from(line.quantity))
                .and_then(|amount| total.checked_add(amount))
                .ok_or_else(|| broken("items", "must not add up to more than 2^64 - 1 cents"))?;
        }
        Ok(total)
    }

    /// The order as stored, with its total (the `api` function's JSON representation).
    pub fn with_total(&self, total_cents: u64) -> serde_json::Value {
        serde_json::json!({
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "currency": self.currency,
            "total_cents": total_cents,
            "items": self.items,
        })
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
    impl crate::FunctionService<SqsEvent, aws_lambda_events::event::sqs::SqsBatchResponse>,
    InitError,
> {
    let config = BatchConfig::from_env()?;
    let store = Arc::new(OrderStore::from_init(&init).await?);
    Ok(ServiceBuilder::new()
        .layer(crate::observability::metrics_layer())
        .layer(BatchLayer::sqs(config))
        .service(service_fn(move |event: LambdaEvent<Order>| {
            let store = store.clone();
            async move { store.save(&event.payload).await.map(|_| ()) }
        })))
}

impl OrderStore {
    /// The store on the table `ORDERS_TABLE` names (partition key `order_id`, S).
    pub async fn from_init(init: &InitContext) -> Result<Self, InitError> {
        let table =
            init.required_env("ORDERS_TABLE", "the DynamoDB table orders are written to")?;
        Ok(Self::new(
            aws_sdk_dynamodb::Client::new(init.aws_config().await),
            table,
        ))
    }

    /// The store on `table` (partition key `order_id`, S) through `dynamodb`.
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            dynamodb,
            table: table.into(),
        }
    }

    /// The stored order `order_id` with its total (as [`Order::with_total`] shows it), if any.
    pub async fn get(&self, order_id: &str) -> Result<Option<serde_json::Value>, OrderError> {
        let got = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("order_id", AttributeValue::S(order_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| self.store_error(order_id, &err))?;
        Ok(got.item().map(|item| {
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            let number = |value: Option<&AttributeValue>| {
                value
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<u64>().ok())
            };
            let lines = item
                .get("lines")
                .and_then(|v| v.as_l().ok())
                .map(|lines| {
                    lines
                        .iter()
                        .filter_map(|line| line.as_m().ok())
                        .map(|line| {
                            serde_json::json!({
                                "sku": line.get("sku").and_then(|v| v.as_s().ok()),
                                "quantity": number(line.get("quantity")),
                                "unit_price_cents": number(line.get("unit_price_cents")),
                            })
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            serde_json::json!({
                "order_id": text("order_id"),
                "customer_id": text("customer_id"),
                "currency": text("currency"),
                "total_cents": number(item.get("total_cents")),
                "items": lines,
            })
        }))
    }

    /// Validates and stores one order; an order already stored (a redelivery) succeeds.
    pub async fn save(&self, order: &Order) -> Result<Saved, OrderError> {
        let total = order.validate().map_err(|violation| OrderError::Invalid {
            order_id: (violation.field != "order_id").then(|| order.order_id.clone()),
            violation,
        })?;
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
                Ok(Saved::Created)
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
                    return Err(OrderError::Conflict {
                        order_id: order.order_id.clone(),
                    });
                }
                tracing::info!(order_id = %order.order_id, "order already stored (redelivery); not overwritten");
                Ok(Saved::AlreadyStored)
            }
            Err(err) => Err(self.store_error(&order.order_id, &err)),
        }
    }

    fn store_error<E, R>(&self, order_id: &str, err: &SdkError<E, R>) -> OrderError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let (code, message) = SdkFailure::from_sdk_error(err).into_parts();
        OrderError::Store {
            order_id: order_id.to_owned(),
            table: self.table.clone(),
            code: code.into_owned(),
            message,
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
                "order_id must be `o-` followed by 1 to 20 digits",
            ),
            (
                r#""customer_id":"c""#,
                r#""customer_id":" ""#,
                "customer_id must not be empty",
            ),
            (
                r#""currency":"EUR""#,
                r#""currency":"Euro""#,
                "currency must be an ISO 4217 code (three capital letters)",
            ),
            (
                r#""quantity":2"#,
                r#""quantity":0"#,
                "items[0].quantity must be 1 to 1000",
            ),
            (
                r#""sku":"B""#,
                r#""sku":"""#,
                "items[1].sku must not be empty",
            ),
            (
                r#""unit_price_cents":150"#,
                r#""unit_price_cents":18446744073709551615"#,
                "items must not add up to more than 2^64 - 1 cents",
            ),
        ];
        for (from, to, expected) in cases {
            let err = order(&valid.replace(from, to)).validate().unwrap_err();
            assert_eq!(err.to_string(), expected, "{to}");
        }
        let empty = valid.split(r#","items""#).next().unwrap().to_owned() + r#","items":[]}"#;
        assert_eq!(
            order(&empty).validate().unwrap_err(),
            Violation {
                field: "items".to_owned(),
                rule: "must have 1 to 100 lines"
            }
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
