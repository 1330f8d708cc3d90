"""``s3server bench``: a tiny --compare-moto run end to end, and clear failures for bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from s3server.bench.runner import parse_size
from s3server.bench.sigv4 import Presigner
from tests.conftest import ADMIN_AK, ADMIN_SK, free_port


def bench(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "s3server", "bench", "--quiet", *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_parse_size():
    assert parse_size("4KiB") == 4096
    assert parse_size("8MiB") == 8 * 2**20
    assert parse_size("1GiB") == 2**30
    assert parse_size("10k") == 10_000
    with pytest.raises(ValueError):
        parse_size("lots")


def test_presigned_url_matches_botocore():
    """Our presigner and botocore's produce the same signature for the same request and time."""
    import calendar
    import time
    from urllib.parse import parse_qs, urlsplit

    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:9", aws_access_key_id="AK", aws_secret_access_key="SK",
                      region_name="us-east-1", config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    theirs = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "a b/c~d"}, ExpiresIn=3600)
    amz_date = parse_qs(urlsplit(theirs).query)["X-Amz-Date"][0]
    when = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    ours = Presigner("AK", "SK", host="127.0.0.1:9").presign("GET", "/b/a b/c~d", now=when)
    sig = lambda u: u.rsplit("X-Amz-Signature=", 1)[1]  # noqa: E731
    assert sig(ours) == sig(theirs), (ours, theirs)


def test_compare_moto_smoke(tmp_path):
    out = tmp_path / "bench.json"
    r = bench("--compare-moto", "--duration", "0.5", "--concurrency", "1,4", "--large-size", "8MiB",
              "--list-sizes", "200", "--json", str(out))
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout[-3000:]
    assert "| scenario" in r.stdout and "s3server" in r.stdout and "moto" in r.stdout
    assert "targets (issue 7" in r.stdout
    doc = json.loads(out.read_text())
    assert set(doc["results"]) == {"s3server", "moto"}
    for side in ("s3server", "moto"):
        res = doc["results"][side]
        for key in ("small_put_c4", "small_get_c4", "small_head_c4", "small_delete_c4", "mixed_c4", "list_200",
                    "list_10", "large_put", "large_get", "multipart"):
            assert key in res and "skipped" not in res[key], (side, key, res.get(key))
        assert res["small_put_c4"]["ops"] > 0 and res["small_get_c1"]["errors"] == 0
        # the DELETE loops delete what they were given, each key once (how many objects are added
        # beforehand, and whether a 0.5 s loop outlasts them, depends on this machine's speed at
        # the moment: not asserted)
        for dele in (res["small_delete_c1"], res["small_delete_c4"]):
            assert dele["ops"] > 0 and dele["errors"] == 0, dele
            assert dele["ops"] <= dele["objects_available"] and dele["objects_added"] <= dele["objects_available"], dele
        assert res["large_get"]["bytes"] == 8 * 2**20
    rows = {r["key"]: r for r in doc["table"]}
    assert rows["small_put_c4"]["ratio"] > 0 and rows["large_get"]["ratio"] > 0
    assert doc["machine"]["md5_mb_s"] > 0 and doc["machine"]["loopback_tcp_mb_s"] > 0
    assert doc["results"]["s3server"]["large_put"]["memory"]["max_node_growth_mib"] is not None
    assert {t["status"] for t in doc["targets"]} <= {"PASS", "MISS", "n/a"}
    # the nodes' /health told what their data directories are on (both the JSON and the header)
    from storage_node import fsinfo
    fs = fsinfo.describe(tmp_path)
    node_fs = doc["systems"]["s3server"]["node_filesystem"]
    assert node_fs.startswith(f"{fs.source} ({fs.fstype}") and "moto" not in node_fs
    assert f"storage nodes' data on {node_fs}" in r.stdout
    assert ("no journal" in node_fs) is (fs.journal is False)


def test_endpoint_with_serve_dir_reports_the_nodes(system, tmp_path):
    """Against a running `serve` (--endpoint, --serve-dir): memory and the nodes' file system come
    from its serve.json; the buckets the run made are deleted afterwards."""
    out = tmp_path / "bench.json"
    before = {b["Name"] for b in system.client().list_buckets()["Buckets"]}
    r = bench("--endpoint", system.endpoint, "--access-key", ADMIN_AK, "--secret-key", ADMIN_SK,
              "--serve-dir", str(system.data_dir), "--scenarios", "small", "--concurrency", "1",
              "--duration", "0.3", "--json", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(out.read_text())
    node_fs = doc["systems"]["endpoint"]["node_filesystem"]
    assert node_fs and f"storage nodes' data on {node_fs}" in r.stdout
    assert doc["results"]["endpoint"]["small_put_c1"]["ops"] > 0
    assert {b["Name"] for b in system.client().list_buckets()["Buckets"]} == before


def test_sse_encrypts_what_the_scenarios_upload(system, tmp_path):
    """--sse gives every bucket the run makes SSE-S3 default encryption: the objects it leaves
    (--keep) are encrypted, and the report says so."""
    out = tmp_path / "bench.json"
    before = {b["Name"] for b in system.client().list_buckets()["Buckets"]}
    r = bench("--endpoint", system.endpoint, "--access-key", ADMIN_AK, "--secret-key", ADMIN_SK, "--sse", "--keep",
              "--scenarios", "small", "--concurrency", "1", "--duration", "0.3", "--json", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(out.read_text())["settings"]["sse"] is True and "SSE-S3 default encryption" in r.stdout
    s3 = system.client()
    made = {b["Name"] for b in s3.list_buckets()["Buckets"]} - before
    assert len(made) == 1
    bucket = made.pop()
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0][
        "ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys and s3.head_object(Bucket=bucket, Key=keys[0])["ServerSideEncryption"] == "AES256"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.delete_bucket(Bucket=bucket)


def test_wrong_credentials_fail_clearly(system):
    r = bench("--endpoint", system.endpoint, "--access-key", ADMIN_AK, "--secret-key", "wrong-secret",
              "--scenarios", "small", "--duration", "0.5")
    assert r.returncode == 2
    assert "rejected the credentials" in r.stderr and "SignatureDoesNotMatch" in r.stderr, r.stderr
    r = bench("--endpoint", system.endpoint, "--access-key", "AKNOSUCHKEY000000000", "--secret-key", "x",
              "--scenarios", "small")
    assert r.returncode == 2 and "InvalidAccessKeyId" in r.stderr, r.stderr


def test_unreachable_endpoint_and_missing_arguments():
    r = bench("--endpoint", f"http://127.0.0.1:{free_port()}", "--access-key", "a", "--secret-key", "b")
    assert r.returncode == 2 and "cannot reach" in r.stderr
    r = bench("--scenarios", "small")
    assert r.returncode == 2 and "--compare-moto" in r.stderr
