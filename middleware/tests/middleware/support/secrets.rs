//! Helpers of the secrets and parameters tests: an SDK configuration for moto, a counter of
//! `GetSecretValue` calls, a handler reading a secret and an outage drill.

use std::time::{Duration, Instant};

use aws_config::{SdkConfig, retry::RetryConfig};
use aws_sdk_secretsmanager::{Client, config::Credentials};
use tern_middleware::secrets::{Secrets, SecretsConfig};
use tern_runtime::{Context, Diagnostic, LambdaEvent, service_fn};
use tern_testkit::{Moto, OperationLog};
use tower::Service;

pub async fn sdk_config(moto: &Moto) -> SdkConfig {
    tern_runtime::aws::config_loader()
        .endpoint_url(moto.endpoint())
        .region("us-east-1")
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        // One attempt: an outage shows up at once instead of after the SDK's backoff.
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

/// Counts `GetSecretValue` requests on the wire (every attempt, retries included).
#[derive(Debug, Clone, Default)]
pub struct CountGets(OperationLog);

impl CountGets {
    pub fn count(&self) -> usize {
        self.0.count("GetSecretValue")
    }
}

pub fn counting_client(sdk: &SdkConfig) -> (Client, CountGets) {
    let gets = CountGets::default();
    let config = aws_sdk_secretsmanager::config::Builder::from(sdk)
        .interceptor(gets.0.clone())
        .build();
    (Client::from_conf(config), gets)
}

/// Creates (or rotates) a secret with the SDK, as an operator would.
pub async fn put_secret(admin: &Client, id: &str, value: &str, create: bool) {
    if create {
        admin
            .create_secret()
            .name(id)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    } else {
        admin
            .put_secret_value()
            .secret_id(id)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }
}

/// A handler that answers with the `password` field of the `db` secret.
pub fn password_handler(
    secrets: &Secrets,
) -> impl Service<LambdaEvent<()>, Response = String, Error = Diagnostic, Future: Send> + Clone + use<>
{
    let secrets = secrets.clone();
    service_fn(move |_event: LambdaEvent<()>| {
        let secrets = secrets.clone();
        async move {
            let db = secrets.get("db")?;
            tracing::info!(secret = ?db, "handler read the secret");
            Ok::<_, Diagnostic>(db.json_field("password")?.to_owned())
        }
    })
}

pub async fn invoke<S>(service: &mut S) -> Result<String, Diagnostic>
where
    S: Service<LambdaEvent<()>, Response = String, Error = Diagnostic>,
{
    std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
    service.call(LambdaEvent::new((), Context::default())).await
}

/// Through an outage that began before `asked_at + ttl` (the fetch time of the cached value):
/// the value is served once expired and until its grace period is almost over, then the
/// invocation fails as `error_type` with a plain message that starts with `stale` and names
/// the failed refresh's `failure`.
pub async fn bridged_then_stale<S>(
    service: &mut S,
    (asked_at, ttl, grace): (Instant, Duration, Duration),
    value: &str,
    error_type: &str,
    stale: &str,
    failure: &str,
) where
    S: Service<LambdaEvent<()>, Response = String, Error = Diagnostic>,
{
    // Expired: this invocation starts a refresh, which fails; the cached value is served.
    sleep_until(asked_at + ttl + Duration::from_millis(100)).await;
    assert_eq!(invoke(service).await.unwrap(), value);
    sleep_until(asked_at + ttl + grace - Duration::from_millis(300)).await;
    assert_eq!(invoke(service).await.unwrap(), value, "within grace");

    sleep_until(asked_at + ttl + grace + Duration::from_millis(300)).await;
    let diagnostic = invoke(service).await.unwrap_err();
    assert_eq!(diagnostic.error_type, error_type);
    let message = &diagnostic.error_message;
    assert!(message.starts_with(stale), "{message}");
    assert!(
        message.contains(&format!("the last refresh failed ({failure}); ")),
        "{message}"
    );
    tern_testkit::faults::assert_plain_message(message);
}

/// An outage that begins with every value just fetched afresh at `refreshed_at`: `moto`
/// stops; once the values expired the cached `value` is still served, and after twice `ttl`
/// (past a grace period as long) the invocation fails as `error_type`. Returns that error.
pub async fn stale_after_outage<S>(
    service: &mut S,
    moto: &mut Moto,
    (refreshed_at, ttl): (Instant, Duration),
    value: &str,
    error_type: &str,
) -> Diagnostic
where
    S: Service<LambdaEvent<()>, Response = String, Error = Diagnostic>,
{
    moto.stop();
    sleep_until(refreshed_at + ttl + Duration::from_millis(100)).await;
    assert_eq!(invoke(service).await.unwrap(), value);
    sleep_until(refreshed_at + ttl * 2 + Duration::from_millis(300)).await;
    let stale = invoke(service).await.unwrap_err();
    assert_eq!(stale.error_type, error_type);
    stale
}

/// The captured `logs` hold each of `expected`, and neither they nor any of `outputs` (errors,
/// debug output) hold any of `values`.
pub fn assert_logged_without(logs: &str, expected: &[&str], outputs: &[String], values: &[&str]) {
    for expected in expected {
        assert!(
            logs.contains(expected),
            "the logs lack `{expected}`:\n{logs}"
        );
    }
    for value in values {
        assert!(
            !logs.contains(value),
            "`{value}` leaked into the logs:\n{logs}"
        );
        for output in outputs {
            assert!(!output.contains(value), "`{value}` leaked: {output}");
        }
    }
}

pub async fn sleep_until(instant: Instant) {
    tokio::time::sleep(instant.saturating_duration_since(Instant::now())).await;
}

pub fn db_config(env: &[(&str, &str)], ttl: Duration) -> SecretsConfig {
    SecretsConfig::from_vars(env.iter().copied())
        .unwrap()
        .with_secret("db", "DB_SECRET_ARN")
        .with_ttl(ttl)
}
