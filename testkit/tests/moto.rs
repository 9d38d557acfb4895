//! The moto harness: answers on its port, exposes SDK settings, and stops for good.

use std::{net::TcpStream, time::Duration};

use tern_testkit::Moto;

#[test]
fn moto_answers_aws_calls_and_stops() {
    let mut moto = Moto::start();
    let endpoint = moto.endpoint();
    assert_eq!(endpoint, format!("http://127.0.0.1:{}", moto.port()));

    // A real AWS API call (SQS query protocol) answered by moto.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut response = agent
        .post(&endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20261122/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0",
        )
        .send("Action=CreateQueue&QueueName=harness-check&Version=2012-11-05")
        .expect("moto answers");
    assert_eq!(response.status().as_u16(), 200);
    let body = response.body_mut().read_to_string().unwrap();
    assert!(body.contains("/harness-check</QueueUrl>"), "{body}");
    // moto writes its request log line after the response: give it a moment.
    let logged = (0..100).any(|_| {
        let seen = moto.logs().contains("POST / HTTP/1.1");
        if !seen {
            std::thread::sleep(Duration::from_millis(20));
        }
        seen
    });
    assert!(logged, "moto's request log records calls");

    let env = moto.sdk_env();
    let get = |k: &str| {
        env.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("AWS_ENDPOINT_URL"), Some(endpoint.as_str()));
    assert_eq!(get("AWS_REGION"), Some("us-east-1"));
    assert_eq!(get("AWS_ACCESS_KEY_ID"), Some("testing"));

    let port = moto.port();
    moto.stop();
    assert!(!moto.is_running());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "moto still listens after stop"
    );
}

#[test]
fn each_moto_gets_its_own_port() {
    let a = Moto::start();
    let b = Moto::start();
    assert_ne!(a.port(), b.port());
}
