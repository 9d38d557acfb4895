"""moto_server on a loopback port, and boto3 clients pointed at it.

    with MotoServer.start(venv) as moto:
        clients = Clients(moto.endpoint)
        clients.client("sqs").list_queues()
"""

import os
import pathlib
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def free_port():
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """A running `moto_server`; stopped (and its log removed) by `stop` or on leaving `with`."""

    def __init__(self, process, port, log):
        self.process = process
        self.port = port
        self.log = log
        self.endpoint = f"http://127.0.0.1:{port}"

    @classmethod
    def start(cls, venv, timeout=60):
        """Starts `<venv>/bin/moto_server` on a free port; waits until it answers."""
        binary = pathlib.Path(venv) / "bin" / "moto_server"
        if not binary.is_file():
            raise RuntimeError(f"{binary} not found: run `make venv` first")
        port = free_port()
        log = tempfile.NamedTemporaryFile(prefix="tern-moto-", suffix=".log", delete=False)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        server = cls(process, port, pathlib.Path(log.name))
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{server.endpoint}/moto-api/", timeout=2).close()
                return server
            except (urllib.error.URLError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    output = server.output()
                    server.stop()
                    raise RuntimeError(f"moto_server did not start:\n{output}") from None
                time.sleep(0.1)

    def output(self):
        """What moto printed so far."""
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Clients:
    """boto3 clients for one endpoint, dummy credentials and one region; S3 path-style."""

    def __init__(self, endpoint, region=REGION):
        self.endpoint = endpoint
        self.region = region
        self.session = boto3.session.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=region,
        )
        self._clients = {}

    def client(self, service):
        if service not in self._clients:
            config = Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 2, "mode": "standard"},
                read_timeout=70,
            )
            self._clients[service] = self.session.client(
                service, endpoint_url=self.endpoint, config=config
            )
        return self._clients[service]

    def sdk_env(self):
        """Environment that points an AWS SDK (the functions') at this endpoint."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_SESSION_TOKEN": "testing",
            **CREDENTIALS,
        }
