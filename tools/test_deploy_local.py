"""The template deployed into moto, read back, and driven through its event sources.

Run by `make deploy-test` (part of `make test`), after `make sam-build` and `make image`:

    python tools/test_deploy_local.py

It deploys target/sam-build/template.yaml (what `sam deploy` would deploy) with ImageUri set,
so the FIFO function runs from the container image (TERN_IMAGE, default tern-bootstrap:latest,
through TERN_CONTAINER or podman); reads the deployed configuration back and compares it with
exact expectations; then puts the sample events on the queues, stream, topic and bucket and
checks what the functions made of them (tools/localdeploy/acceptance.py). A negative control
runs the orders again without ReportBatchItemFailures and checks that the checks catch the loss.
Every SQS and Kinesis invocation must carry at most its mapping's BatchSize records, and every
role's statements are compared exactly.
Last, HTTP requests go through the deployed HTTP API (tools/localdeploy/httpapi.py stands in
for API Gateway's request handling) to the api function (tools/localdeploy/orders_api.py).
"""

import glob
import os
import pathlib
import sys
import tempfile
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from localdeploy import acceptance, orders_api  # noqa: E402
from localdeploy.aws import Clients, MotoServer  # noqa: E402
from localdeploy.deployer import Deployer  # noqa: E402
from localdeploy.describe import describe  # noqa: E402
from localdeploy.functions import Functions  # noqa: E402
from localdeploy.sources import EventSources  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV = pathlib.Path(os.environ.get("TERN_VENV", ROOT / ".venv"))
TEMPLATE = ROOT / "target/sam-build/template.yaml"
IMAGE = os.environ.get("TERN_IMAGE", "tern-bootstrap:latest")
IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tern-bootstrap:local"
# Redeliveries in seconds, not the queues' 120 s; SNS delivers the sample payments twice.
OPTIONS = {"visibility_timeout": 2, "retry_delay": 0.2, "duplicate": acceptance.duplicate}


def rie():
    found = glob.glob(str(VENV / "lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-x86_64"))
    if not found:
        raise RuntimeError(f"no Runtime Interface Emulator in {VENV}: run `make venv`")
    return found[0]


