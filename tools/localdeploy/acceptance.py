"""What the deployed application must do when its event sources are driven, as checks that
return their problems (an empty list when everything holds), so the same check proves a run
right and, in the negative control, says what a broken configuration loses.

`drive(...)` puts the sample events on every source of the stack and waits until each source
has settled; the `*_problems(outcome)` functions then compare the outcome with exact
expectations:

- orders (standard queue): every valid order stored once although one was sent twice and one
  acknowledgement was lost; every poison message delivered exactly maxReceiveCount times,
  then found once in the dead-letter queue; the queue empty;
- orders (FIFO queue, image function): the same, where a failed message also holds back the
  rest of its group, which follows it to the dead-letter queue in order;
- telemetry (stream): the good readings stored; the bad one retried MaximumRetryAttempts
  times and then reported to the on-failure destination; a batch of bad readings only (the
  function fails the invocation) bisected, each half retried and reported on its own;
- payments (topic): each accepted payment delivered twice and stored once; a message outside
  the subscription's filter policy never delivered; one the function refuses retried as the
  asynchronous invocation config says, then recorded in its on-failure destination;
- objects (bucket): each object under the prefix routed; an object outside it never delivered;
- batches (every SQS and Kinesis mapping): each invocation it made carried at most its BatchSize
  records (`batch_size_problems`).

`deliveries(invocations)` groups the recorded invocations by the event source that made them,
for `make deploy-local` (and `make demo SOURCES=deployed`) to print.
"""

import json
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

from . import scenario
from .orders import (  # noqa: F401 (DropFirstAcknowledgement, order_id: used by the callers)
    DropFirstAcknowledgement,
    QueueRun,
    order_id,
    queue_problems,
    queue_run,
    send_orders,
    settle_queue,
)
from .scenario import Scenario, wait_until

# (function, queue, dead-letter queue) of the standard and the FIFO orders queue.
ORDERS = ("OrdersFunction", "OrdersQueue", "OrdersDeadLetterQueue")
FIFO = ("OrdersFifoImageFunction", "OrdersFifoQueue", "OrdersFifoDeadLetterQueue")
OUTSIDE_FILTER = ('{"payment_id": "p-5999", "status": "disputed"}', {"event_type": "payment.disputed"})
OUTSIDE_PREFIX = "outside/orders.json"
# Accepted by the filter policy, refused by the function: the payload says failed, the
# attribute captured. Asynchronous retries, then the on-failure destination.
FAILING_PAYMENT = (
    '{"payment_id": "p-5998", "order_id": "o-1005", "amount_cents": 1400, "currency": "USD", '
    '"status": "failed"}',
    {"event_type": "payment.captured"},
)


def duplicate(envelope):
    """The SNS `duplicate` option of a run: SNS delivers the sample payments twice."""
    return envelope["Message"] != FAILING_PAYMENT[0]


@dataclass
class Outcome:
    orders: QueueRun = None
    fifo: QueueRun = None
    telemetry: dict = field(default_factory=dict)
    payments: dict = field(default_factory=dict)
    objects: dict = field(default_factory=dict)


def orders_problems(outcome):
    missing = [] if outcome.orders.lost_acknowledgement else [
        "no acknowledgement was lost: the redelivery of an acknowledged order went untested"
    ]
    return missing + queue_problems(outcome.orders)


def fifo_problems(outcome):
    # The first failure of group customer-c-1 holds back the rest of that group.
    return queue_problems(outcome.fifo, held_back=("o-2004",))


def telemetry_problems(outcome):
    t = outcome.telemetry
    problems = []
    if t["stored"] != t["expected"]:
        problems.append(f"readings stored {t['stored']}, expected {t['expected']}")
    if t["bad_deliveries"] != t["retries"] + 1:
        problems.append(
            f"the bad reading was delivered {t['bad_deliveries']} times, expected {t['retries'] + 1}"
        )
    reports = t["failure_reports"]
    infos = [r.get("KinesisBatchInfo", {}) for r in reports]
    if [i.get("startSequenceNumber") for i in infos] != [t["bad_sequence"]]:
        problems.append(
            f"on-failure destination holds {[i.get('startSequenceNumber') for i in infos]}, "
            f"expected one report starting at the bad reading {t['bad_sequence']}"
        )
    elif reports[0]["requestContext"]["condition"] != "RetryAttemptsExhausted":
        problems.append(f"the report's condition is {reports[0]['requestContext']['condition']}")
    return problems + bisect_problems(t["bisect"], t["retries"])


