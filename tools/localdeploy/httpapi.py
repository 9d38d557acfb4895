"""A deployed HTTP API served on a loopback port: the part of API Gateway moto does not run.

moto keeps an HTTP API's configuration (routes, integrations, stages) but serves no requests.
`HttpApiFront` listens on 127.0.0.1 and, for each request, does what API Gateway does for an
HTTP API with Lambda proxy integrations, from the configuration read back from moto at start:

1. picks the stage from the path (`$default`: every path; another stage: `/<stage>/...`);
2. matches the route (GetRoutes): the method or ANY and a path template whose `{name}`
   segments take one segment and whose last `{name+}` takes the rest; literal segments beat
   parameters, parameters beat a greedy one; else the `$default` route; else API Gateway's
   `404 {"message":"Not Found"}`, and no function is invoked;
3. follows the route's target to its integration (GetIntegration), which must be AWS_PROXY
   with payload format 2.0 (anything else is refused when the front starts);
4. checks that the function's resource-based policy lets `apigateway.amazonaws.com` invoke it
   from this route, by ArnLike on `arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD><route path>`
   (the route's path template, as the console writes it); without such a statement API Gateway
   answers `500 {"message":"Internal Server Error"}`, and so does this front;
5. builds the payload 2.0 event (headers lowercased and repeated ones joined by commas,
   cookies in `cookies`, the raw and parsed query string, path parameters, the request context
   with a fresh request id, a text body or a base64 one) and invokes the function under the
   emulator (`Functions.invoke`, the deployed function's own environment);
6. turns the function's answer into the HTTP response: `statusCode`, `headers`, `cookies` as
   `Set-Cookie`, the body (base64-decoded when `isBase64Encoded`); an answer without
   `statusCode` is a `200` JSON body; a function error is a `500` as in (4).

Not emulated: TLS and the API's domain (the client talks plain HTTP to the loopback port, the
event says https and the deployed domain), authorizers (a route with an authorization type
other than NONE is refused at start), CORS, throttling, payload and header limits, the 30 s
integration timeout, access logs.
"""

import base64
import json
import re
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .aws import ACCOUNT
from .describe import resource_policy

NOT_FOUND = (404, {"message": "Not Found"})
INTERNAL_ERROR = (500, {"message": "Internal Server Error"})
TEXT_TYPES = re.compile(r"^(text/|application/(json|xml|javascript)|[^;]*\+(json|xml))", re.I)
INVOCATION_URI = re.compile(r"^arn:[^:]+:apigateway:[^:]+:lambda:path/[^/]+/functions/(.+)/invocations$")


class FrontError(Exception):
    """The deployed API uses what this front does not emulate; the message says what."""


@dataclass
class Route:
    key: str
    method: str
    segments: list
    function_arn: str

    def match(self, method, path):
        """{parameter: value} when this route takes `method path`, else None."""
        if self.method not in ("ANY", method):
            return None
        parts = path.strip("/").split("/") if path.strip("/") else []
        parameters = {}
        for index, segment in enumerate(self.segments):
            greedy = segment.startswith("{") and segment.endswith("+}")
            if greedy:
                if index >= len(parts):
                    return None
                parameters[segment[1:-2]] = "/".join(parts[index:])
                return parameters
            if index >= len(parts):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                parameters[segment[1:-1]] = urllib.parse.unquote(parts[index])
            elif segment != parts[index]:
                return None
        return parameters if len(parts) == len(self.segments) else None

    def rank(self):
        """Sort key: literal segments first, then parameters, greedy last; a method over ANY."""
        literal = sum(1 for s in self.segments if not s.startswith("{"))
        greedy = any(s.endswith("+}") for s in self.segments)
        return (greedy, -literal, -len(self.segments), self.method == "ANY")


def arn_like(pattern, value):
    """IAM's ArnLike: `*` any run of characters, `?` one character, the rest literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value) is not None


def allows_api_gateway(statements, source_arn):
    """Whether a resource policy lets API Gateway invoke the function for `source_arn`."""
    for statement in statements:
        principal = statement.get("Principal")
        service = principal.get("Service") if isinstance(principal, dict) else principal
        actions = statement.get("Action")
        actions = actions if isinstance(actions, list) else [actions]
        if statement.get("Effect", "Allow") != "Allow" or service != "apigateway.amazonaws.com":
            continue
        if not {"lambda:InvokeFunction", "lambda:*"} & set(actions):
            continue
        condition = statement.get("Condition") or {}
        patterns = (condition.get("ArnLike") or {}).get("AWS:SourceArn")
        if patterns is None:
            return True
        patterns = patterns if isinstance(patterns, list) else [patterns]
        if any(arn_like(p, source_arn) for p in patterns):
            return True
    return False


def load_routes(clients, api_id):
    """The API's routes with the function each one invokes, refusing what is not emulated."""
    api = clients.client("apigatewayv2")
    routes = []
    for route in api.get_routes(ApiId=api_id)["Items"]:
        key = route["RouteKey"]
        if route.get("AuthorizationType", "NONE") != "NONE":
            raise FrontError(f"route {key}: authorization {route['AuthorizationType']} is not emulated")
        kind, _, integration_id = route.get("Target", "").partition("/")
        if kind != "integrations":
            raise FrontError(f"route {key} has no integration target")
        integration = api.get_integration(ApiId=api_id, IntegrationId=integration_id)
        if integration["IntegrationType"] != "AWS_PROXY" or integration.get("PayloadFormatVersion") != "2.0":
            raise FrontError(
                f"route {key}: integration {integration['IntegrationType']} payload "
                f"{integration.get('PayloadFormatVersion')} is not emulated (AWS_PROXY 2.0 is)"
            )
        uri = integration["IntegrationUri"]
        found = INVOCATION_URI.match(uri)
        function_arn = found.group(1) if found else uri
        if key == "$default":
            routes.append(Route(key, "ANY", None, function_arn))
            continue
        method, path = key.split(" ", 1)
        segments = path.strip("/").split("/") if path.strip("/") else []
        routes.append(Route(key, method, segments, function_arn))
    return routes


