//! The AWS Lambda Runtime Interface Emulator in front of a `bootstrap`.

use std::{
    fmt,
    net::TcpStream,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use crate::{
    agent, free_port,
    process::{self, ManagedProcess},
    tools,
};

const INVOKE_PATH: &str = "/2015-03-31/functions/function/invocations";

/// Configures an [`Emulator`]. The process environment is *not* inherited: the function sees
/// only `PATH`, the Lambda variables set here and what the test adds, so a developer's shell
/// cannot change a test's outcome.
#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    bootstrap: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    function_name: String,
    timeout_secs: u32,
    memory_mb: u32,
    max_concurrency: Option<u32>,
    image: Option<String>,
}

impl EmulatorBuilder {
    /// Runs the emulator in its Lambda Managed Instances mode with
    /// `AWS_LAMBDA_MAX_CONCURRENCY=n`, so several invocations reach the runtime at once.
    ///
    /// That mode only looks for the runtime at `/var/runtime`, `/var/task` or `/opt`, so the
    /// emulator runs in a private mount namespace (`unshare`, needs root) where the bootstrap's
    /// directory is bind-mounted on `/opt` and an empty directory on `/var`; the host's file
    /// system is untouched. The bootstrap file must be named `bootstrap`.
    pub fn managed_instances(mut self, max_concurrency: u32) -> Self {
        self.max_concurrency = Some(max_concurrency);
        self
    }

    /// Passes the handler name as the bootstrap's first argument (as an image's `CMD` does).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Sets `_HANDLER` (as a zip or layer function's `Handler` does).
    pub fn handler(self, name: &str) -> Self {
        self.env("_HANDLER", name)
    }

    /// Adds an environment variable for the function.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Adds several environment variables (e.g. [`Moto::sdk_env`](crate::Moto::sdk_env)).
    pub fn envs(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        self.env.extend(vars);
        self
    }

    /// `AWS_LAMBDA_FUNCTION_NAME` (default `tern-test`).
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.function_name = name.into();
        self
    }

    /// The function timeout in seconds (default 30).
    pub fn timeout_secs(mut self, secs: u32) -> Self {
        self.timeout_secs = secs;
        self
    }

    /// Runs the emulator inside a container of `image` instead of on the host, as
    /// `docker run`/`podman run` with the emulator mounted in would: the emulator binary is
    /// bind-mounted into the container and made its entrypoint, and the builder's bootstrap
    /// path is the path *inside the image* (e.g. `/bootstrap`). The container shares the
    /// host's network, so it reaches moto on loopback. The engine comes from
    /// [`container::engine`](crate::container::engine).
    pub fn in_container(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }

    /// Starts the emulator and waits until it accepts connections. The emulator starts the
    /// bootstrap on the first invocation, as Lambda does.
    pub fn start(self) -> Emulator {
        let api_port = free_port();
        let runtime_api_port = free_port();
        let addresses = [
            "--runtime-interface-emulator-address".to_owned(),
            format!("127.0.0.1:{api_port}"),
            "--runtime-api-address".to_owned(),
            format!("127.0.0.1:{runtime_api_port}"),
        ];
        let mut env: Vec<(String, String)> = vec![
            (
                "AWS_LAMBDA_FUNCTION_NAME".into(),
                self.function_name.clone(),
            ),
            (
                "AWS_LAMBDA_FUNCTION_TIMEOUT".into(),
                self.timeout_secs.to_string(),
            ),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
                self.memory_mb.to_string(),
            ),
            ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
            ("AWS_REGION".into(), crate::moto::REGION.into()),
        ];
        env.extend(self.env.iter().cloned());
        if let Some(concurrency) = self.max_concurrency {
            // The emulator and the runtime both read it.
            env.push(("AWS_LAMBDA_MAX_CONCURRENCY".into(), concurrency.to_string()));
        }
        let (command, sandbox, container) = match (&self.image, self.max_concurrency) {
            (Some(image), _) => {
                let container = crate::container::Container::named("rie");
                let mut command = crate::container::engine();
                command
                    .args(["run", "--rm", "--network", "host", "--name"])
                    .arg(container.name())
                    .args(crate::container::RUN_FLAGS)
                    .arg("--volume")
                    .arg(format!("{}:/aws-lambda-rie:ro", tools::rie().display()))
                    .args(["--entrypoint", "/aws-lambda-rie"]);
                for (key, value) in &env {
                    command.arg("--env").arg(format!("{key}={value}"));
                }
                command
                    .arg(image)
                    .args(&addresses)
                    .arg(&self.bootstrap)
                    .args(&self.args);
                (command, None, Some(container))
            }
            (None, None) => {
                let mut command = Command::new(tools::rie());
                command
                    .args(&addresses)
                    .arg(&self.bootstrap)
                    .args(&self.args);
                host_env(&mut command, &env);
                (command, None, None)
            }
            (None, Some(_)) => {
                let sandbox = ManagedInstancesSandbox::new(&self.bootstrap);
                let script = "mount --bind \"$1\" /opt && mount --bind \"$2\" /var && cd /var/task && shift 2 && exec \"$@\"";
                let mut command = Command::new("unshare");
                command
                    .args([
                        "--mount",
                        "--propagation",
                        "private",
                        "sh",
                        "-c",
                        script,
                        "sh",
                    ])
                    .arg(sandbox.opt())
                    .arg(sandbox.var())
                    .arg(tools::rie())
                    .args(&addresses);
                host_env(&mut command, &env);
                (command, Some(sandbox), None)
            }
        };
        let process = ManagedProcess::spawn("rie", command);
        let mut emulator = Emulator {
            api_port,
            runtime_api_port,
            process,
            bootstrap: self.bootstrap,
            timeout: Duration::from_secs(u64::from(self.timeout_secs) + 30),
            _sandbox: sandbox,
            _container: container,
        };
        // A container's first start (rootfs copied by the vfs driver) takes longer.
        emulator.wait_until("it listens", Duration::from_secs(60), |e| {
            TcpStream::connect(("127.0.0.1", e.api_port)).is_ok()
        });
        if let Some(concurrency) = self.max_concurrency {
            // This mode starts the runtime at once and answers `Runtime.Unavailable` to
            // invocations that arrive before its workers poll; wait for every worker's /next.
            emulator.wait_until(
                "every runtime worker polls /next",
                Duration::from_secs(30),
                |e| established_to(e.runtime_api_port) >= concurrency as usize,
            );
        }
        emulator
    }
}

