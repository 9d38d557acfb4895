//! `kafka`: orders from a Kafka topic (Amazon MSK or self-managed Apache Kafka) into the orders
//! table of the [`sqs`](crate::sqs) function, with partial failures by partition and offset.
//!
//! Producers key each record by its order id, so all records of an order land in one partition,
//! in order. The batch layer decodes each record's value (base64 JSON) into an [`Order`] on its
//! own: a value that is not an order is a poison pill, reported and logged with its
//! `topic-partition@offset`. A record whose key is not its order's id is refused
//! (`Orders.KeyMismatch`): it was produced under the wrong key, so its partition does not
//! order it with the rest of its order. A valid order is stored as the `sqs` function stores
//! it (validated, conditional put: a redelivery is harmless).
//!
//! The records that failed are returned as
//! `{"itemIdentifier":{"partition":"<topic>-<partition>","offset":<offset>}}`. Lambda resumes
//! each partition from its lowest reported offset, so by default a failure stops the whole
//! batch (`TERN_BATCH_FAILURE_SCOPE=key` stops only its partition).
//!
//! Configuration: `ORDERS_TABLE` (partition key `order_id`, S); the `TERN_BATCH_*` variables
//! of the batch layer.

use std::sync::Arc;

use aws_lambda_events::event::kafka::KafkaEvent;
use tern_middleware::batch::{
    BatchConfig, BatchLayer, decode::KafkaMessage, source::KafkaBatchResponse,
};
use tern_runtime::{Diagnostic, InitContext, InitError, LambdaEvent, service_fn};
use tower::ServiceBuilder;

use crate::sqs::{Order, OrderError, OrderStore, check_order_id};

/// Why a record's order was not stored (the record is reported failed).
#[derive(Debug, thiserror::Error)]
pub enum KafkaOrderError {
    /// The record's key is not its order's id.
    #[error(
        "order {order_id} at {topic}-{partition}@{offset} has another key: producers must key \
         each order's records by its order_id, so they stay in one partition, in order"
    )]
    KeyMismatch {
        /// The order.
        order_id: String,
        /// Where the record is.
        topic: String,
        /// Its partition.
        partition: i64,
        /// Its offset.
        offset: i64,
    },
    /// The order is invalid or was not stored.
    #[error(transparent)]
    Order(#[from] OrderError),
}

impl From<KafkaOrderError> for Diagnostic {
    fn from(error: KafkaOrderError) -> Self {
        match error {
            KafkaOrderError::Order(error) => error.into(),
            mismatch => Diagnostic {
                error_type: "Orders.KeyMismatch".to_owned(),
                error_message: mismatch.to_string(),
            },
        }
    }
}

/// Builds the `kafka` service: batch layer → per-record handler.
pub async fn build(
    init: InitContext,
) -> Result<impl crate::FunctionService<KafkaEvent, KafkaBatchResponse>, InitError> {
    let config = BatchConfig::from_env()?;
    let store = Arc::new(OrderStore::from_init(&init).await?);
    Ok(ServiceBuilder::new()
        .layer(crate::observability::metrics_layer())
        .layer(BatchLayer::kafka(config))
        .service(service_fn(
            move |event: LambdaEvent<KafkaMessage<Order>>| {
                let store = store.clone();
                async move { store_record(&store, event.payload).await }
            },
        )))
}

/// Checks that the record is keyed by its order id, then stores the order. An order id that
/// breaks the rules is reported as such first: the key mismatch message would quote it.
async fn store_record(
    store: &OrderStore,
    message: KafkaMessage<Order>,
) -> Result<(), KafkaOrderError> {
    if let Err(violation) = check_order_id(&message.value.order_id) {
        return Err(OrderError::Invalid {
            order_id: None,
            violation,
        }
        .into());
    }
    check_key(&message)?;
    store.save(&message.value).await?;
    Ok(())
}

fn check_key(message: &KafkaMessage<Order>) -> Result<(), KafkaOrderError> {
    if message.key.as_deref() == Some(message.value.order_id.as_bytes()) {
        return Ok(());
    }
    Err(KafkaOrderError::KeyMismatch {
        order_id: message.value.order_id.clone(),
        topic: message.topic.clone(),
        partition: message.partition,
        offset: message.offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(key: Option<&str>) -> KafkaMessage<Order> {
        let value: Order = serde_json::from_str(
            r#"{"order_id":"o-7","customer_id":"c","currency":"EUR","items":[{"sku":"A","quantity":1,"unit_price_cents":5}]}"#,
        )
        .unwrap();
        KafkaMessage {
            topic: "orders".into(),
            partition: 1,
            offset: 9,
            timestamp: Default::default(),
            timestamp_type: None,
            key: key.map(|k| k.as_bytes().to_vec()),
            headers: Vec::new(),
            value,
        }
    }

    #[test]
    fn records_must_be_keyed_by_their_order_id() {
        assert!(check_key(&message(Some("o-7"))).is_ok());
        for key in [Some("o-8"), None] {
            let diagnostic = Diagnostic::from(check_key(&message(key)).unwrap_err());
            assert_eq!(diagnostic.error_type, "Orders.KeyMismatch");
            assert_eq!(
                diagnostic.error_message,
                "order o-7 at orders-1@9 has another key: producers must key each order's \
                 records by its order_id, so they stay in one partition, in order"
            );
        }
    }
}