def bisect_problems(b, retries):
    """A failed batch of two: split, then each record retried and reported alone."""
    first, second = b["sequences"]
    expected = [(first, second)] + [(first,)] * (retries + 1) + [(second,)] * (retries + 1)
    problems = []
    if b["batches"] != expected:
        problems.append(f"batches invoked {b['batches']}, expected {expected}")
    reported = [(r["KinesisBatchInfo"]["startSequenceNumber"], r["KinesisBatchInfo"]["batchSize"])
                for r in b["reports"]]
    if reported != [(first, 1), (second, 1)]:
        problems.append(f"reports {reported}, expected one per record: {[(first, 1), (second, 1)]}")
    return problems


def payments_problems(outcome):
    p = outcome.payments
    problems = []
    for message_id in p["accepted"]:
        responses = p["responses"].get(message_id, [])
        if len(responses) != 2:
            problems.append(f"payment {message_id}: delivered {len(responses)} times, expected 2")
        elif responses[0] != responses[1]:
            problems.append(f"payment {message_id}: the second delivery was processed again")
    if sorted(p["stored"]) != sorted(p["accepted"]):
        problems.append(f"notifications stored {sorted(p['stored'])}, expected {sorted(p['accepted'])}")
    if p["responses"].get(p["filtered"]):
        problems.append("the message outside the filter policy reached the function")
    attempts = p["retries"] + 1
    tried = len(p["responses"].get(p["failing"], []))
    if tried != attempts:
        problems.append(f"the refused payment was tried {tried} times, expected {attempts}")
    records = [
        (
            r["requestContext"]["condition"],
            r["requestContext"]["approximateInvokeCount"],
            r["requestPayload"]["Records"][0]["Sns"]["MessageId"],
            r["responseContext"].get("functionError"),
        )
        for r in p["failure_records"]
    ]
    expected = [("RetriesExhausted", attempts, p["failing"], "Unhandled")]
    if records != expected:
        problems.append(f"on-failure records {records}, expected {expected}")
    return problems


def objects_problems(outcome):
    o = outcome.objects
    problems = []
    if o["routed"] != o["expected"]:
        problems.append(f"objects routed {o['routed']}, expected {o['expected']}")
    if OUTSIDE_PREFIX in o["delivered_keys"]:
        problems.append(f"{OUTSIDE_PREFIX} (outside the notification's prefix) reached the function")
    if sorted(o["delivered_keys"]) != sorted(o["uploaded_inside"]):
        problems.append(f"keys delivered {sorted(o['delivered_keys'])}, expected {sorted(o['uploaded_inside'])}")
    return problems


