"""Unit tests of the local deployment's pure parts: filter policies and notification filters,
intrinsics, what an SQS or Kinesis response acknowledges, HTTP API bodies, routing and
permissions, the pipeline's static checks and its push-guard removal, the batch-size check and
the per-source delivery summary, and `make demo`'s two ways.

Run by `make deploy-test` (part of `make test`): python tools/test_localdeploy.py
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import check_pipeline  # noqa: E402
from localdeploy import acceptance, apiresources, completions, filters, httpapi, intrinsics, kinesis, sqs  # noqa: E402
from localdeploy.aws import Clients  # noqa: E402
from localdeploy.deployer import Context, DeployError, Deployer  # noqa: E402
from localdeploy.functions import Invocation  # noqa: E402


def attributes(**values):
    return {name: {"Type": "String", "Value": value} for name, value in values.items()}


class FilterPolicies(unittest.TestCase):
    POLICY = {"event_type": ["payment.captured", "payment.refunded"]}

    def test_exact_values_any_of_a_list(self):
        match = filters.matches_attributes
        self.assertTrue(match(self.POLICY, attributes(event_type="payment.refunded")))
        self.assertFalse(match(self.POLICY, attributes(event_type="payment.disputed")))
        self.assertFalse(match(self.POLICY, attributes(tenant="acme")))

    def test_every_key_must_match(self):
        policy = {**self.POLICY, "tenant": [{"prefix": "ac"}]}
        self.assertTrue(filters.matches_attributes(policy, attributes(event_type="payment.captured", tenant="acme")))
        self.assertFalse(filters.matches_attributes(policy, attributes(event_type="payment.captured", tenant="beta")))

    def test_operators(self):
        match = filters.matches_attributes
        number = {"amount": {"Type": "Number", "Value": "25"}}
        self.assertTrue(match({"amount": [{"numeric": [">", 10, "<=", 25]}]}, number))
        self.assertFalse(match({"amount": [{"numeric": [">", 25]}]}, number))
        self.assertTrue(match({"tenant": [{"anything-but": ["beta", "gamma"]}]}, attributes(tenant="acme")))
        self.assertFalse(match({"tenant": [{"anything-but": "acme"}]}, attributes(tenant="acme")))
        self.assertFalse(match({"tenant": [{"anything-but": "beta"}]}, {}))
        self.assertTrue(match({"tenant": [{"exists": False}]}, {}))
        self.assertFalse(match({"tenant": [{"exists": False}]}, attributes(tenant="acme")))
        self.assertTrue(match({"tenant": [{"equals-ignore-case": "ACME"}]}, attributes(tenant="acme")))
        self.assertTrue(match({"tenant": [{"suffix": "me"}]}, attributes(tenant="acme")))
        array = {"tags": {"Type": "String.Array", "Value": '["red", "blue"]'}}
        self.assertTrue(match({"tags": ["blue"]}, array))
        self.assertTrue(match({"$or": [{"tenant": ["beta"]}, {"tags": ["red"]}]}, array))

    def test_an_unknown_operator_is_an_error(self):
        with self.assertRaisesRegex(filters.FilterPolicyError, "'cidr' is not supported"):
            filters.matches_attributes({"ip": [{"cidr": "10.0.0.0/8"}]}, attributes(ip="10.1.2.3"))

    def test_message_body_scope(self):
        policy = {"payment": {"status": ["captured"]}, "amount_cents": [{"numeric": [">=", 100]}]}
        body = json.dumps({"payment": {"status": "captured"}, "amount_cents": 2598})
        self.assertTrue(filters.matches_policy(policy, "MessageBody", {}, body))
        self.assertFalse(filters.matches_policy(policy, "MessageBody", {}, body.replace("captured", "failed")))
        self.assertFalse(filters.matches_policy(policy, "MessageBody", {}, "not json"))
        self.assertTrue(filters.matches_policy(None, "MessageAttributes", {}, "anything"))

    def test_s3_event_names_and_keys(self):
        self.assertTrue(filters.s3_event_matches("s3:ObjectCreated:*", "ObjectCreated:Put"))
        self.assertFalse(filters.s3_event_matches("s3:ObjectCreated:*", "ObjectRemoved:Delete"))
        self.assertTrue(filters.s3_event_matches("s3:ObjectCreated:Copy", "ObjectCreated:Copy"))
        self.assertFalse(filters.s3_event_matches("s3:ObjectCreated:Copy", "ObjectCreated:Put"))
        rules = {"prefix": "incoming/", "suffix": ".json"}
        self.assertTrue(filters.s3_key_matches(rules, "incoming/a b.json"))
        self.assertFalse(filters.s3_key_matches(rules, "outside/a.json"))
        self.assertFalse(filters.s3_key_matches(rules, "incoming/a.csv"))


class Intrinsics(unittest.TestCase):
    def test_dependencies_skip_parameters_and_pseudo_parameters(self):
        value = {
            "A": {"Ref": "Table"},
            "B": {"Fn::GetAtt": ["Queue", "Arn"]},
            "C": {"Fn::Sub": "${Bucket.Arn}/${AWS::Region}/${Prefix}/${!Literal}"},
            "D": {"Fn::Sub": ["${X}-${Topic}", {"X": {"Ref": "Stream"}}]},
        }
        self.assertEqual(
            intrinsics.dependencies(value, known_names={"Prefix"}),
            {"Table", "Queue", "Bucket", "Topic", "Stream"},
        )

    def test_resolve(self):
        resolver = intrinsics.Resolver(
            {"Table": "orders-1", "Env": "prod", "AWS::Region": "us-east-1"},
            {("Queue", "Arn"): "arn:aws:sqs:us-east-1:1:q"},
            {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}},
        )
        self.assertEqual(
            resolver.resolve({
                "Name": {"Fn::Sub": "${Table}@${AWS::Region} ${Queue.Arn} ${!Raw}"},
                "Joined": {"Fn::Join": ["-", ["a", {"Ref": "Env"}]]},
                "Picked": {"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]},
                "When": {"Fn::If": ["IsProd", "big", "small"]},
                "Gone": {"Ref": "AWS::NoValue"},
            }),
            {
                "Name": "orders-1@us-east-1 arn:aws:sqs:us-east-1:1:q ${Raw}",
                "Joined": "a-prod",
                "Picked": "y",
                "When": "big",
            },
        )
        with self.assertRaisesRegex(intrinsics.IntrinsicError, "Ref Missing: not known"):
            resolver.resolve({"Ref": "Missing"})
        with self.assertRaisesRegex(intrinsics.IntrinsicError, "Fn::FindInMap is not supported"):
            resolver.resolve({"Fn::FindInMap": ["M", "a", "b"]})

    def test_substitute_leaves_other_references_to_cloudformation(self):
        value = {
            "Function": {"Fn::GetAtt": ["Fn", "Arn"]},
            "Secret": {"Ref": "Secret"},
            "Table": {"Ref": "Table"},
            "Sub": {"Fn::Sub": "${Fn.Arn}:${Table}"},
        }
        self.assertEqual(
            intrinsics.substitute(value, {"Secret": "arn:secret"}, {("Fn", "Arn"): "arn:fn"}),
            {
                "Function": "arn:fn",
                "Secret": "arn:secret",
                "Table": {"Ref": "Table"},
                "Sub": {"Fn::Sub": "arn:fn:${Table}"},
            },
        )


class Names(unittest.TestCase):
    def test_names_moto_cannot_generate(self):
        ctx = Context(clients=None, stack_name="tern-local")
        fifo = {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True}}
        completions.prepare(ctx, "OrdersFifoQueue", fifo)
        self.assertRegex(fifo["Properties"]["QueueName"], r"^tern-local-OrdersFifoQueue-[A-Z0-9]{12}\.fifo$")
        parameter = {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "v"}}
        completions.prepare(ctx, "RoutingRules", parameter)
        self.assertRegex(parameter["Properties"]["Name"], r"^CFN-RoutingRules-[A-Z0-9]{12}$")
        named = {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True, "QueueName": "q.fifo"}}
        completions.prepare(ctx, "Q", named)
        self.assertEqual(named["Properties"]["QueueName"], "q.fifo")

    def test_a_type_nothing_can_create_is_refused_before_deploying(self):
        deployer = Deployer(Clients("http://127.0.0.1:9"), "tern-local", log=lambda _: None)
        template = {"Resources": {"Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {}}}}
        with self.assertRaisesRegex(DeployError, r"no local deployment for \{'Api': 'AWS::ApiGateway::RestApi'\}"):
            deployer.deploy_transformed(template)


class HttpApis(unittest.TestCase):
    """The OpenAPI bodies the deployer imports, and the front's routing and permission check."""

    INTEGRATION = {"type": "aws_proxy", "httpMethod": "POST", "payloadFormatVersion": "2.0",
                   "uri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:fn/invocations"}

    def body(self, **operation):
        return {"openapi": "3.0.1", "info": {"title": "t"},
                "paths": {"/orders": {"post": {"responses": {}, "x-amazon-apigateway-integration":
                                               dict(self.INTEGRATION), **operation}}}}

    def test_routes_of_a_body(self):
        body = self.body()
        body["paths"]["/orders/{order_id}"] = {"x-amazon-apigateway-any-method": {
            "parameters": [{"in": "path", "name": "order_id", "required": True}],
            "x-amazon-apigateway-integration": dict(self.INTEGRATION)}}
        self.assertEqual([key for key, _ in apiresources._operations("Api", body)],
                         ["POST /orders", "ANY /orders/{order_id}"])

    def test_what_a_body_holds_beyond_routes_is_refused(self):
        refused = {
            "Api.Body.components": {**self.body(), "components": {"securitySchemes": {}}},
            "Api.Body.paths./orders.post.security": self.body(security=[{"sigv4": []}]),
            "Api.Body.paths./orders.post.responses": self.body(responses={"200": {}}),
        }
        integration = self.body()
        integration["paths"]["/orders"]["post"]["x-amazon-apigateway-integration"]["credentials"] = "arn:role"
        refused["Api.Body.paths./orders.post.x-amazon-apigateway-integration.credentials"] = integration
        for where, body in refused.items():
            with self.subTest(where=where), self.assertRaisesRegex(apiresources.UnsupportedProperty, re.escape(where)):
                list(apiresources._operations("Api", body))

    def test_routing_prefers_literal_segments_then_parameters_then_greedy(self):
        routes = sorted(
            [httpapi.Route(key, key.split()[0], key.split()[1].strip("/").split("/"), "arn:fn")
             for key in ("ANY /{proxy+}", "GET /orders/{order_id}", "GET /orders/latest", "POST /orders")],
            key=httpapi.Route.rank,
        )

        def route(method, path):
            for candidate in routes:
                parameters = candidate.match(method, path)
                if parameters is not None:
                    return candidate.key, parameters
            return None

        self.assertEqual(route("GET", "/orders/latest"), ("GET /orders/latest", {}))
        self.assertEqual(route("GET", "/orders/o%2D1"), ("GET /orders/{order_id}", {"order_id": "o-1"}))
        self.assertEqual(route("POST", "/orders"), ("POST /orders", {}))
        self.assertEqual(route("DELETE", "/orders/o-1"), ("ANY /{proxy+}", {"proxy": "orders/o-1"}))
        self.assertEqual(route("GET", "/orders/o-1/lines"), ("ANY /{proxy+}", {"proxy": "orders/o-1/lines"}))
        self.assertIsNone(httpapi.Route("GET /orders/{id}", "GET", ["orders", "{id}"], "f").match("GET", "/orders"))
        self.assertIsNone(httpapi.Route("GET /orders/{id}", "GET", ["orders", "{id}"], "f").match("POST", "/orders/1"))

    def test_the_resource_policy_decides_what_api_gateway_may_invoke(self):
        statement = {"Effect": "Allow", "Action": "lambda:InvokeFunction",
                     "Principal": {"Service": "apigateway.amazonaws.com"},
                     "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:execute-api:us-east-1:1:abc/*/GET/orders/*"}}}
        allows = httpapi.allows_api_gateway
        self.assertTrue(allows([statement], "arn:aws:execute-api:us-east-1:1:abc/$default/GET/orders/{order_id}"))
        self.assertFalse(allows([statement], "arn:aws:execute-api:us-east-1:1:abc/$default/POST/orders"))
        self.assertFalse(allows([statement], "arn:aws:execute-api:us-east-1:1:xyz/$default/GET/orders/{order_id}"))
        s3 = {**statement, "Principal": {"Service": "s3.amazonaws.com"}}
        self.assertFalse(allows([s3], "arn:aws:execute-api:us-east-1:1:abc/$default/GET/orders/{order_id}"))
        self.assertFalse(allows([], "arn:aws:execute-api:us-east-1:1:abc/$default/GET/orders/{order_id}"))
        self.assertTrue(httpapi.arn_like("arn:a?c:[x]", "arn:abc:[x]"))
        self.assertFalse(httpapi.arn_like("arn:a?c:[x]", "arn:abc:x"))

    def test_the_function_answer_as_http(self):
        answer = {"statusCode": 201, "headers": {"location": "/orders/o-1"}, "cookies": ["a=1", "b=2"],
                  "body": "e30=", "isBase64Encoded": True}
        self.assertEqual(
            httpapi.HttpApiFront.response(answer),
            (201, [("location", "/orders/o-1"), ("set-cookie", "a=1"), ("set-cookie", "b=2")], b"{}"),
        )
        self.assertEqual(httpapi.HttpApiFront.response({"ok": True}),
                         (200, [("content-type", "application/json")], b'{"ok": true}'))


