//! A loopback HTTP proxy (hyper, HTTP/1.1) in front of moto that injects AWS faults or
//! serializes requests.
//!
//! [`FaultProxy`] forwards each request to its upstream (a [`Moto`](crate::Moto) endpoint)
//! unless a [`Rule`] matches the request's operation; then it answers with the rule's
//! [`Fault`] instead: a throttling error, a 5xx, a closed or reset connection or a request
//! that is never answered. Every request is recorded with what the proxy did to it, so a test can
//! count the SDK's attempts exactly. [`FaultProxy::serial`] lets one request at a time reach
//! the upstream.
//!
//! The operation is the last part of the `x-amz-target` header for the JSON protocols
//! (DynamoDB `PutItem`, Secrets Manager `GetSecretValue`), else `METHOD /path` (S3).
//! It runs on its own thread and tokio runtime, so synchronous emulator tests and async tests
//! use it alike.

use std::{
    io,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{
    Request, Response, StatusCode,
    body::Incoming,
    header::{self, HeaderMap, HeaderValue},
    http::request::Parts,
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

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

struct State {
    /// `127.0.0.1:PORT`.
    upstream: String,
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
    /// Held from sending a request upstream until its whole response is read (serial mode).
    turn: Option<tokio::sync::Mutex<()>>,
}

impl State {
    /// The fault for `operation`, consuming one use of the first matching rule.
    fn decide(&self, operation: &str) -> Option<Fault> {
        let mut rules = lock(&self.rules);
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
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
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts proxying to `upstream` (`http://127.0.0.1:PORT`), forwarding everything until a
    /// rule is pushed. Requests reach the upstream concurrently, each on its own connection.
    pub fn start(upstream: &str) -> Self {
        Self::launch(upstream, false)
    }

    /// Like [`start`](Self::start), letting one request at a time reach the upstream: from
    /// sending it until its whole response is read, the others wait.
    ///
    /// DynamoDB applies the writes to one item one after the other, so of concurrent
    /// conditional puts exactly one can win. `moto_server` serves each request on its own
    /// thread and checks a `PutItem` condition and then writes with nothing holding a lock
    /// across the two, so two concurrent puts can both pass `attribute_not_exists` (seen: 2
    /// winners of 50 in about half the runs). Tests of concurrent access put this in front of
    /// moto: the clients still race; moto sees the requests in sequence, as a DynamoDB
    /// partition applies them.
    pub fn serial(upstream: &str) -> Self {
        Self::launch(upstream, true)
    }

    fn launch(upstream: &str, serial: bool) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let endpoint = format!("http://{}", listener.local_addr().expect("proxy address"));
        let state = Arc::new(State {
            upstream: upstream.trim_start_matches("http://").to_owned(),
            rules: Mutex::default(),
            seen: Mutex::default(),
            turn: serial.then(tokio::sync::Mutex::default),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the fault proxy's runtime");
            // Dropping the runtime when told to stop ends every connection, black holes too.
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("a tokio listener");
                tokio::spawn(async move {
                    while let Ok((client, _)) = listener.accept().await {
                        tokio::spawn(serve(client, shared.clone()));
                    }
                });
                let _ = stopped.await;
            });
        });
        Self {
            endpoint,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Adds a rule; earlier rules win when several match.
    pub fn push(&self, rule: Rule) {
        lock(&self.state.rules).push(rule);
    }

    /// Removes every rule: requests are forwarded again.
    pub fn clear(&self) {
        lock(&self.state.rules).clear();
    }

    /// Every request received so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.state.seen).clone()
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
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves one client connection. A service error closes it without an answer; after a
/// [`Fault::Reset`] the socket is closed with a TCP RST (`SO_LINGER` zero) instead of a FIN.
async fn serve(mut client: TcpStream, state: Arc<State>) {
    let reset = Arc::new(AtomicBool::new(false));
    let service = service_fn(|request| answer(request, state.clone(), reset.clone()));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(&mut client), service)
        .await;
    if reset.load(Ordering::SeqCst) {
        client.set_zero_linger().expect("SO_LINGER");
    }
}

/// The answer to one request: forwarded, or the fault of the first matching rule. An `Err`
/// makes hyper close the connection without writing anything.
async fn answer(
    request: Request<Incoming>,
    state: Arc<State>,
    reset: Arc<AtomicBool>,
) -> io::Result<Response<Full<Bytes>>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(io::Error::other)?.to_bytes();
    let operation = operation(&parts);
    let fault = state.decide(&operation);
    lock(&state.seen).push(Seen { operation, fault });
    match fault {
        None => forward(&state, parts, body).await,
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            forward(&state, parts, body).await
        }
        Some(Fault::Drop) => Err(io::Error::other("dropped by the fault proxy")),
        Some(Fault::Reset) => {
            reset.store(true, Ordering::SeqCst);
            Err(io::Error::other("reset by the fault proxy"))
        }
        Some(Fault::Hang) => std::future::pending().await,
        Some(error) => Ok(error_response(error, json_protocol(&parts.headers))),
    }
}

