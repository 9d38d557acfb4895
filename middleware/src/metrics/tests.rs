//! Service-level tests: what a whole invocation writes.

use std::sync::Arc;

use lambda_runtime::{Config, Context, Diagnostic, LambdaEvent};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt, service_fn};

use super::{config::MetricsSink, *};

const NOW: u64 = 1_795_000_000_000;

fn layer(sink: MetricsSink, cold: fn() -> bool) -> MetricsLayer {
    MetricsLayer::new(
        MetricsConfig::new("Shop")
            .with_service("orders")
            .with_sink(sink)
            .with_test_clock(|| NOW, cold),
    )
}

fn event(payload: u32) -> LambdaEvent<u32> {
    let mut context = Context::default();
    context.env_config = Arc::new(Config {
        function_name: "orders-fn".into(),
        ..Config::default()
    });
    LambdaEvent::new(payload, context)
}

async fn record(event: LambdaEvent<u32>) -> Result<u32, Diagnostic> {
    let metrics = Metrics::current();
    metrics.add("Orders", Unit::Count, f64::from(event.payload))?;
    match event.payload {
        0 => Err(Diagnostic {
            error_type: "Orders.Empty".into(),
            error_message: "no orders".into(),
        }),
        13 => panic!("unlucky"),
        n => Ok(n),
    }
}

/// One invocation (not a cold start) of a handler that only does `work` with its metrics: its
/// result, and the documents written.
async fn invoke_once(
    work: fn(&Metrics) -> Result<(), MetricsError>,
) -> (Result<(), MetricsError>, Vec<Value>) {
    let (sink, documents) = MetricsSink::capture();
    let service = layer(sink, || false).layer(service_fn(move |_: LambdaEvent<u32>| async move {
        work(&Metrics::current())
    }));
    let result = service.oneshot(event(1)).await;
    let documents = documents.lock().unwrap().clone();
    (result, documents)
}

#[tokio::test]
async fn success_writes_one_document_after_the_handler() {
    let (sink, documents) = MetricsSink::capture();
    let mut service = layer(sink, || false).layer(service_fn(record));
    assert_eq!(
        service.ready().await.unwrap().call(event(3)).await.unwrap(),
        3
    );
    let documents = documents.lock().unwrap();
    assert_eq!(
        *documents,
        [json!({
            "_aws": {
                "Timestamp": NOW,
                "CloudWatchMetrics": [{
                    "Namespace": "Shop",
                    "Dimensions": [["service"]],
                    "Metrics": [{"Name": "Orders", "Unit": "Count", "StorageResolution": 60}]
                }]
            },
            "service": "orders",
            "Orders": 3
        })]
    );
}

#[tokio::test]
async fn errors_and_panics_still_flush() {
    let (sink, documents) = MetricsSink::capture();
    let service = layer(sink, || false).layer(service_fn(record));
    let err = service.clone().oneshot(event(0)).await.unwrap_err();
    assert_eq!(err.error_type, "Orders.Empty");
    let panicked = tokio::spawn(service.oneshot(event(13))).await;
    assert!(panicked.unwrap_err().is_panic());
    let values: Vec<Value> = documents
        .lock()
        .unwrap()
        .iter()
        .map(|d| d["Orders"].clone())
        .collect();
    assert_eq!(values, [json!(0), json!(13)]);
}

#[tokio::test]
async fn cold_start_is_its_own_document_with_function_name() {
    let (sink, documents) = MetricsSink::capture();
    let service = layer(sink, || true).layer(service_fn(record));
    service.oneshot(event(2)).await.unwrap();
    let documents = documents.lock().unwrap();
    assert_eq!(documents.len(), 2);
    assert_eq!(
        documents[0],
        json!({
            "_aws": {
                "Timestamp": NOW,
                "CloudWatchMetrics": [{
                    "Namespace": "Shop",
                    "Dimensions": [["service", "function_name"]],
                    "Metrics": [{"Name": "ColdStart", "Unit": "Count", "StorageResolution": 60}]
                }]
            },
            "service": "orders",
            "function_name": "orders-fn",
            "ColdStart": 1
        })
    );
    assert_eq!(documents[1]["Orders"], 2);
    assert!(documents[1].get("ColdStart").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_invocations_never_mix() {
    let (sink, documents) = MetricsSink::capture();
    let service = layer(sink, || false).layer(service_fn(|event: LambdaEvent<u32>| async move {
        let metrics = Metrics::current();
        metrics.add_dimension("invocation", &event.payload.to_string())?;
        for step in 0..20 {
            metrics.add("Step", Unit::Count, f64::from(event.payload * 100 + step))?;
            tokio::task::yield_now().await;
        }
        Ok::<_, MetricsError>(())
    }));
    let calls: Vec<_> = (1..=16)
        .map(|n| tokio::spawn(service.clone().oneshot(event(n))))
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let documents = documents.lock().unwrap();
    assert_eq!(documents.len(), 16);
    for doc in documents.iter() {
        let n: u32 = doc["invocation"].as_str().unwrap().parse().unwrap();
        let expected: Vec<Value> = (0..20).map(|step| json!(n * 100 + step)).collect();
        assert_eq!(doc["Step"], Value::Array(expected), "invocation {n}");
    }
}

#[tokio::test]
async fn one_hundred_fifty_metrics_make_two_documents() {
    let (result, documents) = invoke_once(|metrics| {
        for i in 0..150 {
            metrics.add(&format!("Metric{i}"), Unit::Milliseconds, f64::from(i))?;
        }
        Ok(())
    })
    .await;
    result.unwrap();
    assert_eq!(super::emf::tests::defined_counts(&documents), [100, 50]);
    let total: usize = documents
        .iter()
        .map(|d| {
            d.as_object()
                .unwrap()
                .keys()
                .filter(|k| k.starts_with("Metric"))
                .count()
        })
        .sum();
    assert_eq!(total, 150);
}

#[tokio::test]
async fn thirty_dimensions_fail_the_invocation_clearly() {
    let (result, _documents) = invoke_once(|metrics| {
        for i in 0..30 {
            metrics.add_dimension(&format!("d{i}"), "x")?;
        }
        Ok(())
    })
    .await;
    let err = Diagnostic::from(result.unwrap_err());
    assert_eq!(err.error_type, "Metrics.TooManyDimensions");
}

#[tokio::test]
async fn disabled_writes_nothing_and_no_metrics_write_nothing() {
    let (sink, documents) = MetricsSink::capture();
    let disabled = MetricsLayer::new(
        MetricsConfig::new("Shop")
            .with_sink(sink.clone())
            .with_disabled(true)
            .with_test_clock(|| NOW, || true),
    );
    disabled
        .layer(service_fn(record))
        .oneshot(event(4))
        .await
        .unwrap();
    let quiet = layer(sink, || false).layer(service_fn(|e: LambdaEvent<u32>| async move {
        Ok::<_, Diagnostic>(e.payload)
    }));
    quiet.oneshot(event(4)).await.unwrap();
    assert!(documents.lock().unwrap().is_empty());
}
