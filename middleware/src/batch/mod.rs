//! Partial batch responses for SQS (standard and FIFO), Kinesis and DynamoDB streams, and Kafka
//! (Amazon MSK and self-managed).
//!
//! [`BatchLayer`] turns a record handler — a tower [`Service`](tower::Service) over
//! `LambdaEvent<T>` for one record, or an async fn — into the handler of a whole batch event.
//! Each record is decoded on its own, right before it runs ([`Payload<T>`](decode::Payload): SQS body or Kinesis
//! data as JSON, DynamoDB `NewImage` through `serde_dynamo`, Kafka value as base64 JSON in a
//! [`KafkaMessage<T>`](decode::KafkaMessage) with its topic, partition, offset, key and headers;
//! or [`Raw`](decode::Raw): the record as it came) and the answer is the response listing the
//! records to retry, `{"batchItemFailures":[{"itemIdentifier":"…"}]}` (for Kafka the identifier
//! is `{"partition":"<topic>-<partition>","offset":<offset>}`; the event source mapping needs
//! `FunctionResponseTypes: [ReportBatchItemFailures]`). A record that does not decode (a
//! poison pill), whose handler returns an error, or whose handler panics fails alone and is
//! logged with its identifier and the reason, never its content; the others proceed. When no
//! record succeeds the invocation fails with `Batch.AllRecordsFailed` so Lambda retries the
//! whole batch ([`AllFailedPolicy`] can report every id instead); an empty batch answers
//! `{"batchItemFailures":[]}`. Each batch ends with one summary log line of [`OutcomeCounts`](error::OutcomeCounts).
//!
//! Order and time are respected. Records of one SQS FIFO message group, Kinesis partition key,
//! DynamoDB item or Kafka topic-partition run one at a time in arrival (offset) order;
//! different groups and keys run
//! concurrently up to [`BatchConfig::with_concurrency`] (default 1: sequential), driven inside
//! the invocation's task without spawning. After a failure, the rest of that group or key is
//! reported without running ([`FailureScope::OrderingKey`], the SQS FIFO default) or every
//! record not yet started is ([`FailureScope::Batch`], the stream default, see below). Before
//! each record starts, the time left until the context's deadline is compared with the safety
//! margin (1 s, `TERN_BATCH_SAFETY_MARGIN_MS`); below it, that record and every record not yet
//! started are reported, so the response leaves before the timeout. Records still running when
//! the time left falls below the smaller abandon margin (100 ms, `TERN_BATCH_ABANDON_MARGIN_MS`)
//! are dropped and reported: waiting for them could let the invocation time out, which loses
//! the whole response and redelivers every record, the successful ones included.
//!
//! # Example
//!
//! An SQS queue of orders, processed by four concurrent message groups:
//!
//! ```no_run
//! use serde::Deserialize;
//! use tern_middleware::batch::{BatchConfig, BatchLayer};
//! use tern_runtime::{Bootstrap, Error, InitContext, InitError, LambdaEvent, service_fn};
//! use tower::ServiceBuilder;
//!
//! #[derive(Deserialize)]
//! struct Order {
//!     id: String,
//!     quantity: u32,
//! }
//!
//! // One record: an error (or a panic) fails this message only.
//! async fn store_order(event: LambdaEvent<Order>) -> Result<(), Error> {
//!     let order = event.payload;
//!     if order.quantity == 0 {
//!         return Err(format!("order {} has no items", order.id).into());
//!     }
//!     tracing::info!(order = %order.id, "stored");
//!     Ok(())
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     Bootstrap::new()
//!         .handler("orders", |_init: InitContext| async {
//!             // TERN_BATCH_CONCURRENCY and the other TERN_BATCH_* variables apply on top.
//!             let config = BatchConfig::from_env()?;
//!             let service = ServiceBuilder::new()
//!                 .layer(BatchLayer::sqs(config))
//!                 .service(service_fn(store_order));
//!             Ok::<_, InitError>(service)
//!         })
//!         .run()
//! }
//! ```
//!
//! # Streams and Kafka: what is reported, and why the whole batch stops
//!
//! Lambda resumes a Kinesis or DynamoDB shard from the *lowest* sequence number reported (a
//! Kafka partition from its lowest reported offset), so
//! reporting only the first failure per shard would be enough for Lambda. The batch reports
//! every record that did not succeed anyway: the response then means the same for every
//! source (exactly the records that were not processed), stays correct if records of several
//! shards or a different checkpoint rule ever meet, and makes the summary line exact. It costs
//! a few bytes per skipped record. Because everything after the lowest reported record is
//! redelivered, a record processed after a failure would run twice; so by default a failure
//! stops the whole stream or Kafka batch. Once it has, no record starts — including records
//! already called but whose handler future has not been polled yet, which with concurrency
//! above 1 wait for their turn — and every record that has not succeeded is reported. Records
//! whose handler had started finish, and their result stands. Choose
//! [`FailureScope::OrderingKey`] to keep other keys (partitions) going, trading duplicates for
//! progress within the invocation.
//!
//! # Per-record middleware
//!
//! The record handler is a plain `Service<LambdaEvent<T>>` that receives the invocation's
//! context, so layers written for whole-event handlers wrap it unchanged — an idempotency layer
//! keyed on the record goes *inside* the batch layer:
//! `ServiceBuilder::new().layer(BatchLayer::sqs(config)).layer(idempotency).service(handler)`.
//! A record abandoned at the deadline is dropped mid-flight; an idempotency layer whose
//! in-progress lock expires at the invocation deadline frees it for the retry.

mod config;
pub mod decode;
pub mod error;
pub mod future;
mod layer;
pub mod outcome;
mod record;
mod schedule;
mod service;
pub mod source;

pub use config::{AllFailedPolicy, BatchConfig, FailureScope};
pub use error::BatchError;
pub use layer::BatchLayer;
pub use service::BatchService;
