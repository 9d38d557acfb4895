//! The batch layer among other pieces: registered with the `Bootstrap`, wrapping per-record
//! middleware (the shape an idempotency layer takes), and the log lines it writes.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    task::{Context as TaskContext, Poll},
};

use crate::support::batch::*;
use serde::Deserialize;
use tern_middleware::batch::{BatchConfig, BatchLayer};
use tern_runtime::{Bootstrap, Error, InitContext, InitError, LambdaEvent, service_fn};
use tower::{Service, ServiceBuilder, ServiceExt, layer::layer_fn};

#[derive(Debug, Deserialize)]
struct Order {
    id: String,
}

async fn store_order(event: LambdaEvent<Order>) -> Result<(), Error> {
    tracing::info!(order = %event.payload.id, "stored");
    Ok(())
}

#[test]
fn the_batch_service_registers_as_a_bootstrap_handler() {
    let bootstrap = Bootstrap::new().handler("orders", |_init: InitContext| async {
        let config = BatchConfig::from_env()?;
        let service = ServiceBuilder::new()
            .layer(BatchLayer::sqs(config))
            .service(service_fn(store_order));
        Ok::<_, InitError>(service)
    });
    assert_eq!(bootstrap.handler_names(), ["orders"]);
}

/// A per-record service keyed on the decoded record, as an idempotency layer's is: a record
/// whose key was already completed is answered without calling the handler.
#[derive(Clone)]
struct SkipCompletedService<S> {
    inner: S,
    completed: Arc<Mutex<HashSet<String>>>,
}

impl<S> Service<LambdaEvent<Order>> for SkipCompletedService<S>
where
    S: Service<LambdaEvent<Order>, Response = (), Error = Error> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = ();
    type Error = Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<Order>) -> Self::Future {
        let key = event.payload.id.clone();
        if self.completed.lock().unwrap().contains(&key) {
            return Box::pin(async { Ok(()) });
        }
        let completed = self.completed.clone();
        let call = self.inner.call(event);
        Box::pin(async move {
            call.await?;
            completed.lock().unwrap().insert(key);
            Ok(())
        })
    }
}

#[tokio::test]
async fn per_record_middleware_wraps_the_record_handler_with_the_invocation_context() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let handler = {
        let calls = calls.clone();
        move |event: LambdaEvent<Order>| {
            let calls = calls.clone();
            async move {
                assert_eq!(event.context.request_id, "request-1");
                calls.lock().unwrap().push(event.payload.id);
                Ok::<_, Error>(())
            }
        }
    };
    let service = ServiceBuilder::new()
        .layer(BatchLayer::sqs(BatchConfig::new()))
        .layer(layer_fn(|inner| SkipCompletedService {
            inner,
            completed: Arc::default(),
        }))
        .service(service_fn(handler));
    let messages = ["o-1", "o-2", "o-1", "o-3", "o-2"]
        .iter()
        .enumerate()
        .map(|(i, order)| sqs_message(&format!("m{i}"), &format!(r#"{{"id":"{order}"}}"#), None));
    let response = service
        .oneshot(sqs_event(messages, context(None)))
        .await
        .unwrap();
    assert_eq!(reported_ids(&response), Vec::<String>::new());
    assert_eq!(*calls.lock().unwrap(), ["o-1", "o-2", "o-3"]);
}
