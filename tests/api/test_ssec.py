"""SSE-C: server-side encryption with customer-provided keys (``SSECustomerAlgorithm`` /
``SSECustomerKey`` in boto3). The key comes with every request and is never stored: each blob's
data key is sealed under it, so a read without it is InvalidRequest and with another key
AccessDenied, and the stored bytes are ciphertext. As AWS requires, only over HTTPS: these tests
use the https system (``serve`` with a certificate), one per backend, and a system behind a
trusted TLS-terminating proxy (``X-Forwarded-Proto``). moto has no SSE-C, so there is no
conformance scenario; the behaviour follows the AWS S3 User Guide ("Using server-side encryption
with customer-provided keys")."""
from __future__ import annotations

import base64
import hashlib
import os
import time
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ADMIN_AK, ADMIN_API, ADMIN_SK, ServeProcess
from tests.sigv4util import sign

MiB = 1024 * 1024


def new_key() -> tuple[bytes, dict]:
    key = os.urandom(32)
    return key, {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def source(key: bytes) -> dict:
    return {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": key}


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def error_of(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]


@pytest.fixture
def s3(tls_s3):
    return tls_s3


@pytest.fixture
def bucket(tls_s3):
    name = f"ssec-{os.urandom(8).hex()}"
    tls_s3.create_bucket(Bucket=name)
    yield name
    for o in tls_s3.list_objects_v2(Bucket=name).get("Contents", []):
        tls_s3.delete_object(Bucket=name, Key=o["Key"])
    for u in tls_s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        tls_s3.abort_multipart_upload(Bucket=name, Key=u["Key"], UploadId=u["UploadId"])
    tls_s3.delete_bucket(Bucket=name)


@pytest.mark.parametrize("size", [0, 4, 3000, 100_000, 6 * MiB + 3], ids=["empty", "tiny", "inline-size", "100k", "6mib"])
def test_round_trip_ranges_and_answers(s3, bucket, size):
    key, sse_c = new_key()
    body = os.urandom(size)
    put = s3.put_object(Bucket=bucket, Key="k", Body=body, **sse_c)
    assert (put["SSECustomerAlgorithm"], put["SSECustomerKeyMD5"]) == ("AES256", md5_b64(key))
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'          # of the plaintext, as AWS
    assert "ServerSideEncryption" not in put
    got = s3.get_object(Bucket=bucket, Key="k", **sse_c)
    assert got["Body"].read() == body and got["SSECustomerKeyMD5"] == md5_b64(key)
    head = s3.head_object(Bucket=bucket, Key="k", **sse_c)
    assert head["ContentLength"] == size and head["SSECustomerAlgorithm"] == "AES256"
    for start, end in ((0, 0), (5, 17), (15, 16), (size // 2, size - 1)):
        if size and end < size and start <= end:
            r = s3.get_object(Bucket=bucket, Key="k", Range=f"bytes={start}-{end}", **sse_c)
            assert r["Body"].read() == body[start:end + 1], (start, end)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]   # listing needs no key


def test_without_the_key_or_with_another(s3, bucket):
    key, sse_c = new_key()
    _, other = new_key()
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret", **sse_c)
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="k")) == (400, "InvalidRequest")
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="k")) == (400, "400")         # HEAD: no body
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="k", **other)) == (403, "AccessDenied")
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="k", **other)) == (403, "403")
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="k", Range="bytes=0-1", **other)) == (403, "AccessDenied")
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="plain", **sse_c)) == (400, "InvalidRequest")
    kb64 = base64.b64encode(key).decode()
    assert error_of(lambda: s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])) == (
        400, "InvalidRequest")
    attrs = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"],
                                     SSECustomerAlgorithm="AES256", SSECustomerKey=kb64,
                                     SSECustomerKeyMD5=md5_b64(key))
    assert attrs["ObjectSize"] == 6
    # what needs no key: tags, ACL, delete
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [{"Key": "a", "Value": "b"}]
    s3.get_object_acl(Bucket=bucket, Key="k")
    s3.delete_object(Bucket=bucket, Key="k")
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="k", **sse_c)) == (404, "NoSuchKey")


