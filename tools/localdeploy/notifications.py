"""SNS subscriptions and S3 notifications that invoke functions, delivered locally.

moto keeps the deployed subscriptions and notification configurations, but invokes Lambda
targets itself through Docker (absent here). The local delivery taps what moto does deliver:
an SQS queue of its own subscribed to the topic (no filter), or added to the bucket's
notification configuration for every object event, after the deployed configuration has been
read back. Each tapped message is then matched against the deployed Lambda subscriptions and
notification configurations (filters) and handed to the function as Lambda would:

- SNS: one event per subscription whose filter policy matches, `Records[0].Sns` with the
  message id, attributes, subject, timestamp and the subscription ARN; a message the policy
  rejects is never delivered. The `duplicate` option delivers chosen messages twice (SNS
  delivers at least once).
- S3: one event per notification whose event name and key filter match, the record moto
  wrote completed with what moto leaves out (`sequencer`, `versionId` of a versioned bucket,
  the identity fields, the configuration id).

Both invoke asynchronously: a function error is retried MaximumRetryAttempts times (the
EventInvokeConfig, 2 by default; `retry_delay` seconds apart, where Lambda waits about a
minute, then two), then the invocation record goes to the OnFailure destination; a success
goes to the OnSuccess destination if there is one.
"""

import datetime
import itertools
import json
import time
import urllib.parse
import uuid

from botocore.exceptions import ClientError

from .aws import Clients
from .destinations import send
from .filters import matches_policy, s3_event_matches, s3_key_matches
from .polling import Poller

TAP_ID = "tern-local-tap"


class AsyncInvoker:
    """Lambda's asynchronous invocation: retries, then destinations."""

    def __init__(self, clients, functions, retry_delay):
        self.clients = clients
        self.functions = functions
        self.retry_delay = retry_delay
        self.configs = {}

    def config(self, function_arn):
        if function_arn not in self.configs:
            parts = function_arn.split(":")
            qualifier = parts[7] if len(parts) == 8 else "$LATEST"
            try:
                config = self.clients.client("lambda").get_function_event_invoke_config(
                    FunctionName=":".join(parts[:7]), Qualifier=qualifier
                )
            except ClientError as err:
                if err.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
                config = {}  # Lambda's defaults: two retries, no destination
            self.configs[function_arn] = config
        return self.configs[function_arn]

    def invoke(self, function_arn, event):
        config = self.config(function_arn)
        attempts = 1 + config.get("MaximumRetryAttempts", 2)
        for attempt in range(1, attempts + 1):
            invocation = self.functions.invoke(function_arn, event)
            if not invocation.error:
                self.destination(config, "OnSuccess", "Success", function_arn, event, invocation, attempt)
                return invocation
            if attempt < attempts:
                time.sleep(self.retry_delay)
        self.destination(config, "OnFailure", "RetriesExhausted", function_arn, event, invocation, attempts)
        return invocation

    def destination(self, config, outcome, condition, function_arn, event, invocation, count):
        target = ((config.get("DestinationConfig") or {}).get(outcome) or {}).get("Destination")
        if not target:
            return
        response = {"statusCode": 200, "executedVersion": "$LATEST"}
        if invocation.error:
            response["functionError"] = "Unhandled"
        try:
            payload = invocation.json()
        except ValueError:
            payload = invocation.body
        send(self.clients, target, {
            "version": "1.0",
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": function_arn,
                "condition": condition,
                "approximateInvokeCount": count,
            },
            "requestPayload": event,
            "responseContext": response,
            "responsePayload": payload,
        })


class Tap(Poller):
    """Reads a tap queue and hands each message body to `deliver`."""

    def __init__(self, name, clients, queue_name):
        super().__init__(name)
        self.clients = Clients(clients.endpoint, clients.region)
        self.sqs = self.clients.client("sqs")
        self.queue_url = self.sqs.create_queue(QueueName=queue_name)["QueueUrl"]
        self.queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]

    def poll(self):
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        for message in messages:
            self.deliver(json.loads(message["Body"]))
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def deliver(self, body):
        raise NotImplementedError


