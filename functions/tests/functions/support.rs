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

/// Environment: `(name, value)` pairs, as the scenario's `seed_*` methods return them.
pub type Env = Vec<(String, String)>;

/// The `bootstrap` under test: `TERN_BOOTSTRAP` if set, else the one cargo built.
pub fn bootstrap() -> PathBuf {
    tools::bootstrap(env!("CARGO_BIN_EXE_bootstrap"))
}

/// The function `handler` with moto's endpoint and credentials and `env` (what the scenario's
/// `seed_*` methods return), not started yet: a test adds its own settings.
pub fn builder(scenario: &Scenario, handler: &str, env: Env) -> EmulatorBuilder {
    Emulator::builder(bootstrap())
        .handler(handler)
        .envs(scenario.function_env())
        .envs(env)
}

/// The function `handler` with moto's endpoint and credentials and `env`, running.
pub fn function(scenario: &Scenario, handler: &str, env: Env) -> Emulator {
    builder(scenario, handler, env).start()
}

/// A scenario seeded by `seed` (a `seed_*` method) and the function `handler` on it, running
/// with the environment the seeding returned. Keep the scenario bound (`_scenario` where the
/// test does not read it): moto runs as long as it lives.
pub fn seeded(handler: &str, seed: impl FnOnce(&Scenario) -> Env) -> (Scenario, Emulator) {
    let scenario = Scenario::start();
    let env = seed(&scenario);
    let function = function(&scenario, handler, env);
    (scenario, function)
}

/// The function `handler` with `env` and moto's credentials and region, its AWS endpoint
/// being `proxy` (in front of the scenario's moto), running.
pub fn behind(
    proxy: &FaultProxy,
    scenario: &Scenario,
    handler: &str,
    env: Env,
    timeout_secs: u32,
) -> Emulator {
    at_endpoint(proxy.endpoint(), scenario, handler, env, timeout_secs)
}

/// The function `handler` with `env` and moto's credentials and region, its AWS endpoint
/// being `endpoint`, running.
pub fn at_endpoint(
    endpoint: &str,
    scenario: &Scenario,
    handler: &str,
    env: Env,
    timeout_secs: u32,
) -> Emulator {
    Emulator::builder(bootstrap())
        .handler(handler)
        .timeout_secs(timeout_secs)
        .envs(env)
        .envs(with_endpoint(&scenario.moto.sdk_env(), endpoint))
        .start()
}

/// `env` with the AWS endpoint (`AWS_ENDPOINT_URL`) replaced by `endpoint`.
pub fn with_endpoint(env: &[(String, String)], endpoint: &str) -> Env {
    env.iter()
        .map(|(key, value)| {
            let value = if key == "AWS_ENDPOINT_URL" {
                endpoint.to_owned()
            } else {
                value.clone()
            };
            (key.clone(), value)
        })
        .collect()
}

/// A scenario, the environment `seed` gives it (a `seed_*` method, or several), and a
/// [`FaultProxy`] in front of its moto.
pub fn proxied(seed: impl FnOnce(&Scenario) -> Env) -> (Scenario, Env, FaultProxy) {
    let scenario = Scenario::start();
    let env = seed(&scenario);
    let proxy = FaultProxy::start(&scenario.moto.endpoint());
    (scenario, env, proxy)
}

/// The `s3` function's buckets, objects and routing rules, and the idempotency table.
pub fn seed_s3_idempotent(scenario: &Scenario) -> Env {
    let mut env = scenario.seed_s3();
    env.extend(scenario.seed_idempotency());
    env
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
