//! A loopback HTTP proxy that injects AWS faults in front of moto.
//!
//! [`FaultProxy`] forwards each request to its upstream (a [`Moto`](crate::Moto) endpoint)
//! unless a [`Rule`] matches the request's operation; then it answers with the rule's
//! [`Fault`] instead: a throttling error, a 5xx, a closed or reset connection or a request
//! that is never answered. Every request is recorded with what the proxy did to it, so a test can
//! count the SDK's attempts exactly.
//!
//! The operation is the last part of the `x-amz-target` header for the JSON protocols
//! (DynamoDB `PutItem`, Secrets Manager `GetSecretValue`), else `METHOD /path` (S3).
//! It runs on plain threads, so synchronous emulator tests and async tests use it alike.

use std::{
    io::{ErrorKind, Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

/// What the proxy answers instead of forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 400 `ThrottlingException` (S3: 503 `SlowDown`): the service's rate limit.
    Throttle,
    /// HTTP 503 `ServiceUnavailable`.
    Unavailable,
    /// HTTP 500 `InternalServerError`.
    InternalError,
    /// The connection is closed without an answer (as when the service goes away mid-call).
    Drop,
    /// The connection is reset (a TCP RST) without an answer, as a load balancer or firewall
    /// that drops the connection does.
    Reset,
    /// The request is read and never answered (a black hole); the connection stays open.
    Hang,
    /// Forwarded after this delay.
    Delay(Duration),
}

/// When a [`Fault`] applies: to requests whose operation starts with `operation` (every
/// request when `None`), after letting `skip` of them through, for the next `times` of them
/// (forever when `None`).
#[derive(Debug, Clone)]
pub struct Rule {
    operation: Option<String>,
    skip: u32,
    times: Option<u32>,
    fault: Fault,
}

impl Rule {
    /// `fault` on every matching request.
    pub fn always(operation: Option<&str>, fault: Fault) -> Self {
        Self {
            operation: operation.map(str::to_owned),
            skip: 0,
            times: None,
            fault,
        }
    }

    /// `fault` on every matching request after the first `skip`, which are forwarded (e.g.
    /// let a lock be taken, then fail the handler's own write).
    pub fn after(operation: Option<&str>, skip: u32, fault: Fault) -> Self {
        Self {
            skip,
            ..Self::always(operation, fault)
        }
    }

    /// `fault` on the next `times` matching requests, then forward again.
    pub fn times(operation: Option<&str>, times: u32, fault: Fault) -> Self {
        Self {
            times: Some(times),
            ..Self::always(operation, fault)
        }
    }

    fn matches(&self, operation: &str) -> bool {
        self.times != Some(0)
            && self
                .operation
                .as_deref()
                .is_none_or(|wanted| operation.starts_with(wanted))
    }
}

/// One request the proxy received and what it did with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The operation (`PutItem`, `GetSecretValue`, `GET /bucket/key`).
    pub operation: String,
    /// The fault injected, or `None` when the request was forwarded untouched.
    pub fault: Option<Fault>,
}

#[derive(Default)]
struct State {
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
    stopped: AtomicBool,
}

impl State {
    /// The fault for `operation`, consuming one use of the first matching rule.
    fn decide(&self, operation: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        let rule = rules.iter_mut().find(|rule| rule.matches(operation))?;
        if rule.skip > 0 {
            rule.skip -= 1;
            return None;
        }
        if let Some(times) = rule.times.as_mut() {
            *times -= 1;
        }
        Some(rule.fault)
    }
}

/// A fault-injecting proxy on a free loopback port; stops when dropped.
///
/// ```no_run
/// use tern_testkit::{Moto, faults::{Fault, FaultProxy, Rule}};
/// let moto = Moto::start();
/// let proxy = FaultProxy::start(&moto.endpoint());
/// proxy.push(Rule::always(Some("PutItem"), Fault::Throttle));
/// // Point the function at proxy.sdk_env() instead of moto.sdk_env().
/// ```
pub struct FaultProxy {
    endpoint: String,
    state: Arc<State>,
}

