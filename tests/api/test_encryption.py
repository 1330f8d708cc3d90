"""Server-side encryption: SSE-S3 (``x-amz-server-side-encryption: AES256``, or a bucket's
default encryption) stores the data encrypted on the nodes (``serve`` makes a master key in its
data directory) and reads it back decrypted, whole or in ranges; SSE-KMS is refused (501) rather
than the object stored otherwise than its client believes; SSE-C over plain HTTP is refused
(SSE-C itself: test_ssec.py)."""
from __future__ import annotations

import base64
import hashlib
import os
import time
from io import BytesIO
from pathlib import Path

import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.conftest import ADMIN_API
from tests.sigv4util import sign

KEY = os.urandom(32)
SSE_C = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": KEY}
SSE = {"ServerSideEncryption": "AES256"}
MiB = 1024 * 1024


def error_of(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]


def sse_of(resp: dict) -> str | None:
    return resp["ResponseMetadata"]["HTTPHeaders"].get("x-amz-server-side-encryption")


def marked(size: int) -> tuple[bytes, bytes]:
    """A body of ``size`` bytes made of one random 32-byte marker repeated (to search the disks for)."""
    marker = os.urandom(16).hex().encode()
    return marker, (marker * (size // len(marker) + 1))[:size]


@pytest.fixture
def since() -> float:
    """When the test began: files older than that hold other tests' data, not looked at."""
    return time.time() - 2


def stored_anywhere(data_dir: Path, marker: bytes, since: float) -> bool:
    """Whether ``marker`` is in any file of the system's data directory (node blobs, temp files,
    the SQLite metadata database and its WAL) written since ``since``."""
    for path in Path(data_dir).rglob("*"):
        try:
            if path.is_file() and path.stat().st_mtime >= since and marker in path.read_bytes():
                return True
        except OSError:          # a temp file renamed or removed while we looked
            continue
    return False


@pytest.mark.parametrize("size", [3000, 100 * 1024], ids=["batched-inline-size", "streamed"])
def test_sse_s3_data_is_encrypted_on_disk_and_read_back(system, s3, bucket, size, since):
    marker, body = marked(size)
    put = s3.put_object(Bucket=bucket, Key="enc", Body=body, **SSE)
    assert sse_of(put) == "AES256" and put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    head = s3.head_object(Bucket=bucket, Key="enc")
    assert head["ServerSideEncryption"] == "AES256" and head["ContentLength"] == size
    got = s3.get_object(Bucket=bucket, Key="enc", ChecksumMode="ENABLED")
    assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == body
    for first, last in ((0, 0), (1, 16), (15, 33), (16, 31), (size - 17, size - 1), (size // 2, size - 1)):
        part = s3.get_object(Bucket=bucket, Key="enc", Range=f"bytes={first}-{last}")
        assert part["Body"].read() == body[first:last + 1], (first, last)
    assert s3.get_object(Bucket=bucket, Key="enc", Range="bytes=-5")["Body"].read() == body[-5:]
    rest = requests.get(f"{system.endpoint}/buckets/{bucket}/objects/enc",            # the JSON REST route
                        headers={"Authorization": f"Bearer {ADMIN_API}"}, timeout=30)
    assert rest.status_code == 200 and rest.content == body
    if system.backend == "sqlite":       # the metadata database is in the data directory too
        assert not stored_anywhere(system.data_dir, marker, since)
    else:
        assert not any(stored_anywhere(d, marker, since) for d in system.node_dirs())
    # the search finds what is stored as sent
    plain_marker, plain = marked(size)
    s3.put_object(Bucket=bucket, Key="plain", Body=plain)
    assert sse_of(s3.head_object(Bucket=bucket, Key="plain")) is None
    assert any(stored_anywhere(d, plain_marker, since) for d in system.node_dirs())


def test_overwrites_and_copies_are_encrypted_as_their_request_asks(system, s3, bucket, since):
    marker, body = marked(20000)
    s3.put_object(Bucket=bucket, Key="k", Body=body, **SSE)
    s3.put_object(Bucket=bucket, Key="k", Body=b"now plain")
    assert sse_of(s3.head_object(Bucket=bucket, Key="k")) is None
    s3.put_object(Bucket=bucket, Key="src", Body=body, **SSE)
    out = s3.copy_object(Bucket=bucket, Key="decrypted", CopySource={"Bucket": bucket, "Key": "src"})
    assert sse_of(out) is None and out["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="decrypted")["Body"].read() == body
    assert any(stored_anywhere(d, marker, since) for d in system.node_dirs())        # the plain copy
    marker2, body2 = marked(20000)
    s3.put_object(Bucket=bucket, Key="plain", Body=body2)
    out = s3.copy_object(Bucket=bucket, Key="encrypted", CopySource={"Bucket": bucket, "Key": "plain"}, **SSE)
    assert sse_of(out) == "AES256"
    got = s3.get_object(Bucket=bucket, Key="encrypted")
    assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == body2
    # a copy onto itself that changes only the encryption is allowed (and encrypts in place)
    assert sse_of(s3.copy_object(Bucket=bucket, Key="plain", CopySource={"Bucket": bucket, "Key": "plain"},
                                 **SSE)) == "AES256"
    s3.delete_object(Bucket=bucket, Key="encrypted")
    assert s3.get_object(Bucket=bucket, Key="plain")["Body"].read() == body2
    assert sse_of(s3.head_object(Bucket=bucket, Key="plain")) == "AES256"


def test_multipart_upload_with_sse_s3(system, s3, bucket, since):
    """Every part is encrypted under a key of its own; ranges across part boundaries decrypt;
    a part copied from a plain object is encrypted too; boto3's managed transfer with
    ExtraArgs works."""
    marker, p1 = marked(5 * MiB)
    _, p2 = marked(1 * MiB + 123)
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", **SSE)
    assert sse_of(up) == "AES256"
    r1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=p1)
    assert sse_of(r1) == "AES256"
    s3.put_object(Bucket=bucket, Key="plain-src", Body=p2)
    r2 = s3.upload_part_copy(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "plain-src"})
    assert sse_of(r2) == "AES256"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": r1["ETag"]}, {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]})
    assert sse_of(done) == "AES256"
    whole = p1 + p2
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == whole
    lo, hi = 5 * MiB - 1000, 5 * MiB + 999
    assert s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={lo}-{hi}")["Body"].read() == whole[lo:hi + 1]
    assert s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)["Body"].read() == p2
    # boto3's managed transfer: CreateMultipartUpload carries the header, the parts do not
    cfg = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3.upload_fileobj(BytesIO(whole), bucket, "managed", ExtraArgs=SSE, Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="managed")
    assert head["ServerSideEncryption"] == "AES256" and head["ETag"].endswith('-2"')
    assert hashlib.md5(s3.get_object(Bucket=bucket, Key="managed")["Body"].read()).digest() == \
        hashlib.md5(whole).digest()
    assert not any(stored_anywhere(d, marker, since) for d in system.node_dirs())     # p1 was only sent encrypted


def test_a_form_upload_with_sse_s3(system, s3, bucket, since):
    marker, body = marked(5000)
    post = system.client(signature_version="s3v4").generate_presigned_post(
        bucket, "f", Fields={"x-amz-server-side-encryption": "AES256"},
        Conditions=[{"x-amz-server-side-encryption": "AES256"}])
    resp = requests.post(post["url"], data=post["fields"], files={"file": ("f", body)}, timeout=30)
    assert resp.status_code == 204 and resp.headers["x-amz-server-side-encryption"] == "AES256"
    got = s3.get_object(Bucket=bucket, Key="f")
    assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == body
    assert not any(stored_anywhere(d, marker, since) for d in system.node_dirs())


@pytest.mark.parametrize("sse", [{"ServerSideEncryption": "aws:kms"},
                                 {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/mine"},
                                 {"ServerSideEncryption": "aws:kms:dsse"}],
                         ids=["sse-kms", "sse-kms-key", "dsse-kms"])
def test_uploads_asking_for_kms_are_refused(s3, bucket, sse):
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"secret", **sse)) == (501, "NotImplemented")
    assert error_of(lambda: s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "plain"},
                                           **sse)) == (501, "NotImplemented")
    assert error_of(lambda: s3.create_multipart_upload(Bucket=bucket, Key="m", **sse)) == (501, "NotImplemented")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["plain"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_aes256_with_a_kms_key_id_is_invalid(s3, bucket):
    """AWS: a KMS key id needs x-amz-server-side-encryption: aws:kms."""
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256",
                                          SSEKMSKeyId="alias/mine")) == (400, "InvalidArgument")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


