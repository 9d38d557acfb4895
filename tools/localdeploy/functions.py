"""Deployed functions, run under the AWS Lambda Runtime Interface Emulator.

A zip function runs as Lambda runs a `provided.al2023` function: its code package unpacked as
`/var/task` and its layers, in order, as `/opt`; the runtime is `bootstrap` from the package,
else from the layers (here, the tern layer's). The packages are the S3 objects the deployment
uploaded, checked against the CodeSha256 the Lambda API reports for the deployed layer. An
image function runs its container image (mapped from the deployed ImageUri to a local image)
with the emulator mounted in, its ENTRYPOINT and ImageConfig.Command as Lambda would.

The environment is the deployed one (GetFunctionConfiguration) plus what Lambda adds:
`_HANDLER`, `AWS_LAMBDA_FUNCTION_*`, `LAMBDA_TASK_ROOT`, `AWS_LAMBDA_LOG_FORMAT`/`_LEVEL` from
the LoggingConfig (which moto does not keep, so it comes from the deployment); then the local
endpoint, dummy credentials and `S3_FORCE_PATH_STYLE=true` (moto serves S3 path-style only).

Each function has one execution environment: invocations are serialized, where Lambda would
scale out. Every invocation is recorded (`Functions.invocations`) for the tests.
"""

import base64
import hashlib
import io
import json
import os
import pathlib
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass

from .aws import free_port

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
PODMAN = ["podman", "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc"]
RUN_FLAGS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


class FunctionError(Exception):
    """A function could not be prepared or started; the message says which and why."""


@dataclass
class Invocation:
    """One invocation: what was sent and what came back."""

    function: str
    payload: dict
    status: int
    body: str

    @property
    def error(self):
        """The `errorType` of a function error (or init failure), else None."""
        if self.status != 200:
            return "Runtime.Unavailable"
        try:
            document = json.loads(self.body)
        except ValueError:
            return None
        if isinstance(document, dict) and set(document) >= {"errorType", "errorMessage"}:
            return document["errorType"]
        return None

    def json(self):
        return json.loads(self.body) if self.body.strip() else None


def container_engine():
    """`TERN_CONTAINER` (as the Makefile sets it), else podman with the sandbox flags."""
    line = os.environ.get("TERN_CONTAINER", "").split()
    return line or list(PODMAN)


class Runtime:
    """One running emulator (with the runtime it starts) for one function."""

    def __init__(self, name, command, env, timeout, workdir, on_stop=None):
        self.name = name
        self.on_stop = on_stop
        self.port = int(command[command.index("--runtime-interface-emulator-address") + 1].split(":")[1])
        self.timeout = timeout
        self.lock = threading.Lock()
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise FunctionError(f"the emulator for {name} did not start:\n{self.logs()}")
                time.sleep(0.05)

    def invoke(self, payload):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{INVOKE_PATH}",
            data=json.dumps(payload).encode(),
            headers={"content-type": "application/json"},
        )
        with self.lock:
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.status, response.read().decode()
            except urllib.error.HTTPError as err:
                return err.code, err.read().decode()

    def logs(self):
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        if self.on_stop:
            self.on_stop()
        self._log.close()


