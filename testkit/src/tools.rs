//! Where the external tools are: the project's virtualenv, or explicit overrides.
//!
//! | tool | override | default |
//! |---|---|---|
//! | virtualenv | `TERN_VENV` | `<workspace>/.venv` |
//! | `moto_server` | — | `<venv>/bin/moto_server` |
//! | Runtime Interface Emulator | `TERN_RIE` | `<venv>/lib/python3.*/site-packages/samcli/local/rapid/aws-lambda-rie-<arch>` |
//! | `bootstrap` under test | `TERN_BOOTSTRAP` | the caller's choice (usually `CARGO_BIN_EXE_bootstrap`) |

use std::path::{Path, PathBuf};

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives one level below the workspace root")
        .to_path_buf()
}

/// The project's Python virtualenv.
pub fn venv() -> PathBuf {
    std::env::var_os("TERN_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv"))
}

fn missing(what: &str, looked: &Path) -> ! {
    panic!(
        "{what} not found at {}. Run `make venv` (or `make test`) to install the pinned tools \
         into .venv, or point TERN_VENV at a virtualenv that has them",
        looked.display()
    )
}

/// `moto_server` from the virtualenv.
pub fn moto_server() -> PathBuf {
    let path = venv().join("bin").join("moto_server");
    if !path.is_file() {
        missing("moto_server", &path);
    }
    path
}

/// The Runtime Interface Emulator binary for this machine's architecture.
pub fn rie() -> PathBuf {
    if let Some(path) = std::env::var_os("TERN_RIE") {
        return PathBuf::from(path);
    }
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "x86_64",
    };
    let lib = venv().join("lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
            .map(|e| {
                e.path()
                    .join("site-packages/samcli/local/rapid")
                    .join(format!("aws-lambda-rie-{arch}"))
            })
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| missing("the Runtime Interface Emulator (aws-sam-cli)", &lib))
}

/// The `bootstrap` to test: `TERN_BOOTSTRAP` if set (e.g. the `cargo lambda build --release`
/// artifact), else `default` (e.g. `env!("CARGO_BIN_EXE_bootstrap")`).
pub fn bootstrap(default: &str) -> PathBuf {
    let path = std::env::var_os("TERN_BOOTSTRAP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(path.is_file(), "bootstrap not found at {}", path.display());
    path
}

/// A sample event, `events/<handler>/<name>`, as text.
///
/// # Panics
/// If the file cannot be read.
pub fn event(handler: &str, name: &str) -> String {
    let path = workspace_root().join("events").join(handler).join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// The handlers the `bootstrap` hosts, each with sample events under `events/<handler>/`.
pub const HANDLERS: [&str; 7] = ["echo", "s3", "sqs", "sns", "kinesis", "kafka", "api"];

/// A handler's first sample event (`events/<handler>/1-*`, the first by name), as text: an
/// event every handler answers without an error once its [`Scenario`](crate::Scenario) seeds.
///
/// # Panics
/// If there is none.
pub fn first_event(handler: &str) -> String {
    let dir = workspace_root().join("events").join(handler);
    let mut events: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('1'))
        })
        .collect();
    events.sort();
    let first = events
        .first()
        .unwrap_or_else(|| panic!("no 1-* event in {}", dir.display()));
    std::fs::read_to_string(first)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", first.display()))
}