@pytest.mark.parametrize("method", ["rot13", "aes256", ""])
def test_an_unknown_method_is_invalid(system, bucket, s3, method):
    url = f"{system.endpoint}/{bucket}/k"
    resp = requests.put(url, data=b"x", headers=sign("PUT", url, b"x", {"x-amz-server-side-encryption": method}),
                        timeout=10)
    assert resp.status_code == 400 and "<Code>InvalidArgument</Code>" in resp.text
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_customer_keys_over_plain_http_are_refused(s3, bucket):
    """SSE-C sends the key with every request: as AWS, only over HTTPS (tests/api/test_ssec.py);
    over plain HTTP every request carrying one is refused and nothing is stored."""
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="c", Body=b"secret", **SSE_C)) == (400, "InvalidRequest")
    assert error_of(lambda: s3.create_multipart_upload(Bucket=bucket, Key="m", **SSE_C)) == (400, "InvalidRequest")
    # X-Forwarded-Proto counts only from a proxy in S3_TRUSTED_PROXIES (none here)
    s3.meta.events.register("before-send.s3", lambda request, **kw: request.headers.__setitem__(
        "X-Forwarded-Proto", "https"))
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="c", Body=b"secret", **SSE_C)) == (400, "InvalidRequest")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
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


def test_a_form_upload_asking_for_kms_is_refused(system, s3, bucket):
    post = system.client(signature_version="s3v4").generate_presigned_post(
        bucket, "f", Fields={"x-amz-server-side-encryption": "aws:kms"},
        Conditions=[{"x-amz-server-side-encryption": "aws:kms"}])
    resp = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"x")}, timeout=30)
    assert resp.status_code == 501 and "<Code>NotImplemented</Code>" in resp.text
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def _default_encryption(algorithm: str = "AES256", **rule) -> dict:
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": algorithm}, **rule}]}


