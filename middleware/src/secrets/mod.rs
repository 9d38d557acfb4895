//! Secrets from AWS Secrets Manager, fetched at init, cached, refreshed in the background.
//!
//! A handler declares the secrets it needs in a [`SecretsConfig`]: for each, the environment
//! variable that holds its ARN or name (`DB_SECRET_ARN`), the logical name the handler reads it
//! by (`db`), and whether it is required. [`SecretsLayer::from_init`] fetches all of them during
//! Lambda's init phase, concurrently, through one Secrets Manager client built from the
//! runtime's shared SDK configuration (or through the AWS Parameters and Secrets Lambda
//! Extension, with `TERN_SECRETS_BACKEND=extension`). A required secret whose variable is unset,
//! or that cannot be fetched, is an init error naming the variable, the secret id and the AWS
//! error code (`errorType` `Runtime.MissingEnvironmentVariable`, `Secrets.NotFound`,
//! `Secrets.AccessDenied`, `Secrets.Unreachable`, `Secrets.FetchFailed`); an optional one only
//! logs a warning. The handler reads values through the [`Secrets`] handle as a
//! [`SecretValue`] — text, bytes or a JSON field — whose `Debug` and `Display` print
//! `SecretValue(<redacted>)`; no log line or error message of this module contains a value.
//!
//! Reads never wait on the network. A value is fresh for its TTL (300 s by default,
//! `TERN_SECRETS_TTL_SECONDS`); in the last tenth of it, the first read that notices starts
//! one background refresh and every read keeps getting the cached value until the new one
//! lands. When refreshing fails, a warning is logged (secret name and error code) and the last
//! value is served for a grace period (300 s past the TTL by default,
//! `TERN_SECRETS_GRACE_SECONDS`), with a retry at most every 5 s; past it, reading the secret
//! fails with `Secrets.Stale`. Before that happens to a handler, the [`SecretsService`] makes one
//! fetch for the stale value (shared with concurrent invocations, ending 100 ms before the
//! invocation's deadline), so the first invocation after the backend recovers runs with the new
//! value; if the fetch fails and the secret is required, the invocation fails with
//! `Secrets.Stale` before the handler runs. An environment that sat frozen past the grace period
//! serves its last value once more while it refreshes: only a failed refresh makes a value stale.
//!
//! # Example
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use tern_middleware::secrets::{Secrets, SecretsConfig, SecretsLayer};
//! use tern_runtime::{Bootstrap, Diagnostic, InitContext, InitError, LambdaEvent, service_fn};
//! use tower::ServiceBuilder;
//!
//! #[derive(Deserialize)]
//! struct Order {
//!     id: String,
//! }
//!
//! #[derive(Serialize)]
//! struct Stored {
//!     id: String,
//!     db_user: String,
//! }
//!
//! async fn store_order(secrets: Secrets, event: LambdaEvent<Order>) -> Result<Stored, Diagnostic> {
//!     // Errors keep their `Secrets.*` errorType through `?`.
//!     let db = secrets.get("db")?;
//!     let user = db.json_field("username")?;
//!     let _password = db.json_field("password")?; // hand it to the database driver
//!     tracing::info!(secret = ?db, "connecting"); // logs `SecretValue(<redacted>)`
//!     Ok(Stored { id: event.payload.id, db_user: user.to_owned() })
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     Bootstrap::new()
//!         .handler("orders", |init: InitContext| async move {
//!             // DB_SECRET_ARN must be set; WEBHOOK_SECRET_ARN may be.
//!             let config = SecretsConfig::from_env()?
//!                 .with_secret("db", "DB_SECRET_ARN")
//!                 .with_optional_secret("webhook", "WEBHOOK_SECRET_ARN");
//!             let secrets_layer = SecretsLayer::from_init(&init, config).await?;
//!             let secrets = secrets_layer.secrets().clone();
//!             let service = ServiceBuilder::new()
//!                 .layer(secrets_layer)
//!                 .service(service_fn(move |event| store_order(secrets.clone(), event)));
//!             Ok::<_, InitError>(service)
//!         })
//!         .run()
//! }
//! ```

pub mod config;
pub mod error;
pub mod future;
mod handle;
mod layer;
mod provider;
mod service;
#[cfg(test)]
mod tests;
mod value;

/// The service behind the alias [`SecretsService`], shared by secrets and parameters.
pub use crate::cache::service::CacheService;
pub use config::{SecretsBackend, SecretsConfig};
pub use error::SecretsError;
pub use handle::Secrets;
pub use layer::SecretsLayer;
pub use service::SecretsService;
pub use value::SecretValue;
