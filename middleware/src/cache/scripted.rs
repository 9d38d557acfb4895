//! A back-end for unit tests that answers from a script and counts its calls. The real
//! back-ends are exercised against moto (`tests/middleware/secrets_moto.rs`,
//! `tests/middleware/parameters_moto.rs`) and against loopback servers speaking the extensions'
//! APIs.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use super::fetch::{FetchError, FetchErrorKind};

/// One scripted answer.
#[derive(Clone)]
pub(crate) enum Step {
    /// Answer this text after `delay`.
    Value(&'static str, Duration),
    /// Fail with this AWS error code.
    Fail(FetchErrorKind, &'static str),
    /// Fail with this AWS error code after `delay`.
    FailAfter(FetchErrorKind, &'static str, Duration),
}

/// Answers fetches in order; the last step repeats.
pub(crate) struct Script {
    steps: Mutex<VecDeque<Step>>,
    calls: AtomicUsize,
}

impl Script {
    pub(crate) fn new(steps: impl IntoIterator<Item = Step>) -> Arc<Self> {
        Arc::new(Self {
            steps: Mutex::new(steps.into_iter().collect()),
            calls: AtomicUsize::new(0),
        })
    }

    /// How many fetches started.
    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The next step's text, after its delay.
    pub(crate) async fn fetch(&self) -> Result<&'static str, FetchError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let step = {
            let mut steps = self.steps.lock().unwrap();
            let step = steps.front().cloned().expect("the script has no steps");
            if steps.len() > 1 {
                steps.pop_front();
            }
            step
        };
        match step {
            Step::Value(text, delay) => {
                tokio::time::sleep(delay).await;
                Ok(text)
            }
            Step::Fail(kind, code) => Err(FetchError::new(kind, code, "scripted failure")),
            Step::FailAfter(kind, code, delay) => {
                tokio::time::sleep(delay).await;
                Err(FetchError::new(kind, code, "scripted failure"))
            }
        }
    }
}
