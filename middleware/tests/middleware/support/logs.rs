//! Capturing log lines for assertions.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use tracing::{Subscriber, subscriber::DefaultGuard};

/// Makes `subscriber` this thread's default until the guard is dropped.
///
/// tracing caches per callsite whether anyone listens, across every subscriber alive. The
/// tests of this binary run in parallel threads, most of them without a subscriber: one of
/// them reaching a callsite for the first time while this subscriber is being registered can
/// leave that callsite cached as off. The cache is rebuilt once the subscriber is in place, so
/// the lines the test asserts are not lost.
pub fn capture(subscriber: impl Subscriber + Send + Sync + 'static) -> DefaultGuard {
    let guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    guard
}

/// Collects formatted log lines for assertions.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    /// Captures every log line of this thread at TRACE until the guard is dropped.
    #[cfg(feature = "secretsmanager")]
    pub fn trace() -> (Self, DefaultGuard) {
        let logs = Self::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(logs.clone())
            .finish();
        (logs, capture(subscriber))
    }

    pub fn contents(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
