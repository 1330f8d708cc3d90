"""kill -9 the gateway (gunicorn master and workers) mid-upload: afterwards each key shows
the old object or a whole new one, parts of unfinished multipart uploads survive GC, and
GC reclaims the orphans once they are older than the grace period."""
from __future__ import annotations

import hashlib
import random
import socket
import subprocess
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from s3server.blobs import BlobStore
from s3server.config import parse_nodes
from tests.conftest import ServeProcess, node_blob_ids
from tests.durability.conftest import DURABLE_ENV, blob_uses, kill_gateway, run_repair, wait_for

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
GRACE = 3.0


def body(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _repair_loop_pids(master: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(master)], capture_output=True,
                         text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "repair --loop" in line]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def start_raw_put(url: str, total: int, first: bytes) -> socket.socket:
    """Send the headers of a PUT of ``total`` bytes and the first bytes of its body, then
    stall (the connection stays open until the gateway dies)."""
    u = urlsplit(url)
    sock = socket.create_connection((u.hostname, u.port), timeout=10)
    head = (f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: {u.netloc}\r\n"
            f"Content-Length: {total}\r\n\r\n").encode()
    sock.sendall(head + first)
    return sock


def test_gateway_killed_mid_upload(tmp_path, ledger):
    data_dir = tmp_path / "data"
    # the background repair loop runs through the traffic, with a short GC grace period
    serve = ServeProcess(data_dir, env={**DURABLE_ENV, "S3_REPAIR_INTERVAL": "1",
                                        "S3_GC_GRACE_SECONDS": str(GRACE)}).start()
    try:
        s3 = serve.client()
        bucket = f"g-{uuid.uuid4().hex[:16]}"
        s3.create_bucket(Bucket=bucket)
        old = body(1, 1 * MiB + 3)
        s3.put_object(Bucket=bucket, Key="big", Body=old)
        versions = {}
        for v in range(3):
            versions[v] = body(1000 + v, 200_000 + v)
        s3.put_object(Bucket=bucket, Key="hot", Body=versions[0])
        ledger.writes_attempted += 2
        ledger.writes_acknowledged += 2

        # an unfinished multipart upload: its parts are referenced only by upload rows
        mpu = s3.create_multipart_upload(Bucket=bucket, Key="multi")["UploadId"]
        parts = [body(50 + i, 5 * MiB) for i in range(2)]
        etags = [s3.upload_part(Bucket=bucket, Key="multi", UploadId=mpu, PartNumber=i + 1,
                                Body=p)["ETag"] for i, p in enumerate(parts)]

        # a large overwrite of "big" that stalls half way, and a stream of overwrites of "hot"
        url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "big"})
        stalled = start_raw_put(url, 40 * MiB, body(2, 16 * MiB))
        acked: dict[str, bytes] = {}
        stop = threading.Event()

        def writer(t: int) -> None:
            c = serve.client()
            n = 0
            while not stop.is_set():
                v = random.Random(t * 1000 + n).choice([1, 2])
                key = f"k-{t}-{n}"
                try:
                    c.put_object(Bucket=bucket, Key="hot", Body=versions[v])
                    c.put_object(Bucket=bucket, Key=key, Body=versions[v])
                    acked[key] = versions[v]
                except (ClientError, BotoCoreError):
                    return
                n += 1

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(3)]
        for t in threads:
            t.start()
        wait_for(lambda: any('"event": "summary"' in line for line in serve.lines), timeout=15)
        time.sleep(1.5)
        loop_pids = _repair_loop_pids(serve.state["gateway_pid"])
        assert len(loop_pids) == 1
        kill_gateway(serve)
        ledger.faults_injected += 1
        stop.set()
        for t in threads:
            t.join(30)
        stalled.close()
        ledger.writes_attempted += len(acked) + 1
        ledger.writes_acknowledged += len(acked)
        serve.proc.wait(30)            # serve notices the gateway died and stops its nodes
        serve.stop()
        wait_for(lambda: not _alive(loop_pids[0]), timeout=10)   # the loop died with its master
        assert not any('"event": "failed"' in line for line in serve.lines)

        serve = ServeProcess(data_dir, env=DURABLE_ENV).start()
        s3 = serve.client()
        assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == old
        hot = s3.get_object(Bucket=bucket, Key="hot")["Body"].read()
        assert any(hot == v for v in versions.values())       # a whole version, never a mix
        for key, data in acked.items():
            got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            if got != data:
                ledger.bytes_lost += len(data)
            assert got == data
        ledger.writes_verified += len(acked) + 2

        # orphans as a crash between "blobs on a quorum" and "metadata committed" leaves them
        state = serve.state
        blobs = BlobStore(dict(parse_nodes(state["storage_nodes"])))
        orphans = [blobs.write(iter([body(9000 + i, 100_000)])) for i in range(3)]
        blobs.close()

        code, lines = run_repair(serve, "--gc-grace-seconds", str(GRACE), "--no-scrub")
        assert code == 0 and lines[-1]["orphans_young"] >= 3 and lines[-1]["errors"] == 0
        on_nodes = set().union(*(node_blob_ids(d) for d in serve.node_dirs()))
        assert {o.blob_id for o in orphans} <= on_nodes           # young: kept

        time.sleep(GRACE + 0.5)
        code, lines = run_repair(serve, "--gc-grace-seconds", str(GRACE), "--no-scrub")
        summary = lines[-1]
        assert code == 0 and summary["errors"] == 0 and summary["orphans_deleted"] >= 3 * 3, summary
        referenced = {u.blob.blob_id for u in blob_uses(serve)}
        for d in serve.node_dirs():
            assert node_blob_ids(d) <= referenced                 # every orphan reclaimed
            assert not list((d / "tmp").iterdir())                # the stalled upload kept nothing
        # ... and nothing referenced was touched: the unfinished upload completes fine
        done = s3.complete_multipart_upload(
            Bucket=bucket, Key="multi", UploadId=mpu,
            MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
        assert done["ETag"]
        got = s3.get_object(Bucket=bucket, Key="multi")["Body"].read()
        assert hashlib.md5(got).digest() == hashlib.md5(b"".join(parts)).digest()
        assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == old
    finally:
        serve.stop()


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.05])
def test_gateway_killed_during_multipart_complete(tmp_path, ledger, delay):
    """kill -9 while CompleteMultipartUpload is in flight: afterwards the key shows the old object
    with the upload still completable, or the whole new object; never a mix, never a dangling row."""
    data_dir = tmp_path / "data"
    serve = ServeProcess(data_dir, env=DURABLE_ENV).start()
    try:
        s3 = serve.client()
        bucket = f"mc-{uuid.uuid4().hex[:16]}"
        s3.create_bucket(Bucket=bucket)
        old = body(7, 300_000)
        s3.put_object(Bucket=bucket, Key="obj", Body=old)
        parts = [body(70 + i, 5 * MiB) for i in range(2)] + [body(79, 1234)]
        mpu = s3.create_multipart_upload(Bucket=bucket, Key="obj")["UploadId"]
        etags = [s3.upload_part(Bucket=bucket, Key="obj", UploadId=mpu, PartNumber=i + 1, Body=p)["ETag"]
                 for i, p in enumerate(parts)]
        spec = {"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]}
        ledger.writes_attempted += 2
        outcome: dict = {}

        def complete():
            try:
                outcome["etag"] = s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=mpu,
                                                               MultipartUpload=spec)["ETag"]
            except (ClientError, BotoCoreError) as exc:
                outcome["error"] = exc

        t = threading.Thread(target=complete)
        t.start()
        time.sleep(delay)
        kill_gateway(serve)
        ledger.faults_injected += 1
        t.join(30)
        serve.proc.wait(30)
        serve.stop()

        serve = ServeProcess(data_dir, env=DURABLE_ENV).start()
        s3 = serve.client()
        got = s3.get_object(Bucket=bucket, Key="obj")["Body"].read()
        new = b"".join(parts)
        assert got in (old, new), "a mix of the old and the new object"
        if "etag" in outcome:
            assert got == new                      # acknowledged: must be durable
        if got == old:
            # not committed: the upload is intact and completes now
            s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=mpu, MultipartUpload=spec)
            got = s3.get_object(Bucket=bucket, Key="obj")["Body"].read()
        assert hashlib.md5(got).digest() == hashlib.md5(new).digest()
        ledger.writes_acknowledged += 2
        ledger.writes_verified += 2
        # every referenced blob is on its recorded nodes: no row points at a missing blob
        on_nodes = [node_blob_ids(d) for d in serve.node_dirs()]
        for use in blob_uses(serve):
            assert any(use.blob.blob_id in ids for ids in on_nodes), use
    finally:
        serve.stop()