def drive(clients, stack, functions, dropper, timeout=120):
    """Puts every sample event on the stack's sources (already started, with `dropper` as the
    SQS pollers' drop_acknowledgement) and waits until each settled; returns the Outcome."""
    scene = Scenario(clients, stack)
    outcome = Outcome()
    outcome.orders = queue_run(scene, ORDERS)
    orders = scenario.sample_orders()
    # The first valid order twice: a producer retrying a send.
    send_orders(outcome.orders, scene, [orders[0], *orders])
    fifo = FIFO[0] in stack.types
    if fifo:
        outcome.fifo = queue_run(scene, FIFO)
        bodies, groups = zip(*scenario.sample_fifo_orders())
        send_orders(outcome.fifo, scene, bodies, groups)
    readings = scenario.sample_readings()
    sequences = [scene.put("TelemetryStream", key, data) for key, data in readings]
    # What must not be delivered goes first: once what follows it arrived, it was passed over.
    filtered = scene.publish("PaymentsTopic", *OUTSIDE_FILTER)
    payments = [(scene.publish("PaymentsTopic", m, a), m) for m, a in scenario.sample_payments()]
    failing = scene.publish("PaymentsTopic", *FAILING_PAYMENT)
    scene.upload("IncomingBucket", OUTSIDE_PREFIX, b'{"orders": []}')
    objects = scenario.sample_objects()
    for key, body in objects.items():
        scene.upload("IncomingBucket", key, body)

    settle_queue(outcome.orders, scene, functions, timeout)
    outcome.orders.lost_acknowledgement = dropper.dropped or ""
    if fifo:
        settle_queue(outcome.fifo, scene, functions, timeout)
    bad = [seq for seq, (_, data) in zip(sequences, readings) if not data.startswith(b"{")]
    mapping = clients.client("lambda").get_event_source_mapping(
        UUID=stack.refs["TelemetryFunctionTelemetry"]
    )
    retries = mapping["MaximumRetryAttempts"]
    wait_until("the telemetry failure report", lambda: scene.depth("TelemetryFailureQueue") >= 1, timeout)
    wait_until("payments delivered", lambda: len(functions.of("PaymentsFunction")) >= 2 * len(payments), timeout)
    wait_until("the payment failure record", lambda: scene.depth("PaymentsFailureQueue") >= 1, timeout)
    wait_until("objects routed", lambda: len(functions.of("RoutingFunction")) >= len(objects), timeout)
    time.sleep(2)  # and nothing arrives late
    outcome.telemetry = telemetry_outcome(scene, functions, readings, bad, retries)
    outcome.payments = payments_outcome(scene, functions, payments, filtered, failing)
    outcome.objects = objects_outcome(scene, functions, objects)
    outcome.telemetry["bisect"] = bisect_outcome(scene, functions, timeout)
    return outcome


def bisect_outcome(scene, functions, timeout):
    """Two readings that do not decode, alone in a batch: the function fails the invocation."""
    sequences = [scene.put("TelemetryStream", "d-900", b"not a reading") for _ in range(2)]
    wait_until("two bisected reports", lambda: scene.depth("TelemetryFailureQueue") >= 2, timeout)
    batches = [
        tuple(r["kinesis"]["sequenceNumber"] for r in invocation.payload["Records"])
        for invocation in functions.of("TelemetryFunction")
        if invocation.payload["Records"][0]["kinesis"]["sequenceNumber"] in sequences
    ]
    reports = [json.loads(m["Body"]) for m in scene.drain("TelemetryFailureQueue")]
    return {"sequences": sequences, "batches": batches, "reports": reports}


def telemetry_outcome(scene, functions, readings, bad, retries):
    expected = sorted(
        f"{r['device_id']}#{r['recorded_at']}"
        for r in (json.loads(data) for _, data in readings if data.startswith(b"{"))
    )
    deliveries = Counter(
        record["kinesis"]["sequenceNumber"]
        for invocation in functions.of("TelemetryFunction")
        for record in invocation.payload["Records"]
    )
    return {
        "expected": expected,
        "stored": sorted(item["reading_id"] for item in scene.items("TelemetryTable")),
        "bad_sequence": bad[0],
        "bad_deliveries": deliveries[bad[0]],
        "retries": retries,
        "failure_reports": [json.loads(m["Body"]) for m in scene.drain("TelemetryFailureQueue")],
    }


def payments_outcome(scene, functions, payments, filtered, failing):
    responses = {}
    for invocation in functions.of("PaymentsFunction"):
        message_id = invocation.payload["Records"][0]["Sns"]["MessageId"]
        responses.setdefault(message_id, []).append(invocation.body)
    config = scene.clients.client("lambda").get_function_event_invoke_config(
        FunctionName=scene.stack.refs["PaymentsFunction"], Qualifier="$LATEST"
    )
    return {
        "accepted": [message_id for message_id, _ in payments],
        "filtered": filtered,
        "failing": failing,
        "retries": config["MaximumRetryAttempts"],
        "failure_records": [json.loads(m["Body"]) for m in scene.drain("PaymentsFailureQueue")],
        "responses": responses,
        "stored": [item["message_id"] for item in scene.items("NotificationsTable")],
    }