/// Sends the request upstream on a fresh connection and reads the whole response (holding the
/// turn in serial mode).
async fn forward(state: &State, parts: Parts, body: Bytes) -> io::Result<Response<Full<Bytes>>> {
    let _turn = match &state.turn {
        Some(turn) => Some(turn.lock().await),
        None => None,
    };
    let upstream = TcpStream::connect(&state.upstream).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(upstream))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(connection);
    let mut request = Request::from_parts(parts, Full::new(body));
    strip_hop_by_hop(request.headers_mut());
    let response = sender
        .send_request(request)
        .await
        .map_err(io::Error::other)?;
    let (mut parts, body) = response.into_parts();
    let body = body.collect().await.map_err(io::Error::other)?.to_bytes();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// Removes the headers that describe one connection, not the message (RFC 9110 7.6.1): each
/// side of the proxy frames its own.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}

/// The last part of `x-amz-target`, else `METHOD /path` (no query).
fn operation(parts: &Parts) -> String {
    match parts
        .headers
        .get("x-amz-target")
        .and_then(|target| target.to_str().ok())
    {
        Some(target) => target.rsplit('.').next().unwrap_or(target).to_owned(),
        None => format!("{} {}", parts.method, parts.uri.path()),
    }
}

/// Whether the service speaks JSON (errors as `{"__type": …}`) rather than XML.
fn json_protocol(headers: &HeaderMap) -> bool {
    headers.contains_key("x-amz-target")
        || headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.contains("x-amz-json"))
}