impl FaultProxy {
    /// Starts proxying to `upstream` (`http://127.0.0.1:PORT`), forwarding everything until a
    /// rule is pushed.
    pub fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("proxy address"));
        let state = Arc::new(State::default());
        let shared = state.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                if shared.stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let (state, upstream) = (shared.clone(), upstream.clone());
                thread::spawn(move || relay(client, &upstream, &state));
            }
        });
        Self { endpoint, state }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Adds a rule; earlier rules win when several match.
    pub fn push(&self, rule: Rule) {
        self.lock_rules().push(rule);
    }

    /// Removes every rule: requests are forwarded again.
    pub fn clear(&self) {
        self.lock_rules().clear();
    }

    /// Every request received so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The operations received so far, in arrival order.
    pub fn operations(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.operation).collect()
    }

    /// [`Moto::sdk_env`](crate::Moto::sdk_env) with the endpoint pointing at this proxy.
    pub fn sdk_env(&self, moto: &crate::Moto) -> Vec<(String, String)> {
        moto.sdk_env()
            .into_iter()
            .map(|(key, value)| {
                if key == "AWS_ENDPOINT_URL" {
                    (key, self.endpoint.clone())
                } else {
                    (key, value)
                }
            })
            .collect()
    }

    fn lock_rules(&self) -> std::sync::MutexGuard<'_, Vec<Rule>> {
        self.state.rules.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.endpoint.trim_start_matches("http://"));
    }
}

