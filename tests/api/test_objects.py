"""Object operations through boto3 (default configuration) against the real system."""
from __future__ import annotations

import base64
import hashlib
import os
import urllib.error
import urllib.request
import zlib

import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError

from s3server.meta.store import MetadataStore

from tests.conftest import node_blob_ids
from tests.sigv4util import raw_http, sign, signed_request

KEYS = ["plain.txt", "with space.txt", "ünïcödé/ключ/😀.bin", "a+b=c&d.txt", "100%.csv", "double//slash",
        "dots/./and/../x", "~tilde!*'()", "k" * 1024]


def _code(e) -> str:
    return e.value.response["Error"]["Code"]


@pytest.mark.parametrize("key", KEYS, ids=lambda k: k[:20])
def test_put_get_head_delete_roundtrip(s3, bucket, key):
    body = os.urandom(1000) + key.encode()
    put = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/x-test",
                        Metadata={"color": "blue", "Mixed-Case": "yes"})
    etag = f'"{hashlib.md5(body).hexdigest()}"'
    assert put["ETag"] == etag
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == body
    assert got["ETag"] == etag
    assert got["ContentType"] == "text/x-test"
    assert got["ContentLength"] == len(body)
    assert got["Metadata"] == {"color": "blue", "mixed-case": "yes"}
    assert got["LastModified"].year >= 2024
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(body) and head["ETag"] == etag
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=key)
    assert _code(e) == "NoSuchKey"


def test_zero_byte_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    assert got["ContentLength"] == 0


def test_50mib_object(s3, bucket):
    block = os.urandom(1024 * 1024)
    body = b"".join(bytes([i]) + block[1:] for i in range(50))
    s3.put_object(Bucket=bucket, Key="big", Body=body)
    got = s3.get_object(Bucket=bucket, Key="big")
    h = hashlib.md5()
    n = 0
    for chunk in got["Body"].iter_chunks(1024 * 1024):
        h.update(chunk)
        n += len(chunk)
    assert n == len(body)
    assert h.hexdigest() == hashlib.md5(body).hexdigest()
    assert got["ETag"] == f'"{h.hexdigest()}"'


def test_overwrite_replaces_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second version")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second version"


@pytest.mark.parametrize("pad", [0, 8000], ids=["inline", "blob-cache"])
def test_repeated_reads_always_see_the_current_object(s3, bucket, pad):
    """Small objects are served from their row's inline copy (up to S3_INLINE_MAX) or from
    the gateway workers' blob cache once read (bigger ones): an overwrite, a copy, a range
    and a delete must all still show the current state."""
    def read(key, **kw):
        return s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()

    first, second = b"x" * pad + b"first version", b"y" * pad + b"second"
    s3.put_object(Bucket=bucket, Key="k", Body=first)
    for _ in range(4):                                  # every worker reads (and caches) it
        assert read("k") == first
    assert read("k", Range=f"bytes={pad + 6}-{pad + 8}") == b"ver"
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k"})
    s3.put_object(Bucket=bucket, Key="k", Body=second)
    for _ in range(4):
        assert read("k") == second
        assert read("copy") == first
    assert read("k", Range="bytes=-3") == b"ond"
    s3.delete_object(Bucket=bucket, Key="k")
    for _ in range(4):
        with pytest.raises(ClientError) as e:
            read("k")
        assert _code(e) == "NoSuchKey"
        assert read("copy") == first


def _rows(system, bucket: str, *keys: str) -> dict:
    store = MetadataStore.from_url(system.db_url)
    try:
        return {k: store.get_object(bucket, k) for k in keys}
    finally:
        store.close()


def _drop_node_copies(system, meta) -> None:
    """Delete every node's copy of ``meta``'s blobs through the nodes' own API."""
    for node in system.state["nodes"]:
        for ref in meta.blobs:
            req = urllib.request.Request(f"{node['url']}/blobs/{ref.blob_id}", method="DELETE")
            try:
                urllib.request.urlopen(req, timeout=10).read()
            except urllib.error.HTTPError as e:
                assert e.code == 404


