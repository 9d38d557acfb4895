//! What the harness needs from moto: the benchmark's secret, a Secrets Manager round trip,
//! and the DynamoDB calls idempotency makes, counted on the wire.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use aws_smithy_http_client::tls;
use tern_middleware::{
    idempotency::{Idempotency, IdempotencyConfig, store::DynamoDbStore},
    secrets::{SecretsConfig, SecretsLayer},
};
use tern_testkit::{Moto, Scenario};

use crate::{stack, stats::Samples};

/// The name of the benchmark's secret in moto.
pub const SECRET_ID: &str = "bench/api-key";
/// The benchmark's three SSM parameters in moto (the third a SecureString), with their values.
pub const PARAMETERS: [(&str, &str); 3] = [
    ("/bench/limits", r#"{"max_items": 100}"#),
    ("/bench/currency", "EUR"),
    ("/bench/partner-key", "pk-0123456789abcdef"),
];
const TABLE: &str = "bench-idempotency";

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
        .block_on(future)
}

/// Creates the benchmark's secret in `moto` (if needed); returns its ARN.
pub fn create_secret(moto: &Moto) -> String {
    block_on(async {
        let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
        if let Ok(found) = client.describe_secret().secret_id(SECRET_ID).send().await {
            return found.arn().unwrap_or(SECRET_ID).to_owned();
        }
        let created = client
            .create_secret()
            .name(SECRET_ID)
            .secret_string(r#"{"key":"0123456789abcdef"}"#)
            .send()
            .await
            .expect("create the benchmark secret in moto");
        created.arn().unwrap_or(SECRET_ID).to_owned()
    })
}

/// Creates the benchmark's parameters in `moto` (overwriting them); returns the environment
/// that names them to a function.
pub fn create_parameters(moto: &Moto) -> Vec<(String, String)> {
    block_on(async {
        let sdk = moto.sdk_config().await;
        for (index, (name, value)) in PARAMETERS.into_iter().enumerate() {
            tern_testkit::put_parameter(&sdk, name, value, index == 2).await;
        }
    });
    stack::PARAMETER_ENVS
        .iter()
        .zip(PARAMETERS)
        .map(|(env, (name, _))| ((*env).to_owned(), name.to_owned()))
        .collect()
}

/// The secret fetched into a [`SecretsLayer`], as a function's init does it.
pub fn fetch_secret(moto: &Moto) -> SecretsLayer {
    let arn = create_secret(moto);
    block_on(async {
        let config = SecretsConfig::from_vars([(stack::SECRET_ENV, arn.as_str())])
            .expect("secrets config")
            .with_secret(stack::SECRET_NAME, stack::SECRET_ENV);
        SecretsLayer::fetch(config, &moto.sdk_config().await)
            .await
            .expect("fetch the benchmark secret from moto")
    })
}

/// Milliseconds per `GetSecretValue` to moto, two ways.
#[derive(Debug, Default)]
pub struct SecretRoundTrips {
    /// Each request on a new TCP connection, as a function's first request at init is (the
    /// HTTP client is built and warmed first: connector set-up is not a round trip).
    pub new_connection: Samples,
    /// Each request on the pooled connection the previous one left open.
    pub pooled: Samples,
}

/// Times `samples` `GetSecretValue` calls each way, alternating, every one through a new SDK
/// client on an already loaded configuration.
pub fn secret_round_trips(moto: &Moto, samples: usize) -> SecretRoundTrips {
    create_secret(moto);
    block_on(async {
        let pooled = moto.sdk_config().await;
        // No idle connection is kept, so every request connects anew. (The SDK's own builder,
        // not `tern_runtime::aws`'s wrapper: each `Client::new` below also builds and drops a
        // connector, outside the timed part.)
        let unpooled = pooled
            .to_builder()
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .pool_max_idle_per_host(0)
                    .tls_provider(tls::Provider::Rustls(
                        tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .build();
        let time = |config: &aws_config::SdkConfig| {
            let client = aws_sdk_secretsmanager::Client::new(config);
            async move {
                let start = Instant::now();
                client
                    .get_secret_value()
                    .secret_id(SECRET_ID)
                    .send()
                    .await
                    .expect("GetSecretValue");
                start.elapsed().as_secs_f64() * 1e3
            }
        };
        // Warm-up: each HTTP client builds its connector at its first request.
        time(&unpooled).await;
        time(&pooled).await;
        let mut out = SecretRoundTrips::default();
        for _ in 0..samples {
            out.new_connection.push(time(&unpooled).await);
            out.pooled.push(time(&pooled).await);
        }
        out
    })
}

/// Records the operation of every request a DynamoDB client puts on the wire (retries included).
use tern_testkit::OperationLog as WireCalls;

/// DynamoDB requests per idempotent invocation, by case, with the operations made.
#[derive(Debug, Clone)]
pub struct IdempotencyCalls {
    /// `(case, operations)`, in the order run.
    pub cases: Vec<(&'static str, Vec<String>)>,
}

/// Runs the idempotency engine on a real (moto) DynamoDB table and counts its requests: a new
/// key, the same key again with the local cache, the same key from another environment (no
/// cache entry: a duplicate), and a failing handler.
pub fn idempotency_calls(scenario: &Scenario) -> IdempotencyCalls {
    scenario.create_table(TABLE, "id");
    scenario.block_on(async {
        let sdk = scenario.moto.sdk_config().await;
        let calls = WireCalls::default();
        let client = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .interceptor(calls.clone())
                .build(),
        );
        let engine = |cache: usize| {
            let config = IdempotencyConfig::new()
                .with_prefix("bench.calls")
                .with_local_cache(cache);
            Idempotency::new(Arc::new(DynamoDbStore::new(client.clone(), TABLE)), config)
        };
        let with_cache = engine(64);
        let other_environment = engine(0);
        let key = format!("order-{}", std::process::id());
        let remaining = Duration::from_secs(30);
        let ok = || async { Ok::<_, String>(42u32) };
        let mut cases = Vec::new();

        with_cache
            .run(Some(&key), remaining, ok)
            .await
            .expect("new key");
        cases.push(("new key", calls.take()));
        with_cache
            .run(Some(&key), remaining, ok)
            .await
            .expect("cache hit");
        cases.push(("duplicate, local-cache hit", calls.take()));
        other_environment
            .run(Some(&key), remaining, ok)
            .await
            .expect("duplicate");
        cases.push(("duplicate, not in the local cache", calls.take()));
        let failing_key = format!("{key}-fails");
        let _ = with_cache
            .run(Some(&failing_key), remaining, || async {
                Err::<u32, _>("handler failed".to_owned())
            })
            .await;
        cases.push(("new key, handler fails", calls.take()));
        IdempotencyCalls { cases }
    })
}