class Functions:
    """The deployed functions, each started on its first invocation."""

    def __init__(self, clients, stack, rie, workdir, images=None, extra_env=None):
        self.clients = clients
        self.stack = stack
        self.rie = pathlib.Path(rie)
        self.workdir = pathlib.Path(workdir)
        self.images = dict(images or {})
        self.extra_env = dict(extra_env or {})
        self.runtimes = {}
        self.invocations = []
        self._lock = threading.Lock()
        self.by_arn = {}
        for lid in stack.of_type("AWS::Lambda::Function"):
            self.by_arn[stack.attributes[(lid, "Arn")]] = lid
            self.by_arn[stack.refs[lid]] = lid

    def logical_id(self, name_or_arn):
        """The function a name or ARN (qualified by a version or alias, or not) names."""
        if name_or_arn in self.by_arn:
            return self.by_arn[name_or_arn]
        parts = name_or_arn.split(":")
        if len(parts) == 8 and ":".join(parts[:7]) in self.by_arn:
            return self.by_arn[":".join(parts[:7])]
        raise FunctionError(f"{name_or_arn} is not a function of stack {self.stack.name}")

    def invoke(self, name_or_arn, payload):
        """Invokes synchronously; returns the recorded Invocation."""
        lid = self.logical_id(name_or_arn)
        status, body = self.runtime(lid).invoke(payload)
        invocation = Invocation(lid, payload, status, body)
        with self._lock:
            self.invocations.append(invocation)
        return invocation

    def of(self, lid):
        """The invocations of one function so far."""
        with self._lock:
            return [i for i in self.invocations if i.function == lid]

    def logs(self, lid):
        runtime = self.runtimes.get(lid)
        return runtime.logs() if runtime else ""

    def json_logs(self, lid):
        lines = []
        for line in self.logs(lid).splitlines():
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    pass
        return lines

    def runtime(self, lid):
        with self._lock:
            if lid not in self.runtimes:
                self.runtimes[lid] = self._start(lid)
            return self.runtimes[lid]

    def close(self):
        for runtime in self.runtimes.values():
            runtime.stop()

    # -- starting a function -----------------------------------------------------------------

    def _start(self, lid):
        config = self.clients.client("lambda").get_function_configuration(
            FunctionName=self.stack.refs[lid]
        )
        env = self._environment(lid, config)
        api_port, runtime_port = free_port(), free_port()
        addresses = [
            "--runtime-interface-emulator-address",
            f"127.0.0.1:{api_port}",
            "--runtime-api-address",
            f"127.0.0.1:{runtime_port}",
        ]
        on_stop = None
        if config.get("PackageType") == "Image":
            container = f"tern-local-{lid.lower()}-{os.getpid()}"
            command = self._image_command(lid, config, env, addresses, container)
            process_env = {"PATH": os.environ.get("PATH", "")}

            def on_stop():
                subprocess.run([*container_engine(), "rm", "--force", container],
                               capture_output=True, check=False)
        else:
            task, bootstrap = self._unpack(lid, config)
            env["LAMBDA_TASK_ROOT"] = str(task)
            command = [str(self.rie), *addresses, str(bootstrap)]
            process_env = {"PATH": os.environ.get("PATH", ""), **env}
        return Runtime(lid, command, process_env, config["Timeout"] + 30, self.workdir, on_stop)

    def _environment(self, lid, config):
        logging = self.stack.local.get(lid, {}).get("LoggingConfig") or {}
        env = {
            "_HANDLER": config.get("Handler") or "",
            "AWS_LAMBDA_FUNCTION_NAME": config["FunctionName"],
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config["MemorySize"]),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(config["Timeout"]),
        }
        if logging.get("LogFormat") == "JSON":
            env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
            env["AWS_LAMBDA_LOG_LEVEL"] = logging.get("ApplicationLogLevel", "INFO")
        env.update((config.get("Environment") or {}).get("Variables", {}))
        env.update(self.clients.sdk_env())
        env["S3_FORCE_PATH_STYLE"] = "true"
        env.update(self.extra_env)
        return env

    def _download(self, bucket, key):
        return self.clients.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()

    def _unpack(self, lid, config):
        """`/var/task` and `/opt` of a zip function; returns (task dir, bootstrap)."""
        root = self.workdir / lid
        task, opt = root / "task", root / "opt"
        task.mkdir(parents=True, exist_ok=True)
        opt.mkdir(parents=True, exist_ok=True)
        code = self.stack.template["Resources"][lid]["Properties"]["Code"]
        _extract(self._download(code["S3Bucket"], code["S3Key"]), task)
        layer_ids = {self.stack.refs[l]: l for l in self.stack.of_type("AWS::Lambda::LayerVersion")}
        for layer in config.get("Layers") or []:
            layer_lid = layer_ids.get(layer["Arn"])
            if layer_lid is None:
                raise FunctionError(f"{lid}: layer {layer['Arn']} is not of this stack")
            content = self.stack.local[layer_lid]["Content"]
            body = self._download(content["S3Bucket"], content["S3Key"])
            digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
            if digest != layer.get("CodeSha256", digest):
                raise FunctionError(f"{lid}: the layer object in S3 is not the deployed {layer['Arn']}")
            _extract(body, opt)
        for candidate in (task / "bootstrap", opt / "bootstrap"):
            if candidate.is_file():
                return task, candidate
        raise FunctionError(f"{lid}: no bootstrap in its package or its layers")

    def _image_command(self, lid, config, env, addresses, container):
        code = self.clients.client("lambda").get_function(FunctionName=config["FunctionName"])
        uri = code["Code"]["ImageUri"]
        image = self.images.get(uri)
        if image is None:
            raise FunctionError(f"{lid}: no local image for {uri} (map it with --image URI=LOCAL)")
        engine = container_engine()
        inspect = subprocess.run(
            [*engine, "image", "inspect", "--format", "{{json .Config}}", image],
            capture_output=True, text=True, check=False,
        )
        if inspect.returncode != 0:
            raise FunctionError(f"{lid}: image {image} not found ({inspect.stderr.strip()}); `make image` builds it")
        image_config = json.loads(inspect.stdout)
        overrides = (config.get("ImageConfigResponse") or {}).get("ImageConfig", {})
        entrypoint = overrides.get("EntryPoint") or image_config.get("Entrypoint") or []
        command = overrides.get("Command") or image_config.get("Cmd") or []
        run = [*engine, "run", "--rm", "--network", "host", *RUN_FLAGS,
               "--name", container,
               "--volume", f"{self.rie}:/aws-lambda-rie:ro", "--entrypoint", "/aws-lambda-rie"]
        for key, value in env.items():
            run += ["--env", f"{key}={value}"]
        return [*run, image, *addresses, *entrypoint, *command]


def _extract(body, target):
    """Unzips keeping the file modes the archive records."""
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        for info in archive.infolist():
            path = archive.extract(info, target)
            mode = info.external_attr >> 16
            if mode:
                os.chmod(path, mode & 0o777)

