"""Tests of check_template.py: each rule catches what it is for, on the transformed template,
and template.yaml passes.

Run by `make template` (part of `make test`): python tools/test_check_template.py
"""

import contextlib
import io
import json
import pathlib
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

import check_template  # noqa: E402
import samtemplate  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run(path):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = check_template.main(str(path))
    return status, out.getvalue().splitlines()


class CheckTemplate(unittest.TestCase):
    def test_every_rule_fires_on_the_violations_fixture(self):
        status, lines = run(ROOT / "tools/fixtures/template-violations.yaml")
        self.assertEqual(status, 1)
        self.assertEqual(
            lines,
            [
                "WorkerQueue: batch source without ReportBatchItemFailures",
                "Role: ['s3:GetObject'] on every resource of the account (arn:aws:s3:::*)",
                "Role: broad managed policy arn:aws:iam::aws:policy/AmazonS3FullAccess",
                "ReaderRole: ['kinesis:ListStreams'] on Resource \"*\" (only actions without "
                "resource-level permissions may use it)",
                "WorkerRole: wildcard action dynamodb:*",
                "WorkerRole: wildcard action s3:Put* can match write actions",
                "WorkerRole: write actions ['sqs:SendMessage'] on Resource \"*\"",
                "WorkerRole: ['secretsmanager:GetSecretValue'] on Resource \"*\"",
                "WorkerRole: ['dynamodb:GetItem'] on every resource of the account "
                "(arn::dynamodb:::table/*)",
                "WorkerRole: ['ssm:GetParameter'] on every resource of the account "
                "(arn::ssm:::parameter/*)",
                "WorkerRole: NotAction in an Allow statement grants everything not listed",
                "WorkerRole: AWS managed policy AWSLambdaBasicExecutionRole grants on Resource \"*\"",
                "WorkerRole: broad managed policy arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess",
                "WorkerRole: AWS managed policy AWSLambdaSQSQueueExecutionRole grants on "
                "Resource \"*\"",
                "ReaderReadings: role ReaderRole does not allow ['kinesis:DescribeStream', "
                "'kinesis:DescribeStreamSummary', 'kinesis:ListShards'] on Stream",
                "ReaderReadings: role ReaderRole does not allow sqs:SendMessage on Failures",
                "ReaderRole: ['sqs:ReceiveMessage'] on DeadLetters, which is no event source of "
                "its functions",
                "Orphan: its Role is not a role of this template, so its permissions are unchecked",
                "Failures: queue not encrypted explicitly (SqsManagedSseEnabled: true or "
                "KmsMasterKeyId)",
                "Topic: topic not encrypted (KmsMasterKeyId)",
                "template: 12 passed, 20 failed",
            ],
        )

    def test_the_project_template_is_least_privilege(self):
        status, lines = run(ROOT / "template.yaml")
        self.assertEqual(lines[:-1], [])
        self.assertRegex(lines[-1], r"^template: \d+ passed, 0 failed$")
        self.assertEqual(status, 0)

    def test_an_already_transformed_template_is_read_as_it_is(self):
        transformed = samtemplate.transformed(ROOT / "template.yaml")
        with tempfile.TemporaryDirectory() as scratch:
            path = pathlib.Path(scratch) / "transformed.json"
            path.write_text(json.dumps(transformed), encoding="utf-8")
            self.assertEqual(run(path), run(ROOT / "template.yaml"))

    def test_what_sam_adds_for_an_event_source_is_caught(self):
        # The orders function as SAM's docs write it: Policies instead of a role. The transform
        # then attaches AWS managed policies, the SQS one among them, to the role it generates.
        template = samtemplate.load(ROOT / "template.yaml")
        del template["Resources"]["OrdersRole"]
        props = template["Resources"]["OrdersFunction"]["Properties"]
        del props["Role"]
        props["Policies"] = [
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["dynamodb:PutItem"],
                        "Resource": {"Fn::GetAtt": ["OrdersTable", "Arn"]},
                    }
                ]
            }
        ]
        with tempfile.TemporaryDirectory() as scratch:
            path = pathlib.Path(scratch) / "template.json"
            path.write_text(json.dumps(template), encoding="utf-8")
            status, lines = run(path)
        self.assertEqual(status, 1)
        self.assertEqual(
            lines[:-1],
            [
                f"OrdersFunctionRole: AWS managed policy {name} grants on Resource \"*\""
                for name in (
                    "AWSLambdaBasicExecutionRole",
                    "AWSXrayWriteOnlyAccess",
                    "AWSLambdaSQSQueueExecutionRole",
                )
            ],
        )


if __name__ == "__main__":
    unittest.main()
