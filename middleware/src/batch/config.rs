//! How a batch is processed: concurrency, deadline margins, failure scope, all-failed policy.

use std::{num::NonZeroUsize, time::Duration};

use tern_runtime::{
    InitError,
    env::{Env, names},
};

/// The most records a batch runs at once (an SQS batch holds at most 10,000).
const MAX_CONCURRENCY: usize = 10_000;
/// The longest margin accepted: Lambda's longest timeout, 15 minutes.
const MAX_MARGIN_MS: u64 = 900_000;

const DEFAULT_SAFETY_MARGIN: Duration = Duration::from_secs(1);
const DEFAULT_ABANDON_MARGIN: Duration = Duration::from_millis(100);

/// What a failed record of an ordered source (SQS FIFO, Kinesis, DynamoDB streams, Kafka) stops.
///
/// Records of a standard SQS queue have no order: a failure there never stops another record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureScope {
    /// The rest of the record's ordering key — its SQS message group, Kinesis partition key,
    /// DynamoDB item or Kafka topic-partition — is reported failed without running; other keys
    /// go on. The default for
    /// SQS FIFO, where Lambda redelivers exactly the reported messages.
    /// `TERN_BATCH_FAILURE_SCOPE=key`.
    OrderingKey,
    /// Every record not yet started is reported failed without running (a record has started
    /// once its handler future has been polled); records already running finish. The default
    /// for Kinesis and DynamoDB streams and for Kafka: Lambda resumes the shard (partition)
    /// from the lowest reported sequence number (offset), so records processed after a failure
    /// would be delivered (and processed) again anyway. `TERN_BATCH_FAILURE_SCOPE=batch`.
    Batch,
}

/// What the batch returns when no record succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AllFailedPolicy {
    /// Fail the invocation with `Batch.AllRecordsFailed`: Lambda retries the whole batch, and
    /// the function's `Errors` metric, retry and bisect settings see a failure. The default;
    /// `TERN_BATCH_ALL_FAILED=error`.
    #[default]
    Error,
    /// Return every record's identifier as a batch item failure.
    /// `TERN_BATCH_ALL_FAILED=report`.
    ReportEveryRecord,
}