def test_small_objects_are_read_from_their_inline_copy(system, s3, bucket):
    """Objects up to S3_INLINE_MAX (4096 bytes) keep a copy of their bytes in their metadata
    row, and a GET is served from it: with every node copy gone, such an object still reads
    back (whole and in ranges), a 4097-byte one does not. A copy of an inline object gets the
    copy too; a multipart object never does."""
    small, big = os.urandom(4096), os.urandom(4097)
    s3.put_object(Bucket=bucket, Key="small", Body=small)
    s3.put_object(Bucket=bucket, Key="big", Body=big)
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    s3.copy_object(Bucket=bucket, Key="small-copy", CopySource={"Bucket": bucket, "Key": "small"})
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"tiny")
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    rows = _rows(system, bucket, "small", "big", "empty", "small-copy", "mp")
    assert rows["small"].inline == small and rows["small-copy"].inline == small
    assert rows["empty"].inline == b""
    assert rows["big"].inline is None and rows["mp"].inline is None

    for key in ("small", "big", "small-copy"):
        _drop_node_copies(system, rows[key])
    for _ in range(3):
        assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == small
        assert s3.get_object(Bucket=bucket, Key="small-copy")["Body"].read() == small
    got = s3.get_object(Bucket=bucket, Key="small", Range="bytes=100-199")
    assert got["Body"].read() == small[100:200] and got["ContentRange"] == "bytes 100-199/4096"
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="big")
    assert _code(e) == "ServiceUnavailable"


def test_a_damaged_inline_copy_is_not_served(system, s3, bucket):
    """An inline copy is checked against the object's ETag (its MD5) before it is served;
    one that does not match (a damaged row, or one a server without inline copies
    overwrote) is ignored and the object is read from the storage nodes."""
    body = b"the real bytes of the object"
    s3.put_object(Bucket=bucket, Key="k", Body=body)
    s3.put_object(Bucket=bucket, Key="stale", Body=b"old contents")
    store = MetadataStore.from_url(system.db_url)
    try:
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE objects SET inline_data = :d WHERE bucket = :b AND key = 'k'"),
                         {"d": b"the fake bytes of the object", "b": bucket})
            conn.execute(sa.text("UPDATE objects SET inline_data = :d WHERE bucket = :b AND key = 'stale'"),
                         {"d": b"old contents!", "b": bucket})
    finally:
        store.close()
    for _ in range(4):
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == body
        assert s3.get_object(Bucket=bucket, Key="k", Range="bytes=4-7")["Body"].read() == b"real"
        assert s3.get_object(Bucket=bucket, Key="stale")["Body"].read() == b"old contents"


def test_default_content_type(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="k")["ContentType"] == "binary/octet-stream"


def test_missing_key_and_bucket(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="nope")
    assert _code(e) == "NoSuchKey"
    assert e.value.response["Error"]["Key"] == "nope"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="nope")
    assert _code(e) == "404"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket + "-missing", Key="k")
    assert _code(e) == "NoSuchBucket"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket + "-missing", Key="k", Body=b"x")
    assert _code(e) == "NoSuchBucket"
    # deleting a missing key succeeds, as on S3
    assert s3.delete_object(Bucket=bucket, Key="nope")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_key_too_long(system, s3, bucket):
    before = set().union(*(node_blob_ids(d) for d in system.node_dirs()))
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"data")
    assert _code(e) == "KeyTooLongError"
    after = set().union(*(node_blob_ids(d) for d in system.node_dirs()))
    assert not (after - before), "a stray blob was left on a node"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


@pytest.mark.parametrize("rng,expected,status", [
    ("bytes=0-9", slice(0, 10), 206), ("bytes=10-", slice(10, None), 206), ("bytes=-5", slice(-5, None), 206),
    ("bytes=95-200", slice(95, None), 206), ("bytes=0-0", slice(0, 1), 206)])
