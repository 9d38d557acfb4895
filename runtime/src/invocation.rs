//! Per-invocation context: the tracing span every log line inherits, and the cold-start flag.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    task,
};

use bytes::Bytes;
use lambda_runtime::LambdaInvocation;
use tower::{Layer, Service};
use tracing::{Instrument, instrument::Instrumented};

/// True until the first invocation of this process starts.
static COLD: AtomicBool = AtomicBool::new(true);

/// Marks the process warm before its first invocation (provisioned concurrency).
pub(crate) fn mark_warm() {
    COLD.store(false, Ordering::Relaxed);
}

tokio::task_local! {
    static CURRENT_COLD_START: bool;
    /// The body of the invocation lambda_runtime is decoding, only for the (synchronous)
    /// inner `call` in which it decodes: see [`decoding_body`].
    static DECODING_BODY: Bytes;
}

/// The raw body of the invocation being decoded, when called from inside lambda_runtime's
/// decode of it (under [`InvocationLayer`]); `None` anywhere else.
///
/// lambda_runtime decodes the event inside the `call` this layer wraps, through
/// `serde_path_to_error`, and keeps the body to itself; the handler guard uses this to find
/// the path of a field that failed without tracking paths a second time on every event.
pub(crate) fn decoding_body<R>(f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    DECODING_BODY.try_with(|body| f(body)).ok()
}

/// Runs `f` as [`InvocationLayer`] runs lambda_runtime's decode: with `body` visible to
/// [`decoding_body`].
#[cfg(test)]
pub(crate) fn with_decoding_body<R>(body: &[u8], f: impl FnOnce() -> R) -> R {
    DECODING_BODY.sync_scope(Bytes::copy_from_slice(body), f)
}

/// Whether the invocation being handled on this task is the process's first one.
///
/// Meaningful inside a handler (on the task that runs it); `false` elsewhere.
pub fn is_cold_start() -> bool {
    CURRENT_COLD_START.try_with(|cold| *cold).unwrap_or(false)
}

/// Wraps the runtime's invocation service with a span carrying `requestId`, `function_name`,
/// `cold_start` and `xray_trace_id`, so every line logged while handling the event has them.
///
/// Installed by [`Bootstrap`](crate::Bootstrap); public for custom runtimes built directly on
/// [`lambda_runtime::Runtime::layer`].
#[derive(Debug, Clone, Copy, Default)]
pub struct InvocationLayer;

impl<S> Layer<S> for InvocationLayer {
    type Service = InvocationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InvocationService { inner }
    }
}

/// The service produced by [`InvocationLayer`].
#[derive(Debug, Clone)]
pub struct InvocationService<S> {
    inner: S,
}

impl<S> Service<LambdaInvocation> for InvocationService<S>
where
    S: Service<LambdaInvocation>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Instrumented<tokio::task::futures::TaskLocalFuture<bool, S::Future>>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        // Only the first invocation to get here is cold, also when several start concurrently.
        let cold_start = COLD.swap(false, Ordering::Relaxed);
        crate::rescue::count_started();
        let ctx = &invocation.context;
        // All fields are given at creation: recording one later would make the JSON field
        // formatter re-parse the span's fields on every invocation.
        let span = match &ctx.xray_trace_id {
            Some(trace_id) => tracing::info_span!(
                "invocation",
                requestId = %ctx.request_id,
                function_name = %ctx.env_config.function_name,
                cold_start,
                xray_trace_id = %trace_id,
            ),
            None => tracing::info_span!(
                "invocation",
                requestId = %ctx.request_id,
                function_name = %ctx.env_config.function_name,
                cold_start,
            ),
        };
        let future = {
            let _entered = span.enter();
            // lambda_runtime decodes the event and calls the handler's `call` from inside this
            // `call`, so the flag must be visible here too, not only while the future is
            // polled. The body is shared (a reference count), not copied.
            let body = invocation.body.clone();
            if std::str::from_utf8(&body).is_err() {
                // JSON is UTF-8, and serde_json does not check what it skips (an unknown
                // field's string): without this such an event would reach the handler.
                // lambda_runtime 1.5 would also end its run loop on it when its TRACE line of
                // the raw body is on (it converts the body with `?`). An empty body never
                // decodes, so the guard answers `Runtime.UnmarshalError`, naming the problem
                // from the original body (visible through `decoding_body`).
                invocation.body = Bytes::new();
            }
            CURRENT_COLD_START.sync_scope(cold_start, || {
                DECODING_BODY.sync_scope(body, || self.inner.call(invocation))
            })
        };
        CURRENT_COLD_START
            .scope(cold_start, future)
            .instrument(span)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use lambda_runtime::{Config, Context};

    use super::*;

    /// The body lambda_runtime would decode, and the one the guard would see.
    type Seen = (Vec<u8>, Option<Vec<u8>>);

    /// Records what each invocation hands on.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Seen>>>);

    impl Service<LambdaInvocation> for Recorder {
        type Response = ();
        type Error = lambda_runtime::Error;
        type Future = std::future::Ready<Result<(), lambda_runtime::Error>>;

        fn poll_ready(&mut self, _: &mut task::Context<'_>) -> task::Poll<Result<(), Self::Error>> {
            task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
            let original = decoding_body(<[u8]>::to_vec);
            self.0
                .lock()
                .unwrap()
                .push((invocation.body.to_vec(), original));
            std::future::ready(Ok(()))
        }
    }

    fn invocation(body: &'static [u8]) -> LambdaInvocation {
        let mut context = Context::default();
        context.env_config = Arc::new(Config::default());
        LambdaInvocation {
            parts: http::Response::new(()).into_parts().0,
            body: Bytes::from_static(body),
            context,
        }
    }

    #[tokio::test]
    async fn a_body_that_is_not_utf8_never_reaches_lambda_runtime_and_stays_visible_to_the_guard() {
        let recorder = Recorder::default();
        let mut service = InvocationLayer.layer(recorder.clone());
        for body in [
            &b"{\"m\":\"\xc3\xa9\"}"[..],
            b"{\"m\":\"\xff\"}",
            b"\xed\xa0\x80",
        ] {
            service.call(invocation(body)).await.unwrap();
        }
        let seen = recorder.0.lock().unwrap().clone();
        let expected: Vec<Seen> = vec![
            (
                b"{\"m\":\"\xc3\xa9\"}".to_vec(),
                Some(b"{\"m\":\"\xc3\xa9\"}".to_vec()),
            ),
            (Vec::new(), Some(b"{\"m\":\"\xff\"}".to_vec())),
            (Vec::new(), Some(b"\xed\xa0\x80".to_vec())),
        ];
        assert_eq!(seen, expected);
    }
}