/// Serves one client connection: each request is faulted or forwarded on a fresh upstream
/// connection.
fn relay(mut client: TcpStream, upstream: &str, state: &State) {
    let mut pending = Vec::new();
    while let Some(request) = read_message(&mut client, &mut pending, false) {
        if state.stopped.load(Ordering::SeqCst) {
            return;
        }
        let head = Head::parse(&request);
        let operation = head.operation();
        let fault = state.decide(&operation);
        state
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Seen { operation, fault });
        let response = match fault {
            None => forward(upstream, &request, &head),
            Some(Fault::Delay(delay)) => {
                thread::sleep(delay);
                forward(upstream, &request, &head)
            }
            Some(Fault::Drop) => None,
            Some(Fault::Reset) => {
                reset(&client);
                return;
            }
            Some(Fault::Hang) => {
                let until = Instant::now() + Duration::from_secs(600);
                while !state.stopped.load(Ordering::SeqCst) && Instant::now() < until {
                    thread::sleep(Duration::from_millis(20));
                }
                None
            }
            Some(error) => Some(error_response(error, head.json_protocol)),
        };
        match response {
            Some(response) if client.write_all(&response).is_ok() => {}
            _ => {
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

/// Closes `stream` with a TCP RST instead of a FIN: `SO_LINGER` on, with a zero timeout.
fn reset(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor, and a `linger` of the size passed.
    let set = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
}

/// Panics when `message` carries a mark of Rust `Debug` output (`Failure(`, `Error {`,
/// `Some(`, hyper-util's `(Connect)`, …) or an OS error number: error messages users see are
/// written in words.
pub fn assert_plain_message(message: &str) {
    const DEBUG_MARKS: [&str; 11] = [
        "Failure(",
        "Error {",
        "Error(",
        "{ ",
        " }",
        "Some(",
        "None",
        "(Connect)",
        "Kind(",
        "kind: ",
        "os error",
    ];
    for mark in DEBUG_MARKS {
        assert!(
            !message.contains(mark),
            "`{mark}` (Debug text) in the message: {message}"
        );
    }
}

fn forward(upstream: &str, request: &[u8], head: &Head) -> Option<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).ok()?;
    server.write_all(request).ok()?;
    read_message(&mut server, &mut Vec::new(), head.method == "HEAD")
}

fn error_response(fault: Fault, json_protocol: bool) -> Vec<u8> {
    let (status, reason, code, message) = match fault {
        Fault::Throttle if json_protocol => {
            (400, "Bad Request", "ThrottlingException", "Rate exceeded")
        }
        Fault::Throttle => (
            503,
            "Slow Down",
            "SlowDown",
            "Please reduce your request rate.",
        ),
        Fault::Unavailable => (
            503,
            "Service Unavailable",
            "ServiceUnavailable",
            "Service unavailable",
        ),
        _ => (
            500,
            "Internal Server Error",
            "InternalServerError",
            "Internal server error",
        ),
    };
    let (content_type, body) = if json_protocol {
        (
            "application/x-amz-json-1.0",
            format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
        )
    } else {
        (
            "application/xml",
            format!("<Error><Code>{code}</Code><Message>{message}</Message></Error>"),
        )
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\nx-amzn-errortype: {code}\r\n\
         x-amzn-requestid: tern-fault-proxy\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The parts of a request head the proxy needs.
struct Head {
    method: String,
    path: String,
    target: Option<String>,
    json_protocol: bool,
}

impl Head {
    fn parse(message: &[u8]) -> Self {
        let end = find(message, b"\r\n\r\n").unwrap_or(message.len());
        let text = String::from_utf8_lossy(&message[..end]);
        let mut lines = text.lines();
        let mut request_line = lines.next().unwrap_or_default().split_whitespace();
        let method = request_line.next().unwrap_or_default().to_owned();
        let path = request_line.next().unwrap_or_default().to_owned();
        let header = |name: &str| {
            text.lines().skip(1).find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
        };
        let target = header("x-amz-target");
        let json_protocol =
            target.is_some() || header("content-type").is_some_and(|t| t.contains("x-amz-json"));
        Self {
            method,
            path,
            target,
            json_protocol,
        }
    }

    fn operation(&self) -> String {
        match &self.target {
            Some(target) => target.rsplit('.').next().unwrap_or(target).to_owned(),
            None => {
                let path = self.path.split('?').next().unwrap_or_default();
                format!("{} {path}", self.method)
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One HTTP/1.1 message from `stream` (body by `Content-Length`, chunked, or to EOF for a
/// response without either); `None` at EOF before a whole head. Bytes past the message stay
/// in `pending`. `no_body` is for responses to `HEAD`.
fn read_message(stream: &mut TcpStream, pending: &mut Vec<u8>, no_body: bool) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 16 * 1024];
    let mut fill = |pending: &mut Vec<u8>| -> Option<usize> {
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => {
                    pending.extend_from_slice(&chunk[..n]);
                    return Some(n);
                }
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return None,
            }
        }
    };
    let head_end = loop {
        if let Some(at) = find(pending, b"\r\n\r\n") {
            break at + 4;
        }
        fill(pending)?;
    };
    let head = String::from_utf8_lossy(&pending[..head_end]).to_ascii_lowercase();
    let status_without_body = head.starts_with("http/1.1 204") || head.starts_with("http/1.1 304");
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|n| n.trim().parse::<usize>().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    let end = if no_body || status_without_body {
        head_end
    } else if let Some(length) = length {
        while pending.len() < head_end + length {
            fill(pending)?;
        }
        head_end + length
    } else if chunked {
        // Walk the chunks: `<hex size>\r\n<data>\r\n`, ending with a zero size (no trailers).
        let mut at = head_end;
        loop {
            let Some(line) = find(&pending[at..], b"\r\n") else {
                fill(pending)?;
                continue;
            };
            let size_text = String::from_utf8_lossy(&pending[at..at + line]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            let next = at + line + 2 + size + 2;
            while pending.len() < next {
                fill(pending)?;
            }
            if size == 0 {
                break next;
            }
            at = next;
        }
    } else if head.starts_with("http/") {
        while fill(pending).is_some() {}
        pending.len()
    } else {
        head_end
    };
    Some(pending.drain(..end).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_text_is_caught_and_words_pass() {
        // The SDK's rendering the plain messages replaced (issue #19), and parts of it.
        let debug = [
            "PutItem failed with DispatchFailure: dispatch failure: io error: client error \
             (Connect): tcp connect error: Connection refused (os error 111) (DispatchFailure(\
             DispatchFailure { source: ConnectorError { kind: Io, source: hyper_util::client::\
             legacy::Error(Connect, ConnectError(\"tcp connect error\", Os { code: 111 })) } }))",
            "client error (Connect)",
            "Connection refused (os error 111)",
            "ConnectorError { kind: Io }",
            "Some(\"x\")",
        ];
        for message in debug {
            let caught = std::panic::catch_unwind(|| assert_plain_message(message));
            assert!(caught.is_err(), "not caught: {message}");
        }
        assert_plain_message(
            "idempotency table `idempotency`: PutItem failed with DispatchFailure: could not \
             connect to http://127.0.0.1:4566: connection refused; the handler did not run.",
        );
    }

    #[test]
    fn reset_sends_a_tcp_rst() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        reset(&server);
        drop(server);
        let mut buffer = [0u8; 8];
        let read = client.read(&mut buffer);
        assert_eq!(
            read.map_err(|error| error.kind()),
            Err(ErrorKind::ConnectionReset)
        );
    }
}
