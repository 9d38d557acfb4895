//! [`SecretsService`]: keeps the cache warm and recovers or refuses invocations whose secrets
//! went stale.

use crate::{
    cache::service::{CacheService, checked_cache},
    secrets::{error::SecretsError, handle::Secrets},
};

/// Runs [`Secrets::check`] before each invocation, then calls the inner service.
///
/// The check starts any refresh that is due in the background — even for secrets this
/// invocation does not read. A value past its TTL and grace period after failed refreshes
/// ([`Stale`](crate::secrets::SecretsError::Stale)) gets one fetch before the handler runs,
/// shared with concurrent invocations and ending 100 ms before this invocation's deadline: the
/// first invocation after the backend recovers runs with the new value. If a required secret
/// is still stale, the invocation fails with a [`Diagnostic`] of type `Secrets.Stale` without
/// calling the inner service. Inner errors are converted into [`Diagnostic`] as the runtime
/// would. Readiness is the inner service's.
///
/// Built by [`SecretsLayer`](crate::secrets::SecretsLayer), or by `SecretsService::new(inner,
/// secrets)`; `get_ref` is the wrapped service.
///
/// [`Diagnostic`]: lambda_runtime::Diagnostic
pub type SecretsService<S> = CacheService<S, Secrets>;

impl<S> SecretsService<S> {
    /// The secrets handle.
    pub fn secrets(&self) -> &Secrets {
        self.handle()
    }
}

