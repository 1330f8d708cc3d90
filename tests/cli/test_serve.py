"""`s3server serve` as a newcomer runs it: printed credentials, Ctrl-C stops every child process,
a second start on the same data dir finds everything, two serves run side by side."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import ServeProcess, backend_env


def processes_using(data_dir: Path) -> list[int]:
    """Live processes started for this data dir (by command line or S3_DATA_DIR in their environment)."""
    needle = str(data_dir).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if "State:\tZ" in status:
            continue
        if needle in cmdline or b"S3_DATA_DIR=" + needle in environ:
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_restart_keeps_everything_and_stops_cleanly(tmp_path, backend):
    env, db = backend_env(backend)
    data_dir = tmp_path / "data"
    try:
        first = ServeProcess(data_dir, env=env, fixed_credentials=False).start()
        printed = first.printed
        assert printed["endpoint"].startswith("http://127.0.0.1:")
        for field in ("access key", "secret key", "API key", "Admin API Key"):
            assert printed.get(field), (field, first.lines)
        assert printed["API key"] == printed["Admin API Key"]
        s3 = first.client(printed["access key"], printed["secret key"])
        s3.create_bucket(Bucket="keepme")
        body = os.urandom(300_000)
        s3.put_object(Bucket="keepme", Key="dir/file.bin", Body=body, Metadata={"k": "v"})
        s3.put_object(Bucket="keepme", Key="encrypted", Body=body[:5000], ServerSideEncryption="AES256")
        assert (data_dir / "sse.key").stat().st_mode & 0o777 == 0o600      # the master key serve made
        r = requests.get(printed["endpoint"] + "/buckets", headers={"Authorization": "Bearer " + printed["API key"]})
        assert r.status_code == 200 and "keepme" in r.text
        assert processes_using(data_dir)
        assert first.stop(signal.SIGINT) == 0
        assert processes_using(data_dir) == []

        second = ServeProcess(data_dir, port=first.port, env=env, fixed_credentials=False).start()
        assert second.printed["access key"] == printed["access key"]
        assert second.printed["API key"] == printed["API key"]
        s3 = second.client(printed["access key"], printed["secret key"])
        got = s3.get_object(Bucket="keepme", Key="dir/file.bin")
        assert hashlib.sha256(got["Body"].read()).digest() == hashlib.sha256(body).digest()
        assert got["Metadata"] == {"k": "v"}
        got = s3.get_object(Bucket="keepme", Key="encrypted")
        assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == body[:5000]
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["keepme"]
        assert second.stop(signal.SIGTERM) == 0
        assert processes_using(data_dir) == []
    finally:
        if db:
            db.drop()


def test_two_serves_side_by_side(tmp_path):
    """Storage-node ports default to 7881-7883 and fall back to free ones when taken."""
    env = {"S3_NODE_BASE_PORT": "7881"}
    a = ServeProcess(tmp_path / "a", env=env).start()
    b = ServeProcess(tmp_path / "b", env=env).start()
    try:
        urls_a = {n["url"] for n in a.state["nodes"]}
        urls_b = {n["url"] for n in b.state["nodes"]}
        assert not urls_a & urls_b
        for serve, name in ((a, "side-a"), (b, "side-b")):
            s3 = serve.client()
            s3.create_bucket(Bucket=name)
            s3.put_object(Bucket=name, Key="k", Body=name.encode())
        assert [x["Name"] for x in a.client().list_buckets()["Buckets"]] == ["side-a"]
        assert b.client().get_object(Bucket="side-b", Key="k")["Body"].read() == b"side-b"
    finally:
        a.stop()
        b.stop()


def test_port_in_use_is_a_clear_error(tmp_path, system):
    serve = ServeProcess(tmp_path / "busy", port=int(system.endpoint.rsplit(":", 1)[1]))
    with pytest.raises(RuntimeError) as e:
        serve.start(timeout=30)
    assert "in use" in Path(serve.log.name).read_text()
    assert serve.proc.returncode == 2, e.value


def test_node_ports_are_distinct_and_never_the_gateways():
    """serve picks its storage nodes' ports while the sockets stay bound (so they differ) and
    never the gateway's port: a port the tests picked free and let go can come back from the
    kernel, and a node on the gateway's port answers the gateway's /health probe (seen: a whole
    test system started "ready" with a node where its gateway should be)."""
    import socket

    from s3server.cli.common import free_ports

    for _ in range(20):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            gateway = s.getsockname()[1]
        ports = free_ports("127.0.0.1", 3, avoid={gateway})
        assert len(set(ports)) == 3 and gateway not in ports
    with pytest.raises(OSError, match="no free ports"):
        free_ports("127.0.0.1", 3, avoid=set(range(1, 65536)))
    # half of the kernel's ephemeral range avoided: about every other bind lands on an avoided
    # port, and three usable ones still come back
    lo, hi = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    half = set(range(lo, (lo + hi) // 2))
    for _ in range(10):
        ports = free_ports("127.0.0.1", 3, avoid=half)
        assert len(set(ports)) == 3 and not half & set(ports)


def test_sse_master_key_rotation(tmp_path):
    """S3_SSE_KEY replaces serve's key file; after a rotation the old key in S3_SSE_OLD_KEYS still
    opens what it sealed, new objects use the new key, and without the old key its objects are a
    clear error (their metadata still reads); `admin rewrap-sse-keys` reseals the old objects' data
    keys under the new key, after which the old key is not needed; a malformed key stops serve at
    start."""
    old, new = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    data_dir = tmp_path / "data"

    def start(**env):     # as behind a TLS proxy, for an SSE-C object (whose key no rotation touches)
        return ServeProcess(data_dir, env={"S3_SSE_KEY": "", "S3_SSE_OLD_KEYS": "",
                                           "S3_TRUSTED_PROXIES": "127.0.0.1", **env}).start()

    customer = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": os.urandom(32)}

    def https(client):
        client.meta.events.register("before-send.s3", lambda request, **kw: request.headers.__setitem__(
            "X-Forwarded-Proto", "https"))
        return client

    serve = start(S3_SSE_KEY=old)
    try:
        assert not (data_dir / "sse.key").exists()
        s3 = serve.client()
        s3.create_bucket(Bucket="rot")
        https(serve.client()).put_object(Bucket="rot", Key="customer", Body=b"my key, not yours", **customer)
        s3.put_object(Bucket="rot", Key="old", Body=b"sealed by the old key", ServerSideEncryption="AES256")
        s3.put_object(Bucket="rot", Key="plain", Body=b"never encrypted")
        up = s3.create_multipart_upload(Bucket="rot", Key="old-mp", ServerSideEncryption="AES256")["UploadId"]
        part = s3.upload_part(Bucket="rot", Key="old-mp", UploadId=up, PartNumber=1, Body=b"a one-part upload")
        s3.complete_multipart_upload(Bucket="rot", Key="old-mp", UploadId=up,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    finally:
        serve.stop()
    serve = start(S3_SSE_KEY=new, S3_SSE_OLD_KEYS=old)
    try:
        s3 = serve.client()
        assert s3.get_object(Bucket="rot", Key="old")["Body"].read() == b"sealed by the old key"
        s3.put_object(Bucket="rot", Key="new", Body=b"sealed by the new key", ServerSideEncryption="AES256")
    finally:
        serve.stop()
    serve = start(S3_SSE_KEY=new)
    try:
        s3 = serve.client()
        assert s3.get_object(Bucket="rot", Key="new")["Body"].read() == b"sealed by the new key"
        assert s3.get_object(Bucket="rot", Key="plain")["Body"].read() == b"never encrypted"
        assert s3.head_object(Bucket="rot", Key="old")["ServerSideEncryption"] == "AES256"
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket="rot", Key="old")
        assert e.value.response["Error"]["Code"] == "InternalError"
        assert "encryption key" in e.value.response["Error"]["Message"]
    finally:
        serve.stop()

    def rewrap(**env):
        r = subprocess.run([sys.executable, "-m", "s3server", "admin", "--data-dir", str(data_dir), "rewrap-sse-keys"],
                           env={**os.environ, "S3_DATABASE_URL": "", "S3_SSE_KEY": new, "S3_SSE_OLD_KEYS": "", **env},
                           capture_output=True, text=True, timeout=60)
        return r.returncode, json.loads(r.stdout.strip().splitlines()[-1]), r.stderr

    code, summary, err = rewrap()                     # the old key is needed to open what it sealed
    assert code == 1 and summary["unavailable"] == 2 and summary["current"] == 1, (summary, err)
    code, summary, err = rewrap(S3_SSE_OLD_KEYS=old)
    assert code == 0 and (summary["rewrapped"], summary["current"]) == (2, 1), (summary, err)
    assert summary["customer_keys"] == 1              # an SSE-C data key: left as it is, not an error
    code, summary, err = rewrap()                     # nothing left under the old key
    assert code == 0 and (summary["rewrapped"], summary["current"], summary["unavailable"]) == (0, 3, 0), summary
    serve = start(S3_SSE_KEY=new)
    try:
        s3 = serve.client()
        assert s3.get_object(Bucket="rot", Key="old")["Body"].read() == b"sealed by the old key"
        assert s3.get_object(Bucket="rot", Key="old-mp")["Body"].read() == b"a one-part upload"
        assert s3.get_object(Bucket="rot", Key="new")["Body"].read() == b"sealed by the new key"
        assert https(serve.client()).get_object(Bucket="rot", Key="customer", **customer)["Body"].read() == \
            b"my key, not yours"
    finally:
        serve.stop()
    broken = ServeProcess(data_dir, env={"S3_SSE_KEY": "c2hvcnQ="})
    with pytest.raises(RuntimeError):
        broken.start(timeout=30)
    assert "S3_SSE_KEY must be 32 bytes" in Path(broken.log.name).read_text()
