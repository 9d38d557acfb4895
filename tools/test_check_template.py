"""Tests of check_template.py: each rule catches what it is for, and template.yaml passes.

Run by `make template` (part of `make test`): python tools/test_check_template.py
"""

import contextlib
import io
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

import check_template  # noqa: E402

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
                "Worker.Queue: batch source without ReportBatchItemFailures",
                "Worker: broad managed policy AmazonDynamoDBFullAccess",
                "Worker: wildcard action dynamodb:*",
                "Worker: wildcard action s3:Put* can match write actions",
                "Worker: write actions ['sqs:SendMessage'] on Resource \"*\"",
                "Worker: ['secretsmanager:GetSecretValue'] on Resource \"*\"",
                "Worker: ['dynamodb:GetItem'] on every resource of the account "
                "(arn::dynamodb:::table/*)",
                "Worker: ['ssm:GetParameter'] on every resource of the account "
                "(arn::ssm:::parameter/*)",
                "Worker: NotAction in an Allow statement grants everything not listed",
                "Role: ['s3:GetObject'] on every resource of the account (arn:aws:s3:::*)",
                "Role: broad managed policy arn:aws:iam::aws:policy/AmazonS3FullAccess",
                "template: 3 passed, 11 failed",
            ],
        )

    def test_the_project_template_is_least_privilege(self):
        status, lines = run(ROOT / "template.yaml")
        self.assertEqual(lines[:-1], [])
        self.assertRegex(lines[-1], r"^template: \d+ passed, 0 failed$")
        self.assertEqual(status, 0)


if __name__ == "__main__":
    unittest.main()
