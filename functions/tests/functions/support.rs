//! What the modules share: the `bootstrap` under test, the emulator running it against a
//! scenario's moto (directly or behind a [`FaultProxy`]), and readings of what it did.

use std::{
    path::PathBuf,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::Value;
use tern_testkit::{
    Emulator, EmulatorBuilder, Scenario, faults::FaultProxy, scenario::ORDERS_TABLE, tools,
};

/// How long a test waits for log lines it expects.
pub const LOG_WAIT: Duration = Duration::from_secs(10);

/// The `bootstrap` under test: `TERN_BOOTSTRAP` if set, else the one cargo built.
pub fn bootstrap() -> PathBuf {
    tools::bootstrap(env!("CARGO_BIN_EXE_bootstrap"))
}

/// The function `handler` with moto's endpoint and credentials and `env` (what the scenario's
/// `seed_*` methods return), not started yet: a test adds its own settings.
pub fn builder(scenario: &Scenario, handler: &str, env: Vec<(String, String)>) -> EmulatorBuilder {
    Emulator::builder(bootstrap())
        .handler(handler)
        .envs(scenario.function_env())
        .envs(env)
}

/// The function `handler` with moto's endpoint and credentials and `env`, running.
pub fn function(scenario: &Scenario, handler: &str, env: Vec<(String, String)>) -> Emulator {
    builder(scenario, handler, env).start()
}

/// The function `handler` with `env` and moto's credentials and region, its AWS endpoint
/// being `proxy` (in front of the scenario's moto), running.
pub fn behind(
    proxy: &FaultProxy,
    scenario: &Scenario,
    handler: &str,
    env: Vec<(String, String)>,
    timeout_secs: u32,
) -> Emulator {
    Emulator::builder(bootstrap())
        .handler(handler)
        .timeout_secs(timeout_secs)
        .envs(env)
        .envs(proxy.sdk_env(&scenario.moto))
        .start()
}

/// The runtime's `initialising handler` line (which handler, selected how, which runtime).
pub fn init_line(emulator: &Emulator) -> Value {
    emulator
        .wait_for_json_logs(LOG_WAIT, |lines| {
            lines.iter().any(|l| l["message"] == "initialising handler")
        })
        .into_iter()
        .find(|l| l["message"] == "initialising handler")
        .expect("init log line")
}

/// The ids of the orders in the orders table, sorted.
pub fn order_ids(scenario: &Scenario) -> Vec<String> {
    let mut ids: Vec<String> = scenario
        .table_items(ORDERS_TABLE)
        .iter()
        .map(|item| item["order_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Milliseconds since the Unix epoch (the unit of the idempotency lock's expiry).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Sleeps until `ms` milliseconds since the Unix epoch (returns at once if that has passed).
pub fn sleep_until_epoch_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms.saturating_sub(now_ms())));
}
