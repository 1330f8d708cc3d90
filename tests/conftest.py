"""Real systems for the API tests: ``s3server serve`` as a subprocess (three storage-node
processes + gunicorn with gevent workers), one per metadata backend per test run."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from conftest import PgDatabase, require_pg

ADMIN_AK = "AKTESTADMIN000000001"
ADMIN_SK = "test-admin-secret-key-0000000000000000000"
ADMIN_API = "s3k_test-admin-api-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


JSSDK = Path(__file__).parent / "cli" / "jssdk"   # the AWS SDK for JavaScript v3, pinned by its package-lock.json
WEBSITE_DOMAIN = "s3-website.test"      # every test system's website endpoint: <bucket>.s3-website.test


class ServeProcess:
    """``s3server serve`` in a subprocess, with its printed credentials and its state file."""

    def __init__(self, data_dir: Path, *, port: int | None = None, env: dict | None = None,
                 fixed_credentials: bool = True):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.env = dict(os.environ)
        self.env.pop("S3_DATABASE_URL", None)
        self.env.update({"S3_WORKERS": "2", "S3_LOG_LEVEL": "warning", "S3_NODE_DOWN_SECONDS": "1",
                         "S3_NODE_BASE_PORT": "0", "S3_WEBSITE_DOMAIN": WEBSITE_DOMAIN})
        if fixed_credentials:
            self.env.update({"S3_ADMIN_ACCESS_KEY": ADMIN_AK, "S3_ADMIN_SECRET_KEY": ADMIN_SK,
                             "S3_ADMIN_API_KEY": ADMIN_API})
        self.env.update(env or {})
        self.proc: subprocess.Popen | None = None
        self.node_procs: list[subprocess.Popen] = []     # nodes a test restarted; stopped with us
        self.lines: list[str] = []
        self.printed: dict[str, str] = {}

    def start(self, timeout: float = 90) -> "ServeProcess":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = open(self.data_dir.parent / f"{self.data_dir.name}-serve.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "s3server", "serve", "--data-dir", str(self.data_dir), "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=self.log, env=self.env, text=True, stdin=subprocess.DEVNULL)
        ready = threading.Event()

        def reader():
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if ":" in line:
                    k, _, v = line.strip().partition(":")
                    self.printed.setdefault(k.strip(), v.strip())
                if line.startswith("Press Ctrl-C"):
                    ready.set()
            ready.set()

        threading.Thread(target=reader, daemon=True).start()
        # ``ready`` is also set when stdout closes (serve exited): only the "Press Ctrl-C" line
        # means it is up; an exit may not be reaped yet when stdout reaches EOF
        up = ready.wait(timeout) and any(line.startswith("Press Ctrl-C") for line in self.lines)
        if not up or self.proc.poll() is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            self.stop()
            raise RuntimeError(f"serve did not start; output: {self.lines}; see {self.log.name}")
        return self

    @property
    def endpoint(self) -> str:
        return self.printed["endpoint"]

    @property
    def db_url(self) -> str:
        """The metadata database this system uses."""
        return self.env.get("S3_DATABASE_URL") or f"sqlite:///{self.data_dir / 'meta.db'}"

    @property
    def state(self) -> dict:
        return json.loads((self.data_dir / "serve.json").read_text())

    def stop(self, sig=signal.SIGINT, timeout: float = 30) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for p in self.node_procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.node_procs = []
        self.log.close()
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def client(self, access_key: str = ADMIN_AK, secret_key: str = ADMIN_SK, **config):
        cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                     **config)
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=access_key,
                            aws_secret_access_key=secret_key, region_name="us-east-1", config=cfg)

    # storage nodes, for fault injection
    def node_pids(self) -> list[int]:
        return [n["pid"] for n in self.state["nodes"]]

    def node_dirs(self) -> list[Path]:
        return [self.data_dir / n["id"] for n in self.state["nodes"]]

    def stop_node(self, i: int) -> None:
        os.kill(self.state["nodes"][i]["pid"], signal.SIGKILL)
        time.sleep(0.2)

    def start_node(self, i: int) -> subprocess.Popen:
        """Restart a killed node with the command serve used (same id, dir and port)."""
        node = self.state["nodes"][i]
        proc = subprocess.Popen(node["cmd"], stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.node_procs.append(proc)
        deadline = time.monotonic() + 30
        import urllib.request
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(node["url"] + "/health", timeout=1)
                return proc
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("node did not restart")


def backend_env(backend: str) -> tuple[dict, PgDatabase | None]:
    if backend == "sqlite":
        return {}, None
    require_pg()
    db = PgDatabase()
    return {"S3_DATABASE_URL": db.url}, db


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def system(request, tmp_path_factory):
    """One running system per backend for the whole test run."""
    env, db = backend_env(request.param)
    serve = ServeProcess(tmp_path_factory.mktemp(f"serve-{request.param}") / "data", env=env).start()
    serve.backend = request.param
    yield serve
    serve.stop()
    if db:
        db.drop()


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 / localhost: (cert, key) paths."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def tls_system(request, tls_cert, tmp_path_factory):
    """A system serving https (``serve`` with S3_CERTFILE/S3_KEYFILE), one per backend per run."""
    env, db = backend_env(request.param)
    env.update({"S3_CERTFILE": str(tls_cert[0]), "S3_KEYFILE": str(tls_cert[1])})
    serve = ServeProcess(tmp_path_factory.mktemp(f"tls-{request.param}") / "data", env=env).start()
    serve.backend = request.param
    yield serve
    serve.stop()
    if db:
        db.drop()


@pytest.fixture
def tls_s3(tls_system, tls_cert):
    assert tls_system.endpoint.startswith("https://")
    return boto3.client("s3", endpoint_url=tls_system.endpoint, aws_access_key_id=ADMIN_AK,
                        aws_secret_access_key=ADMIN_SK, region_name="us-east-1", verify=str(tls_cert[0]),
                        config=Config(retries={"max_attempts": 1}))


@pytest.fixture
def s3(system):
    return system.client()


@pytest.fixture
def bucket(s3):
    """A fresh bucket per test, emptied and removed afterwards."""
    name = f"t-{uuid.uuid4().hex[:20]}"
    s3.create_bucket(Bucket=name)
    yield name
    try:
        token = None
        while True:
            kw = {"Bucket": name, **({"ContinuationToken": token} if token else {})}
            page = s3.list_objects_v2(**kw)
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=obj["Key"])
            if not page.get("IsTruncated"):
                break
            token = page["NextContinuationToken"]
        s3.delete_bucket(Bucket=name)
    except Exception:   # a test that broke the system must not hide its own failure
        pass


def node_blob_ids(data_dir: Path) -> set[str]:
    """Blob ids stored on a node (files named by 32-hex ids below its data dir)."""
    out = set()
    root = Path(data_dir)
    for p in root.rglob("*"):
        name = p.name.split(".")[0]
        rel = p.relative_to(root).parts
        if p.is_file() and len(name) == 32 and all(c in "0123456789abcdef" for c in name) \
                and "tmp" not in rel and "quarantine" not in rel:
            out.add(name)
    return out


# --------------------------------------------------------------------------- the JS SDK
def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"the JS SDK test cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def jssdk(tmp_path_factory) -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        _unavailable("node and npm are needed (Node.js 18 or newer)")
    where = tmp_path_factory.mktemp("jssdk")
    for name in ("package.json", "package-lock.json", "flow.mjs"):
        shutil.copy(JSSDK / name, where / name)
    r = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=where,
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        _unavailable(f"npm ci failed (is the npm registry reachable?): {r.stderr[-2000:]}")
    return where
