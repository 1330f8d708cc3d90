"""Server-side encryption is not implemented: a request for it is refused (501) rather than the
object stored unencrypted while its client believes otherwise; SSE-C headers on a read are
InvalidRequest, since no object here is encrypted with a customer key."""
from __future__ import annotations

import os

import pytest
import requests
from botocore.exceptions import ClientError

from tests.sigv4util import sign

KEY = os.urandom(32)
SSE_C = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": KEY}


def error_of(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]


@pytest.mark.parametrize("sse", [{"ServerSideEncryption": "AES256"}, {"ServerSideEncryption": "aws:kms"},
                                 {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/mine"}, SSE_C],
                         ids=["sse-s3", "sse-kms", "sse-kms-key", "sse-c"])
def test_uploads_asking_for_encryption_are_refused(s3, bucket, sse):
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"secret", **sse)) == (501, "NotImplemented")
    assert error_of(lambda: s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "plain"},
                                           **sse)) == (501, "NotImplemented")
    assert error_of(lambda: s3.create_multipart_upload(Bucket=bucket, Key="m", **sse)) == (501, "NotImplemented")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["plain"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_an_unknown_method_is_invalid(system, bucket):
    url = f"{system.endpoint}/{bucket}/k"
    resp = requests.put(url, data=b"x", headers=sign("PUT", url, b"x", {"x-amz-server-side-encryption": "rot13"}),
                        timeout=10)
    assert resp.status_code == 400 and "<Code>InvalidArgument</Code>" in resp.text


def test_customer_keys_on_reads_are_not_applicable(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"plain")
    for call in (lambda: s3.get_object(Bucket=bucket, Key="k", **SSE_C),
                 lambda: s3.head_object(Bucket=bucket, Key="k", **SSE_C),
                 lambda: s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "k"},
                                        CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=KEY)):
        status, code = error_of(call)
        assert status == 400 and code in ("InvalidRequest", "400")          # HEAD: no body
    up = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    assert error_of(lambda: s3.upload_part(Bucket=bucket, Key="m", UploadId=up, PartNumber=1, Body=b"p",
                                           **SSE_C)) == (400, "InvalidRequest")
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=up)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"plain"


def test_a_form_upload_asking_for_encryption_is_refused(system, s3, bucket):
    post = system.client(signature_version="s3v4").generate_presigned_post(
        bucket, "f", Fields={"x-amz-server-side-encryption": "AES256"},
        Conditions=[{"x-amz-server-side-encryption": "AES256"}])
    resp = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"x")}, timeout=30)
    assert resp.status_code == 501 and "<Code>NotImplemented</Code>" in resp.text
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
