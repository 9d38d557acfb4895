//! The same work built two ways: tern's full middleware stack, and the bare path.

use std::sync::Arc;

use aws_lambda_events::event::{
    kinesis::KinesisEvent,
    sqs::{SqsBatchResponse, SqsEvent},
};
use tern_middleware::{
    batch::{BatchConfig, BatchLayer},
    idempotency::{
        Idempotency, IdempotencyConfig, IdempotencyLayer, KeySelector, store::MemoryStore,
    },
    parameters::{Parameters, ParametersLayer},
    secrets::{Secrets, SecretsLayer},
};
use tern_runtime::{Diagnostic, HandlerService, LambdaEvent, service_fn};
use tower::{Service, ServiceBuilder};

pub use crate::orders::bare_sqs;
use crate::workload::{Accepted, Order, Reading, check_reading};

/// The logical name the full stack reads its secret by.
pub const SECRET_NAME: &str = "api_key";
/// The environment variable holding the secret's ARN (or name).
pub const SECRET_ENV: &str = "BENCH_SECRET_ARN";
/// The logical names the full stack reads its three parameters by.
pub const PARAMETER_NAMES: [&str; 3] = ["limits", "currency", "partner_key"];
/// The environment variables holding the three parameters' names.
pub const PARAMETER_ENVS: [&str; 3] = [
    "BENCH_LIMITS_PARAMETER",
    "BENCH_CURRENCY_PARAMETER",
    "BENCH_PARTNER_KEY_PARAMETER",
];

/// One order record behind the middleware: cached reads of the secret and a parameter (when
/// the stack has them), then validation.
async fn accept(
    secrets: Option<Secrets>,
    parameters: Option<Parameters>,
    order: &Order,
) -> Result<Accepted, Diagnostic> {
    if let Some(secrets) = &secrets {
        // What a real handler does per record (sign, call out): read the cached value.
        secrets.get(SECRET_NAME)?;
    }
    if let Some(parameters) = &parameters {
        parameters.get(PARAMETER_NAMES[0])?;
    }
    order
        .validate()
        .map(|total_cents| Accepted { total_cents })
        .map_err(|reason| Diagnostic {
            error_type: "Orders.Invalid".to_owned(),
            error_message: reason,
        })
}

/// The idempotency engine of the benchmarks: the in-memory store (no network, so the numbers
/// are the framework's) with a local cache of completed records, as production would enable.
pub fn memory_idempotency(local_cache: usize) -> Idempotency {
    let config = IdempotencyConfig::new()
        .with_prefix("bench.orders")
        .with_local_cache(local_cache);
    Idempotency::new(Arc::new(MemoryStore::new()), config)
}

/// tern's full stack for an SQS batch of orders, outermost first: cached parameters and
/// secrets (when given) → batch (each record decoded on its own, partial failures) →
/// idempotency per order (key: `order_id`) → validation. The runtime adds the invocation span
/// and JSON logging around it.
pub fn full_stack(
    secrets: Option<SecretsLayer>,
    parameters: Option<ParametersLayer>,
    idempotency: Idempotency,
    batch: BatchConfig,
) -> impl HandlerService<SqsEvent, Response = SqsBatchResponse, Error = Diagnostic> {
    let handle = secrets.as_ref().map(|layer| layer.secrets().clone());
    let parameters_handle = parameters.as_ref().map(|layer| layer.parameters().clone());
    let by_order = KeySelector::from_fn(|order: &Order| Some(order.order_id.clone()));
    ServiceBuilder::new()
        .option_layer(parameters)
        .option_layer(secrets)
        .map_err(Diagnostic::from)
        .layer(BatchLayer::sqs(batch))
        .layer(IdempotencyLayer::new(idempotency, by_order))
        .service(service_fn(move |event: LambdaEvent<Order>| {
            let (secrets, parameters) = (handle.clone(), parameters_handle.clone());
            async move { accept(secrets, parameters, &event.payload).await }
        }))
}

/// tern's batch layer over Kinesis readings (base64 JSON decoded per record), sequential.
pub fn kinesis_stack() -> impl Service<
    LambdaEvent<KinesisEvent>,
    Response = aws_lambda_events::event::streams::KinesisEventResponse,
    Error = tern_middleware::batch::BatchError,
> + Clone {
    ServiceBuilder::new()
        .layer(BatchLayer::kinesis(BatchConfig::new().with_metrics(false)))
        .service(service_fn(|event: LambdaEvent<Reading>| async move {
            check_reading(&event.payload).map_err(|reason| Diagnostic {
                error_type: "Telemetry.Implausible".to_owned(),
                error_message: reason,
            })
        }))
}

/// The bare Kinesis loop: decode each record's data as JSON and check it; returns failures.
pub fn bare_kinesis(event: &KinesisEvent) -> usize {
    event
        .records
        .iter()
        .filter(|record| {
            serde_json::from_slice::<Reading>(&record.kinesis.data)
                .map_err(|err| err.to_string())
                .and_then(|reading| check_reading(&reading))
                .is_err()
        })
        .count()
}
