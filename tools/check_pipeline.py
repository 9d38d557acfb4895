"""The deployment commands of buildspec.yml and the README, checked as written.

    python tools/check_pipeline.py [--venv .venv] [--built target/sam-build]
                                   [--aws-cli .venv/awscli/bin/aws]

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

Re-runs of the same commit, proven: the buildspec's `build` phase, its commands as the YAML
writes them, runs twice against moto with the real AWS CLI (pinned in its own virtualenv,
tools/awscli-requirements.txt), so `aws sts get-caller-identity`, `aws ecr
describe-repositories`/`create-repository`, `get-login-password` and the `describe-images` guard
really run. What cannot run here is stood in for, exactly those commands, first on PATH
(and as `.venv/bin/sam`, which the phase puts first for `sam build`): `docker` (login reads
the password; `push` records the push and registers the tag in moto's ECR with `aws ecr
put-image`, a manifest whose layer digest is the build's id, so a rebuilt image is a new
image), `make` (only `make image IMAGE=...`: records a build with a fresh id) and `sam` (only
`sam build`: records it and creates the build directory). Each run has a fresh checkout, home
and image store, as a CodeBuild run has. Run 1 must create the repository (IMMUTABLE tags,
scanOnPush) and push once; run 2 must exit 0, print that the image is already pushed and push
nothing. The negative control runs the same phase with the `describe-images` guard removed (the
push unconditional), for another commit: its second run must fail, moto's ECR refusing the
second PutImage of the immutable tag (ImageAlreadyExistsException; moto 5.2.5 enforces
IMMUTABLE on a different manifest for an existing tag).

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


STAND_INS = {
    "docker": r"""#!/bin/bash
# Stand-in for docker (tools/check_pipeline.py): records; `push` registers the tag in moto's ECR.
set -euo pipefail
printf 'docker %s\n' "$*" >> "$TERN_STANDIN_LOG"
case "$1" in
  login) cat >/dev/null ;;
  push)
    uri="$2"; tag="${uri##*:}"; repository="${uri#*/}"; repository="${repository%:*}"
    build=$(cat "$TERN_STANDIN_IMAGES/$tag" 2>/dev/null) || { echo "stand-in docker: no local image $uri (make image did not build it)" >&2; exit 1; }
    manifest='{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:'"$build"'"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":2,"digest":"sha256:'"$build"'"}]}'
    aws ecr put-image --region "$AWS_REGION" --repository-name "$repository" --image-tag "$tag" --image-manifest "$manifest" >/dev/null
    printf 'pushed %s\n' "$uri" >> "$TERN_STANDIN_LOG" ;;
  *) echo "stand-in docker: unexpected: docker $*" >&2; exit 2 ;;
esac
""",
    "make": r"""#!/bin/bash
# Stand-in for make (tools/check_pipeline.py): only `make image IMAGE=<uri>`, a build recorded.
set -euo pipefail
printf 'make %s\n' "$*" >> "$TERN_STANDIN_LOG"
[ "$#" = 2 ] && [ "$1" = image ] && [[ "$2" == IMAGE=* ]] || { echo "stand-in make: unexpected: make $*" >&2; exit 2; }
uri="${2#IMAGE=}"
mkdir -p "$TERN_STANDIN_IMAGES"
head -c 32 /dev/urandom | sha256sum | cut -c1-64 > "$TERN_STANDIN_IMAGES/${uri##*:}"
""",
    "sam": r"""#!/bin/bash
# Stand-in for sam (tools/check_pipeline.py): only `sam build ... --build-dir <dir>`.
set -euo pipefail
printf 'sam %s\n' "$*" >> "$TERN_STANDIN_LOG"
[ "${1:-}" = build ] || { echo "stand-in sam: unexpected: sam $*" >&2; exit 2; }
shift
while [ "$#" -gt 0 ]; do
  if [ "$1" = --build-dir ]; then mkdir -p "$2"; fi
  shift
done
""",
}


def without_push_guard(commands):
    """The phase with the describe-images guard removed: the push runs unconditionally."""
    changed, found = [], False
    for command in commands:
        match = re.search(r"\bthen .*?; else (.*); fi\s*$", command)
        if "aws ecr describe-images" in command and match:
            changed.append(match.group(1))
            found = True
        else:
            changed.append(command)
    if not found:
        raise ValueError("no `if aws ecr describe-images ...; then ...; else <push>; fi` command")
    return changed


class BuildPhase:
    """Runs the buildspec's build phase against moto with the AWS CLI and the stand-ins; each
    run in a fresh checkout (scratch directory), home and local image store."""

    def __init__(self, aws_cli, endpoint, variables):
        self.aws_bin = pathlib.Path(aws_cli).resolve().parent
        self.endpoint = endpoint
        self.variables = {k: str(v) for k, v in variables.items()}
        self.scratch = tempfile.TemporaryDirectory(prefix="tern-build-phase-")
        self.bin = pathlib.Path(self.scratch.name) / "stand-ins"
        self.bin.mkdir()
        for name, text in STAND_INS.items():
            (self.bin / name).write_text(text)
            (self.bin / name).chmod(0o755)
        self.runs = 0

    def run(self, commands, commit):
        """Returns (status, output, the stand-ins' log lines, the checkout)."""
        self.runs += 1
        root = pathlib.Path(self.scratch.name) / f"run-{self.runs}"
        work, home = root / "src", root / "home"
        (work / ".venv/bin").mkdir(parents=True)
        home.mkdir()
        # The phase runs `PATH="$PWD/.venv/bin:$PATH" ... sam build`: the checkout's .venv.
        (work / ".venv/bin/sam").symlink_to(self.bin / "sam")
        log = root / "stand-ins.log"
        log.touch()
        environment = {
            **self.variables,
            "PATH": f"{self.bin}:{self.aws_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "CODEBUILD_RESOLVED_SOURCE_VERSION": commit,
            "TERN_STANDIN_LOG": str(log),
            "TERN_STANDIN_IMAGES": str(root / "images"),
        }
        run = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", "\n".join(commands)],
            cwd=work, env=environment, capture_output=True, text=True, check=False, timeout=300,
        )
        return run.returncode, run.stdout + run.stderr, log.read_text().splitlines(), work

    def close(self):
        self.scratch.cleanup()


