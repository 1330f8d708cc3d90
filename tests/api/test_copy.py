"""CopyObject through boto3 against the real system (both metadata backends)."""
from __future__ import annotations

import base64
import hashlib
import os
import uuid
import zlib
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from tests.adminutil import new_user
from tests.sigv4util import signed_request

MiB = 1024 * 1024


def _code(e) -> str:
    return e.value.response["Error"]["Code"]


@pytest.mark.parametrize("key", ["plain", "with space", "ünï/ключ/😀", "a+b=c&d", "100%.csv"], ids=range(5))
def test_copy_same_and_cross_bucket(s3, bucket, key):
    body = os.urandom(3000)
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/x-src", Metadata={"a": "1"},
                  CacheControl="max-age=5")
    out = s3.copy_object(Bucket=bucket, Key=key + ".copy", CopySource={"Bucket": bucket, "Key": key})
    etag = f'"{hashlib.md5(body).hexdigest()}"'
    assert out["CopyObjectResult"]["ETag"] == etag
    got = s3.get_object(Bucket=bucket, Key=key + ".copy")
    assert got["Body"].read() == body and got["ETag"] == etag
    assert got["ContentType"] == "text/x-src" and got["Metadata"] == {"a": "1"} and got["CacheControl"] == "max-age=5"
    other = f"t-{uuid.uuid4().hex[:20]}"
    s3.create_bucket(Bucket=other)
    try:
        s3.copy_object(Bucket=other, Key="x", CopySource=f"{bucket}/{key}")   # botocore URL-encodes it
        assert s3.get_object(Bucket=other, Key="x")["Body"].read() == body
    finally:
        s3.delete_object(Bucket=other, Key="x")
        s3.delete_bucket(Bucket=other)


def test_copy_source_raw_forms(system, s3, bucket):
    """The header as other clients send it: leading slash or not, percent-encoded once."""
    s3.put_object(Bucket=bucket, Key="a b+c", Body=b"data")
    for i, source in enumerate([f"/{bucket}/a%20b%2Bc", f"{bucket}/a%20b%2Bc", f"/{bucket}/a%20b+c"]):
        r = signed_request("PUT", f"{system.endpoint}/{bucket}/dst{i}", headers={"x-amz-copy-source": source})
        assert r.status_code == 200, r.text
        assert b"<CopyObjectResult" in r.content
        assert s3.get_object(Bucket=bucket, Key=f"dst{i}")["Body"].read() == b"data"
    r = signed_request("PUT", f"{system.endpoint}/{bucket}/dst",
                       headers={"x-amz-copy-source": f"/{bucket}/a%20b%2Bc?versionId=3HL4kqtJlcpXroDTDmJ"})
    assert r.status_code == 400 and "<Code>InvalidArgument</Code>" in r.text
    r = signed_request("PUT", f"{system.endpoint}/{bucket}/dst", headers={"x-amz-copy-source": f"/{bucket}"})
    assert r.status_code == 400 and "<Code>InvalidArgument</Code>" in r.text


def test_metadata_directive_replace(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ContentType="text/old", Metadata={"old": "1"})
    s3.copy_object(Bucket=bucket, Key="k2", CopySource=f"{bucket}/k", MetadataDirective="REPLACE",
                   ContentType="text/new", Metadata={"new": "2"}, ContentDisposition="inline")
    head = s3.head_object(Bucket=bucket, Key="k2")
    assert head["ContentType"] == "text/new" and head["Metadata"] == {"new": "2"}
    assert head["ContentDisposition"] == "inline"
    # COPY ignores the request's metadata
    s3.copy_object(Bucket=bucket, Key="k3", CopySource=f"{bucket}/k", ContentType="text/ignored",
                   Metadata={"ignored": "1"})
    head = s3.head_object(Bucket=bucket, Key="k3")
    assert head["ContentType"] == "text/old" and head["Metadata"] == {"old": "1"}


