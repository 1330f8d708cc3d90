"""moto's server mode on a loopback port, one for the whole test run: the reference endpoint."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import boto3
import pytest
from botocore.config import Config

from tests.conftest import free_port

MOTO_AK = "AKIAMOTOCONFORMANCE1"
MOTO_SK = "moto-conformance-secret"


class MotoServer:
    def __init__(self, log_dir):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, AWS_DEFAULT_REGION="us-east-1")
        self.log = open(log_dir / "moto.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited; see {self.log.name}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto server did not start")

    def client(self):
        cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=60)
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=MOTO_AK,
                            aws_secret_access_key=MOTO_SK, region_name="us-east-1", config=cfg)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_records():
    """moto's records per scenario, computed once and compared with every backend."""
    return {}
