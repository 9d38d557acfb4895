//! The container image as Lambda runs it: `make image` builds it (Dockerfile, default target);
//! here it runs under podman (or `TERN_CONTAINER`) with the official emulator mounted in as
//! the entrypoint, the handler chosen by CMD (the bootstrap's first argument).
//!
//! The image under test is `TERN_IMAGE` (default `tern-bootstrap:latest`); `make test` builds
//! it first. Without it these tests fail and say how to build it.

use serde_json::json;
use tern_testkit::{
    Emulator, Scenario,
    container::{self, TlsFront},
    scenario::NOTIFICATIONS_TABLE,
    tools,
};

use crate::support::{Env, init_line, with_endpoint};

/// Where the Dockerfile's minimal target puts the bootstrap.
const BOOTSTRAP_IN_IMAGE: &str = "/bootstrap";

/// The fence against growth of the minimal image (decimal megabytes), as `make image` has it
/// (`IMAGE_MAX_BYTES`): BENCHMARKS.md's 10 MB target is missed since the bootstrap also hosts
/// kafka and the HTTP handlers, reads SSM parameters and bounds SDK calls by the deadline.
const MAX_IMAGE_BYTES: u64 = 13_000_000;

/// A function from `image` running `handler`, talking to moto through `env`.
fn function(image: &str, handler: &str, env: &[(String, String)]) -> Emulator {
    Emulator::builder(BOOTSTRAP_IN_IMAGE)
        .in_container(image)
        .arg(handler)
        .envs(env.iter().cloned())
        .start()
}

/// The image, a scenario seeded by `seed` (a `seed_*` method), and the environment of a
/// function in the image on it: moto's endpoint and credentials and what the seeding returned.
/// Keep the scenario bound: moto runs as long as it lives.
fn image_on(seed: impl FnOnce(&Scenario) -> Env) -> (String, Scenario, Env) {
    let image = container::image();
    let scenario = Scenario::start();
    let mut env = scenario.function_env();
    env.extend(seed(&scenario));
    (image, scenario, env)
}

#[test]
fn the_minimal_image_is_small_and_holds_only_the_bootstrap_and_the_ca_bundle() {
    let image = container::image();

    let config = container::run(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Entrypoint}} {{json .Config.Cmd}}",
        &image,
    ]);
    assert_eq!(config.trim(), r#"["/bootstrap"] ["sqs"]"#);
    // The bundle is named, so the runtime parses it once at init (see the Dockerfile).
    let env = container::run(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Env}}",
        &image,
    ]);
    let env: Vec<String> = serde_json::from_str(env.trim()).unwrap();
    assert!(
        env.iter()
            .any(|var| var == "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"),
        "{env:?}"
    );

    // The image's files, listed from an exported (never started) container.
    let holder = container::Container::named("files");
    container::run(&["create", "--name", holder.name(), &image]);
    let scratch = std::env::temp_dir().join(format!("tern-image-files-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let tar = scratch.join("rootfs.tar");
    container::run(&[
        "export",
        "--output",
        &tar.display().to_string(),
        holder.name(),
    ]);
    let listing = std::process::Command::new("tar")
        .arg("-tvf")
        .arg(&tar)
        .output()
        .expect("tar");
    assert!(listing.status.success());
    let listing = String::from_utf8(listing.stdout).unwrap();
    // `perms owner size date time path`; Docker adds empty mount points (/.dockerenv,
    // /etc/hosts, …) to an exported rootfs, so only files with content count.
    let mut files: Vec<(String, String)> = listing
        .lines()
        .filter(|line| line.starts_with('-'))
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|fields| fields.len() >= 6 && fields[2] != "0")
        .map(|fields| {
            let path = fields[fields.len() - 1].trim_start_matches("./");
            (path.to_owned(), fields[0].to_owned())
        })
        .collect();
    files.sort();
    let _ = std::fs::remove_dir_all(&scratch);
    assert_eq!(
        files
            .iter()
            .map(|(path, mode)| (path.as_str(), mode.as_str()))
            .collect::<Vec<_>>(),
        [
            ("bootstrap", "-rwxr-xr-x"),
            ("etc/ssl/certs/ca-certificates.crt", "-rw-r--r--"),
        ]
    );

    let size = container::image_size(&image);
    assert!(
        size <= MAX_IMAGE_BYTES,
        "{image} is {size} bytes, over the {MAX_IMAGE_BYTES}-byte limit"
    );
}