def invocation(body, status=200):
    return Invocation("F", {}, status, body)


class Acknowledgements(unittest.TestCase):
    MESSAGES = [{"MessageId": "m1"}, {"MessageId": "m2"}, {"MessageId": "m3"}]

    def test_sqs(self):
        ack = sqs.acknowledged
        failures = '{"batchItemFailures":[{"itemIdentifier":"m2"}]}'
        self.assertEqual(ack(self.MESSAGES, invocation(failures), True), [self.MESSAGES[0], self.MESSAGES[2]])
        # Without ReportBatchItemFailures the list is ignored: everything is deleted.
        self.assertEqual(ack(self.MESSAGES, invocation(failures), False), self.MESSAGES)
        self.assertEqual(ack(self.MESSAGES, invocation('{"batchItemFailures":[]}'), True), self.MESSAGES)
        self.assertEqual(ack(self.MESSAGES, invocation("null"), True), self.MESSAGES)
        # Complete failures: an unknown or empty id, a body that is not JSON, a function error.
        self.assertEqual(ack(self.MESSAGES, invocation('{"batchItemFailures":[{"itemIdentifier":"x"}]}'), True), [])
        self.assertEqual(ack(self.MESSAGES, invocation('{"batchItemFailures":[{"itemIdentifier":""}]}'), True), [])
        self.assertEqual(ack(self.MESSAGES, invocation("not json"), True), [])
        self.assertEqual(ack(self.MESSAGES, invocation('{"errorType":"E","errorMessage":"m"}'), True), [])
        self.assertEqual(ack(self.MESSAGES, invocation("", status=502), False), [])

    def test_kinesis(self):
        records = [{"SequenceNumber": s} for s in ("10", "11", "12")]
        outcome = kinesis.outcome
        self.assertEqual(outcome(records, invocation('{"batchItemFailures":[]}'), True), ("success", 3))
        self.assertEqual(
            outcome(records, invocation('{"batchItemFailures":[{"itemIdentifier":"12"},{"itemIdentifier":"11"}]}'), True),
            ("partial", 1),
        )
        self.assertEqual(outcome(records, invocation('{"batchItemFailures":[{"itemIdentifier":"9"}]}'), True), ("error", 0))
        self.assertEqual(outcome(records, invocation('{"errorType":"E","errorMessage":"m"}'), True), ("error", 0))
        self.assertEqual(outcome(records, invocation('{"batchItemFailures":[{"itemIdentifier":"11"}]}'), False), ("success", 3))