def test_range_get(s3, bucket, rng, expected, status):
    body = bytes(range(100))
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    got = s3.get_object(Bucket=bucket, Key="r", Range=rng)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == status
    data = got["Body"].read()
    assert data == body[expected]
    start = expected.start if expected.start is not None else 0
    start = start if start >= 0 else 100 + start
    assert got["ContentRange"] == f"bytes {start}-{start + len(data) - 1}/100"


def test_unsatisfiable_range(s3, bucket):
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-20")
    assert _code(e) == "InvalidRange"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_range_across_large_object(s3, bucket):
    body = os.urandom(3 * 1024 * 1024 + 17)
    s3.put_object(Bucket=bucket, Key="big", Body=body)
    start, end = 1024 * 1024 - 3, 2 * 1024 * 1024 + 5
    got = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={start}-{end}")
    assert got["Body"].read() == body[start:end + 1]


def test_blob_on_all_three_nodes(system, s3, bucket):
    before = [node_blob_ids(d) for d in system.node_dirs()]
    s3.put_object(Bucket=bucket, Key="replicated", Body=b"r" * 5000)
    after = [node_blob_ids(d) for d in system.node_dirs()]
    new = [a - b for a, b in zip(after, before)]
    assert all(len(n) == 1 for n in new), new
    assert new[0] == new[1] == new[2]


def test_crc32_header_checked(system, s3, bucket):
    body = b"checksummed body"
    good = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    s3.put_object(Bucket=bucket, Key="ok", Body=body, ChecksumCRC32=good)
    head = s3.head_object(Bucket=bucket, Key="ok", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == good
    bad = base64.b64encode((zlib.crc32(body) ^ 1).to_bytes(4, "big")).decode()
    url = f"{system.endpoint}/{bucket}/bad"
    r = signed_request("PUT", url, body=body, headers={"x-amz-checksum-crc32": bad})
    assert r.status_code == 400, r.text
    assert "<Code>BadDigest</Code>" in r.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad")


def test_sha256_mismatch_stores_nothing(system, s3, bucket):
    before = set().union(*(node_blob_ids(d) for d in system.node_dirs()))
    url = f"{system.endpoint}/{bucket}/sha"
    r = signed_request("PUT", url, body=b"actual body", payload_hash=hashlib.sha256(b"other body").hexdigest())
    assert r.status_code == 400
    assert "<Code>XAmzContentSHA256Mismatch</Code>" in r.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="sha")
    import time
    time.sleep(0.5)
    after = set().union(*(node_blob_ids(d) for d in system.node_dirs()))
    assert not (after - before), "a stray blob was left on a node"


def test_content_md5_checked(system, s3, bucket):
    body = b"md5 body"
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key="m", Body=body, ContentMD5=good)
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    r = signed_request("PUT", f"{system.endpoint}/{bucket}/m2", body=body, headers={"Content-MD5": bad})
    assert r.status_code == 400 and "<Code>BadDigest</Code>" in r.text
    r = signed_request("PUT", f"{system.endpoint}/{bucket}/m3", body=body, headers={"Content-MD5": "notbase64!"})
    assert r.status_code == 400 and "<Code>InvalidDigest</Code>" in r.text


def test_truncated_body_stores_nothing(system, s3, bucket):
    """A client that promises 1000 bytes, sends 100 and closes: no object, no stray blob."""
    before = set().union(*(node_blob_ids(d) for d in system.node_dirs()))
    url = f"{system.endpoint}/{bucket}/trunc"
    body = b"x" * 1000
    headers = sign("PUT", url, body, {"Content-Length": "1000"}, payload_hash="UNSIGNED-PAYLOAD")
    host = url.split("/")[2]
    head = f"PUT /{bucket}/trunc HTTP/1.1\r\nHost: {host}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "host") + "\r\n"
    raw_http(url, head.encode() + body[:100], close_after_send=True, timeout=5)
    import time
    time.sleep(1.0)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="trunc")
    after = set().union(*(node_blob_ids(d) for d in system.node_dirs()))
    assert not (after - before), "a stray blob was left on a node"


