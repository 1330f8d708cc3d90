"""Conditional deletes (AWS, general purpose buckets since September 2025): DeleteObject with
``If-Match`` (an ETag or ``*``), and DeleteObjects with an ``ETag`` per key, delete only an
unchanged object; a changed one is 412 PreconditionFailed and stays, a missing one 404 NoSuchKey.
``x-amz-if-match-size`` / ``x-amz-if-match-last-modified-time`` (and DeleteObjects' ``Size`` /
``LastModifiedTime``) are honoured the same way. Before, the conditions were ignored and the
object was deleted whatever it had become."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.sigv4util import signed_request


def error(exc_info) -> tuple[int, str]:
    r = exc_info.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def exists(s3, bucket, key) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError:
        return False


def test_if_match_etag(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"two")                  # changed since it was read
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)
    assert error(e) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    current = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    assert s3.delete_object(Bucket=bucket, Key="k", IfMatch=current)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert not exists(s3, bucket, "k")
    with pytest.raises(ClientError) as e:                                # gone: NoSuchKey, not 204
        s3.delete_object(Bucket=bucket, Key="k", IfMatch=current)
    assert error(e) == (404, "NoSuchKey")


def test_if_match_star_and_unquoted(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["ETag"]
    s3.put_object(Bucket=bucket, Key="k2", Body=b"y")
    s3.delete_object(Bucket=bucket, Key="k", IfMatch="*")
    assert not exists(s3, bucket, "k")
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key="k", IfMatch="*")
    assert error(e) == (404, "NoSuchKey")
    etag2 = s3.head_object(Bucket=bucket, Key="k2")["ETag"]
    s3.delete_object(Bucket=bucket, Key="k2", IfMatch=etag2.strip('"'))   # quotes are optional
    assert not exists(s3, bucket, "k2") and etag != etag2


def test_if_match_size_and_time(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"12345")
    head = s3.head_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key="k", IfMatchSize=4)
    assert error(e) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key="k", IfMatchLastModifiedTime="2001-01-01T00:00:00Z")
    assert error(e) == (412, "PreconditionFailed")
    assert exists(s3, bucket, "k")
    s3.delete_object(Bucket=bucket, Key="k", IfMatchSize=5, IfMatchLastModifiedTime=head["LastModified"])
    assert not exists(s3, bucket, "k")
    # a missing object passes a size or time condition (AWS: 204)
    assert s3.delete_object(Bucket=bucket, Key="k", IfMatchSize=5)["ResponseMetadata"]["HTTPStatusCode"] == 204


@pytest.mark.parametrize("header, value", [("x-amz-if-match-size", "abc"), ("x-amz-if-match-size", "-1"),
                                           ("x-amz-if-match-last-modified-time", "yesterday")])
def test_unparsable_conditions_are_400(system, s3, bucket, header, value):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    r = signed_request("DELETE", f"{system.endpoint}/{bucket}/k", headers={header: value})
    assert r.status_code == 400 and "<Code>InvalidArgument</Code>" in r.text, r.text
    assert exists(s3, bucket, "k")


def test_delete_objects_with_etags(s3, bucket):
    etags = {k: s3.put_object(Bucket=bucket, Key=k, Body=k.encode())["ETag"] for k in ("a", "b", "c", "d")}
    s3.put_object(Bucket=bucket, Key="b", Body=b"changed")
    head_d = s3.head_object(Bucket=bucket, Key="d")
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "a", "ETag": etags["a"]},
        {"Key": "b", "ETag": etags["b"]},                  # changed: refused
        {"Key": "c"},                                      # unconditional
        {"Key": "d", "Size": 1, "LastModifiedTime": head_d["LastModified"]},
        {"Key": "missing", "ETag": etags["a"]},
        {"Key": "e", "Size": 99},                          # missing, size only: deleted (nothing)
    ]})
    assert sorted(d["Key"] for d in out["Deleted"]) == ["a", "c", "d", "e"]
    assert sorted((e["Key"], e["Code"]) for e in out["Errors"]) == [("b", "PreconditionFailed"),
                                                                    ("missing", "NoSuchKey")]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["b"]
    assert s3.get_object(Bucket=bucket, Key="b")["Body"].read() == b"changed"


def test_delete_objects_bad_condition_is_malformed(system, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for bad in (b"<Size>big</Size>", b"<Size>-3</Size>", b"<LastModifiedTime>soon</LastModifiedTime>"):
        body = b"<Delete><Object><Key>k</Key>" + bad + b"</Object></Delete>"
        r = signed_request("POST", f"{system.endpoint}/{bucket}?delete", body=body)
        assert r.status_code == 400 and "<Code>MalformedXML</Code>" in r.text, r.text
    assert exists(s3, bucket, "k")
