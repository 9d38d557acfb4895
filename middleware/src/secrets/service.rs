//! [`SecretsService`]: keeps the cache warm and refuses invocations whose secrets went stale.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use lambda_runtime::{Diagnostic, LambdaEvent};
use pin_project_lite::pin_project;
use tower::Service;

use crate::secrets::handle::Secrets;

/// Runs [`Secrets::check`] before each invocation, then calls the inner service.
///
/// The check starts any refresh that is due in the background — even for secrets this
/// invocation does not read — and, if a required secret is
/// [`Stale`](crate::secrets::SecretsError::Stale), fails the invocation with a
/// [`Diagnostic`] of type `Secrets.Stale` without calling the inner service. Inner errors are
/// converted into [`Diagnostic`] as the runtime would. Readiness is the inner service's.
#[derive(Clone, Debug)]
pub struct SecretsService<S> {
    inner: S,
    secrets: Secrets,
}

impl<S> SecretsService<S> {
    /// Wraps `inner`; usually built by [`SecretsLayer`](crate::secrets::SecretsLayer).
    pub fn new(inner: S, secrets: Secrets) -> Self {
        Self { inner, secrets }
    }

    /// The secrets handle.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, T> Service<LambdaEvent<T>> for SecretsService<S>
where
    S: Service<LambdaEvent<T>>,
    S::Error: Into<Diagnostic>,
{
    type Response = S::Response;
    type Error = Diagnostic;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        let failed_refreshes = self.secrets.take_unreported_refresh_failures();
        if failed_refreshes > 0 {
            // Inside a MetricsLayer this lands in the invocation's EMF document; else a no-op.
            let _ = crate::metrics::Metrics::current().add(
                "SecretRefreshFailed",
                crate::metrics::Unit::Count,
                failed_refreshes as f64,
            );
        }
        let state = match self.secrets.check() {
            Ok(()) => State::Called {
                future: self.inner.call(event),
            },
            Err(error) => State::Rejected {
                error: Some(error.into()),
            },
        };
        ResponseFuture { state }
    }
}

pin_project! {
    /// The response future of [`SecretsService`]: the inner call, or the stale-secret error.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Called { #[pin] future: F },
        Rejected { error: Option<Diagnostic> },
    }
}