def test_stored_bytes_are_ciphertext(tls_system, s3, bucket):
    """A marker repeated through the body is found nowhere in the data directory: node blobs,
    temp files, the SQLite database (no inline copy is kept for an SSE-C object)."""
    since = time.time() - 2
    marker = os.urandom(16).hex().encode()
    _, sse_c = new_key()
    for size in (2000, 300_000):
        body = (marker * (size // len(marker) + 1))[:size]
        s3.put_object(Bucket=bucket, Key=f"m{size}", Body=body, **sse_c)
        assert s3.get_object(Bucket=bucket, Key=f"m{size}", **sse_c)["Body"].read() == body
    for path in Path(tls_system.data_dir).rglob("*"):
        try:
            if path.is_file() and path.stat().st_mtime >= since:
                assert marker not in path.read_bytes(), path
        except OSError:
            continue


def test_copies_between_keys_and_kinds(s3, bucket):
    key, sse_c = new_key()
    key2, sse_c2 = new_key()
    _, wrong = new_key()
    body = os.urandom(200_000)
    s3.put_object(Bucket=bucket, Key="enc", Body=body, **sse_c)
    s3.put_object(Bucket=bucket, Key="plain", Body=body)
    src = {"Bucket": bucket, "Key": "enc"}
    # the source needs its key to be read
    assert error_of(lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource=src)) == (400, "InvalidRequest")
    assert error_of(lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource=src,
                                           CopySourceSSECustomerAlgorithm="AES256",
                                           CopySourceSSECustomerKey=wrong["SSECustomerKey"])) == (403, "AccessDenied")
    s3.copy_object(Bucket=bucket, Key="to-plain", CopySource=src, **source(key))
    assert s3.get_object(Bucket=bucket, Key="to-plain")["Body"].read() == body
    s3.copy_object(Bucket=bucket, Key="to-sse-s3", CopySource=src, ServerSideEncryption="AES256", **source(key))
    got = s3.get_object(Bucket=bucket, Key="to-sse-s3")
    assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == body
    out = s3.copy_object(Bucket=bucket, Key="plain-to-enc", CopySource={"Bucket": bucket, "Key": "plain"}, **sse_c2)
    assert out["SSECustomerKeyMD5"] == md5_b64(key2)
    assert s3.get_object(Bucket=bucket, Key="plain-to-enc", **sse_c2)["Body"].read() == body
    # a new key for the same object: a copy onto itself (AWS's way to rotate an SSE-C key)
    s3.copy_object(Bucket=bucket, Key="enc", CopySource=src, **source(key), **sse_c2)
    assert s3.get_object(Bucket=bucket, Key="enc", **sse_c2)["Body"].read() == body
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="enc", **sse_c)) == (403, "AccessDenied")


def test_multipart_upload_with_a_customer_key(s3, bucket):
    key, sse_c = new_key()
    _, other = new_key()
    src_key, src_sse_c = new_key()
    part1, copied = os.urandom(5 * MiB + 11), os.urandom(300_000)
    s3.put_object(Bucket=bucket, Key="src", Body=copied, **src_sse_c)
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", **sse_c)
    assert up["SSECustomerKeyMD5"] == md5_b64(key)
    uid = up["UploadId"]
    assert error_of(lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=part1)) == (
        400, "InvalidRequest")
    assert error_of(lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=part1,
                                           **other)) == (400, "InvalidRequest")
    p1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=part1, **sse_c)
    assert p1["SSECustomerKeyMD5"] == md5_b64(key)
    p2 = s3.upload_part_copy(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange="bytes=100-199999",
                             **source(src_key), **sse_c)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]})
    whole = part1 + copied[100:200000]
    assert s3.get_object(Bucket=bucket, Key="mp", **sse_c)["Body"].read() == whole
    edge = len(part1)
    r = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={edge - 5}-{edge + 5}", **sse_c)
    assert r["Body"].read() == whole[edge - 5:edge + 6]                       # across the parts
    assert s3.get_object(Bucket=bucket, Key="mp", PartNumber=2, **sse_c)["Body"].read() == copied[100:200000]
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="mp")) == (400, "InvalidRequest")
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="mp", **other)) == (403, "AccessDenied")
    # a plain upload's parts take no key
    plain = s3.create_multipart_upload(Bucket=bucket, Key="plain-mp")["UploadId"]
    assert error_of(lambda: s3.upload_part(Bucket=bucket, Key="plain-mp", UploadId=plain, PartNumber=1,
                                           Body=b"p", **sse_c)) == (400, "InvalidRequest")


def _raw_put(endpoint: str, cert: str, bucket: str, headers: dict) -> tuple[int, str]:
    url = f"{endpoint}/{bucket}/bad"
    r = requests.put(url, data=b"x", headers=sign("PUT", url, b"x", headers), timeout=10, verify=cert)
    code = r.text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in r.text else ""
    return r.status_code, code


@pytest.mark.parametrize("headers, expected", [
    ({"key": "K", "key-md5": "wrong"}, (400, "InvalidArgument")),                # MD5 does not match
    ({"key": base64.b64encode(b"short").decode(), "key-md5": md5_b64(b"short")}, (400, "InvalidArgument")),
    ({"key": "not base64!", "key-md5": "x"}, (400, "InvalidArgument")),
    ({"algorithm": "AES128"}, (400, "InvalidEncryptionAlgorithmError")),
    ({"key-md5": None}, (400, "InvalidArgument")),                              # no MD5
    ({"key": None}, (400, "InvalidArgument")),                                  # no key
    ({"algorithm": None}, (400, "InvalidArgument")),                            # no algorithm
    ({"x-amz-server-side-encryption": "AES256"}, (400, "InvalidArgument")),     # SSE-S3 as well
    ({"x-amz-server-side-encryption-aws-kms-key-id": "alias/k"}, (400, "InvalidArgument")),
], ids=["md5-mismatch", "short-key", "not-base64", "algorithm", "no-md5", "no-key", "no-algorithm", "with-sse-s3",
        "with-kms-key"])
