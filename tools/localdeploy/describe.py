"""The deployed configuration, read back from the service APIs (never from the template).

`describe(clients, stack)` returns plain data per logical id: functions (handler, runtime,
layers, environment, timeout, memory, role, asynchronous invocation config), event source
mappings, queues (redrive policies, encryption), tables (keys, TTL, point-in-time recovery),
topics and their subscriptions (filter policies), buckets (encryption, public access block,
notification filters), streams, secrets, roles, log groups, HTTP APIs (routes, their
integrations, stages) and function URLs (auth type); a function's entry includes its
resource-based policy (who may invoke it). Physical names and ARNs of the
stack's resources are written as `{LogicalId}` (what `Ref` gives) and `{LogicalId.Attribute}`
(what `Fn::GetAtt` gives), so the result can be compared with exact expectations.
"""

import json


class Names:
    """Replaces the stack's physical names and ARNs in text with `{LogicalId[.Attribute]}`."""

    def __init__(self, stack):
        pairs = {}
        # A Ref that is another resource's attribute names that resource (a function URL's
        # Ref is its function's ARN): the attribute's name is used for it.
        others = {}
        for (lid, _), value in stack.attributes.items():
            others.setdefault(value, lid)
        for lid, ref in stack.refs.items():
            if _is_name(ref) and others.get(ref, lid) == lid:
                pairs[ref] = f"{{{lid}}}"
        for (lid, attribute), value in stack.attributes.items():
            if _is_name(value) and value not in pairs:
                pairs[value] = f"{{{lid}.{attribute}}}"
        self.pairs = sorted(pairs.items(), key=lambda p: -len(p[0]))

    def __call__(self, value):
        if isinstance(value, str):
            for physical, token in self.pairs:
                value = value.replace(physical, token)
            return value
        if isinstance(value, list):
            return [self(item) for item in value]
        if isinstance(value, dict):
            return {self(key): self(item) for key, item in value.items()}
        return value


def _is_name(value):
    """A physical name or ARN, not a short value such as a version number ("1") or a name
    the template gives (an HTTP API stage's `$default`)."""
    return isinstance(value, str) and len(value) >= 8 and not value.isdigit() and not value.startswith("$")


def _pick(source, keys):
    return {key: source[key] for key in keys if source.get(key) is not None}


def function(clients, name):
    lam = clients.client("lambda")
    config = lam.get_function_configuration(FunctionName=name)
    entry = _pick(
        config,
        ["Handler", "Runtime", "PackageType", "Timeout", "MemorySize", "Architectures",
         "TracingConfig", "Role", "Description"],
    )
    entry["Layers"] = [layer["Arn"] for layer in config.get("Layers") or []]
    entry["Environment"] = (config.get("Environment") or {}).get("Variables", {})
    if config.get("PackageType") == "Image":
        entry["ImageUri"] = lam.get_function(FunctionName=name)["Code"]["ImageUri"]
        image_config = (config.get("ImageConfigResponse") or {}).get("ImageConfig", {})
        # moto reports the settings never made as empty lists; Lambda leaves them out.
        entry["ImageConfig"] = {key: value for key, value in image_config.items() if value}
    invoke_configs = lam.list_function_event_invoke_configs(FunctionName=name)
    for invoke in invoke_configs.get("FunctionEventInvokeConfigs", []):
        entry["EventInvokeConfig"] = _pick(
            invoke, ["MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig"]
        )
    aliases = lam.list_aliases(FunctionName=name).get("Aliases", [])
    if aliases:
        entry["Aliases"] = {a["Name"]: a["FunctionVersion"] for a in aliases}
    concurrency = lam.get_function_concurrency(FunctionName=name)
    if concurrency.get("ReservedConcurrentExecutions") is not None:
        entry["ReservedConcurrentExecutions"] = concurrency["ReservedConcurrentExecutions"]
    permissions = resource_policy(clients, name)
    if permissions:
        entry["Permissions"] = [_pick(s, ["Principal", "Action", "Condition"]) for s in permissions]
    return entry


def resource_policy(clients, name):
    """The statements of a function's resource-based policy (who may invoke it), or []."""
    lam = clients.client("lambda")
    try:
        return json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]
    except lam.exceptions.ResourceNotFoundException:
        return []


def layer(clients, arn):
    # moto 5.2.5 answers GetLayerVersionByArn with a 500: name and number from the ARN.
    *_, name, number = arn.split(":")
    version = clients.client("lambda").get_layer_version(LayerName=name, VersionNumber=int(number))
    entry = _pick(
        version, ["LayerVersionArn", "CompatibleRuntimes", "CompatibleArchitectures", "Description"]
    )
    entry["CodeSha256"] = version["Content"]["CodeSha256"]
    return entry


MAPPING_KEYS = [
    "EventSourceArn",
    "FunctionArn",
    "State",
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "FunctionResponseTypes",
    "ScalingConfig",
    "StartingPosition",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "ParallelizationFactor",
    "DestinationConfig",
    "FilterCriteria",
]


def event_source_mapping(clients, uuid):
    return _pick(clients.client("lambda").get_event_source_mapping(UUID=uuid), MAPPING_KEYS)


QUEUE_KEYS = [
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "FifoQueue",
    "ContentBasedDeduplication",
    "SqsManagedSseEnabled",
    "KmsMasterKeyId",
    "QueueArn",
]


def queue(clients, url):
    attributes = clients.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    attributes = attributes["Attributes"]
    entry = _pick(attributes, QUEUE_KEYS)
    if "RedrivePolicy" in attributes:
        entry["RedrivePolicy"] = json.loads(attributes["RedrivePolicy"])
    return entry


