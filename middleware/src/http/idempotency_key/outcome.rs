//! How the engine's outcomes become responses.

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};

use crate::{
    http::BoxError,
    idempotency::{IdempotencyError, error::OwnMessage},
};

use super::{super::Problem, stored::StoredResponse};

/// Why a response was not stored (the engine then frees the key, so a retry runs again).
pub(crate) enum Unstored<E> {
    /// The inner service failed.
    Inner(E),
    /// A response a retry may get differently: a server error, `408`, `429`, or a body that
    /// could not be read.
    Response(http::Response<Full<Bytes>>),
}

/// Reads the inner response whole: what the store keeps, unless it is not to be kept.
pub(crate) async fn capture<B, E>(
    response: http::Response<B>,
) -> Result<StoredResponse, Unstored<E>>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let (parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            tracing::error!(
                error = %error.into(),
                "the response body could not be read; answering 500, nothing stored"
            );
            return Err(Unstored::Response(
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the response could not be completed; retry with the same Idempotency-Key",
                )
                .into_full_response(),
            ));
        }
    };
    let status = parts.status;
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        return Err(Unstored::Response(http::Response::from_parts(
            parts,
            Full::new(body),
        )));
    }
    Ok(StoredResponse::new(&parts, body))
}

/// The problem response of an idempotency failure (the handler's own outcomes never get
/// here). Failures of the store are logged in full; clients get no internals.
pub(crate) fn problem<E>(error: &IdempotencyError<E>) -> Problem {
    use IdempotencyError as Ie;
    let (status, detail) = match error {
        Ie::AlreadyInProgress { .. } => (
            StatusCode::CONFLICT,
            "a request with this Idempotency-Key is still being processed; retry once it has \
             completed",
        ),
        Ie::PayloadMismatch { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "this Idempotency-Key was already used for a different request (method, path, \
             query or body); send a new key for a new request",
        ),
        Ie::MissingKey { .. } => (
            StatusCode::BAD_REQUEST,
            "this request needs an Idempotency-Key header: a unique value per request (e.g. a \
             UUID), sent again unchanged when the request is retried",
        ),
        Ie::ResponseNotStored { .. } => (
            StatusCode::CONFLICT,
            "a request with this Idempotency-Key was already processed, but its response was \
             too large to keep and cannot be replayed",
        ),
        Ie::Persistence {
            handler_ran: false, ..
        } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the request was not processed: its idempotency record could not be written; \
             retry with the same Idempotency-Key",
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the request's idempotency record could not be completed",
        ),
    };
    if status.is_server_error() {
        tracing::error!(
            error_type = error.error_type().unwrap_or_default(),
            error = %OwnMessage(error),
            "idempotency failed; answering {}",
            status.as_u16()
        );
    }
    let problem = Problem::new(status, detail);
    match error {
        Ie::MissingKey { .. } => problem.with_member("header", "Idempotency-Key"),
        _ => problem,
    }
}

/// The stored response as the client gets it, or a `500` problem for a record that no longer
/// reads (logged).
pub(crate) fn replay(stored: &StoredResponse) -> http::Response<Full<Bytes>> {
    stored.to_response().unwrap_or_else(|unreadable| {
        tracing::error!(
            status = stored.status(),
            "a stored idempotent response is unreadable ({}); answering 500",
            unreadable.0
        );
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the stored response of this Idempotency-Key cannot be replayed",
        )
        .into_full_response()
    })
}
