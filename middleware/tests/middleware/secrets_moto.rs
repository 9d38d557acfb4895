//! The secrets middleware against a real Secrets Manager API: `moto_server` on loopback.
//!
//! Every test starts its own moto (one test stops it), builds its SDK configuration explicitly
//! (no process environment is touched: tests run in parallel threads) and drives the layer
//! through tower, as the runtime does.

use std::time::{Duration, Instant};

use crate::support::logs::LogBuffer;
use crate::support::secrets::{
    assert_logged_without, bridged_then_stale, counting_client, db_config, invoke,
    password_handler, put_secret, sdk_config, sleep_until, stale_after_outage,
};
use aws_sdk_secretsmanager::Client;
use tern_middleware::secrets::SecretsLayer;
use tern_runtime::InitError;
use tern_testkit::{Moto, faults::assert_plain_message};
use tower::Layer;

/// Stores the database credentials `prod/db` (user `app`, this `password`): creates the secret,
/// or puts a new version of it.
async fn put_db_credentials(admin: &Client, password: &str, create: bool) {
    let credentials = format!(r#"{{"username":"app","password":"{password}"}}"#);
    put_secret(admin, "prod/db", &credentials, create).await;
}

#[tokio::test]
async fn first_call_sees_the_secret_one_fetch_serves_many_and_rotation_lands_in_background() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto).await;
    let admin = Client::new(&sdk);
    put_db_credentials(&admin, "pw-one", true).await;

    let (client, gets) = counting_client(&sdk);
    let ttl = Duration::from_secs(2);
    let asked_at = Instant::now();
    let layer =
        SecretsLayer::fetch_with_client(db_config(&[("DB_SECRET_ARN", "prod/db")], ttl), client)
            .await
            .unwrap();
    assert_eq!(gets.count(), 1, "init fetches once");
    let mut service = layer.layer(password_handler(layer.secrets()));

    for _ in 0..25 {
        assert_eq!(invoke(&mut service).await.unwrap(), "pw-one");
    }
    assert_eq!(
        gets.count(),
        1,
        "25 invocations within the TTL cost no call"
    );

    put_db_credentials(&admin, "pw-two", false).await;
    assert_eq!(
        invoke(&mut service).await.unwrap(),
        "pw-one",
        "cached until the TTL passes"
    );

    sleep_until(asked_at + ttl + Duration::from_millis(100)).await;
    // The first invocation after expiry is answered from the cache before the refresh has even
    // been sent (it only runs once this task yields): nothing waited on Secrets Manager.
    assert_eq!(invoke(&mut service).await.unwrap(), "pw-one");
    assert_eq!(gets.count(), 1);

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut answers = Vec::new();
    loop {
        let answer = invoke(&mut service).await.unwrap();
        if answer == "pw-two" {
            break;
        }
        answers.push(answer);
        assert!(Instant::now() < deadline, "the rotated value never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(answers.iter().all(|a| a == "pw-one"), "{answers:?}");
    assert_eq!(gets.count(), 2, "exactly one background refresh");
    assert_eq!(invoke(&mut service).await.unwrap(), "pw-two");
    assert_eq!(gets.count(), 2);
}

#[tokio::test]
async fn an_outage_is_bridged_by_the_grace_period_then_invocations_fail_clearly() {
    let mut moto = Moto::start();
    let sdk = sdk_config(&moto).await;
    put_secret(
        &Client::new(&sdk),
        "prod/db",
        r#"{"password":"pw-outage"}"#,
        true,
    )
    .await;

    let (ttl, grace) = (Duration::from_secs(1), Duration::from_secs(2));
    let config = db_config(&[("DB_SECRET_ARN", "prod/db")], ttl).with_grace_period(grace);
    let asked_at = Instant::now();
    let layer = SecretsLayer::fetch(config, &sdk).await.unwrap();
    let secrets = layer.secrets().clone();
    let mut service = layer.layer(password_handler(&secrets));
    assert_eq!(invoke(&mut service).await.unwrap(), "pw-outage");

    let endpoint = moto.endpoint();
    let refused = format!("DispatchFailure: could not connect to {endpoint}: connection refused");
    moto.stop();
    bridged_then_stale(
        &mut service,
        (asked_at, ttl, grace),
        "pw-outage",
        "Secrets.Stale",
        "secret `db` (`prod/db`) is stale: its value is 3s old",
        &refused,
    )
    .await;
    assert_eq!(secrets.get("db").unwrap_err().error_type(), "Secrets.Stale");

    let forced = secrets.force_refresh("db").await.unwrap_err();
    assert_eq!(forced.error_type(), "Secrets.Unreachable");
    assert_eq!(
        forced.fetch_error().map(|e| e.code()),
        Some("DispatchFailure")
    );

    // Init while the endpoint is down: an init error naming the variable, the id and the code.
    let config = db_config(&[("DB_SECRET_ARN", "prod/db")], ttl);
    let init = InitError::from(SecretsLayer::fetch(config, &sdk).await.unwrap_err());
    assert_eq!(init.error_type(), "Secrets.Unreachable");
    let message = init.to_string();
    assert!(
        message.starts_with(&format!(
            "could not reach the secrets backend for secret `prod/db` (from `DB_SECRET_ARN`, \
             declared as `db`): {refused}; check "
        )),
        "{message}"
    );
    assert_plain_message(&message);
}

#[tokio::test]
async fn missing_secrets_at_init() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto).await;
    put_secret(&Client::new(&sdk), "prod/db", "plain", true).await;

    let missing = db_config(
        &[("DB_SECRET_ARN", "prod/no-such-secret")],
        Duration::from_secs(300),
    );
    let error = SecretsLayer::fetch(missing, &sdk).await.unwrap_err();
    assert_eq!(error.error_type(), "Secrets.NotFound");
    assert_eq!(
        error.fetch_error().map(|e| e.code()),
        Some("ResourceNotFoundException")
    );
    let init = InitError::from(error);
    assert_eq!(init.error_type(), "Secrets.NotFound");
    let message = init.to_string();
    assert!(
        message.starts_with(
            "secret `prod/no-such-secret` (from `DB_SECRET_ARN`, declared as `db`) was not found \
             (ResourceNotFoundException: "
        ),
        "{message}"
    );
    assert!(message.ends_with(
        "check that `DB_SECRET_ARN` holds the ARN or name of an existing secret in the function's region"
    ));

    let unset = db_config(&[], Duration::from_secs(300));
    let init = InitError::from(SecretsLayer::fetch(unset, &sdk).await.unwrap_err());
    assert_eq!(init.error_type(), "Runtime.MissingEnvironmentVariable");
    assert_eq!(
        init.to_string(),
        "environment variable `DB_SECRET_ARN` is not set; it must hold the ARN or name of the \
         Secrets Manager secret the handler reads as `db`"
    );

    // Optional secrets that are missing do not stop init.
    let config = db_config(
        &[("DB_SECRET_ARN", "prod/db"), ("HOOK_ARN", "prod/no-hook")],
        Duration::from_secs(300),
    )
    .with_optional_secret("hook", "HOOK_ARN")
    .with_optional_secret("extra", "EXTRA_ARN");
    let layer = SecretsLayer::fetch(config, &sdk).await.unwrap();
    let secrets = layer.secrets();
    assert_eq!(secrets.get("db").unwrap().expose_str().unwrap(), "plain");
    assert!(secrets.get_optional("hook").unwrap().is_none());
    assert!(secrets.get_optional("extra").unwrap().is_none());
    let hook = secrets.get("hook").unwrap_err();
    assert_eq!(hook.error_type(), "Secrets.Unavailable");
    assert!(
        hook.to_string()
            .starts_with("optional secret `hook` is not available: fetching `prod/no-hook` failed (ResourceNotFoundException: "),
        "{hook}"
    );
}