def test_bucket_default_encryption_applies_to_uploads_that_ask_for_none(system, s3, bucket, since):
    """PutBucketEncryption (AES256): PUTs, copies, multipart uploads and form uploads without the
    header are encrypted; GetBucketEncryption reports it; DeleteBucketEncryption stops it and
    leaves what was encrypted as it is."""
    s3.put_object(Bucket=bucket, Key="before", Body=b"stored before the default")
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=_default_encryption())
    got = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert got == {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                              "BucketKeyEnabled": False}]}
    marker, body = marked(70000)
    assert sse_of(s3.put_object(Bucket=bucket, Key="put", Body=body)) == "AES256"
    assert sse_of(s3.head_object(Bucket=bucket, Key="before")) is None          # not rewritten
    assert sse_of(s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "before"})) \
        == "AES256"
    # a copy onto itself now changes the encryption, so it is allowed
    assert sse_of(s3.copy_object(Bucket=bucket, Key="before", CopySource={"Bucket": bucket, "Key": "before"})) \
        == "AES256"
    with pytest.raises(ClientError) as e:            # ... but not once nothing would change
        s3.copy_object(Bucket=bucket, Key="before", CopySource={"Bucket": bucket, "Key": "before"})
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    assert sse_of(up) == "AES256"
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=body)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    post = system.client(signature_version="s3v4").generate_presigned_post(bucket, "form")
    resp = requests.post(post["url"], data=post["fields"], files={"file": ("f", body)}, timeout=30)
    assert resp.status_code == 204 and resp.headers["x-amz-server-side-encryption"] == "AES256"
    for key in ("put", "mp", "form"):
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == body, key
    assert not any(stored_anywhere(d, marker, since) for d in system.node_dirs())
    # BucketKeyEnabled is kept (it changes nothing for SSE-S3)
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=_default_encryption(
        BucketKeyEnabled=True))
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0][
        "BucketKeyEnabled"] is True
    assert s3.delete_bucket_encryption(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert error_of(lambda: s3.get_bucket_encryption(Bucket=bucket)) == (
        404, "ServerSideEncryptionConfigurationNotFoundError")
    assert sse_of(s3.put_object(Bucket=bucket, Key="after", Body=b"plain again")) is None
    assert s3.get_object(Bucket=bucket, Key="put")["Body"].read() == body


@pytest.mark.parametrize("config,expected", [
    (_default_encryption("aws:kms"), (501, "NotImplemented")),
    (_default_encryption("aws:kms:dsse"), (501, "NotImplemented")),
    ({"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256", "KMSMasterKeyID": "alias/x"}}]},
     (400, "InvalidArgument")),
    ({"Rules": []}, (400, "MalformedXML")),
    ({"Rules": [{"BucketKeyEnabled": True}]}, (400, "MalformedXML")),
], ids=["kms", "dsse", "aes-with-kms-key", "no-rule", "no-default"])
def test_bucket_default_encryption_that_cannot_be_kept_is_refused(s3, bucket, config, expected):
    assert error_of(lambda: s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=config)) \
        == expected
    assert error_of(lambda: s3.get_bucket_encryption(Bucket=bucket)) == (
        404, "ServerSideEncryptionConfigurationNotFoundError")
    assert sse_of(s3.put_object(Bucket=bucket, Key="k", Body=b"x")) is None


@pytest.mark.parametrize("body", [b"<ServerSideEncryptionConfiguration/>", b"not xml",
                                  b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>"
                                  b"<SSEAlgorithm>rot13</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>"
                                  b"</ServerSideEncryptionConfiguration>",
                                  b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>"
                                  b"<SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault>"
                                  b"<BucketKeyEnabled>maybe</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>"],
                         ids=["empty", "not-xml", "unknown-algorithm", "bad-bucket-key"])
