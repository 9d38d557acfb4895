"""The orders HTTP API driven through its deployed configuration: real HTTP requests to the
HTTP API front (httpapi.py: the deployed routes, integrations and resource policy, as API
Gateway would use them) and on to the `api` function under the emulator.

The order is the body of events/api/1-http-api-create-order.json with its own order id
(o-6001: the queues' runs use o-1…, o-2… and o-3…), sent with that sample's Idempotency-Key:

1. `POST /orders` creates it: `201`, `Location: /orders/o-6001`, the order with its total;
2. the same request again gets the stored response byte for byte (status, headers, body);
3. `GET /orders/o-6001` reads it back; `GET /orders/o-6999` is the function's `404` problem;
4. `DELETE /orders/o-6001` matches no deployed route: API Gateway's own `404`, and the
   function is not invoked.

`api_problems(outcome)` compares the answers, the events the function got (route keys, path
parameters, the request ids its log lines carry as `correlation_id`) and the two tables with
exact expectations.
"""

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from .httpapi import HttpApiFront
from .scenario import EVENTS, Scenario

FUNCTION = "ApiFunction"
API = "OrdersHttpApi"
ORDER_ID = "o-6001"
MISSING_ID = "o-6999"
PROBLEM = "application/problem+json"


def sample_request():
    """(body, Idempotency-Key) of the sample HTTP API order, with this run's order id."""
    event = json.loads((EVENTS / "api/1-http-api-create-order.json").read_text(encoding="utf-8"))
    body = event["body"].replace('"o-3001"', f'"{ORDER_ID}"')
    if f'"{ORDER_ID}"' not in body:
        raise ValueError("the sample order no longer has order_id o-3001")
    return body, event["headers"]["idempotency-key"]


@dataclass
class Answer:
    status: int
    headers: list
    body: bytes

    def header(self, name):
        return [value for key, value in self.headers if key.lower() == name]

    def json(self):
        return json.loads(self.body)


@dataclass
class ApiOutcome:
    body: str = ""
    answers: dict = field(default_factory=dict)  # step -> Answer
    events: list = field(default_factory=list)  # the function's events, in order
    correlation: dict = field(default_factory=dict)  # request id -> messages logged under it
    orders: list = field(default_factory=list)  # OrdersTable items of ORDER_ID
    records: list = field(default_factory=list)  # IdempotencyTable items of the function
    front_requests: list = field(default_factory=list)


