//! Every configuration variable tern documents, each given a value it cannot use (or, for a
//! required one, none), through the configuration that reads it: the errorType and the exact
//! message. Table-driven over `tern_runtime::env::names::ALL` and the aliases, so a variable
//! added without a case here fails the test.

use std::time::Duration;

use serde_json::json;
use tern_middleware::{
    batch::BatchConfig, idempotency::IdempotencyConfig, metrics::MetricsConfig,
    parameters::ParametersConfig, secrets::SecretsConfig,
};
use tern_runtime::{InitError, InvocationLayer, RuntimeFlavor, env::names};
use tern_testkit::Emulator;

use crate::support::{event, example};

const INVALID: &str = "Runtime.InvalidEnvironmentVariable";
const MISSING: &str = "Runtime.MissingEnvironmentVariable";

/// The variables besides `names::ALL` that tern reads: Powertools' names for the metrics
/// settings, and the Parameters and Secrets Lambda Extension's port.
pub const ALIASES: [&str; 4] = [
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_DISABLED",
    "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
];

/// Which configuration reads a variable.
#[derive(Debug, Clone, Copy)]
enum Reader {
    Runtime,
    /// The per-invocation settings (SDK deadline margin, sampling, buffering, correlation),
    /// for a handler that takes any JSON.
    Invocation,
    Batch,
    Idempotency,
    Secrets,
    Parameters,
    Metrics,
}

/// Reads `vars` through `reader`; the error, if any.
fn read(reader: Reader, vars: &[(&str, String)]) -> Option<InitError> {
    let vars = vars.iter().map(|(k, v)| (*k, v.clone()));
    match reader {
        Reader::Runtime => RuntimeFlavor::from_vars(vars).err(),
        Reader::Invocation => InvocationLayer::from_vars::<serde_json::Value, _, _, _>(vars).err(),
        Reader::Batch => BatchConfig::from_vars(vars).err(),
        Reader::Idempotency => IdempotencyConfig::from_vars(vars).err(),
        Reader::Secrets => SecretsConfig::from_vars(vars).err(),
        Reader::Parameters => ParametersConfig::from_vars(vars).err(),
        Reader::Metrics => MetricsConfig::from_vars(vars).err(),
    }
}

struct Case {
    name: &'static str,
    /// The value tried; `None` leaves the variable unset.
    value: Option<String>,
    reader: Reader,
    /// Variables the reader needs to get as far as `name` (e.g. the metrics namespace).
    context: &'static [(&'static str, &'static str)],
    error_type: &'static str,
    message: String,
}

fn invalid(name: &'static str, value: &str, reader: Reader, reason: &str) -> Case {
    Case {
        name,
        value: Some(value.to_owned()),
        reader,
        context: &[],
        error_type: INVALID,
        message: format!("environment variable `{name}` is invalid: `{value}` {reason}"),
    }
}

fn with_namespace(mut case: Case) -> Case {
    case.context = &[(names::METRICS_NAMESPACE, "Shop")];
    case
}

