//! `make demo`: invokes every registered handler through the Lambda Runtime Interface Emulator
//! with the sample events in `events/<handler>/`, and prints each response.
//!
//! Usage: `demo [BOOTSTRAP]` (default: `$TERN_BOOTSTRAP`).

use std::{path::PathBuf, process::ExitCode};

use tern_testkit::{Emulator, tools};

/// Handlers the demo runs, in order.
const HANDLERS: &[&str] = &["echo"];

fn main() -> ExitCode {
    let Some(bootstrap) = std::env::args_os()
        .nth(1)
        .or_else(|| std::env::var_os("TERN_BOOTSTRAP"))
        .map(PathBuf::from)
    else {
        eprintln!("usage: demo BOOTSTRAP (or set TERN_BOOTSTRAP); `make demo` does this for you");
        return ExitCode::FAILURE;
    };
    let events_root = tools::workspace_root().join("events");
    println!(
        "tern demo: {} through the Lambda Runtime Interface Emulator",
        bootstrap.display()
    );

    let mut failures = 0;
    for handler in HANDLERS {
        let dir = events_root.join(handler);
        let mut events: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect(),
            Err(err) => {
                eprintln!("cannot read {}: {err}", dir.display());
                failures += 1;
                continue;
            }
        };
        events.sort();

        println!(
            "\n== {handler} ({} events from events/{handler}/) ==",
            events.len()
        );
        let emulator = Emulator::builder(&bootstrap)
            .handler(handler)
            .function_name(format!("tern-demo-{handler}"))
            .start();
        for event in &events {
            let payload = match std::fs::read(event) {
                Ok(payload) => payload,
                Err(err) => {
                    eprintln!("cannot read {}: {err}", event.display());
                    failures += 1;
                    continue;
                }
            };
            let answer = emulator.invoke(&payload);
            let name = event.file_name().unwrap_or_default().to_string_lossy();
            let kind = match answer.error_type() {
                Some(error_type) => format!("error {error_type}"),
                None => "ok".to_owned(),
            };
            println!(
                "{name:<22} {:>3} {kind:<44} {}",
                answer.status,
                answer.body.trim_end()
            );
            if answer.status != 200 {
                failures += 1;
            }
        }
        let pid = emulator.runtime_pid();
        println!(
            "runtime process {} served every event without restarting",
            pid.map_or("?".into(), |p| p.to_string())
        );
    }
    if failures > 0 {
        eprintln!("\n{failures} demo step(s) failed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
