//! `SdkFailure` through a real SDK client built from `tern_runtime::aws::config_loader()`,
//! against loopback servers that refuse, reset, close, black-hole, fail or garble: every
//! message is asserted whole. Inside an invocation the same clients end their calls before its
//! deadline and send its trace header.
#![cfg(feature = "aws")]

use std::{
    convert::Infallible,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use aws_config::{Region, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_dynamodb::{Client, config::Credentials, types::AttributeValue};
use lambda_runtime::{Config, Context, LambdaInvocation};
use tern_runtime::{InvocationLayer, aws::SdkFailure};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tower::{Layer as _, Service as _};

/// A DynamoDB client for `endpoint`: one attempt per call, test credentials.
async fn client(endpoint: &str, timeouts: TimeoutConfig) -> Client {
    let config = tern_runtime::aws::config_loader()
        .endpoint_url(endpoint)
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts)
        .load()
        .await;
    Client::new(&config)
}

async fn get_item(endpoint: &str, timeouts: TimeoutConfig) -> SdkFailure {
    get_item_with(client(endpoint, timeouts).await).await
}

async fn get_item_with(client: Client) -> SdkFailure {
    let error = client
        .get_item()
        .table_name("orders")
        .key("id", AttributeValue::S("o-1".into()))
        .send()
        .await
        .expect_err("the call fails");
    SdkFailure::from_sdk_error(&error)
}

/// What a loopback server does with each request it reads.
#[derive(Clone, Copy)]
enum Answer {
    /// Writes these bytes and keeps the connection open without another word.
    RawThenHang(&'static str),
    /// Resets the connection (`SO_LINGER` 0, then close).
    Reset,
    /// Closes the connection without a word.
    Close,
    /// Keeps the connection open and never answers.
    Hang,
    /// Writes these bytes and closes.
    Raw(&'static str),
}

/// A server on a free loopback port that answers every connection with `answer`; it counts
/// the requests it read.
async fn serve(answer: Answer) -> (u16, Arc<AtomicUsize>, JoinHandle<()>) {
    let (port, requests, _, task) = serve_recording(answer).await;
    (port, requests, task)
}

/// [`serve`], recording the `x-amzn-trace-id` header of each request (`None` without one).
async fn serve_tracing(answer: Answer) -> (u16, Traces, JoinHandle<()>) {
    let (port, _, traces, task) = serve_recording(answer).await;
    (port, traces, task)
}

type Traces = Arc<Mutex<Vec<Option<String>>>>;

async fn serve_recording(answer: Answer) -> (u16, Arc<AtomicUsize>, Traces, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    let traces = Traces::default();
    let recorded = traces.clone();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let trace = read_request(&mut stream).await;
            recorded.lock().unwrap().push(trace);
            counted.fetch_add(1, Ordering::SeqCst);
            match answer {
                Answer::Reset => stream.set_zero_linger().unwrap(),
                Answer::Close => {}
                Answer::Hang => held.push(stream),
                Answer::Raw(bytes) => {
                    let _ = stream.write_all(bytes.as_bytes()).await;
                }
                Answer::RawThenHang(bytes) => {
                    let _ = stream.write_all(bytes.as_bytes()).await;
                    held.push(stream);
                }
            }
        }
    });
    (port, requests, traces, task)
}

/// Reads one request: its head, then as many body bytes as `content-length` says (a TLS
/// client hello has no head: whatever came first is enough). Its `x-amzn-trace-id`, if any.
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let Ok(read) = stream.read(&mut buffer).await else {
            return None;
        };
        if read == 0 {
            return None;
        }
        seen.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&seen).into_owned();
        if !text.to_ascii_lowercase().starts_with("post ") {
            return None;
        }
        if let Some(head_end) = text.find("\r\n\r\n") {
            let header = |name: &str| {
                text[..head_end].lines().find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    key.eq_ignore_ascii_case(name)
                        .then(|| value.trim().to_owned())
                })
            };
            let length: usize = header("content-length")
                .and_then(|value| value.parse().ok())
                .unwrap_or(0);
            if seen.len() >= head_end + 4 + length {
                return header("x-amzn-trace-id");
            }
        }
    }
}

fn no_timeouts() -> TimeoutConfig {
    TimeoutConfig::disabled()
}

fn check(failure: &SdkFailure, code: &str, message: &str) {
    assert_eq!((failure.code(), failure.message()), (code, message));
}

