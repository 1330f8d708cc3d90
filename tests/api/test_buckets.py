"""Bucket operations through boto3 against the real system (both backends)."""
from __future__ import annotations

import uuid

import pytest
import requests
from botocore.exceptions import ClientError

from tests.sigv4util import sign


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def _name() -> str:
    return f"b-{uuid.uuid4().hex[:16]}"


def test_create_list_head_delete(s3):
    name = _name()
    r = s3.create_bucket(Bucket=name)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["Location"] == f"/{name}"
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name in names
    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    s3.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert _code(e) == "404"


def test_create_with_location_constraint(s3):
    name = _name()
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    s3.delete_bucket(Bucket=name)


def test_create_existing_bucket_is_owned_by_you(s3, bucket):
    """AWS: 409 BucketAlreadyOwnedByYou everywhere except us-east-1, where re-creating a bucket you
    own returns 200 OK for legacy compatibility."""
    assert s3.create_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    name = _name()
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert _code(e) == "BucketAlreadyOwnedByYou"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    s3.delete_bucket(Bucket=name)


@pytest.mark.parametrize("name", ["UpperCase", "a..b", "x" * 64, "ab", "192.168.1.1", "-abc", "abc-",
                                  "xn--abc", "buckets", "health", "ready", "metrics", "has_underscore"])
def test_invalid_bucket_names(s3, name):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name)
    assert _code(e) == "InvalidBucketName"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_delete_missing_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=_name())
    assert _code(e) == "NoSuchBucket"


def test_delete_non_empty_bucket(s3, bucket):
    s3.put_object(Bucket=bucket, Key="x", Body=b"1")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert _code(e) == "BucketNotEmpty"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_malformed_create_bucket_xml(system, s3):
    name = _name()
    url = f"{system.endpoint}/{name}"
    from tests.sigv4util import signed_request
    for body in (b"<CreateBucketConfiguration><LocationConstraint>", b"not xml at all",
                 b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                 b"<CreateBucketConfiguration><LocationConstraint>&e;</LocationConstraint></CreateBucketConfiguration>"):
        r = signed_request("PUT", url, body=body)
        assert r.status_code == 400, r.text
        assert "<Code>MalformedXML</Code>" in r.text
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_method_not_allowed(system):
    from tests.sigv4util import signed_request
    r = signed_request("POST", f"{system.endpoint}/{_name()}")
    assert r.status_code == 405
    assert "<Code>MethodNotAllowed</Code>" in r.text


def test_error_body_shape(system, s3):
    name = _name()
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=name)
    err = e.value.response["Error"]
    assert err["Code"] == "NoSuchBucket"
    assert err["BucketName"] == name
    assert e.value.response["ResponseMetadata"]["RequestId"]
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]


def test_unsigned_request_is_denied(system):
    r = requests.get(system.endpoint + "/")
    assert r.status_code == 403
    assert "<Code>AccessDenied</Code>" in r.text


def test_list_buckets_pages_and_filters(system, s3):
    import uuid as _uuid
    stem = f"lb-{_uuid.uuid4().hex[:8]}"
    names = [f"{stem}-{i}" for i in range(5)]
    for name in reversed(names):
        s3.create_bucket(Bucket=name)
    try:
        everything = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert [n for n in everything if n.startswith(stem)] == names           # by name
        page = s3.list_buckets(Prefix=stem, MaxBuckets=2)
        assert [b["Name"] for b in page["Buckets"]] == names[:2] and page["Prefix"] == stem
        seen, token = [], None
        while True:
            kw = {"Prefix": stem, "MaxBuckets": 2, **({"ContinuationToken": token} if token else {})}
            page = s3.list_buckets(**kw)
            seen += [b["Name"] for b in page["Buckets"]]
            token = page.get("ContinuationToken")
            if not token:
                break
        assert seen == names
        paged = [b["Name"] for p in s3.get_paginator("list_buckets").paginate(Prefix=stem, PaginationConfig={"PageSize": 3})
                 for b in p["Buckets"]]
        assert paged == names
        assert [b["Name"] for b in s3.list_buckets(Prefix=stem, BucketRegion="us-east-1")["Buckets"]] == names
        assert s3.list_buckets(Prefix=stem, BucketRegion="eu-west-1")["Buckets"] == []
        assert s3.list_buckets(Prefix=stem + "-9")["Buckets"] == []
        for bad in ("0", "10001", "x"):
            url = f"{system.endpoint}/?max-buckets={bad}"
            resp = requests.get(url, headers=sign("GET", url), timeout=10)
            assert resp.status_code == 400 and "<Code>InvalidArgument</Code>" in resp.text, bad
        url = f"{system.endpoint}/?continuation-token=%25%25%25"
        resp = requests.get(url, headers=sign("GET", url), timeout=10)
        assert resp.status_code == 400 and "<Code>InvalidArgument</Code>" in resp.text
    finally:
        for name in names:
            s3.delete_bucket(Bucket=name)
