//! Unit tests of parameters over the cache engine: transforms at init and on refresh (scripted
//! SSM, Tokio's paused clock), the service, and AppConfig against a loopback server that
//! speaks the AppConfig agent's API. The SSM back-ends run against moto in
//! `tests/middleware/parameters_moto.rs`.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use lambda_runtime::{Context as LambdaContext, Diagnostic, LambdaEvent};
use serde::Deserialize;
use tokio::{io::AsyncWriteExt, net::TcpListener, time::advance};
use tower::Service;

use crate::{
    cache::{
        RETRY_INTERVAL,
        loopback::tests::{closed_port, read_request},
        scripted::{Script, Step},
    },
    parameters::{
        Parameter, Parameters, ParametersConfig, ParametersError, ParametersLayer,
        ParametersService, layer,
        provider::{Provider, Ssm, appconfig::Agent},
    },
};

#[derive(Debug, PartialEq, Deserialize)]
struct Limits {
    max_items: u32,
}

fn limits_config() -> ParametersConfig {
    ParametersConfig::from_vars([("LIMITS_PARAMETER", "/shop/limits")])
        .unwrap()
        .with_parameter(Parameter::ssm("limits", "LIMITS_PARAMETER").with_json::<Limits>())
        .with_ttl(Duration::from_secs(10))
        .with_grace_period(Duration::from_secs(5))
}

fn scripted(script: &Arc<Script>) -> Provider {
    Provider {
        ssm: Ssm::Scripted(script.clone()),
        appconfig: None,
    }
}

/// The error of a load that must fail.
async fn load_error(config: &ParametersConfig, provider: Provider) -> ParametersError {
    Parameters::load(config, provider).await.err().unwrap()
}

fn max_items(parameters: &Parameters) -> u32 {
    let value = parameters.get("limits").unwrap();
    value.typed::<Limits>().unwrap().max_items
}