/// The host process sees only `PATH` and `env`, so a developer's shell cannot change a test.
fn host_env(command: &mut Command, env: &[(String, String)]) {
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)));
}

/// A running emulator; killed (with the runtime it started) on drop.
pub struct Emulator {
    api_port: u16,
    runtime_api_port: u16,
    process: ManagedProcess,
    bootstrap: PathBuf,
    timeout: Duration,
    // Dropped after `process` (fields drop in order), so the mounts' sources outlive the emulator.
    _sandbox: Option<ManagedInstancesSandbox>,
    // Removes the container after its `run` client was killed.
    _container: Option<crate::container::Container>,
}

/// Established TCP connections to 127.0.0.1:`port`, from /proc/net/tcp.
fn established_to(port: u16) -> usize {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return 0;
    };
    let remote = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address rem_address st: st 01 = ESTABLISHED
            fields.len() > 3 && fields[2] == remote && fields[3] == "01"
        })
        .count()
}

/// The directories bind-mounted on `/opt` and `/var` for the managed-instances mode.
#[derive(Debug)]
struct ManagedInstancesSandbox {
    opt: PathBuf,
    var: PathBuf,
}

impl ManagedInstancesSandbox {
    fn new(bootstrap: &Path) -> Self {
        assert_eq!(
            bootstrap.file_name().and_then(|n| n.to_str()),
            Some("bootstrap"),
            "managed-instances mode needs a file named `bootstrap`, got {}",
            bootstrap.display()
        );
        let opt = bootstrap
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .expect("bootstrap has a directory");
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let var = std::env::temp_dir().join(format!("tern-lmi-{}-{n}", std::process::id()));
        std::fs::create_dir_all(var.join("task")).expect("create the sandbox's /var/task");
        Self { opt, var }
    }

    fn opt(&self) -> &Path {
        &self.opt
    }

    fn var(&self) -> &Path {
        &self.var
    }
}

impl Drop for ManagedInstancesSandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.var);
    }
}

/// One invocation's answer as the emulator returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// HTTP status: 200 for a response or a function error, 502 for an init failure.
    pub status: u16,
    /// The response body (the handler's JSON, or `{"errorType":…,"errorMessage":…}`).
    pub body: String,
}

impl Invocation {
    /// The body parsed as JSON.
    ///
    /// # Panics
    /// If the body is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("response is not JSON ({err}): {}", self.body))
    }

    /// `errorType` if this is an error response.
    pub fn error_type(&self) -> Option<String> {
        self.error_field("errorType")
    }

    /// `errorMessage` if this is an error response.
    pub fn error_message(&self) -> Option<String> {
        self.error_field("errorMessage")
    }

    /// The string `field` of this error response, if it is one.
    fn error_field(&self, field: &str) -> Option<String> {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()?
            .get(field)?
            .as_str()
            .map(str::to_owned)
    }

    /// The `errorMessage` of this error response, whose `errorType` must be `error_type`.
    ///
    /// # Panics
    /// If the `errorType` is another or missing, or there is no `errorMessage` (the panic
    /// shows the body).
    #[track_caller]
    pub fn expect_error(&self, error_type: &str) -> String {
        self.expect_error_in("", error_type)
    }

    /// [`expect_error`](Self::expect_error) for one case of many: its panic message begins
    /// with `case` (the fault, the event, …), then the body.
    #[track_caller]
    pub fn expect_error_in(&self, case: impl fmt::Display, error_type: &str) -> String {
        assert_eq!(
            self.error_type().as_deref(),
            Some(error_type),
            "{case}: {}",
            self.body
        );
        self.error_message()
            .unwrap_or_else(|| panic!("{case}: an error without errorMessage: {}", self.body))
    }

    /// The `itemIdentifier`s of a batch response's `batchItemFailures`, in order.
    ///
    /// # Panics
    /// If this is not a batch response with string identifiers (the panic shows the body).
    #[track_caller]
    pub fn reported_ids(&self) -> Vec<String> {
        let json = self.json();
        let failures = json["batchItemFailures"]
            .as_array()
            .unwrap_or_else(|| panic!("not a batch response: {}", self.body));
        failures
            .iter()
            .map(|failure| {
                let id = failure["itemIdentifier"].as_str();
                id.unwrap_or_else(|| panic!("an identifier that is not a string: {}", self.body))
                    .to_owned()
            })
            .collect()
    }
}

