//! A child process whose whole tree dies with its guard, with its output captured.

use std::{
    io::{BufRead, BufReader, Read},
    os::unix::process::CommandExt,
    process::{Child, Command, Stdio},
    sync::{Arc, Condvar, Mutex},
    thread,
    time::{Duration, Instant},
};

/// Output captured from a process (stdout and stderr interleaved by line).
#[derive(Default)]
pub(crate) struct Output {
    text: Mutex<String>,
    changed: Condvar,
}

impl Output {
    pub(crate) fn snapshot(&self) -> String {
        self.text.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until `done(output)` holds; returns the output then, or `None` after `timeout`.
    pub(crate) fn wait_for(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut text = self.text.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if done(&text) {
                return Some(text.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            text = self
                .changed
                .wait_timeout(text, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn push_line(&self, line: &str) {
        let mut text = self.text.lock().unwrap_or_else(|p| p.into_inner());
        text.push_str(line);
        if !line.ends_with('\n') {
            text.push('\n');
        }
        self.changed.notify_all();
    }
}

/// Owns a spawned process. Dropping it kills the process, its process group and every
/// descendant (the emulator's runtime child included), then reaps it.
pub(crate) struct ManagedProcess {
    name: String,
    child: Child,
    pub(crate) output: Arc<Output>,
}

impl ManagedProcess {
    pub(crate) fn spawn(name: &str, mut command: Command) -> Self {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Own process group, so one signal reaches everything it starts.
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to SIGKILL this child
        // if the test process dies without running destructors (e.g. killed by a timeout).
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("could not start {name} ({command:?}): {err}"));
        let output = Arc::new(Output::default());
        let echo = std::env::var_os("TERN_TEST_ECHO").is_some();
        if let Some(stdout) = child.stdout.take() {
            pump(name, stdout, output.clone(), echo);
        }
        if let Some(stderr) = child.stderr.take() {
            pump(name, stderr, output.clone(), echo);
        }
        Self {
            name: name.to_owned(),
            child,
            output,
        }
    }

    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// The process's exit status, if it has exited.
    pub(crate) fn try_exit_code(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub(crate) fn kill(&mut self) {
        if self.try_exit_code().is_some() {
            return;
        }
        let pid = self.child.id() as i32;
        let mut victims = descendants(pid as u32);
        victims.push(pid as u32);
        // SAFETY: plain kill(2) calls on pids we started; a stale pid only yields ESRCH.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
            for victim in victims {
                libc::kill(victim as i32, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn pump(name: &str, stream: impl Read + Send + 'static, output: Arc<Output>, echo: bool) {
    let name = name.to_owned();
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&line);
            if echo {
                eprint!("[{name}] {text}");
            }
            output.push_line(&text);
            line.clear();
        }
    });
}

/// Every live descendant of `root`, from /proc (children before their own children).
pub(crate) fn descendants(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.filter_map(Result::ok) {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // Field 4 (ppid) follows the parenthesised command name, which may contain spaces.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|s| s.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == parent && !found.contains(&pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

/// Resident set size of a process in KiB (VmRSS), if it is alive.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}
