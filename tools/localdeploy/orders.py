"""The orders queues' part of a run: what was sent, what the function saw, what was stored
and dead-lettered, and the checks on it (tools/localdeploy/acceptance.py drives the run).

A valid order is stored exactly once (its "order stored" log line counted, the table read);
a message that always fails (poison, or held back behind one in its FIFO group) is delivered
exactly maxReceiveCount times and then found once in the dead-letter queue, in order; the
queue ends empty; a message whose acknowledgement was lost comes back exactly once.
"""

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field

from .scenario import wait_until


@dataclass
class QueueRun:
    """What was sent to an orders queue and what became of it."""

    function: str
    queue: str
    dead_letters: str
    max_receive: int
    sent: list = field(default_factory=list)  # (message id, body)
    deliveries: Counter = field(default_factory=Counter)
    dead: list = field(default_factory=list)  # message ids, in the DLQ's order
    depth: int = 0
    stored: dict = field(default_factory=dict)  # order id -> item
    store_logs: Counter = field(default_factory=Counter)  # order id -> "order stored" lines
    lost_acknowledgement: str = ""  # the message id whose delete was dropped once


def order_id(body):
    found = re.search(r'"order_id": "(o-\d+)"', body)
    return found.group(1) if found else body[:30]


def is_valid_order(body):
    """The orders the sqs handler accepts (it rejects bad JSON, quantity 0 and negatives)."""
    try:
        order = json.loads(body)
    except ValueError:
        return False
    return all(1 <= line["quantity"] <= 1000 for line in order["items"])


class DropFirstAcknowledgement:
    """An SQS `drop_acknowledgement` predicate: loses the first delete of one order."""

    def __init__(self, order):
        self.order = order
        self.dropped = None

    def __call__(self, message):
        if self.dropped is None and order_id(message["Body"]) == self.order:
            self.dropped = message["MessageId"]
            return True
        return False


def send_orders(run, scene, bodies, groups=None):
    for index, body in enumerate(bodies):
        group = groups[index] if groups else None
        run.sent.append((scene.send(run.queue, body, group), body))


def queue_run(scene, names):
    """A QueueRun with the queue's deployed maxReceiveCount."""
    attributes = scene.sqs.get_queue_attributes(
        QueueUrl=scene.stack.refs[names[1]], AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    return QueueRun(*names, max_receive=json.loads(attributes["RedrivePolicy"])["maxReceiveCount"])


def settle_queue(run, scene, functions, timeout):
    """Waits until the queue is empty, then collects the outcome. SQS moves a message to the
    dead-letter queue when it is received once more than maxReceiveCount allows, so an empty
    queue means every message was deleted or dead-lettered."""
    wait_until(f"{run.queue} empty", lambda: scene.depth(run.queue) == 0, timeout)
    collect_queue(run, scene, functions)


def collect_queue(run, scene, functions):
    ids = {message_id for message_id, _ in run.sent}
    for invocation in functions.of(run.function):
        for record in invocation.payload.get("Records", []):
            if record["messageId"] in ids:
                run.deliveries[record["messageId"]] += 1
    run.dead = [m["MessageId"] for m in scene.drain(run.dead_letters) if m["MessageId"] in ids]
    run.depth = scene.depth(run.queue)
    orders = {order_id(body) for _, body in run.sent}
    run.stored = {item["order_id"]: item for item in scene.items("OrdersTable") if item["order_id"] in orders}
    # Log lines reach the emulator's output after the response: give the last ones a moment.
    deadline = time.monotonic() + 5
    while True:
        run.store_logs = Counter(
            line["order_id"]
            for line in functions.json_logs(run.function)
            if line.get("message") == "order stored" and line.get("order_id") in orders
        )
        if set(run.stored) <= set(run.store_logs) or time.monotonic() > deadline:
            break
        time.sleep(0.2)


def queue_problems(run, held_back=()):
    """Valid orders stored once, poison (and held-back) messages delivered maxReceiveCount
    times and dead-lettered once, in order; the queue empty."""
    problems = []
    valid = [(mid, body) for mid, body in run.sent if is_valid_order(body)]
    failing = [(mid, body) for mid, body in run.sent if not is_valid_order(body) or order_id(body) in held_back]
    for order in sorted({order_id(body) for _, body in valid} - set(held_back)):
        if order not in run.stored:
            problems.append(f"order {order}: not in the orders table")
        if run.store_logs[order] != 1:
            problems.append(f"order {order}: stored {run.store_logs[order]} times, expected once")
    for message_id, body in failing:
        label = order_id(body)
        if run.deliveries[message_id] != run.max_receive:
            problems.append(
                f"poison message {label}: delivered {run.deliveries[message_id]} times, "
                f"expected {run.max_receive}"
            )
        copies = run.dead.count(message_id)
        if copies != 1:
            problems.append(f"poison message {label}: {copies} copies in the dead-letter queue, expected 1")
    expected_order = [mid for mid, _ in failing]
    if sorted(run.dead) == sorted(expected_order) and run.dead != expected_order:
        problems.append(f"dead-letter queue order {run.dead}, expected {expected_order}")
    if run.depth:
        problems.append(f"{run.queue} still holds {run.depth} messages")
    if run.lost_acknowledgement and run.deliveries[run.lost_acknowledgement] != 2:
        problems.append(
            f"the message whose acknowledgement was lost was delivered "
            f"{run.deliveries[run.lost_acknowledgement]} times, expected 2"
        )
    return problems