def test_missing_content_length(system, bucket):
    url = f"{system.endpoint}/{bucket}/nolen"
    headers = sign("PUT", url, b"", {}, payload_hash="UNSIGNED-PAYLOAD")
    host = url.split("/")[2]
    head = f"PUT /{bucket}/nolen HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() not in ("host", "content-length")) + "\r\n"
    resp = raw_http(url, head.encode())
    assert resp.startswith(b"HTTP/1.1 411"), resp[:200]
    assert b"<Code>MissingContentLength</Code>" in resp


def _rfc2047(text: str) -> str:
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="


def test_unicode_metadata_rfc2047(system, s3, bucket):
    """AWS decodes RFC 2047 metadata before storing and encodes non-ASCII values on the way out."""
    value = "café 😀 ünïcode"
    s3.put_object(Bucket=bucket, Key="u", Body=b"x", Metadata={"name": _rfc2047(value), "plain": "ascii"})
    got = s3.head_object(Bucket=bucket, Key="u")["Metadata"]
    assert got == {"name": _rfc2047(value), "plain": "ascii"}
    # raw UTF-8 bytes in the header (some clients send them): stored as text, returned encoded
    url = f"{system.endpoint}/{bucket}/raw"
    import http.client
    headers = sign("PUT", url, b"y", {"x-amz-meta-city": value.encode().decode("latin-1")})
    conn = http.client.HTTPConnection(url.split("/")[2].split(":")[0], int(url.split("/")[2].split(":")[1]))
    conn.putrequest("PUT", f"/{bucket}/raw", skip_accept_encoding=True)
    for k, v in headers.items():
        conn.putheader(k, v.encode("latin-1") if isinstance(v, str) else v)
    conn.putheader("Content-Length", "1")
    conn.endheaders(b"y")
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    conn.close()
    assert s3.head_object(Bucket=bucket, Key="raw")["Metadata"] == {"city": _rfc2047(value)}


def test_conditional_put_if_none_match_race_has_one_winner(s3, bucket):
    import threading
    results, lock = [], threading.Lock()
    barrier = threading.Barrier(8)

    def writer(i):
        barrier.wait()
        try:
            s3.put_object(Bucket=bucket, Key="once", Body=f"writer {i}".encode(), IfNoneMatch="*")
            outcome = ("ok", i)
        except ClientError as e:
            outcome = (e.response["Error"]["Code"], i)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for code, i in results if code == "ok"]
    assert len(winners) == 1, results
    assert all(code in ("PreconditionFailed", "ConditionalRequestConflict") for code, _ in results if code != "ok")
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == f"writer {winners[0]}".encode()
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="once", Body=b"late", IfNoneMatch="*")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412


def test_conditional_put_if_match(s3, bucket):
    first = s3.put_object(Bucket=bucket, Key="v", Body=b"one")
    s3.put_object(Bucket=bucket, Key="v", Body=b"two", IfMatch=first["ETag"])
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="v", Body=b"three", IfMatch=first["ETag"])
    assert _code(e) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="v")["Body"].read() == b"two"


def test_single_put_over_5gib_is_entity_too_large(system, s3, bucket):
    """Refused from the headers alone: nothing is read, nothing is stored."""
    url = f"{system.endpoint}/{bucket}/huge"
    size = 5 * 1024 ** 3 + 1
    headers = sign("PUT", url, b"", {"Content-Length": str(size)}, payload_hash="UNSIGNED-PAYLOAD")
    host = url.split("/")[2]
    head = f"PUT /{bucket}/huge HTTP/1.1\r\nHost: {host}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "host") + "\r\n"
    resp = raw_http(url, head.encode() + b"x" * 1000, timeout=3)
    assert resp.startswith(b"HTTP/1.1 400"), resp[:300]
    assert b"<Code>EntityTooLarge</Code>" in resp
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="huge")