/// The failure of one call, with no timeouts, to a fresh server that answers with `answer`,
/// and that server's endpoint (`http://127.0.0.1:<port>`).
async fn served(answer: Answer) -> (String, SdkFailure) {
    let (port, _, _server) = serve(answer).await;
    let endpoint = format!("http://127.0.0.1:{port}");
    let failure = get_item(&endpoint, no_timeouts()).await;
    (endpoint, failure)
}

#[tokio::test]
async fn connection_refused_names_the_endpoint() {
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let failure = get_item(&format!("http://127.0.0.1:{port}"), no_timeouts()).await;
    check(
        &failure,
        "DispatchFailure",
        &format!("could not connect to http://127.0.0.1:{port}: connection refused"),
    );
}

#[tokio::test]
async fn a_reset_connection() {
    let (endpoint, failure) = served(Answer::Reset).await;
    check(
        &failure,
        "DispatchFailure",
        &format!("the connection to {endpoint} was reset before an answer came"),
    );
}

#[tokio::test]
async fn a_connection_closed_without_an_answer() {
    let (endpoint, failure) = served(Answer::Close).await;
    check(
        &failure,
        "DispatchFailure",
        &format!("{endpoint} closed the connection without answering"),
    );
}

#[tokio::test]
async fn a_black_hole_meets_the_sdk_timeouts() {
    let (port, _, _server) = serve(Answer::Hang).await;
    let endpoint = format!("http://127.0.0.1:{port}");
    let timeout = Duration::from_millis(200);
    let cases = [
        (
            TimeoutConfig::builder().read_timeout(timeout).build(),
            format!("http://127.0.0.1:{port} did not answer within the read timeout"),
        ),
        (
            TimeoutConfig::builder().operation_timeout(timeout).build(),
            "no answer before the SDK client's operation timeout (or attempt timeout) expired"
                .to_owned(),
        ),
    ];
    for (timeouts, message) in cases {
        check(&get_item(&endpoint, timeouts).await, "Timeout", &message);
    }
}

#[tokio::test]
async fn a_connection_that_is_never_accepted() {
    // A listener whose accept queue is full: the kernel drops further SYNs, so a connect
    // neither succeeds nor fails.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let address = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(address)).await
        {
            fillers.push(stream);
        }
    }
    let connect = TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(300))
        .build();
    let failure = get_item(&format!("http://{address}"), connect).await;
    check(
        &failure,
        "Timeout",
        &format!("could not connect to http://{address}: no answer within the connect timeout"),
    );
}

#[tokio::test]
async fn an_unresolvable_host() {
    // `.invalid` never resolves (RFC 2606).
    let failure = get_item("http://dynamodb.tern-test.invalid:8000", no_timeouts()).await;
    check(
        &failure,
        "DispatchFailure",
        "could not connect to http://dynamodb.tern-test.invalid:8000: its host name does not \
         resolve",
    );
}