def objects_outcome(scene, functions, objects):
    delivered = [
        urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        for invocation in functions.of("RoutingFunction")
        for record in invocation.payload["Records"]
    ]
    routed = {
        bucket: scene.keys(bucket) for bucket in ("DataBucket", "ImagesBucket", "UnsortedBucket")
    }
    return {
        "delivered_keys": delivered,
        "uploaded_inside": [key for key in objects if key.startswith("incoming/")],
        "routed": routed,
        "expected": {
            "DataBucket": ["csv/incoming/reports/q4 report.csv", "json/incoming/orders 2026-11-22.json"],
            "ImagesBucket": ["incoming/photos/käse & brot.png"],
            "UnsortedBucket": ["unknown/incoming/firmware.bin"],
        },
    }


def negative_control(clients, stack, functions, options, timeout=60):
    """The orders run again (new order ids) after ReportBatchItemFailures was removed from the
    deployed mapping: Lambda then deletes every message of a batch the function answered,
    the ones it reported failed included. Returns the QueueRun for `queue_problems`."""
    from .sources import EventSources  # the sources import this module's neighbours

    lam = clients.client("lambda")
    lam.update_event_source_mapping(
        UUID=stack.refs["OrdersFunctionOrders"], FunctionResponseTypes=[], Enabled=True
    )
    scene = Scenario(clients, stack)
    run = queue_run(scene, ORDERS)
    sources = EventSources.start(clients, stack, functions, options, only=["OrdersFunctionOrders"])
    try:
        send_orders(run, scene, [body.replace('"o-10', '"o-30') for body in scenario.sample_orders()])
        settle_queue(run, scene, functions, timeout)
    finally:
        sources.stop()
    return run


def source_of(payload):
    """(kind, source) of the event source an invocation's event came from: ("sqs" | "kinesis",
    the queue's or stream's ARN), ("sns", the topic ARN), ("s3", the bucket's name); None for
    an event no event source made (an HTTP request, a direct invoke)."""
    records = payload.get("Records") if isinstance(payload, dict) else None
    if not records or not isinstance(records[0], dict):
        return None
    first = records[0]
    if first.get("eventSource") in ("aws:sqs", "aws:kinesis"):
        return first["eventSource"][4:], first["eventSourceARN"]
    if first.get("EventSource") == "aws:sns":
        return "sns", first["Sns"]["TopicArn"]
    if first.get("eventSource") == "aws:s3":
        return "s3", first["s3"]["bucket"]["name"]
    return None


def deliveries(invocations):
    """{(kind, source, function): [records per invocation, ...]}, in order of first delivery."""
    found = {}
    for invocation in invocations:
        source = source_of(invocation.payload)
        if source is not None:
            found.setdefault((*source, invocation.function), []).append(len(invocation.payload["Records"]))
    return found


def event_source_mappings(clients, stack):
    """[(logical id, source ARN, BatchSize)] of the stack's event source mappings, as deployed."""
    lam = clients.client("lambda")
    found = []
    for lid in stack.of_type("AWS::Lambda::EventSourceMapping"):
        mapping = lam.get_event_source_mapping(UUID=stack.refs[lid])
        found.append((lid, mapping["EventSourceArn"], mapping["BatchSize"]))
    return found


def batch_size_problems(invocations, mappings):
    """Every invocation a mapping made carried at most the mapping's BatchSize records; a
    mapping that made none is a problem too (the check would prove nothing)."""
    sizes = {}
    for invocation in invocations:
        source = source_of(invocation.payload)
        if source is not None and source[0] in ("sqs", "kinesis"):
            sizes.setdefault(source[1], []).append(len(invocation.payload["Records"]))
    problems = []
    for lid, arn, batch_size in mappings:
        delivered = sizes.get(arn, [])
        if not delivered:
            problems.append(f"{lid}: no invocation recorded, so its BatchSize went unchecked")
        over = [n for n in delivered if n > batch_size]
        if over:
            problems.append(f"{lid}: {len(over)} invocations carried more than BatchSize "
                            f"{batch_size} records ({', '.join(map(str, over))})")
    return problems
