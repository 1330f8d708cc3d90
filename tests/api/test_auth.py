"""SigV4 over the wire: header and presigned forms, and each way a signature can be wrong."""
from __future__ import annotations

import datetime as dt
import hashlib

import boto3
import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ADMIN_AK, ADMIN_SK
from tests.sigv4util import sign


def _code(e) -> str:
    return e.value.response["Error"]["Code"]


def test_wrong_secret(system, bucket):
    bad = system.client(secret_key="wrong" + ADMIN_SK[5:])
    with pytest.raises(ClientError) as e:
        bad.list_objects_v2(Bucket=bucket)
    assert _code(e) == "SignatureDoesNotMatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unknown_access_key(system):
    with pytest.raises(ClientError) as e:
        system.client(access_key="AKNOSUCHKEY000000000").list_buckets()
    assert _code(e) == "InvalidAccessKeyId"


def test_tampered_signature(system, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    url = f"{system.endpoint}/{bucket}/k"
    headers = sign("GET", url)
    auth = headers["Authorization"]
    sig = auth.rsplit("Signature=", 1)[1]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    headers["Authorization"] = auth.replace(sig, flipped)
    r = requests.get(url, headers=headers)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text
    # a signed header changed after signing
    headers = sign("GET", url, headers={"x-amz-meta-x": "1"})
    headers["x-amz-meta-x"] = "2"
    r = requests.get(url, headers=headers)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text
    # a different path than the one signed
    headers = sign("GET", url)
    r = requests.get(url + "x", headers=headers)
    assert r.status_code == 403


def test_clock_skew(system, bucket, monkeypatch):
    """A request signed 20 minutes ago (botocore's clock moved back, not ours)."""
    import botocore.auth
    url = f"{system.endpoint}/{bucket}"
    req = AWSRequest(method="GET", url=url, headers={"x-amz-content-sha256": hashlib.sha256(b"").hexdigest()})
    old = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: old)
    S3SigV4Auth(Credentials(ADMIN_AK, ADMIN_SK), "s3", "us-east-1").add_auth(req)
    r = requests.get(url, headers=dict(req.headers.items()))
    assert r.status_code == 403, r.text
    assert "<Code>RequestTimeTooSkewed</Code>" in r.text
    assert "<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds>" in r.text


def test_presigned_get_put(system, s3, bucket):
    s3.put_object(Bucket=bucket, Key="p q+r.txt", Body=b"presigned body")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p q+r.txt"}, ExpiresIn=60)
    r = requests.get(url)
    assert r.status_code == 200 and r.content == b"presigned body"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"}, ExpiresIn=60)
    r = requests.put(put_url, data=b"uploaded")
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded"
    head_url = s3.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": "up"}, ExpiresIn=60)
    assert requests.head(head_url).status_code == 200
    # tampering with a presigned URL breaks it
    r = requests.get(url.replace("p%20q", "p%20z"))
    assert r.status_code == 403


def test_presigned_expired(system, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    signer = boto3.client("s3", endpoint_url=system.endpoint, aws_access_key_id=ADMIN_AK,
                          aws_secret_access_key=ADMIN_SK, region_name="us-east-1",
                          config=Config(signature_version="s3v4"))
    url = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=1)
    import time
    time.sleep(2.1)
    r = requests.get(url)
    assert r.status_code == 403
    assert "<Code>AccessDenied</Code>" in r.text and "Request has expired" in r.text