fn error_response(fault: Fault, json_protocol: bool) -> Response<Full<Bytes>> {
    let (status, code, message) = match fault {
        Fault::Throttle if json_protocol => (400, "ThrottlingException", "Rate exceeded"),
        Fault::Throttle => (503, "SlowDown", "Please reduce your request rate."),
        Fault::Unavailable => (503, "ServiceUnavailable", "Service unavailable"),
        _ => (500, "InternalServerError", "Internal server error"),
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
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).expect("a valid status");
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("x-amzn-errortype", HeaderValue::from_static(code));
    headers.insert(
        "x-amzn-requestid",
        HeaderValue::from_static("tern-fault-proxy"),
    );
    response
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

#[cfg(test)]
mod tests {
    use std::{
        io::{Read, Write},
        sync::atomic::AtomicUsize,
    };

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

    /// An upstream that answers every request `200 ok` after `pause`, one connection per
    /// request, and records the most requests it ever had in flight at once.
    struct Upstream {
        endpoint: String,
        most_in_flight: Arc<AtomicUsize>,
    }

    impl Upstream {
        fn start(pause: Duration) -> Self {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let endpoint = format!("http://{}", listener.local_addr().unwrap());
            let most_in_flight = Arc::new(AtomicUsize::new(0));
            let in_flight = Arc::new(AtomicUsize::new(0));
            let most = most_in_flight.clone();
            thread::spawn(move || {
                for stream in listener.incoming() {
                    let (mut stream, in_flight, most) =
                        (stream.unwrap(), in_flight.clone(), most.clone());
                    thread::spawn(move || {
                        let mut head = Vec::new();
                        let mut byte = [0u8];
                        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                            head.push(byte[0]);
                        }
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        thread::sleep(pause);
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .unwrap();
                    });
                }
            });
            Self {
                endpoint,
                most_in_flight,
            }
        }
    }

    /// Sends one request with `headers` to `proxy` on a fresh connection (closed after the
    /// answer) and reads until the proxy closes it.
    fn exchange(proxy: &FaultProxy, path: &str, headers: &str) -> io::Result<String> {
        let mut client =
            std::net::TcpStream::connect(proxy.endpoint().trim_start_matches("http://"))?;
        client.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            client,
            "GET {path}?x=1 HTTP/1.1\r\nhost: proxy\r\nconnection: close\r\n{headers}\r\n"
        )?;
        let mut answer = String::new();
        client.read_to_string(&mut answer)?;
        Ok(answer)
    }

    /// The status line and the body of an HTTP answer.
    fn status_and_body(answer: &str) -> (&str, &str) {
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap(), body)
    }

    const DYNAMODB_PUT: &str = "x-amz-target: DynamoDB_20120810.PutItem\r\n";

    #[test]
    fn rules_answer_with_their_fault_and_every_request_is_recorded() {
        let upstream = Upstream::start(Duration::ZERO);
        let proxy = FaultProxy::start(&upstream.endpoint);
        proxy.push(Rule::after(Some("PutItem"), 1, Fault::Throttle));
        proxy.push(Rule::times(Some("GET /bucket"), 1, Fault::Unavailable));
        proxy.push(Rule::always(Some("GET /fail"), Fault::InternalError));

        let forwarded = exchange(&proxy, "/bucket/key", "").unwrap();
        assert_eq!(
            status_and_body(&forwarded),
            (
                "HTTP/1.1 503 Service Unavailable",
                "<Error><Code>ServiceUnavailable</Code>\
             <Message>Service unavailable</Message></Error>"
            )
        );
        let forwarded = exchange(&proxy, "/bucket/key", "").unwrap();
        assert_eq!(status_and_body(&forwarded), ("HTTP/1.1 200 OK", "ok"));
        let put = exchange(&proxy, "/", DYNAMODB_PUT).unwrap();
        assert_eq!(status_and_body(&put), ("HTTP/1.1 200 OK", "ok"));
        let throttled = exchange(&proxy, "/", DYNAMODB_PUT).unwrap();
        assert_eq!(
            status_and_body(&throttled),
            (
                "HTTP/1.1 400 Bad Request",
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#
            )
        );
        assert!(
            throttled.contains("x-amzn-errortype: ThrottlingException\r\n"),
            "{throttled}"
        );
        let s3_throttle = Rule::always(None, Fault::Throttle);
        proxy.clear();
        proxy.push(s3_throttle);
        let slow_down = exchange(&proxy, "/bucket/key", "").unwrap();
        assert_eq!(
            status_and_body(&slow_down),
            (
                "HTTP/1.1 503 Service Unavailable",
                "<Error><Code>SlowDown</Code>\
             <Message>Please reduce your request rate.</Message></Error>"
            )
        );
        proxy.clear();
        proxy.push(Rule::always(None, Fault::InternalError));
        let failed = exchange(&proxy, "/fail", "").unwrap();
        assert_eq!(
            status_and_body(&failed).0,
            "HTTP/1.1 500 Internal Server Error"
        );

        let seen = |operation: &str, fault| Seen {
            operation: operation.to_owned(),
            fault,
        };
        assert_eq!(
            proxy.seen(),
            [
                seen("GET /bucket/key", Some(Fault::Unavailable)),
                seen("GET /bucket/key", None),
                seen("PutItem", None),
                seen("PutItem", Some(Fault::Throttle)),
                seen("GET /bucket/key", Some(Fault::Throttle)),
                seen("GET /fail", Some(Fault::InternalError)),
            ]
        );
    }

    #[test]
    fn dropped_connections_close_and_reset_ones_send_a_tcp_rst() {
        let upstream = Upstream::start(Duration::ZERO);
        let proxy = FaultProxy::start(&upstream.endpoint);
        proxy.push(Rule::times(None, 1, Fault::Drop));
        proxy.push(Rule::times(None, 1, Fault::Reset));
        assert_eq!(exchange(&proxy, "/a", "").unwrap(), "");
        assert_eq!(
            exchange(&proxy, "/a", "").map_err(|error| error.kind()),
            Err(io::ErrorKind::ConnectionReset)
        );
        assert_eq!(
            status_and_body(&exchange(&proxy, "/a", "").unwrap()).1,
            "ok"
        );
        // Nothing listens upstream: the client's connection is closed without an answer.
        let gone = FaultProxy::start(&format!("http://127.0.0.1:{}", crate::free_port()));
        assert_eq!(exchange(&gone, "/a", "").unwrap(), "");
    }

    #[test]
    fn black_holes_never_answer_and_delays_forward_late() {
        let upstream = Upstream::start(Duration::ZERO);
        let proxy = FaultProxy::start(&upstream.endpoint);
        proxy.push(Rule::times(None, 1, Fault::Hang));
        proxy.push(Rule::times(
            None,
            1,
            Fault::Delay(Duration::from_millis(300)),
        ));
        let mut client =
            std::net::TcpStream::connect(proxy.endpoint().trim_start_matches("http://")).unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        client
            .write_all(b"GET /a HTTP/1.1\r\nhost: proxy\r\n\r\n")
            .unwrap();
        let error = client.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
        let started = std::time::Instant::now();
        assert_eq!(
            status_and_body(&exchange(&proxy, "/a", "").unwrap()).1,
            "ok"
        );
        assert!(started.elapsed() >= Duration::from_millis(300));
        // Dropping the proxy ends the black hole's connection.
        drop(proxy);
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(client.read(&mut [0u8; 8]).unwrap(), 0);
    }

    #[test]
    fn the_serial_mode_lets_one_request_at_a_time_reach_the_upstream() {
        for serial in [true, false] {
            let upstream = Upstream::start(Duration::from_millis(200));
            let proxy = if serial {
                FaultProxy::serial(&upstream.endpoint)
            } else {
                FaultProxy::start(&upstream.endpoint)
            };
            let start = Arc::new(std::sync::Barrier::new(8));
            let clients: Vec<_> = (0..8)
                .map(|_| {
                    let (endpoint, start) = (proxy.endpoint().to_owned(), start.clone());
                    thread::spawn(move || {
                        start.wait();
                        crate::agent(Duration::from_secs(10))
                            .get(&format!("{endpoint}/a"))
                            .call()
                            .unwrap()
                            .body_mut()
                            .read_to_string()
                            .unwrap()
                    })
                })
                .collect();
            for client in clients {
                assert_eq!(client.join().unwrap(), "ok");
            }
            let most = upstream.most_in_flight.load(Ordering::SeqCst);
            assert_eq!(
                most == 1,
                serial,
                "{most} in flight at once; serial: {serial}"
            );
        }
    }
}