async fn settle() {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_value_that_does_not_transform_fails_init_naming_the_parameter() {
    let script = Script::new([Step::Value(r#"{"max_items": -1}"#, Duration::ZERO)]);
    let error = load_error(&limits_config(), scripted(&script)).await;
    assert_eq!(error.error_type(), "Parameters.InvalidValue");
    assert_eq!(
        error.to_string(),
        "parameter `/shop/limits` (from `LIMITS_PARAMETER`, declared as `limits`) has a value \
         that cannot be used: the value of `limits` is not JSON for `Limits`: invalid value: \
         integer `-1`, expected u32 at line 1 column 16; fix the value (a value that was good \
         before is still served)"
    );
    let init = tern_runtime::InitError::from(error);
    assert_eq!(init.error_type(), "Parameters.InvalidValue");
}

#[tokio::test(start_paused = true)]
async fn a_bad_refreshed_value_never_replaces_the_last_good_one() {
    let script = Script::new([
        Step::Value(r#"{"max_items": 5}"#, Duration::ZERO),
        Step::Value(r#"{"max_items": "many"}"#, Duration::ZERO),
        Step::Value(r#"{"max_items": 7}"#, Duration::ZERO),
    ]);
    let parameters = Parameters::load(&limits_config(), scripted(&script))
        .await
        .unwrap();
    advance(Duration::from_secs(9)).await;
    assert_eq!(max_items(&parameters), 5);
    settle().await;
    assert_eq!(script.calls(), 2);
    assert_eq!(max_items(&parameters), 5, "the bad value is not served");
    assert_eq!(parameters.cache().take_unreported_failures(), 1);
    // Past TTL + grace with the bad value still there: stale, naming why.
    advance(Duration::from_secs(6)).await;
    let error = parameters.get("limits").unwrap_err();
    assert_eq!(error.error_type(), "Parameters.Stale");
    assert_eq!(
        error.to_string(),
        "parameter `limits` (`/shop/limits`) is stale: its value is 15s old, past its TTL and \
         grace period, and the last refresh failed (InvalidValue: the value of `limits` is not \
         JSON for `Limits`: invalid type: string \"many\", expected u32 at line 1 column 20); it \
         is served again once a refresh succeeds"
    );
    // The value is fixed: the next retry restores service.
    advance(RETRY_INTERVAL).await;
    assert!(parameters.get("limits").is_err());
    settle().await;
    assert_eq!(max_items(&parameters), 7);
}

#[tokio::test(start_paused = true)]
async fn the_service_recovers_or_refuses_stale_invocations_as_parameters() {
    let script = Script::new([
        Step::Value(r#"{"max_items": 5}"#, Duration::ZERO),
        Step::Fail(
            crate::cache::FetchErrorKind::AccessDenied,
            "AccessDeniedException",
        ),
    ]);
    let config = limits_config();
    let parameters = Parameters::unfetched(&config, scripted(&script));
    parameters.force_refresh("limits").await.unwrap();
    let handle = parameters.clone();
    let inner = tower::service_fn(move |_: LambdaEvent<()>| {
        let max = max_items(&handle);
        async move { Ok::<_, Diagnostic>(max) }
    });
    let mut service = ParametersService::new(inner, parameters.clone());
    let mut call = async || {
        std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
        service
            .call(LambdaEvent::new((), LambdaContext::default()))
            .await
    };
    assert_eq!(call().await.unwrap(), 5);
    advance(Duration::from_secs(10)).await;
    assert_eq!(call().await.unwrap(), 5, "served while the refresh fails");
    settle().await;
    advance(Duration::from_secs(5)).await;
    let refused = call().await.unwrap_err();
    assert_eq!(refused.error_type, "Parameters.Stale");
    assert!(
        refused
            .error_message
            .contains("the last refresh failed (AccessDeniedException: scripted failure)"),
        "{}",
        refused.error_message
    );
    assert_eq!(script.calls(), 3, "init, the refresh, the recovery fetch");
}

#[tokio::test]
async fn declarations_that_cannot_be_read_fail_before_any_fetch() {
    let script = Script::new([Step::Value("x", Duration::ZERO)]);
    let cases = [
        (
            ParametersConfig::from_vars([("OTHER", "x")])
                .unwrap()
                .with_parameter(Parameter::ssm_path("limits", "LIMITS_PATH")),
            "Runtime.MissingEnvironmentVariable",
            "environment variable `LIMITS_PATH` is not set; it must hold the SSM path of the \
             parameters the handler reads as `limits`",
        ),
        (
            ParametersConfig::from_vars([("LIMITS_PATH", "shop/limits")])
                .unwrap()
                .with_parameter(Parameter::ssm_path("limits", "LIMITS_PATH")),
            "Runtime.InvalidEnvironmentVariable",
            "environment variable `LIMITS_PATH` is invalid: `shop/limits` is not an SSM path; a \
             path starts with `/`, e.g. `/shop/limits`",
        ),
        (
            ParametersConfig::from_vars([("FLAGS", "shop/flags")])
                .unwrap()
                .with_parameter(Parameter::appconfig("flags", "FLAGS")),
            "Runtime.InvalidEnvironmentVariable",
            "environment variable `FLAGS` is invalid: `shop/flags` is not \
             `application/environment/profile`; use the AppConfig application, environment and \
             configuration profile (names or ids) separated by `/`",
        ),
    ];
    for (config, error_type, message) in cases {
        let error = load_error(&config, scripted(&script)).await;
        assert_eq!(
            (error.error_type(), error.to_string().as_str()),
            (error_type, message)
        );
    }
    assert_eq!(script.calls(), 0);

    let extension = ParametersConfig::from_vars([
        ("TERN_PARAMETERS_BACKEND", "extension"),
        ("AWS_SESSION_TOKEN", "token"),
        ("LIMITS_PATH", "/shop/limits"),
    ])
    .unwrap()
    .with_parameter(Parameter::ssm_path("limits", "LIMITS_PATH"));
    let ssm = layer::extension(&extension, 2773).unwrap();
    let error = ParametersLayer::load(extension, ssm).await.unwrap_err();
    assert_eq!(error.error_type(), "Parameters.Unsupported");
    assert_eq!(
        error.to_string(),
        "parameter `limits` cannot be read: it is read by path, which the Parameters and Secrets \
         Lambda Extension cannot do; use the SDK back-end (TERN_PARAMETERS_BACKEND=sdk)"
    );
}

/// A loopback server speaking the AppConfig agent's API: `GET
/// /applications/<a>/environments/<e>/configurations/<p>` answers the configuration with its
/// `Content-Type` and `Configuration-Version`, an unknown one 404.
struct FakeAgent {
    port: u16,
    configurations: Arc<Mutex<HashMap<String, (String, u32)>>>,
    requests: Arc<AtomicUsize>,
}

impl FakeAgent {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let configurations: Arc<Mutex<HashMap<String, (String, u32)>>> = Arc::default();
        let requests = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (configurations.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let request = read_request(&mut stream).await;
                counted.fetch_add(1, Ordering::SeqCst);
                let request = String::from_utf8(request).unwrap();
                let path = request.split(' ').nth(1).unwrap_or_default().to_owned();
                let found = served.lock().unwrap().get(&path).cloned();
                let answer = match found {
                    Some((body, version)) => format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         configuration-version: {version}\r\ncontent-length: {}\r\n\
                         connection: close\r\n\r\n{body}",
                        body.len()
                    ),
                    None => "HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\
                             connection: close\r\n\r\nnot found"
                        .to_owned(),
                };
                stream.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        Self {
            port,
            configurations,
            requests,
        }
    }

    fn deploy(&self, path: &str, body: &str) {
        let mut configurations = self.configurations.lock().unwrap();
        let version = configurations.get(path).map_or(1, |(_, v)| v + 1);
        configurations.insert(path.to_owned(), (body.to_owned(), version));
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn provider(&self) -> Provider {
        Provider {
            ssm: Ssm::Unused,
            appconfig: Some(Agent::with_endpoint(format!(
                "http://127.0.0.1:{}",
                self.port
            ))),
        }
    }
}

const FLAGS_PATH: &str = "/applications/shop/environments/prod/configurations/flags";

#[tokio::test]
async fn appconfig_through_the_agent_refreshes_once_per_poll_interval() {
    let agent = FakeAgent::start().await;
    agent.deploy(FLAGS_PATH, r#"{"max_items": 3}"#);
    let poll_interval = Duration::from_secs(1);
    let config = ParametersConfig::from_vars([("FLAGS_PROFILE", "shop/prod/flags")])
        .unwrap()
        .with_parameter(Parameter::appconfig("limits", "FLAGS_PROFILE").with_json::<Limits>())
        .with_appconfig_agent(agent.port, poll_interval);
    let policy = &config.settings;
    assert_eq!(
        policy.ttl,
        Duration::from_secs(300),
        "the SSM TTL is not AppConfig's"
    );
    let started = std::time::Instant::now();
    let parameters = Parameters::load(&config, agent.provider()).await.unwrap();
    assert_eq!(max_items(&parameters), 3);
    assert_eq!(parameters.get("limits").unwrap().version(), Some("1"));
    for _ in 0..50 {
        max_items(&parameters);
    }
    assert_eq!(
        agent.requests(),
        1,
        "reads within the poll interval cost no request"
    );

    agent.deploy(FLAGS_PATH, r#"{"max_items": 4}"#);
    tokio::time::sleep(poll_interval.saturating_sub(started.elapsed())).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while max_items(&parameters) != 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "the new deployment never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(parameters.get("limits").unwrap().version(), Some("2"));
    assert_eq!(agent.requests(), 2, "one refresh per poll interval");

    // A profile the agent does not have, and an agent that is not there.
    let missing = ParametersConfig::from_vars([("FLAGS_PROFILE", "shop/prod/none")])
        .unwrap()
        .with_parameter(Parameter::appconfig("flags", "FLAGS_PROFILE"));
    let error = load_error(&missing, agent.provider()).await;
    assert_eq!(error.error_type(), "Parameters.NotFound");
    assert_eq!(
        error.to_string(),
        format!(
            "parameter `shop/prod/none` (from `FLAGS_PROFILE`, declared as `flags`) was not found \
             (HTTP 404: the AppConfig agent at http://127.0.0.1:{} answered 404 Not Found: not \
             found); check that the variable holds the `application/environment/profile` of a \
             configuration deployed to that environment",
            agent.port
        )
    );
    let closed = closed_port().await;
    let absent = Provider {
        ssm: Ssm::Unused,
        appconfig: Some(Agent::with_endpoint(format!("http://127.0.0.1:{closed}"))),
    };
    let error = load_error(&config, absent).await;
    assert_eq!(error.error_type(), "Parameters.Unreachable");
    assert!(
        error.to_string().ends_with(
            "check that the AWS AppConfig Agent Lambda extension layer is attached and listens \
             on AWS_APPCONFIG_EXTENSION_HTTP_PORT (2772 by default)"
        ),
        "{error}"
    );
}
