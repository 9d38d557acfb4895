//! `http-echo`: the smoke-test HTTP handler. Reflects what lambda_http made of the event, and
//! can be asked for a binary body, a JSON decode or a panic, so a deployment can check every
//! HTTP event kind end to end (as `echo` does for plain invocations).
//!
//! - `GET /echo/{name}?…`: `200` JSON `{"method","path","name","query","cookie","accept"}`
//!   (the query's decoded name/value pairs, sorted; the `Cookie` header as lambda_http joined
//!   it), with two `Set-Cookie` headers and two `Vary` values.
//! - `GET /bytes/{count}`: `count` bytes (at most 65536), `0, 1, 2, …` modulo 256, as
//!   `application/octet-stream`.
//! - `POST /json`: a body `{"message": "…"}` is answered `200` with it; anything else `400`
//!   with the problem named (never the body).
//! - `GET /panic`: panics; the client gets a `500` problem and the process serves on.

use std::convert::Infallible;

use axum::{
    Router,
    body::Bytes,
    extract::Path,
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use lambda_http::request::LambdaRequest;
use serde::{Deserialize, Serialize};
use tern_middleware::http::{HttpLayer, LambdaResponse, Problem};
use tern_runtime::{HandlerService, InitContext, InitError, decode_json};

/// The largest body `GET /bytes/{count}` returns.
pub const MAX_BYTES: usize = 65_536;

/// Builds the `http-echo` service.
pub async fn build(
    _init: InitContext,
) -> Result<
    impl HandlerService<LambdaRequest, Response = LambdaResponse, Error = Infallible>,
    InitError,
> {
    Ok(tower::Layer::layer(&HttpLayer::new(), router()))
}

/// The router.
pub fn router() -> Router {
    Router::new()
        .route("/echo/{name}", get(echo))
        .route("/bytes/{count}", get(bytes))
        .route("/json", post(json))
        .route("/panic", get(panic))
}

#[derive(Serialize)]
struct Reflection<'a> {
    method: &'a str,
    path: &'a str,
    name: &'a str,
    query: Vec<(String, String)>,
    cookie: Option<&'a str>,
    accept: Vec<&'a str>,
}

fn text(value: &HeaderValue) -> &str {
    value.to_str().unwrap_or("")
}

async fn echo(method: Method, uri: Uri, headers: HeaderMap, Path(name): Path<String>) -> Response {
    let reflection = Reflection {
        method: method.as_str(),
        path: uri.path(),
        name: &name,
        query: query_pairs(uri.query().unwrap_or_default()),
        cookie: headers.get(header::COOKIE).map(text),
        accept: headers.get_all(header::ACCEPT).iter().map(text).collect(),
    };
    let body = serde_json::to_string(&reflection).unwrap_or_default();
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.append(
        header::SET_COOKIE,
        HeaderValue::from_static("seen=1; Path=/; HttpOnly"),
    );
    headers.append(
        header::SET_COOKIE,
        HeaderValue::from_static("theme=dark; Path=/"),
    );
    headers.append(header::VARY, HeaderValue::from_static("Accept"));
    headers.append(header::VARY, HeaderValue::from_static("Cookie"));
    response
}

/// The decoded `name=value` pairs of a query string (`+` is a space), sorted: the event kinds
/// pass the same query in different orders and encodings.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |part: &str| {
        percent_encoding::percent_decode_str(&part.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut pairs: Vec<_> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect();
    pairs.sort();
    pairs
}

async fn bytes(Path(count): Path<String>) -> Response {
    let Some(count) = count.parse::<usize>().ok().filter(|n| *n <= MAX_BYTES) else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            format!("count must be a number from 0 to {MAX_BYTES}"),
        )
        .with_member("field", "count")
        .into_response();
    };
    let body: Vec<u8> = (0..count).map(|i| (i % 256) as u8).collect();
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Bytes::from(body),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Message {
    message: String,
}

async fn json(body: Bytes) -> Response {
    match decode_json::<Message>(&body) {
        Ok(Message { message }) => (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({ "message": message }).to_string(),
        )
            .into_response(),
        Err(reason) => Problem::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not a message: {reason}"),
        )
        .into_response(),
    }
}

async fn panic() -> Response {
    panic!("http-echo was asked to panic")
}
