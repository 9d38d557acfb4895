//! HTTP handlers end to end through the emulator, for every HTTP event kind: API Gateway REST
//! (payload 1.0), HTTP API and Function URL (payload 2.0), ALB with and without multi-value
//! headers. `http-echo` for the mechanics (routing, parameters, cookies, binary bodies,
//! panics), `api` against moto for the orders and the Idempotency-Key layer.

use std::collections::BTreeMap;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use tern_testkit::{
    Emulator, EmulatorBuilder, FaultProxy, Scenario,
    scenario::{IDEMPOTENCY_TABLE, ORDERS_TABLE},
};

use crate::support::{bootstrap, builder};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    RestApi,
    HttpApi,
    FunctionUrl,
    Alb,
    AlbMultiValue,
}

const KINDS: [Kind; 5] = [
    Kind::RestApi,
    Kind::HttpApi,
    Kind::FunctionUrl,
    Kind::Alb,
    Kind::AlbMultiValue,
];

/// A request to put into an event.
#[derive(Default)]
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a [(&'a str, &'a str)],
    headers: &'a [(&'a str, &'a str)],
    cookies: &'a [&'a str],
    body: Option<&'a [u8]>,
    /// Send the body base64-encoded (as the front doors do for binary media types).
    base64: bool,
    id: &'a str,
}

impl<'a> Request<'a> {
    /// `method path` and nothing else; `id` is the front door's request id.
    fn to(method: &'a str, path: &'a str, id: &'a str) -> Self {
        Self {
            method,
            path,
            id,
            ..Self::default()
        }
    }
}

fn encode(part: &str) -> String {
    percent_encoding::utf8_percent_encode(part, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn body_fields(body: Option<&[u8]>, base64: bool) -> (Value, bool) {
    match body {
        None => (Value::Null, false),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) if !base64 => (json!(text), false),
            _ => (json!(STANDARD.encode(bytes)), true),
        },
    }
}

