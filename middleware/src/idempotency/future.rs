//! The response future of [`IdempotencyService`](super::IdempotencyService).

use super::error::IdempotencyError;

/// The response future of [`IdempotencyService`](super::IdempotencyService).
pub type ResponseFuture<R, E> = crate::future::BoxResponseFuture<Result<R, IdempotencyError<E>>>;