/// Settings of the batch middleware.
///
/// | setting | builder | environment | default |
/// |---|---|---|---|
/// | records running at once | [`with_concurrency`](Self::with_concurrency) | `TERN_BATCH_CONCURRENCY` | 1 (sequential) |
/// | no start below this remaining time | [`with_safety_margin`](Self::with_safety_margin) | `TERN_BATCH_SAFETY_MARGIN_MS` | 1000 ms |
/// | abandon running records below this remaining time | [`with_abandon_margin`](Self::with_abandon_margin) | `TERN_BATCH_ABANDON_MARGIN_MS` | 100 ms (at most the safety margin) |
/// | what a failure stops | [`with_failure_scope`](Self::with_failure_scope) | `TERN_BATCH_FAILURE_SCOPE` (`key` \| `batch`) | `key` for SQS FIFO, `batch` for streams and Kafka |
/// | no record succeeded | [`with_all_failed`](Self::with_all_failed) | `TERN_BATCH_ALL_FAILED` (`error` \| `report`) | `error` |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchConfig {
    concurrency: NonZeroUsize,
    safety_margin: Duration,
    abandon_margin: Duration,
    failure_scope: Option<FailureScope>,
    all_failed: AllFailedPolicy,
    metrics: bool,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchConfig {
    /// Every setting at its default; the environment is not read.
    pub fn new() -> Self {
        Self {
            concurrency: NonZeroUsize::MIN,
            safety_margin: DEFAULT_SAFETY_MARGIN,
            abandon_margin: DEFAULT_ABANDON_MARGIN,
            failure_scope: None,
            all_failed: AllFailedPolicy::Error,
            metrics: true,
        }
    }

    tern_runtime::env_constructors! {
        /// The defaults, overridden by the environment variables in the table above. A variable
        /// that is set but unusable is a `Runtime.InvalidEnvironmentVariable` error naming it.
    }

    fn from(env: &Env) -> Result<Self, InitError> {
        let mut config = Self::new();
        if let Some(records) = env.integer(names::BATCH_CONCURRENCY, 1..=MAX_CONCURRENCY)? {
            config = config.with_concurrency(records);
        }
        let margin = |name| env.millis(name, 0..=MAX_MARGIN_MS);
        if let Some(margin) = margin(names::BATCH_SAFETY_MARGIN_MS)? {
            config.safety_margin = margin;
        }
        if let Some(margin) = margin(names::BATCH_ABANDON_MARGIN_MS)? {
            config.abandon_margin = margin;
        }
        config.failure_scope = env.choice(
            names::BATCH_FAILURE_SCOPE,
            &[
                ("key", FailureScope::OrderingKey),
                ("batch", FailureScope::Batch),
            ],
        )?;
        if let Some(policy) = env.choice(
            names::BATCH_ALL_FAILED,
            &[
                ("error", AllFailedPolicy::Error),
                ("report", AllFailedPolicy::ReportEveryRecord),
            ],
        )? {
            config.all_failed = policy;
        }
        Ok(config)
    }

    crate::setters! {
        /// How many records run at once. Records of one message group / ordering key always run
        /// one after another, in arrival order; 1 processes the whole batch sequentially.
        ///
        /// # Panics
        /// If `records` is 0.
        with_concurrency(records: usize) => concurrency =
            NonZeroUsize::new(records).expect("batch concurrency must be at least 1 record");

        /// No record starts when the invocation has less time left than `margin`; it and every
        /// record not yet started are reported failed, so the response goes out before the timeout.
        with_safety_margin(margin: Duration) => safety_margin = margin;

        /// Records still running when the invocation has less time left than `margin` are
        /// abandoned (their futures dropped) and reported failed; the time left is what sending the
        /// response needs. Capped at the safety margin.
        with_abandon_margin(margin: Duration) => abandon_margin = margin;

        /// What a failed record of an ordered source stops; overrides the source's default.
        with_failure_scope(scope: FailureScope) => failure_scope = Some(scope);

        /// What the batch returns when no record succeeded.
        with_all_failed(policy: AllFailedPolicy) => all_failed = policy;
    }

    /// Records running at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency.get()
    }

    /// Remaining time below which no record starts.
    pub fn safety_margin(&self) -> Duration {
        self.safety_margin
    }

    /// Remaining time below which running records are abandoned (never above the safety
    /// margin).
    pub fn abandon_margin(&self) -> Duration {
        self.abandon_margin.min(self.safety_margin)
    }

    /// The configured failure scope; `None` means the source's default.
    pub fn failure_scope(&self) -> Option<FailureScope> {
        self.failure_scope
    }

    /// What the batch returns when no record succeeded.
    pub fn all_failed(&self) -> AllFailedPolicy {
        self.all_failed
    }

    /// Whether the batch adds `RecordsProcessed` / `RecordsFailed` to the invocation's metrics
    /// (default on). Turn it off when work continues after the batch layer returns (e.g.
    /// batched writes) and the handler reports the final counts itself.
    pub fn with_metrics(mut self, enabled: bool) -> Self {
        self.metrics = enabled;
        self
    }

    /// See [`with_metrics`](Self::with_metrics).
    pub fn metrics(&self) -> bool {
        self.metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let config = BatchConfig::from_vars(Vec::<(String, String)>::new()).unwrap();
        assert_eq!(config, BatchConfig::new());
        assert_eq!(config.concurrency(), 1);
        assert_eq!(config.safety_margin(), Duration::from_secs(1));
        assert_eq!(config.abandon_margin(), Duration::from_millis(100));
        assert_eq!(config.failure_scope(), None);
        assert_eq!(config.all_failed(), AllFailedPolicy::Error);
    }

    #[test]
    fn environment_overrides() {
        let config = BatchConfig::from_vars([
            (names::BATCH_CONCURRENCY, "8"),
            (names::BATCH_SAFETY_MARGIN_MS, " 2500 "),
            (names::BATCH_ABANDON_MARGIN_MS, "40"),
            (names::BATCH_FAILURE_SCOPE, "Batch"),
            (names::BATCH_ALL_FAILED, "report"),
        ])
        .unwrap();
        let expected = BatchConfig::new()
            .with_concurrency(8)
            .with_safety_margin(Duration::from_millis(2500))
            .with_abandon_margin(Duration::from_millis(40))
            .with_failure_scope(FailureScope::Batch)
            .with_all_failed(AllFailedPolicy::ReportEveryRecord);
        assert_eq!(config, expected);
    }

    #[test]
    fn blank_variables_keep_defaults() {
        let config = BatchConfig::from_vars([
            (names::BATCH_CONCURRENCY, " "),
            (names::BATCH_FAILURE_SCOPE, ""),
        ]);
        assert_eq!(config.unwrap(), BatchConfig::new());
    }

    #[test]
    fn invalid_variables_name_the_variable_and_what_is_accepted() {
        let cases = [
            (
                names::BATCH_CONCURRENCY,
                "0",
                "environment variable `TERN_BATCH_CONCURRENCY` is invalid: `0` is out of range; \
                 use a whole number from 1 to 10000",
            ),
            (
                names::BATCH_SAFETY_MARGIN_MS,
                "1s",
                "environment variable `TERN_BATCH_SAFETY_MARGIN_MS` is invalid: `1s` is not a \
                 whole number of milliseconds; use a whole number of milliseconds from 0 to 900000",
            ),
            (
                names::BATCH_ABANDON_MARGIN_MS,
                "-5",
                "environment variable `TERN_BATCH_ABANDON_MARGIN_MS` is invalid: `-5` is out of \
                 range; use a whole number of milliseconds from 0 to 900000",
            ),
            (
                names::BATCH_FAILURE_SCOPE,
                "group",
                "environment variable `TERN_BATCH_FAILURE_SCOPE` is invalid: `group` is not one \
                 of the choices; use `key` or `batch`",
            ),
            (
                names::BATCH_ALL_FAILED,
                "ignore",
                "environment variable `TERN_BATCH_ALL_FAILED` is invalid: `ignore` is not one of \
                 the choices; use `error` or `report`",
            ),
        ];
        for (name, value, message) in cases {
            let error = BatchConfig::from_vars([(name, value)]).unwrap_err();
            assert_eq!(error.to_string(), message);
            assert_eq!(error.error_type(), "Runtime.InvalidEnvironmentVariable");
        }
    }

    #[test]
    fn abandon_margin_never_exceeds_the_safety_margin() {
        let config = BatchConfig::new()
            .with_safety_margin(Duration::from_millis(50))
            .with_abandon_margin(Duration::from_millis(500));
        assert_eq!(config.abandon_margin(), Duration::from_millis(50));
    }

    #[test]
    #[should_panic(expected = "batch concurrency must be at least 1 record")]
    fn zero_concurrency_is_rejected() {
        let _ = BatchConfig::new().with_concurrency(0);
    }
}