def table(clients, name):
    dynamodb = clients.client("dynamodb")
    described = dynamodb.describe_table(TableName=name)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    return {
        "KeySchema": described["KeySchema"],
        "BillingMode": described.get("BillingModeSummary", {}).get("BillingMode"),
        "TimeToLive": _pick(ttl, ["TimeToLiveStatus", "AttributeName"]),
        "PointInTimeRecovery": backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
    }


def topic(clients, arn):
    sns = clients.client("sns")
    subscriptions = []
    for subscription in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]:
        details = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])
        details = details["Attributes"]
        entry = _pick(subscription, ["Protocol", "Endpoint"])
        if "FilterPolicy" in details:
            entry["FilterPolicy"] = json.loads(details["FilterPolicy"])
            entry["FilterPolicyScope"] = details.get("FilterPolicyScope", "MessageAttributes")
        subscriptions.append(entry)
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    return {"KmsMasterKeyId": attributes.get("KmsMasterKeyId"), "Subscriptions": subscriptions}


def bucket(clients, name):
    s3 = clients.client("s3")
    encryption = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
    notifications = s3.get_bucket_notification_configuration(Bucket=name)
    return {
        "Encryption": [
            rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in encryption["Rules"]
        ],
        "PublicAccessBlock": s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"],
        "LambdaNotifications": [
            {
                "Function": entry["LambdaFunctionArn"],
                "Events": entry["Events"],
                "Filter": {
                    rule["Name"].lower(): rule["Value"]
                    for rule in entry.get("Filter", {}).get("Key", {}).get("FilterRules", [])
                },
            }
            for entry in notifications.get("LambdaFunctionConfigurations", [])
        ],
    }


def stream(clients, name):
    summary = clients.client("kinesis").describe_stream_summary(StreamName=name)
    summary = summary["StreamDescriptionSummary"]
    return {
        "StreamMode": summary["StreamModeDetails"]["StreamMode"],
        "EncryptionType": summary.get("EncryptionType"),
        "KeyId": summary.get("KeyId"),
        "RetentionPeriodHours": summary["RetentionPeriodHours"],
    }


def secret(clients, arn):
    manager = clients.client("secretsmanager")
    value = manager.get_secret_value(SecretId=arn)["SecretString"]
    # The value itself is never reported: its length and alphabet are what the template says.
    return {
        "Description": manager.describe_secret(SecretId=arn).get("Description"),
        "Length": len(value),
        "Alphanumeric": value.isalnum(),
    }


def http_api(clients, api_id):
    """An HTTP API: its routes, each with its authorization and its integration, and stages."""
    api = clients.client("apigatewayv2")
    described = api.get_api(ApiId=api_id)
    routes = {}
    for route in api.get_routes(ApiId=api_id)["Items"]:
        kind, _, target = route.get("Target", "").partition("/")
        entry = _pick(route, ["AuthorizationType", "ApiKeyRequired"])
        if kind == "integrations":
            integration = api.get_integration(ApiId=api_id, IntegrationId=target)
            entry["Integration"] = _pick(
                integration,
                ["IntegrationType", "IntegrationMethod", "IntegrationUri", "PayloadFormatVersion",
                 "TimeoutInMillis"],
            )
        routes[route["RouteKey"]] = entry
    stages = {
        stage["StageName"]: _pick(stage, ["AutoDeploy", "AccessLogSettings", "StageVariables"])
        for stage in api.get_stages(ApiId=api_id)["Items"]
    }
    return {
        **_pick(described, ["ProtocolType", "Description", "ApiEndpoint"]),
        "Routes": routes,
        "Stages": stages,
    }


def function_url(clients, function_arn):
    config = clients.client("lambda").get_function_url_config(FunctionName=function_arn)
    # InvokeMode is left out: moto reports its default as "Buffered", Lambda as "BUFFERED".
    return _pick(config, ["FunctionUrl", "FunctionArn", "AuthType", "Cors"])


def role(clients, name):
    iam = clients.client("iam")
    policies = {}
    for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
        policies[policy_name] = json.loads(document) if isinstance(document, str) else document
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    return {"Policies": policies, "ManagedPolicyArns": [p["PolicyArn"] for p in attached]}


def log_group(clients, name):
    found = clients.client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return _pick(next(g for g in found if g["logGroupName"] == name), ["retentionInDays"])


# section: (resource type, reader of one resource by its `Ref` value)
SECTIONS = {
    "functions": ("AWS::Lambda::Function", function),
    "layers": ("AWS::Lambda::LayerVersion", layer),
    "event_source_mappings": ("AWS::Lambda::EventSourceMapping", event_source_mapping),
    "queues": ("AWS::SQS::Queue", queue),
    "tables": ("AWS::DynamoDB::Table", table),
    "topics": ("AWS::SNS::Topic", topic),
    "buckets": ("AWS::S3::Bucket", bucket),
    "streams": ("AWS::Kinesis::Stream", stream),
    "secrets": ("AWS::SecretsManager::Secret", secret),
    "roles": ("AWS::IAM::Role", role),
    "log_groups": ("AWS::Logs::LogGroup", log_group),
    "http_apis": ("AWS::ApiGatewayV2::Api", http_api),
    "function_urls": ("AWS::Lambda::Url", function_url),
}


def describe(clients, stack):
    """The deployed configuration, physical names written as `{LogicalId}`."""
    names = Names(stack)
    return {
        section: names({lid: read(clients, stack.refs[lid]) for lid in stack.of_type(kind)})
        for section, (kind, read) in SECTIONS.items()
    }
