"""The deployment commands of buildspec.yml and the README, checked as written.

    python tools/check_pipeline.py [--venv .venv] [--built target/sam-build]

Static checks, on every command of the buildspec and of the README's shell blocks:
- one region variable: every `aws` and `sam deploy` command passes `--region "$AWS_REGION"`,
  the ECR registry is built from `$AWS_REGION`, and no region is written out (except where the
  README assigns AWS_REGION);
- `sam deploy` names an image repository (`--image-repository`, `--image-repositories` or
  `--resolve-image-repos`): SAM refuses to start without one while the template has an image
  function, whatever its condition;
- the image push is skipped when the immutable tag already exists (`aws ecr describe-images`
  of the same tag guards it), so a re-run of the same commit succeeds.

Then both `sam deploy` commands run, as written plus `--no-execute-changeset`, against moto's
CloudFormation: SAM validates its arguments, uploads the `sam build` output and creates the
change set, which must exist with the parameters the command gave. A negative control runs the
buildspec's command without its image repository flag and expects SAM to refuse it.

moto gaps met here: a stack created through a change set (how SAM creates its managed
artifacts stack for --resolve-s3) reports no Outputs, so that stack is created beforehand with
CreateStack; and moto reads a TemplateURL only from a `localhost` URL, so SAM is pointed at
`http://localhost:<port>`.
"""

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from localdeploy.aws import ACCOUNT, MotoServer  # noqa: E402
from localdeploy.aws import Clients  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
REGION = "us-east-1"
REGION_LITERAL = re.compile(r"\b(?:us|eu|ap|sa|ca|me|af|il|mx|cn)(?:-gov)?-[a-z]+-\d\b")
IMAGE_FLAGS = ("--image-repository ", "--image-repositories ", "--resolve-image-repos")
MANAGED_STACK = "aws-sam-cli-managed-default"


def buildspec_commands(path):
    """{phase: [command, ...]} of buildspec.yml."""
    spec = yaml.safe_load(pathlib.Path(path).read_text(encoding="utf-8"))
    return {name: list(phase.get("commands", [])) for name, phase in spec["phases"].items()}


def readme_commands(path):
    """The commands of the README's shell blocks that deploy (aws, sam deploy, podman push),
    continuation lines joined."""
    text = pathlib.Path(path).read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" # ")[0].strip()
            if line and not line.startswith("#") and re.search(r"\baws |sam deploy|push ", line):
                commands.append(line)
    return commands


def static_problems(where, commands):
    problems = []
    text = "\n".join(commands)
    for command in commands:
        if REGION_LITERAL.search(command) and not re.match(r"(export )?AWS_REGION=", command):
            problems.append(f"{where}: a region written out: {command}")
        for call in re.findall(r"\baws [a-z0-9-]+ [a-z0-9-]+[^|;&]*", command):
            if '--region "$AWS_REGION"' not in call:
                problems.append(f"{where}: without --region \"$AWS_REGION\": {call.strip()}")
        if "sam deploy" in command:
            if '--region "$AWS_REGION"' not in command:
                problems.append(f"{where}: sam deploy without --region \"$AWS_REGION\"")
            if not any(flag in command for flag in IMAGE_FLAGS):
                problems.append(f"{where}: sam deploy names no image repository")
        if "dkr.ecr." in command and "dkr.ecr.$AWS_REGION." not in command:
            problems.append(f"{where}: a registry not in $AWS_REGION: {command}")
    pushes = [c for c in commands if re.search(r"\b(docker|podman) push\b", c)]
    if not pushes:
        problems.append(f"{where}: no image push")
    for push in pushes:
        if "aws ecr describe-images" not in push:
            problems.append(f"{where}: the push is not skipped when the tag exists: {push}")
    if "sam deploy" not in text:
        problems.append(f"{where}: no sam deploy")
    return problems


def sam_deploy(commands):
    [command] = [c for c in commands if "sam deploy" in c]
    return command


