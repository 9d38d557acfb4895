"""Events put on a deployed stack's queues, stream, topic and bucket, and the state read back:
shared by `make deploy-local` (tools/deploy_local.py) and its test.

The sample events come from `events/<handler>/` (the same files the demo and the Rust tests
invoke the functions with): their bodies, data, messages and objects are what is sent here,
through the services, never to a function directly.
"""

import base64
import json
import pathlib
import time

from boto3.dynamodb.types import TypeDeserializer

EVENTS = pathlib.Path(__file__).resolve().parent.parent.parent / "events"


def sample_orders():
    """Order message bodies of events/sqs/1-orders.json, in order."""
    return [r["body"] for r in _records("sqs/1-orders.json")]


def sample_fifo_orders():
    """(body, message group) of events/sqs/2-orders-fifo.json, in order."""
    return [(r["body"], r["attributes"]["MessageGroupId"]) for r in _records("sqs/2-orders-fifo.json")]


def sample_readings():
    """(partition key, data) of events/kinesis/1-telemetry.json, in order."""
    return [
        (r["kinesis"]["partitionKey"], base64.b64decode(r["kinesis"]["data"]))
        for r in _records("kinesis/1-telemetry.json")
    ]


def sample_payments():
    """(message, {attribute: value}) of the distinct notifications in events/sns/."""
    found = []
    for path in sorted((EVENTS / "sns").glob("[0-9]-*.json")):
        if "duplicate" in path.name:
            continue  # SNS delivering twice is the delivery's job here
        sns = json.loads(path.read_text(encoding="utf-8"))["Records"][0]["Sns"]
        attributes = {k: v["Value"] for k, v in sns["MessageAttributes"].items()}
        found.append((sns["Message"], attributes))
    return found


def sample_objects():
    """{key: bytes} of events/s3/objects.json."""
    document = json.loads((EVENTS / "s3/objects.json").read_text(encoding="utf-8"))
    return {
        key: spec["text"].encode() if "text" in spec else base64.b64decode(spec["base64"])
        for key, spec in document["objects"].items()
    }


def _records(name):
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))["Records"]


class Scenario:
    """Puts events on a deployed stack's sources and reads its state, by logical id."""

    def __init__(self, clients, stack):
        self.clients = clients
        self.stack = stack
        self.sqs = clients.client("sqs")

    def send(self, queue, body, group=None):
        """Sends a message; returns its message id."""
        request = {"QueueUrl": self.stack.refs[queue], "MessageBody": body}
        if group is not None:
            request["MessageGroupId"] = group
        return self.sqs.send_message(**request)["MessageId"]

    def put(self, stream, partition_key, data):
        """Puts a record; returns its sequence number."""
        return self.clients.client("kinesis").put_record(
            StreamName=self.stack.refs[stream], PartitionKey=partition_key, Data=data
        )["SequenceNumber"]

    def publish(self, topic, message, attributes):
        """Publishes with String attributes; returns the message id."""
        return self.clients.client("sns").publish(
            TopicArn=self.stack.refs[topic],
            Message=message,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in attributes.items()
            },
        )["MessageId"]

    def upload(self, bucket, key, body):
        self.clients.client("s3").put_object(Bucket=self.stack.refs[bucket], Key=key, Body=body)

    def depth(self, queue):
        """Messages in a queue: visible plus in flight plus delayed."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.stack.refs[queue], AttributeNames=["All"]
        )["Attributes"]
        return sum(
            int(attributes[name])
            for name in (
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            )
        )

    def drain(self, queue):
        """Every message of a queue (received and deleted), oldest first."""
        messages = []
        while True:
            received = self.sqs.receive_message(
                QueueUrl=self.stack.refs[queue],
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                return messages
            for message in received:
                messages.append(message)
                self.sqs.delete_message(
                    QueueUrl=self.stack.refs[queue], ReceiptHandle=message["ReceiptHandle"]
                )

    def items(self, table):
        """Every item of a table, as plain values, sorted by the key's value."""
        dynamodb = self.clients.client("dynamodb")
        name = self.stack.refs[table]
        key = dynamodb.describe_table(TableName=name)["Table"]["KeySchema"][0]["AttributeName"]
        deserialize = TypeDeserializer().deserialize
        items = [
            {k: deserialize(v) for k, v in item.items()}
            for item in dynamodb.scan(TableName=name)["Items"]
        ]
        return sorted(items, key=lambda item: item[key])

    def keys(self, bucket):
        listed = self.clients.client("s3").list_objects_v2(Bucket=self.stack.refs[bucket])
        return sorted(o["Key"] for o in listed.get("Contents", []))


def wait_until(what, condition, timeout, interval=0.5):
    """Polls `condition` until it is true; raises TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(interval)
