//! Connector failures that say which endpoint failed.
//!
//! The SDK's `DispatchFailure` carries the connector's error and nothing of the request, so
//! "connection refused" alone does not say to what. The connectors of [`EndpointInErrors`]
//! re-raise a failure with the request's origin (`scheme://host[:port]`: never the path, the
//! query or credentials) attached as a [`FailedRequest`] in its source chain, which
//! [`SdkFailure`](super::SdkFailure) reads. The error keeps its kind (timeout, I/O, user,
//! other) and connection metadata, which the SDK's retry policy reads. Inside an invocation
//! the connectors also bound each request by its deadline and give it the invocation's trace
//! header ([`deadline`](super::deadline)).

use std::{
    error::Error,
    fmt,
    sync::{PoisonError, RwLock},
    time::Duration,
};

use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        connector_metadata::ConnectorMetadata,
        http::{
            HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings,
            SharedHttpConnector,
        },
        orchestrator::HttpRequest,
        result::ConnectorError,
        runtime_components::{RuntimeComponents, RuntimeComponentsBuilder},
    },
};
use aws_smithy_types::config_bag::ConfigBag;

use super::deadline;

/// An [`HttpClient`] whose connectors name the endpoint in their errors.
#[derive(Debug)]
pub(super) struct EndpointInErrors<C> {
    inner: C,
    /// One wrapped connector per distinct settings (the SDK's own client caches its
    /// connectors the same way), so that a request costs a read lock, not an allocation.
    connectors: RwLock<Vec<(SettingsKey, SharedHttpConnector)>>,
}

/// Every field of [`HttpConnectorSettings`]: the connect and read timeouts.
type SettingsKey = (Option<Duration>, Option<Duration>);

impl<C> EndpointInErrors<C> {
    pub(super) fn new(inner: C) -> Self {
        Self {
            inner,
            connectors: RwLock::new(Vec::new()),
        }
    }

    /// The connector for `key`, built by `build` the first time.
    fn connector_for(
        &self,
        key: SettingsKey,
        build: impl FnOnce() -> SharedHttpConnector,
    ) -> SharedHttpConnector {
        let find = |connectors: &[(SettingsKey, SharedHttpConnector)]| {
            connectors
                .iter()
                .find(|(cached, _)| *cached == key)
                .map(|(_, connector)| connector.clone())
        };
        let connectors = self
            .connectors
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(connector) = find(&connectors) {
            return connector;
        }
        drop(connectors);
        let mut connectors = self
            .connectors
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(connector) = find(&connectors) {
            return connector;
        }
        let connector = build();
        connectors.push((key, connector.clone()));
        connector
    }
}

impl<C: HttpClient> HttpClient for EndpointInErrors<C> {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        self.connector_for(key, || {
            SharedHttpConnector::new(EndpointInErrorsConnector(
                self.inner.http_connector(settings, components),
            ))
        })
    }

    fn validate_base_client_config(
        &self,
        components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.validate_base_client_config(components, cfg)
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct EndpointInErrorsConnector(SharedHttpConnector);

impl HttpConnector for EndpointInErrorsConnector {
    fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
        let origin = Origin::of(request.uri());
        let tag = |error| match origin {
            Some(origin) => with_origin(error, origin),
            None => error,
        };
        // Inside an invocation: its trace header, and its deadline.
        let bound = match deadline::prepare(&mut request) {
            Ok(bound) => bound,
            Err(too_late) => return HttpConnectorFuture::ready(Err(tag(too_late))),
        };
        let sent = self.0.call(request);
        HttpConnectorFuture::new(async move {
            let answer = match bound {
                Some((until, margin)) => deadline::answer_by(until, margin, sent).await,
                None => sent.await,
            };
            answer.map_err(tag)
        })
    }
}

