"""checkov on what is deployed, held to the accepted findings listed in SECURITY.md.

    run_checkov.py --checkov .venv/checkov/bin/checkov --security SECURITY.md \\
        target/template/transformed.json Dockerfile

Runs checkov (pinned in tools/checkov-requirements.txt, in its own virtualenv because it pins
its own boto3) on the transformed template (CloudFormation) and the Dockerfile, then compares
every failed check with the table under "## Accepted checkov findings" in SECURITY.md, whose
rows read `| CKV_ID | Resource, Resource | reason |`:

- a failed check not listed for that resource fails the run (fix it, or list it with its reason);
- a listed check that no longer fails for a resource fails the run too, so the list never
  claims more than is true.

A resource is named by its logical id (templates) or its file name (Dockerfile).
"""

import argparse
import json
import pathlib
import re
import subprocess
import sys

SECTION = "## Accepted checkov findings"
FRAMEWORKS = {".json": "cloudformation", ".yaml": "cloudformation", ".yml": "cloudformation"}
ROW = re.compile(r"^\|\s*(CKV2?_[A-Z0-9_]+)\s*\|([^|]*)\|\s*([^|]*\S)\s*\|\s*$")


class CheckovError(Exception):
    """checkov could not run, or SECURITY.md has no usable list."""


def accepted(security_md):
    """{(check id, resource)} from the SECURITY.md table; every row needs a reason."""
    text = pathlib.Path(security_md).read_text(encoding="utf-8")
    if SECTION not in text:
        raise CheckovError(f"{security_md} has no '{SECTION}' section")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    pairs = set()
    for line in section.splitlines():
        match = ROW.match(line)
        if not match:
            continue
        check, resources, _reason = match.groups()
        names = [r.strip().strip("`") for r in resources.split(",") if r.strip()]
        if not names:
            raise CheckovError(f"{security_md}: {check} lists no resource")
        pairs.update((check, name) for name in names)
    return pairs


def resource_name(result):
    """A failed check's resource: the logical id in a template, else the file's name."""
    resource = result["resource"]
    if resource.startswith("AWS::"):
        return resource.rsplit(".", 1)[-1]
    return pathlib.Path(result["file_path"]).name


def findings(checkov, paths):
    """{(check id, resource)} checkov reports as failed for `paths`."""
    found = set()
    for path in paths:
        framework = FRAMEWORKS.get(pathlib.Path(path).suffix, "dockerfile")
        command = [checkov, "--file", str(path), "--framework", framework, "--output", "json",
                   "--quiet", "--skip-download"]
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        if run.returncode not in (0, 1):
            raise CheckovError(f"{' '.join(command)} exited {run.returncode}:\n{run.stderr}")
        try:
            reports = json.loads(run.stdout) if run.stdout.strip() else []
        except ValueError as err:
            raise CheckovError(f"checkov printed no JSON for {path}: {err}") from err
        for report in reports if isinstance(reports, list) else [reports]:
            for result in report.get("results", {}).get("failed_checks", []):
                found.add((result["check_id"], resource_name(result)))
    return found


def compare(found, listed):
    """Problems: findings not listed, and listed findings checkov no longer reports."""
    problems = [
        f"{check} fails for {name}: fix it, or list it with its reason in SECURITY.md"
        for check, name in sorted(found - listed)
    ]
    problems += [
        f"{check} is listed for {name} in SECURITY.md but no longer fails: remove it"
        for check, name in sorted(listed - found)
    ]
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", required=True)
    parser.add_argument("--security", default="SECURITY.md")
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)
    try:
        listed = accepted(args.security)
        found = findings(args.checkov, args.paths)
    except (CheckovError, OSError) as err:
        print(f"checkov: {err}", file=sys.stderr)
        return 1
    problems = compare(found, listed)
    for problem in problems:
        print(problem)
    print(f"checkov: {len(found)} failed checks, {len(found & listed)} of them accepted in "
          f"{args.security}, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
