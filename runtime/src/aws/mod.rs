//! The AWS SDK's HTTP client and configuration loader, shared by every client in the process.
//!
//! The SDK crates are built without their default HTTPS client (which links aws-lc, about
//! 1.3 MB of C). This module supplies the replacement: hyper with rustls on the `ring` crypto
//! provider. It is built once per process; its connection pool is shared by every SDK client.
//!
//! **Trusted CAs.** With `SSL_CERT_FILE` or `SSL_CERT_DIR` set, exactly what they name (the
//! platform loader's rules). Otherwise the system's CA bundle file, the first of
//! [`CA_BUNDLES`] that exists: `/etc/ssl/certs/ca-certificates.crt` in the container image,
//! `/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem` on Amazon Linux 2023. Reading that one
//! file is the cold-start cost; the platform loader would also read every file of the
//! certificate directories (on Debian, about 150 of them), which costs several milliseconds
//! of init for certificates the bundle already holds. A bundle that does not parse cleanly is
//! not used: then the platform loader decides, as without a bundle.
//!
//! **Errors.** [`SdkFailure`] turns any SDK error into an AWS error code and a plain message
//! (`could not connect to https://dynamodb.eu-west-1.amazonaws.com: connection refused`), never
//! the SDK's `Debug` text. The endpoint it names comes from this module's client: its
//! connectors attach the request's `scheme://host[:port]` to the errors they return.
//!
//! **Invocations.** During an invocation, every call of a client built from [`config_loader`]
//! (and so from `InitContext::aws_config`) ends, retries and backoff included, at the
//! invocation's deadline less a margin (100 ms unless `TERN_AWS_DEADLINE_MARGIN_MS` says
//! otherwise) with [`DeadlineExceeded`], which `SdkFailure` reports as `DeadlineExceeded`; and
//! it carries the invocation's X-Ray trace header, not the process environment's, so
//! concurrent invocations (Lambda Managed Instances) never share one. Outside an invocation
//! the SDK's own timeouts apply.
//!
//! ```no_run
//! # async fn example() {
//! // What `InitContext::aws_config` loads: the standard resolution, this module's client.
//! let config = tern_runtime::aws::config_loader().load().await;
//! # let _ = config;
//! # }
//! ```

mod cause;
mod connector;
mod deadline;
mod failure;

use std::{ffi::OsString, sync::OnceLock};

use aws_config::{
    BehaviorVersion, ConfigLoader, environment::EnvironmentVariableCredentialsProvider,
};
use aws_smithy_http_client::{
    Builder,
    tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode},
};
use rustls_pki_types::{CertificateDer, pem::PemObject};

use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        connector_metadata::ConnectorMetadata,
        http::{HttpClient, HttpConnectorSettings, SharedHttpConnector},
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::ConfigBag;

pub use aws_smithy_runtime_api::client::http::SharedHttpClient;
pub use deadline::DeadlineExceeded;
pub use failure::SdkFailure;

use connector::EndpointInErrors;

/// The process's HTTPS client for the AWS SDK (rustls with ring), built on first use.
///
/// Its TLS connector (where the trusted certificates are parsed, ~0.8 ms for a system bundle)
/// is built at the first request and then shared by every SDK client with the same
/// connection settings. A request it cannot get an answer to fails with the request's
/// `scheme://host[:port]` in the error's source chain, for [`SdkFailure`] to name.
pub fn http_client() -> SharedHttpClient {
    static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let tls = TlsContext::builder()
                .with_trust_store(trust_store())
                .build()
                .expect("a TLS context with only a trust store set is always valid");
            SharedHttpClient::new(ConnectorOnFirstRequest(EndpointInErrors::new(
                Builder::new()
                    .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                    .tls_context(tls)
                    .build_https(),
            )))
        })
        .clone()
}

/// The SDK's hyper client without its client-construction hook.
///
/// aws-smithy-http-client builds a connector when each SDK client is constructed and throws
/// it away (so that the platform's certificates are loaded early); with a trust store given as
/// PEM, as here, that parses the whole bundle again for every `Client::new`, about 0.8 ms of
/// cold start each. The connector the requests use is built at the first request and cached
/// either way, so skipping the hook changes only when the bundle is parsed, and how often.
/// (The bundle was already vetted: see [`CA_BUNDLES`].)
#[derive(Debug)]
struct ConnectorOnFirstRequest<C>(C);

