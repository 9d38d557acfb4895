//! The parameters middleware against a real SSM API: `moto_server` on loopback.
//!
//! Every test starts its own moto (one test stops it), builds its SDK configuration explicitly
//! (no process environment is touched: tests run in parallel threads), counts SSM requests on
//! the wire and drives the layer through tower, as the runtime does.

use std::time::{Duration, Instant};

use crate::support::logs::LogBuffer;
use crate::support::secrets::{
    assert_logged_without, bridged_then_stale, invoke, sdk_config, sleep_until, stale_after_outage,
};
use aws_config::SdkConfig;
use aws_sdk_ssm::Client;
use serde::Deserialize;
use tern_middleware::parameters::{
    Parameter, Parameters, ParametersConfig, ParametersError, ParametersLayer,
};
use tern_runtime::{Diagnostic, InitError, LambdaEvent, service_fn};
use tern_testkit::{Moto, OperationLog, put_parameter};
use tower::{Layer, Service};

#[derive(Debug, PartialEq, Deserialize)]
struct Limits {
    max_items: u32,
}

/// moto, and an SDK configuration for it, with these `String` parameters.
async fn moto_with(parameters: &[(&str, &str)]) -> (Moto, SdkConfig) {
    let moto = Moto::start();
    let sdk = sdk_config(&moto).await;
    for (name, value) in parameters {
        put_parameter(&sdk, name, value, false).await;
    }
    (moto, sdk)
}

/// An SSM client whose requests are recorded on the wire.
fn counted(sdk: &SdkConfig) -> (Client, OperationLog) {
    let calls = OperationLog::default();
    let config = aws_sdk_ssm::config::Builder::from(sdk)
        .interceptor(calls.clone())
        .build();
    (Client::from_conf(config), calls)
}

/// The twelve names of the batch test, and the variables that name them.
fn batch_env() -> Vec<(String, String)> {
    (0..12)
        .map(|i| (format!("BATCH_{i}"), format!("/tern/batch/{i}")))
        .collect()
}

fn batch_config(env: Vec<(String, String)>, ttl: Duration) -> ParametersConfig {
    (0..12)
        .fold(ParametersConfig::from_vars(env).unwrap(), |config, i| {
            config.with_parameter(Parameter::ssm(format!("b{i}"), format!("BATCH_{i}")))
        })
        .with_ttl(ttl)
}

/// A handler answering with the text of parameter `name`.
fn reading(
    parameters: &Parameters,
    name: &'static str,
) -> impl Service<LambdaEvent<()>, Response = String, Error = Diagnostic, Future: Send> + Clone + use<>
{
    let parameters = parameters.clone();
    service_fn(move |_event: LambdaEvent<()>| {
        let parameters = parameters.clone();
        async move {
            let value = parameters.get(name)?;
            tracing::info!(parameter = ?value, "handler read the parameter");
            Ok::<_, Diagnostic>(value.as_str()?.to_owned())
        }
    })
}

#[tokio::test]
async fn twelve_names_cost_two_calls_at_init_none_while_fresh_and_two_per_refresh() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto).await;
    for i in 0..12 {
        put_parameter(&sdk, &format!("/tern/batch/{i}"), &format!("v{i}-1"), false).await;
    }
    let (client, calls) = counted(&sdk);
    let ttl = Duration::from_secs(1);
    let asked_at = Instant::now();
    let layer = ParametersLayer::fetch_with_client(batch_config(batch_env(), ttl), client)
        .await
        .unwrap();
    assert_eq!(
        calls.take(),
        ["GetParameters", "GetParameters"],
        "10 + 2 names"
    );
    let parameters = layer.parameters().clone();
    for i in 0..12 {
        let value = parameters.get(&format!("b{i}")).unwrap();
        assert_eq!(value.as_str().unwrap(), format!("v{i}-1"));
        assert_eq!(value.version(), Some("1"));
    }
    let mut service = layer.layer(reading(&parameters, "b3"));
    for _ in 0..25 {
        assert_eq!(invoke(&mut service).await.unwrap(), "v3-1");
    }
    assert_eq!(
        calls.take(),
        Vec::<String>::new(),
        "no call per invocation while fresh"
    );

    put_parameter(&sdk, "/tern/batch/3", "v3-2", false).await;
    sleep_until(asked_at + ttl + Duration::from_millis(100)).await;
    // Answered from the cache before the background refresh is even sent.
    assert_eq!(invoke(&mut service).await.unwrap(), "v3-1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while invoke(&mut service).await.unwrap() != "v3-2" {
        assert!(Instant::now() < deadline, "the changed value never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        calls.take(),
        ["GetParameters", "GetParameters"],
        "one background refresh of the whole batch"
    );
    assert_eq!(parameters.get("b3").unwrap().version(), Some("2"));
    assert_eq!(parameters.get("b11").unwrap().as_str().unwrap(), "v11-1");
}

