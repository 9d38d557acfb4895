//! `api`: the orders HTTP API, over the table the `sqs` function writes.
//!
//! Served by one axum router behind API Gateway (HTTP API or REST), a Function URL or an ALB;
//! see [`tern_middleware::http`] for what the event kinds change.
//!
//! - `POST /orders` with an order as JSON (the `sqs` message body) and an `Idempotency-Key`
//!   header: `201 Created` with `Location: /orders/{order_id}` and the order with its total;
//!   `200` with the same when this exact order was already stored (another key); `400` for a
//!   body that is not an order or breaks a rule (the problem names the field, never its value),
//!   or without the key; `409` when another order has this id, or while a request with the
//!   same key runs; `422` when the key was used for another request. A retry with the same key
//!   gets the first response byte for byte, without running again.
//! - `GET /orders/{order_id}`: `200` with the order, `404` when there is none, `400` for an id
//!   that cannot be one.
//! - Any other method on these paths: `405` with `Allow`; any other path: `404`.
//!
//! Every error is an `application/problem+json` document. Configuration: `ORDERS_TABLE`,
//! `TERN_IDEMPOTENCY_TABLE` (and the other `TERN_IDEMPOTENCY_*` variables); REST APIs need
//! `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true` to route on the resource path.

use std::{convert::Infallible, sync::Arc};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use lambda_http::request::LambdaRequest;
use tern_middleware::{
    http::{HttpLayer, IdempotencyKeyLayer, LambdaResponse, Problem},
    idempotency::IdempotencyConfig,
};
use tern_runtime::{HandlerService, InitContext, InitError, decode_json};
use tower::ServiceBuilder;

use crate::sqs::{Order, OrderError, OrderStore, Saved, Violation, check_order_id};

/// Builds the `api` service: metrics → HTTP events → the orders router.
pub async fn build(
    init: InitContext,
) -> Result<
    impl HandlerService<LambdaRequest, Response = LambdaResponse, Error = Infallible>,
    InitError,
> {
    let store = Arc::new(OrderStore::from_init(&init).await?);
    let once = IdempotencyKeyLayer::from_init(&init, IdempotencyConfig::from_env()?).await?;
    Ok(ServiceBuilder::new()
        .layer(crate::observability::metrics_layer())
        .layer(HttpLayer::new())
        .service(router(store, once)))
}

/// The orders router: `POST /orders` (idempotent by `once`), `GET /orders/{order_id}`.
pub fn router(store: Arc<OrderStore>, once: IdempotencyKeyLayer) -> Router {
    Router::new()
        .route("/orders", post(create).layer(once))
        .route("/orders/{order_id}", get(fetch))
        .fallback(not_found)
        // After the routes: it applies to the routes already added.
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(store)
}

async fn create(State(store): State<Arc<OrderStore>>, body: Bytes) -> Response {
    let order: Order = match decode_json(&body) {
        Ok(order) => order,
        Err(reason) => return bad_body(&reason),
    };
    let total = match order.validate() {
        Ok(total) => total,
        Err(violation) => return invalid(violation),
    };
    let status = match store.save(&order).await {
        Ok(Saved::Created) => StatusCode::CREATED,
        Ok(Saved::AlreadyStored) => StatusCode::OK,
        Err(error) => return order_error(error),
    };
    let location = format!("/orders/{}", order.order_id);
    let mut response = json(status, &order.with_total(total));
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

async fn fetch(State(store): State<Arc<OrderStore>>, Path(order_id): Path<String>) -> Response {
    if let Err(violation) = check_order_id(&order_id) {
        return invalid(violation);
    }
    match store.get(&order_id).await {
        Ok(Some(order)) => json(StatusCode::OK, &order),
        Ok(None) => Problem::new(
            StatusCode::NOT_FOUND,
            "there is no order with this order_id",
        )
        .into_response(),
        Err(error) => order_error(error),
    }
}

async fn not_found() -> Response {
    Problem::new(
        StatusCode::NOT_FOUND,
        "no such resource; this API serves /orders and /orders/{order_id}",
    )
    .into_response()
}

async fn method_not_allowed() -> Response {
    // axum adds `Allow` with the path's methods to this response.
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this method is not allowed on this path; the Allow header lists those that are",
    )
    .into_response()
}

/// `400` for a body that does not decode: the reason names the field (`[items[0].quantity]
/// invalid type: string, expected u32 …`) and withholds the body's content.
fn bad_body(reason: &str) -> Response {
    let field = reason
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
        // `?`: the input ended before a field could be named.
        .filter(|(field, _)| *field != "?")
        .map(|(field, _)| field.to_owned());
    let problem = Problem::new(
        StatusCode::BAD_REQUEST,
        format!("the body is not an order: {reason}"),
    );
    match field {
        Some(field) => problem.with_member("field", field),
        None => problem,
    }
    .into_response()
}

/// `400` naming the field that breaks a rule.
fn invalid(violation: Violation) -> Response {
    Problem::new(StatusCode::BAD_REQUEST, violation.to_string())
        .with_member("field", violation.field)
        .into_response()
}

fn order_error(error: OrderError) -> Response {
    match error {
        OrderError::Conflict { .. } => Problem::new(
            StatusCode::CONFLICT,
            "another order with this order_id is already stored",
        )
        .with_member("field", "order_id")
        .into_response(),
        OrderError::Invalid { violation, .. } => invalid(violation),
        OrderError::Store { .. } => {
            tracing::error!(error = %error, "the orders table failed");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the orders table could not be reached; retry later",
            )
            .into_response()
        }
    }
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut response = (status, value.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