fn cases() -> Vec<Case> {
    use Reader::*;
    let long_service = "s".repeat(1025);
    let quoted_service = format!("{}…", "s".repeat(40));
    let service_too_long = |name: &'static str| {
        let mut case = invalid(name, &quoted_service, Metrics, "");
        case.value = Some(long_service.clone());
        case.message = format!(
            "environment variable `{name}` is invalid: `{quoted_service}` is longer than the \
             1024 characters of a CloudWatch dimension value; use a shorter service name"
        );
        with_namespace(case)
    };
    vec![
        invalid(
            names::TOKIO_RUNTIME,
            "fast",
            Runtime,
            "is not one of the choices; use `current_thread` or `multi_thread`",
        ),
        invalid(
            names::AWS_DEADLINE_MARGIN_MS,
            "0.1s",
            Invocation,
            "is not a whole number of milliseconds; use a whole number of milliseconds from 0 to 900000",
        ),
        invalid(
            names::LOG_SAMPLE_RATE,
            "10%",
            Invocation,
            "is not a number; use a number from 0 to 1, e.g. `0.1`",
        ),
        invalid(
            names::LOG_BUFFER,
            "on",
            Invocation,
            "is not one of the choices; use `true` or `false`",
        ),
        invalid(
            names::LOG_BUFFER_MAX_BYTES,
            "0",
            Invocation,
            "is out of range; use a whole number from 1 to 16777216",
        ),
        invalid(
            names::LOG_CORRELATION_ID_POINTER,
            "detail.id",
            Invocation,
            "is not a JSON Pointer; a JSON Pointer starts with `/` (RFC 6901), e.g. `/detail/id`",
        ),
        invalid(
            names::LOG_CORRELATION_ID_ATTRIBUTE,
            "AWS.TraceHeader",
            Invocation,
            "is not an SQS message attribute name; use up to 256 letters, digits, `_`, `-` and `.` (not starting or ending with `.`, no `..`, not starting with `AWS.` or `Amazon.`)",
        ),
        invalid(
            names::PARAMETERS_TTL_SECONDS,
            "0",
            Parameters,
            "is out of range; use a whole number of seconds from 1 to 18446744073709551615",
        ),
        invalid(
            names::PARAMETERS_GRACE_SECONDS,
            "1d",
            Parameters,
            "is not a whole number of seconds; use a whole number of seconds from 0 to 18446744073709551615",
        ),
        invalid(
            names::PARAMETERS_BACKEND,
            "appconfig",
            Parameters,
            "is not one of the choices; use `sdk` or `extension`",
        ),
        invalid(
            names::BATCH_CONCURRENCY,
            "four",
            Batch,
            "is not a whole number; use a whole number from 1 to 10000",
        ),
        invalid(
            names::BATCH_SAFETY_MARGIN_MS,
            "1s",
            Batch,
            "is not a whole number of milliseconds; use a whole number of milliseconds from 0 \
             to 900000",
        ),
        invalid(
            names::BATCH_ABANDON_MARGIN_MS,
            "900001",
            Batch,
            "is out of range; use a whole number of milliseconds from 0 to 900000",
        ),
        invalid(
            names::BATCH_FAILURE_SCOPE,
            "shard",
            Batch,
            "is not one of the choices; use `key` or `batch`",
        ),
        invalid(
            names::BATCH_ALL_FAILED,
            "ignore",
            Batch,
            "is not one of the choices; use `error` or `report`",
        ),
        invalid(
            names::IDEMPOTENCY_TABLE,
            "orders idempotency",
            Idempotency,
            "is not a DynamoDB table name; use 3 to 255 letters, digits, `_`, `-` or `.`, or \
             the table's ARN",
        ),
        invalid(
            names::IDEMPOTENCY_EXPIRES_SECONDS,
            "1h",
            Idempotency,
            "is not a whole number of seconds; use a whole number of seconds from 1 to \
             18446744073709551615",
        ),
        invalid(
            names::IDEMPOTENCY_LOCAL_CACHE_SIZE,
            "-1",
            Idempotency,
            "is out of range; use a whole number from 0 to 1000000",
        ),
        invalid(
            names::IDEMPOTENCY_MAX_RESPONSE_BYTES,
            "400KB",
            Idempotency,
            "is not a whole number; use a whole number from 0 to 18446744073709551615",
        ),
        invalid(
            names::IDEMPOTENCY_EVENT_KEY,
            "/order~id",
            Idempotency,
            "is not a valid JSON Pointer: the `~` at byte 6 is not followed by `0` or `1`; \
             write a JSON Pointer such as `/body/order_id` (`~0` for `~`, `~1` for `/`)",
        ),
        invalid(
            names::SECRETS_TTL_SECONDS,
            "0",
            Secrets,
            "is out of range; use a whole number of seconds from 1 to 18446744073709551615",
        ),
        invalid(
            names::SECRETS_GRACE_SECONDS,
            "5m",
            Secrets,
            "is not a whole number of seconds; use a whole number of seconds from 0 to \
             18446744073709551615",
        ),
        invalid(
            names::SECRETS_BACKEND,
            "ssm",
            Secrets,
            "is not one of the choices; use `sdk` or `extension`",
        ),
        Case {
            context: &[(names::SECRETS_BACKEND, "extension")],
            ..invalid(
                "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
                "70000",
                Secrets,
                "is out of range; use a whole number from 1 to 65535",
            )
        },
        Case {
            name: names::METRICS_NAMESPACE,
            value: None,
            reader: Metrics,
            context: &[],
            error_type: MISSING,
            message: "environment variable `TERN_METRICS_NAMESPACE` is not set; it must hold \
                      the CloudWatch namespace of the function's metrics (or set \
                      POWERTOOLS_METRICS_NAMESPACE)"
                .to_owned(),
        },
        invalid(
            names::METRICS_NAMESPACE,
            "AWS/Lambda",
            Metrics,
            "is reserved for AWS services; use a namespace that does not start with `AWS/`",
        ),
        invalid(
            "POWERTOOLS_METRICS_NAMESPACE",
            "Shop|Checkout",
            Metrics,
            "is not a CloudWatch namespace; use up to 255 letters, digits, spaces and \
             `. - _ / # :`",
        ),
        service_too_long(names::METRICS_SERVICE),
        service_too_long("POWERTOOLS_SERVICE_NAME"),
        with_namespace(invalid(
            names::METRICS_DISABLED,
            "yes",
            Metrics,
            "is not one of the choices; use `true` or `false`",
        )),
        with_namespace(invalid(
            "POWERTOOLS_METRICS_DISABLED",
            "1",
            Metrics,
            "is not one of the choices; use `true` or `false`",
        )),
    ]
}