#[tokio::test]
async fn a_path_of_25_pages_by_ten_and_a_secure_string_arrives_decrypted() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto).await;
    for i in 0..25 {
        // Five of them one level down: read because the path is read recursively.
        let name = match i {
            0..20 => format!("/tern/limits/l{i:02}"),
            _ => format!("/tern/limits/nested/l{i:02}"),
        };
        put_parameter(&sdk, &name, &format!(r#"{{"max_items": {i}}}"#), false).await;
    }
    put_parameter(&sdk, "/tern/greeting", "hello", false).await;
    put_parameter(&sdk, "/tern/db/password", "pw-secure-1", true).await;

    let (client, calls) = counted(&sdk);
    let config = ParametersConfig::from_vars([
        ("LIMITS_PATH", "/tern/limits"),
        ("GREETING_PARAMETER", "/tern/greeting"),
        ("DB_PASSWORD_PARAMETER", "/tern/db/password"),
    ])
    .unwrap()
    .with_parameter(
        Parameter::ssm_path("limits", "LIMITS_PATH")
            .with_recursion()
            .with_json::<Limits>(),
    )
    .with_parameter(Parameter::ssm("greeting", "GREETING_PARAMETER"))
    .with_parameter(Parameter::ssm("db_password", "DB_PASSWORD_PARAMETER"));
    let layer = ParametersLayer::fetch_with_client(config, client)
        .await
        .unwrap();
    let mut operations = calls.take();
    operations.sort();
    assert_eq!(
        operations,
        [
            "GetParameters",
            "GetParametersByPath",
            "GetParametersByPath",
            "GetParametersByPath"
        ],
        "25 parameters in pages of 10; the two names in one call"
    );
    let parameters = layer.parameters();
    let limits = parameters.get("limits").unwrap();
    let mut read: Vec<(String, u32)> = limits
        .entries()
        .map(|(name, value)| (name.to_owned(), value.typed::<Limits>().unwrap().max_items))
        .collect();
    read.sort();
    assert_eq!(read.len(), 25);
    assert_eq!(read[0], ("l00".to_owned(), 0));
    assert_eq!(read[24], ("nested/l24".to_owned(), 24));
    assert_eq!(
        limits.entry("nested/l21").unwrap().name(),
        "limits/nested/l21"
    );

    let password = parameters.get("db_password").unwrap();
    assert!(password.is_secure());
    assert_eq!(password.as_str().unwrap(), "pw-secure-1", "decrypted");
    assert_eq!(
        format!("{password:?} {password}"),
        "ParameterValue(<redacted>) ParameterValue(<redacted>)"
    );
    let greeting = parameters.get("greeting").unwrap();
    assert_eq!(
        (greeting.as_str().unwrap(), greeting.is_secure()),
        ("hello", false)
    );

    // Without recursion, only the 20 parameters directly under the path: two full pages, and a
    // third, empty one, because a full page comes with a NextToken (SSM may do the same).
    let (client, calls) = counted(&sdk);
    let flat = ParametersConfig::from_vars([("LIMITS_PATH", "/tern/limits")])
        .unwrap()
        .with_parameter(Parameter::ssm_path("limits", "LIMITS_PATH"));
    let layer = ParametersLayer::fetch_with_client(flat, client)
        .await
        .unwrap();
    assert_eq!(
        layer.parameters().get("limits").unwrap().entries().count(),
        20
    );
    assert_eq!(calls.take(), ["GetParametersByPath"; 3]);
}

#[tokio::test]
async fn an_outage_is_bridged_by_the_grace_period_then_invocations_fail_clearly() {
    let (mut moto, sdk) = moto_with(&[("/tern/batch/0", "v0-1")]).await;
    let (ttl, grace) = (Duration::from_secs(1), Duration::from_secs(2));
    let config = ParametersConfig::from_vars([("BATCH_0", "/tern/batch/0")])
        .unwrap()
        .with_parameter(Parameter::ssm("b0", "BATCH_0"))
        .with_ttl(ttl)
        .with_grace_period(grace);
    let asked_at = Instant::now();
    let layer = ParametersLayer::fetch(config.clone(), &sdk).await.unwrap();
    let parameters = layer.parameters().clone();
    let mut service = layer.layer(reading(&parameters, "b0"));
    assert_eq!(invoke(&mut service).await.unwrap(), "v0-1");

    let refused = format!(
        "DispatchFailure: could not connect to {}: connection refused",
        moto.endpoint()
    );
    moto.stop();
    bridged_then_stale(
        &mut service,
        (asked_at, ttl, grace),
        "v0-1",
        "Parameters.Stale",
        "parameter `b0` (`/tern/batch/0`) is stale: its value is 3s old",
        &refused,
    )
    .await;
    let forced = parameters.force_refresh("b0").await.unwrap_err();
    assert_eq!(forced.error_type(), "Parameters.Unreachable");

    // Init while SSM is down: an init error naming the variable, the name and the code.
    let init = InitError::from(ParametersLayer::fetch(config, &sdk).await.unwrap_err());
    assert_eq!(init.error_type(), "Parameters.Unreachable");
    assert!(
        init.to_string().starts_with(
            "could not reach the back-end of parameter `/tern/batch/0` (from `BATCH_0`, declared \
             as `b0`): DispatchFailure: "
        ),
        "{init}"
    );
}

#[tokio::test]
async fn missing_parameters_at_init() {
    let (_moto, sdk) = moto_with(&[("/tern/batch/0", "v0-1")]).await;
    let env = [
        ("BATCH_0", "/tern/batch/0"),
        ("BATCH_1", "/tern/missing"),
        ("HOOK", "/tern/no-hook"),
    ];
    // The missing one is asked for together with an existing one (GetParameters): SSM lists
    // it among InvalidParameters.
    let config = ParametersConfig::from_vars(env)
        .unwrap()
        .with_parameter(Parameter::ssm("b0", "BATCH_0"))
        .with_parameter(Parameter::ssm("b1", "BATCH_1"));
    let error = ParametersLayer::fetch(config, &sdk).await.unwrap_err();
    assert_eq!(error.error_type(), "Parameters.NotFound");
    assert_eq!(
        error.fetch_error().map(|e| e.code()),
        Some("ParameterNotFound")
    );
    assert_eq!(
        InitError::from(error).to_string(),
        "parameter `/tern/missing` (from `BATCH_1`, declared as `b1`) was not found \
         (ParameterNotFound: SSM has no parameter `/tern/missing` (or not that version or \
         label)); check that the variable holds the name or ARN of an existing SSM parameter \
         (and version or label) in the function's region"
    );
    // Alone it is a GetParameter, whose error SSM names itself.
    let alone = ParametersConfig::from_vars(env)
        .unwrap()
        .with_parameter(Parameter::ssm("b1", "BATCH_1"));
    let error = ParametersLayer::fetch(alone, &sdk).await.unwrap_err();
    assert_eq!(
        error.fetch_error().map(|e| e.code()),
        Some("ParameterNotFound")
    );
    // Optional ones that are missing do not stop init.
    let optional = ParametersConfig::from_vars(env)
        .unwrap()
        .with_parameter(Parameter::ssm("b0", "BATCH_0"))
        .with_optional_parameter(Parameter::ssm("hook", "HOOK"))
        .with_optional_parameter(Parameter::ssm("extra", "EXTRA"));
    let layer = ParametersLayer::fetch(optional, &sdk).await.unwrap();
    let parameters = layer.parameters();
    assert!(parameters.get_optional("hook").unwrap().is_none());
    assert!(parameters.get_optional("extra").unwrap().is_none());
    let hook = parameters.get("hook").unwrap_err();
    assert_eq!(hook.error_type(), "Parameters.Unavailable");
    assert!(
        hook.to_string().starts_with(
            "optional parameter `hook` is not available: fetching `/tern/no-hook` failed \
             (ParameterNotFound: "
        ),
        "{hook}"
    );
}

#[tokio::test]
async fn a_secure_string_canary_never_reaches_logs_errors_or_debug_at_trace() {
    const CANARY: &str = "canary-3f9d2c71-securestring";
    const CANARY_TWO: &str = "canary-8e1a4b07-securestring";
    let mut moto = Moto::start();
    let sdk = sdk_config(&moto).await;
    put_parameter(&sdk, "/tern/api-key", CANARY, true).await;
    // A SecureString declared as JSON that is not JSON: the transform error must not quote it.
    put_parameter(&sdk, "/tern/secure-json", CANARY_TWO, true).await;
    put_parameter(&sdk, "/tern/secure-path/key", CANARY, true).await;

    let (logs, _capture) = LogBuffer::trace();
    let mut outputs: Vec<String> = Vec::new();
    fn describe(error: ParametersError) -> String {
        let text = format!("{error} | {error:?}");
        let init = InitError::from(error);
        format!("{text} | {init} | {init:?}")
    }

    let env = [
        ("API_KEY_PARAMETER", "/tern/api-key"),
        ("SECURE_JSON_PARAMETER", "/tern/secure-json"),
        ("SECURE_PATH", "/tern/secure-path"),
    ];
    let ttl = Duration::from_secs(1);
    let config = ParametersConfig::from_vars(env)
        .unwrap()
        .with_parameter(Parameter::ssm("api_key", "API_KEY_PARAMETER"))
        .with_parameter(Parameter::ssm_path("keys", "SECURE_PATH"))
        .with_ttl(ttl)
        .with_grace_period(Duration::from_secs(1));
    let layer = ParametersLayer::fetch(config, &sdk).await.unwrap();
    let parameters = layer.parameters().clone();
    let mut service = layer.layer(reading(&parameters, "api_key"));
    assert_eq!(invoke(&mut service).await.unwrap(), CANARY);
    let key = parameters.get("api_key").unwrap();
    let keys = parameters.get("keys").unwrap();
    tracing::info!(key = %key, debug = ?key, path = ?keys, entry = ?keys.entry("key"), "logging the value the careless way");
    outputs.push(format!(
        "{key:?} {key} {keys:?} {keys} {parameters:?} {layer:?}"
    ));
    outputs.push(describe(key.typed::<Limits>().unwrap_err()));

    let bad_json = ParametersConfig::from_vars(env).unwrap().with_parameter(
        Parameter::ssm("secure_json", "SECURE_JSON_PARAMETER").with_json::<Limits>(),
    );
    let error = ParametersLayer::fetch(bad_json, &sdk).await.unwrap_err();
    assert_eq!(error.error_type(), "Parameters.InvalidValue");
    outputs.push(describe(error));

    // Outage: a failed refresh, then stale errors.
    let refreshed_at = Instant::now();
    parameters.force_refresh("api_key").await.unwrap();
    parameters.force_refresh("keys").await.unwrap();
    let stale = stale_after_outage(
        &mut service,
        &mut moto,
        (refreshed_at, ttl),
        CANARY,
        "Parameters.Stale",
    )
    .await;
    outputs.push(format!("{} {stale:?}", stale.error_message));
    outputs.push(describe(
        parameters.force_refresh("api_key").await.unwrap_err(),
    ));

    assert_eq!(outputs.len(), 5);
    assert_logged_without(
        &logs.contents(),
        &[
            "fetched parameters",
            "could not refresh the parameter",
            "ParameterValue(<redacted>)",
            "DispatchFailure",
        ],
        &outputs,
        &[CANARY, CANARY_TWO],
    );
}