class PipelineChecks(unittest.TestCase):
    def test_what_the_old_commands_did_wrong_is_caught(self):
        commands = [
            'ACCOUNT=$(aws sts get-caller-identity --query Account --output text)',
            'aws ecr get-login-password --region us-east-1 | docker login --password-stdin "$R"',
            'docker push "$IMAGE_URI"',
            'sam deploy --stack-name s --capabilities CAPABILITY_IAM',
        ]
        self.assertEqual(
            check_pipeline.static_problems("X", commands),
            [
                'X: without --region "$AWS_REGION": aws sts get-caller-identity --query Account --output text)',
                'X: a region written out: aws ecr get-login-password --region us-east-1 | docker login --password-stdin "$R"',
                'X: without --region "$AWS_REGION": aws ecr get-login-password --region us-east-1',
                'X: sam deploy without --region "$AWS_REGION"',
                "X: sam deploy names no image repository",
                'X: the push is not skipped when the tag exists: docker push "$IMAGE_URI"',
            ],
        )

    def test_the_push_guard_removed_leaves_the_push(self):
        guarded = [
            "X=1",
            'if aws ecr describe-images --region "$AWS_REGION" --image-ids imageTag=t >/dev/null 2>&1; '
            'then echo "$IMAGE_URI is already pushed"; else make image IMAGE="$IMAGE_URI" && docker push "$IMAGE_URI"; fi',
        ]
        self.assertEqual(
            check_pipeline.without_push_guard(guarded),
            ["X=1", 'make image IMAGE="$IMAGE_URI" && docker push "$IMAGE_URI"'],
        )
        with self.assertRaisesRegex(ValueError, "no `if aws ecr describe-images"):
            check_pipeline.without_push_guard(["docker push x"])

    def test_the_buildspec_build_phase_has_the_guard(self):
        build = check_pipeline.buildspec_commands(ROOT / "buildspec.yml")["build"]
        unguarded = check_pipeline.without_push_guard(build)
        self.assertEqual(len(unguarded), len(build))
        self.assertFalse(any("describe-images" in c for c in unguarded))