impl<C: HttpClient> HttpClient for ConnectorOnFirstRequest<C> {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    // `validate_base_client_config` keeps the trait's default, which does nothing.

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// `aws_config::defaults` (latest behaviour version) with [`http_client`]: region, credentials
/// and endpoints resolve as usual; callers may override anything before `load()`.
///
/// When the environment holds credentials (`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`,
/// as Lambda sets them for the execution role), they are used directly. The default chain
/// would pick them first anyway; building the chain (profile files, web identity with its STS
/// client, container and instance metadata providers) costs about a millisecond of init.
pub fn config_loader() -> ConfigLoader {
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .sleep_impl(deadline::DeadlineSleep);
    if credentials_in(|name| std::env::var_os(name)) {
        loader.credentials_provider(EnvironmentVariableCredentialsProvider::new())
    } else {
        loader
    }
}

/// Whether `env` holds a complete set of static credentials (the environment provider would
/// otherwise fail, and the chain move on). Blank values count as unset, as they do for the
/// provider.
fn credentials_in(env: impl Fn(&str) -> Option<OsString>) -> bool {
    ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        .iter()
        .all(|name| env(name).is_some_and(|value| !value.to_string_lossy().trim().is_empty()))
}

/// The system CA bundle files looked for, in order, when neither `SSL_CERT_FILE` nor
/// `SSL_CERT_DIR` is set.
pub const CA_BUNDLES: &[&str] = &[
    // Debian, Ubuntu, Alpine's ca-certificates, and tern's container image.
    "/etc/ssl/certs/ca-certificates.crt",
    // Amazon Linux 2023 (Lambda's provided.al2023), Fedora, RHEL.
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    // Amazon Linux 2, older RHEL.
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

fn trust_store() -> TrustStore {
    let explicit = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    if explicit {
        return TrustStore::default();
    }
    let bundle = CA_BUNDLES.iter().find_map(|path| std::fs::read(path).ok());
    match bundle {
        Some(pem) => match vet_bundle(&pem) {
            Ok(_) => TrustStore::empty().with_pem_certificate(pem),
            Err(problem) => {
                tracing::warn!(
                    problem,
                    "the system CA bundle is not usable as is; loading the platform's CA \
                     certificates instead"
                );
                TrustStore::default()
            }
        },
        None => TrustStore::default(),
    }
}

/// Checks what the TLS stack would otherwise find out on the first connection: every PEM
/// certificate decodes and is a usable trust anchor, and there is at least one. Returns the
/// number of certificates.
fn vet_bundle(pem: &[u8]) -> Result<usize, &'static str> {
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|_| "a certificate's PEM does not decode")?;
        webpki::anchor_from_trusted_cert(&cert)
            .map_err(|_| "a certificate does not parse as a trust anchor")?;
        count += 1;
    }
    if count == 0 {
        return Err("it holds no certificate");
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts the client-construction hook; any request would be a test failure.
    #[derive(Debug, Default)]
    struct Counting(AtomicUsize);

    impl HttpClient for Counting {
        fn http_connector(
            &self,
            _: &HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            unreachable!("no request is made in this test")
        }

        fn validate_base_client_config(
            &self,
            _: &RuntimeComponentsBuilder,
            _: &ConfigBag,
        ) -> Result<(), BoxError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err("the wrapped hook ran".into())
        }

        fn connector_metadata(&self) -> Option<ConnectorMetadata> {
            Some(ConnectorMetadata::new("counting", None))
        }
    }

    #[test]
    fn client_construction_builds_no_connector() {
        let client = ConnectorOnFirstRequest(Counting::default());
        let components = RuntimeComponentsBuilder::new("test");
        client
            .validate_base_client_config(&components, &ConfigBag::base())
            .unwrap();
        assert_eq!(client.0.0.load(Ordering::SeqCst), 0);
        assert_eq!(client.connector_metadata().unwrap().name(), "counting");
    }

    #[test]
    fn environment_credentials_need_both_halves() {
        let cases: [(&[(&str, &str)], bool); 6] = [
            (
                &[
                    ("AWS_ACCESS_KEY_ID", "AKID"),
                    ("AWS_SECRET_ACCESS_KEY", " \t"),
                ],
                false,
            ),
            (
                &[
                    ("AWS_ACCESS_KEY_ID", "AKID"),
                    ("AWS_SECRET_ACCESS_KEY", "s"),
                ],
                true,
            ),
            (
                &[
                    ("AWS_ACCESS_KEY_ID", "AKID"),
                    ("AWS_SECRET_ACCESS_KEY", "s"),
                    ("AWS_SESSION_TOKEN", "t"),
                ],
                true,
            ),
            (&[("AWS_ACCESS_KEY_ID", "AKID")], false),
            (
                &[("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", "s")],
                false,
            ),
            (&[], false),
        ];
        for (vars, expected) in cases {
            let env = |name: &str| {
                vars.iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| OsString::from(value))
            };
            assert_eq!(credentials_in(env), expected, "{vars:?}");
        }
    }

    #[test]
    fn bundles_are_vetted_before_they_are_trusted() {
        // A real bundle, when this machine has one.
        if let Some(pem) = CA_BUNDLES.iter().find_map(|path| std::fs::read(path).ok()) {
            assert!(vet_bundle(&pem).unwrap() > 10);
        }
        let cases: [(&[u8], Result<usize, &str>); 4] = [
            (b"", Err("it holds no certificate")),
            (b"not a certificate\n", Err("it holds no certificate")),
            (
                b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
                Err("a certificate's PEM does not decode"),
            ),
            (
                // Valid base64, but three bytes are not a certificate.
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                Err("a certificate does not parse as a trust anchor"),
            ),
        ];
        for (pem, want) in cases {
            assert_eq!(vet_bundle(pem), want, "{}", String::from_utf8_lossy(pem));
        }
    }
}
