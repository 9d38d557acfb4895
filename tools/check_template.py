"""Static checks of template.yaml that cfn-lint does not make.

- Every batch event source (SQS, Kinesis, DynamoDB streams) sets
  FunctionResponseTypes: [ReportBatchItemFailures], or a failed record would retry the batch.
- No IAM statement grants write actions on Resource "*", and no action is a service wildcard.

Exit status 1 with one line per problem; the last line counts checks.
"""

import sys

from cfnlint.decode import cfn_yaml

BATCH_SOURCES = {"SQS", "Kinesis", "DynamoDB"}
READ_ONLY_PREFIXES = ("Get", "List", "Describe", "BatchGet", "Query", "Scan")


def statements(function):
    for policy in function.get("Properties", {}).get("Policies", []) or []:
        if isinstance(policy, dict):
            for statement in policy.get("Statement", []) or []:
                yield statement


def as_list(value):
    return value if isinstance(value, list) else [value]


def main(path):
    template = cfn_yaml.load(path)
    problems, checks = [], 0
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event_name, event in (resource.get("Properties", {}).get("Events") or {}).items():
            if event.get("Type") in BATCH_SOURCES:
                checks += 1
                types = event.get("Properties", {}).get("FunctionResponseTypes") or []
                if "ReportBatchItemFailures" not in types:
                    problems.append(f"{name}.{event_name}: batch source without ReportBatchItemFailures")
        for statement in statements(resource):
            checks += 1
            actions = [str(a) for a in as_list(statement.get("Action", []))]
            resources = as_list(statement.get("Resource", []))
            for action in actions:
                if action == "*" or action.endswith(":*"):
                    problems.append(f"{name}: wildcard action {action}")
            writes = [a for a in actions if not a.split(":")[-1].startswith(READ_ONLY_PREFIXES)]
            if "*" in resources and writes:
                problems.append(f"{name}: write actions {writes} on Resource \"*\"")
    for problem in problems:
        print(problem)
    print(f"template: {checks - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
