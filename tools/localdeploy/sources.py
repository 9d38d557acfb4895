"""The event sources of a deployment, started from what it says, each on its own thread.

`EventSources.start(...)` reads the deployment back (event source mappings, topic
subscriptions, bucket notifications) and starts one poller per SQS or Kinesis mapping and one
delivery per topic or bucket with Lambda subscribers. `stop()` stops them and raises the
errors any of them met, so a broken poller fails the run instead of going quiet.

moto runs its own idea of a mapping: on SendMessage and PutRecord it receives the new
messages and invokes the mapped function itself, through Docker; without Docker the
invocation fails and the messages come back with a receive count they should not have. Each
mapping is therefore disabled in moto once its configuration has been read, and the local
poller takes its place with the configuration as deployed.
"""

from .kinesis import KinesisMapping
from .notifications import BucketNotifications, TopicDeliveries
from .sqs import SqsMapping


class SourceError(Exception):
    """A poller or delivery failed; the message holds its traceback."""


class EventSources:
    """Every event source of a deployed stack, polling or listening."""

    def __init__(self, sources):
        self.sources = sources

    @classmethod
    def start(cls, clients, stack, functions, options=None, only=None):
        """Starts a poller per mapping and a delivery per topic and bucket with Lambda targets.

        `options`: `visibility_timeout` (SQS receives with it instead of the queue's, to keep
        redeliveries short), `drop_acknowledgement` (a predicate on an SQS message: its delete
        is lost once it returns True), `duplicate` (a predicate on an SNS message: delivered
        twice), `retry_delay` (seconds between asynchronous retries; Lambda waits minutes).
        `only`: the logical ids of the mappings, topics and buckets to start (default: all).
        """
        options = dict(options or {})
        lam = clients.client("lambda")
        sources = []
        chosen = (lambda lid: lid in only) if only is not None else (lambda lid: True)
        for lid in filter(chosen, stack.of_type("AWS::Lambda::EventSourceMapping")):
            mapping = lam.get_event_source_mapping(UUID=stack.refs[lid])
            if mapping["State"] != "Enabled":
                continue
            lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
            service = mapping["EventSourceArn"].split(":")[2]
            if service == "sqs":
                sources.append(SqsMapping(lid, clients, functions, mapping, options))
            elif service == "kinesis":
                sources.append(KinesisMapping(lid, clients, functions, mapping, options))
            else:
                raise SourceError(f"{lid}: no local poller for {service} event sources")
        for lid in filter(chosen, stack.of_type("AWS::SNS::Topic")):
            delivery = TopicDeliveries.for_topic(lid, clients, stack, functions, options)
            if delivery:
                sources.append(delivery)
        for lid in filter(chosen, stack.of_type("AWS::S3::Bucket")):
            delivery = BucketNotifications.for_bucket(lid, clients, stack, functions, options)
            if delivery:
                sources.append(delivery)
        started = cls(sources)
        for source in sources:
            source.start()
        for source in sources:
            source.ready.wait(60)
            if source.failure or not source.ready.is_set():
                started.stop()
                raise SourceError(source.failure or f"{source.name} did not get ready in 60 s")
        return started

    def stop(self):
        failures = [f for f in (source.stop() for source in self.sources) if f]
        if failures:
            raise SourceError("\n".join(failures))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
