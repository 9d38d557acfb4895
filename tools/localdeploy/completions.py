"""Properties moto's CloudFormation (moto 5.2.5) accepts and drops, applied through the
service APIs once the stack has created the resource; and a name moto cannot generate.

| type | property | applied with |
|---|---|---|
| AWS::DynamoDB::Table | TimeToLiveSpecification | UpdateTimeToLive |
| AWS::DynamoDB::Table | PointInTimeRecoverySpecification | UpdateContinuousBackups |
| AWS::S3::Bucket | PublicAccessBlockConfiguration | PutPublicAccessBlock |
| AWS::S3::Bucket | NotificationConfiguration | PutBucketNotificationConfiguration |
| AWS::Kinesis::Stream | StreamModeDetails | UpdateStreamMode |
| AWS::Kinesis::Stream | StreamEncryption | StartStreamEncryption |
| AWS::IAM::Role | Policies | PutRolePolicy (moto stores each inline document as a Python repr, not JSON) |

And before the stack, names moto cannot generate: a FIFO queue without a QueueName gets the
name CloudFormation would generate (`<stack>-<LogicalId>-<RANDOM>.fifo`; moto's lacks the
`.fifo` suffix and SQS refuses it), an SSM parameter without a Name gets
`CFN-<LogicalId>-<RANDOM>` (moto answers an unnamed one with an internal error).
"""

import json

from .apiresources import physical_name


def prepare(ctx, logical_id, resource):
    """Adjusts a resource's template before moto's CloudFormation sees it."""
    props = resource.setdefault("Properties", {})
    if resource["Type"] == "AWS::SQS::Queue" and props.get("FifoQueue") and "QueueName" not in props:
        props["QueueName"] = physical_name(ctx, logical_id, 80, suffix=".fifo")
    if resource["Type"] == "AWS::SSM::Parameter" and "Name" not in props:
        props["Name"] = f"CFN-{logical_id}-{physical_name(ctx, logical_id, 24).rsplit('-', 1)[1]}"


def table_ttl(ctx, name, value):
    ctx.clients.client("dynamodb").update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={
            "Enabled": bool(value["Enabled"]),
            "AttributeName": value["AttributeName"],
        },
    )


def table_pitr(ctx, name, value):
    ctx.clients.client("dynamodb").update_continuous_backups(
        TableName=name,
        PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": bool(value["PointInTimeRecoveryEnabled"])
        },
    )


def bucket_public_access(ctx, name, value):
    ctx.clients.client("s3").put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={key: bool(flag) for key, flag in value.items()},
    )


def _filter(cfn_filter):
    rules = ((cfn_filter or {}).get("S3Key") or {}).get("Rules") or []
    return {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}


def bucket_notifications(ctx, name, value):
    """The CloudFormation shape (LambdaConfigurations, one Event each) in the API's."""
    kinds = (
        ("LambdaConfigurations", "LambdaFunctionConfigurations", "Function", "LambdaFunctionArn"),
        ("QueueConfigurations", "QueueConfigurations", "Queue", "QueueArn"),
        ("TopicConfigurations", "TopicConfigurations", "Topic", "TopicArn"),
    )
    configuration = {}
    for cfn_key, api_key, target, api_target in kinds:
        for entry in value.get(cfn_key) or []:
            item = {api_target: entry[target], "Events": [entry["Event"]]}
            if entry.get("Filter"):
                item["Filter"] = _filter(entry["Filter"])
            configuration.setdefault(api_key, []).append(item)
    if value.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
        configuration["EventBridgeConfiguration"] = {}
    ctx.clients.client("s3").put_bucket_notification_configuration(
        Bucket=name, NotificationConfiguration=configuration
    )


def stream_mode(ctx, name, value):
    kinesis = ctx.clients.client("kinesis")
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    kinesis.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": value["StreamMode"]})


def stream_encryption(ctx, name, value):
    ctx.clients.client("kinesis").start_stream_encryption(
        StreamName=name, EncryptionType=value["EncryptionType"], KeyId=value["KeyId"]
    )


def role_policies(ctx, name, value):
    iam = ctx.clients.client("iam")
    for policy in value:
        iam.put_role_policy(
            RoleName=name,
            PolicyName=policy["PolicyName"],
            PolicyDocument=json.dumps(policy["PolicyDocument"]),
        )


COMPLETERS = {
    "AWS::DynamoDB::Table": {
        "TimeToLiveSpecification": table_ttl,
        "PointInTimeRecoverySpecification": table_pitr,
    },
    "AWS::S3::Bucket": {
        "PublicAccessBlockConfiguration": bucket_public_access,
        "NotificationConfiguration": bucket_notifications,
    },
    "AWS::IAM::Role": {"Policies": role_policies},
    "AWS::Kinesis::Stream": {
        "StreamModeDetails": stream_mode,
        "StreamEncryption": stream_encryption,
    },
}


def complete(ctx, resource_type, physical_id, props):
    """Applies the dropped properties of one resource; returns their names."""
    applied = []
    for name, apply in COMPLETERS.get(resource_type, {}).items():
        if name in props:
            apply(ctx, physical_id, props[name])
            applied.append(name)
    return applied