impl Emulator {
    /// An emulator for `bootstrap`; see [`EmulatorBuilder`].
    pub fn builder(bootstrap: impl AsRef<Path>) -> EmulatorBuilder {
        EmulatorBuilder {
            bootstrap: bootstrap.as_ref().to_path_buf(),
            args: Vec::new(),
            env: Vec::new(),
            function_name: "tern-test".to_owned(),
            timeout_secs: 30,
            memory_mb: 128,
            max_concurrency: None,
            image: None,
        }
    }

    /// Polls `ready` until it holds; fails the test if the emulator exits first or on timeout.
    fn wait_until(&mut self, what: &str, timeout: Duration, mut ready: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        while !ready(self) {
            if let Some(status) = self.process.try_exit_code() {
                panic!(
                    "the emulator exited ({status}) before {what}:\n{}",
                    self.logs()
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting until {what}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Invokes the function with `payload` and waits for the answer.
    ///
    /// # Panics
    /// If the emulator cannot be reached (not on a function error: that is an answer).
    pub fn invoke(&self, payload: impl AsRef<[u8]>) -> Invocation {
        self.invoke_with_headers(payload, &[])
    }

    /// Invokes with a client context, as the Invoke API's `ClientContext` (base64 of JSON)
    /// passes it.
    pub fn invoke_with_client_context(
        &self,
        payload: impl AsRef<[u8]>,
        client_context: &serde_json::Value,
    ) -> Invocation {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(client_context.to_string());
        self.invoke_with_headers(payload, &[("X-Amz-Client-Context", &encoded)])
    }

    fn invoke_with_headers(
        &self,
        payload: impl AsRef<[u8]>,
        headers: &[(&str, &str)],
    ) -> Invocation {
        let url = format!("http://127.0.0.1:{}{INVOKE_PATH}", self.api_port);
        let mut request = agent(self.timeout)
            .post(&url)
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request
            .send(payload.as_ref())
            .unwrap_or_else(|err| panic!("invoking {url} failed: {err}\n{}", self.logs()));
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_else(|err| panic!("reading the response of {url} failed: {err}"));
        Invocation { status, body }
    }

    /// Invokes with a JSON value.
    pub fn invoke_json(&self, payload: &serde_json::Value) -> Invocation {
        self.invoke(payload.to_string())
    }

    /// Everything the emulator and the runtime printed so far, in order.
    pub fn logs(&self) -> String {
        self.process.output.snapshot()
    }

    /// The JSON log lines the runtime printed so far (emulator lines and text are skipped).
    pub fn json_logs(&self) -> Vec<serde_json::Value> {
        self.logs()
            .lines()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits until the logs satisfy `done`, up to `timeout`; returns them.
    ///
    /// # Panics
    /// On timeout, with the logs so far.
    pub fn wait_for_logs(&self, timeout: Duration, done: impl FnMut(&str) -> bool) -> String {
        self.process
            .output
            .wait_for(timeout, done)
            .unwrap_or_else(|| panic!("logs did not match within {timeout:?}:\n{}", self.logs()))
    }

    /// Waits until the runtime's JSON log lines satisfy `done`, up to `timeout`; returns them.
    /// Log lines travel runtime → emulator → pipe asynchronously, so a line written during an
    /// invocation may arrive after its response: wait for what you assert on.
    ///
    /// # Panics
    /// On timeout, with the logs so far.
    pub fn wait_for_json_logs(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.json_logs();
            if done(&lines) {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "logs did not match within {timeout:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The pid of the runtime process the emulator started (the bootstrap), if it runs now.
    pub fn runtime_pid(&self) -> Option<u32> {
        let bootstrap = self.bootstrap.canonicalize().ok()?;
        // In the managed-instances sandbox the runtime runs as /opt/bootstrap.
        let sandboxed = Path::new("/opt/bootstrap");
        process::descendants(self.process.id())
            .into_iter()
            .find(|pid| {
                std::fs::read_link(format!("/proc/{pid}/exe"))
                    .is_ok_and(|exe| exe == bootstrap || exe == sandboxed)
            })
    }

    /// Resident memory of the runtime process in KiB, if it runs now.
    pub fn runtime_rss_kib(&self) -> Option<u64> {
        self.runtime_pid().and_then(process::rss_kib)
    }

    /// Name of the managed process (for diagnostics).
    pub fn name(&self) -> &str {
        self.process.name()
    }
}
