//! What a team adopting the crates relies on: the README's dependency snippet builds as
//! written, its configuration reference lists exactly the variables tern reads, and the
//! minimal example's dependency tree has no AWS SDK and no TLS stack.

use std::{path::Path, process::Command};

use tern_runtime::env::names;
use tern_testkit::tools::workspace_root;

use crate::configuration::ALIASES;

fn readme() -> String {
    std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md")
}

/// The lines under `heading` (a whole line, such as `### Configuration reference`) up to the
/// next heading of its level or above; a `#` line inside a code block is not a heading.
fn section(markdown: &str, heading: &str) -> String {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let mut lines = markdown.lines().skip_while(|line| *line != heading);
    assert!(lines.next().is_some(), "README has no `{heading}` section");
    let mut in_code = false;
    let body: Vec<&str> = lines
        .take_while(|line| {
            in_code ^= line.starts_with("```");
            let hashes = line.chars().take_while(|c| *c == '#').count();
            in_code || hashes == 0 || hashes > level || !line[hashes..].starts_with(' ')
        })
        .collect();
    body.join("\n")
}

/// The first code block of `language` in `text` (its info string may add `,no_run`).
fn code_block(text: &str, language: &str) -> String {
    let mut lines = text.lines().skip_while(|line| {
        let info = line.strip_prefix("```").unwrap_or_default();
        info.split(',').next() != Some(language)
    });
    assert!(lines.next().is_some(), "no ```{language} block");
    let code: Vec<&str> = lines.take_while(|line| !line.starts_with("```")).collect();
    code.join("\n") + "\n"
}

fn cargo(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|err| panic!("cargo {args:?}: {err}"))
}

#[test]
fn the_readme_dependency_snippet_builds_as_written() {
    let readme = readme();
    let adopting = section(&readme, "## Using the crates in your own function");
    let manifest = code_block(&adopting, "toml");
    let main = code_block(&adopting, "rust");
    // The layout the README describes: tern cloned next to the function.
    let root = std::env::temp_dir().join(format!("tern-readme-{}", std::process::id()));
    let function = root.join("orders");
    std::fs::create_dir_all(function.join("src")).expect("create the function's folder");
    let tern = root.join("tern");
    if !tern.exists() {
        std::os::unix::fs::symlink(workspace_root(), &tern).expect("link tern next to it");
    }
    std::fs::write(function.join("Cargo.toml"), manifest).expect("write Cargo.toml");
    std::fs::write(function.join("src/main.rs"), main).expect("write src/main.rs");
    // The workspace's lock file, so that the build takes the versions tern is tested with
    // and needs no network (cargo drops the entries the function does not use).
    std::fs::copy(
        workspace_root().join("Cargo.lock"),
        function.join("Cargo.lock"),
    )
    .expect("copy Cargo.lock");
    let target = workspace_root().join("target/readme-snippet");
    let built = Command::new(env!("CARGO"))
        .args(["build", "--offline", "--quiet", "--target-dir"])
        .arg(&target)
        .current_dir(&function)
        // Without debug info or incremental state: a quicker build and a smaller target
        // directory; what compiles and links does not change.
        .env("CARGO_PROFILE_DEV_DEBUG", "false")
        .env("CARGO_INCREMENTAL", "0")
        .output()
        .expect("run cargo build");
    let _ = std::fs::remove_dir_all(&root);
    assert!(
        built.status.success(),
        "the README's snippet does not build:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    assert!(target.join("debug/orders").is_file(), "no binary `orders`");
}

#[test]
fn the_configuration_reference_lists_every_variable() {
    let readme = readme();
    let reference = section(&readme, "### Configuration reference");
    let mut listed: Vec<&str> = reference
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .collect();
    listed.sort_unstable();
    let mut expected: Vec<&str> = names::ALL.iter().copied().chain(ALIASES).collect();
    expected.sort_unstable();
    assert_eq!(listed, expected);
}

#[test]
fn the_minimal_example_links_no_aws_sdk_and_no_tls() {
    let tree = cargo(
        &[
            "tree",
            "--locked",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            "tern-example-batch-minimal",
        ],
        &workspace_root(),
    );
    let text = String::from_utf8_lossy(&tree.stdout);
    assert!(
        tree.status.success(),
        "{}",
        String::from_utf8_lossy(&tree.stderr)
    );
    let crates: Vec<&str> = text
        .lines()
        .filter_map(|line| line.split(' ').next())
        .collect();
    // What it must have, so that an empty or truncated tree cannot pass.
    for needed in [
        "tern-middleware",
        "tern-runtime",
        "lambda_runtime",
        "aws_lambda_events",
    ] {
        assert!(crates.contains(&needed), "{needed} missing from:\n{text}");
    }
    let forbidden: Vec<&&str> = crates
        .iter()
        .filter(|name| {
            matches!(**name, "aws-config" | "rustls" | "hyper-rustls")
                || name.starts_with("aws-sdk-")
                || name.starts_with("aws-smithy-")
        })
        .collect();
    assert!(forbidden.is_empty(), "{forbidden:?} in:\n{text}");
}
