//! The cause of a failed call in words, read from the layers of its error chain: the
//! connector's origin, hyper-util's connect flag, DNS, TLS, I/O and hyper errors.

use std::{borrow::Cow, error::Error, io};

use aws_smithy_runtime_api::client::{dns::ResolveDnsError, result::ConnectorError};

use super::connector::FailedRequest;

/// Why a request got no answer: what failed, where.
pub(super) fn no_answer(connector: &ConnectorError) -> String {
    let facts = Transport::read(connector);
    let at = facts.origin.unwrap_or("the endpoint");
    if connector.is_timeout() {
        return if facts.connecting {
            format!("could not connect to {at}: no answer within the connect timeout")
        } else {
            format!("{at} did not answer within the read timeout")
        };
    }
    if !facts.reached_the_network() {
        // Credentials, endpoint resolution, signing or an interceptor failed first.
        return match plain_chain(connector.source()) {
            Some(why) => format!("the request was not sent: {why}"),
            None => "the request was not sent".to_owned(),
        };
    }
    if facts.dns {
        return format!("could not connect to {at}: its host name does not resolve");
    }
    if let Some(tls) = facts.tls {
        return format!(
            "could not connect to {at}: the TLS handshake failed: {}",
            tls_problem(tls)
        );
    }
    let kind = facts.io.map(io::Error::kind);
    let connect_error = matches!(
        kind,
        Some(
            io::ErrorKind::ConnectionRefused
                | io::ErrorKind::HostUnreachable
                | io::ErrorKind::NetworkUnreachable
                | io::ErrorKind::AddrNotAvailable
        )
    );
    if facts.connecting || connect_error {
        let cause = facts
            .io
            .map_or(Cow::Borrowed("the connection failed"), io_words);
        return format!("could not connect to {at}: {cause}");
    }
    match facts.cut_off() {
        Some(Cutoff::Reset) => format!("the connection to {at} was reset before an answer came"),
        Some(Cutoff::Aborted) => {
            format!("the connection to {at} was aborted before an answer came")
        }
        Some(Cutoff::Closed) => format!("{at} closed the connection without answering"),
        Some(Cutoff::BrokenPipe) => {
            format!("the connection to {at} broke while the request was sent")
        }
        Some(Cutoff::Canceled) => {
            format!("the request to {at} was canceled before an answer came")
        }
        Some(Cutoff::Other(cause)) => format!("the request to {at} failed: {cause}"),
        None => format!("the request to {at} failed"),
    }
}

/// Why an answer could not be read. Only its status and the transport's words: the body is
/// never quoted.
pub(super) fn unreadable(status: Option<u16>, source: Option<&(dyn Error + 'static)>) -> String {
    let answer = match status {
        Some(status) => format!("the answer (HTTP {status})"),
        None => "the answer".to_owned(),
    };
    let cut_off = source.and_then(|source| Transport::read(source).cut_off());
    let cause = match cut_off {
        None => return format!("{answer} could not be parsed"),
        Some(Cutoff::Reset) => Cow::Borrowed("the connection was reset"),
        Some(Cutoff::Aborted) => Cow::Borrowed("the connection was aborted"),
        Some(Cutoff::Closed) => Cow::Borrowed("the connection was closed before its end"),
        Some(Cutoff::BrokenPipe) => Cow::Borrowed("the connection broke"),
        Some(Cutoff::Canceled) => Cow::Borrowed("the read was canceled"),
        Some(Cutoff::Other(cause)) => cause,
    };
    format!("{answer} was cut off: {cause}")
}

/// What the transport layers of an error chain say.
#[derive(Default)]
pub(super) struct Transport<'a> {
    /// From the connector of [`config_loader`](super::config_loader).
    origin: Option<&'a str>,
    /// The failure happened while connecting (hyper-util's client says so).
    connecting: bool,
    dns: bool,
    tls: Option<&'a rustls::Error>,
    /// The innermost I/O error.
    io: Option<&'a io::Error>,
    hyper: Option<&'a hyper::Error>,
}