/// `error`, with a [`FailedRequest`] naming `origin` between it and its source.
fn with_origin(error: ConnectorError, origin: Origin) -> ConnectorError {
    let connection = error.connection_metadata().cloned();
    let other_kind = error.as_other();
    let rebuild: fn(BoxError) -> ConnectorError = if error.is_timeout() {
        ConnectorError::timeout
    } else if error.is_io() {
        ConnectorError::io
    } else if error.is_user() {
        ConnectorError::user
    } else {
        |source| ConnectorError::other(source, None)
    };
    let source = Box::new(FailedRequest {
        origin,
        source: error.into_source(),
    });
    // `other` is the one kind that carries data (the retry hint): rebuilt with it.
    let tagged = match other_kind {
        Some(kind) => ConnectorError::other(source, Some(kind)),
        None => rebuild(source),
    };
    // (Whether a connection was never established is not readable from the error; the
    // SDK's hyper client does not set it.)
    match connection {
        Some(connection) => tagged.with_connection(connection),
        None => tagged,
    }
}

/// A request the connector could not get an answer to, and where it was sent.
#[derive(Debug)]
pub(super) struct FailedRequest {
    origin: Origin,
    source: BoxError,
}

impl FailedRequest {
    /// `scheme://host[:port]` of the request.
    pub(super) fn origin(&self) -> &str {
        self.origin.as_str()
    }
}

impl fmt::Display for FailedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the request to {} failed", self.origin)
    }
}

impl Error for FailedRequest {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// How many bytes of an origin are kept inline. AWS endpoints are 30 to 60 bytes; an S3
/// virtual-hosted endpoint with a 63-character bucket name is about 100.
const INLINE_ORIGIN: usize = 120;

/// `scheme://host[:port]` of a request URI.
///
/// Kept inline in the connector's future, which the connector interface allocates anyway, so
/// that a request that succeeds costs no allocation for it; longer origins go to the heap.
enum Origin {
    Inline { len: u8, bytes: [u8; INLINE_ORIGIN] },
    Long(Box<str>),
}

impl Origin {
    /// The origin of `uri`: its scheme and authority without user information; `None` when
    /// it has no `scheme://`.
    fn of(uri: &str) -> Option<Self> {
        let (scheme, rest) = uri.split_once("://")?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        if scheme.is_empty() || host.is_empty() {
            return None;
        }
        let len = scheme.len() + "://".len() + host.len();
        if len > INLINE_ORIGIN {
            return Some(Self::Long(format!("{scheme}://{host}").into_boxed_str()));
        }
        let mut bytes = [0; INLINE_ORIGIN];
        let mut at = 0;
        for part in [scheme, "://", host] {
            bytes[at..at + part.len()].copy_from_slice(part.as_bytes());
            at += part.len();
        }
        Some(Self::Inline {
            len: len as u8,
            bytes,
        })
    }

