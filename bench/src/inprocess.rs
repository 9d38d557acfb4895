//! In-process timings: no emulator, no network, the event already in memory as bytes.
//!
//! Each measurement runs bytes → typed event → service → response bytes, the way the runtime
//! does between `/next` and `/response`. The two sides of a comparison alternate sample by
//! sample (A B A B …) on one current-thread Tokio runtime, so a noisy neighbour hits both.
//! Logging is on (tern's JSON format, INFO) with the lines written to a sink.

use std::{hint::black_box, time::Instant};

use aws_lambda_events::event::{kinesis::KinesisEvent, sqs::SqsEvent};
use lambda_runtime::{Context, LambdaInvocation};
use tern_middleware::{batch::BatchConfig, secrets::SecretsLayer};
use tern_runtime::{
    InvocationLayer, LambdaEvent,
    logging::{LambdaJsonFields, LambdaJsonFormat},
};
use tower::{Layer, Service, ServiceExt, service_fn};

use crate::{stack, stats::Samples, workload};

/// Installs tern's JSON log format at INFO, writing to a sink (once per process).
pub fn install_logging() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .fmt_fields(LambdaJsonFields)
        .event_format(LambdaJsonFormat::new())
        .with_writer(std::io::sink)
        .try_init();
}

fn context() -> Context {
    let mut context = Context::default();
    context.request_id = "8f5c2a9e-bench-4000-8000-000000000000".to_owned();
    // Far enough ahead that the batch layer's deadline checks always pass.
    context.deadline = 4_102_444_800_000;
    context
}

fn invocation(body: &bytes::Bytes) -> LambdaInvocation {
    let (parts, ()) = http::Response::new(()).into_parts();
    LambdaInvocation {
        parts,
        body: body.clone(),
        context: context(),
    }
}

/// Times `run` `iterations` times per sample; microseconds per iteration, one per sample.
async fn sample<F, Fut>(iterations: u32, mut run: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let start = Instant::now();
    for _ in 0..iterations {
        run().await;
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(iterations)
}

/// The results of one in-process run.
#[derive(Debug, Default)]
pub struct InProcess {
    /// µs per 10-record SQS batch through the full stack.
    pub sqs_full: Samples,
    /// µs per 10-record SQS batch on the bare path.
    pub sqs_bare: Samples,
    /// µs per 10,000-record Kinesis batch through the batch layer.
    pub kinesis_full: Samples,
    /// µs per 10,000-record Kinesis batch on the bare loop.
    pub kinesis_bare: Samples,
}

/// Runs both comparisons with `samples` samples per side; `secrets` is the cached secret the
/// full stack reads (fetched beforehand), or none.
pub fn run(secrets: Option<SecretsLayer>, samples: usize) -> InProcess {
    install_logging();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(measure(secrets, samples))
}

async fn measure(secrets: Option<SecretsLayer>, samples: usize) -> InProcess {
    let mut out = InProcess::default();
    let sqs_body = bytes::Bytes::from(workload::sqs_event().to_string());
    let kinesis_body = bytes::Bytes::from(workload::kinesis_batch(10_000).to_string());

    // Full stack: the runtime's invocation span, the typed decode, the middleware, the encode.
    // The local cache holds the completed orders after the first batch: the steady state of
    // a function that sees redeliveries. The invalid order is never cached and runs each time.
    let stack = stack::full_stack(
        secrets,
        None,
        stack::memory_idempotency(1024),
        BatchConfig::new().with_metrics(false),
    );
    let mut full = InvocationLayer::from_env::<SqsEvent>()
        .expect("the invocation settings of the environment")
        .layer(service_fn(move |invocation: LambdaInvocation| {
            let mut stack = stack.clone();
            async move {
                let event: SqsEvent = serde_json::from_slice(&invocation.body)?;
                let event = LambdaEvent::new(event, invocation.context);
                let service = stack.ready().await.map_err(|d| d.error_message)?;
                let response = service.call(event).await.map_err(|d| d.error_message)?;
                Ok::<_, lambda_runtime::Error>(serde_json::to_vec(&response)?)
            }
        }));
    let mut kinesis = stack::kinesis_stack();

    let iterations = 2_000;
    // Warm up caches, allocator and the idempotency cache.
    for _ in 0..iterations {
        let bytes = full.call(invocation(&sqs_body)).await.expect("full stack");
        black_box(bytes);
    }
    for _ in 0..samples {
        let full_us = sample(iterations, || {
            let call = full.call(invocation(&sqs_body));
            async move {
                black_box(call.await.expect("full stack"));
            }
        })
        .await;
        out.sqs_full.push(full_us);
        let bare_us = sample(iterations, || async {
            let event: SqsEvent = serde_json::from_slice(&sqs_body).expect("SQS event");
            let event = LambdaEvent::new(event, context());
            let response = stack::bare_sqs(&event.payload);
            black_box(serde_json::to_vec(&response).expect("encodes"));
        })
        .await;
        out.sqs_bare.push(bare_us);
    }

    // A 10,000-record batch is one sample; a burst of host noise can land on either side, so
    // take more of them than of the (2,000-batch) SQS samples.
    for round in 0..=samples * 2 {
        let start = Instant::now();
        let event: KinesisEvent = serde_json::from_slice(&kinesis_body).expect("Kinesis event");
        let event = LambdaEvent::new(event, context());
        let response = kinesis.ready().await.expect("ready").call(event).await;
        black_box(serde_json::to_vec(&response.expect("batch")).expect("encodes"));
        let full_us = start.elapsed().as_secs_f64() * 1e6;

        let start = Instant::now();
        let event: KinesisEvent = serde_json::from_slice(&kinesis_body).expect("Kinesis event");
        let event = LambdaEvent::new(event, context());
        black_box(stack::bare_kinesis(&event.payload));
        let bare_us = start.elapsed().as_secs_f64() * 1e6;
        if round > 0 {
            // The first round is the warm-up.
            out.kinesis_full.push(full_us);
            out.kinesis_bare.push(bare_us);
        }
    }
    out
}
