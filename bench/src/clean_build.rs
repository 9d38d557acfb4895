//! What a function costs to build and ship: a release build from an empty target directory,
//! timed, and the size of the binary it produces.
//!
//! Both functions compared are workspace packages with only their own dependencies
//! (`bench/bare` and `examples/batch-minimal`), so they build with the same lock file, the same
//! release profile (`strip = "symbols"`: the binary is stripped) and no `RUSTFLAGS`. Rounds
//! alternate the functions, so a busy stretch of a shared machine hits both.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use crate::stats::Samples;

/// A function to build: a label for the tables, its package and its binary.
#[derive(Debug, Clone)]
pub struct Function {
    /// How the tables name it.
    pub label: &'static str,
    /// The Cargo package.
    pub package: &'static str,
    /// The binary the package builds.
    pub bin: &'static str,
}

/// The measurements of one function over the rounds.
#[derive(Debug, Default)]
pub struct Measured {
    /// Size of the stripped release binary, in bytes (the same every round).
    pub size: u64,
    /// Wall time of each clean build, in seconds.
    pub wall_s: Samples,
    /// CPU time (user + system, the compiler processes included) of each clean build, seconds.
    pub cpu_s: Samples,
}

/// Builds each of `functions` `rounds` times, alternating, each time in an emptied
/// `<dir>/<package>` (removed afterwards).
///
/// # Panics
/// If a build fails or produces no binary.
pub fn measure(functions: &[Function], rounds: usize, dir: &Path) -> Vec<Measured> {
    let mut measured: Vec<Measured> = functions.iter().map(|_| Measured::default()).collect();
    for round in 0..rounds {
        for (function, out) in functions.iter().zip(&mut measured) {
            let target = dir.join(function.package);
            let _ = std::fs::remove_dir_all(&target);
            let cpu_before = children_cpu_seconds();
            let started = Instant::now();
            let status = Command::new("cargo")
                .args(["build", "--release", "--locked", "--quiet", "--package"])
                .arg(function.package)
                .arg("--target-dir")
                .arg(&target)
                .current_dir(tern_testkit::tools::workspace_root())
                // Both are built as the profile says, whatever the caller's shell sets.
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS")
                .env_remove("CARGO_BUILD_RUSTFLAGS")
                .status()
                .unwrap_or_else(|err| panic!("run cargo build for {}: {err}", function.package));
            assert!(status.success(), "building {} failed", function.package);
            out.wall_s.push(started.elapsed().as_secs_f64());
            out.cpu_s.push(children_cpu_seconds() - cpu_before);
            let binary: PathBuf = target.join("release").join(function.bin);
            out.size = std::fs::metadata(&binary)
                .unwrap_or_else(|err| panic!("{}: {err}", binary.display()))
                .len();
            let _ = std::fs::remove_dir_all(&target);
            eprintln!(
                "  clean build {}/{rounds}: {} in {:.0} s",
                round + 1,
                function.package,
                out.wall_s.values().last().copied().unwrap_or_default()
            );
        }
    }
    measured
}

/// User and system time of every child process waited for so far (and of their own waited-for
/// children: cargo's rustc processes), in seconds.
fn children_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
