//! Test support for tern: real local stand-ins for AWS and Lambda.
//!
//! - [`Moto`] runs `moto_server` (AWS service emulation) on a free loopback port.
//! - [`Emulator`] runs the official AWS Lambda Runtime Interface Emulator (the `rapid` binary
//!   shipped in the `aws-sam-cli` wheel) in front of a `bootstrap`, on free loopback ports.
//! - [`FaultProxy`] sits in front of moto and injects throttling, 5xx, dropped connections
//!   and black holes per AWS operation, or lets one request at a time through.
//! - [`container`] runs the bootstrap's container image with the emulator mounted in, and a
//!   TLS front with a test CA for proving the image's CA bundle.
//! - [`OperationLog`] records the AWS operations an SDK client sends, for exact call counts.
//! - [`put_parameter`] creates or changes an SSM parameter.
//!
//! The servers wait until they answer before returning and kill their whole process tree when
//! dropped, so a failing or panicking test leaves nothing running. The tools come from the
//! project's virtualenv (`.venv`, created by `make venv`); see [`tools`].
#![warn(missing_docs)]

pub mod container;
mod emulator;
pub mod faults;
mod moto;
mod operations;
mod process;
pub mod scenario;
pub mod tools;

pub use emulator::{Emulator, EmulatorBuilder, Invocation};
pub use faults::FaultProxy;
pub use moto::Moto;
pub use operations::OperationLog;
pub use scenario::Scenario;

use std::net::{Ipv4Addr, TcpListener};

/// A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("no free loopback port")
}

/// Creates or overwrites an SSM parameter (a `SecureString` when `secure`), as an operator
/// would, through `sdk` (e.g. [`Moto::sdk_config`]).
pub async fn put_parameter(sdk: &aws_config::SdkConfig, name: &str, value: &str, secure: bool) {
    use aws_sdk_ssm::types::ParameterType;
    aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(if secure {
            ParameterType::SecureString
        } else {
            ParameterType::String
        })
        .overwrite(true)
        .send()
        .await
        .unwrap_or_else(|err| panic!("put parameter {name}: {err:?}"));
}

/// An HTTP agent for loopback calls: no proxies, no TLS, non-2xx statuses are responses.
pub(crate) fn agent(timeout: std::time::Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .proxy(None)
        .build()
        .into()
}