def test_bad_customer_key_headers_store_nothing(tls_system, tls_cert, s3, bucket, headers, expected):
    key = os.urandom(32)
    sent = {"algorithm": "AES256", "key": base64.b64encode(key).decode(), "key-md5": md5_b64(key)}
    extra = {}
    for name, value in headers.items():
        if name.startswith("x-amz-"):
            extra[name] = value
        elif value is None:
            sent.pop(name)
        else:
            sent[name] = value
    if sent.get("key") == "K":
        sent["key"] = base64.b64encode(key).decode()
    hdrs = {f"x-amz-server-side-encryption-customer-{n}": v for n, v in sent.items()}
    assert _raw_put(tls_system.endpoint, str(tls_cert[0]), bucket, {**hdrs, **extra}) == expected
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_json_api_download_of_an_ssec_object_is_refused(tls_system, tls_cert, s3, bucket):
    """The JSON REST API has no way to pass a customer key: its download is refused, not garbled."""
    _, sse_c = new_key()
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret", **sse_c)
    s3.put_object(Bucket=bucket, Key="p", Body=b"plain")
    base = f"{tls_system.endpoint}/buckets/{bucket}/objects"
    auth = {"Authorization": f"Bearer {ADMIN_API}"}
    assert requests.get(f"{base}/p", headers=auth, verify=str(tls_cert[0]), timeout=10).content == b"plain"
    r = requests.get(f"{base}/k", headers=auth, verify=str(tls_cert[0]), timeout=10)
    assert r.status_code == 400 and b"secret" not in r.content


def test_behind_a_trusted_tls_proxy(tmp_path):
    """Behind a TLS-terminating proxy listed in S3_TRUSTED_PROXIES, ``X-Forwarded-Proto: https``
    makes a request secure (the same header from a peer that is not a trusted proxy does not:
    test_encryption.py's test_customer_keys_over_plain_http_are_refused)."""
    serve = ServeProcess(tmp_path / "data", env={"S3_TRUSTED_PROXIES": "127.0.0.1"}).start()
    try:
        s3 = boto3.client("s3", endpoint_url=serve.endpoint, aws_access_key_id=ADMIN_AK,
                          aws_secret_access_key=ADMIN_SK, region_name="us-east-1",
                          config=Config(retries={"max_attempts": 1}))
        s3.create_bucket(Bucket="proxied")
        _, sse_c = new_key()
        assert error_of(lambda: s3.put_object(Bucket="proxied", Key="k", Body=b"x", **sse_c)) == (
            400, "InvalidRequest")                                   # plain HTTP, no proxy header
        s3.meta.events.register("before-send.s3", lambda request, **kw: request.headers.__setitem__(
            "X-Forwarded-Proto", "https"))
        s3.put_object(Bucket="proxied", Key="k", Body=b"x", **sse_c)
        assert s3.get_object(Bucket="proxied", Key="k", **sse_c)["Body"].read() == b"x"
    finally:
        serve.stop()


def test_a_form_upload_with_a_customer_key(tls_system, tls_cert, s3, bucket):
    """PostObject with the SSE-C fields (signed into the policy like any field): the file is
    stored under the customer's key; without it, it cannot be read."""
    key, sse_c = new_key()
    fields = {"x-amz-server-side-encryption-customer-algorithm": "AES256",
              "x-amz-server-side-encryption-customer-key": base64.b64encode(key).decode(),
              "x-amz-server-side-encryption-customer-key-MD5": md5_b64(key)}
    post = s3.generate_presigned_post(bucket, "form.bin", Fields=fields,
                                      Conditions=[{k: v} for k, v in fields.items()], ExpiresIn=300)
    body = os.urandom(70_000)
    r = requests.post(post["url"], data=post["fields"], files={"file": ("form.bin", body)},
                      verify=str(tls_cert[0]), timeout=30)
    assert r.status_code == 204, r.text
    assert r.headers["x-amz-server-side-encryption-customer-algorithm"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="form.bin", **sse_c)["Body"].read() == body
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="form.bin")) == (400, "InvalidRequest")
    bad = dict(fields, **{"x-amz-server-side-encryption-customer-key-MD5": md5_b64(b"other")})
    post = s3.generate_presigned_post(bucket, "bad.bin", Fields=bad, Conditions=[{k: v} for k, v in bad.items()],
                                      ExpiresIn=300)
    r = requests.post(post["url"], data=post["fields"], files={"file": ("bad.bin", b"x")},
                      verify=str(tls_cert[0]), timeout=30)
    assert r.status_code == 400 and "<Code>InvalidArgument</Code>" in r.text
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["form.bin"]
