//! Unit tests of secrets over the cache engine, on Tokio's paused clock.

use std::{sync::Arc, time::Duration};

use tokio::time::advance;

use crate::{
    cache::{
        RETRY_INTERVAL,
        scripted::{Script, Step},
    },
    secrets::{Secrets, SecretsConfig, error::FetchErrorKind, provider::Provider},
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn db_config() -> SecretsConfig {
    SecretsConfig::from_vars([("DB_SECRET_ARN", "prod/db")])
        .unwrap()
        .with_secret("db", "DB_SECRET_ARN")
        .with_ttl(secs(10))
        .with_grace_period(secs(5))
}

/// Loads `config` from a script whose first fetch (the load's) answers `v1` at once, and whose
/// later fetches answer `refreshes` in order.
async fn load(
    config: &SecretsConfig,
    refreshes: impl IntoIterator<Item = Step>,
) -> (Secrets, Arc<Script>) {
    let script = Script::new(
        [Step::Value("v1", Duration::ZERO)]
            .into_iter()
            .chain(refreshes),
    );
    let secrets = Secrets::load(config, Provider::Scripted(script.clone()))
        .await
        .unwrap();
    (secrets, script)
}

fn text(secrets: &Secrets) -> String {
    secrets.get("db").unwrap().expose_str().unwrap().to_owned()
}

/// Lets spawned refresh tasks run up to their next timer.
async fn settle() {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

/// Lets `time` pass, then the refresh tasks it woke run.
async fn pass(time: Duration) {
    advance(time).await;
    settle().await;
}

#[tokio::test(start_paused = true)]
async fn steady_state_serves_from_cache_and_refreshes_once_ahead_of_expiry() {
    let (secrets, script) = load(&db_config(), [Step::Value("v2", secs(2))]).await;
    assert_eq!(script.calls(), 1);
    for _ in 0..100 {
        assert_eq!(text(&secrets), "v1");
    }
    advance(Duration::from_millis(8_999)).await;
    assert_eq!(text(&secrets), "v1");
    settle().await;
    assert_eq!(
        script.calls(),
        1,
        "no refresh before the refresh-ahead window (TTL - TTL/10)"
    );

    advance(Duration::from_millis(1)).await;
    for _ in 0..50 {
        // Served at once while the (2 s) refresh is in flight; no second refresh starts.
        assert_eq!(text(&secrets), "v1");
        settle().await;
    }
    assert_eq!(script.calls(), 2);
    pass(secs(2)).await;
    assert_eq!(text(&secrets), "v2");
    assert_eq!(script.calls(), 2);
    // v2 is aged from when it was asked for (t = 9 s): fresh until t = 18 s.
    advance(Duration::from_millis(6_999)).await;
    assert_eq!(text(&secrets), "v2");
    settle().await;
    assert_eq!(script.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn failed_refreshes_keep_the_value_for_the_grace_period_then_fail_clearly() {
    let (secrets, script) = load(
        &db_config(),
        [
            Step::Fail(FetchErrorKind::Unreachable, "DispatchFailure"),
            Step::Fail(FetchErrorKind::Unreachable, "DispatchFailure"),
            Step::Value("v2", Duration::ZERO),
        ],
    )
    .await;
    assert_eq!(
        secrets.take_unreported_refresh_failures(),
        0,
        "init fetches are not refreshes"
    );
    advance(secs(10)).await;
    assert_eq!(text(&secrets), "v1");
    settle().await;
    assert_eq!(script.calls(), 2);
    assert_eq!(
        secrets.take_unreported_refresh_failures(),
        1,
        "one failed refresh to report"
    );
    assert_eq!(
        secrets.take_unreported_refresh_failures(),
        0,
        "reported once"
    );

    // Within grace: still v1, and no new attempt before RETRY_INTERVAL has passed.
    advance(Duration::from_millis(4_999)).await;
    assert_eq!(text(&secrets), "v1");
    assert!(secrets.check().is_ok());
    settle().await;
    assert_eq!(script.calls(), 2);

    advance(Duration::from_millis(1)).await;
    let error = secrets.get("db").unwrap_err();
    assert_eq!(error.error_type(), "Secrets.Stale");
    assert_eq!(
        error.to_string(),
        "secret `db` (`prod/db`) is stale: its value is 15s old, past its TTL and grace period, and \
         the last refresh failed (DispatchFailure: scripted failure); it is served again once a \
         refresh succeeds"
    );
    assert_eq!(secrets.check().unwrap_err().error_type(), "Secrets.Stale");
    settle().await;
    assert_eq!(
        script.calls(),
        3,
        "a retry starts once RETRY_INTERVAL has passed"
    );
    assert!(secrets.get("db").is_err());
    assert_eq!(secrets.take_unreported_refresh_failures(), 1);

    // The backend recovers: the next retry restores service.
    advance(RETRY_INTERVAL).await;
    assert!(secrets.get("db").is_err());
    settle().await;
    assert_eq!(script.calls(), 4);
    assert_eq!(text(&secrets), "v2");
    assert_eq!(
        secrets.take_unreported_refresh_failures(),
        0,
        "a success is not a failure"
    );
}

#[tokio::test(start_paused = true)]
async fn an_attempt_frozen_past_its_timeout_is_not_held_against_the_value() {
    let config = db_config().with_fetch_timeout(secs(5));
    let (secrets, script) = load(&config, [Step::Value("v2", secs(3_600))]).await;
    advance(secs(9)).await;
    assert_eq!(text(&secrets), "v1");
    settle().await;
    assert_eq!(script.calls(), 2);

    // The environment is frozen for 10 minutes with the fetch in flight; on thaw its timeout
    // fires long overdue. That is no evidence of an outage: the value is served and refreshed.
    pass(secs(600)).await;
    assert_eq!(text(&secrets), "v1");
    settle().await;
    assert_eq!(script.calls(), 3);

    // This attempt really times out: now the value is refused.
    pass(secs(5)).await;
    let error = secrets.get("db").unwrap_err();
    assert_eq!(error.error_type(), "Secrets.Stale");
    assert_eq!(
        error.fetch_error().map(|e| (e.code(), e.detail())),
        Some(("Timeout", "no answer within 5s"))
    );
}

#[tokio::test(start_paused = true)]
async fn force_refresh_waits_for_the_new_value() {
    let (secrets, script) = load(
        &db_config(),
        [
            Step::Value("v2", secs(1)),
            Step::Fail(FetchErrorKind::AccessDenied, "AccessDeniedException"),
        ],
    )
    .await;
    let fresh = secrets.force_refresh("db").await.unwrap();
    assert_eq!(fresh.expose_str().unwrap(), "v2");
    assert_eq!(text(&secrets), "v2");
    let error = secrets.force_refresh("db").await.unwrap_err();
    assert_eq!(error.error_type(), "Secrets.AccessDenied");
    assert_eq!(
        text(&secrets),
        "v2",
        "a failed forced refresh keeps the cached value"
    );
    assert_eq!(script.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn optional_and_undeclared_secrets() {
    let config =
        SecretsConfig::from_vars([("DB_SECRET_ARN", "prod/db"), ("HOOK_ARN", "prod/hook")])
            .unwrap()
            .with_secret("db", "DB_SECRET_ARN")
            .with_optional_secret("webhook", "WEBHOOK_ARN")
            .with_optional_secret("hook", "HOOK_ARN");
    let (secrets, script) = load(
        &config,
        [Step::Fail(
            FetchErrorKind::NotFound,
            "ResourceNotFoundException",
        )],
    )
    .await;
    assert_eq!(
        script.calls(),
        2,
        "the unset optional secret is not fetched"
    );
    assert_eq!(text(&secrets), "v1");
    assert!(secrets.get_optional("webhook").unwrap().is_none());
    assert!(secrets.get_optional("hook").unwrap().is_none());
    let cases = [
        (
            "webhook",
            "optional secret `webhook` is not available: environment variable `WEBHOOK_ARN` is not set",
        ),
        (
            "hook",
            "optional secret `hook` is not available: fetching `prod/hook` failed \
             (ResourceNotFoundException: scripted failure); retrying in the background",
        ),
        (
            "dbx",
            "no secret named `dbx` is declared (declared: db, webhook, hook); add it to the SecretsConfig",
        ),
    ];
    for (name, message) in cases {
        assert_eq!(secrets.get(name).unwrap_err().to_string(), message);
    }
    assert!(
        secrets.check().is_ok(),
        "optional secrets never fail an invocation"
    );
    advance(RETRY_INTERVAL).await;
    assert!(secrets.get_optional("hook").unwrap().is_none());
    settle().await;
    assert_eq!(
        script.calls(),
        3,
        "the optional secret is retried in the background"
    );
    assert_eq!(
        format!("{secrets:?}"),
        r#"Secrets { names: ["db", "webhook", "hook"], backend: "scripted", .. }"#
    );
}

#[tokio::test(start_paused = true)]
async fn a_required_secret_that_cannot_be_fetched_fails_the_load() {
    let script = Script::new([Step::Fail(
        FetchErrorKind::NotFound,
        "ResourceNotFoundException",
    )]);
    let error = Secrets::load(&db_config(), Provider::Scripted(script))
        .await
        .err()
        .unwrap();
    assert_eq!(error.error_type(), "Secrets.NotFound");
    assert_eq!(
        error.to_string(),
        "secret `prod/db` (from `DB_SECRET_ARN`, declared as `db`) was not found \
         (ResourceNotFoundException: scripted failure); check that `DB_SECRET_ARN` holds the ARN \
         or name of an existing secret in the function's region"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_start_a_single_refresh() {
    let config = db_config().with_ttl(Duration::from_millis(100));
    let (secrets, script) = load(&config, [Step::Value("v2", secs(3))]).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let secrets = secrets.clone();
            tokio::spawn(async move {
                for _ in 0..500 {
                    assert_eq!(text(&secrets), "v1");
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for reader in readers {
        reader.await.unwrap();
    }
    assert_eq!(script.calls(), 2);
}

#[test]
fn handle_is_clone_send_sync() {
    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
    assert_shareable::<Secrets>();
    assert_shareable::<crate::secrets::SecretsLayer>();
    assert_shareable::<crate::secrets::SecretValue>();
}

#[tokio::test(start_paused = true)]
async fn a_slow_older_refresh_never_replaces_a_newer_value() {
    let (secrets, script) = load(
        &db_config(),
        [
            // The background refresh: started first, answers last.
            Step::Value("v2-older", secs(3)),
            // force_refresh after a rotation: started later, answers at once.
            Step::Value("v3-newer", Duration::ZERO),
        ],
    )
    .await;
    advance(secs(10)).await;
    assert_eq!(
        text(&secrets),
        "v1",
        "past the TTL: served, and a refresh starts"
    );
    settle().await;
    assert_eq!(script.calls(), 2);
    let forced = secrets.force_refresh("db").await.unwrap();
    assert_eq!(forced.expose_str().unwrap(), "v3-newer");
    pass(secs(3)).await;
    assert_eq!(
        text(&secrets),
        "v3-newer",
        "the older fetch landed last but must not win"
    );
}