SQS_ARN = "arn:aws:sqs:us-east-1:123456789012:orders"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/telemetry"


def sqs_invocation(records, arn=SQS_ARN, function="OrdersFunction"):
    payload = {"Records": [{"eventSource": "aws:sqs", "eventSourceARN": arn, "body": "{}"}] * records}
    return Invocation(function, payload, 200, "{}")


class Batches(unittest.TestCase):
    MAPPINGS = [("OrdersMapping", SQS_ARN, 3), ("TelemetryMapping", STREAM_ARN, 2)]

    def kinesis_invocation(self, records):
        payload = {"Records": [{"eventSource": "aws:kinesis", "eventSourceARN": STREAM_ARN}] * records}
        return Invocation("TelemetryFunction", payload, 200, "{}")

    def test_batches_within_batch_size_pass(self):
        invocations = [sqs_invocation(3), sqs_invocation(1), self.kinesis_invocation(2)]
        self.assertEqual(acceptance.batch_size_problems(invocations, self.MAPPINGS), [])

    def test_a_batch_over_batch_size_is_a_problem(self):
        invocations = [sqs_invocation(4), sqs_invocation(2), self.kinesis_invocation(3)]
        self.assertEqual(
            acceptance.batch_size_problems(invocations, self.MAPPINGS),
            [
                "OrdersMapping: 1 invocations carried more than BatchSize 3 records (4)",
                "TelemetryMapping: 1 invocations carried more than BatchSize 2 records (3)",
            ],
        )

    def test_a_mapping_without_invocations_is_a_problem(self):
        self.assertEqual(
            acceptance.batch_size_problems([sqs_invocation(1)], self.MAPPINGS),
            ["TelemetryMapping: no invocation recorded, so its BatchSize went unchecked"],
        )

    def test_deliveries_grouped_by_source_and_function(self):
        sns = {"Records": [{"EventSource": "aws:sns", "Sns": {"TopicArn": "arn:topic"}}]}
        s3 = {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "incoming"}}}] * 2}
        http = {"version": "2.0", "routeKey": "GET /orders/{order_id}"}
        invocations = [
            sqs_invocation(2), Invocation("PaymentsFunction", sns, 200, ""), sqs_invocation(1),
            Invocation("RoutingFunction", s3, 200, ""), Invocation("ApiFunction", http, 200, ""),
        ]
        self.assertEqual(
            acceptance.deliveries(invocations),
            {
                ("sqs", SQS_ARN, "OrdersFunction"): [2, 1],
                ("sns", "arn:topic", "PaymentsFunction"): [1],
                ("s3", "incoming", "RoutingFunction"): [2],
            },
        )