class HttpApiFront:
    """Serves one deployed HTTP API stage on a loopback port; `url` is its base URL."""

    def __init__(self, clients, functions, api_id, stage="$default"):
        self.clients = clients
        self.functions = functions
        self.api_id = api_id
        self.stage = stage
        described = clients.client("apigatewayv2").get_api(ApiId=api_id)
        self.domain = urllib.parse.urlparse(described["ApiEndpoint"]).netloc
        stages = [s["StageName"] for s in clients.client("apigatewayv2").get_stages(ApiId=api_id)["Items"]]
        if stage not in stages:
            raise FrontError(f"API {api_id} has no stage {stage} (it has {stages})")
        routes = load_routes(clients, api_id)
        self.default = next((r for r in routes if r.segments is None), None)
        self.routes = sorted((r for r in routes if r.segments is not None), key=Route.rank)
        self.requests = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = front.handle(
                    self.command, self.path, self.headers.items(), body, self.client_address[0]
                )
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- one request ------------------------------------------------------------------------

    def route(self, method, path):
        for route in self.routes:
            parameters = route.match(method, path)
            if parameters is not None:
                return route, parameters
        return (self.default, {}) if self.default else (None, None)

    def handle(self, method, target, header_items, body, source_ip):
        """(status, [(header, value)], body bytes) for one request."""
        url = urllib.parse.urlsplit(target)
        raw_path = url.path
        path = raw_path
        if self.stage != "$default":
            prefix = f"/{self.stage}"
            if not (path == prefix or path.startswith(prefix + "/")):
                return self._message(*NOT_FOUND)
            path = path[len(prefix):] or "/"
        route, parameters = self.route(method, path)
        if route is None:
            self.requests.append((method, raw_path, None))
            return self._message(*NOT_FOUND)
        route_path = "" if route.segments is None else "/" + "/".join(route.segments)
        verb = "*" if route.segments is None else method
        source_arn = (f"arn:aws:execute-api:{self.clients.region}:{ACCOUNT}:{self.api_id}/"
                      f"{self.stage}/{verb}{route_path}")
        name = self.functions.stack.refs[self.functions.logical_id(route.function_arn)]
        if not allows_api_gateway(resource_policy(self.clients, name), source_arn):
            self.requests.append((method, raw_path, "denied"))
            return self._message(*INTERNAL_ERROR)
        event = self.event(method, raw_path, url.query, header_items, body, source_ip, route, parameters)
        invocation = self.functions.invoke(route.function_arn, event)
        self.requests.append((method, raw_path, route.key))
        if invocation.error is not None:
            return self._message(*INTERNAL_ERROR)
        return self.response(invocation.json())

    def event(self, method, raw_path, query, header_items, body, source_ip, route, parameters):
        headers, cookies = {}, []
        for name, value in header_items:
            name = name.lower()
            if name == "cookie":
                cookies += [c.strip() for c in value.split(";") if c.strip()]
            elif name in headers:
                headers[name] += "," + value
            else:
                headers[name] = value
        headers["host"] = self.domain
        headers["x-forwarded-for"] = source_ip
        headers["x-forwarded-port"] = "443"
        headers["x-forwarded-proto"] = "https"
        now = time.time()
        request_id = base64.b64encode(uuid.uuid4().bytes[:10]).decode()
        event = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": raw_path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": self.api_id,
                "domainName": self.domain,
                "domainPrefix": self.domain.split(".")[0],
                "http": {
                    "method": method,
                    "path": raw_path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": source_ip,
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": request_id,
                "routeKey": route.key,
                "stage": self.stage,
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            values = {}
            for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
                values[name] = f"{values[name]},{value}" if name in values else value
            event["queryStringParameters"] = values
        if parameters:
            event["pathParameters"] = parameters
        if body:
            text = None
            if TEXT_TYPES.match(headers.get("content-type", "")):
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    text = None
            event["body"] = text if text is not None else base64.b64encode(body).decode()
            event["isBase64Encoded"] = text is None
        return event

    @staticmethod
    def response(answer):
        if not isinstance(answer, dict) or "statusCode" not in answer:
            return 200, [("content-type", "application/json")], json.dumps(answer).encode()
        # The length is the body's, as API Gateway sends it (the front adds it).
        headers = [(name, str(value)) for name, value in (answer.get("headers") or {}).items()
                   if name.lower() not in ("content-length", "transfer-encoding")]
        headers += [("set-cookie", cookie) for cookie in answer.get("cookies") or []]
        body = answer.get("body") or ""
        payload = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
        return int(answer["statusCode"]), headers, payload

    @staticmethod
    def _message(status, document):
        return status, [("content-type", "application/json")], json.dumps(document).encode()
