//! Graceful shutdown: hooks that run on `SIGTERM`/`SIGINT` before the process exits.
//!
//! Lambda only sends `SIGTERM` to a runtime when at least one extension is registered, so
//! when hooks exist the bootstrap registers lambda_runtime's no-op internal extension (the
//! `graceful-shutdown` feature). Without hooks, or without the feature, it still listens for
//! the signals (containers, `cargo lambda watch`, the emulator, another extension's layer) but
//! makes no extension round trip during init.

use std::{
    io::Write,
    pin::Pin,
    sync::{Arc, Mutex},
};

type Hook = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// The hooks registered during init, shared by every [`InitContext`](crate::InitContext) clone.
#[derive(Clone, Default)]
pub(crate) struct ShutdownHooks {
    hooks: Arc<Mutex<Vec<Hook>>>,
}

impl ShutdownHooks {
    pub(crate) fn push<F, Fut>(&self, hook: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.lock().push(Box::new(move || Box::pin(hook())));
    }

    #[cfg(any(test, feature = "graceful-shutdown"))]
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Runs every hook once, in registration order, then flushes stdout so the last log
    /// lines reach CloudWatch.
    pub(crate) async fn run(self) {
        let hooks = std::mem::take(&mut *self.lock());
        tracing::info!(hooks = hooks.len(), "shutdown: running hooks");
        for hook in hooks {
            hook().await;
        }
        tracing::info!("shutdown: complete");
        let _ = std::io::stdout().flush();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Hook>> {
        // A hook that panicked while registering cannot leave the Vec half-written.
        self.hooks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Installs the signal handling for the rest of the process's life.
pub(crate) async fn install(hooks: ShutdownHooks) {
    #[cfg(feature = "graceful-shutdown")]
    if !hooks.is_empty() {
        // lambda_runtime registers its no-op extension (so Lambda delivers SIGTERM), listens
        // for the signals, runs our hook and exits 0. Its registration panics when the
        // Extensions API refuses; catch that so a missing extension costs the hooks, not the
        // function.
        let registering = hooks.clone();
        let registered = std::panic::AssertUnwindSafe(
            lambda_runtime::spawn_graceful_shutdown_handler(move || registering.run()),
        );
        if catch_unwind(registered).await.is_ok() {
            return;
        }
        tracing::warn!(
            "could not register the shutdown extension; shutdown hooks run only if a signal arrives anyway"
        );
    }
    tokio::spawn(async move {
        wait_for_signal().await;
        hooks.run().await;
        std::process::exit(0);
    });
}

/// Runs a future, turning a panic into `Err(message)`.
pub(crate) async fn catch_unwind<F: Future>(
    future: std::panic::AssertUnwindSafe<F>,
) -> Result<F::Output, String> {
    futures_util::FutureExt::catch_unwind(future)
        .await
        .map_err(|payload| crate::panic_message(payload.as_ref()))
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("could not install SIGTERM/SIGINT handlers; shutdown hooks will not run");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutdown signal received"),
        _ = int.recv() => tracing::info!(signal = "SIGINT", "shutdown signal received"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn hooks_run_once_in_order() {
        let hooks = ShutdownHooks::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        for i in 0..3 {
            let order = order.clone();
            hooks.push(move || async move { order.lock().unwrap().push(i) });
        }
        assert!(!hooks.is_empty());
        hooks.clone().run().await;
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2]);
        // Taken by the first run: a second signal does not run them again.
        hooks.clone().run().await;
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2]);
        assert!(hooks.is_empty());
    }

    #[tokio::test]
    async fn catch_unwind_reports_panics_and_values() {
        let calls = AtomicUsize::new(0);
        let ok = catch_unwind(std::panic::AssertUnwindSafe(async {
            calls.fetch_add(1, Ordering::SeqCst);
            7
        }))
        .await;
        assert_eq!(ok, Ok(7));
        let err = catch_unwind(std::panic::AssertUnwindSafe(async { panic!("boom {}", 1) })).await;
        assert_eq!(err, Err::<(), _>("boom 1".to_owned()));
    }
}
