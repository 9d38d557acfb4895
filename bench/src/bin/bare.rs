//! The benchmark's bare `lambda_runtime` function: what a hand-written function doing the
//! same work looks like, with the subscriber lambda_runtime ships. `BENCH_TOKIO=multi_thread`
//! selects the usual `#[tokio::main]` runtime; anything else a current-thread one.
//!
//! Built by its own package (`bench/bare`), with only what it uses and `lambda_runtime`'s
//! default features, as a team would write it: `make bench` compares its size and clean build
//! time with the minimal tern example's (`examples/batch-minimal`).

#[path = "../orders.rs"]
mod orders;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

async fn handler(event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    Ok(orders::bare_sqs(&event.payload))
}

fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let mut builder = match std::env::var("BENCH_TOKIO").as_deref() {
        Ok("multi_thread") => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    builder
        .enable_all()
        .build()?
        .block_on(lambda_runtime::run(service_fn(handler)))
}
