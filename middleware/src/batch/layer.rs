//! [`BatchLayer`]: wraps a record handler into a [`Batch`] service.

use std::{fmt, marker::PhantomData};

use lambda_runtime::tower::util::ServiceFn;
use tower::Layer;

use crate::batch::{
    config::BatchConfig,
    decode::{Payload, Raw},
    service::BatchService,
    source::{BatchSource, DynamoDb, Kafka, Kinesis, Sqs},
};

/// A [`Layer`] that turns a record handler into a batch handler for the event source `Src`,
/// decoding each record with `D` ([`Payload<T>`](crate::batch::decode::Payload) or [`Raw`](crate::batch::decode::Raw)).
///
/// The named constructors pick both: [`sqs`](Self::sqs) is `BatchLayer<Sqs, Payload<T>>`,
/// [`sqs_raw`](Self::sqs_raw) is `BatchLayer<Sqs, Raw>`, and so on for Kinesis, DynamoDB and
/// Kafka.
/// The layer is cheap to clone; it holds only the configuration.
pub struct BatchLayer<Src, D> {
    config: BatchConfig,
    _source: PhantomData<fn() -> (Src, D)>,
}

impl<Src, D> BatchLayer<Src, D> {
    /// A layer for source `Src` and decoder `D`, e.g.
    /// `BatchLayer::<Sqs, Payload<Order>>::new(config)`.
    pub fn new(config: BatchConfig) -> Self {
        Self {
            config,
            _source: PhantomData,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BatchConfig {
        &self.config
    }

    /// The batch service over an async fn (or closure) that handles one record:
    /// `async fn(LambdaEvent<T>) -> Result<R, E>`. Shorthand for
    /// `self.layer(service_fn(handler))`.
    pub fn service_fn<F>(&self, handler: F) -> BatchService<ServiceFn<F>, Src, D> {
        BatchService::new(lambda_runtime::service_fn(handler), self.config.clone())
    }
}

impl<T> BatchLayer<Sqs, Payload<T>> {
    /// SQS (standard and FIFO); each message body decoded from JSON into `T`.
    pub fn sqs(config: BatchConfig) -> Self {
        Self::new(config)
    }
}

impl BatchLayer<Sqs, Raw> {
    /// SQS (standard and FIFO); each `SqsMessage` handed over as it came.
    pub fn sqs_raw(config: BatchConfig) -> Self {
        Self::new(config)
    }
}

impl<T> BatchLayer<Kinesis, Payload<T>> {
    /// Kinesis; each record's data decoded from JSON into `T`.
    pub fn kinesis(config: BatchConfig) -> Self {
        Self::new(config)
    }
}

impl BatchLayer<Kinesis, Raw> {
    /// Kinesis; each `KinesisEventRecord` handed over as it came.
    pub fn kinesis_raw(config: BatchConfig) -> Self {
        Self::new(config)
    }
}

impl<T> BatchLayer<DynamoDb, Payload<T>> {
    /// DynamoDB streams; each record's `NewImage` decoded into `Option<T>` (`None` without a
    /// new image, e.g. for `REMOVE`).
    pub fn dynamodb(config: BatchConfig) -> Self {
        Self::new(config)
    }
}

impl BatchLayer<DynamoDb, Raw> {
    /// DynamoDB streams; each `EventRecord` handed over as it came.
    pub fn dynamodb_raw(config: BatchConfig) -> Self {
        Self::new(config)
    }
}

impl<T> BatchLayer<Kafka, Payload<T>> {
    /// Amazon MSK and self-managed Kafka; each record's value decoded from base64 JSON into
    /// `T`, handed over as a [`KafkaMessage<T>`](crate::batch::decode::KafkaMessage) with the
    /// record's topic, partition, offset, key and headers.
    pub fn kafka(config: BatchConfig) -> Self {
        Self::new(config)
    }
}

impl BatchLayer<Kafka, Raw> {
    /// Amazon MSK and self-managed Kafka; each `KafkaRecord` handed over as it came (key and
    /// value base64-encoded).
    pub fn kafka_raw(config: BatchConfig) -> Self {
        Self::new(config)
    }
}

impl<Src, D> Clone for BatchLayer<Src, D> {
    fn clone(&self) -> Self {
        Self::new(self.config.clone())
    }
}

impl<Src: BatchSource, D> fmt::Debug for BatchLayer<Src, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchLayer")
            .field("source", &Src::NAME)
            .field("config", &self.config)
            .finish()
    }
}

impl<S, Src, D> Layer<S> for BatchLayer<Src, D> {
    type Service = BatchService<S, Src, D>;

    fn layer(&self, inner: S) -> Self::Service {
        BatchService::new(inner, self.config.clone())
    }
}
