"""Static checks of the template CloudFormation deploys that cfn-lint does not make.

The checks read the *transformed* template (tools/samtemplate.py runs the SAM translator), so
they see what SAM adds: the roles it generates, the managed policies it attaches for event
sources, the event source mappings.

- Every batch event source mapping (SQS, Kinesis, DynamoDB streams) sets
  FunctionResponseTypes: [ReportBatchItemFailures], or a failed record would retry the batch.
- Least privilege, for every Allow statement (AWS::IAM::Role inline policies, AWS::IAM::Policy,
  AWS::IAM::ManagedPolicy):
  - no `*` or `service:*` action, and no wildcard that can match a write (`s3:Put*`,
    `dynamodb:*Item`); wildcards over read-only verbs (`s3:Get*`) are allowed;
  - no write action on Resource "*";
  - no action of DynamoDB, S3, Secrets Manager or SSM on Resource "*", nor on every table,
    bucket, secret or parameter of the account (`table/*`, `s3:::*`, `secret:*`, `parameter/*`);
  - no other action on Resource "*" either, except those AWS cannot scope to a resource
    (UNSCOPABLE_ACTIONS, e.g. X-Ray's PutTraceSegments);
  - no NotAction / NotResource in an Allow (they grant everything not listed);
  - no AWS managed `*FullAccess` / `AdministratorAccess` policy attached, and no AWS managed
    policy on a role at all: their statements name Resource "*" (SAM attaches
    AWSLambdaBasicExecutionRole, AWSLambdaSQSQueueExecutionRole, ... to the roles it makes).
- Event sources: a function's role allows what its event source mappings poll with, on exactly
  the mapped queue or stream, and the send to each on-failure destination (mappings and
  asynchronous invocation configs); a role allows receiving, deleting or reading records only
  on the event sources of its functions (not, e.g., on their dead-letter queue).
- Encryption: every SQS queue sets SqsManagedSseEnabled: true or KmsMasterKeyId; every SNS
  topic sets KmsMasterKeyId.
- Every function's role is defined in the template (or its permissions could not be checked).

Resources are compared by logical id: `!GetAtt OrdersQueue.Arn` in a statement matches the
mapping's `EventSourceArn: !GetAtt OrdersQueue.Arn`, and literal ARNs match as text.

    python tools/check_template.py template.yaml     (a SAM template: transformed first)
    python tools/check_template.py transformed.json  (an already transformed template)

Exit status 1 with one line per problem; the last line counts checks.
"""

import json
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import samtemplate  # noqa: E402

READ_ONLY_PREFIXES = ("Get", "List", "Describe", "BatchGet", "Query", "Scan")
# Services whose data a function must only reach by name.
SCOPED_SERVICES = ("dynamodb", "s3", "secretsmanager", "ssm")
# Resource patterns that name every table, bucket, secret or parameter, after `${...}` are
# removed.
ACCOUNT_WIDE = re.compile(r"(:table/\*$|^arn:[^:]*:s3:::\*|:secret:\*$|:parameter/\*$)")
BROAD_MANAGED = re.compile(r"(FullAccess|AdministratorAccess|PowerUserAccess)$")
AWS_MANAGED = re.compile(r"^arn:[^:]*:iam::aws:policy/")
# Actions whose service authorizes them on no specific resource: Resource "*" is their only form.
UNSCOPABLE_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}