#[test]
fn the_image_serves_every_handler_with_the_emulator_mounted_in() {
    let (image, _scenario, env) = image_on(Scenario::seed_every_handler);
    for handler in tools::HANDLERS {
        let function = function(&image, handler, &env);
        let answer = function.invoke(tools::first_event(handler));
        assert_eq!(answer.status, 200, "{handler}: {}", answer.body);
        assert_eq!(answer.error_type(), None, "{handler}: {}", answer.body);
        let init = init_line(&function);
        assert_eq!(init["handler"], handler, "{}", function.logs());
        assert_eq!(init["selected_by"], "the first command-line argument");
    }
}

/// The SDK in the image verifies TLS against the image's bundle: through a TLS front whose
/// certificate comes from a throwaway CA, the function fails while the CA is not in the
/// bundle and works once an image adds it. The `sns` handler fetches its signing key from
/// Secrets Manager at init and writes DynamoDB per invocation, so both phases go over TLS.
#[test]
fn the_images_ca_bundle_is_what_the_sdk_trusts() {
    let (image, scenario, env) = image_on(Scenario::seed_sns);
    let front = TlsFront::start(scenario.moto.port());
    let env = with_endpoint(&env, &front.endpoint());
    let event = tools::event("sns", "1-payment-captured.json");

    // The shipped image does not know the test CA: init fails on the secret, saying why.
    let answer = function(&image, "sns", &env).invoke(&event);
    assert_eq!(answer.status, 502, "{}", answer.body);
    let message = answer.expect_error("Secrets.Unreachable");
    let problem = format!(
        "DispatchFailure: could not connect to {}: the TLS handshake failed: the server's \
         certificate is not issued by a CA this function trusts (see SSL_CERT_FILE and the \
         system CA bundle); ",
        front.endpoint()
    );
    assert!(
        message.contains("SIGNING_KEY_SECRET_ARN") && message.contains(&problem),
        "the init error names the secret and the certificate problem: {message}"
    );
    tern_testkit::faults::assert_plain_message(&message);
    assert!(
        front.logs().contains("handshake failed"),
        "the front saw the refused handshake:\n{}",
        front.logs()
    );

    // The same image with the test CA appended to its bundle.
    let scratch = std::env::temp_dir().join(format!("tern-image-ca-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let holder = container::Container::named("bundle");
    container::run(&["create", "--name", holder.name(), &image]);
    container::run(&[
        "cp",
        &format!("{}:/etc/ssl/certs/ca-certificates.crt", holder.name()),
        &scratch.display().to_string(),
    ]);
    let mut bundle = std::fs::read(scratch.join("ca-certificates.crt")).unwrap();
    assert!(
        bundle.len() > 100_000,
        "the image's bundle holds the public CAs ({} bytes)",
        bundle.len()
    );
    bundle.extend(std::fs::read(front.ca_pem()).unwrap());
    std::fs::write(scratch.join("ca-certificates.crt"), bundle).unwrap();
    std::fs::write(
        scratch.join("Containerfile"),
        format!("FROM {image}\nCOPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n"),
    )
    .unwrap();
    let trusting = format!("localhost/tern-bootstrap-test-ca:{}", std::process::id());
    container::build(&trusting, &scratch.join("Containerfile"), &scratch);
    let _ = std::fs::remove_dir_all(&scratch);

    let function = function(&trusting, "sns", &env);
    let answer = function.invoke(&event);
    drop(function);
    container::run(&["rmi", "--force", &trusting]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.error_type(), None, "{}", answer.body);
    let processed = answer.json();
    assert_eq!(
        processed["processed"][0]["message_id"],
        json!("d2a8c1f0-6b3e-5a9d-8c7f-1e2d3c4b5a01")
    );
    // The write went through the front to moto.
    let items = scenario.table_items(NOTIFICATIONS_TABLE);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["payment_id"], "p-5001");
}