/// How an established connection failed.
enum Cutoff {
    Reset,
    Aborted,
    Closed,
    BrokenPipe,
    Canceled,
    Other(Cow<'static, str>),
}

impl<'a> Transport<'a> {
    /// The endpoint `error` names (`scheme://host[:port]`), from this module's connector.
    pub(super) fn origin(error: &'a (dyn Error + 'static)) -> Option<&'a str> {
        Self::read(error).origin
    }

    fn read(error: &'a (dyn Error + 'static)) -> Self {
        let mut facts = Self::default();
        for cause in chain(error) {
            if let Some(request) = cause.downcast_ref::<FailedRequest>() {
                facts.origin = Some(request.origin());
            } else if let Some(client) = cause.downcast_ref::<hyper_util::client::legacy::Error>() {
                facts.connecting |= client.is_connect();
            } else if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
                facts.hyper = facts.hyper.or(Some(hyper));
            } else if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
                facts.tls = Some(tls);
            } else if let Some(io) = cause.downcast_ref::<io::Error>() {
                facts.io = Some(io);
            } else if cause.is::<ResolveDnsError>() || is_hyper_util_dns_error(cause) {
                facts.dns = true;
            }
        }
        facts
    }

    /// Whether the request got as far as the HTTP client.
    fn reached_the_network(&self) -> bool {
        self.origin.is_some()
            || self.connecting
            || self.dns
            || self.tls.is_some()
            || self.io.is_some()
            || self.hyper.is_some()
    }

    fn cut_off(&self) -> Option<Cutoff> {
        if let Some(io) = self.io {
            return Some(match io.kind() {
                io::ErrorKind::ConnectionReset => Cutoff::Reset,
                io::ErrorKind::ConnectionAborted => Cutoff::Aborted,
                io::ErrorKind::UnexpectedEof => Cutoff::Closed,
                io::ErrorKind::BrokenPipe => Cutoff::BrokenPipe,
                _ => Cutoff::Other(io_words(io)),
            });
        }
        let hyper = self.hyper?;
        Some(if hyper.is_incomplete_message() || hyper.is_closed() {
            Cutoff::Closed
        } else if hyper.is_canceled() {
            Cutoff::Canceled
        } else {
            // hyper's messages are fixed phrases ("connection error", "error parsing
            // HTTP status"), never Debug text.
            Cutoff::Other(Cow::Owned(hyper.to_string()))
        })
    }
}

/// hyper-util's resolver failure. Its type is private; its message is the fixed "dns error".
fn is_hyper_util_dns_error(error: &(dyn Error + 'static)) -> bool {
    error.source().is_some() && error.to_string() == "dns error"
}

/// `error` and then each error in its chain. After an `io::Error` the next one is its payload
/// (`get_ref`): `io::Error::source` skips the payload and returns the payload's source.
pub(super) fn chain<'a>(
    error: &'a (dyn Error + 'static),
) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(error), |&error| {
        match error.downcast_ref::<io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|payload| payload as &(dyn Error + 'static)),
            None => error.source(),
        }
    })
}

/// The `Display` texts of `error`'s chain joined by `: `, leaving out the layers that only
/// say which layer they are (`ConnectorError`'s "io error", hyper-util's "client error
/// (Connect)", which is `Debug` text) and repeated texts. `None` when nothing is left.
pub(super) fn plain_chain(error: Option<&(dyn Error + 'static)>) -> Option<String> {
    let mut text = String::new();
    let mut last = String::new();
    for cause in error.into_iter().flat_map(chain) {
        if cause.is::<ConnectorError>()
            || cause.is::<hyper_util::client::legacy::Error>()
            || cause.is::<FailedRequest>()
        {
            continue;
        }
        let words = cause.to_string();
        if words.is_empty() || words == last || text.ends_with(&words) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&words);
        last = words;
    }
    (!text.is_empty()).then_some(text)
}

/// An I/O failure in words: its kind ("connection refused"), or its own text when the kind
/// says nothing ("other error").
fn io_words(error: &io::Error) -> Cow<'static, str> {
    let kind = error.kind();
    match kind {
        io::ErrorKind::Other => Cow::Owned(error.to_string()),
        _ => {
            let words = kind.to_string();
            // `Uncategorized` (unnameable outside std) reads "uncategorized error".
            if words.ends_with(" error") {
                Cow::Owned(error.to_string())
            } else {
                Cow::Owned(words)
            }
        }
    }
}

/// A failed TLS handshake in words (rustls's own `Display` names enum variants).
fn tls_problem(error: &rustls::Error) -> &'static str {
    use rustls::{CertificateError, Error as Tls};
    match error {
        Tls::InvalidCertificate(certificate) => match certificate {
            CertificateError::UnknownIssuer => {
                "the server's certificate is not issued by a CA this function trusts (see \
                 SSL_CERT_FILE and the system CA bundle)"
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the server's certificate has expired"
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet (check the system clock)"
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "the server's certificate is not valid for this host name"
            }
            CertificateError::Revoked => "the server's certificate is revoked",
            _ => "the server's certificate was rejected",
        },
        Tls::NoCertificatesPresented => "the server presented no certificate",
        Tls::AlertReceived(_) => "the server refused the handshake",
        Tls::InvalidMessage(_)
        | Tls::InappropriateMessage { .. }
        | Tls::InappropriateHandshakeMessage { .. } => {
            "the server did not answer in TLS (is it a plain http endpoint?)"
        }
        Tls::PeerIncompatible(_) => "the server offers no TLS version or cipher suite in common",
        _ => "the handshake was not completed",
    }
}
