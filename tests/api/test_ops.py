"""Operations: /health, /ready (503 below the write quorum) on the gateway and the storage nodes,
/metrics in Prometheus format summed over the gunicorn workers, request ids, the access log."""
from __future__ import annotations

import re
import threading
import uuid

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN_API, ServeProcess


@pytest.fixture(scope="module")
def ops(tmp_path_factory):
    sp = ServeProcess(tmp_path_factory.mktemp("ops") / "data",
                      env={"S3_WORKERS": "2", "S3_LOG_LEVEL": "info"}).start()
    yield sp
    sp.stop()


def log_text(sp) -> str:
    return (sp.data_dir.parent / f"{sp.data_dir.name}-serve.log").read_text(errors="replace")


def samples(sp) -> dict:
    r = requests.get(sp.endpoint + "/metrics")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    out = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samp: dict, name: str, **labels) -> float:
    return samp.get((name, tuple(sorted(labels.items()))), 0.0)


def test_health_and_ready(system):
    for path in ("/health", "/ready"):
        r = requests.get(system.endpoint + path)
        assert r.status_code == 200 and r.headers["x-amz-request-id"]
    ready = requests.get(system.endpoint + "/ready").json()
    assert ready["database"] is True and all(ready["nodes"].values()) and ready["write_quorum"] == 2
    for node in system.state["nodes"]:
        for path in ("/health", "/ready"):
            assert requests.get(node["url"] + path).status_code == 200


def test_every_response_has_a_request_id(system, s3, bucket):
    seen = set()
    responses = [
        requests.get(system.endpoint + "/health"),
        requests.get(system.endpoint + "/metrics"),
        requests.get(system.endpoint + "/buckets", headers={"Authorization": f"Bearer {ADMIN_API}"}),
        requests.get(system.endpoint + "/buckets"),                                # 401
        requests.get(system.endpoint + f"/{bucket}/nokey"),                        # S3 403, anonymous
        requests.get(system.endpoint + "/buckets/x/objects/y", headers={"Authorization": "Bearer nope"}),
    ]
    for r in responses:
        rid = r.headers["x-amz-request-id"]
        assert re.fullmatch(r"[0-9A-F]{16}", rid) and r.headers["x-amz-id-2"]
        seen.add(rid)
    meta = s3.put_object(Bucket=bucket, Key="k", Body=b"v")["ResponseMetadata"]
    seen.add(meta["RequestId"])
    assert len(seen) == len(responses) + 1


def test_metrics_sum_over_workers(ops):
    """Requests spread over both workers; /metrics (answered by either) counts all of them."""
    before = samples(ops)
    ids: list[str] = []
    lock = threading.Lock()

    def hit():
        r = requests.get(ops.endpoint + "/buckets", headers={"Authorization": f"Bearer {ADMIN_API}",
                                                              "Connection": "close"})
        with lock:
            ids.append(r.headers["x-amz-request-id"])

    pids: set[str] = set()
    for _round in range(10):         # which worker accepts a connection is up to the kernel
        threads = [threading.Thread(target=hit) for _ in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        text = log_text(ops)
        pids = {m.group(1) for rid in ids for m in [re.search(r"\[(\d+)\] request_id=" + rid, text)] if m}
        if len(pids) == 2:
            break
    assert len(pids) == 2, "the requests did not reach both workers"
    n = len(ids)
    for _ in range(3):       # each scrape may land on either worker: all must agree
        after = samples(ops)
        key = dict(dialect="rest", operation="rest.list_buckets", status="200")
        assert value(after, "s3server_requests_total", **key) - value(before, "s3server_requests_total", **key) == n
        hist = dict(dialect="rest", operation="rest.list_buckets")
        assert value(after, "s3server_request_duration_seconds_count", **hist) - \
            value(before, "s3server_request_duration_seconds_count", **hist) == n
        assert value(after, "s3server_request_duration_seconds_bucket", le="+Inf", **hist) >= n


def test_metrics_bytes_and_operations(ops):
    s3 = ops.client()
    name = f"m-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    lookups = {r: value(samples(ops), "s3server_blob_cache_lookups_total", result=r) for r in ("hit", "miss")}
    s3.put_object(Bucket=name, Key="k", Body=b"x" * 8000)   # above S3_INLINE_MAX: read from nodes
    for _ in range(3):          # one keep-alive connection: one worker, which then has it cached
        s3.get_object(Bucket=name, Key="k")["Body"].read()
    try:
        s3.get_object(Bucket=name, Key="missing")
    except s3.exceptions.NoSuchKey:
        pass
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    samp = samples(ops)
    assert value(samp, "s3server_requests_total", dialect="s3", operation="PutObject", status="200") >= 1
    assert value(samp, "s3server_requests_total", dialect="s3", operation="GetObject", status="404") >= 1
    assert value(samp, "s3server_received_bytes_total", dialect="s3", operation="PutObject") >= 1000
    assert value(samp, "s3server_sent_bytes_total", dialect="s3", operation="GetObject") >= 1000
    for node in ("node-0", "node-1", "node-2"):
        assert value(samp, "s3server_storage_node_up", node=node) == 1.0
    assert ("s3server_blob_write_failures_total", ()) in samp
    assert value(samp, "s3server_blob_cache_lookups_total", result="miss") - lookups["miss"] >= 1
    assert value(samp, "s3server_blob_cache_lookups_total", result="hit") - lookups["hit"] >= 1


def test_access_log_line(ops):
    s3 = ops.client()
    name = f"l-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    meta = s3.put_object(Bucket=name, Key="a b", Body=b"12345")["ResponseMetadata"]
    url = s3.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "a b"})
    assert requests.get(url).content == b"12345"
    s3.delete_object(Bucket=name, Key="a b")
    s3.delete_bucket(Bucket=name)
    text = log_text(ops)
    line = next(ln for ln in text.splitlines() if f"request_id={meta['RequestId']}" in ln)
    for field in ("operation=PutObject", f"bucket={name}", "user=admin", "status=200", "bytes_in=5", "method=PUT",
                  "duration_ms=", "client=127.0.0.1"):
        assert field in line, (field, line)
    signature = re.search(r"(?:Signature|X-Amz-Signature)=([^&]+)", url).group(1)
    for secret in (signature, ADMIN_API, ops.client()._request_signer._credentials.secret_key):
        assert secret not in text


def test_ready_is_503_below_write_quorum(ops):
    nodes = ops.state["nodes"]
    ops.stop_node(0)
    try:
        r = requests.get(ops.endpoint + "/ready")
        assert r.status_code == 200 and r.json()["nodes"]["node-0"] is False   # 2 of 3: still a quorum
        ops.stop_node(1)
        r = requests.get(ops.endpoint + "/ready")
        assert r.status_code == 503 and r.json()["status"] == "unavailable"
        assert requests.get(ops.endpoint + "/health").status_code == 200        # alive all the same
        assert requests.get(nodes[2]["url"] + "/ready").status_code == 200
        with pytest.raises(requests.ConnectionError):
            requests.get(nodes[0]["url"] + "/health", timeout=2)
        samp = samples(ops)
        assert value(samp, "s3server_storage_node_up", node="node-0") == 0.0
        assert value(samp, "s3server_storage_node_up", node="node-2") == 1.0
        s3 = ops.client()
        name = f"q-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=name)
        with pytest.raises(Exception):
            s3.put_object(Bucket=name, Key="k", Body=b"no quorum")
        assert value(samples(ops), "s3server_blob_write_failures_total") >= 1
    finally:
        procs = [ops.start_node(i) for i in (0, 1)]
    assert procs
    assert requests.get(ops.endpoint + "/ready").status_code == 200
