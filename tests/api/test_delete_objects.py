"""DeleteObjects (POST ?delete) through boto3 and hand-signed requests against the real system."""
from __future__ import annotations

import base64
import hashlib
import time
import zlib

import pytest
from botocore.exceptions import ClientError

from tests.conftest import node_blob_ids
from tests.sigv4util import signed_request


def _code(e) -> str:
    return e.value.response["Error"]["Code"]


def _all_blobs(system) -> set[str]:
    return set().union(*(node_blob_ids(d) for d in system.node_dirs()))


def _body(keys, quiet=False) -> bytes:
    objs = "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
    q = "<Quiet>true</Quiet>" if quiet else ""
    return f'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{q}{objs}</Delete>'.encode()


def test_delete_three_and_a_missing_key_frees_blobs(system, s3, bucket):
    before = _all_blobs(system)
    keys = ["a", "b c", "ü/d"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode() * 100)
    s3.put_object(Bucket=bucket, Key="survivor", Body=b"s")
    ours = _all_blobs(system) - before
    assert len(ours) == 4
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys + ["missing"]]})
    assert sorted(d["Key"] for d in out["Deleted"]) == sorted(keys + ["missing"])
    assert out.get("Errors", []) == []
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["survivor"]
    survivor = s3.get_object(Bucket=bucket, Key="survivor")
    assert survivor["Body"].read() == b"s"
    deadline = time.monotonic() + 10
    while len(_all_blobs(system) & ours) > 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(_all_blobs(system) & ours) == 1          # only the survivor's blob is left


def test_quiet_mode(s3, bucket):
    s3.put_object(Bucket=bucket, Key="q", Body=b"x")
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "q"}, {"Key": "nope"}], "Quiet": True})
    assert "Deleted" not in out and out.get("Errors", []) == []
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_too_many_keys_is_malformed(system, s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]})
    assert _code(e) == "MalformedXML"
    for body in (b"", b"<Delete></Delete>", b"<Delete><Object><Key>a</Key>", b"<Other/>"):
        r = signed_request("POST", f"{system.endpoint}/{bucket}?delete", body=body)
        assert r.status_code == 400 and "<Code>MalformedXML</Code>" in r.text, body


def test_body_integrity(system, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = f"{system.endpoint}/{bucket}?delete"
    body = _body(["k"])
    bad_md5 = base64.b64encode(hashlib.md5(body + b" ").digest()).decode()
    r = signed_request("POST", url, body=body, headers={"Content-MD5": bad_md5})
    assert r.status_code == 400 and "<Code>BadDigest</Code>" in r.text
    bad_crc = base64.b64encode(zlib.crc32(body + b" ").to_bytes(4, "big")).decode()
    r = signed_request("POST", url, body=body, headers={"x-amz-checksum-crc32": bad_crc})
    assert r.status_code == 400 and "<Code>BadDigest</Code>" in r.text
    s3.head_object(Bucket=bucket, Key="k")                    # nothing was deleted
    good_md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    r = signed_request("POST", url, body=body, headers={"Content-MD5": good_md5})
    assert r.status_code == 200 and "<Deleted><Key>k</Key></Deleted>" in r.text
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    r = signed_request("POST", url, body=body)                 # no digest at all is fine too
    assert r.status_code == 200 and "<Deleted><Key>k</Key></Deleted>" in r.text
    # boto3's default: x-amz-checksum-crc32 instead of Content-MD5 (exercised by the other tests)


def test_per_key_errors(s3, bucket):
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k" * 1100}, {"Key": "fine"}]})
    assert [d["Key"] for d in out["Deleted"]] == ["fine"]
    assert [(e["Key"][:3], e["Code"]) for e in out["Errors"]] == [("kkk", "KeyTooLongError")]
