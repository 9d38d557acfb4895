//! The response future of [`SecretsService`](super::SecretsService).

pub use crate::cache::future::ResponseFuture;
