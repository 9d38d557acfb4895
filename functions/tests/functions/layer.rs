//! The layer as Lambda uses it: the zip unpacked into an `/opt`-like directory, its
//! `bootstrap` run by the emulator, the handler chosen by `_HANDLER`.
//!
//! `make test` passes the zip `make layer` built (`TERN_LAYER_ZIP`); without it the test zips
//! the bootstrap under test the same way, so it always runs.

use std::{path::PathBuf, process::Command};

use tern_testkit::{Emulator, Scenario, tools};

use crate::support::{bootstrap, init_line};

fn layer_zip(scratch: &std::path::Path) -> PathBuf {
    if let Some(zip) = std::env::var_os("TERN_LAYER_ZIP") {
        return PathBuf::from(zip);
    }
    let stage = scratch.join("stage");
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::copy(bootstrap(), stage.join("bootstrap")).unwrap();
    let zip = scratch.join("layer.zip");
    let status = Command::new("zip")
        .current_dir(&stage)
        .args(["-q", "-X"])
        .arg(&zip)
        .arg("bootstrap")
        .status()
        .expect("zip");
    assert!(status.success());
    zip
}

#[test]
fn the_unpacked_layer_serves_every_handler_by_handler_name() {
    let scratch = std::env::temp_dir().join(format!("tern-layer-test-{}", std::process::id()));
    let opt = scratch.join("opt");
    std::fs::create_dir_all(&opt).unwrap();
    let zip = layer_zip(&scratch);
    let status = Command::new("unzip")
        .args(["-q", "-o"])
        .arg(&zip)
        .arg("-d")
        .arg(&opt)
        .status()
        .expect("unzip");
    assert!(status.success());
    let bootstrap = opt.join("bootstrap");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&bootstrap).unwrap().permissions(),
    );
    assert_eq!(
        mode & 0o755,
        0o755,
        "bootstrap must be executable in the layer"
    );

    let scenario = Scenario::start();
    let env = scenario.seed_every_handler();
    for handler in tools::HANDLERS {
        let function = Emulator::builder(&bootstrap)
            .handler(handler)
            .envs(scenario.function_env())
            .envs(env.clone())
            .start();
        let answer = function.invoke(tools::first_event(handler));
        assert_eq!(answer.status, 200, "{handler}: {}", answer.body);
        assert_eq!(answer.error_type(), None, "{handler}: {}", answer.body);
        let init = init_line(&function);
        assert_eq!(init["handler"], handler);
        assert_eq!(init["selected_by"], "_HANDLER");
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