checked_cache!(Secrets, |fault| SecretsError::from_fault(fault).into());

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        task::{Context, Poll},
        time::{Duration, SystemTime, UNIX_EPOCH},
    };

    use lambda_runtime::{Context as LambdaContext, Diagnostic, LambdaEvent};
    use tokio::time::Instant;
    use tower::Service;

    use super::*;
    use crate::{
        cache::scripted::{Script, Step},
        secrets::{config::SecretsConfig, error::FetchErrorKind, provider::Provider},
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

    /// Secrets with `db` (TTL 10 s, grace `grace_secs`) fetched once as `v1`; every later
    /// fetch fails with `kind` and `code`.
    async fn fetched_then_failing(
        grace_secs: u64,
        kind: FetchErrorKind,
        code: &'static str,
    ) -> (Secrets, Arc<Script>) {
        let config = SecretsConfig::new()
            .with_secret("db", "DB")
            .with_ttl(Duration::from_secs(10))
            .with_grace_period(Duration::from_secs(grace_secs));
        let script = Script::new([Step::Value("v1", Duration::ZERO), Step::Fail(kind, code)]);
        let secrets = Secrets::unfetched(
            &config,
            Provider::Scripted(script.clone()),
            &[Some("prod/db")],
        );
        secrets.force_refresh("db").await.unwrap();
        (secrets, script)
    }

    #[tokio::test(start_paused = true)]
    async fn forwards_readiness_and_fails_stale_invocations_without_calling_the_handler() {
        let (secrets, script) =
            fetched_then_failing(5, FetchErrorKind::AccessDenied, "AccessDeniedException").await;
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

    /// Secret `db` (TTL 2 s and grace 1 s, as in the report these tests reproduce) loaded with
    /// the script's first step, and a service over a handler that reads it.
    async fn loaded_with_ttl_2s_grace_1s(
        steps: impl IntoIterator<Item = Step>,
    ) -> (Arc<Script>, Secrets, Inner, SecretsService<Inner>) {
        let config = SecretsConfig::new()
            .with_secret("db", "DB")
            .with_ttl(Duration::from_secs(2))
            .with_grace_period(Duration::from_secs(1));
        let script = Script::new(steps);
        let secrets = Secrets::unfetched(
            &config,
            Provider::Scripted(script.clone()),
            &[Some("prod/db")],
        );
        secrets.force_refresh("db").await.unwrap();
        let inner = Inner {
            pending: Arc::new(AtomicUsize::new(0)),
            calls: Arc::new(AtomicUsize::new(0)),
            secrets: secrets.clone(),
        };
        let service = SecretsService::new(inner.clone(), secrets.clone());
        (script, secrets, inner, service)
    }

    #[tokio::test(start_paused = true)]
    async fn past_the_grace_period_one_shared_fetch_recovers_the_value_before_the_handler_runs() {
        // The backend fails once, then answers again.
        let (script, _, inner, service) = loaded_with_ttl_2s_grace_1s([
            Step::Value("v1", Duration::ZERO),
            Step::Fail(FetchErrorKind::Unreachable, "DispatchFailure"),
            Step::Value("v2", Duration::from_millis(50)),
        ])
        .await;

        // At the TTL the background refresh fails; its retry waits 5 s.
        tokio::time::advance(Duration::from_secs(2)).await;
        let mut first = service.clone();
        assert_eq!(ready(&mut first).await.call(event()).await.unwrap(), "v1");
        tokio::task::yield_now().await;
        assert_eq!(script.calls(), 2);

        // Past the grace period, the backend is back: two concurrent invocations share one
        // fetch, and both run with the new value.
        tokio::time::advance(Duration::from_millis(1_500)).await;
        let (mut a, mut b) = (service.clone(), service.clone());
        let (a, b) = tokio::join!(async { ready(&mut a).await.call(event()).await }, async {
            ready(&mut b).await.call(event()).await
        },);
        assert_eq!((a.unwrap(), b.unwrap()), ("v2".to_owned(), "v2".to_owned()));
        assert_eq!(script.calls(), 3, "one fetch for both");
        assert_eq!(inner.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_recovery_that_fails_or_outlasts_the_deadline_refuses_the_invocation() {
        let (script, secrets, inner, service) = loaded_with_ttl_2s_grace_1s([
            Step::Value("v1", Duration::ZERO),
            Step::Fail(FetchErrorKind::Unreachable, "DispatchFailure"),
            Step::FailAfter(
                FetchErrorKind::Unreachable,
                "DispatchFailure",
                Duration::from_millis(50),
            ),
            Step::Value("v2", Duration::from_secs(3)),
        ])
        .await;
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(secrets.get("db").unwrap().expose_str().unwrap(), "v1");
        tokio::task::yield_now().await;
        tokio::time::advance(Duration::from_millis(1_500)).await;

        // Still down: two concurrent invocations share the one failed fetch.
        let (mut a, mut b) = (service.clone(), service.clone());
        let (a, b) = tokio::join!(async { ready(&mut a).await.call(event()).await }, async {
            ready(&mut b).await.call(event()).await
        },);
        assert_eq!(a.unwrap_err().error_type, "Secrets.Stale");
        assert_eq!(b.unwrap_err().error_type, "Secrets.Stale");
        assert_eq!(script.calls(), 3);

        // The next answer takes 3 s, but this invocation has 1 s left: it gives up 100 ms
        // before its deadline.
        let mut with_deadline = event();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        with_deadline.context.deadline = now_ms + 1_000;
        let mut c = service.clone();
        let started = Instant::now();
        let refused = ready(&mut c).await.call(with_deadline).await.unwrap_err();
        assert_eq!(refused.error_type, "Secrets.Stale");
        let waited = started.elapsed();
        assert!(
            waited <= Duration::from_millis(900) && waited >= Duration::from_millis(800),
            "{waited:?}"
        );
        assert_eq!(
            inner.calls.load(Ordering::SeqCst),
            0,
            "no stale invocation ran"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failed_background_refreshes_become_the_secret_refresh_failed_metric() {
        use crate::metrics::{MetricsConfig, MetricsLayer};
        use tower::Layer;

        let (secrets, script) =
            fetched_then_failing(60, FetchErrorKind::Unreachable, "DispatchFailure").await;
        let (config, documents) = MetricsConfig::capturing("Shop", "orders");
        let metrics = MetricsLayer::new(config.with_cold_start_metric(false));
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