class TopicDeliveries(Tap):
    """The Lambda subscriptions of one topic."""

    def __init__(self, name, clients, topic_arn, subscriptions, functions, options):
        super().__init__(f"sns:{name}", clients, f"tern-local-tap-{name}"[:80])
        self.topic_arn = topic_arn
        self.subscriptions = subscriptions
        self.invoker = AsyncInvoker(self.clients, functions, options.get("retry_delay", 1))
        self.duplicate = options.get("duplicate") or (lambda message: False)
        self.clients.client("sns").subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=self.queue_arn
        )

    @classmethod
    def for_topic(cls, lid, clients, stack, functions, options):
        sns = clients.client("sns")
        arn = stack.refs[lid]
        subscriptions = []
        for subscription in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]:
            if subscription["Protocol"] != "lambda":
                continue
            attributes = sns.get_subscription_attributes(
                SubscriptionArn=subscription["SubscriptionArn"]
            )["Attributes"]
            policy = json.loads(attributes["FilterPolicy"]) if attributes.get("FilterPolicy") else None
            subscriptions.append({
                "arn": subscription["SubscriptionArn"],
                "function": subscription["Endpoint"],
                "policy": policy,
                "scope": attributes.get("FilterPolicyScope", "MessageAttributes"),
            })
        return cls(lid, clients, arn, subscriptions, functions, options) if subscriptions else None

    def deliver(self, envelope):
        attributes = envelope.get("MessageAttributes") or {}
        for subscription in self.subscriptions:
            if not matches_policy(
                subscription["policy"], subscription["scope"], attributes, envelope["Message"]
            ):
                continue
            event = {"Records": [{
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription["arn"],
                "Sns": {
                    "Type": "Notification",
                    "MessageId": envelope["MessageId"],
                    "TopicArn": envelope["TopicArn"],
                    "Subject": envelope.get("Subject"),
                    "Message": envelope["Message"],
                    "Timestamp": envelope["Timestamp"],
                    "SignatureVersion": envelope.get("SignatureVersion", "1"),
                    "Signature": envelope.get("Signature", ""),
                    "SigningCertUrl": envelope.get("SigningCertURL", ""),
                    "UnsubscribeUrl": envelope.get("UnsubscribeURL", ""),
                    "MessageAttributes": {
                        name: {"Type": value["Type"], "Value": value["Value"]}
                        for name, value in attributes.items()
                    },
                },
            }]}
            times = 2 if self.duplicate(envelope) else 1
            for _ in range(times):
                self.invoker.invoke(subscription["function"], event)


class BucketNotifications(Tap):
    """The Lambda notifications of one bucket."""

    sequence = itertools.count(1)

    def __init__(self, name, clients, bucket, configurations, functions, options):
        super().__init__(f"s3:{name}", clients, f"tern-local-tap-{name}"[:80])
        self.bucket = bucket
        self.configurations = configurations
        self.invoker = AsyncInvoker(self.clients, functions, options.get("retry_delay", 1))
        s3 = self.clients.client("s3")
        current = s3.get_bucket_notification_configuration(Bucket=bucket)
        current.pop("ResponseMetadata", None)
        current.setdefault("QueueConfigurations", []).append({
            "Id": TAP_ID,
            "QueueArn": self.queue_arn,
            "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
        })
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=current)
        self.versioned = s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"

    @classmethod
    def for_bucket(cls, lid, clients, stack, functions, options):
        bucket = stack.refs[lid]
        configuration = clients.client("s3").get_bucket_notification_configuration(Bucket=bucket)
        lambdas = [
            {
                "id": entry.get("Id") or f"{lid}-{index}",
                "function": entry["LambdaFunctionArn"],
                "events": entry["Events"],
                "filter": {
                    rule["Name"].lower(): rule["Value"]
                    for rule in entry.get("Filter", {}).get("Key", {}).get("FilterRules", [])
                },
            }
            for index, entry in enumerate(configuration.get("LambdaFunctionConfigurations", []))
        ]
        return cls(lid, clients, bucket, lambdas, functions, options) if lambdas else None

    def deliver(self, event):
        for record in event.get("Records", []):  # s3:TestEvent messages have none
            key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
            for configuration in self.configurations:
                if not any(s3_event_matches(e, record["eventName"]) for e in configuration["events"]):
                    continue
                if not s3_key_matches(configuration["filter"], key):
                    continue
                self.invoker.invoke(configuration["function"], {
                    "Records": [self.complete(record, key, configuration["id"])]
                })

    def complete(self, record, key, configuration_id):
        """moto's record with the fields S3 sends and moto leaves out."""
        record = json.loads(json.dumps(record))
        record.setdefault("userIdentity", {"principalId": "AWS:TERNLOCAL"})
        record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
        record.setdefault("responseElements", {
            "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
            "x-amz-id-2": uuid.uuid4().hex,
        })
        s3 = record["s3"]
        s3["configurationId"] = configuration_id
        s3["bucket"].setdefault("ownerIdentity", {"principalId": "TERNLOCAL"})
        obj = s3["object"]
        obj.setdefault("sequencer", f"{time.time_ns():016X}{next(self.sequence):04X}")
        if self.versioned and "versionId" not in obj and record["eventName"].startswith("ObjectCreated"):
            head = self.clients.client("s3").head_object(Bucket=self.bucket, Key=key)
            obj["versionId"] = head.get("VersionId")
        return record
