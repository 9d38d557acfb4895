"""The benchmark workload on Powertools for AWS Lambda (Python): the same orders, the same
rules, a partial batch response through BatchProcessor, JSON logs with the Lambda context."""

import json

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

logger = Logger(service="bench")
processor = BatchProcessor(event_type=EventType.SQS)


def validate(order):
    order_id = order["order_id"]
    digits = order_id[2:] if order_id.startswith("o-") else ""
    if not (digits and len(digits) <= 20 and digits.isdigit()):
        raise ValueError(f"order {order_id}: bad order_id")
    if not order["customer_id"].strip():
        raise ValueError(f"order {order_id}: customer_id is empty")
    currency = order["currency"]
    if len(currency) != 3 or not (currency.isascii() and currency.isupper()):
        raise ValueError(f"order {order_id}: bad currency")
    items = order["items"]
    if not 1 <= len(items) <= 100:
        raise ValueError(f"order {order_id}: 1 to 100 lines")
    total = 0
    for line in items:
        if not line["sku"].strip() or not 1 <= line["quantity"] <= 1000:
            raise ValueError(f"order {order_id}: bad line {line['sku']}")
        total += line["unit_price_cents"] * line["quantity"]
    return total


def record_handler(record):
    try:
        return validate(json.loads(record.body))
    except (ValueError, KeyError, TypeError) as err:
        logger.warning("record failed", message_id=record.message_id, reason=str(err))
        raise


@logger.inject_lambda_context
def lambda_handler(event, context):
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
