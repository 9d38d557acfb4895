//! The AWS SDK's HTTP client and configuration loader, shared by every client in the process.
//!
//! The SDK crates are built without their default HTTPS client (which links aws-lc, about
//! 1.3 MB of C). This module supplies the replacement: hyper with rustls on the `ring` crypto
//! provider, trusting the platform's CA bundle (`SSL_CERT_FILE`, else the usual paths such as
//! `/etc/ssl/certs/ca-certificates.crt` or `/etc/pki/tls/certs/ca-bundle.crt`). It is built
//! once per process; its connection pool is shared by every SDK client.
//!
//! ```no_run
//! # async fn example() {
//! // What `InitContext::aws_config` loads: the standard resolution, this module's client.
//! let config = tern_runtime::aws::config_loader().load().await;
//! # let _ = config;
//! # }
//! ```

use std::sync::OnceLock;

use aws_config::{BehaviorVersion, ConfigLoader};
use aws_smithy_http_client::{
    Builder,
    tls::{self, rustls_provider::CryptoMode},
};

pub use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The process's HTTPS client for the AWS SDK (rustls with ring), built on first use.
pub fn http_client() -> SharedHttpClient {
    static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                .build_https()
        })
        .clone()
}

/// `aws_config::defaults` (latest behaviour version) with [`http_client`]: region, credentials
/// and endpoints resolve as usual; callers may override anything before `load()`.
pub fn config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client())
}