def left_image_uri(work):
    """What the build phase left for post_build in .aws-sam/image-uri (None: nothing)."""
    path = work / ".aws-sam/image-uri"
    return path.read_text().strip() if path.is_file() else None


def rerun_problems(phase, ecr, commands, repository):
    """The build phase twice on one commit: the repository created once (IMMUTABLE tags,
    scanOnPush), the image pushed once, the second run successful without a push."""
    problems = []
    commit = "0123abcd"
    image_uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repository}:{commit}"
    if ecr.describe_repositories()["repositories"]:
        problems.append("re-run: moto's ECR holds a repository before the first run")
    status, output, log, work = phase.run(commands, commit)
    if status != 0:
        return problems + [f"re-run: the first build phase failed ({status}):\n{output[-3000:]}"]
    repositories = ecr.describe_repositories()["repositories"]
    settings = [
        (r["repositoryName"], r["imageTagMutability"], r["imageScanningConfiguration"]["scanOnPush"])
        for r in repositories
    ]
    if settings != [(repository, "IMMUTABLE", True)]:
        problems.append(f"re-run: after the first run the repositories are {settings}, "
                        f"expected [({repository!r}, 'IMMUTABLE', True)]")
    pushes = [line for line in log if line.startswith("docker push")]
    if pushes != [f"docker push {image_uri}"] or f"pushed {image_uri}" not in log:
        problems.append(f"re-run: the first run pushed {pushes}, expected exactly {image_uri} once")
    if f"make image IMAGE={image_uri}" not in log:
        problems.append("re-run: the first run did not build the image (make image)")
    tags = [t for d in ecr.describe_images(repositoryName=repository)["imageDetails"] for t in d.get("imageTags", [])]
    if tags != [commit]:
        problems.append(f"re-run: after the first run the repository holds tags {tags}, expected [{commit!r}]")
    if left_image_uri(work) != image_uri:
        problems.append(f"re-run: the first run did not leave .aws-sam/image-uri = {image_uri}")
    status, output, log, work = phase.run(commands, commit)
    if status != 0:
        return problems + [f"re-run: the second build phase on the same commit failed ({status}):\n{output[-3000:]}"]
    if f"{image_uri} is already pushed" not in output:
        problems.append(f"re-run: the second run did not say {image_uri} is already pushed:\n{output[-1500:]}")
    built = [line for line in log if line.startswith(("docker push", "make image", "pushed "))]
    if built:
        problems.append(f"re-run: the second run built or pushed again: {built}")
    if not any(line.startswith("sam build") for line in log):
        problems.append("re-run: the second run did not reach sam build")
    if left_image_uri(work) != image_uri:
        problems.append(f"re-run: the second run did not leave .aws-sam/image-uri = {image_uri}")
    return problems


def unguarded_problems(phase, commands, repository):
    """Negative control: without the describe-images guard the second run of a commit fails
    at the push (moto's ECR refuses a second PutImage of the immutable tag)."""
    commit = "4567cdef"
    image_uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repository}:{commit}"
    try:
        unguarded = without_push_guard(commands)
    except ValueError as err:
        return [f"negative control: {err}"]
    status, output, log, _ = phase.run(unguarded, commit)
    if status != 0 or f"pushed {image_uri}" not in log:
        return [f"negative control: the first unguarded run did not push ({status}):\n{output[-1500:]}"]
    status, output, log, _ = phase.run(unguarded, commit)
    refused = "ImageAlreadyExistsException" in output and f"docker push {image_uri}" in log
    if status == 0 or not refused or f"pushed {image_uri}" in log:
        return [f"negative control: the second unguarded run was not refused at the push "
                f"({status}):\n{output[-1500:]}"]
    return []


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
    parser.add_argument("--aws-cli", default=str(ROOT / ".venv/awscli/bin/aws"))
    args = parser.parse_args(argv)
    if not pathlib.Path(args.aws_cli).is_file():
        print(f"pipeline: {args.aws_cli} is missing: `make deploy-test` installs it "
              f"(tools/awscli-requirements.txt)")
        return 1
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
        # The build phase, as written, twice on one commit; then without its push guard.
        phase = BuildPhase(args.aws_cli, cloud.endpoint, variables)
        try:
            ecr = cloud.clients.client("ecr")
            problems += rerun_problems(phase, ecr, phases["build"], variables["IMAGE_REPOSITORY"])
            problems += unguarded_problems(phase, phases["build"], variables["IMAGE_REPOSITORY"])
        finally:
            phase.close()
        checks += 2
    finally:
        cloud.close()
    for problem in problems:
        print(problem)
    print(f"pipeline: {checks} checks, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
