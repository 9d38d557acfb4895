//! The benchmark's bare `lambda_http` function: the `api` function's axum router
//! (`tern_functions::api::router`: the same routes, order store and Idempotency-Key layer on
//! the tables `ORDERS_TABLE` and `TERN_IDEMPOTENCY_TABLE` name) served by `lambda_http::run` on
//! a current-thread Tokio runtime (tern's default), with lambda_runtime's default subscriber.
//! No tern runtime: no handler registry, invocation span, panic guard or metrics layer. The
//! SDK configuration comes from `tern_runtime::aws::config_loader`, the only HTTPS client the
//! SDK crates have in this workspace (they are built without their default one).

use std::sync::Arc;

use lambda_http::Error;
use tern_functions::{api, sqs::OrderStore};
use tern_middleware::{
    http::IdempotencyKeyLayer,
    idempotency::{Idempotency, IdempotencyConfig, store::DynamoDbStore},
};

/// The key prefix tern's `api` handler uses under the harness's function name (`bench`), so
/// that the records and their keys are the same size.
const PREFIX: &str = "bench.api";

fn variable(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("{name} must name a DynamoDB table").into())
}

async fn serve() -> Result<(), Error> {
    let orders = variable("ORDERS_TABLE")?;
    let records = variable("TERN_IDEMPOTENCY_TABLE")?;
    let config = tern_runtime::aws::config_loader().load().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let store = Arc::new(OrderStore::new(dynamodb.clone(), orders));
    let engine = Idempotency::new(
        Arc::new(DynamoDbStore::new(dynamodb, records)),
        IdempotencyConfig::new().with_prefix(PREFIX),
    );
    lambda_http::run(api::router(store, IdempotencyKeyLayer::new(engine))).await
}

fn main() -> Result<(), Error> {
    tern_bench::run_bare(serve())
}