#[tokio::test]
async fn https_to_a_plain_http_server() {
    let (port, _, _server) = serve(Answer::Raw(
        "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    ))
    .await;
    let failure = get_item(&format!("https://127.0.0.1:{port}"), no_timeouts()).await;
    check(
        &failure,
        "DispatchFailure",
        &format!(
            "could not connect to https://127.0.0.1:{port}: the TLS handshake failed: the \
             server did not answer in TLS (is it a plain http endpoint?)"
        ),
    );
}

/// [`check`]s the failure of a call to a server that answers with each raw answer.
async fn check_answers(cases: &[(&'static str, &str, &str)]) {
    for &(raw, code, message) in cases {
        let (_, failure) = served(Answer::Raw(raw)).await;
        check(&failure, code, message);
    }
}

#[tokio::test]
async fn service_errors_keep_the_aws_code_and_message() {
    check_answers(&[
        (
            "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/x-amz-json-1.0\r\n\
             x-amzn-errortype: InternalServerError\r\ncontent-length: 66\r\n\r\n\
             {\"__type\":\"InternalServerError\",\"message\":\"Internal server error\"}",
            "InternalServerError",
            "Internal server error",
        ),
        // A proxy's own error page: no AWS code, no message, only the status.
        (
            "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: 20\r\n\r\n\
             <h1>bad gateway</h1>",
            "Unknown",
            "the answer (HTTP 502) carries no AWS error code or message",
        ),
    ])
    .await;
}

#[tokio::test]
async fn answers_that_cannot_be_read() {
    check_answers(&[
        (
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 25\r\n\r\n\
             {\"Item\": \"not an item\"} x",
            "Unknown",
            "the answer (HTTP 200) could not be parsed",
        ),
        // The body ends before its content-length.
        (
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 400\r\n\r\n\
             {\"Item\": {",
            "ResponseError",
            "the answer (HTTP 200) was cut off: the connection was closed before its end",
        ),
    ])
    .await;
}

#[tokio::test]
async fn transport_failures_are_retried_as_before() {
    for answer in [Answer::Reset, Answer::Close] {
        let (port, requests, _server) = serve(answer).await;
        let config = tern_runtime::aws::config_loader()
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .load()
            .await;
        let failure = get_item_with(Client::new(&config)).await;
        assert_eq!(failure.code(), "DispatchFailure");
        assert_eq!(requests.load(Ordering::SeqCst), 3, "{failure}");
    }
}

/// Without credentials the request is never signed: the SDK reports that as a dispatch
/// failure, in its own (plain) words.
#[tokio::test]
async fn a_request_that_is_never_sent() {
    let config = tern_runtime::aws::config_loader()
        .endpoint_url("http://127.0.0.1:9")
        .region(Region::new("eu-west-1"))
        .no_credentials()
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    let failure = get_item_with(Client::new(&config)).await;
    assert_eq!(failure.code(), "DispatchFailure");
    assert!(
        failure.message().starts_with(
            "the request was not sent: failed to select an auth scheme to sign the request with. "
        ),
        "{failure}"
    );
    // The rest is the SDK's own sentence, not a Debug dump of its error.
    assert!(!failure.message().contains(['{', '}']), "{failure}");
}

/// Runs `call` as the handler of one invocation through `layer`: its deadline `deadline` from
/// now, its trace header `trace_id`.
async fn in_invocation<F: Future + 'static>(
    layer: &InvocationLayer,
    deadline: Duration,
    trace_id: Option<&str>,
    call: F,
) -> F::Output {
    let mut call = Some(call);
    let mut service = layer.layer(tower::service_fn(move |_: LambdaInvocation| {
        let call = call.take().expect("one invocation");
        async move { Ok::<_, Infallible>(call.await) }
    }));
    let mut context = Context::default();
    context.request_id = "req-1".to_owned();
    context.deadline = (SystemTime::now() + deadline)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    context.xray_trace_id = trace_id.map(str::to_owned);
    context.env_config = Arc::new(Config::default());
    let invocation = LambdaInvocation {
        parts: http::Response::new(()).into_parts().0,
        body: bytes::Bytes::from_static(b"{}"),
        context,
    };
    let answer = service.call(invocation).await;
    match answer {
        Ok(output) => output,
        Err(never) => match never {},
    }
}

/// A client with the SDK's standard retries (`attempts`) and no timeouts of its own.
async fn retrying_client(endpoint: &str, attempts: u32) -> Client {
    let config = tern_runtime::aws::config_loader()
        .endpoint_url(endpoint)
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(RetryConfig::standard().with_max_attempts(attempts))
        .timeout_config(TimeoutConfig::disabled())
        .load()
        .await;
    Client::new(&config)
}

/// SDK calls end 500 ms before the deadline here: time enough, on a loaded machine, for the
/// assertion that they ended before it.
fn half_a_second_early() -> InvocationLayer {
    InvocationLayer::new().with_sdk_deadline_margin(Duration::from_millis(500))
}

/// One GetItem against a loopback server answering `answer`, by a client retrying up to
/// `attempts` times, in an invocation with 2 s left whose SDK calls end 500 ms early: it
/// fails with `DeadlineExceeded` and the message `expected` gives for the server's endpoint,
/// before the deadline. The requests the server received, and how long the call took.
async fn cut_off_at_the_deadline(
    answer: Answer,
    attempts: u32,
    expected: impl FnOnce(&str) -> String,
) -> (usize, Duration) {
    let (port, requests, _server) = serve(answer).await;
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = retrying_client(&endpoint, attempts).await;
    let started = Instant::now();
    let failure = in_invocation(
        &half_a_second_early(),
        Duration::from_secs(2),
        None,
        get_item_with(client),
    )
    .await;
    let elapsed = started.elapsed();
    check(&failure, "DeadlineExceeded", &expected(&endpoint));
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    (requests.load(Ordering::SeqCst), elapsed)
}

/// The message of a call that had no answer from `endpoint` in time.
fn no_answer_from(endpoint: &str) -> String {
    format!(
        "no answer from {endpoint} before the invocation's deadline (less 500 ms to send the \
         error)"
    )
}

#[tokio::test]
async fn a_black_hole_ends_the_call_before_the_invocations_deadline_without_retries() {
    let (requests, elapsed) = cut_off_at_the_deadline(Answer::Hang, 3, no_answer_from).await;
    // It waited for the answer until 1.5 s.
    assert!(elapsed >= Duration::from_millis(1_450), "{elapsed:?}");
    assert_eq!(requests, 1, "not retried");
}

#[tokio::test]
async fn throttled_retries_back_off_no_further_than_the_deadline() {
    let body = r#"{"__type":"ThrottlingException","message":"Rate of requests exceeds the limit"}"#;
    let throttled = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    // Ten attempts with the SDK's backoff (up to 1 s, 2 s, 4 s … with jitter) would take far
    // longer than the invocation has.
    let (requests, _) =
        cut_off_at_the_deadline(Answer::Raw(throttled.leak()), 10, no_answer_from).await;
    assert!((1..10).contains(&requests), "{requests} attempts");
}

#[tokio::test]
async fn an_answer_whose_body_stops_coming_ends_at_the_deadline() {
    let answer = Answer::RawThenHang(
        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 400\r\n\r\n\
         {\"Item\": {",
    );
    let (_, elapsed) = cut_off_at_the_deadline(answer, 1, |_| {
        "the answer (HTTP 200) did not arrive whole before the invocation's deadline (less 500 \
         ms to send the error)"
            .to_owned()
    })
    .await;
    assert!(elapsed >= Duration::from_millis(1_450), "{elapsed:?}");
}

#[tokio::test]
async fn concurrent_invocations_keep_their_own_deadline_and_trace_header() {
    let (port, traces, _server) = serve_tracing(Answer::Hang).await;
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = retrying_client(&endpoint, 1).await;
    let layer = half_a_second_early();
    let timed = |deadline: Duration, trace: &'static str| {
        let client = client.clone();
        let layer = layer.clone();
        async move {
            let started = Instant::now();
            let failure = in_invocation(&layer, deadline, Some(trace), get_item_with(client)).await;
            (failure.code().to_owned(), started.elapsed())
        }
    };
    let (first, second) = tokio::join!(
        timed(
            Duration::from_millis(1_500),
            "Root=1-00000001-aaaaaaaaaaaaaaaaaaaaaaaa"
        ),
        timed(
            Duration::from_millis(2_500),
            "Root=1-00000002-bbbbbbbbbbbbbbbbbbbbbbbb"
        ),
    );
    assert_eq!(first.0, "DeadlineExceeded");
    assert_eq!(second.0, "DeadlineExceeded");
    assert!(
        first.1 >= Duration::from_millis(950) && first.1 < Duration::from_millis(1_500),
        "{first:?}"
    );
    assert!(
        second.1 >= Duration::from_millis(1_950) && second.1 < Duration::from_millis(2_500),
        "{second:?}"
    );
    let mut seen = traces.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            Some("Root=1-00000001-aaaaaaaaaaaaaaaaaaaaaaaa".to_owned()),
            Some("Root=1-00000002-bbbbbbbbbbbbbbbbbbbbbbbb".to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_call_outside_an_invocation_or_without_tracing_sends_no_trace_header() {
    let (port, traces, _server) = serve_tracing(Answer::Raw(
        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 2\r\n\r\n{}",
    ))
    .await;
    let client = retrying_client(&format!("http://127.0.0.1:{port}"), 1).await;
    let get = |client: Client| async move {
        client
            .get_item()
            .table_name("orders")
            .key("id", AttributeValue::S("o-1".into()))
            .send()
            .await
            .map(|_| ())
            .map_err(|error| SdkFailure::from_sdk_error(&error))
    };
    get(client.clone()).await.unwrap();
    in_invocation(
        &InvocationLayer::new(),
        Duration::from_secs(5),
        None,
        get(client.clone()),
    )
    .await
    .unwrap();
    in_invocation(
        &InvocationLayer::new(),
        Duration::from_secs(5),
        Some("Root=1-00000003-cccccccccccccccccccccccc;Sampled=1"),
        get(client),
    )
    .await
    .unwrap();
    assert_eq!(
        *traces.lock().unwrap(),
        [
            None,
            None,
            Some("Root=1-00000003-cccccccccccccccccccccccc;Sampled=1".to_owned())
        ]
    );
}