impl<F, R, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<R, E>>,
    E: Into<Diagnostic>,
{
    type Output = Result<R, Diagnostic>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called { future } => future.poll(cx).map_err(Into::into),
            StateProj::Rejected { error } => Poll::Ready(Err(error
                .take()
                .expect("ResponseFuture polled after completion"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        time::Duration,
    };

    use lambda_runtime::Context as LambdaContext;

    use super::*;
    use crate::secrets::{
        FetchErrorKind,
        cache::Cache,
        config::SecretsConfig,
        provider::Provider,
        scripted::{Script, Step},
    };

    /// Ready only after `pending` polls; counts calls.
    #[derive(Clone)]
    struct Inner {
        pending: Arc<AtomicUsize>,
        calls: Arc<AtomicUsize>,
        secrets: Secrets,
    }

    impl Service<LambdaEvent<()>> for Inner {
        type Response = String;
        type Error = lambda_runtime::Error;
        type Future = std::future::Ready<Result<String, lambda_runtime::Error>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            if self.pending.load(Ordering::SeqCst) == 0 {
                return Poll::Ready(Ok(()));
            }
            self.pending.fetch_sub(1, Ordering::SeqCst);
            cx.waker().wake_by_ref();
            Poll::Pending
        }

        fn call(&mut self, _event: LambdaEvent<()>) -> Self::Future {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let value = self
                .secrets
                .get("db")
                .map(|v| v.expose_str().unwrap().to_owned());
            std::future::ready(value.map_err(Into::into))
        }
    }

    async fn ready<S: Service<LambdaEvent<()>, Error = Diagnostic>>(service: &mut S) -> &mut S {
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .unwrap();
        service
    }

    fn event() -> LambdaEvent<()> {
        LambdaEvent::new((), LambdaContext::default())
    }

    #[tokio::test(start_paused = true)]
    async fn forwards_readiness_and_fails_stale_invocations_without_calling_the_handler() {
        let config = SecretsConfig::new()
            .with_secret("db", "DB")
            .with_ttl(Duration::from_secs(10))
            .with_grace_period(Duration::from_secs(5));
        let script = Script::new([
            Step::Value("v1", Duration::ZERO),
            Step::Fail(FetchErrorKind::AccessDenied, "AccessDeniedException"),
        ]);
        let cache = Cache::with_entries(
            &config,
            Provider::Scripted(script.clone()),
            &[Some("prod/db")],
        );
        let secrets = Secrets::new(cache);
        secrets.force_refresh("db").await.unwrap();
        let inner = Inner {
            pending: Arc::new(AtomicUsize::new(2)),
            calls: Arc::new(AtomicUsize::new(0)),
            secrets: secrets.clone(),
        };
        let mut service = SecretsService::new(inner.clone(), secrets.clone());

        // Readiness: two Pending polls of the inner service, then Ready; nothing buffered.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(service.poll_ready(&mut cx).is_pending());
        assert!(service.poll_ready(&mut cx).is_pending());
        assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        assert_eq!(service.call(event()).await.unwrap(), "v1");

        // The refresh fails; within grace the handler still runs with the cached value.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(ready(&mut service).await.call(event()).await.unwrap(), "v1");
        tokio::task::yield_now().await;
        assert_eq!(script.calls(), 2);
        tokio::time::advance(Duration::from_secs(5)).await;
        let diagnostic = ready(&mut service).await.call(event()).await.unwrap_err();
        assert_eq!(diagnostic.error_type, "Secrets.Stale");
        assert_eq!(
            diagnostic.error_message,
            "secret `db` (`prod/db`) is stale: its value is 15s old, past its TTL and grace period, \
             and the last refresh failed (AccessDeniedException: scripted failure); it is served \
             again once a refresh succeeds"
        );
        assert_eq!(
            inner.calls.load(Ordering::SeqCst),
            2,
            "the stale invocation must not reach the handler"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failed_background_refreshes_become_the_secret_refresh_failed_metric() {
        use crate::metrics::{MetricsConfig, MetricsLayer, MetricsSink};
        use tower::Layer;

        let config = SecretsConfig::new()
            .with_secret("db", "DB")
            .with_ttl(Duration::from_secs(10))
            .with_grace_period(Duration::from_secs(60));
        let script = Script::new([
            Step::Value("v1", Duration::ZERO),
            Step::Fail(FetchErrorKind::Unreachable, "DispatchFailure"),
        ]);
        let cache = Cache::with_entries(
            &config,
            Provider::Scripted(script.clone()),
            &[Some("prod/db")],
        );
        let secrets = Secrets::new(cache);
        secrets.force_refresh("db").await.unwrap();
        let documents = Arc::new(std::sync::Mutex::new(Vec::<serde_json::Value>::new()));
        let sink_documents = documents.clone();
        let metrics = MetricsLayer::new(
            MetricsConfig::new("Shop")
                .with_service("orders")
                .with_cold_start_metric(false)
                .with_sink(MetricsSink::from_fn(move |line| {
                    sink_documents
                        .lock()
                        .unwrap()
                        .push(serde_json::from_str(line).unwrap())
                })),
        );
        let inner = Inner {
            pending: Arc::new(AtomicUsize::new(0)),
            calls: Arc::new(AtomicUsize::new(0)),
            secrets: secrets.clone(),
        };
        let mut service = metrics.layer(SecretsService::new(inner, secrets.clone()));

        // Past the TTL: this invocation starts the refresh, which fails in the background.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(ready(&mut service).await.call(event()).await.unwrap(), "v1");
        tokio::task::yield_now().await;
        assert_eq!(script.calls(), 2);
        assert!(
            documents.lock().unwrap().is_empty(),
            "nothing failed yet when it ran"
        );

        // The next invocation reports the failure in its own EMF document, once.
        assert_eq!(ready(&mut service).await.call(event()).await.unwrap(), "v1");
        assert_eq!(ready(&mut service).await.call(event()).await.unwrap(), "v1");
        let documents = documents.lock().unwrap();
        assert_eq!(documents.len(), 1, "{documents:?}");
        assert_eq!(documents[0]["SecretRefreshFailed"], 1);
        assert_eq!(documents[0]["service"], "orders");
    }
}
