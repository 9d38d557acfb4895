//! Service-level tests of the HTTP layers, in process (the emulator tests in
//! `functions/tests/http.rs` drive the same code through the bootstrap).

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use lambda_http::request::LambdaRequest;
use lambda_runtime::{Config, Context, LambdaEvent};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt, service_fn};

use super::*;

const HTTP_API: &str = include_str!("../../../events/api/1-http-api-create-order.json");
const REST_API: &str = include_str!("../../../events/api/2-rest-api-get-order.json");

fn event(json: &str) -> LambdaEvent<LambdaRequest> {
    let mut context = Context::default();
    context.env_config = Arc::new(Config::default());
    LambdaEvent::new(serde_json::from_str(json).unwrap(), context)
}

async fn respond<S>(service: S, json: &str) -> Value
where
    S: Service<LambdaEvent<LambdaRequest>, Response = LambdaResponse>,
    S::Error: std::fmt::Debug,
{
    let response = service.oneshot(event(json)).await.unwrap();
    serde_json::to_value(response).unwrap()
}

type Handler = fn(lambda_http::Request) -> http::Response<Full<Bytes>>;

fn service(
    handler: Handler,
) -> HttpService<
    impl Service<
        lambda_http::Request,
        Response = http::Response<Full<Bytes>>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static,
> {
    HttpLayer::new().layer(service_fn(
        move |request| async move { Ok(handler(request)) },
    ))
}

#[tokio::test]
async fn a_panic_is_a_500_problem_in_the_event_kind_s_shape_and_the_service_serves_on() {
    fn handler(request: lambda_http::Request) -> http::Response<Full<Bytes>> {
        if request.method() == http::Method::POST {
            panic!("the handler broke");
        }
        http::Response::new(Full::new(Bytes::from_static(b"fine")))
    }
    let service = service(handler);
    let panicked = respond(service.clone(), HTTP_API).await;
    assert_eq!(
        panicked,
        json!({
            "statusCode": 500,
            "headers": {"content-type": "application/problem+json"},
            "multiValueHeaders": {},
            "body": "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\",\"status\":500,\"detail\":\"the request failed inside the function; the failure is logged under this request's id\"}",
            "isBase64Encoded": false,
            "cookies": []
        })
    );
    let fine = respond(service, REST_API).await;
    assert_eq!(fine["statusCode"], 200);
    assert_eq!(fine["body"], "fine");
}

#[tokio::test]
async fn repeated_headers_fit_each_shape() {
    fn handler(_: lambda_http::Request) -> http::Response<Full<Bytes>> {
        http::Response::builder()
            .header("vary", "Accept")
            .header("vary", "Cookie")
            .header("set-cookie", "a=1")
            .header("set-cookie", "b=2")
            .header("content-type", "image/png")
            .body(Full::new(Bytes::from_static(b"\x89PNG")))
            .unwrap()
    }
    let http_api = respond(service(handler), HTTP_API).await;
    assert_eq!(
        http_api["headers"],
        json!({"vary": "Accept, Cookie", "content-type": "image/png"})
    );
    assert_eq!(http_api["cookies"], json!(["a=1", "b=2"]));
    assert_eq!(
        (&http_api["body"], &http_api["isBase64Encoded"]),
        (&json!("iVBORw=="), &json!(true))
    );
    let rest = respond(service(handler), REST_API).await;
    assert_eq!(rest["headers"], json!({}));
    assert_eq!(
        rest["multiValueHeaders"],
        json!({"vary": ["Accept", "Cookie"], "set-cookie": ["a=1", "b=2"], "content-type": ["image/png"]})
    );
}

#[cfg(feature = "metrics")]
#[tokio::test]
async fn composed_with_metrics_every_invocation_flushes_its_own_document() {
    use crate::metrics::{Metrics, MetricsConfig, MetricsLayer, Unit};
    let (config, documents) = MetricsConfig::capturing("Shop", "api");
    let metrics = MetricsLayer::new(config);
    let inner = service_fn(|_request: lambda_http::Request| async {
        Metrics::current()
            .add("Requests", Unit::Count, 1.0)
            .unwrap();
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
    });
    let service = tower::ServiceBuilder::new()
        .layer(metrics)
        .layer(HttpLayer::new())
        .service(inner);
    for json in [HTTP_API, REST_API] {
        respond(service.clone(), json).await;
    }
    let documents = documents.lock().unwrap();
    let requests: Vec<&Value> = documents.iter().filter_map(|d| d.get("Requests")).collect();
    assert_eq!(requests, [&json!(1), &json!(1)], "{documents:?}");
}

#[cfg(feature = "idempotency")]
mod idempotency_key {
    use std::time::Duration;

    use tokio::sync::Notify;

    use super::*;
    use crate::idempotency::{Idempotency, IdempotencyConfig, MissingKey, store::MemoryStore};

    /// A service that counts its runs, answers `201` with the run number, `500` for a body
    /// `fail`, and waits for `gate` for a body `wait`.
    #[derive(Clone)]
    struct Orders {
        runs: Arc<AtomicUsize>,
        gate: Arc<Notify>,
    }