class LocalDeployment(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not TEMPLATE.is_file():
            raise RuntimeError(f"{TEMPLATE} is missing: run `make sam-build`")
        started = time.monotonic()
        cls.moto = MotoServer.start(VENV)
        cls.addClassCleanup(cls.moto.stop)
        work = tempfile.TemporaryDirectory(prefix="tern-deploy-test-")
        cls.addClassCleanup(work.cleanup)
        clients = Clients(cls.moto.endpoint)
        cls.stack = Deployer(clients, "tern-local", {"ImageUri": IMAGE_URI}, log=lambda _: None).deploy(
            TEMPLATE
        )
        deployed = time.monotonic()
        cls.deployed = describe(clients, cls.stack)
        cls.functions = Functions(clients, cls.stack, rie(), work.name, images={IMAGE_URI: IMAGE})
        cls.addClassCleanup(cls.functions.close)
        dropper = acceptance.DropFirstAcknowledgement("o-1002")
        sources = EventSources.start(
            clients, cls.stack, cls.functions, {**OPTIONS, "drop_acknowledgement": dropper}
        )
        try:
            cls.outcome = acceptance.drive(clients, cls.stack, cls.functions, dropper)
        finally:
            sources.stop()
        driven = time.monotonic()
        cls.control = acceptance.negative_control(clients, cls.stack, cls.functions, OPTIONS)
        controlled = time.monotonic()
        cls.api = orders_api.drive_api(clients, cls.stack, cls.functions)
        cls.mappings = acceptance.event_source_mappings(clients, cls.stack)
        print(
            f"\ndeploy {deployed - started:.1f} s, event sources {driven - deployed:.1f} s, "
            f"negative control {controlled - driven:.1f} s, HTTP API {time.monotonic() - controlled:.1f} s",
            file=sys.stderr,
        )

    # -- the deployed configuration ---------------------------------------------------------

    def layer(self):
        return "{" + self.stack.of_type("AWS::Lambda::LayerVersion")[0] + "}"

    def function(self, handler, role, memory, timeout, description, environment, **settings):
        """A zip function on the layer as deployed: `environment` on top of what every function
        has, and `settings` (event invoke configuration, permissions, aliases) added."""
        return {
            "Handler": handler,
            "Runtime": "provided.al2023",
            "PackageType": "Zip",
            "Timeout": timeout,
            "MemorySize": memory,
            "Architectures": ["x86_64"],
            "TracingConfig": {"Mode": "Active"},
            "Role": "{" + role + ".Arn}",
            "Description": description,
            "Layers": [self.layer()],
            "Environment": {
                "TERN_METRICS_NAMESPACE": "TernExample",
                "TERN_IDEMPOTENCY_TABLE": "{IdempotencyTable}",
                **environment,
            },
            **settings,
        }

    @staticmethod
    def failing_to(destination, **limits):
        """The asynchronous invocation settings of a function: two retries, then `destination`."""
        return {
            "MaximumRetryAttempts": 2,
            **limits,
            "DestinationConfig": {"OnFailure": {"Destination": destination}},
        }

    @staticmethod
    def invoked_by(service, condition):
        """A resource policy statement letting `service` invoke the function under `condition`."""
        return {"Action": "lambda:InvokeFunction", "Principal": {"Service": service},
                "Condition": condition}

    def test_the_functions_run_the_layer_with_their_settings(self):
        functions = self.deployed["functions"]
        expected = {
            "RoutingFunction": self.function(
                "s3", "RoutingRole", 256, 30, "Routes new objects in the incoming bucket by content",
                {"ROUTING_RULES_PARAMETER": "{RoutingRulesParameter}", "TERN_PARAMETERS_TTL_SECONDS": "60"},
                EventInvokeConfig=self.failing_to("{RoutingFailureQueue.Arn}", MaximumEventAgeInSeconds=3600),
                Permissions=[
                    self.invoked_by("s3.amazonaws.com", {"StringEquals": {"AWS:SourceAccount": "123456789012"}}),
                ],
            ),
            "OrdersFunction": self.function(
                "sqs", "OrdersRole", 256, 20,
                "Validates orders and stores them, reporting failed messages only",
                {"ORDERS_TABLE": "{OrdersTable}", "TERN_BATCH_CONCURRENCY": "4"},
                Aliases={"live": "1"},
            ),
            "PaymentsFunction": self.function(
                "sns", "PaymentsRole", 256, 15, "Stores signed payment notifications exactly once",
                {
                    "NOTIFICATIONS_TABLE": "{NotificationsTable}",
                    "SIGNING_KEY_SECRET_ARN": "{SigningKeySecret}",
                    "ACCEPTED_EVENT_TYPES": "payment.captured,payment.refunded,payment.failed",
                },
                EventInvokeConfig=self.failing_to("{PaymentsFailureQueue.Arn}"),
                Permissions=[
                    self.invoked_by("sns.amazonaws.com", {"ArnLike": {"AWS:SourceArn": "{PaymentsTopic}"}}),
                ],
            ),
            # API Gateway may invoke it for the two routes only; the function URL's callers need
            # lambda:InvokeFunctionUrl in their own policies (AWS_IAM), so it adds no statement.
            "ApiFunction": self.function(
                "api", "ApiRole", 256, 10,
                "Orders HTTP API (POST /orders idempotent by Idempotency-Key, GET /orders/{order_id})",
                {"ORDERS_TABLE": "{OrdersTable}"},
                Permissions=[
                    self.invoked_by(
                        "apigateway.amazonaws.com",
                        {"ArnLike": {"AWS:SourceArn": f"{{OrdersHttpApi.ExecuteApiArn}}/*/{route}"}},
                    )
                    for route in ("POST/orders", "GET/orders/*")
                ],
            ),
            "TelemetryFunction": self.function(
                "kinesis", "TelemetryRole", 512, 60,
                "Transforms telemetry readings into DynamoDB, failing by sequence number",
                {"TELEMETRY_TABLE": "{TelemetryTable}"},
            ),
        }
        for name, function in expected.items():
            with self.subTest(name):
                self.assertEqual(functions[name], function)
        self.assertEqual(
            functions["OrdersFifoImageFunction"],
            {
                "PackageType": "Image",
                "ImageUri": IMAGE_URI,
                "ImageConfig": {"Command": ["sqs"]},
                "Timeout": 20,
                "MemorySize": 256,
                "Architectures": ["x86_64"],
                "TracingConfig": {"Mode": "Active"},
                "Role": "{OrdersFifoRole.Arn}",
                "Description": "FIFO orders, from the container image",
                "Layers": [],
                "Environment": {
                    "TERN_METRICS_NAMESPACE": "TernExample",
                    "TERN_IDEMPOTENCY_TABLE": "{IdempotencyTable}",
                    "ORDERS_TABLE": "{OrdersTable}",
                },
                "ReservedConcurrentExecutions": 5,
            },
        )
        layer = self.deployed["layers"][self.layer()[1:-1]]
        self.assertEqual(layer["CompatibleRuntimes"], ["provided.al2023"])
        self.assertEqual(layer["CompatibleArchitectures"], ["x86_64"])

    def test_the_event_source_mappings(self):
        # The orders mapping names the alias `live`; moto records the version the alias
        # points to (Lambda would report the alias ARN).
        version = "{" + self.stack.of_type("AWS::Lambda::Version")[0] + "}"
        self.assertEqual(
            self.deployed["event_source_mappings"],
            {
                "OrdersFunctionOrders": {
                    "EventSourceArn": "{OrdersQueue.Arn}",
                    "FunctionArn": version,
                    "State": "Enabled",
                    "BatchSize": 10,
                    "MaximumBatchingWindowInSeconds": 2,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    "ScalingConfig": {"MaximumConcurrency": 10},
                },
                "OrdersFifoImageFunctionFifoOrders": {
                    "EventSourceArn": "{OrdersFifoQueue.Arn}",
                    "FunctionArn": "{OrdersFifoImageFunction.Arn}",
                    "State": "Enabled",
                    "BatchSize": 10,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                },
                "TelemetryFunctionTelemetry": {
                    "EventSourceArn": "{TelemetryStream.Arn}",
                    "FunctionArn": "{TelemetryFunction.Arn}",
                    "State": "Enabled",
                    "BatchSize": 100,
                    "MaximumBatchingWindowInSeconds": 5,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    "StartingPosition": "LATEST",
                    "BisectBatchOnFunctionError": True,
                    "MaximumRetryAttempts": 5,
                    "MaximumRecordAgeInSeconds": 3600,
                    "DestinationConfig": {
                        "OnFailure": {"Destination": "{TelemetryFailureQueue.Arn}"}
                    },
                },
            },
        )

    def test_the_queues_their_redrive_and_encryption(self):
        queues = self.deployed["queues"]
        for name, queue in queues.items():
            with self.subTest(queue=name):
                self.assertEqual(queue["SqsManagedSseEnabled"], "true")
                self.assertEqual(queue["QueueArn"], "{" + name + ".Arn}")
        for name in ("OrdersQueue", "OrdersFifoQueue"):
            dead_letters = name.replace("Queue", "DeadLetterQueue")
            self.assertEqual(queues[name]["VisibilityTimeout"], "120")
            self.assertEqual(
                queues[name]["RedrivePolicy"],
                {"deadLetterTargetArn": "{" + dead_letters + ".Arn}", "maxReceiveCount": 5},
            )
        self.assertEqual(queues["OrdersFifoQueue"]["FifoQueue"], "true")
        self.assertEqual(queues["OrdersFifoQueue"]["ContentBasedDeduplication"], "true")
        self.assertEqual(queues["OrdersFifoDeadLetterQueue"]["FifoQueue"], "true")
        retained = [n for n, q in queues.items() if q["MessageRetentionPeriod"] == "1209600"]
        self.assertEqual(
            sorted(retained),
            ["OrdersDeadLetterQueue", "OrdersFifoDeadLetterQueue", "PaymentsFailureQueue",
             "RoutingFailureQueue", "TelemetryFailureQueue"],
        )

    def test_the_tables_and_their_ttl(self):
        tables = self.deployed["tables"]
        keys = {name: table["KeySchema"] for name, table in tables.items()}
        self.assertEqual(
            keys,
            {
                "IdempotencyTable": [{"AttributeName": "id", "KeyType": "HASH"}],
                "OrdersTable": [{"AttributeName": "order_id", "KeyType": "HASH"}],
                "NotificationsTable": [{"AttributeName": "message_id", "KeyType": "HASH"}],
                "TelemetryTable": [{"AttributeName": "reading_id", "KeyType": "HASH"}],
            },
        )
        self.assertEqual(
            tables["IdempotencyTable"]["TimeToLive"],
            {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"},
        )
        for name, table in tables.items():
            with self.subTest(table=name):
                self.assertEqual(table["BillingMode"], "PAY_PER_REQUEST")
                self.assertEqual(table["PointInTimeRecovery"], "ENABLED")

    def test_the_topic_its_key_and_the_subscription_filter(self):
        self.assertEqual(
            self.deployed["topics"],
            {
                "PaymentsTopic": {
                    "KmsMasterKeyId": "alias/aws/sns",
                    "Subscriptions": [
                        {
                            "Protocol": "lambda",
                            "Endpoint": "{PaymentsFunction.Arn}",
                            "FilterPolicy": {
                                "event_type": [
                                    "payment.captured", "payment.refunded", "payment.failed"
                                ]
                            },
                            "FilterPolicyScope": "MessageAttributes",
                        }
                    ],
                }
            },
        )

    def test_the_buckets_and_the_notification_filter(self):
        private = {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }
        buckets = self.deployed["buckets"]
        for name, bucket in buckets.items():
            with self.subTest(bucket=name):
                self.assertEqual(bucket["Encryption"], ["AES256"])
                self.assertEqual(bucket["PublicAccessBlock"], private)
        self.assertEqual(
            {name: bucket["LambdaNotifications"] for name, bucket in buckets.items()},
            {
                "IncomingBucket": [
                    {
                        "Function": "{RoutingFunction.Arn}",
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"prefix": "incoming/"},
                    }
                ],
                "DataBucket": [],
                "ImagesBucket": [],
                "UnsortedBucket": [],
            },
        )

    def test_the_stream_the_secret_and_the_log_groups(self):
        self.assertEqual(
            self.deployed["streams"],
            {
                "TelemetryStream": {
                    "StreamMode": "ON_DEMAND",
                    "EncryptionType": "KMS",
                    "KeyId": "alias/aws/kinesis",
                    "RetentionPeriodHours": 24,
                }
            },
        )
        self.assertEqual(
            self.deployed["secrets"],
            {
                "SigningKeySecret": {
                    "Description": "HMAC key the sns function signs stored payment notifications with",
                    "Length": 64,
                    "Alphanumeric": True,
                }
            },
        )
        self.assertEqual(
            self.deployed["log_groups"],
            {
                name: {"retentionInDays": 30}
                for name in ("RoutingLogGroup", "OrdersLogGroup", "OrdersFifoLogGroup",
                             "PaymentsLogGroup", "TelemetryLogGroup", "ApiLogGroup",
                             "ApiAccessLogGroup")
            },
        )

    def test_the_http_api_routes_its_integrations_and_the_function_url(self):
        integration = {
            "IntegrationType": "AWS_PROXY",
            "IntegrationMethod": "POST",
            "IntegrationUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
                              "{ApiFunction.Arn}/invocations",
            "PayloadFormatVersion": "2.0",
            "TimeoutInMillis": 30000,
        }
        route = {"AuthorizationType": "NONE", "ApiKeyRequired": False, "Integration": integration}
        self.assertEqual(
            self.deployed["http_apis"],
            {
                "OrdersHttpApi": {
                    "ProtocolType": "HTTP",
                    "Description": "The orders API of the api function",
                    "ApiEndpoint": "{OrdersHttpApi.ApiEndpoint}",
                    "Routes": {"POST /orders": route, "GET /orders/{order_id}": route},
                    "Stages": {
                        "$default": {
                            "AutoDeploy": True,
                            "StageVariables": {},
                            "AccessLogSettings": {
                                "DestinationArn": "{ApiAccessLogGroup.Arn}",
                                "Format": (
                                    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp", '
                                    '"requestTime":"$context.requestTime","routeKey":"$context.routeKey", '
                                    '"status":"$context.status","protocol":"$context.protocol", '
                                    '"responseLength":"$context.responseLength", '
                                    '"integrationError":"$context.integrationErrorMessage"}'
                                ),
                            },
                        }
                    },
                }
            },
        )
        self.assertEqual(
            self.deployed["function_urls"],
            {
                "ApiFunctionUrl": {
                    "FunctionUrl": "{ApiFunctionUrl.FunctionUrl}",
                    "FunctionArn": "{ApiFunction.Arn}",
                    "AuthType": "AWS_IAM",
                }
            },
        )

    def test_each_role_grants_exactly_its_function_and_event_source(self):
        # Every role's every statement, exactly: its log group, X-Ray, what its code calls on
        # exactly its resources, its event source or on-failure destination; nothing managed.
        roles = self.deployed["roles"]
        self.assertEqual({name: r["ManagedPolicyArns"] for name, r in roles.items()},
                         {name: [] for name in roles})

        def allow(actions, resource):
            return {"Effect": "Allow", "Action": actions, "Resource": resource}

        def policy(log_group, *statements):
            return {
                "Version": "2012-10-17",
                "Statement": [
                    allow(["logs:CreateLogStream", "logs:PutLogEvents"], "{" + log_group + ".Arn}"),
                    *statements,
                ],
            }

        xray = allow(["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*")
        idempotency = allow(
            ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            "{IdempotencyTable.Arn}",
        )
        receive = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]

        def orders(log_group, queue):
            # The standard and the FIFO orders functions: each stores orders from its queue.
            return policy(
                log_group, xray, allow(["dynamodb:PutItem"], "{OrdersTable.Arn}"), allow(receive, queue)
            )

        self.assertEqual(
            {name: role["Policies"] for name, role in roles.items()},
            {
                "RoutingRole": {"routing": policy(
                    "RoutingLogGroup",
                    allow(["ssm:GetParameter"],
                          "arn:aws:ssm:us-east-1:123456789012:parameter{RoutingRulesParameter}"),
                    xray,
                    allow(["s3:GetObject", "s3:GetObjectVersion"], "arn:aws:s3:::{IncomingBucket}/incoming/*"),
                    allow(["s3:PutObject"],
                          ["{DataBucket.Arn}/*", "{ImagesBucket.Arn}/*", "{UnsortedBucket.Arn}/*"]),
                    idempotency,
                    allow(["sqs:SendMessage"], "{RoutingFailureQueue.Arn}"),
                )},
                "OrdersRole": {"orders": orders("OrdersLogGroup", "{OrdersQueue.Arn}")},
                "OrdersFifoRole": {"orders-fifo": orders("OrdersFifoLogGroup", "{OrdersFifoQueue.Arn}")},
                "PaymentsRole": {"payments": policy(
                    "PaymentsLogGroup",
                    xray,
                    allow(["secretsmanager:GetSecretValue"], "{SigningKeySecret}"),
                    allow(["dynamodb:PutItem"], "{NotificationsTable.Arn}"),
                    idempotency,
                    allow(["sqs:SendMessage"], "{PaymentsFailureQueue.Arn}"),
                )},
                "TelemetryRole": {"telemetry": policy(
                    "TelemetryLogGroup",
                    xray,
                    allow(["dynamodb:BatchWriteItem"], "{TelemetryTable.Arn}"),
                    allow(["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:ListShards",
                           "kinesis:GetShardIterator", "kinesis:GetRecords"], "{TelemetryStream.Arn}"),
                    allow(["sqs:SendMessage"], "{TelemetryFailureQueue.Arn}"),
                )},
                "ApiRole": {"api": policy(
                    "ApiLogGroup",
                    xray,
                    allow(["dynamodb:PutItem", "dynamodb:GetItem"], "{OrdersTable.Arn}"),
                    idempotency,
                )},
            },
        )

    def test_what_moto_cannot_create_went_through_the_service_apis(self):
        self.assertEqual(
            sorted({self.stack.types[lid] for lid in self.stack.via_api}),
            [
                "AWS::ApiGatewayV2::Api",
                "AWS::ApiGatewayV2::Stage",
                "AWS::Lambda::Alias",
                "AWS::Lambda::EventInvokeConfig",
                "AWS::Lambda::Function",
                "AWS::Lambda::LayerVersion",
                "AWS::Lambda::Url",
                "AWS::Lambda::Version",
                "AWS::SNS::Subscription",
                "AWS::SecretsManager::Secret",
            ],
        )
        completed = {f"{self.stack.types[lid]}.{p}" for lid, props in self.stack.completed.items() for p in props}
        self.assertEqual(
            sorted(completed),
            [
                "AWS::DynamoDB::Table.PointInTimeRecoverySpecification",
                "AWS::DynamoDB::Table.TimeToLiveSpecification",
                "AWS::IAM::Role.Policies",
                "AWS::Kinesis::Stream.StreamEncryption",
                "AWS::Kinesis::Stream.StreamModeDetails",
                "AWS::S3::Bucket.NotificationConfiguration",
                "AWS::S3::Bucket.PublicAccessBlockConfiguration",
            ],
        )

    # -- driven through the deployed event sources ----------------------------------------

    def test_orders_stored_once_poison_dead_lettered_queue_empty(self):
        self.assertEqual(acceptance.orders_problems(self.outcome), [])
        run = self.outcome.orders
        self.assertEqual(sorted(run.stored), ["o-1001", "o-1002", "o-1005"])
        self.assertEqual(len(run.dead), 2)

    def test_fifo_orders_hold_back_their_group(self):
        self.assertEqual(acceptance.fifo_problems(self.outcome), [])
        self.assertEqual(sorted(self.outcome.fifo.stored), ["o-2001", "o-2002", "o-2005"])

    def test_telemetry_bad_reading_retried_then_reported(self):
        self.assertEqual(acceptance.telemetry_problems(self.outcome), [])
        report = self.outcome.telemetry["failure_reports"][0]
        self.assertEqual(report["requestContext"]["approximateInvokeCount"], 6)
        self.assertEqual(report["KinesisBatchInfo"]["batchSize"], 3)

    def test_payments_twice_stored_once_filtered_never_delivered(self):
        self.assertEqual(acceptance.payments_problems(self.outcome), [])

    def test_objects_routed_and_outside_the_prefix_never_delivered(self):
        self.assertEqual(acceptance.objects_problems(self.outcome), [])

    def test_http_requests_through_the_deployed_api_reach_the_api_function(self):
        self.assertEqual(orders_api.api_problems(self.api), [])
        created = self.api.answers["created"]
        self.assertEqual((created.status, created.header("location")), (201, ["/orders/o-6001"]))
        self.assertEqual(self.api.answers["replayed"].body, created.body)
        self.assertEqual(self.api.answers["unrouted"].status, 404)
        # Four requests reached the function; the DELETE no route takes did not.
        self.assertEqual(len(self.api.events), 4)

    def test_every_sqs_and_kinesis_batch_within_its_mappings_batch_size(self):
        # Every invocation any SQS or Kinesis mapping made (the negative control's included)
        # carried at most the mapping's BatchSize records, and each mapping made some.
        self.assertEqual(acceptance.batch_size_problems(self.functions.invocations, self.mappings), [])
        self.assertEqual(
            sorted(lid for lid, _, _ in self.mappings),
            ["OrdersFifoImageFunctionFifoOrders", "OrdersFunctionOrders", "TelemetryFunctionTelemetry"],
        )

    def test_negative_control_without_report_batch_item_failures_loses_poison(self):
        # The same checks on the run without ReportBatchItemFailures: Lambda deleted the
        # reported messages with the rest, so they were never retried nor dead-lettered.
        self.assertEqual(
            acceptance.queue_problems(self.control),
            [
                "poison message o-3003: delivered 1 times, expected 5",
                "poison message o-3003: 0 copies in the dead-letter queue, expected 1",
                "poison message o-3004: delivered 1 times, expected 5",
                "poison message o-3004: 0 copies in the dead-letter queue, expected 1",
            ],
        )
        self.assertEqual(sorted(self.control.stored), ["o-3001", "o-3002", "o-3005"])


if __name__ == "__main__":
    unittest.main()