/// The event AWS sends for `request` (the shapes of the Lambda developer guide's examples).
fn event(kind: Kind, request: &Request<'_>) -> Value {
    let (body, is_base64) = body_fields(request.body, request.base64);
    let raw_query = request
        .query
        .iter()
        .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut multi_headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in request.headers {
        multi_headers
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push((*value).to_owned());
    }
    multi_headers
        .entry("x-amzn-trace-id".to_owned())
        .or_default()
        .push(format!("Root=1-6750a1b5-{}", request.id));
    if kind != Kind::HttpApi && kind != Kind::FunctionUrl && !request.cookies.is_empty() {
        multi_headers.insert("cookie".to_owned(), vec![request.cookies.join("; ")]);
    }
    let joined: BTreeMap<&String, String> = multi_headers
        .iter()
        .map(|(n, v)| (n, v.join(",")))
        .collect();
    let mut multi_query: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in request.query {
        multi_query.entry(name).or_default().push(value);
    }
    match kind {
        Kind::RestApi => json!({
            "resource": "/{proxy+}",
            "path": request.path,
            "httpMethod": request.method,
            "headers": joined,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": if request.query.is_empty() { Value::Null } else {
                json!(multi_query.iter().map(|(n, v)| (n, v[v.len() - 1])).collect::<BTreeMap<_, _>>())
            },
            "multiValueQueryStringParameters": if request.query.is_empty() { Value::Null } else { json!(multi_query) },
            "pathParameters": {"proxy": request.path.trim_start_matches('/')},
            "stageVariables": null,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "f6g7h8i9j0",
                "domainName": "f6g7h8i9j0.execute-api.us-east-1.amazonaws.com",
                "httpMethod": request.method,
                "identity": {"sourceIp": "203.0.113.10", "userAgent": "tern-test"},
                "path": format!("/prod{}", request.path),
                "protocol": "HTTP/1.1",
                "requestId": request.id,
                "requestTimeEpoch": 1796309517000_u64,
                "resourceId": "k3l4m5",
                "resourcePath": "/{proxy+}",
                "stage": "prod"
            },
            "body": body,
            "isBase64Encoded": is_base64
        }),
        Kind::HttpApi | Kind::FunctionUrl => {
            let domain = if kind == Kind::HttpApi {
                "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
            } else {
                "n4o5p6q7r8s9t0u1v2w3x4y5z6a7b8c9.lambda-url.us-east-1.on.aws"
            };
            let mut event = json!({
                "version": "2.0",
                "routeKey": "$default",
                "rawPath": request.path,
                "rawQueryString": raw_query,
                "headers": joined,
                "requestContext": {
                    "accountId": "123456789012",
                    "apiId": domain.split('.').next(),
                    "domainName": domain,
                    "http": {
                        "method": request.method,
                        "path": request.path,
                        "protocol": "HTTP/1.1",
                        "sourceIp": "203.0.113.10",
                        "userAgent": "tern-test"
                    },
                    "requestId": request.id,
                    "routeKey": "$default",
                    "stage": "$default",
                    "time": "04/Dec/2026:14:51:56 +0000",
                    "timeEpoch": 1796309516000_u64
                },
                "isBase64Encoded": is_base64
            });
            if !request.cookies.is_empty() {
                event["cookies"] = json!(request.cookies);
            }
            if !request.query.is_empty() {
                event["queryStringParameters"] = json!(
                    multi_query
                        .iter()
                        .map(|(n, v)| (n, v.join(",")))
                        .collect::<BTreeMap<_, _>>()
                );
            }
            if body != Value::Null {
                event["body"] = body;
            }
            event
        }
        Kind::Alb | Kind::AlbMultiValue => {
            // ALB passes query names and values as the client encoded them.
            let mut event = json!({
                "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-api/73e2d6bc24d8a067"}},
                "httpMethod": request.method,
                "path": request.path,
                "body": if body == Value::Null { json!("") } else { body },
                "isBase64Encoded": is_base64
            });
            let encoded: BTreeMap<String, Vec<String>> = multi_query
                .iter()
                .map(|(n, v)| (encode(n), v.iter().map(|v| encode(v)).collect()))
                .collect();
            if kind == Kind::Alb {
                event["headers"] = json!(joined);
                event["queryStringParameters"] = json!(
                    encoded
                        .iter()
                        .map(|(n, v)| (n, &v[v.len() - 1]))
                        .collect::<BTreeMap<_, _>>()
                );
            } else {
                event["multiValueHeaders"] = json!(multi_headers);
                event["multiValueQueryStringParameters"] = json!(encoded);
            }
            event
        }
    }
}

/// A response as the client sees it, whatever the shape.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    /// Header values as the front door sends them, lowercase names.
    headers: BTreeMap<String, Vec<String>>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .get(name)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!("not JSON ({err}): {}", String::from_utf8_lossy(&self.body))
        })
    }
}