# What an event source mapping polls with, by source service (the function's role needs it).
SOURCE_ACTIONS = {
    "sqs": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
    "kinesis": [
        "kinesis:DescribeStream",
        "kinesis:DescribeStreamSummary",
        "kinesis:ListShards",
        "kinesis:GetShardIterator",
        "kinesis:GetRecords",
    ],
    "dynamodb": [
        "dynamodb:DescribeStream",
        "dynamodb:GetShardIterator",
        "dynamodb:GetRecords",
        "dynamodb:ListStreams",
    ],
}
BATCH_SOURCES = set(SOURCE_ACTIONS)
# Actions that take records out of a queue or stream: only on a function's own event sources.
CONSUME_ACTIONS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:PurgeQueue",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:SubscribeToShard",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
}
# What sending to an on-failure destination takes, by destination resource type.
DESTINATION_ACTIONS = {"AWS::SQS::Queue": "sqs:SendMessage", "AWS::SNS::Topic": "sns:Publish"}
SOURCE_SERVICE_BY_TYPE = {
    "AWS::SQS::Queue": "sqs",
    "AWS::Kinesis::Stream": "kinesis",
    "AWS::Kinesis::StreamConsumer": "kinesis",
    "AWS::DynamoDB::Table": "dynamodb",
}


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def resource_text(value):
    """A resource as text: literal strings as they are, `!Sub` with `${...}` removed, other
    intrinsics (`!GetAtt`, `!Ref`) as None (they name one resource)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        text = sub[0] if isinstance(sub, list) else sub
        return re.sub(r"\$\{[^}]*\}", "", str(text))
    return None


def resource_key(value):
    """What a resource expression names: ("Id", "Arn") for `!GetAtt Id.Arn` or `!Sub ${Id.Arn}`,
    ("Id", "Ref") for `!Ref Id` or `!Sub ${Id}`, the text of a literal, else None."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        return None
    (name, arg), = value.items()
    if name == "Ref" and isinstance(arg, str):
        return (arg, "Ref")
    if name == "Fn::GetAtt":
        parts = arg.split(".", 1) if isinstance(arg, str) else arg
        return (parts[0], parts[1]) if len(parts) == 2 else None
    if name == "Fn::Sub" and isinstance(arg, str):
        whole = re.fullmatch(r"\$\{([A-Za-z0-9]+)(?:\.([A-Za-z0-9.]+))?\}", arg)
        if whole:
            return (whole.group(1), whole.group(2) or "Ref")
    return None


def describe(key):
    """A resource key for messages: the logical id, or the literal."""
    return key[0] if isinstance(key, tuple) else str(key)


def is_read_only(action):
    verb = action.split(":", 1)[-1]
    return verb.startswith(READ_ONLY_PREFIXES)


