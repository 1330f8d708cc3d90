"""Recycled blob files under churn (storage_node/recycle.py: a node reuses the files of deleted
small blobs). Writers overwrite and delete small objects while readers read them through the
gateway, and a node is killed and restarted mid-way with its recycle/ as the kill left it. No
read may return bytes that are not one whole object's, every object reads back as its last
acknowledged write (or is gone if deleted last), and a scrub of every copy finds none bad."""
from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.durability.conftest import node_down, node_up, run_repair, start_system, stop_restarted_nodes

pytestmark = pytest.mark.slow

WRITERS, READERS, KEYS_EACH = 4, 3, 6
SECONDS = 9.0


def make_body(rng: random.Random) -> bytes:
    """Self-describing: 32 hex digits of the MD5 of what follows. Sizes above S3_INLINE_MAX and
    within the nodes' recycling bound, so reads go to the nodes and deleted files are reused."""
    payload = rng.randbytes(rng.randint(5_000, 200_000))
    return hashlib.md5(payload).hexdigest().encode() + payload


def whole(data: bytes) -> bool:
    return len(data) > 32 and hashlib.md5(data[32:]).hexdigest().encode() == data[:32]


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    # no blob cache in the gateway: every read goes to a storage node
    sp = start_system(tmp_path_factory.mktemp("recycle"), S3_BLOB_CACHE_MB="0")
    yield sp
    sp.stop()
    stop_restarted_nodes(sp)


def recycled(serve) -> list[dict]:
    return [json.load(urllib.request.urlopen(n["url"] + "/health", timeout=5))["recycled"]
            for n in serve.state["nodes"]]


def test_churn_with_a_node_killed_never_serves_wrong_bytes(serve, ledger):
    s3 = serve.client()
    bucket = f"r-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=bucket)
    expected: dict[str, str | None] = {}       # key -> MD5 of the last acknowledged write, None: deleted
    lock = threading.Lock()
    stop = threading.Event()
    problems: list[str] = []
    reads = {"whole": 0, "missing": 0, "unavailable": 0}

    def writer(w: int) -> None:
        rng = random.Random(w)
        keys = [f"w{w}/k{i}" for i in range(KEYS_EACH)]
        while not stop.is_set():
            key = rng.choice(keys)
            try:
                if rng.random() < 0.25:
                    s3.delete_object(Bucket=bucket, Key=key)
                    with lock:
                        expected[key] = None
                    continue
                data = make_body(rng)
                with lock:
                    ledger.writes_attempted += 1
                s3.put_object(Bucket=bucket, Key=key, Body=data)
                with lock:
                    expected[key] = hashlib.md5(data).hexdigest()
                    ledger.writes_acknowledged += 1
            except ClientError as exc:           # only a clean refusal, never a 500
                status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
                if status != 503:
                    problems.append(f"write {key}: {status} {exc}")
                # the outcome of a refused write is unknown to the test: read it back later as it is
                with lock:
                    expected.pop(key, None)

    def reader(r: int) -> None:
        rng = random.Random(100 + r)
        while not stop.is_set():
            key = f"w{rng.randrange(WRITERS)}/k{rng.randrange(KEYS_EACH)}"
            try:
                got = s3.get_object(Bucket=bucket, Key=key)
                data = got["Body"].read()
            except ClientError as exc:
                status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
                reads["missing" if status == 404 else "unavailable"] += 1
                if status not in (404, 503):
                    problems.append(f"read {key}: {status} {exc}")
                continue
            if not whole(data) or got["ETag"].strip('"') != hashlib.md5(data).hexdigest():
                problems.append(f"read {key}: {len(data)} bytes that are no object's")
            else:
                reads["whole"] += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    threads += [threading.Thread(target=reader, args=(r,)) for r in range(READERS)]
    for t in threads:
        t.start()
    time.sleep(SECONDS / 3)
    node_down(serve, 1)                          # kill -9, mid-churn
    ledger.faults_injected += 1
    time.sleep(SECONDS / 3)
    node_up(serve, 1)                            # back with recycle/ as the kill left it
    time.sleep(SECONDS / 3)
    stop.set()
    for t in threads:
        t.join(60)
    assert not problems, problems[:5]
    assert reads["whole"] > 50, reads

    for key, digest in expected.items():
        try:
            data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            assert digest is None and exc.response["Error"]["Code"] == "NoSuchKey", (key, exc)
            continue
        assert digest is not None and hashlib.md5(data).hexdigest() == digest, key
        ledger.writes_verified += 1

    stats = recycled(serve)
    assert all(s["kept"] > 0 and s["taken"] > 0 for s in stats[::2]), stats   # the nodes never killed
    # every copy on every node is checked against its block checksums: none may be bad
    code, lines = run_repair(serve)
    summary = lines[-1]
    assert code == 0 and summary["errors"] == 0 and summary["copies_bad"] == 0, summary
    assert summary["no_good_copy"] == 0, summary
