//! The rendering of every `SdkError` variant, from errors built as the SDK and its HTTP
//! client build them. (`runtime/tests/aws_failures.rs` drives a real client into each.)

use super::*;
use crate::aws::{cause::plain_chain, connector::failed_request};
use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{dns::ResolveDnsError, result::ConnectorError},
    http::StatusCode,
};
use aws_smithy_types::{
    body::SdkBody,
    error::{ErrorMetadata, operation::BuildError},
};
use std::io;

const DYNAMODB: &str = "https://dynamodb.eu-west-1.amazonaws.com";

/// A modeled service error: only its metadata matters.
#[derive(Debug)]
struct ServiceFault(ErrorMetadata);

impl fmt::Display for ServiceFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("service fault")
    }
}

impl Error for ServiceFault {}

impl ProvideErrorMetadata for ServiceFault {
    fn meta(&self) -> &ErrorMetadata {
        &self.0
    }
}

type Failure = SdkError<ServiceFault, HttpResponse>;

fn response(status: u16) -> HttpResponse {
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty())
}

fn service(code: Option<&str>, message: Option<&str>, status: u16) -> Failure {
    let mut meta = ErrorMetadata::builder();
    if let Some(code) = code {
        meta = meta.code(code);
    }
    if let Some(message) = message {
        meta = meta.message(message);
    }
    SdkError::service_error(ServiceFault(meta.build()), response(status))
}

fn io(kind: io::ErrorKind) -> io::Error {
    io::Error::from(kind)
}

/// A connector failure of `make` kind with `source`, as this module's connector re-raises it
/// for a request to `uri`.
fn at(uri: &str, make: fn(BoxError) -> ConnectorError, source: impl Into<BoxError>) -> Failure {
    SdkError::dispatch_failure(make(Box::new(failed_request(uri, source))))
}

