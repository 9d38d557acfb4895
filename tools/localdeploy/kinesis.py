"""A Kinesis event source mapping, polled as Lambda polls a stream.

- Shards: every shard of the stream, read from StartingPosition (LATEST: the records put
  after the mapping started polling; TRIM_HORIZON: all). One batch per shard at a time, in
  sequence order (ParallelizationFactor 1).
- Batches: up to BatchSize records, gathered for at most MaximumBatchingWindowInSeconds.
- Results, as Lambda documents them for streams:
  - success: the shard's checkpoint moves past the batch;
  - a partial batch response (ReportBatchItemFailures): the checkpoint moves to the lowest
    reported sequence number and the records from there on are retried (one retry);
  - a function error, or a response Lambda treats as a complete failure (an itemIdentifier
    that is empty, missing or not in the batch): with BisectBatchOnFunctionError the batch is
    split in two halves retried one after the other (splitting costs no retry), a single
    record is retried; without it the whole batch is retried;
  - past MaximumRetryAttempts retries (or MaximumRecordAgeInSeconds), the batch is discarded:
    its metadata (shard, first and last sequence numbers, size, stream; not the data) goes to
    the OnFailure destination, and the shard moves on.
"""

import base64
import datetime
import time
import uuid

from .aws import Clients
from .destinations import send
from .polling import Poller


def record(raw, shard_id, stream_arn, role_arn, region):
    """One stream record as a record of Lambda's Kinesis event."""
    arrival = raw["ApproximateArrivalTimestamp"]
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": raw["PartitionKey"],
            "sequenceNumber": raw["SequenceNumber"],
            "data": base64.b64encode(raw["Data"]).decode(),
            "approximateArrivalTimestamp": arrival.timestamp(),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{raw['SequenceNumber']}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": role_arn,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def outcome(records, invocation, report_failures):
    """("success" | "partial" | "error", index of the first record to retry)."""
    if invocation.error:
        return "error", 0
    if not report_failures:
        return "success", len(records)
    try:
        response = invocation.json()
    except ValueError:
        return "error", 0
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    if not failures:
        return "success", len(records)
    positions = {r["SequenceNumber"]: i for i, r in enumerate(records)}
    reported = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in positions:
            return "error", 0
        reported.append(positions[identifier])
    return "partial", min(reported)


class KinesisMapping(Poller):
    """One Kinesis mapping's poller."""

    def __init__(self, name, clients, functions, mapping, options):
        super().__init__(f"kinesis:{name}")
        self.clients = Clients(clients.endpoint, clients.region)
        self.kinesis = self.clients.client("kinesis")
        self.functions = functions
        self.function_arn = mapping["FunctionArn"]
        self.stream_arn = mapping["EventSourceArn"]
        self.batch_size = mapping.get("BatchSize") or 100
        self.window = mapping.get("MaximumBatchingWindowInSeconds") or 0
        self.starting_position = mapping.get("StartingPosition") or "LATEST"
        self.bisect = bool(mapping.get("BisectBatchOnFunctionError"))
        self.max_retries = mapping.get("MaximumRetryAttempts", -1)
        self.max_age = mapping.get("MaximumRecordAgeInSeconds", -1)
        self.report_failures = "ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or [])
        destination = ((mapping.get("DestinationConfig") or {}).get("OnFailure") or {})
        self.on_failure = destination.get("Destination")
        config = self.clients.client("lambda").get_function_configuration(
            FunctionName=self.function_arn
        )
        self.role_arn = config["Role"]
        self.shards = {}  # shard id -> [iterator, buffered records]
        self.discarded = []  # the failure records sent to the destination

    def setup(self):
        # By name: moto 5.2.5 builds iterators it cannot read back when given StreamARN.
        stream = self.stream_arn.split("/", 1)[1]
        shards = self.kinesis.list_shards(StreamName=stream)["Shards"]
        for shard in shards:
            iterator = self.kinesis.get_shard_iterator(
                StreamName=stream,
                ShardId=shard["ShardId"],
                ShardIteratorType=self.starting_position,
            )["ShardIterator"]
            self.shards[shard["ShardId"]] = [iterator, []]

    def fetch(self, shard_id):
        state = self.shards[shard_id]
        response = self.kinesis.get_records(ShardIterator=state[0], Limit=self.batch_size)
        state[0] = response["NextShardIterator"]
        state[1] += response["Records"]

    def next_batch(self, shard_id):
        """Up to BatchSize records of a shard within the batching window."""
        buffered = self.shards[shard_id][1]
        self.fetch(shard_id)
        if buffered and self.window and len(buffered) < self.batch_size:
            deadline = time.monotonic() + self.window
            while len(buffered) < self.batch_size and time.monotonic() < deadline:
                time.sleep(0.2)
                self.fetch(shard_id)
        batch = buffered[: self.batch_size]
        del buffered[: len(batch)]
        return batch

    def poll(self):
        delivered = False
        for shard_id in self.shards:
            batch = self.next_batch(shard_id)
            if batch:
                self.process(shard_id, batch)
                delivered = True
        if not delivered:
            time.sleep(0.25)

    def process(self, shard_id, batch):
        """Invokes until every record of the batch succeeded or was discarded."""
        pending = [(batch, 0)]  # (records, retries so far)
        while pending:
            records, retries = pending.pop(0)
            if self.too_old(records):
                self.discard(shard_id, records, "RecordAgeExceeded", retries + 1)
                continue
            event = {
                "Records": [
                    record(r, shard_id, self.stream_arn, self.role_arn, self.clients.region)
                    for r in records
                ]
            }
            invocation = self.functions.invoke(self.function_arn, event)
            result, first_failed = outcome(records, invocation, self.report_failures)
            if result == "success":
                continue
            if result == "error" and self.bisect and len(records) > 1:
                half = len(records) // 2
                pending[:0] = [(records[:half], retries), (records[half:], retries)]
                continue
            remaining = records[first_failed:]
            if 0 <= self.max_retries <= retries:
                self.discard(shard_id, remaining, "RetryAttemptsExhausted", retries + 1,
                             invocation.error)
            else:
                pending.insert(0, (remaining, retries + 1))

    def too_old(self, records):
        if self.max_age is None or self.max_age < 0:
            return False
        oldest = records[0]["ApproximateArrivalTimestamp"]
        age = datetime.datetime.now(oldest.tzinfo) - oldest
        return age.total_seconds() > self.max_age

    def discard(self, shard_id, records, condition, invoke_count, function_error=None):
        """Sends the batch's metadata to the OnFailure destination and moves on."""
        document = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function_arn,
                "condition": condition,
                "approximateInvokeCount": invoke_count,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
            "version": "1.0",
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "KinesisBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0]["SequenceNumber"],
                "endSequenceNumber": records[-1]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": records[0]["ApproximateArrivalTimestamp"].isoformat(),
                "approximateArrivalOfLastRecord": records[-1]["ApproximateArrivalTimestamp"].isoformat(),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        if function_error:
            document["responseContext"]["functionError"] = "Unhandled"
        self.discarded.append(document)
        if self.on_failure:
            send(self.clients, self.on_failure, document)