ROOT = pathlib.Path(__file__).resolve().parent.parent


class Demo(unittest.TestCase):
    """`make demo` invokes the handlers directly; `make demo SOURCES=deployed` runs the
    deploy-local flow (events through the deployed sources). Dry runs: nothing is built."""

    def dry_run(self, *variables):
        # Not the flags of a make this runs under (make deploy-test).
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "SOURCES")}
        run = subprocess.run(
            ["make", "--no-print-directory", "-n", "demo", *variables],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        )
        return run.returncode, run.stdout + run.stderr

    def test_plain_demo_invokes_the_handlers_directly(self):
        status, output = self.dry_run()
        self.assertEqual(status, 0, output)
        self.assertIn("cargo run --quiet --package tern-testkit --bin demo", output)
        self.assertNotIn("tools/deploy_local.py", output)

    def test_deployed_sources_run_the_local_deployment(self):
        status, output = self.dry_run("SOURCES=deployed")
        self.assertEqual(status, 0, output)
        self.assertIn("tools/deploy_local.py --template target/sam-build/template.yaml", output)
        self.assertIn("sam build", output)
        self.assertNotIn("--bin demo", output)

    def test_readme_documents_it(self):
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        self.assertTrue("make demo SOURCES=deployed" in readme, "README does not document make demo SOURCES=deployed")


if __name__ == "__main__":
    unittest.main()
