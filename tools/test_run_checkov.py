"""Tests of run_checkov.py: SECURITY.md's table is read as written, and a finding that is not
listed, or a listed one that no longer fails, fails the run.

Run by `make template` (part of `make test`): python tools/test_run_checkov.py
"""

import pathlib
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

import run_checkov  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent

SECURITY = """# Security

## Accepted checkov findings

| check | resources | why it stays |
|---|---|---|
| CKV_AWS_18 | DataBucket, `ImagesBucket` | no log bucket |
| CKV_DOCKER_2 | Dockerfile | Lambda has no health checks |

## Later

| CKV_AWS_1 | Elsewhere | not in the section |
"""


class RunCheckov(unittest.TestCase):
    def accepted(self, text):
        with tempfile.TemporaryDirectory() as scratch:
            path = pathlib.Path(scratch) / "SECURITY.md"
            path.write_text(text, encoding="utf-8")
            return run_checkov.accepted(path)

    def test_the_table_of_the_section_is_read(self):
        self.assertEqual(
            self.accepted(SECURITY),
            {
                ("CKV_AWS_18", "DataBucket"),
                ("CKV_AWS_18", "ImagesBucket"),
                ("CKV_DOCKER_2", "Dockerfile"),
            },
        )

    def test_a_missing_section_or_resource_is_an_error(self):
        with self.assertRaisesRegex(run_checkov.CheckovError, "no '## Accepted checkov findings'"):
            self.accepted("# Security\n")
        with self.assertRaisesRegex(run_checkov.CheckovError, "CKV_AWS_18 lists no resource"):
            self.accepted("## Accepted checkov findings\n| CKV_AWS_18 | | reason |\n")

    def test_unlisted_and_stale_findings_are_problems(self):
        found = {("CKV_AWS_18", "DataBucket"), ("CKV_AWS_21", "DataBucket")}
        listed = {("CKV_AWS_18", "DataBucket"), ("CKV_AWS_18", "ImagesBucket")}
        self.assertEqual(
            run_checkov.compare(found, listed),
            [
                "CKV_AWS_21 fails for DataBucket: fix it, or list it with its reason in "
                "SECURITY.md",
                "CKV_AWS_18 is listed for ImagesBucket in SECURITY.md but no longer fails: "
                "remove it",
            ],
        )
        self.assertEqual(run_checkov.compare(listed, listed), [])

    def test_resources_are_named_by_logical_id_or_file(self):
        self.assertEqual(
            run_checkov.resource_name(
                {"resource": "AWS::S3::Bucket.DataBucket", "file_path": "/t.json"}
            ),
            "DataBucket",
        )
        self.assertEqual(
            run_checkov.resource_name({"resource": "Dockerfile.", "file_path": "/x/Dockerfile"}),
            "Dockerfile",
        )

    def test_the_project_list_parses(self):
        listed = run_checkov.accepted(ROOT / "SECURITY.md")
        self.assertIn(("CKV_AWS_27", "OrdersQueue"), listed)
        self.assertIn(("CKV_DOCKER_3", "Dockerfile"), listed)


if __name__ == "__main__":
    unittest.main()
