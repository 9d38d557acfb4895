"""Destinations of discarded or finished invocations: an SQS queue or an SNS topic."""

import json


def send(clients, destination_arn, document):
    """Sends a JSON document to the queue or topic `destination_arn` names."""
    service = destination_arn.split(":")[2]
    body = json.dumps(document)
    if service == "sqs":
        _, _, _, _, account, queue = destination_arn.split(":")
        sqs = clients.client("sqs")
        url = sqs.get_queue_url(QueueName=queue, QueueOwnerAWSAccountId=account)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=body)
    elif service == "sns":
        clients.client("sns").publish(TopicArn=destination_arn, Message=body)
    else:
        raise ValueError(f"destination {destination_arn}: only SQS and SNS are supported")