    impl Service<http::Request<Full<Bytes>>> for Orders {
        type Response = http::Response<Full<Bytes>>;
        type Error = Infallible;
        type Future =
            std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Infallible>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<Full<Bytes>>) -> Self::Future {
            let (runs, gate) = (self.runs.clone(), self.gate.clone());
            Box::pin(async move {
                let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
                let body = request.into_body().collect().await.unwrap().to_bytes();
                if body == "wait" {
                    gate.notified().await;
                }
                let status = if body == "fail" { 500 } else { 201 };
                Ok(http::Response::builder()
                    .status(status)
                    .header("location", format!("/orders/{run}"))
                    .header("set-cookie", "a=1")
                    .header("set-cookie", "b=2")
                    .body(Full::new(Bytes::from(format!("run {run}"))))
                    .unwrap())
            })
        }
    }

    fn layered(
        missing: MissingKey,
    ) -> (IdempotencyKeyService<Orders>, Arc<AtomicUsize>, Arc<Notify>) {
        let engine = Idempotency::new(
            Arc::new(MemoryStore::new()),
            IdempotencyConfig::new()
                .with_prefix("api.orders")
                .with_missing_key(missing),
        );
        let orders = Orders {
            runs: Arc::default(),
            gate: Arc::default(),
        };
        let (runs, gate) = (orders.runs.clone(), orders.gate.clone());
        (IdempotencyKeyLayer::new(engine).layer(orders), runs, gate)
    }

    fn post(key: Option<&str>, body: &'static str) -> http::Request<Full<Bytes>> {
        let mut builder = http::Request::post("/orders?src=test");
        if let Some(key) = key {
            builder = builder.header("idempotency-key", key);
        }
        let mut request = builder
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap();
        // What lambda_http puts there: the deadline bounds the lock.
        let mut context = Context::default();
        context.deadline = u64::try_from(
            (std::time::SystemTime::now() + Duration::from_secs(30))
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap();
        request.extensions_mut().insert(context);
        request
    }

    async fn send(
        service: &IdempotencyKeyService<Orders>,
        request: http::Request<Full<Bytes>>,
    ) -> (u16, Vec<(String, String)>, String) {
        let response = service.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let headers = parts
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        let body = body.collect().await.unwrap().to_bytes();
        (
            parts.status.as_u16(),
            headers,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    fn problem(status: u16, title: &str, detail: &str) -> String {
        format!(
            r#"{{"type":"about:blank","title":"{title}","status":{status},"detail":"{detail}"}}"#
        )
    }

    #[tokio::test]
    async fn a_retry_gets_the_stored_response_and_another_body_gets_422() {
        let (service, runs, _) = layered(MissingKey::Error);
        let first = send(&service, post(Some("\"k-1\""), "order")).await;
        assert_eq!(
            first,
            (
                201,
                vec![
                    ("location".into(), "/orders/1".into()),
                    ("set-cookie".into(), "a=1".into()),
                    ("set-cookie".into(), "b=2".into())
                ],
                "run 1".into()
            )
        );
        // The quoted and the bare form are the same key.
        assert_eq!(send(&service, post(Some("k-1"), "order")).await, first);
        let other = send(&service, post(Some("k-1"), "another order")).await;
        assert_eq!(other.0, 422);
        assert_eq!(
            other.2,
            problem(
                422,
                "Unprocessable Entity",
                "this Idempotency-Key was already used for a different request (method, path, query or body); send a new key for a new request"
            )
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(send(&service, post(Some("k-2"), "order")).await.2, "run 2");
    }

    #[tokio::test]
    async fn a_retry_while_the_first_runs_gets_409() {
        let (service, runs, gate) = layered(MissingKey::Error);
        let first = tokio::spawn({
            let service = service.clone();
            async move { send(&service, post(Some("k"), "wait")).await }
        });
        while runs.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let second = send(&service, post(Some("k"), "wait")).await;
        assert_eq!(
            (second.0, second.2),
            (
                409,
                problem(
                    409,
                    "Conflict",
                    "a request with this Idempotency-Key is still being processed; retry once it has completed"
                )
            )
        );
        gate.notify_one();
        assert_eq!(first.await.unwrap().0, 201);
        assert_eq!(send(&service, post(Some("k"), "wait")).await.2, "run 1");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn server_errors_are_not_stored_and_a_retry_runs_again() {
        let (service, runs, _) = layered(MissingKey::Error);
        assert_eq!(send(&service, post(Some("k"), "fail")).await.0, 500);
        assert_eq!(send(&service, post(Some("k"), "fail")).await.2, "run 2");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn missing_and_malformed_keys_are_400_and_other_methods_pass_through() {
        let (service, runs, _) = layered(MissingKey::Error);
        let missing = send(&service, post(None, "order")).await;
        assert_eq!(missing.0, 400);
        assert_eq!(
            missing.2,
            r#"{"type":"about:blank","title":"Bad Request","status":400,"detail":"this request needs an Idempotency-Key header: a unique value per request (e.g. a UUID), sent again unchanged when the request is retried","header":"Idempotency-Key"}"#
        );
        let malformed = send(&service, post(Some("two words"), "order")).await;
        assert_eq!(malformed.0, 400);
        assert!(!malformed.2.contains("two words"), "{}", malformed.2);
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        let get = http::Request::get("/orders/1")
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert_eq!(send(&service, get).await.2, "run 1");
        let get = http::Request::get("/orders/1")
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert_eq!(send(&service, get).await.2, "run 2");

        let (lenient, runs, _) = layered(MissingKey::RunWithoutIdempotency);
        assert_eq!(send(&lenient, post(None, "order")).await.0, 201);
        assert_eq!(send(&lenient, post(None, "order")).await.0, 201);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