    fn as_str(&self) -> &str {
        match self {
            // Whole `&str` pieces were copied in, so this is always valid UTF-8.
            Self::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Self::Long(origin) => origin,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A [`FailedRequest`] for tests of the rendering, without a connector.
#[cfg(test)]
pub(super) fn failed_request(uri: &str, source: impl Into<BoxError>) -> FailedRequest {
    FailedRequest {
        origin: Origin::of(uri).expect("a test URI has a scheme"),
        source: source.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::{orchestrator::HttpResponse, retries::ErrorKind};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn origins_keep_scheme_host_and_port_only() {
        let long_host = format!("{}.s3.eu-west-1.amazonaws.com", "b".repeat(100));
        let long = format!("https://{long_host}/key?x-id=GetObject");
        let cases: Vec<(&str, Option<String>)> = vec![
            (
                "https://dynamodb.eu-west-1.amazonaws.com/",
                Some("https://dynamodb.eu-west-1.amazonaws.com".into()),
            ),
            (
                "http://127.0.0.1:4566/bucket/key?versionId=3#frag",
                Some("http://127.0.0.1:4566".into()),
            ),
            (
                "https://user:pa55@vpce-1.secretsmanager.eu-west-1.vpce.amazonaws.com:8443?a=b",
                Some("https://vpce-1.secretsmanager.eu-west-1.vpce.amazonaws.com:8443".into()),
            ),
            ("http://[::1]:8000", Some("http://[::1]:8000".into())),
            (&long, Some(format!("https://{long_host}"))),
            ("/relative/path", None),
            ("https://", None),
            ("://host", None),
        ];
        for (uri, expected) in cases {
            let origin = Origin::of(uri);
            assert_eq!(
                origin.as_ref().map(Origin::as_str),
                expected.as_deref(),
                "{uri}"
            );
            if let Some(origin) = origin {
                let inline = matches!(origin, Origin::Inline { .. });
                assert_eq!(inline, origin.as_str().len() <= INLINE_ORIGIN, "{uri}");
            }
        }
    }

    /// Fails every call with the error `make` builds.
    #[derive(Debug)]
    struct Failing(fn() -> ConnectorError);

    impl HttpConnector for Failing {
        fn call(&self, _: HttpRequest) -> HttpConnectorFuture {
            HttpConnectorFuture::ready(Err((self.0)()))
        }
    }

    async fn fail_through(make: fn() -> ConnectorError, uri: &str) -> ConnectorError {
        let connector = EndpointInErrorsConnector(SharedHttpConnector::new(Failing(make)));
        let response: Result<HttpResponse, _> =
            connector.call(HttpRequest::get(uri).unwrap()).await;
        response.unwrap_err()
    }

    fn refused() -> std::io::Error {
        std::io::ErrorKind::ConnectionRefused.into()
    }

    #[tokio::test]
    async fn failures_keep_their_kind_and_gain_the_origin() {
        type Check = fn(&ConnectorError) -> bool;
        let cases: [(fn() -> ConnectorError, Check); 5] = [
            (
                || ConnectorError::io(refused().into()),
                ConnectorError::is_io,
            ),
            (
                || ConnectorError::timeout("read timeout".into()),
                ConnectorError::is_timeout,
            ),
            (
                || ConnectorError::user("bad request".into()),
                ConnectorError::is_user,
            ),
            (
                || ConnectorError::other("closed".into(), Some(ErrorKind::TransientError)),
                |e| e.as_other() == Some(ErrorKind::TransientError),
            ),
            (
                || ConnectorError::other("unknown".into(), None),
                |e| e.is_other() && e.as_other().is_none(),
            ),
        ];
        for (make, same_kind) in cases {
            let error =
                fail_through(make, "https://user:pw@sqs.eu-west-1.amazonaws.com/q?a=1").await;
            assert!(same_kind(&error), "{error:?}");
            let tagged = error
                .source()
                .and_then(|source| source.downcast_ref::<FailedRequest>())
                .expect("a FailedRequest under the connector error");
            assert_eq!(tagged.origin(), "https://sqs.eu-west-1.amazonaws.com");
            assert_eq!(
                tagged.to_string(),
                "the request to https://sqs.eu-west-1.amazonaws.com failed"
            );
            assert_eq!(
                tagged.source().map(ToString::to_string),
                Some(make().source().unwrap().to_string())
            );
        }
        // A URI without an origin passes the error through as it is.
        let error = fail_through(|| ConnectorError::io(refused().into()), "/no/origin").await;
        assert!(error.is_io());
        assert!(
            error
                .source()
                .unwrap()
                .downcast_ref::<FailedRequest>()
                .is_none()
        );
    }

    #[test]
    fn one_connector_per_settings() {
        let client = EndpointInErrors::new(());
        let built = AtomicUsize::new(0);
        let build = || {
            built.fetch_add(1, Ordering::SeqCst);
            SharedHttpConnector::new(Failing(|| ConnectorError::io(refused().into())))
        };
        let short = (None, Some(Duration::from_secs(1)));
        for _ in 0..3 {
            client.connector_for((None, None), build);
            client.connector_for(short, build);
        }
        assert_eq!(built.load(Ordering::SeqCst), 2);
        assert_eq!(client.connectors.read().unwrap().len(), 2);
    }
}