def test_copy_onto_itself(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"v": "1"})
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="k", CopySource=f"{bucket}/k")
    assert _code(e) == "InvalidRequest"
    assert "copy an object to itself" in e.value.response["Error"]["Message"]
    s3.copy_object(Bucket=bucket, Key="k", CopySource=f"{bucket}/k", MetadataDirective="REPLACE",
                   Metadata={"v": "2"})
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == {"v": "2"}
    s3.copy_object(Bucket=bucket, Key="k", CopySource=f"{bucket}/k", StorageClass="STANDARD_IA")
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["StorageClass"] == "STANDARD_IA" and head["Metadata"] == {"v": "2"}
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_copy_source_preconditions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    head = s3.head_object(Bucket=bucket, Key="k")
    etag, lm = head["ETag"], head["LastModified"]
    past, future = lm - timedelta(days=1), lm + timedelta(days=1)
    ok = [
        {"CopySourceIfMatch": etag},
        {"CopySourceIfMatch": etag.strip('"')},
        {"CopySourceIfNoneMatch": '"other"'},
        {"CopySourceIfModifiedSince": past},
        {"CopySourceIfUnmodifiedSince": future},
        # AWS: if-match true + if-unmodified-since false -> copy
        {"CopySourceIfMatch": etag, "CopySourceIfUnmodifiedSince": past},
    ]
    for i, kw in enumerate(ok):
        s3.copy_object(Bucket=bucket, Key=f"ok{i}", CopySource=f"{bucket}/k", **kw)
    failing = [
        {"CopySourceIfMatch": '"other"'},
        {"CopySourceIfNoneMatch": etag},
        {"CopySourceIfModifiedSince": future},
        {"CopySourceIfUnmodifiedSince": past},
        # AWS: if-none-match false + if-modified-since true -> 412
        {"CopySourceIfNoneMatch": etag, "CopySourceIfModifiedSince": past},
    ]
    for kw in failing:
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="bad", CopySource=f"{bucket}/k", **kw)
        assert _code(e) == "PreconditionFailed", kw
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad")


def test_missing_source_and_access(system, s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d", CopySource=f"{bucket}/missing")
    assert _code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d", CopySource=f"nonexistent-{uuid.uuid4().hex[:10]}/k")
    assert _code(e) == "NoSuchBucket"
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    made = new_user(system)
    other = system.client(made["access_key"], made["secret_key"])
    theirs = f"t-{uuid.uuid4().hex[:20]}"
    other.create_bucket(Bucket=theirs)
    try:
        with pytest.raises(ClientError) as e:      # the source bucket is not theirs
            other.copy_object(Bucket=theirs, Key="stolen", CopySource=f"{bucket}/k")
        assert _code(e) == "AccessDenied"
        other.put_object(Bucket=theirs, Key="t", Body=b"t")
        with pytest.raises(ClientError) as e:      # the destination bucket is not theirs
            other.copy_object(Bucket=bucket, Key="x", CopySource=f"{theirs}/t")
        assert _code(e) == "AccessDenied"
    finally:
        other.delete_object(Bucket=theirs, Key="t")
        other.delete_bucket(Bucket=theirs)


def test_copy_of_multipart_object(s3, bucket):
    parts = [os.urandom(5 * MiB), os.urandom(100)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    done = [{"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=n,
                                                     Body=p)["ETag"]} for n, p in enumerate(parts, 1)]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": done})
    out = s3.copy_object(Bucket=bucket, Key="mp.copy", CopySource=f"{bucket}/mp")
    whole = b"".join(parts)
    assert out["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(whole).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="mp.copy", ChecksumMode="ENABLED")
    assert got["Body"].read() == whole
    assert "PartsCount" not in s3.head_object(Bucket=bucket, Key="mp.copy")


def test_copy_keeps_checksum_algorithm(s3, bucket):
    body = os.urandom(2000)
    s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm="SHA256")
    out = s3.copy_object(Bucket=bucket, Key="k2", CopySource=f"{bucket}/k")
    want = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert out["CopyObjectResult"]["ChecksumSHA256"] == want
    out = s3.copy_object(Bucket=bucket, Key="k3", CopySource=f"{bucket}/k", ChecksumAlgorithm="CRC32")
    assert out["CopyObjectResult"]["ChecksumCRC32"] == base64.b64encode(
        zlib.crc32(body).to_bytes(4, "big")).decode()
    head = s3.head_object(Bucket=bucket, Key="k3", ChecksumMode="ENABLED")
    assert "ChecksumCRC32" in head and datetime.now(timezone.utc) - head["LastModified"] < timedelta(minutes=5)


def test_copy_empty_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    out = s3.copy_object(Bucket=bucket, Key="empty2", CopySource=f"{bucket}/empty")
    assert out["CopyObjectResult"]["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    assert s3.get_object(Bucket=bucket, Key="empty2")["Body"].read() == b""


def test_conditional_copy_of_the_destination(s3, bucket):
    """CopyObject's If-None-Match: * and If-Match apply to the destination, as PutObject's do;
    before, they were ignored and the copy overwrote whatever was there."""
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    dst_etag = s3.put_object(Bucket=bucket, Key="dst", Body=b"destination")["ETag"]
    src = {"Bucket": bucket, "Key": "src"}
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=src, IfNoneMatch="*")
    assert e.value.response["Error"]["Code"] == "PreconditionFailed"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=src, IfMatch='"0123456789abcdef0123456789abcdef"')
    assert e.value.response["Error"]["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"destination"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="missing", CopySource=src, IfMatch=dst_etag)
    assert e.value.response["Error"]["Code"] == "NoSuchKey"
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=src, IfMatch=dst_etag)
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"source"
    s3.copy_object(Bucket=bucket, Key="new", CopySource=src, IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="new")["Body"].read() == b"source"
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == ["dst", "new", "src"]