def test_malformed_encryption_documents(system, s3, bucket, body):
    url = f"{system.endpoint}/{bucket}?encryption"
    resp = requests.put(url, data=body, headers=sign("PUT", url, body, {}), timeout=10)
    assert resp.status_code == 400 and "<Code>MalformedXML</Code>" in resp.text
    assert error_of(lambda: s3.get_bucket_encryption(Bucket=bucket))[0] == 404


def test_bucket_encryption_of_a_missing_bucket(s3, bucket):
    missing = bucket + "-missing"
    assert error_of(lambda: s3.put_bucket_encryption(Bucket=missing,
                                                     ServerSideEncryptionConfiguration=_default_encryption())) \
        == (404, "NoSuchBucket")
    assert error_of(lambda: s3.get_bucket_encryption(Bucket=missing)) == (404, "NoSuchBucket")
    assert error_of(lambda: s3.delete_bucket_encryption(Bucket=missing)) == (404, "NoSuchBucket")


def test_a_bad_encrypted_upload_stores_nothing(system, s3, bucket):
    """The digests see the plaintext before it is encrypted: a wrong Content-MD5 or checksum
    fails the upload (BadDigest) and nothing is stored, nor is an object replaced."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"the old object", **SSE)
    body = os.urandom(100_000)
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=body, ContentMD5=wrong_md5, **SSE)) \
        == (400, "BadDigest")
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="new", Body=body, ChecksumSHA256=base64.b64encode(
        hashlib.sha256(b"other").digest()).decode(), **SSE)) == (400, "BadDigest")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"the old object"
    good_md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    got = s3.put_object(Bucket=bucket, Key="k", Body=body, ContentMD5=good_md5, **SSE)
    assert got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")["Body"].read() == body


def test_a_200_mib_encrypted_object_streams_through_a_flat_gateway(system, s3, bucket):
    """Encryption and decryption work chunk by chunk: no gateway worker's peak memory grows by
    the object's size on the way in or out."""
    from tests.api.test_post_object import _worker_peaks
    size, block = 200 * MiB, os.urandom(MiB)
    digest = hashlib.md5()

    class Body:                      # a sized stream: sent with Content-Length, never held whole
        def __init__(self):
            self.sent = 0

        def __len__(self):
            return size

        def read(self, n: int = -1) -> bytes:
            if self.sent >= size:
                return b""
            chunk = bytes([(self.sent // MiB) % 256]) + block[1:]   # n is ignored: a MiB at a time
            self.sent += len(chunk)
            digest.update(chunk)
            return chunk

    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "big", **SSE}, ExpiresIn=600)
    before = _worker_peaks(system)
    resp = requests.put(url, data=Body(), timeout=300, headers={"x-amz-server-side-encryption": "AES256"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-amz-server-side-encryption"] == "AES256"
    got = hashlib.md5()
    with s3.get_object(Bucket=bucket, Key="big")["Body"] as stream:
        for chunk in iter(lambda: stream.read(MiB), b""):
            got.update(chunk)
    after = _worker_peaks(system)
    growth = max(after[pid] - before.get(pid, after[pid]) for pid in after) / 1024
    assert growth < 64, f"a gateway worker's peak RSS grew {growth:.0f} MiB for a 200 MiB encrypted object"
    assert got.hexdigest() == digest.hexdigest() and resp.headers["ETag"] == f'"{digest.hexdigest()}"'


def test_small_encrypted_objects_are_read_from_their_encrypted_inline_copy(system, s3, bucket):
    """A small encrypted object's row keeps its ciphertext (never its plaintext) and a GET is
    served from it: with every node copy gone it still reads back, whole and in ranges; copies
    get an inline copy sealed as they are (encrypted or not)."""
    from tests.api.test_objects import _drop_node_copies, _rows
    body = os.urandom(4000)
    s3.put_object(Bucket=bucket, Key="enc", Body=body, **SSE)
    s3.copy_object(Bucket=bucket, Key="enc-copy", CopySource={"Bucket": bucket, "Key": "enc"}, **SSE)
    s3.copy_object(Bucket=bucket, Key="plain-copy", CopySource={"Bucket": bucket, "Key": "enc"})
    rows = _rows(system, bucket, "enc", "enc-copy", "plain-copy")
    for key in ("enc", "enc-copy"):
        assert rows[key].inline is not None and len(rows[key].inline) == len(body) and rows[key].inline != body
    assert rows["enc"].inline != rows["enc-copy"].inline          # each under its own data key
    assert rows["plain-copy"].inline == body
    for key in rows:
        _drop_node_copies(system, rows[key])
    for key in rows:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
    got = s3.get_object(Bucket=bucket, Key="enc", Range="bytes=17-2050")
    assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == body[17:2051]
