"""An SQS event source mapping, polled as Lambda polls it.

- Batches: up to BatchSize messages (ten per ReceiveMessage), gathered for at most
  MaximumBatchingWindowInSeconds after the first one arrives; with no window, the messages one
  receive returns. FIFO queues hand out a message group's next messages only once the earlier
  ones are deleted or visible again, so order within a group holds.
- The function is invoked synchronously with the batch (the Lambda SQS event: `messageId`,
  `receiptHandle`, `attributes` with ApproximateReceiveCount, the FIFO group and sequence,
  `messageAttributes`, `md5OfBody`, `eventSourceARN`, ...).
- Acknowledgement: a function error deletes nothing. Without ReportBatchItemFailures a
  response deletes the whole batch, whatever it says. With it, every message not listed in
  `batchItemFailures` is deleted; a response Lambda treats as a complete failure (an
  itemIdentifier that is empty, missing or not a message of the batch, or a body that is not
  JSON) deletes nothing.
- What is not deleted becomes visible again after the visibility timeout and is received
  again; the queue's redrive policy (applied by SQS itself, moto here) moves a message to the
  dead-letter queue once it has been received maxReceiveCount times.

Local knobs (EventSources options): `visibility_timeout` receives with that timeout instead
of the queue's (120 s in the template) so redeliveries take seconds; `drop_acknowledgement`
loses a delete, as a poller crashing between the response and DeleteMessageBatch would.

A moto gap (5.2.5): when several messages of one FIFO group become visible again together,
moto hands out a later one first (its group check sees the others as still in flight). On a
FIFO queue the poller therefore receives with a visibility timeout 30 s longer than the
queue's (or the knob's) and, once the queue's has passed, makes the messages it did not
delete visible again itself, in order (ChangeMessageVisibility 0): the same moment SQS would,
and the order SQS keeps.
"""

import base64
import json
import time
from collections import deque

from .aws import Clients
from .polling import Poller

RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


def record(message, queue_arn, region):
    """One message as a record of Lambda's SQS event."""
    attributes = message.get("Attributes", {})
    message_attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        entry = {
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": [
                base64.b64encode(v).decode() for v in value.get("BinaryListValues", [])
            ],
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        message_attributes[name] = entry
    result = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {k: attributes[k] for k in RECORD_ATTRIBUTES if k in attributes},
        "messageAttributes": message_attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        result["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return result


def acknowledged(messages, invocation, report_failures):
    """The messages a response lets Lambda delete."""
    if invocation.error:
        return []
    if not report_failures:
        return list(messages)
    try:
        response = invocation.json()
    except ValueError:
        return []  # not JSON: a complete failure
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    if not failures:
        return list(messages)  # null/empty response or list: a complete success
    ids = {m["MessageId"] for m in messages}
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in ids:
            return []
        failed.add(identifier)
    return [m for m in messages if m["MessageId"] not in failed]


class SqsMapping(Poller):
    """One SQS mapping's poller."""

    def __init__(self, name, clients, functions, mapping, options):
        super().__init__(f"sqs:{name}")
        self.clients = Clients(clients.endpoint, clients.region)
        self.functions = functions
        self.function_arn = mapping["FunctionArn"]
        self.queue_arn = mapping["EventSourceArn"]
        self.batch_size = mapping.get("BatchSize") or 10
        self.window = mapping.get("MaximumBatchingWindowInSeconds") or 0
        self.report_failures = "ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or [])
        self.visibility_timeout = options.get("visibility_timeout")
        self.drop_acknowledgement = options.get("drop_acknowledgement") or (lambda message: False)
        _, _, _, _, account, queue = self.queue_arn.split(":")
        self.sqs = self.clients.client("sqs")
        self.queue_url = self.sqs.get_queue_url(QueueName=queue, QueueOwnerAWSAccountId=account)[
            "QueueUrl"
        ]
        self.fifo = queue.endswith(".fifo")
        if self.visibility_timeout is None:
            self.visibility_timeout = int(
                self.sqs.get_queue_attributes(
                    QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"]
                )["Attributes"]["VisibilityTimeout"]
            )
        self.releases = deque()  # (when, receipt handles in order): FIFO messages to return

    def release_due(self):
        """Returns the FIFO messages whose visibility timeout has passed, in order."""
        while self.releases and self.releases[0][0] <= time.monotonic():
            _, handles = self.releases.popleft()
            entries = [
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for i, handle in enumerate(handles)
            ]
            for start in range(0, len(entries), 10):
                self.sqs.change_message_visibility_batch(
                    QueueUrl=self.queue_url, Entries=entries[start : start + 10]
                )

    def receive(self):
        """Up to BatchSize messages within the batching window (none: an empty list)."""
        messages, deadline = [], None
        while len(messages) < self.batch_size and not self.stopping.is_set():
            if deadline is None:
                wait = 1
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                wait = max(1, int(left + 0.999))
            request = {
                "QueueUrl": self.queue_url,
                "MaxNumberOfMessages": min(10, self.batch_size - len(messages)),
                "WaitTimeSeconds": min(20, wait),
                "AttributeNames": ["All"],
                "MessageSystemAttributeNames": ["All"],
                "MessageAttributeNames": ["All"],
            }
            request["VisibilityTimeout"] = self.visibility_timeout + (30 if self.fifo else 0)
            received = self.sqs.receive_message(**request).get("Messages", [])
            messages += received
            if not messages:
                break  # back to poll(): due FIFO releases first
            if deadline is None:
                if not self.window:
                    break
                deadline = time.monotonic() + self.window
        return messages

    def poll(self):
        self.release_due()
        messages = self.receive()
        if not messages:
            return
        received = time.monotonic()
        event = {"Records": [record(m, self.queue_arn, self.clients.region) for m in messages]}
        invocation = self.functions.invoke(self.function_arn, event)
        done = [
            m for m in acknowledged(messages, invocation, self.report_failures)
            if not self.drop_acknowledgement(m)
        ]
        kept = [m["ReceiptHandle"] for m in messages if m not in done]
        if self.fifo and kept:
            self.releases.append((received + self.visibility_timeout, kept))
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(done[start : start + 10])
            ]
            result = self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if result.get("Failed"):
                raise RuntimeError(f"DeleteMessageBatch failed: {json.dumps(result['Failed'])}")
