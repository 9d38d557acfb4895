//! Every `TERN_*` environment variable, in one place. The README's configuration reference
//! lists the same names (a test keeps the two in step).

/// `current_thread` or `multi_thread`: the Tokio scheduler (default: `multi_thread` when
/// `AWS_LAMBDA_MAX_CONCURRENCY` > 1, else `current_thread`).
pub const TOKIO_RUNTIME: &str = "TERN_TOKIO_RUNTIME";

/// AWS SDK calls made during an invocation end this long before its deadline, in
/// milliseconds (default 100).
pub const AWS_DEADLINE_MARGIN_MS: &str = "TERN_AWS_DEADLINE_MARGIN_MS";

/// The share of invocations logged at DEBUG, a number from 0 to 1 (default 0; alias
/// `POWERTOOLS_LOGGER_SAMPLE_RATE`).
pub const LOG_SAMPLE_RATE: &str = "TERN_LOG_SAMPLE_RATE";
/// `true` keeps each invocation's lines below the level (down to DEBUG) and writes them only
/// if it fails or logs at ERROR (default `false`).
pub const LOG_BUFFER: &str = "TERN_LOG_BUFFER";
/// The most bytes of lines an invocation's log buffer keeps (default 20480).
pub const LOG_BUFFER_MAX_BYTES: &str = "TERN_LOG_BUFFER_MAX_BYTES";
/// A JSON Pointer (RFC 6901) to the event's correlation id, e.g. `/detail/correlation_id`
/// (default: by the event's type, else the request id).
pub const LOG_CORRELATION_ID_POINTER: &str = "TERN_LOG_CORRELATION_ID_POINTER";
/// The SQS message attribute holding the correlation id (default `correlation_id`).
pub const LOG_CORRELATION_ID_ATTRIBUTE: &str = "TERN_LOG_CORRELATION_ID_ATTRIBUTE";

/// Records (of different groups or keys) processed at once (default 1).
pub const BATCH_CONCURRENCY: &str = "TERN_BATCH_CONCURRENCY";
/// No record starts with less time left than this, in milliseconds (default 1000).
pub const BATCH_SAFETY_MARGIN_MS: &str = "TERN_BATCH_SAFETY_MARGIN_MS";
/// Running records are abandoned (and reported) with less time left than this, in
/// milliseconds (default 100).
pub const BATCH_ABANDON_MARGIN_MS: &str = "TERN_BATCH_ABANDON_MARGIN_MS";
/// `key` or `batch`: what a failed record stops (default `key` for SQS FIFO, `batch` for
/// streams).
pub const BATCH_FAILURE_SCOPE: &str = "TERN_BATCH_FAILURE_SCOPE";
/// `error` or `report`: what a batch in which every record failed answers (default `error`).
pub const BATCH_ALL_FAILED: &str = "TERN_BATCH_ALL_FAILED";

/// The DynamoDB table of idempotency records (required by the DynamoDB store).
pub const IDEMPOTENCY_TABLE: &str = "TERN_IDEMPOTENCY_TABLE";
/// How long a completed record answers duplicates, in seconds (default 3600).
pub const IDEMPOTENCY_EXPIRES_SECONDS: &str = "TERN_IDEMPOTENCY_EXPIRES_SECONDS";
/// Completed records kept in memory (default 0: off).
pub const IDEMPOTENCY_LOCAL_CACHE_SIZE: &str = "TERN_IDEMPOTENCY_LOCAL_CACHE_SIZE";
/// The largest response stored with its record, in bytes (default 400000).
pub const IDEMPOTENCY_MAX_RESPONSE_BYTES: &str = "TERN_IDEMPOTENCY_MAX_RESPONSE_BYTES";
/// Where the idempotency key is in the event: a JSON Pointer (`/body/order_id`) or, with
/// tern-middleware's `jmespath` feature, a JMESPath expression (`body.order_id`), as
/// Powertools' `event_key_jmespath` (default: none, the handler's own selection).
pub const IDEMPOTENCY_EVENT_KEY: &str = "TERN_IDEMPOTENCY_EVENT_KEY";

/// How long a fetched secret is fresh, in seconds (default 300).
pub const SECRETS_TTL_SECONDS: &str = "TERN_SECRETS_TTL_SECONDS";
/// How long past its TTL a secret is served while refreshes fail, in seconds (default 300).
pub const SECRETS_GRACE_SECONDS: &str = "TERN_SECRETS_GRACE_SECONDS";
/// `sdk` or `extension`: where secrets come from (default `sdk`).
pub const SECRETS_BACKEND: &str = "TERN_SECRETS_BACKEND";

/// How long a fetched SSM parameter is fresh, in seconds (default 300; AppConfig
/// configurations follow the AppConfig agent's poll interval).
pub const PARAMETERS_TTL_SECONDS: &str = "TERN_PARAMETERS_TTL_SECONDS";
/// How long past its TTL a parameter is served while refreshes fail, in seconds (default 300).
pub const PARAMETERS_GRACE_SECONDS: &str = "TERN_PARAMETERS_GRACE_SECONDS";
/// `sdk` or `extension`: where SSM parameters come from (default `sdk`).
pub const PARAMETERS_BACKEND: &str = "TERN_PARAMETERS_BACKEND";

/// The CloudWatch namespace of EMF metrics (required by the metrics layer; alias
/// `POWERTOOLS_METRICS_NAMESPACE`).
pub const METRICS_NAMESPACE: &str = "TERN_METRICS_NAMESPACE";
/// The `service` dimension (default the function name; alias `POWERTOOLS_SERVICE_NAME`).
pub const METRICS_SERVICE: &str = "TERN_METRICS_SERVICE";
/// `true` writes no metrics (default `false`; alias `POWERTOOLS_METRICS_DISABLED`).
pub const METRICS_DISABLED: &str = "TERN_METRICS_DISABLED";

/// Every name above.
pub const ALL: &[&str] = &[
    TOKIO_RUNTIME,
    AWS_DEADLINE_MARGIN_MS,
    LOG_SAMPLE_RATE,
    LOG_BUFFER,
    LOG_BUFFER_MAX_BYTES,
    LOG_CORRELATION_ID_POINTER,
    LOG_CORRELATION_ID_ATTRIBUTE,
    BATCH_CONCURRENCY,
    BATCH_SAFETY_MARGIN_MS,
    BATCH_ABANDON_MARGIN_MS,
    BATCH_FAILURE_SCOPE,
    BATCH_ALL_FAILED,
    IDEMPOTENCY_TABLE,
    IDEMPOTENCY_EXPIRES_SECONDS,
    IDEMPOTENCY_LOCAL_CACHE_SIZE,
    IDEMPOTENCY_MAX_RESPONSE_BYTES,
    IDEMPOTENCY_EVENT_KEY,
    SECRETS_TTL_SECONDS,
    SECRETS_GRACE_SECONDS,
    SECRETS_BACKEND,
    PARAMETERS_TTL_SECONDS,
    PARAMETERS_GRACE_SECONDS,
    PARAMETERS_BACKEND,
    METRICS_NAMESPACE,
    METRICS_SERVICE,
    METRICS_DISABLED,
];

#[cfg(test)]
mod tests {
    /// The README's configuration reference names every variable, and no other `TERN_*` one
    /// a function reads.
    #[test]
    fn the_readme_lists_every_name() {
        let readme = include_str!("../../../README.md");
        for name in super::ALL {
            assert!(
                readme.contains(&format!("`{name}`")),
                "README.md does not list `{name}`"
            );
        }
    }
}
