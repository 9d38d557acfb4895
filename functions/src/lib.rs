//! The example handlers registered in the `bootstrap` binary.
//!
//! Each module exposes an async `build` constructor for [`tern_runtime::Bootstrap::handler`].
#![warn(missing_docs)]

pub mod api;
pub mod echo;
pub mod http_echo;
pub mod kafka;
pub mod kinesis;
pub mod observability;
pub mod s3;
pub mod sns;
pub mod sqs;

use tern_runtime::{Bootstrap, Diagnostic, HandlerService};

/// What the `build` of most handlers here returns: a [`HandlerService`] for events `E`
/// answering `R`, whose error (a type of the handler's own) becomes the invocation's error
/// through [`Diagnostic`].
pub trait FunctionService<E, R>:
    HandlerService<E, Response = R, Error: Into<Diagnostic> + std::fmt::Debug>
{
}

impl<E, R, S> FunctionService<E, R> for S where
    S: HandlerService<E, Response = R, Error: Into<Diagnostic> + std::fmt::Debug>
{
}

/// The bootstrap with every handler of this crate registered.
pub fn bootstrap() -> Bootstrap {
    Bootstrap::new()
        .handler("echo", echo::build)
        .handler("s3", s3::build)
        .handler("sns", sns::build)
        .handler("sqs", sqs::build)
        .handler("kinesis", kinesis::build)
        .handler("kafka", kafka::build)
        .handler("api", api::build)
        .handler("http-echo", http_echo::build)
}

// The README's Rust examples compile and run as doctests, so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
mod readme_examples {}
