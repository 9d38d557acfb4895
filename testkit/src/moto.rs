//! `moto_server`: AWS services on a loopback port.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use crate::{agent, free_port, process::ManagedProcess, tools};

/// A running `moto_server`, killed on drop.
///
/// ```no_run
/// let moto = tern_testkit::Moto::start();
/// // Give the function under test these variables so the AWS SDK talks to moto.
/// let env = moto.sdk_env();
/// # let _ = env;
/// ```
pub struct Moto {
    port: u16,
    process: Option<ManagedProcess>,
}

/// The region every test uses.
pub const REGION: &str = "us-east-1";

impl Moto {
    /// Starts moto on a free port and waits (up to 60 s) until it answers HTTP.
    pub fn start() -> Self {
        let port = free_port();
        let mut command = Command::new(tools::moto_server());
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("PYTHONUNBUFFERED", "1");
        let process = ManagedProcess::spawn("moto", command);
        let mut moto = Self {
            port,
            process: Some(process),
        };
        moto.wait_ready(Duration::from_secs(60));
        moto
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let agent = agent(Duration::from_secs(2));
        loop {
            if agent
                .get(format!("{}/moto-api/", self.endpoint()))
                .call()
                .is_ok()
            {
                return;
            }
            if let Some(process) = self.process.as_mut()
                && let Some(status) = process.try_exit_code()
            {
                panic!(
                    "moto_server exited ({status}) before answering:\n{}",
                    process.output.snapshot()
                );
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port moto listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment for an AWS SDK client that should use this moto: endpoint, dummy
    /// credentials and region.
    pub fn sdk_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_SESSION_TOKEN", "testing".to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// An AWS SDK configuration for clients in the test process that talk to this moto
    /// (explicit endpoint, region and dummy credentials; nothing read from the environment).
    /// S3 clients built from it also need `force_path_style(true)`.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        tern_runtime::aws::config_loader()
            .endpoint_url(self.endpoint())
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "tern-testkit",
            ))
            .load()
            .await
    }

    /// Stops moto now (to simulate an AWS outage); later calls to it are refused.
    pub fn stop(&mut self) {
        self.process.take();
    }

    /// Whether moto is still running.
    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// What moto printed so far (its request log included).
    pub fn logs(&self) -> String {
        self.process
            .as_ref()
            .map(|p| p.output.snapshot())
            .unwrap_or_default()
    }
}