fn tls(error: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

#[test]
fn every_variant_renders_a_code_and_a_plain_message() {
    use io::ErrorKind::*;
    let cases: Vec<(Failure, &str, String)> = vec![
        // The service answered.
        (
            service(Some("ThrottlingException"), Some("Rate exceeded"), 400),
            "ThrottlingException",
            "Rate exceeded".into(),
        ),
        (
            service(Some("ValidationException"), None, 400),
            "ValidationException",
            "no message (HTTP 400)".into(),
        ),
        (
            service(None, Some("Bad credentials"), 403),
            "Unknown",
            "Bad credentials".into(),
        ),
        (
            service(None, None, 200),
            "Unknown",
            "the answer (HTTP 200) could not be parsed".into(),
        ),
        (
            service(None, None, 502),
            "Unknown",
            "the answer (HTTP 502) carries no AWS error code or message".into(),
        ),
        // No answer: the name of the endpoint's host does not resolve (the I/O errors of
        // connections that failed or broke are below).
        (
            at(
                DYNAMODB,
                ConnectorError::io,
                ResolveDnsError::new(io::Error::other("failed to lookup address information")),
            ),
            "DispatchFailure",
            format!("could not connect to {DYNAMODB}: its host name does not resolve"),
        ),
        (
            at(
                DYNAMODB,
                ConnectorError::io,
                io::Error::other("the proxy refused the tunnel"),
            ),
            "DispatchFailure",
            format!("the request to {DYNAMODB} failed: the proxy refused the tunnel"),
        ),
        // The SDK's own timeouts.
        (
            at(
                DYNAMODB,
                ConnectorError::timeout,
                "HTTP read timeout occurred after 1s",
            ),
            "Timeout",
            format!("{DYNAMODB} did not answer within the read timeout"),
        ),
        (
            SdkError::timeout_error("operation timeout (all attempts including retries)"),
            "Timeout",
            "no answer before the SDK client's operation timeout (or attempt timeout) expired"
                .into(),
        ),
        // A connector that is not this module's: the endpoint is not known.
        (
            SdkError::dispatch_failure(ConnectorError::io(io(ConnectionRefused).into())),
            "DispatchFailure",
            "could not connect to the endpoint: connection refused".into(),
        ),
        // Failed before the network: credentials, endpoint resolution, signing.
        (
            SdkError::dispatch_failure(ConnectorError::other(
                "failed to load credentials: no providers in chain provided credentials".into(),
                None,
            )),
            "DispatchFailure",
            "the request was not sent: failed to load credentials: no providers in chain \
             provided credentials"
                .into(),
        ),
        // An answer that cannot be read; its content is never quoted.
        (
            SdkError::response_error(
                "expected `,` at 17: {\"SecretString\":\"hunter2\"",
                response(200),
            ),
            "ResponseError",
            "the answer (HTTP 200) could not be parsed".into(),
        ),
        (
            SdkError::response_error(io(ConnectionReset), response(200)),
            "ResponseError",
            "the answer (HTTP 200) was cut off: the connection was reset".into(),
        ),
        (
            SdkError::construction_failure(BuildError::missing_field(
                "table_name",
                "A required field was not set",
            )),
            "ConstructionFailure",
            "the request could not be built: table_name was missing: A required field was not set"
                .into(),
        ),
    ];
    // No answer: the connection failed, or broke, with an I/O error of this kind.
    let io_failures = [
        (
            ConnectionRefused,
            "could not connect to {endpoint}: connection refused",
        ),
        (
            HostUnreachable,
            "could not connect to {endpoint}: host unreachable",
        ),
        (
            NetworkUnreachable,
            "could not connect to {endpoint}: network unreachable",
        ),
        (
            ConnectionReset,
            "the connection to {endpoint} was reset before an answer came",
        ),
        (
            ConnectionAborted,
            "the connection to {endpoint} was aborted before an answer came",
        ),
        (
            UnexpectedEof,
            "{endpoint} closed the connection without answering",
        ),
        (
            BrokenPipe,
            "the connection to {endpoint} broke while the request was sent",
        ),
        (TimedOut, "the request to {endpoint} failed: timed out"),
    ];
    let io_cases = io_failures.map(|(kind, message)| {
        (
            at(DYNAMODB, ConnectorError::io, io(kind)),
            "DispatchFailure",
            message.replace("{endpoint}", DYNAMODB),
        )
    });
    for (error, code, message) in cases.into_iter().chain(io_cases) {
        let failure = SdkFailure::from_sdk_error(&error);
        assert_eq!((failure.code(), failure.message()), (code, &*message));
        assert_eq!(failure.to_string(), format!("{code}: {message}"));
        assert_eq!(failure.into_parts(), (code.into(), message));
    }
}

#[test]
fn tls_failures_are_described_in_words() {
    use rustls::{AlertDescription, CertificateError, Error as Tls, InvalidMessage};
    let cases = [
        (
            Tls::InvalidCertificate(CertificateError::UnknownIssuer),
            "the server's certificate is not issued by a CA this function trusts (see \
             SSL_CERT_FILE and the system CA bundle)",
        ),
        (
            Tls::InvalidCertificate(CertificateError::Expired),
            "the server's certificate has expired",
        ),
        (
            Tls::InvalidCertificate(CertificateError::NotValidYet),
            "the server's certificate is not valid yet (check the system clock)",
        ),
        (
            Tls::InvalidCertificate(CertificateError::NotValidForName),
            "the server's certificate is not valid for this host name",
        ),
        (
            Tls::InvalidCertificate(CertificateError::Revoked),
            "the server's certificate is revoked",
        ),
        (
            Tls::InvalidCertificate(CertificateError::BadSignature),
            "the server's certificate was rejected",
        ),
        (
            Tls::NoCertificatesPresented,
            "the server presented no certificate",
        ),
        (
            Tls::AlertReceived(AlertDescription::HandshakeFailure),
            "the server refused the handshake",
        ),
        (
            Tls::InvalidMessage(InvalidMessage::InvalidContentType),
            "the server did not answer in TLS (is it a plain http endpoint?)",
        ),
        (
            Tls::General("internal".into()),
            "the handshake was not completed",
        ),
    ];
    for (error, words) in cases {
        let failure = SdkFailure::from_sdk_error(&at(DYNAMODB, ConnectorError::io, tls(error)));
        assert_eq!(
            (failure.code(), failure.message()),
            (
                "DispatchFailure",
                &*format!("could not connect to {DYNAMODB}: the TLS handshake failed: {words}")
            )
        );
    }
}

#[test]
fn errors_of_other_raw_types_have_no_status() {
    let error: SdkError<ServiceFault, ()> =
        SdkError::service_error(ServiceFault(ErrorMetadata::builder().build()), ());
    let failure = SdkFailure::from_sdk_error(&error);
    assert_eq!(
        (failure.code(), failure.message()),
        ("Unknown", "the answer carries no AWS error code or message")
    );
    let error: SdkError<ServiceFault, ()> = SdkError::response_error("bad", ());
    assert_eq!(
        SdkFailure::from_sdk_error(&error).message(),
        "the answer could not be parsed"
    );
}

#[test]
fn the_display_chain_leaves_out_layer_names_and_repeats() {
    let inner = io::Error::other("no providers in chain provided credentials");
    let outer = ConnectorError::other(Box::new(inner), None);
    assert_eq!(
        plain_chain(Some(&outer)).as_deref(),
        Some("no providers in chain provided credentials")
    );
    assert_eq!(plain_chain(None), None);
    assert_eq!(
        plain_chain(Some(&ConnectorError::other("".into(), None))),
        None
    );
}
