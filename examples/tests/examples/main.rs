//! The example functions (`examples/<name>/`), each built and run under the Lambda Runtime
//! Interface Emulator, against moto where it calls AWS, answering its sample events; and what a
//! team adopting tern relies on: the README's dependency snippet and configuration reference,
//! the minimal example's dependency tree, and the error every configuration variable gives for
//! a value it cannot use.
//!
//! One test binary for all of them: each binary links the AWS SDK.

mod adoption;
mod batch_minimal;
mod configuration;
mod dynamodb_streams;
mod idempotent;
mod kinesis;
mod metrics;
mod secrets;
mod sqs;
mod sqs_fifo;
mod support;