#[tokio::test]
async fn secret_values_never_reach_logs_or_errors() {
    const PASSWORD_ONE: &str = "Pw1-7f3a9c2e";
    const PASSWORD_TWO: &str = "Pw2-b81d44f0";
    const TOKEN: &str = "tok-5e6d7c8b";
    let mut moto = Moto::start();
    let sdk = sdk_config(&moto).await;
    let admin = Client::new(&sdk);
    put_db_credentials(&admin, PASSWORD_ONE, true).await;
    put_secret(&admin, "prod/token", TOKEN, true).await;

    let (logs, _capture) = LogBuffer::trace();
    let mut errors: Vec<String> = Vec::new();
    fn describe(error: &dyn std::fmt::Debug, display: String) -> String {
        format!("{display} | {error:?}")
    }

    let ttl = Duration::from_secs(1);
    let config = db_config(
        &[
            ("DB_SECRET_ARN", "prod/db"),
            ("TOKEN_ARN", "prod/token"),
            ("HOOK_ARN", "prod/none"),
        ],
        ttl,
    )
    .with_secret("token", "TOKEN_ARN")
    .with_optional_secret("hook", "HOOK_ARN")
    .with_grace_period(Duration::from_secs(1));
    let asked_at = Instant::now();
    let layer = SecretsLayer::fetch(config, &sdk).await.unwrap();
    let secrets = layer.secrets().clone();
    let mut service = layer.layer(password_handler(&secrets));
    assert_eq!(invoke(&mut service).await.unwrap(), PASSWORD_ONE);
    let token = secrets.get("token").unwrap();
    assert_eq!(token.expose_str().unwrap(), TOKEN);
    tracing::info!(token = %token, debug = ?token, "logging the value the careless way");
    let field = token.json_field("password").unwrap_err();
    errors.push(describe(&field, field.to_string()));
    let hook = secrets.get("hook").unwrap_err();
    errors.push(describe(&hook, hook.to_string()));
    let not_found = SecretsLayer::fetch(db_config(&[("DB_SECRET_ARN", "prod/none")], ttl), &sdk)
        .await
        .unwrap_err();
    errors.push(describe(&not_found, not_found.to_string()));

    // Rotation, picked up by a background refresh.
    put_secret(
        &admin,
        "prod/db",
        &format!(r#"{{"password":"{PASSWORD_TWO}"}}"#),
        false,
    )
    .await;
    sleep_until(asked_at + ttl + Duration::from_millis(100)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while invoke(&mut service).await.unwrap() != PASSWORD_TWO {
        assert!(Instant::now() < deadline, "the rotated value never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Outage: failed refreshes, then stale errors. Both values are fetched afresh first, so
    // no refresh is still in flight when the endpoint goes away.
    let refreshed_at = Instant::now();
    secrets.force_refresh("db").await.unwrap();
    secrets.force_refresh("token").await.unwrap();
    let stale = stale_after_outage(
        &mut service,
        &mut moto,
        (refreshed_at, ttl),
        PASSWORD_TWO,
        "Secrets.Stale",
    )
    .await;
    errors.push(describe(&stale, stale.error_message.clone()));
    let forced = secrets.force_refresh("token").await.unwrap_err();
    errors.push(describe(&forced, forced.to_string()));
    let init: InitError =
        SecretsLayer::fetch(db_config(&[("DB_SECRET_ARN", "prod/db")], ttl), &sdk)
            .await
            .unwrap_err()
            .into();
    errors.push(describe(&init, init.to_string()));
    errors.push(format!("{secrets:?} {layer:?} {:?}", secrets.get("token")));

    assert_eq!(errors.len(), 7);
    assert_logged_without(
        &logs.contents(),
        &[
            "fetched secrets",
            "optional secret could not be fetched",
            "could not refresh the secret",
            "SecretValue(<redacted>)",
            "ResourceNotFoundException",
            "DispatchFailure",
        ],
        &errors,
        &[PASSWORD_ONE, PASSWORD_TWO, TOKEN],
    );
}
