//! Container images of the bootstrap: the engine that runs them, and a TLS front for moto
//! that proves an image's CA bundle is the one the AWS SDK trusts.
//!
//! | what | override | default |
//! |---|---|---|
//! | engine command line | `TERN_CONTAINER` | `podman` with [`PODMAN_FLAGS`] |
//! | the image under test | `TERN_IMAGE` | `tern-bootstrap:latest` (what `make image` builds) |

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use crate::{free_port, process::ManagedProcess, tools};

/// podman's global flags on machines without systemd or overlayfs (these sandboxes, most CI
/// runners): the same flags the Makefile uses, so tests see the images `make image` built.
pub const PODMAN_FLAGS: [&str; 6] = [
    "--storage-driver",
    "vfs",
    "--cgroup-manager",
    "cgroupfs",
    "--runtime",
    "runc",
];

/// Flags for every `run`: the sandbox's hard limits are below podman's defaults.
pub const RUN_FLAGS: [&str; 4] = [
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];

/// A command for the container engine: `TERN_CONTAINER` split on whitespace (e.g. `docker`),
/// else `podman` with [`PODMAN_FLAGS`].
pub fn engine() -> Command {
    match std::env::var("TERN_CONTAINER") {
        Ok(line) if !line.trim().is_empty() => {
            let mut words = line.split_whitespace();
            let mut command = Command::new(words.next().expect("a non-empty command line"));
            command.args(words);
            command
        }
        _ => {
            let mut command = Command::new("podman");
            command.args(PODMAN_FLAGS);
            command
        }
    }
}

/// Runs an engine subcommand to completion; returns its stdout.
///
/// # Panics
/// If the engine cannot be started or the subcommand fails (with its stderr).
pub fn run(args: &[&str]) -> String {
    let mut command = engine();
    command.args(args);
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("cannot run the container engine ({command:?}): {err}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The image under test: `TERN_IMAGE`, else `tern-bootstrap:latest`.
///
/// # Panics
/// If the engine does not have it, saying how to build it.
pub fn image() -> String {
    let image = std::env::var("TERN_IMAGE").unwrap_or_else(|_| "tern-bootstrap:latest".into());
    let mut command = engine();
    command.args(["image", "inspect", &image]);
    let present = command.output().is_ok_and(|output| output.status.success());
    assert!(
        present,
        "image {image} not found by {command:?}. Run `make image` (or `make test`, which \
         builds it), or point TERN_IMAGE at an image of the bootstrap"
    );
    image
}

/// The image's size in bytes, as the engine reports it (the uncompressed layers).
pub fn image_size(image: &str) -> u64 {
    let size = run(&["image", "inspect", "--format", "{{.Size}}", image]);
    size.trim()
        .parse()
        .unwrap_or_else(|err| panic!("image size {size:?} is not a number: {err}"))
}

/// Builds `tag` from `containerfile` with `context` as the build context.
pub fn build(tag: &str, containerfile: &Path, context: &Path) {
    run(&[
        "build",
        "--quiet",
        "--tag",
        tag,
        "--file",
        &containerfile.display().to_string(),
        &context.display().to_string(),
    ]);
}

/// A container name owned by a test; the container is force-removed on drop (killing a
/// `run` client does not always stop its container).
#[derive(Debug)]
pub struct Container {
    name: String,
}

impl Container {
    /// A unique name starting with `tern-<prefix>-`.
    pub fn named(prefix: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self {
            name: format!("tern-{prefix}-{}-{n}", std::process::id()),
        }
    }

    /// The name to pass to `run --name`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = engine()
            .args(["rm", "--force", "--time", "0", &self.name])
            .output();
    }
}

/// A TLS listener on loopback that forwards to a plain-HTTP server (moto), with a certificate
/// from a throwaway CA (`tools/tls_front.py`, run with the virtualenv's Python). A client
/// reaches the server through it only if it trusts [`TlsFront::ca_pem`].
pub struct TlsFront {
    port: u16,
    dir: PathBuf,
    process: ManagedProcess,
}

impl TlsFront {
    /// Starts a front for `127.0.0.1:upstream_port`; waits until it listens.
    pub fn start(upstream_port: u16) -> Self {
        let port = free_port();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tern-tls-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut command = Command::new(tools::venv().join("bin").join("python"));
        command
            .arg(tools::workspace_root().join("tools").join("tls_front.py"))
            .arg("--upstream")
            .arg(format!("127.0.0.1:{upstream_port}"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--out")
            .arg(&dir)
            .env("PYTHONUNBUFFERED", "1");
        let process = ManagedProcess::spawn("tls-front", command);
        let front = Self { port, dir, process };
        let ready = front
            .process
            .output
            .wait_for(Duration::from_secs(30), |out| out.contains("ready "));
        assert!(
            ready.is_some(),
            "the TLS front did not start:\n{}",
            front.logs()
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while !front.ca_pem().is_file() {
            assert!(Instant::now() < deadline, "the TLS front wrote no ca.pem");
            std::thread::sleep(Duration::from_millis(20));
        }
        front
    }

    /// `https://localhost:<port>`: by name, so a client also proves it resolves host names
    /// (from `/etc/hosts`, which container engines provide).
    pub fn endpoint(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// The test CA's certificate (PEM).
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// What the front printed (e.g. `handshake failed: …` for a client that does not trust it).
    pub fn logs(&self) -> String {
        self.process.output.snapshot()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
