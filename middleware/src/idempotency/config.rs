//! Settings of the idempotency engine, from code and from the environment.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tern_runtime::{
    InitError,
    env::{Env, names},
};

use super::expression::KeyExpression;

/// Set by Lambda; the first half of the default key prefix.
const FUNCTION_NAME_ENV: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// The default record lifetime: one hour.
pub const DEFAULT_EXPIRES_AFTER: Duration = Duration::from_secs(3600);
/// The default limit on a stored response: DynamoDB items hold at most 400 KB (409,600 bytes,
/// attribute names included); this leaves 9,600 bytes for the key and the other attributes.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 400_000;
/// The prefix when neither a prefix, a function name nor a handler name is known.
const FALLBACK_PREFIX: &str = "idempotency";

/// What to do with an event whose key selection finds nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// Fail the invocation with [`IdempotencyError::MissingKey`](super::IdempotencyError) and
    /// do not run the handler. The default: a selector that silently finds nothing would turn
    /// idempotency off unnoticed.
    #[default]
    Error,
    /// Run the handler without idempotency and log a warning.
    RunWithoutIdempotency,
}

/// The time source of the engine, in epoch milliseconds. Tests substitute a manual clock to
/// step through expiry without sleeping.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// Settings of the idempotency engine. Every default is safe in production:
///
/// | setting | default | environment |
/// |---|---|---|
/// | [`with_table`](Self::with_table) | none (required for DynamoDB) | `TERN_IDEMPOTENCY_TABLE` |
/// | [`with_prefix`](Self::with_prefix) | `<function name>.<handler name>` | (`AWS_LAMBDA_FUNCTION_NAME` + handler) |
/// | [`with_expires_after`](Self::with_expires_after) | 3600 s | `TERN_IDEMPOTENCY_EXPIRES_SECONDS` |
/// | [`with_local_cache`](Self::with_local_cache) | 0 (off) | `TERN_IDEMPOTENCY_LOCAL_CACHE_SIZE` |
/// | [`with_max_response_bytes`](Self::with_max_response_bytes) | 400,000 | `TERN_IDEMPOTENCY_MAX_RESPONSE_BYTES` |
/// | [`with_event_key`](Self::with_event_key) | none | `TERN_IDEMPOTENCY_EVENT_KEY` |
/// | [`with_missing_key`](Self::with_missing_key) | [`MissingKey::Error`] | — |
/// | [`with_clock`](Self::with_clock) | [`SystemClock`] | — |
///
/// Set the prefix explicitly when the function or handler may be renamed: it is part of every
/// key, so a new prefix forgets all existing records.
#[derive(Debug, Clone)]
pub struct IdempotencyConfig {
    table: Option<String>,
    function_name: Option<String>,
    handler_name: Option<String>,
    prefix: Option<String>,
    expires_after: Duration,
    missing_key: MissingKey,
    local_cache: usize,
    max_response_bytes: usize,
    event_key: Option<KeyExpression>,
    clock: Arc<dyn Clock>,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            table: None,
            function_name: None,
            handler_name: None,
            prefix: None,
            expires_after: DEFAULT_EXPIRES_AFTER,
            missing_key: MissingKey::Error,
            local_cache: 0,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            event_key: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl IdempotencyConfig {
    /// The defaults, ignoring the environment.
    pub fn new() -> Self {
        Self::default()
    }

    tern_runtime::env_constructors! {
        /// The defaults overridden by the process environment (see the table above). A variable
        /// that is set but unusable is a `Runtime.InvalidEnvironmentVariable` error naming it.
    }

    fn from(env: &Env) -> Result<Self, InitError> {
        let mut config = Self {
            table: table_name(env)?,
            function_name: env.get(FUNCTION_NAME_ENV),
            ..Self::default()
        };
        if let Some(expires_after) = env.seconds(names::IDEMPOTENCY_EXPIRES_SECONDS, 1)? {
            config.expires_after = expires_after;
        }
        if let Some(capacity) = env.integer(names::IDEMPOTENCY_LOCAL_CACHE_SIZE, 0..=1_000_000)? {
            config.local_cache = capacity;
        }
        if let Some(bytes) = env.integer(names::IDEMPOTENCY_MAX_RESPONSE_BYTES, 0..=usize::MAX)? {
            config.max_response_bytes = bytes;
        }
        if let Some(text) = env.get(names::IDEMPOTENCY_EVENT_KEY) {
            let expression = KeyExpression::parse(&text).map_err(|error| {
                tern_runtime::env::invalid(
                    names::IDEMPOTENCY_EVENT_KEY,
                    &text,
                    &format!("is not a valid {}: {}", error.syntax, error.problem),
                    error.hint(),
                )
            })?;
            config.event_key = Some(expression);
        }
        Ok(config)
    }

    crate::setters! {
        /// The DynamoDB table.
        with_table(table: impl Into<String>) => table = Some(table.into());

        /// A fixed key prefix, replacing `<function name>.<handler name>`.
        with_prefix(prefix: impl Into<String>) => prefix = Some(prefix.into());

        /// The handler name used in the default prefix (set by
        /// [`IdempotencyLayer::from_init`](super::IdempotencyLayer::from_init) from the runtime).
        with_handler_name(handler: impl Into<String>) => handler_name = Some(handler.into());

        /// The function name used in the default prefix (normally `AWS_LAMBDA_FUNCTION_NAME`).
        with_function_name(function: impl Into<String>) => function_name = Some(function.into());

        /// How long a completed record answers duplicates (whole seconds count; default 1 hour).
        with_expires_after(expires_after: Duration) => expires_after = expires_after;

        /// What to do when an event has no key (default [`MissingKey::Error`]).
        with_missing_key(missing_key: MissingKey) => missing_key = missing_key;

        /// Keeps up to `capacity` completed records in a local LRU cache (0, the default, turns
        /// it off). A hit answers a duplicate with no store call; expiry is still respected, and
        /// in-progress records are never cached. Each execution environment has its own cache.
        with_local_cache(capacity: usize) => local_cache = capacity;

        /// The largest response, serialized, that is stored with its record (default
        /// [`DEFAULT_MAX_RESPONSE_BYTES`], what fits in a DynamoDB item). A larger one completes
        /// its record without it, keeping its size and SHA-256: a duplicate is still recognised and
        /// the handler does not run again, but the duplicate fails with
        /// [`ResponseNotStored`](super::IdempotencyError::ResponseNotStored) instead of getting the
        /// response.
        with_max_response_bytes(bytes: usize) => max_response_bytes = bytes;

        /// Where the key is in events, for a layer that selects it by expression rather than by
        /// a closure: see [`event_key`](Self::event_key).
        with_event_key(expression: KeyExpression) => event_key = Some(expression);

        /// The time source (default [`SystemClock`]).
        with_clock(clock: impl Clock) => clock = Arc::new(clock);
    }

    /// The configured table, if any.
    pub fn table(&self) -> Option<&str> {
        self.table.as_deref()
    }

    /// The handler name used in the default prefix, if set.
    pub fn handler_name(&self) -> Option<&str> {
        self.handler_name.as_deref()
    }

    /// The key prefix: the explicit one, else `<function>.<handler>` (or whichever of the two
    /// is known), else `idempotency`.
    pub fn prefix(&self) -> String {
        if let Some(prefix) = &self.prefix {
            return prefix.clone();
        }
        match (&self.function_name, &self.handler_name) {
            (Some(function), Some(handler)) => format!("{function}.{handler}"),
            (Some(one), None) | (None, Some(one)) => one.clone(),
            (None, None) => FALLBACK_PREFIX.to_owned(),
        }
    }

    /// The record lifetime.
    pub fn expires_after(&self) -> Duration {
        self.expires_after
    }

    /// The missing-key behaviour.
    pub fn missing_key(&self) -> MissingKey {
        self.missing_key
    }

    /// The local cache capacity (0 = off).
    pub fn local_cache(&self) -> usize {
        self.local_cache
    }

    /// The largest stored response, in bytes.
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// Where the key is in events (`TERN_IDEMPOTENCY_EVENT_KEY`), if configured. The layer
    /// does not apply it by itself: a handler opts in, keeping its own selection as the
    /// default.
    ///
    /// ```
    /// # use tern_middleware::idempotency::{IdempotencyConfig, KeySelector};
    /// # #[derive(serde::Serialize)] struct Order { id: String }
    /// let config = IdempotencyConfig::from_vars([("TERN_IDEMPOTENCY_EVENT_KEY", "/id")])?;
    /// let key = match config.event_key() {
    ///     Some(expression) => KeySelector::expression(expression.clone()),
    ///     None => KeySelector::from_fn(|o: &Order| Some(o.id.clone())),
    /// };
    /// assert_eq!(key.description(), "JSON Pointer `/id`");
    /// # Ok::<_, tern_runtime::InitError>(())
    /// ```
    pub fn event_key(&self) -> Option<&KeyExpression> {
        self.event_key.as_ref()
    }

    /// The time source.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}

/// `TERN_IDEMPOTENCY_TABLE`, if set: a table name DynamoDB accepts, or a table ARN.
fn table_name(env: &Env) -> Result<Option<String>, InitError> {
    let Some(table) = env.get(names::IDEMPOTENCY_TABLE) else {
        return Ok(None);
    };
    let is_name = (3..=255).contains(&table.len())
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    let is_arn = table.starts_with("arn:") && table.contains(":table/") && table.len() <= 1024;
    if is_name || is_arn {
        Ok(Some(table))
    } else {
        Err(tern_runtime::env::invalid(
            names::IDEMPOTENCY_TABLE,
            &table,
            "is not a DynamoDB table name",
            "use 3 to 255 letters, digits, `_`, `-` or `.`, or the table's ARN",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_defaults() {
        let defaults = IdempotencyConfig::from_vars([("UNRELATED", "x")]).unwrap();
        assert_eq!(defaults.table(), None);
        assert_eq!(defaults.expires_after(), Duration::from_secs(3600));
        assert_eq!(defaults.local_cache(), 0);
        assert_eq!(defaults.missing_key(), MissingKey::Error);
        assert_eq!(defaults.prefix(), "idempotency");

        let config = IdempotencyConfig::from_vars([
            (names::IDEMPOTENCY_TABLE, "idem"),
            (names::IDEMPOTENCY_EXPIRES_SECONDS, " 120 "),
            (names::IDEMPOTENCY_LOCAL_CACHE_SIZE, "64"),
            (names::IDEMPOTENCY_MAX_RESPONSE_BYTES, "1024"),
            (FUNCTION_NAME_ENV, "orders"),
        ])
        .unwrap();
        assert_eq!(config.table(), Some("idem"));
        assert_eq!(config.expires_after(), Duration::from_secs(120));
        assert_eq!(config.local_cache(), 64);
        assert_eq!(config.max_response_bytes(), 1024);
        assert_eq!(defaults.max_response_bytes(), 400_000);
        assert_eq!(config.prefix(), "orders");
        assert_eq!(
            config.clone().with_handler_name("pay").prefix(),
            "orders.pay"
        );
        assert_eq!(
            config
                .with_handler_name("pay")
                .with_prefix("stable")
                .prefix(),
            "stable"
        );
        assert_eq!(
            IdempotencyConfig::new().with_handler_name("pay").prefix(),
            "pay"
        );
    }

    #[test]
    fn invalid_values_are_init_errors_naming_the_variable() {
        let cases = [
            (
                names::IDEMPOTENCY_EXPIRES_SECONDS,
                "0",
                "`0` is out of range; use a whole number of seconds from 1 to 18446744073709551615",
            ),
            (
                names::IDEMPOTENCY_EXPIRES_SECONDS,
                "1h",
                "`1h` is not a whole number of seconds; use a whole number of seconds from 1 to \
                 18446744073709551615",
            ),
            (
                names::IDEMPOTENCY_LOCAL_CACHE_SIZE,
                "-1",
                "`-1` is out of range; use a whole number from 0 to 1000000",
            ),
            (
                names::IDEMPOTENCY_MAX_RESPONSE_BYTES,
                "400KB",
                "`400KB` is not a whole number; use a whole number from 0 to 18446744073709551615",
            ),
        ];
        for (name, value, reason) in cases {
            let error = IdempotencyConfig::from_vars([(name, value)]).unwrap_err();
            assert_eq!(error.error_type(), "Runtime.InvalidEnvironmentVariable");
            assert_eq!(
                error.to_string(),
                format!("environment variable `{name}` is invalid: {reason}")
            );
        }
    }

    /// `TERN_IDEMPOTENCY_EVENT_KEY`: a pointer, or a JMESPath expression with the feature;
    /// anything invalid is `Runtime.InvalidEnvironmentVariable` naming the variable.
    #[test]
    fn event_key_from_the_environment() {
        let event_key = |value: &str| {
            IdempotencyConfig::from_vars([(names::IDEMPOTENCY_EVENT_KEY, value)])
                .map(|config| config.event_key().map(KeyExpression::description))
        };
        assert_eq!(IdempotencyConfig::new().event_key(), None);
        assert_eq!(
            event_key(" /body/order~1id ").unwrap().as_deref(),
            Some("JSON Pointer `/body/order~1id`")
        );
        let pointer_hint = "write a JSON Pointer such as `/body/order_id` (`~0` for `~`, `~1` \
                            for `/`)";
        let jmespath_hint =
            "write a JMESPath expression such as `body.order_id` (see jmespath.org)";
        let mut invalid = vec![(
            "/a~2b",
            format!(
                "`/a~2b` is not a valid JSON Pointer: the `~` at byte 2 is not followed by `0` \
                 or `1`; {pointer_hint}"
            ),
        )];
        if cfg!(feature = "jmespath") {
            assert_eq!(
                event_key("Records[0].messageId").unwrap().as_deref(),
                Some("JMESPath `Records[0].messageId`")
            );
            invalid.push((
                "body..id",
                format!(
                    "`body..id` is not a valid JMESPath expression: Expected identifier, '*', \
                     '{{', '[', '&', or '[?' (at character 5); {jmespath_hint}"
                ),
            ));
            invalid.push((
                "md5(body)",
                format!(
                    "`md5(body)` is not a valid JMESPath expression: there is no function `md5`; \
                     {jmespath_hint}"
                ),
            ));
        } else {
            invalid.push((
                "body.id",
                format!(
                    "`body.id` is not a valid JSON Pointer: it does not start with `/` (JMESPath \
                     expressions need the `jmespath` feature of tern-middleware); {pointer_hint}"
                ),
            ));
        }
        for (value, reason) in invalid {
            let error = event_key(value).unwrap_err();
            assert_eq!(error.error_type(), "Runtime.InvalidEnvironmentVariable");
            assert_eq!(
                error.to_string(),
                format!("environment variable `TERN_IDEMPOTENCY_EVENT_KEY` is invalid: {reason}")
            );
        }
    }

    #[test]
    fn table_names_and_arns_are_accepted_and_anything_else_named() {
        for table in [
            "orders-idempotency",
            "a.b_c",
            "arn:aws:dynamodb:eu-west-1:123456789012:table/orders-idempotency",
        ] {
            let config = IdempotencyConfig::from_vars([(names::IDEMPOTENCY_TABLE, table)]);
            assert_eq!(config.unwrap().table(), Some(table));
        }
        for table in ["orders table", "ab", "orders/idempotency"] {
            let error = IdempotencyConfig::from_vars([(names::IDEMPOTENCY_TABLE, table)]);
            assert_eq!(
                error.unwrap_err().to_string(),
                format!(
                    "environment variable `TERN_IDEMPOTENCY_TABLE` is invalid: `{table}` is not \
                     a DynamoDB table name; use 3 to 255 letters, digits, `_`, `-` or `.`, or the \
                     table's ARN"
                )
            );
        }
    }

    #[test]
    fn system_clock_is_epoch_milliseconds() {
        let now = SystemClock.now_ms();
        // 2023-11-14 .. 2100-01-01
        assert!(
            (1_700_000_000_000..4_102_444_800_000).contains(&now),
            "{now}"
        );
    }
}