fn answer(kind: Kind, response: &Value) -> Answer {
    let object = response.as_object().expect("a JSON object");
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let single = |headers: &mut BTreeMap<String, Vec<String>>| {
        for (name, value) in response["headers"].as_object().into_iter().flatten() {
            headers.insert(name.clone(), vec![value.as_str().unwrap().to_owned()]);
        }
    };
    let multi = |headers: &mut BTreeMap<String, Vec<String>>| {
        for (name, values) in response["multiValueHeaders"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let values = values.as_array().unwrap().iter();
            headers.insert(
                name.clone(),
                values.map(|v| v.as_str().unwrap().to_owned()).collect(),
            );
        }
    };
    match kind {
        // API Gateway reads `multiValueHeaders` (and `headers`, empty here).
        Kind::RestApi => {
            assert_eq!(response["headers"], json!({}), "{response}");
            multi(&mut headers);
        }
        Kind::HttpApi | Kind::FunctionUrl => {
            assert!(
                !object.contains_key("multiValueHeaders")
                    || response["multiValueHeaders"] == json!({}),
                "{response}"
            );
            single(&mut headers);
            let cookies: Vec<String> = response["cookies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect();
            if !cookies.is_empty() {
                headers.insert("set-cookie".to_owned(), cookies);
            }
        }
        // ALB reads the field of its mode only.
        Kind::Alb => single(&mut headers),
        Kind::AlbMultiValue => multi(&mut headers),
    }
    if matches!(kind, Kind::Alb | Kind::AlbMultiValue) {
        let status = response["statusCode"].as_u64().unwrap();
        let description = response["statusDescription"].as_str().unwrap();
        assert!(description.starts_with(&format!("{status} ")), "{response}");
    }
    let body = match response.get("body").and_then(Value::as_str) {
        None => Vec::new(),
        Some(text) if response["isBase64Encoded"] == json!(true) => {
            STANDARD.decode(text).expect("base64 body")
        }
        Some(text) => text.as_bytes().to_vec(),
    };
    Answer {
        status: u16::try_from(response["statusCode"].as_u64().unwrap()).unwrap(),
        headers,
        body,
    }
}

fn call(function: &Emulator, kind: Kind, request: &Request<'_>) -> Answer {
    let invocation = function.invoke_json(&event(kind, request));
    assert_eq!(invocation.status, 200, "{}", invocation.body);
    assert_eq!(invocation.error_type(), None, "{}", invocation.body);
    answer(kind, &invocation.json())
}

fn problem(status: u16, detail: &str) -> Value {
    let title = match status {
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        other => panic!("no title for {other}"),
    };
    json!({"type": "about:blank", "title": title, "status": status, "detail": detail})
}

#[test]
fn http_echo_serves_every_event_kind_in_its_shape() {
    let function = Emulator::builder(bootstrap())
        .handler("http-echo")
        .env("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true")
        .start();
    for kind in KINDS {
        let id = format!("{kind:?}-echo");
        let echo = call(
            &function,
            kind,
            &Request {
                query: &[("q", "a b/é"), ("tag", "x"), ("tag", "y")],
                headers: &[("Accept", "application/json"), ("User-Agent", "tern-test")],
                cookies: &["a=1", "b=2"],
                ..Request::to("GET", "/echo/world", &id)
            },
        );
        let tags: Vec<Value> = match kind {
            // Payload 2.0 and single-value ALB keep the last value of a repeated parameter
            // only in their single-value maps; the raw query (2.0) keeps both.
            Kind::Alb => vec![json!(["q", "a b/é"]), json!(["tag", "y"])],
            _ => vec![
                json!(["q", "a b/é"]),
                json!(["tag", "x"]),
                json!(["tag", "y"]),
            ],
        };
        assert_eq!(
            echo.json(),
            json!({
                "method": "GET",
                "path": "/echo/world",
                "name": "world",
                "query": tags,
                "cookie": "a=1; b=2",
                "accept": ["application/json"]
            }),
            "{kind:?}"
        );
        assert_eq!(echo.status, 200);
        assert_eq!(echo.header("content-type"), ["application/json"]);
        let (cookies, vary): (&[&str], &[&str]) = match kind {
            Kind::RestApi | Kind::AlbMultiValue => (
                &["seen=1; Path=/; HttpOnly", "theme=dark; Path=/"],
                &["Accept", "Cookie"],
            ),
            Kind::HttpApi | Kind::FunctionUrl => (
                &["seen=1; Path=/; HttpOnly", "theme=dark; Path=/"],
                &["Accept, Cookie"],
            ),
            // Single-value ALB can carry one cookie (the module documents it, and logs it).
            Kind::Alb => (&["seen=1; Path=/; HttpOnly"], &["Accept, Cookie"]),
        };
        assert_eq!(echo.header("set-cookie"), cookies, "{kind:?}");
        assert_eq!(echo.header("vary"), vary, "{kind:?}");

        let bytes = call(&function, kind, &Request::to("GET", "/bytes/300", &id));
        assert_eq!(bytes.status, 200);
        assert_eq!(bytes.header("content-type"), ["application/octet-stream"]);
        let expected: Vec<u8> = (0..300_u32).map(|i| (i % 256) as u8).collect();
        assert_eq!(bytes.body, expected, "{kind:?}");

        // A base64 request body arrives decoded.
        let message = call(
            &function,
            kind,
            &Request {
                headers: &[("Content-Type", "application/json")],
                body: Some("{\"message\":\"café\"}".as_bytes()),
                base64: true,
                ..Request::to("POST", "/json", &id)
            },
        );
        assert_eq!(message.json(), json!({"message": "café"}), "{kind:?}");

        let malformed = call(
            &function,
            kind,
            &Request {
                headers: &[("Content-Type", "application/json")],
                body: Some(b"{\"message\": \"secret-value\""),
                ..Request::to("POST", "/json", &id)
            },
        );
        assert_eq!(malformed.status, 400);
        assert_eq!(
            malformed.header("content-type"),
            ["application/problem+json"]
        );
        assert_eq!(
            malformed.json(),
            problem(
                400,
                "the body is not a message: [?] EOF while parsing an object at line 1 column 26"
            ),
            "{kind:?}"
        );
        let wrong_type = call(
            &function,
            kind,
            &Request {
                body: Some(b"{\"message\": 4111111111111111}"),
                ..Request::to("POST", "/json", &id)
            },
        );
        assert_eq!(
            wrong_type.json(),
            problem(
                400,
                "the body is not a message: [message] invalid type: integer, expected a string at line 1 column 28"
            ),
            "{kind:?}"
        );

        let missing = call(&function, kind, &Request::to("GET", "/nowhere", &id));
        assert_eq!(missing.status, 404, "{kind:?}");
        let not_allowed = call(&function, kind, &Request::to("DELETE", "/echo/x", &id));
        assert_eq!(not_allowed.status, 405, "{kind:?}");
        assert_eq!(not_allowed.header("allow"), ["GET,HEAD"], "{kind:?}");

        let pid = function.runtime_pid().expect("the runtime's pid");
        let panicked = call(&function, kind, &Request::to("GET", "/panic", &id));
        assert_eq!(panicked.status, 500);
        assert_eq!(
            panicked.header("content-type"),
            ["application/problem+json"]
        );
        assert_eq!(
            panicked.json(),
            problem(
                500,
                "the request failed inside the function; the failure is logged under this request's id"
            )
        );
        let after = call(&function, kind, &Request::to("GET", "/echo/after", &id));
        assert_eq!(after.json()["name"], "after", "{kind:?}");
        assert_eq!(
            function.runtime_pid(),
            Some(pid),
            "{kind:?}: the process was replaced"
        );
    }
    // Every line of a request carries its correlation id next to requestId: API Gateway's
    // request id, ALB's trace header.
    let logs = function.json_logs();
    for kind in KINDS {
        let correlation_id = match kind {
            Kind::Alb | Kind::AlbMultiValue => format!("Root=1-6750a1b5-{kind:?}-echo"),
            _ => format!("{kind:?}-echo"),
        };
        let panic_line = logs
            .iter()
            .find(|line| {
                line["correlation_id"] == correlation_id.as_str()
                    && line["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("panic: http-echo was asked to panic"))
            })
            .unwrap_or_else(|| panic!("no panic line for {kind:?}: {logs:?}"));
        assert!(
            panic_line["requestId"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );
        assert_eq!(panic_line["level"], "ERROR");
    }
    assert!(
        !function.logs().contains("secret-value") && !function.logs().contains("4111111111111111"),
        "a request body reached the logs"
    );
}

// --- api (moto) ---

/// The `api` function on the scenario's orders and idempotency tables, not started yet.
fn api(scenario: &Scenario) -> EmulatorBuilder {
    let mut env = scenario.seed_sqs();
    env.extend(scenario.seed_idempotency());
    builder(scenario, "api", env).env("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true")
}

fn sample(name: &str) -> String {
    tern_testkit::tools::event("api", name)
}

/// The `api` function's init errors, as `/runtime/init/error` reported them: the orders table
/// is read first, then the idempotency table, each missing one named with what it must hold.
#[test]
fn api_init_errors_name_the_missing_table() {
    let scenario = Scenario::start();
    let without_orders = vec![];
    let without_idempotency = scenario.seed_sqs();
    for (env, message) in [
        (
            without_orders,
            "environment variable `ORDERS_TABLE` is not set; it must hold the DynamoDB table \
             orders are written to",
        ),
        (
            without_idempotency,
            "environment variable `TERN_IDEMPOTENCY_TABLE` is not set; it must hold the name \
             of the DynamoDB table for idempotency records (partition key `id` of type S, TTL \
             on `expiration`)",
        ),
    ] {
        let function = builder(&scenario, "api", env).start();
        let answer = function.invoke(sample("1-http-api-create-order.json"));
        assert_eq!(
            (answer.status, answer.json()),
            (
                502,
                json!({
                    "errorType": "Runtime.MissingEnvironmentVariable",
                    "errorMessage": message
                })
            )
        );
    }
    assert_eq!(scenario.table_items(ORDERS_TABLE), Vec::<Value>::new());
}

const ORDER: &str = r#"{"order_id":"o-4001","customer_id":"c-9","currency":"EUR","items":[{"sku":"SKU-MUG","quantity":3,"unit_price_cents":899}]}"#;

#[test]
fn api_serves_orders_from_every_event_kind() {
    let scenario = Scenario::start();
    let function = api(&scenario).start();

    // The sample events, in the exact shapes AWS sends.
    let created = function.invoke(sample("1-http-api-create-order.json"));
    let created_json = created.json();
    assert_eq!(created_json["statusCode"], 201, "{}", created.body);
    assert_eq!(created_json["headers"]["location"], "/orders/o-3001");
    let o3001 = json!({"order_id": "o-3001", "customer_id": "c-7", "currency": "EUR", "total_cents": 1798,
        "items": [{"sku": "SKU-MUG", "quantity": 2, "unit_price_cents": 899}]});
    assert_eq!(
        serde_json::from_str::<Value>(created_json["body"].as_str().unwrap()).unwrap(),
        o3001
    );
    let fetched = answer(
        Kind::RestApi,
        &function.invoke(sample("2-rest-api-get-order.json")).json(),
    );
    assert_eq!((fetched.status, fetched.json()), (200, o3001));
    let furl = answer(
        Kind::FunctionUrl,
        &function
            .invoke(sample("3-function-url-create-order.json"))
            .json(),
    );
    assert_eq!(furl.status, 201);
    assert_eq!(furl.header("location"), ["/orders/o-3002"]);
    let alb = answer(
        Kind::Alb,
        &function.invoke(sample("4-alb-get-order.json")).json(),
    );
    assert_eq!(alb.status, 200);
    assert_eq!(alb.json()["total_cents"], 1299);

    // The retry of a sample gets the first response byte for byte, and runs nothing.
    let retried = function.invoke(sample("1-http-api-create-order.json"));
    assert_eq!(retried.body, created.body);
    assert_eq!(scenario.table_items(ORDERS_TABLE).len(), 2);
    assert_eq!(scenario.table_items(IDEMPOTENCY_TABLE).len(), 2);

    for kind in KINDS {
        let key = format!("key-{kind:?}");
        let post = |body: &[u8], key: Option<&str>| {
            let idempotency: Vec<(&str, &str)> = key
                .map(|key| {
                    vec![
                        ("Content-Type", "application/json"),
                        ("Idempotency-Key", key),
                    ]
                })
                .unwrap_or_else(|| vec![("Content-Type", "application/json")]);
            call(
                &function,
                kind,
                &Request {
                    headers: &idempotency,
                    body: Some(body),
                    ..Request::to("POST", "/orders", "post")
                },
            )
        };
        let order = ORDER.replace("o-4001", &format!("o-40{:02}", kind as u8));
        let first = post(order.as_bytes(), Some(&key));
        assert_eq!(first.status, 201, "{kind:?}: {first:?}");
        let again = post(order.as_bytes(), Some(&key));
        assert_eq!(again, first, "{kind:?}");
        // The same key for another order.
        let other = post(ORDER.replace("\"c-9\"", "\"c-10\"").as_bytes(), Some(&key));
        assert_eq!(
            (other.status, other.json()),
            (
                422,
                problem(
                    422,
                    "this Idempotency-Key was already used for a different request (method, path, query or body); send a new key for a new request"
                )
            ),
            "{kind:?}"
        );
        let without_key = post(order.as_bytes(), None);
        let mut expected = problem(
            400,
            "this request needs an Idempotency-Key header: a unique value per request (e.g. a UUID), sent again unchanged when the request is retried",
        );
        expected["header"] = json!("Idempotency-Key");
        assert_eq!((without_key.status, without_key.json()), (400, expected));

        let malformed = post(
            b"{\"order_id\": \"o-1\", \"items\": [",
            Some(&format!("{key}-m")),
        );
        let mut expected = problem(
            400,
            "the body is not an order: [items] EOF while parsing a list at line 1 column 30",
        );
        expected["field"] = json!("items");
        assert_eq!(malformed.json(), expected, "{kind:?}");
        let bad_quantity = post(
            ORDER
                .replace("\"quantity\":3", "\"quantity\":5000")
                .as_bytes(),
            Some(&format!("{key}-q")),
        );
        let mut expected = problem(400, "items[0].quantity must be 1 to 1000");
        expected["field"] = json!("items[0].quantity");
        assert_eq!(bad_quantity.json(), expected, "{kind:?}");
        assert!(!String::from_utf8_lossy(&bad_quantity.body).contains("5000"));

        let get = |path: &str| call(&function, kind, &Request::to("GET", path, "get"));
        assert_eq!(
            get(&format!("/orders/o-40{:02}", kind as u8)).json()["total_cents"],
            2697
        );
        let missing = get("/orders/o-9999");
        assert_eq!(
            (missing.status, missing.json()),
            (404, problem(404, "there is no order with this order_id"))
        );
        let not_allowed = call(
            &function,
            kind,
            &Request::to("DELETE", "/orders/o-9999", "delete"),
        );
        assert_eq!(not_allowed.status, 405, "{kind:?}");
        assert_eq!(not_allowed.header("allow"), ["GET,HEAD"], "{kind:?}");
        assert_eq!(
            not_allowed.json(),
            problem(
                405,
                "this method is not allowed on this path; the Allow header lists those that are"
            )
        );
    }
}

#[test]
fn twenty_concurrent_requests_with_one_key_run_the_handler_once() {
    let scenario = Scenario::start();
    // moto checks a conditional put's condition and writes without a lock across the two, so
    // two of twenty concurrent locks can both win there (seen: a second run answering `200`);
    // DynamoDB cannot. The serial proxy gives moto DynamoDB's one-write-at-a-time order.
    let proxy = FaultProxy::serial(&scenario.moto.endpoint());
    let function = api(&scenario)
        .envs(proxy.sdk_env(&scenario.moto))
        .managed_instances(20)
        .start();
    let request = event(
        Kind::HttpApi,
        &Request {
            headers: &[
                ("Content-Type", "application/json"),
                ("Idempotency-Key", "\"one-key-for-twenty\""),
            ],
            body: Some(ORDER.as_bytes()),
            ..Request::to("POST", "/orders", "concurrent")
        },
    );
    let answers: Vec<Answer> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let (function, request) = (&function, &request);
                scope.spawn(move || answer(Kind::HttpApi, &function.invoke_json(request).json()))
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let created: Vec<&Answer> = answers.iter().filter(|a| a.status == 201).collect();
    let in_progress = answers.iter().filter(|a| a.status == 409).count();
    assert_eq!(created.len() + in_progress, 20, "{answers:?}");
    assert!(!created.is_empty(), "{answers:?}");
    assert!(created.iter().all(|a| *a == created[0]), "{answers:?}");
    for conflict in answers.iter().filter(|a| a.status == 409) {
        assert_eq!(
            conflict.json(),
            problem(
                409,
                "a request with this Idempotency-Key is still being processed; retry once it has completed"
            )
        );
    }
    // One run: one order written, one idempotency record, one "order stored" line.
    assert_eq!(scenario.table_items(ORDERS_TABLE).len(), 1);
    let records = scenario.table_items(IDEMPOTENCY_TABLE);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["status"], "COMPLETED");
    let stored_lines = function
        .json_logs()
        .iter()
        .filter(|line| line["message"] == "order stored")
        .count();
    assert_eq!(stored_lines, 1, "{}", function.logs());
}
