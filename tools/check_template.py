"""Static checks of template.yaml that cfn-lint does not make.

- Every batch event source (SQS, Kinesis, DynamoDB streams) sets
  FunctionResponseTypes: [ReportBatchItemFailures], or a failed record would retry the batch.
- Least privilege, for every Allow statement (function Policies, AWS::IAM::Policy,
  AWS::IAM::ManagedPolicy, AWS::IAM::Role inline policies):
  - no `*` or `service:*` action, and no wildcard that can match a write (`s3:Put*`,
    `dynamodb:*Item`); wildcards over read-only verbs (`s3:Get*`) are allowed;
  - no write action on Resource "*";
  - no action of DynamoDB, S3, Secrets Manager or SSM on Resource "*", nor on every table,
    bucket, secret or parameter of the account (`table/*`, `s3:::*`, `secret:*`, `parameter/*`);
  - no NotAction / NotResource in an Allow (they grant everything not listed);
  - no AWS managed `*FullAccess` / `AdministratorAccess` policy attached.

Exit status 1 with one line per problem; the last line counts checks.
"""

import re
import sys

from cfnlint.decode import cfn_yaml

BATCH_SOURCES = {"SQS", "Kinesis", "DynamoDB"}
READ_ONLY_PREFIXES = ("Get", "List", "Describe", "BatchGet", "Query", "Scan")
# Services whose data a function must only reach by name.
SCOPED_SERVICES = ("dynamodb", "s3", "secretsmanager", "ssm")
# Resource patterns that name every table, bucket, secret or parameter, after `${...}` are
# removed.
ACCOUNT_WIDE = re.compile(r"(:table/\*$|^arn:[^:]*:s3:::\*|:secret:\*$|:parameter/\*$)")
BROAD_MANAGED = re.compile(r"(FullAccess|AdministratorAccess|PowerUserAccess)$")


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def policy_documents(resource):
    """(where, policy document or managed policy name) for every policy a resource carries."""
    kind = resource.get("Type")
    props = resource.get("Properties", {}) or {}
    if kind == "AWS::Serverless::Function":
        for policy in as_list(props.get("Policies")):
            yield policy  # a document, a managed policy name/ARN, or a SAM policy template
    elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        yield props.get("PolicyDocument", {})
    elif kind == "AWS::IAM::Role":
        for policy in as_list(props.get("Policies")):
            if isinstance(policy, dict):
                yield policy.get("PolicyDocument", {})
    if kind in ("AWS::Serverless::Function", "AWS::IAM::Role"):
        for arn in as_list(props.get("ManagedPolicyArns")):
            yield arn


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


def is_read_only(action):
    verb = action.split(":", 1)[-1]
    return verb.startswith(READ_ONLY_PREFIXES)


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
    writes = [a for a in actions if not is_read_only(a)]
    if "*" in resources and writes:
        problems.append(f"{name}: write actions {writes} on Resource \"*\"")
    scoped = [a for a in actions if a.split(":", 1)[0].lower() in SCOPED_SERVICES]
    if scoped:
        for resource in resources:
            if resource == "*":
                problems.append(f"{name}: {scoped} on Resource \"*\"")
            elif resource is not None and ACCOUNT_WIDE.search(resource):
                problems.append(f"{name}: {scoped} on every resource of the account ({resource})")
    return problems


def check_policy(name, policy):
    """One list of problems per check made (empty when it passed)."""
    if isinstance(policy, str) or (isinstance(policy, dict) and "Fn::Sub" in policy):
        text = resource_text(policy) or ""
        return [[f"{name}: broad managed policy {text}"] if BROAD_MANAGED.search(text) else []]
    if not isinstance(policy, dict) or "Statement" not in policy:
        return []  # a SAM policy template (e.g. DynamoDBCrudPolicy), scoped by its parameters
    return [check_statement(name, s) for s in as_list(policy.get("Statement"))]


def main(path):
    template = cfn_yaml.load(path)
    problems, checks, failed = [], 0, 0
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            for event_name, event in (resource.get("Properties", {}).get("Events") or {}).items():
                if event.get("Type") in BATCH_SOURCES:
                    checks += 1
                    types = event.get("Properties", {}).get("FunctionResponseTypes") or []
                    if "ReportBatchItemFailures" not in types:
                        failed += 1
                        problems.append(f"{name}.{event_name}: batch source without ReportBatchItemFailures")
        for policy in policy_documents(resource):
            for found in check_policy(name, policy):
                checks += 1
                failed += 1 if found else 0
                problems.extend(found)
    for problem in problems:
        print(problem)
    print(f"template: {checks - failed} passed, {failed} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