def request(base, method, path, body=None, headers=None):
    data = body.encode() if body is not None else None
    call = urllib.request.Request(f"{base}{path}", data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(call, timeout=60) as response:
            return Answer(response.status, response.getheaders(), response.read())
    except urllib.error.HTTPError as err:
        return Answer(err.code, err.headers.items(), err.read())


def drive_api(clients, stack, functions):
    """Sends the requests through the deployed HTTP API; returns what came of them."""
    outcome = ApiOutcome()
    body, key = sample_request()
    outcome.body = body
    before = len(functions.of(FUNCTION))
    post_headers = {"content-type": "application/json", "idempotency-key": key,
                    "user-agent": "tern-deploy-test"}
    with HttpApiFront(clients, functions, stack.refs[API]) as front:
        outcome.answers["created"] = request(front.url, "POST", "/orders", body, post_headers)
        outcome.answers["replayed"] = request(front.url, "POST", "/orders", body, post_headers)
        outcome.answers["fetched"] = request(front.url, "GET", f"/orders/{ORDER_ID}")
        outcome.answers["missing"] = request(front.url, "GET", f"/orders/{MISSING_ID}")
        outcome.answers["unrouted"] = request(front.url, "DELETE", f"/orders/{ORDER_ID}")
        outcome.front_requests = list(front.requests)
    outcome.events = [i.payload for i in functions.of(FUNCTION)[before:]]
    ids = {event["requestContext"]["requestId"] for event in outcome.events}
    # Log lines reach the emulator's output after the response: give the last ones a moment.
    deadline = time.monotonic() + 5
    while True:
        outcome.correlation = {}
        for line in functions.json_logs(FUNCTION):
            if line.get("correlation_id") in ids:
                outcome.correlation.setdefault(line["correlation_id"], []).append(line.get("message"))
        if "order stored" in sum(outcome.correlation.values(), []) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    scene = Scenario(clients, stack)
    outcome.orders = [item for item in scene.items("OrdersTable") if item["order_id"] == ORDER_ID]
    prefix = f"{stack.refs[FUNCTION]}.api#"
    outcome.records = [item for item in scene.items("IdempotencyTable") if item["id"].startswith(prefix)]
    return outcome


def expected_order():
    order = json.loads(sample_request()[0])
    total = sum(line["quantity"] * line["unit_price_cents"] for line in order["items"])
    return {**order, "total_cents": total}


def api_problems(outcome):
    """Everything that differs from what the deployed API must do, as sentences."""
    problems = []
    answers = outcome.answers

    def expect(what, actual, wanted):
        if actual != wanted:
            problems.append(f"{what}: {actual!r}, expected {wanted!r}")

    order = expected_order()
    created = answers["created"]
    expect("POST /orders status", created.status, 201)
    expect("POST /orders Location", created.header("location"), [f"/orders/{ORDER_ID}"])
    expect("POST /orders Content-Type", created.header("content-type"), ["application/json"])
    expect("POST /orders body", _json(created), order)
    replayed = answers["replayed"]
    expect("the retried POST (status, headers, body)",
           (replayed.status, _without_date(replayed.headers), replayed.body),
           (created.status, _without_date(created.headers), created.body))
    expect("GET the order", (answers["fetched"].status, _json(answers["fetched"])), (200, order))
    missing = answers["missing"]
    expect("GET a missing order", (missing.status, missing.header("content-type"), _json(missing)),
           (404, [PROBLEM], {"type": "about:blank", "title": "Not Found", "status": 404,
                             "detail": "there is no order with this order_id"}))
    unrouted = answers["unrouted"]
    expect("DELETE (no such route)", (unrouted.status, _json(unrouted)), (404, {"message": "Not Found"}))
    expect("the front's routing", [(m, p, r) for m, p, r in outcome.front_requests], [
        ("POST", "/orders", "POST /orders"),
        ("POST", "/orders", "POST /orders"),
        ("GET", f"/orders/{ORDER_ID}", "GET /orders/{order_id}"),
        ("GET", f"/orders/{MISSING_ID}", "GET /orders/{order_id}"),
        ("DELETE", f"/orders/{ORDER_ID}", None),
    ])
    expect("the function's events (route key, path, path parameters, body)",
           [(e["routeKey"], e["rawPath"], e.get("pathParameters"), e.get("body")) for e in outcome.events],
           [("POST /orders", "/orders", None, outcome.body),
            ("POST /orders", "/orders", None, outcome.body),
            ("GET /orders/{order_id}", f"/orders/{ORDER_ID}", {"order_id": ORDER_ID}, None),
            ("GET /orders/{order_id}", f"/orders/{MISSING_ID}", {"order_id": MISSING_ID}, None)])
    first_id = outcome.events[0]["requestContext"]["requestId"] if outcome.events else None
    expect("messages logged with the first POST's request id as correlation_id",
           "order stored" in outcome.correlation.get(first_id, []), True)
    expect("orders stored as o-6001", [_stored(item) for item in outcome.orders], [order])
    expect("idempotency records of the api function",
           [item.get("status") for item in outcome.records], ["COMPLETED"])
    return problems


def _json(answer):
    try:
        return answer.json()
    except ValueError:
        return answer.body


def _without_date(headers):
    # The front's HTTP server dates each response; the function's headers are what is compared.
    return [(k.lower(), v) for k, v in headers if k.lower() not in ("date", "server")]


def _stored(item):
    """An OrdersTable item in the API's JSON shape."""
    return {
        "order_id": item["order_id"],
        "customer_id": item["customer_id"],
        "currency": item["currency"],
        "total_cents": int(item["total_cents"]),
        "items": [
            {"sku": line["sku"], "quantity": int(line["quantity"]),
             "unit_price_cents": int(line["unit_price_cents"])}
            for line in item["lines"]
        ],
    }
