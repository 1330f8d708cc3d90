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


def test_mixed_batch_keeps_per_key_order(system, s3, bucket):
    before = _all_blobs(system)
    for k in ("a", "b", "c", "ü %_+"):
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode() * 50)
    ours = _all_blobs(system) - before
    objects = [{"Key": "a"}, {"Key": "k" * 1100}, {"Key": "b", "VersionId": "v1"}, {"Key": "a"},
               {"Key": "missing"}, {"Key": "ü %_+"}, {"Key": "c", "VersionId": "null"}]
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})
    assert [d["Key"] for d in out["Deleted"]] == ["a", "a", "missing", "ü %_+", "c"]
    assert [(e["Key"][:3], e["Code"]) for e in out["Errors"]] == [
        ("kkk", "KeyTooLongError"), ("b", "NoSuchVersion")]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["b"]
    deadline = time.monotonic() + 10
    while len(_all_blobs(system) & ours) > 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(_all_blobs(system) & ours) == 1          # only b's blob is left


def test_a_full_batch_spans_several_statements(s3, bucket):
    present = [f"p/{i:03d}" for i in range(0, 1000, 37)]       # spread over both chunks
    for k in present:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    s3.put_object(Bucket=bucket, Key="zz-survivor", Body=b"s")
    keys = [f"p/{i:03d}" for i in range(1000)]
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert [d["Key"] for d in out["Deleted"]] == keys
    assert out.get("Errors", []) == []
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["zz-survivor"]


def test_metadata_outage_is_a_per_key_error_in_request_order():
    """No server: the service over a store whose database is gone (GuardedStore maps
    Unavailable to ServiceUnavailable, which each key of the failed batch reports)."""
    from datetime import datetime, timezone

    from s3server.meta.errors import Unavailable
    from s3server.models import Bucket, User
    from s3server.service.common import GuardedStore
    from s3server.service.delete import DeleteService, DeleteTarget

    now = datetime.now(timezone.utc)

    class DownStore:
        calls: list = []

        def get_bucket(self, name):
            return Bucket(name, 1, "us-east-1", now)

        def delete_objects(self, bucket, keys):
            self.calls.append(list(keys))
            raise Unavailable("connection refused")

    class Blobs:
        def delete_later(self, refs):
            raise AssertionError("nothing was deleted")

    store = DownStore()
    service = DeleteService(GuardedStore(store), Blobs())
    user = User(1, "owner", False, False, now)
    targets = [DeleteTarget("a"), DeleteTarget("b", "v1"), DeleteTarget("c"), DeleteTarget("k" * 1100),
               DeleteTarget("a")]
    out = service.delete_objects(user, "bkt", targets)
    assert store.calls == [["a", "c", "a"]]                  # one batch of the valid keys
    assert out.deleted == []
    assert [(k[:3], code) for k, code, _ in out.errors] == [
        ("a", "ServiceUnavailable"), ("b", "NoSuchVersion"), ("c", "ServiceUnavailable"),
        ("kkk", "KeyTooLongError"), ("a", "ServiceUnavailable")]
    assert out.errors[0][2] == "The metadata store is unavailable. Please retry."