#[test]
fn every_documented_variable_names_itself_and_what_it_accepts() {
    let cases = cases();
    let mut documented: Vec<&str> = names::ALL.iter().copied().chain(ALIASES).collect();
    documented.sort_unstable();
    let mut covered: Vec<&str> = cases.iter().map(|case| case.name).collect();
    covered.sort_unstable();
    covered.dedup();
    assert_eq!(
        covered, documented,
        "every variable needs a case, and only those"
    );

    for case in &cases {
        let mut vars: Vec<(&str, String)> = case
            .context
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect();
        vars.extend(case.value.clone().map(|value| (case.name, value)));
        let error = read(case.reader, &vars)
            .unwrap_or_else(|| panic!("{} = {:?} was accepted", case.name, case.value));
        assert_eq!(error.error_type(), case.error_type, "{}", case.name);
        assert_eq!(error.to_string(), case.message, "{}", case.name);
    }
}

/// The same errors reach Lambda: reported to the Runtime API's `/runtime/init/error`, which
/// the emulator answers the invocation with.
#[test]
fn bad_variables_fail_init_through_the_runtime_api() {
    let orders = event("batch-minimal", "/events/sqs/1-orders.json");
    for (name, value, message) in [
        (
            names::TOKIO_RUNTIME,
            "fast",
            "environment variable `TERN_TOKIO_RUNTIME` is invalid: `fast` is not one of the \
             choices; use `current_thread` or `multi_thread`",
        ),
        (
            names::BATCH_CONCURRENCY,
            "four",
            "environment variable `TERN_BATCH_CONCURRENCY` is invalid: `four` is not a whole \
             number; use a whole number from 1 to 10000",
        ),
    ] {
        let function = Emulator::builder(example!("batch-minimal"))
            .env(name, value)
            .start();
        let answer = function.invoke(&orders);
        assert_eq!(
            answer.json(),
            json!({"errorType": INVALID, "errorMessage": message}),
            "{name}"
        );
        // The runtime reported it at init, and the emulator saw the init fail. Both lines
        // reach the logs asynchronously, possibly after the answer: wait for each.
        let logged = crate::support::log_line(
            &function,
            &format!("init failed: {message}"),
            ("error_type", INVALID),
        );
        assert_eq!(logged["level"], "ERROR");
        function.wait_for_logs(Duration::from_secs(10), |logs| {
            logs.contains("INIT RTDONE(status: error)")
        });
    }
}
