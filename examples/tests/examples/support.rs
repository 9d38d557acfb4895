//! What the example tests share: the binaries, the sample events, the emulator.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use tern_testkit::{Emulator, EmulatorBuilder, Scenario, tools::workspace_root};

/// The binary `tern-examples` builds from `examples/<name>/src/main.rs`.
macro_rules! example {
    ($name:literal) => {
        std::path::Path::new(env!(concat!("CARGO_BIN_EXE_example-", $name)))
    };
}
pub(crate) use example;

/// The example `examples/<name>/` built as a team builds it: its own package
/// (`tern-example-<name>`) alone, so with exactly the features its Cargo.toml names. The
/// [`example!`] binaries are built with the union of every example's dependencies and
/// features, which would hide a feature the example needs but does not name. Built into a
/// target directory of its own (cargo locks the one these tests run from), without debug info
/// or incremental state, as the README snippet's test builds.
pub fn example_with_own_features(name: &str) -> PathBuf {
    let package = format!("tern-example-{name}");
    let target = workspace_root().join("target/examples-own-features");
    let built = Command::new(env!("CARGO"))
        .args(["build", "--locked", "--offline", "--quiet", "--package"])
        .arg(&package)
        .arg("--bin")
        .arg(&package)
        .arg("--target-dir")
        .arg(&target)
        .current_dir(workspace_root())
        .env("CARGO_PROFILE_DEV_DEBUG", "false")
        .env("CARGO_INCREMENTAL", "0")
        .output()
        .unwrap_or_else(|err| panic!("cargo build --package {package}: {err}"));
    assert!(
        built.status.success(),
        "{package} does not build with its own features:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let binary = target.join("debug").join(&package);
    assert!(binary.is_file(), "no binary {}", binary.display());
    binary
}

/// `examples/<example>/events/<file>`, or for a path starting with `/`, that file of the
/// repository (`/events/sqs/1-orders.json`).
pub fn event(example: &str, file: &str) -> String {
    let path: PathBuf = match file.strip_prefix('/') {
        Some(in_repository) => workspace_root().join(in_repository),
        None => workspace_root()
            .join("examples")
            .join(example)
            .join("events")
            .join(file),
    };
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// An emulator for `binary` whose SDK talks to the scenario's moto.
pub fn with_moto(binary: &Path, scenario: &Scenario) -> EmulatorBuilder {
    Emulator::builder(binary).envs(scenario.function_env())
}

/// `{"batchItemFailures":[…]}` naming `ids`, as the function answers it.
pub fn failures(ids: &[&str]) -> String {
    let items: Vec<String> = ids
        .iter()
        .map(|id| format!(r#"{{"itemIdentifier":"{id}"}}"#))
        .collect();
    format!(r#"{{"batchItemFailures":[{}]}}"#, items.join(","))
}

/// Creates a table with a string partition key, and puts `items` (attribute → JSON value:
/// strings as S, numbers as N).
pub fn table_with(scenario: &Scenario, table: &str, key: &str, items: &[serde_json::Value]) {
    use aws_sdk_dynamodb::types::AttributeValue;
    scenario.create_table(table, key);
    let dynamodb = scenario.dynamodb();
    for item in items {
        let attributes = item
            .as_object()
            .expect("an item is a JSON object")
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    serde_json::Value::String(text) => AttributeValue::S(text.clone()),
                    serde_json::Value::Number(number) => AttributeValue::N(number.to_string()),
                    other => panic!("unsupported attribute value {other}"),
                };
                (name.clone(), value)
            })
            .collect();
        scenario.block_on(async {
            dynamodb
                .put_item()
                .table_name(table)
                .set_item(Some(attributes))
                .send()
                .await
                .expect("put item");
        });
    }
}

/// Waits until the function's JSON log has a line whose `message` is `message` and returns it.
pub fn log_line(function: &Emulator, message: &str, field: (&str, &str)) -> serde_json::Value {
    let lines = function.wait_for_json_logs(std::time::Duration::from_secs(10), |lines| {
        lines
            .iter()
            .any(|l| l["message"] == message && l[field.0] == field.1)
    });
    lines
        .into_iter()
        .find(|l| l["message"] == message && l[field.0] == field.1)
        .expect("the line waited for")
}

/// The batch layer's log line for a record whose handler failed: `error_type`, `reason`.
pub fn failed_record(function: &Emulator, record_id: &str) -> serde_json::Value {
    log_line(
        function,
        "record handler failed; the record is reported as a batch item failure",
        ("record_id", record_id),
    )
}

/// The batch layer's log line for a record that did not decode: `reason`.
pub fn poison_record(function: &Emulator, record_id: &str) -> serde_json::Value {
    log_line(
        function,
        "record does not decode into the handler's type (poison pill); it is reported as a \
         batch item failure",
        ("record_id", record_id),
    )
}

/// moto with an empty table (partition key `key`, S), and `binary` under the emulator with
/// `variable` naming the table.
pub fn with_table(
    binary: &Path,
    table: &str,
    key: &str,
    variable: &str,
) -> (Scenario, EmulatorBuilder) {
    let scenario = Scenario::start();
    scenario.create_table(table, key);
    let function = with_moto(binary, &scenario).env(variable, table);
    (scenario, function)
}