class Template:
    """The transformed template, with the links the checks follow (function → role,
    mapping → function and source)."""

    def __init__(self, template):
        self.resources = template.get("Resources", {})

    def of_type(self, *types):
        return [(n, r) for n, r in self.resources.items() if r.get("Type") in types]

    def props(self, name):
        return (self.resources.get(name) or {}).get("Properties") or {}

    def type_of(self, key):
        return (self.resources.get(key[0]) or {}).get("Type") if isinstance(key, tuple) else None

    def function_of(self, value):
        """The AWS::Lambda::Function a FunctionName names (through aliases and versions)."""
        key = resource_key(value)
        seen = set()
        while isinstance(key, tuple) and key[0] not in seen:
            seen.add(key[0])
            kind = self.type_of(key)
            if kind == "AWS::Lambda::Function":
                return key[0]
            if kind not in ("AWS::Lambda::Alias", "AWS::Lambda::Version"):
                return None
            key = resource_key(self.props(key[0]).get("FunctionName"))
        return None

    def role_of(self, function):
        key = resource_key(self.props(function).get("Role"))
        return key[0] if self.type_of(key) == "AWS::IAM::Role" else None

    def role_documents(self, role):
        """(where, policy document) for each policy attached to `role` in the template."""
        for policy in as_list(self.props(role).get("Policies")):
            if isinstance(policy, dict):
                yield role, policy.get("PolicyDocument") or {}
        for name, resource in self.of_type("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            attached = {resource_key(r) for r in as_list(resource["Properties"].get("Roles"))}
            if (role, "Ref") in attached:
                yield name, resource["Properties"].get("PolicyDocument") or {}

    def has_aws_managed_policy(self, role):
        return any(
            AWS_MANAGED.match(resource_text(a) or "")
            for a in as_list(self.props(role).get("ManagedPolicyArns"))
        )

    def allowed(self, role):
        """(actions, resource keys) of every Allow statement reaching `role`."""
        for _, document in self.role_documents(role):
            for statement in as_list(document.get("Statement")):
                if statement.get("Effect", "Allow") == "Allow":
                    actions = [str(a) for a in as_list(statement.get("Action"))]
                    resources = [resource_key(r) for r in as_list(statement.get("Resource"))]
                    yield actions, resources

    def grants(self, role, action, target):
        return any(
            action in actions and (target in resources or "*" in resources)
            for actions, resources in self.allowed(role)
        )

    def mappings(self):
        """(mapping, function, source key, source service) per event source mapping."""
        for name, resource in self.of_type("AWS::Lambda::EventSourceMapping"):
            props = resource.get("Properties") or {}
            source = resource_key(props.get("EventSourceArn"))
            service = SOURCE_SERVICE_BY_TYPE.get(self.type_of(source))
            if service is None and isinstance(source, str) and source.startswith("arn:"):
                service = source.split(":")[2]
            yield name, self.function_of(props.get("FunctionName")), source, service

    def destinations(self):
        """(owner, function, destination key) for every on-failure/on-success destination."""
        for name, _function, _source, _service in self.mappings():
            props = self.props(name)
            yield from self._destinations(name, self.function_of(props.get("FunctionName")), props)
        for name, resource in self.of_type("AWS::Lambda::EventInvokeConfig"):
            props = resource.get("Properties") or {}
            yield from self._destinations(name, self.function_of(props.get("FunctionName")), props)

    @staticmethod
    def _destinations(owner, function, props):
        config = props.get("DestinationConfig") or {}
        for outcome in ("OnFailure", "OnSuccess"):
            destination = (config.get(outcome) or {}).get("Destination")
            if destination is not None:
                yield owner, function, resource_key(destination)


def check_statement(name, statement):
    if statement.get("Effect", "Allow") != "Allow":
        return []
    problems = []
    for negated in ("NotAction", "NotResource"):
        if negated in statement:
            problems.append(f"{name}: {negated} in an Allow statement grants everything not listed")
    actions = [str(a) for a in as_list(statement.get("Action"))]
    resources = [resource_text(r) for r in as_list(statement.get("Resource"))]
    for action in actions:
        if action == "*" or action.endswith(":*"):
            problems.append(f"{name}: wildcard action {action}")
        elif "*" in action and not is_read_only(action.split("*", 1)[0]):
            problems.append(f"{name}: wildcard action {action} can match write actions")
    writes = [a for a in actions if not is_read_only(a) and a not in UNSCOPABLE_ACTIONS]
    if "*" in resources and writes:
        problems.append(f"{name}: write actions {writes} on Resource \"*\"")
    scoped = [a for a in actions if a.split(":", 1)[0].lower() in SCOPED_SERVICES]
    if scoped:
        for resource in resources:
            if resource == "*":
                problems.append(f"{name}: {scoped} on Resource \"*\"")
            elif resource is not None and ACCOUNT_WIDE.search(resource):
                problems.append(f"{name}: {scoped} on every resource of the account ({resource})")
    unscoped = [a for a in actions if a not in UNSCOPABLE_ACTIONS and a not in writes + scoped]
    if "*" in resources and unscoped:
        problems.append(
            f"{name}: {unscoped} on Resource \"*\" (only actions without resource-level "
            "permissions may use it)"
        )
    return problems


def check_managed(name, arn):
    text = resource_text(arn) or ""
    if BROAD_MANAGED.search(text):
        return [f"{name}: broad managed policy {text}"]
    if AWS_MANAGED.match(text):
        return [f"{name}: AWS managed policy {text.rsplit('/', 1)[-1]} grants on Resource \"*\""]
    return []


def policy_checks(template):
    """One list of problems per statement and per managed policy attached."""
    for name, resource in template.of_type("AWS::IAM::Role"):
        for policy in as_list(resource["Properties"].get("Policies")):
            if isinstance(policy, dict):
                for statement in as_list((policy.get("PolicyDocument") or {}).get("Statement")):
                    yield check_statement(name, statement)
        for arn in as_list(resource["Properties"].get("ManagedPolicyArns")):
            yield check_managed(name, arn)
    for name, resource in template.of_type("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for statement in as_list((resource["Properties"].get("PolicyDocument") or {}).get("Statement")):
            yield check_statement(name, statement)


def batch_checks(template):
    for name, _function, _source, service in template.mappings():
        if service in BATCH_SOURCES:
            types = template.props(name).get("FunctionResponseTypes") or []
            yield [] if "ReportBatchItemFailures" in types else [
                f"{name}: batch source without ReportBatchItemFailures"
            ]


def event_source_checks(template):
    """The role of each mapped function allows polling exactly its sources and sending to its
    destinations; roles consume no other queue or stream."""
    sources_by_role = {}
    for name, function, source, service in template.mappings():
        role = template.role_of(function) if function else None
        if role is None or template.has_aws_managed_policy(role):
            continue  # reported by the role and managed-policy checks
        sources_by_role.setdefault(role, set()).add(source)
        missing = [a for a in SOURCE_ACTIONS.get(service, []) if not template.grants(role, a, source)]
        yield [f"{name}: role {role} does not allow {missing} on {describe(source)}"] if missing else []
    for owner, function, destination in template.destinations():
        action = DESTINATION_ACTIONS.get(template.type_of(destination))
        role = template.role_of(function) if function else None
        if action is None or role is None or template.has_aws_managed_policy(role):
            continue
        yield [] if template.grants(role, action, destination) else [
            f"{owner}: role {role} does not allow {action} on {describe(destination)}"
        ]
    for role, _ in template.of_type("AWS::IAM::Role"):
        own = sources_by_role.get(role, set())
        for actions, resources in template.allowed(role):
            consumed = [a for a in actions if a in CONSUME_ACTIONS]
            for resource in resources if consumed else []:
                yield [] if resource in own else [
                    f"{role}: {consumed} on {describe(resource)}, which is no event source of "
                    "its functions"
                ]


def role_checks(template):
    for name, _ in template.of_type("AWS::Lambda::Function"):
        yield [] if template.role_of(name) else [
            f"{name}: its Role is not a role of this template, so its permissions are unchecked"
        ]


def encryption_checks(template):
    for name, resource in template.of_type("AWS::SQS::Queue"):
        props = resource.get("Properties") or {}
        explicit = props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props
        yield [] if explicit else [
            f"{name}: queue not encrypted explicitly (SqsManagedSseEnabled: true or KmsMasterKeyId)"
        ]
    for name, resource in template.of_type("AWS::SNS::Topic"):
        yield [] if "KmsMasterKeyId" in (resource.get("Properties") or {}) else [
            f"{name}: topic not encrypted (KmsMasterKeyId)"
        ]


CHECKS = (batch_checks, policy_checks, event_source_checks, role_checks, encryption_checks)


def load(path):
    """The transformed template: JSON without a Transform is read as it is, anything else
    goes through the SAM translator."""
    path = pathlib.Path(path)
    if path.suffix == ".json":
        template = json.loads(path.read_text(encoding="utf-8"))
        if "Transform" not in template:
            return template
    return samtemplate.transformed(path)


def main(path):
    try:
        template = Template(load(path))
    except (samtemplate.TemplateError, ValueError) as err:
        print(f"template: {err}")
        return 1
    problems, checks, failed = [], 0, 0
    for check in CHECKS:
        for found in check(template):
            checks += 1
            failed += 1 if found else 0
            problems.extend(found)
    for problem in problems:
        print(problem)
    print(f"template: {checks - failed} passed, {failed} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