class LocalCloudFormation:
    """moto, with SAM's managed artifacts stack in place, and a scratch directory laid out as
    the build leaves the repository (`.aws-sam/build`, `.venv`)."""

    def __init__(self, venv, built):
        self.moto = MotoServer.start(venv)
        self.endpoint = f"http://localhost:{self.moto.port}"
        self.clients = Clients(self.moto.endpoint, REGION)
        template = {
            "Resources": {"SamCliSourceBucket": {"Type": "AWS::S3::Bucket"}},
            "Outputs": {"SourceBucket": {"Value": {"Ref": "SamCliSourceBucket"}}},
        }
        self.clients.client("cloudformation").create_stack(
            StackName=MANAGED_STACK,
            TemplateBody=json.dumps(template),
            Tags=[{"Key": "ManagedStackSource", "Value": "AwsSamCli"}],
        )
        self.scratch = tempfile.TemporaryDirectory(prefix="tern-pipeline-")
        work = pathlib.Path(self.scratch.name)
        (work / ".aws-sam").mkdir()
        (work / ".aws-sam/build").symlink_to(pathlib.Path(built).resolve())
        (work / ".venv").symlink_to(pathlib.Path(venv).resolve())
        self.work = work
        self.venv = pathlib.Path(venv).resolve()

    def run(self, script, env):
        """Runs a bash script in the scratch directory against moto; returns (status, output)."""
        environment = {
            "PATH": f"{self.venv / 'bin'}:{os.environ.get('PATH', '')}",
            "HOME": os.environ.get("HOME", "/root"),
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "SAM_CLI_TELEMETRY": "0",
            **env,
        }
        run = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=self.work, env=environment, capture_output=True, text=True, check=False,
        )
        return run.returncode, run.stdout + run.stderr

    def change_sets(self, stack):
        cfn = self.clients.client("cloudformation")
        found = cfn.list_change_sets(StackName=stack)["Summaries"]
        return [cfn.describe_change_set(StackName=stack, ChangeSetName=c["ChangeSetId"]) for c in found]

    def close(self):
        self.scratch.cleanup()
        self.moto.stop()


def run_problems(cloud, where, script, env, stack, image_uri):
    """Runs a deploy script; the change set it leaves must carry the image URI."""
    before = len(cloud.change_sets(stack)) if _stack_exists(cloud, stack) else 0
    status, output = cloud.run(script, env)
    if status != 0:
        return [f"{where}: sam deploy failed ({status}):\n{output[-3000:]}"]
    sets = cloud.change_sets(stack)
    if len(sets) != before + 1:
        return [f"{where}: expected one new change set for {stack}, found {len(sets) - before}"]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in sets[-1]["Parameters"]}
    if parameters.get("ImageUri") != image_uri:
        return [f"{where}: the change set has ImageUri {parameters.get('ImageUri')}, expected {image_uri}"]
    return []


def _stack_exists(cloud, stack):
    try:
        cloud.clients.client("cloudformation").describe_stacks(StackName=stack)
        return True
    except cloud.clients.client("cloudformation").exceptions.ClientError:
        return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default=str(ROOT / ".venv"))
    parser.add_argument("--built", default=str(ROOT / "target/sam-build"))
    parser.add_argument("--buildspec", default=str(ROOT / "buildspec.yml"))
    parser.add_argument("--readme", default=str(ROOT / "README.md"))
    args = parser.parse_args(argv)
    if not (pathlib.Path(args.built) / "template.yaml").is_file():
        print(f"pipeline: {args.built}/template.yaml is missing: run `make sam-build`")
        return 1
    phases = buildspec_commands(args.buildspec)
    spec_commands = [c for commands in phases.values() for c in commands]
    readme = readme_commands(args.readme)
    problems = static_problems("buildspec.yml", spec_commands) + static_problems("README", readme)
    checks = 2

    image_uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/tern-bootstrap:0123abc"
    variables = yaml.safe_load(pathlib.Path(args.buildspec).read_text())["env"]["variables"]
    cloud = LocalCloudFormation(args.venv, args.built)
    try:
        # The buildspec's post_build phase, as written; the build phase left the image URI.
        (cloud.work / ".aws-sam/image-uri").write_text(image_uri + "\n")
        env = {**{k: str(v) for k, v in variables.items()}, "CODEBUILD_BUILD_SUCCEEDING": "1"}
        post_build = [c for c in phases["post_build"] if not c.startswith("export PATH")]
        script = "\n".join(c + " --no-execute-changeset" if "sam deploy" in c else c for c in post_build)
        problems += run_problems(cloud, "buildspec.yml", script, env, variables["STACK_NAME"], image_uri)
        # The README's, in the shell its ECR steps left.
        readme_deploy = sam_deploy(readme) + " --no-execute-changeset"
        problems += run_problems(
            cloud, "README", readme_deploy, {"IMAGE_URI": image_uri}, "tern-example", image_uri
        )
        # Negative control: without an image repository SAM refuses the deployment.
        bare = re.sub(r'--image-repository "[^"]*" ', "", script)
        status, output = cloud.run(bare, env)
        if status == 0 or "Missing option '--image-repositories'" not in output:
            problems.append(
                f"negative control: sam deploy without --image-repository was not refused "
                f"({status}):\n{output[-1500:]}"
            )
        checks += 3
    finally:
        cloud.close()
    for problem in problems:
        print(problem)
    print(f"pipeline: {checks} checks, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
