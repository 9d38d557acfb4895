//! One function under the official Runtime Interface Emulator, measured from outside.
//!
//! The emulator (rapid) logs on stderr when the runtime's init ends, `INIT REPORT(durationMs:
//! …)` (exec → first `/next`), and after each invocation `INVOKE RTDONE(… duration: …ms)`
//! (event handed to the runtime → runtime back on `/next`): the runtime's busy time. The
//! client latency is the invoke request's round trip as the harness sees it; peak RSS is the
//! runtime process's `VmHWM`.

use std::{
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tern_testkit::{free_port, tools};

/// How to start one function.
#[derive(Debug, Clone)]
pub struct Function {
    /// Label in the tables.
    pub label: String,
    /// The executable the emulator starts.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its working directory.
    pub cwd: Option<PathBuf>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

/// What one start of a function measured. The warm measurements are per payload, in the
/// order the payloads were given.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// rapid's INIT REPORT, ms.
    pub init_ms: f64,
    /// Client latency of the first (cold) invocation, ms.
    pub cold_client_ms: f64,
    /// rapid's RTDONE durations of the warm invocations, ms, per payload.
    pub busy_ms: Vec<Vec<f64>>,
    /// Client latencies of the warm invocations, ms, per payload.
    pub client_ms: Vec<Vec<f64>>,
    /// Peak RSS of the runtime process, KiB.
    pub peak_rss_kib: u64,
    /// The last response body, per payload.
    pub last_response: Vec<String>,
}

struct Emulator {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Emulator {
    fn start(function: &Function) -> Self {
        let port = free_port();
        let api = free_port();
        let mut command = Command::new(tools::rie());
        command
            .arg("--runtime-interface-emulator-address")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--runtime-api-address")
            .arg(format!("127.0.0.1:{api}"))
            .arg(&function.program)
            .args(&function.args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_TIMEOUT", "60")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .envs(function.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(cwd) = &function.cwd {
            command.current_dir(cwd);
        }
        let mut child = command.spawn().expect("start the emulator");
        // Drain stdout (the function's logs) so the runtime never blocks on a full pipe.
        let mut stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = stderr.clone();
        let pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().expect("not poisoned").push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the emulator did not listen");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self {
            child,
            port,
            stderr,
        }
    }

    fn invoke(&self, agent: &ureq::Agent, payload: &str) -> (f64, String) {
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/function/invocations",
            self.port
        );
        let start = Instant::now();
        let mut response = agent
            .post(&url)
            .header("content-type", "application/json")
            .send(payload)
            .expect("invoke");
        let mut body = String::new();
        response
            .body_mut()
            .as_reader()
            .read_to_string(&mut body)
            .expect("read the response");
        (start.elapsed().as_secs_f64() * 1e3, body)
    }

    /// The runtime process: the emulator's child.
    fn runtime_pid(&self) -> Option<u32> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).ok()?;
        tasks
            .filter_map(Result::ok)
            .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
            .flat_map(|children| {
                children
                    .split_whitespace()
                    .filter_map(|pid| pid.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .next()
    }

    fn lines_with(&self, marker: &str) -> Vec<String> {
        self.stderr
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|line| line.contains(marker))
            .cloned()
            .collect()
    }

    fn wait_for_lines(&self, marker: &str, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.lines_with(marker);
            if lines.len() >= count || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn stop(mut self) {
        // SIGTERM lets rapid stop the runtime it started; SIGKILL if it does not exit.
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn number_after(line: &str, key: &str) -> Option<f64> {
    let rest = &line[line.find(key)? + key.len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Starts `function`, invokes it once cold (with the first payload), then `warmup` rounds
/// unmeasured and `invokes` rounds measured, each round invoking every payload once, in order
/// (so that the payloads share the emulator's and the host's noise); then stops it.
pub fn measure(function: &Function, payloads: &[&str], warmup: usize, invokes: usize) -> Run {
    assert!(!payloads.is_empty(), "at least one payload");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .proxy(None)
        .build()
        .into();
    let emulator = Emulator::start(function);
    let mut run = Run {
        busy_ms: vec![Vec::with_capacity(invokes); payloads.len()],
        client_ms: vec![Vec::with_capacity(invokes); payloads.len()],
        last_response: vec![String::new(); payloads.len()],
        ..Run::default()
    };
    let (cold_ms, _) = emulator.invoke(&agent, payloads[0]);
    run.cold_client_ms = cold_ms;
    for _ in 0..warmup {
        for payload in payloads {
            emulator.invoke(&agent, payload);
        }
    }
    for _ in 0..invokes {
        for (index, payload) in payloads.iter().enumerate() {
            let (ms, body) = emulator.invoke(&agent, payload);
            run.client_ms[index].push(ms);
            run.last_response[index] = body;
        }
    }
    let unmeasured = 1 + warmup * payloads.len();
    let measured = invokes * payloads.len();
    let done = emulator.wait_for_lines("INVOKE RTDONE", unmeasured + measured);
    for (position, line) in done.iter().skip(unmeasured).enumerate() {
        if let Some(ms) = number_after(line, "duration: ") {
            run.busy_ms[position % payloads.len()].push(ms);
        }
    }
    run.init_ms = emulator
        .lines_with("INIT REPORT")
        .first()
        .and_then(|line| number_after(line, "durationMs: "))
        .unwrap_or(f64::NAN);
    run.peak_rss_kib = emulator.runtime_pid().map(peak_rss_kib).unwrap_or(0);
    if run.busy_ms.iter().any(|busy| busy.len() != invokes) || run.init_ms.is_nan() {
        let log = emulator.stderr.lock().expect("not poisoned").join("\n");
        panic!(
            "{}: expected {measured} RTDONE lines and an INIT REPORT:\n{log}",
            function.label
        );
    }
    emulator.stop();
    run
}

#[cfg(test)]
mod tests {
    use super::number_after;

    #[test]
    fn parses_rapid_lines() {
        let done = "22 Nov 2026 15:33:09,056 [INFO] (rapid) INVOKE RTDONE(status: success, \
                    produced bytes: 0, duration: 0.433000ms)";
        assert_eq!(number_after(done, "duration: "), Some(0.433));
        let init = "22 Nov 2026 15:33:09,056 [INFO] (rapid) INIT REPORT(durationMs: 43.767000)";
        assert_eq!(number_after(init, "durationMs: "), Some(43.767));
    }
}
