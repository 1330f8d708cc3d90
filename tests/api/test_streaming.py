"""Upload encodings over the wire: aws-chunked with signed chunks (as the Java/Go SDKs send),
signed and unsigned trailers, and boto3 over HTTPS (which sends aws-chunked + a trailing checksum
instead of Content-Length), against a TLS system with a certificate the tests generate."""
from __future__ import annotations

import base64
import hashlib
import os
import time
import zlib

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import ADMIN_SK, node_blob_ids
from tests.sigv4util import sign
from tests.unit.test_chunked import encode_signed

SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def _put_chunked(system, bucket, key, data, *, mode, chunk=64 * 1024, tamper=False, trailer=None):
    url = f"{system.endpoint}/{bucket}/{key}"
    headers = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
    if trailer:
        headers["x-amz-trailer"] = trailer[0]
    # sign the headers first (the seed signature), then frame the body with chained chunk signatures
    encoded_len_placeholder = "0"
    headers["Content-Length"] = encoded_len_placeholder
    body = None
    for _ in range(2):   # the Content-Length is signed: compute the framed length, then sign for real
        signed = sign("PUT", url, b"", headers, payload_hash=mode)
        amz_date = signed["X-Amz-Date"]
        seed = signed["Authorization"].rsplit("Signature=", 1)[1]
        if mode == UNSIGNED_TRAILER:
            body = _encode_unsigned(data, chunk, trailer)
        else:
            body = encode_signed(data, chunk, secret=ADMIN_SK, date=amz_date, region="us-east-1", seed=seed,
                                 trailers={trailer[0]: trailer[1]} if trailer else None)
        if headers["Content-Length"] == str(len(body)):
            break
        headers["Content-Length"] = str(len(body))
    if tamper:
        i = body.index(b"\r\n") + 10
        body = body[:i] + bytes([body[i] ^ 1]) + body[i + 1:]
    return requests.put(url, data=body, headers=signed, timeout=30)


def _encode_unsigned(data, chunk, trailer):
    out = []
    for i in range(0, len(data), chunk):
        piece = data[i:i + chunk]
        out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
    out.append(b"0\r\n")
    if trailer:
        out.append(f"{trailer[0]}:{trailer[1]}\r\n".encode())
    out.append(b"\r\n")
    return b"".join(out)


def _crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_signed_chunks(system, s3, bucket):
    data = os.urandom(200_000)
    r = _put_chunked(system, bucket, "signed", data, mode=SIGNED)
    assert r.status_code == 200, r.text
    got = s3.get_object(Bucket=bucket, Key="signed")
    assert got["Body"].read() == data
    assert got["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'


def test_tampered_chunk_stores_nothing(system, s3, bucket):
    before = set().union(*(node_blob_ids(d) for d in system.node_dirs()))
    r = _put_chunked(system, bucket, "tampered", os.urandom(100_000), mode=SIGNED, tamper=True)
    assert r.status_code == 403, r.text
    assert "<Code>SignatureDoesNotMatch</Code>" in r.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="tampered")
    time.sleep(0.5)
    after = set().union(*(node_blob_ids(d) for d in system.node_dirs()))
    assert not (after - before)


def test_signed_chunks_with_signed_trailer(system, s3, bucket):
    data = os.urandom(150_000)
    r = _put_chunked(system, bucket, "st", data, mode=SIGNED_TRAILER,
                     trailer=("x-amz-checksum-crc32", _crc32_b64(data)))
    assert r.status_code == 200, r.text
    head = s3.head_object(Bucket=bucket, Key="st", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == _crc32_b64(data)


@pytest.mark.parametrize("good", [True, False])
def test_unsigned_trailer(system, s3, bucket, good):
    data = os.urandom(100_000)
    value = _crc32_b64(data if good else data + b"x")
    r = _put_chunked(system, bucket, "ut", data, mode=UNSIGNED_TRAILER, trailer=("x-amz-checksum-crc32", value))
    if good:
        assert r.status_code == 200, r.text
        assert s3.get_object(Bucket=bucket, Key="ut")["Body"].read() == data
    else:
        assert r.status_code == 400 and "<Code>BadDigest</Code>" in r.text
        with pytest.raises(ClientError):
            s3.head_object(Bucket=bucket, Key="ut")


def test_decoded_length_mismatch(system, s3, bucket):
    data = b"x" * 1000
    url = f"{system.endpoint}/{bucket}/short"
    body = _encode_unsigned(data, 500, None)
    headers = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": "2000",
               "Content-Length": str(len(body))}
    r = requests.put(url, data=body, headers=sign("PUT", url, b"", headers, payload_hash=UNSIGNED_TRAILER))
    assert r.status_code == 400, r.text
    assert "<Code>IncompleteBody</Code>" in r.text


# ---------------------------------------------------------------------------- TLS
def test_https_uploads_use_trailers(tls_system, tls_s3):
    """boto3 over https sends aws-chunked bodies with a trailing CRC32; every variant must round-trip."""
    s3 = tls_s3
    sent = []
    s3.meta.events.register("before-send.s3.PutObject", lambda request, **kw: sent.append(dict(request.headers)))
    name = f"tls-{os.urandom(6).hex()}"
    s3.create_bucket(Bucket=name)
    data = os.urandom(3 * 1024 * 1024 + 5)
    s3.put_object(Bucket=name, Key="a", Body=data)
    assert b"aws-chunked" in sent[0].get("Content-Encoding", b"") or "aws-chunked" in str(sent[0].get("Content-Encoding"))
    assert "x-amz-checksum-crc32" in str(sent[0].get("X-Amz-Trailer")).lower()
    got = s3.get_object(Bucket=name, Key="a", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ChecksumCRC32"] == _crc32_b64(data)
    algos = ("CRC32C", "SHA1", "SHA256", "CRC64NVME", "SHA512", "XXHASH64", "XXHASH3", "XXHASH128")
    for algo in algos:
        s3.put_object(Bucket=name, Key=f"k-{algo}", Body=data[:100_000], ChecksumAlgorithm=algo)
        assert f"x-amz-checksum-{algo.lower()}" in str(sent[-1].get("X-Amz-Trailer")).lower()
        head = s3.head_object(Bucket=name, Key=f"k-{algo}", ChecksumMode="ENABLED")
        assert head.get(f"Checksum{algo}"), head
    s3.upload_fileobj(__import__("io").BytesIO(data), name, "fileobj")
    assert s3.get_object(Bucket=name, Key="fileobj")["Body"].read() == data
    for k in ["a", "fileobj"] + [f"k-{a}" for a in algos]:
        s3.delete_object(Bucket=name, Key=k)
    s3.delete_bucket(Bucket=name)


def test_https_presigned(tls_system, tls_s3, tls_cert):
    name = f"tls-{os.urandom(6).hex()}"
    tls_s3.create_bucket(Bucket=name)
    tls_s3.put_object(Bucket=name, Key="p", Body=b"secure")
    url = tls_s3.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "p"}, ExpiresIn=60)
    assert requests.get(url, verify=str(tls_cert[0])).content == b"secure"
    tls_s3.delete_object(Bucket=name, Key="p")
    tls_s3.delete_bucket(Bucket=name)
