//! The `tern-functions` handlers end to end: the real `bootstrap` under the official Lambda
//! Runtime Interface Emulator (against moto where a handler calls AWS), the layer and the
//! container image, fault injection, crashes, hostile and fuzzed events, secrets hygiene and
//! a soak run.
//!
//! One test binary for all of them: each binary links the AWS SDK. A module per area;
//! `cargo test -p tern-functions --test functions <module>::` runs one (the Makefile's `fuzz`
//! target runs `fuzz::` that way).

mod canary;
mod crash;
mod emulator;
mod faults;
mod fuzz;
mod hostile;
mod http;
mod image;
mod kafka;
mod kinesis;
mod layer;
mod s3;
mod sns;
mod soak;
mod sqs;
mod support;
