"""Multipart uploads through boto3 against the real system (both metadata backends)."""
from __future__ import annotations

import base64
import hashlib
import os
import time
import zlib

import pytest
from awscrt import checksums as crt
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.conftest import node_blob_ids

MiB = 1024 * 1024
PART = os.urandom(5 * MiB)
PARTS = [bytes([i]) + PART[1:] for i in range(3)] + [os.urandom(1024)]   # 3 x 5 MiB + 1 KiB


def _code(e) -> str:
    return e.value.response["Error"]["Code"]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _etag(parts: list[bytes]) -> str:
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


def _all_blobs(system) -> set[str]:
    return set().union(*(node_blob_ids(d) for d in system.node_dirs()))


def _wait_gone(system, ids: set[str], timeout: float = 10) -> set[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = ids & _all_blobs(system)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _upload(s3, bucket, key, parts, **create):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)
    done = []
    for n, body in enumerate(parts, 1):
        kw = {"ChecksumAlgorithm": create["ChecksumAlgorithm"]} if "ChecksumAlgorithm" in create else {}
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=body, **kw)
        entry = {"PartNumber": n, "ETag": r["ETag"]}
        for name in ("ChecksumCRC32", "ChecksumCRC32C", "ChecksumSHA1", "ChecksumSHA256", "ChecksumCRC64NVME"):
            if name in r and "ChecksumAlgorithm" in create:
                entry[name] = r[name]
        done.append(entry)
    return up["UploadId"], done


def test_multipart_roundtrip_etag_ranges_parts(s3, bucket):
    upload_id, done = _upload(s3, bucket, "big", PARTS, ContentType="text/x-mp", Metadata={"k": "v"})
    out = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload_id,
                                       MultipartUpload={"Parts": done})
    whole = b"".join(PARTS)
    assert out["ETag"] == _etag(PARTS)
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["Body"].read() == whole
    assert got["ETag"] == _etag(PARTS) and got["ContentType"] == "text/x-mp" and got["Metadata"] == {"k": "v"}
    # a range across the boundary between parts 1 and 2, and one spanning parts 2..4
    lo = 5 * MiB - 10
    r = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={lo}-{lo + 19}")
    assert r["Body"].read() == whole[lo:lo + 20] and r["ContentRange"] == f"bytes {lo}-{lo + 19}/{len(whole)}"
    lo = 10 * MiB - 3
    r = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={lo}-")
    assert r["Body"].read() == whole[lo:]
    p2 = s3.get_object(Bucket=bucket, Key="big", PartNumber=2)
    assert p2["Body"].read() == PARTS[1] and p2["PartsCount"] == 4
    assert p2["ContentRange"] == f"bytes {5 * MiB}-{10 * MiB - 1}/{len(whole)}"
    head = s3.head_object(Bucket=bucket, Key="big", PartNumber=4)
    assert head["PartsCount"] == 4 and head["ContentLength"] == 1024
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="big", PartNumber=5)
    assert _code(e) == "InvalidPartNumber"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["big"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_part_reupload_replaces_and_frees_old_blob(system, s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    before = _all_blobs(system)
    s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=1, Body=b"first")
    first = _all_blobs(system) - before
    assert len(first) == 1
    r = s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=1, Body=b"second!")
    assert _wait_gone(system, first) == set()
    parts = s3.list_parts(Bucket=bucket, Key="k", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts] == [(1, r["ETag"], 7)]
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second!"


def test_complete_errors(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=1, Body=b"small")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=2, Body=b"tail")["ETag"]

    def complete(parts):
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up, MultipartUpload={"Parts": parts})
        return _code(e)

    assert complete([{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]) == "InvalidPart"
    assert complete([{"PartNumber": 3, "ETag": e1}]) == "InvalidPart"
    assert complete([{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]) == "InvalidPartOrder"
    assert complete([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]) == "EntityTooSmall"
    # the upload survives failed completions; unquoted ETags are accepted
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1.strip('"')}]})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"small"


def test_no_such_upload_and_bad_part_numbers(s3, bucket):
    bogus = "bogus-upload-id"
    calls = [
        lambda: s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=bogus,
                                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]}),
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=bogus),
        lambda: s3.list_parts(Bucket=bucket, Key="k", UploadId=bogus),
        lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId=bogus, PartNumber=1, Body=b"x"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert _code(e) == "NoSuchUpload"
    up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as e:      # an upload id is bound to its key
        s3.list_parts(Bucket=bucket, Key="other", UploadId=up)
    assert _code(e) == "NoSuchUpload"
    for n in (0, 10001):
        with pytest.raises(ClientError) as e:
            s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=n, Body=b"x")
        assert _code(e) == "InvalidArgument"
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=up)


def test_abort_frees_part_blobs_on_every_node(system, s3, bucket):
    before = [node_blob_ids(d) for d in system.node_dirs()]
    up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    for n in (1, 2, 3):
        s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=n, Body=os.urandom(1000))
    new = [node_blob_ids(d) - b for d, b in zip(system.node_dirs(), before)]
    assert all(len(ids) == 3 for ids in new)          # 3 parts x 3 replicas
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=up)
    assert _wait_gone(system, set().union(*new)) == set()
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="k", UploadId=up)
    assert _code(e) == "NoSuchUpload"


def test_unused_parts_are_deleted_after_complete(system, s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    before = _all_blobs(system)
    e1 = s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=1, Body=b"keep")["ETag"]
    kept = _all_blobs(system) - before
    s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=2, Body=b"drop")
    dropped = _all_blobs(system) - before - kept
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})
    assert _wait_gone(system, dropped) == set()
    assert kept <= _all_blobs(system)


def test_list_parts_paging(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    etags = {n: s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=n, Body=b"p%d" % n)["ETag"]
             for n in (1, 2, 3, 5, 8)}
    seen, marker = [], 0
    while True:
        page = s3.list_parts(Bucket=bucket, Key="k", UploadId=up, MaxParts=2, PartNumberMarker=marker)
        assert page["MaxParts"] == 2 and len(page["Parts"]) <= 2
        seen += [(p["PartNumber"], p["ETag"]) for p in page["Parts"]]
        if not page["IsTruncated"]:
            break
        marker = page["NextPartNumberMarker"]
    assert seen == sorted(etags.items())
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="k", UploadId=up)["Parts"]] == [1, 2, 3, 5, 8]


def test_list_multipart_uploads_prefix_delimiter_paging(s3, bucket):
    keys = ["a/1", "a/2", "b/x/1", "b/y", "c d+", "c d+"]
    ids = [(k, s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"]) for k in keys]
    got = s3.list_multipart_uploads(Bucket=bucket)
    assert [u["Key"] for u in got["Uploads"]] == sorted(keys)
    assert {u["UploadId"] for u in got["Uploads"]} == {i for _, i in ids}
    got = s3.list_multipart_uploads(Bucket=bucket, Prefix="b/")
    assert [u["Key"] for u in got["Uploads"]] == ["b/x/1", "b/y"]
    got = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in got["Uploads"]] == ["c d+", "c d+"]
    assert [p["Prefix"] for p in got["CommonPrefixes"]] == ["a/", "b/"]
    got = s3.list_multipart_uploads(Bucket=bucket, Prefix="b/", Delimiter="/")
    assert [u["Key"] for u in got["Uploads"]] == ["b/y"] and [p["Prefix"] for p in got["CommonPrefixes"]] == ["b/x/"]
    # paging, two at a time, through uploads and common prefixes
    seen, kw = [], {}
    while True:
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2, **kw)
        seen += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        if not page["IsTruncated"]:
            break
        kw = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
    assert sorted(seen) == sorted(ids) and len(seen) == len(ids)
    seen, kw = [], {}
    while True:
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=1, Delimiter="/", **kw)
        seen += [u["Key"] for u in page.get("Uploads", [])] + [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        if not page["IsTruncated"]:
            break
        kw = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page.get("NextUploadIdMarker", "")}
    assert seen == ["a/", "b/", "c d+", "c d+"]
    for k, i in ids:
        s3.abort_multipart_upload(Bucket=bucket, Key=k, UploadId=i)


def test_upload_file_download_file(s3, bucket, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(12 * MiB))
    cfg = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=3)
    s3.upload_file(str(src), bucket, "file.bin", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="file.bin")
    assert head["ContentLength"] == 12 * MiB and head["ETag"].endswith('-3"')
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "file.bin", str(dst), Config=cfg)
    assert dst.read_bytes() == src.read_bytes()


def _crc32(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "big")


def test_sha256_composite_checksum(s3, bucket):
    parts = [PARTS[0], PARTS[3]]
    up, done = _upload(s3, bucket, "sha", parts, ChecksumAlgorithm="SHA256")
    assert [d["ChecksumSHA256"] for d in done] == [_b64(hashlib.sha256(p).digest()) for p in parts]
    out = s3.complete_multipart_upload(Bucket=bucket, Key="sha", UploadId=up, MultipartUpload={"Parts": done})
    want = _b64(hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()) + "-2"
    assert out["ChecksumSHA256"] == want and out.get("ChecksumType") == "COMPOSITE"
    head = s3.head_object(Bucket=bucket, Key="sha", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == want and head["ChecksumType"] == "COMPOSITE"
    got = s3.get_object(Bucket=bucket, Key="sha", ChecksumMode="ENABLED")   # botocore skips "-N" values
    assert got["Body"].read() == b"".join(parts)


def test_crc32_composite_checksum_and_list_parts(s3, bucket):
    parts = [PARTS[1], PARTS[3]]
    up, done = _upload(s3, bucket, "crc", parts, ChecksumAlgorithm="CRC32")
    listed = s3.list_parts(Bucket=bucket, Key="crc", UploadId=up)
    assert listed["ChecksumAlgorithm"] == "CRC32"
    assert [p["ChecksumCRC32"] for p in listed["Parts"]] == [_b64(_crc32(p)) for p in parts]
    out = s3.complete_multipart_upload(Bucket=bucket, Key="crc", UploadId=up, MultipartUpload={"Parts": done})
    want = _b64(_crc32(b"".join(_crc32(p) for p in parts))) + "-2"
    assert out["ChecksumCRC32"] == want and out["ChecksumType"] == "COMPOSITE"


def test_upload_part_answers_checksums_without_a_type(system, bucket):
    """UploadPart's response carries the part's checksum header, not x-amz-checksum-type
    (AWS documents the type for CreateMultipartUpload and CompleteMultipartUpload only)."""
    s3 = system.client()
    up = s3.create_multipart_upload(Bucket=bucket, Key="pt", ChecksumAlgorithm="CRC32")["UploadId"]
    out = s3.upload_part(Bucket=bucket, Key="pt", UploadId=up, PartNumber=1, Body=PARTS[3],
                         ChecksumAlgorithm="CRC32")
    headers = out["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-checksum-crc32"] == _b64(_crc32(PARTS[3]))
    assert "x-amz-checksum-type" not in headers
    s3.abort_multipart_upload(Bucket=bucket, Key="pt", UploadId=up)


def test_crc32_full_object_checksum(s3, bucket):
    parts = [PARTS[2], PARTS[3]]
    up, done = _upload(s3, bucket, "crcf", parts, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    out = s3.complete_multipart_upload(Bucket=bucket, Key="crcf", UploadId=up, MultipartUpload={"Parts": done})
    assert out["ChecksumCRC32"] == _b64(_crc32(b"".join(parts))) and out["ChecksumType"] == "FULL_OBJECT"


def test_crc64nvme_full_object_checksum(s3, bucket):
    parts = [PARTS[0], PARTS[1], PARTS[3]]
    up, done = _upload(s3, bucket, "nv", parts, ChecksumAlgorithm="CRC64NVME")
    want = _b64(crt.crc64nvme(b"".join(parts)).to_bytes(8, "big"))
    wrong = _b64(crt.crc64nvme(b"other").to_bytes(8, "big"))
    for kw, code in (({"ChecksumCRC64NVME": wrong}, "BadDigest"), ({"MpuObjectSize": 7}, "InvalidRequest")):
        with pytest.raises(ClientError) as e:       # declared full-object checksum / size are verified
            s3.complete_multipart_upload(Bucket=bucket, Key="nv", UploadId=up, MultipartUpload={"Parts": done}, **kw)
        assert _code(e) == code
        if code == "BadDigest":
            assert e.value.response["Error"]["Message"] == ("The crc64nvme you specified did not match the "
                                                            "calculated checksum.")
    out = s3.complete_multipart_upload(Bucket=bucket, Key="nv", UploadId=up, MultipartUpload={"Parts": done},
                                       ChecksumCRC64NVME=want, ChecksumType="FULL_OBJECT",
                                       MpuObjectSize=sum(map(len, parts)))
    assert out["ChecksumCRC64NVME"] == want and out["ChecksumType"] == "FULL_OBJECT"
    # botocore validates a full-object checksum on GET: it must be right
    got = s3.get_object(Bucket=bucket, Key="nv", ChecksumMode="ENABLED")
    assert got["ChecksumCRC64NVME"] == want and got["Body"].read() == b"".join(parts)


def test_checksum_type_rules(s3, bucket):
    for kw in ({"ChecksumAlgorithm": "SHA256", "ChecksumType": "FULL_OBJECT"},
               {"ChecksumAlgorithm": "CRC64NVME", "ChecksumType": "COMPOSITE"}):
        with pytest.raises(ClientError) as e:
            s3.create_multipart_upload(Bucket=bucket, Key="k", **kw)
        assert _code(e) == "InvalidRequest"


def test_composite_uploads_need_each_parts_checksum(system, bucket):
    """A COMPOSITE upload's object checksum is made of the parts' checksums the client computed:
    AWS refuses a part sent without one, and a Complete whose part list lacks one (each with
    InvalidRequest), and the upload stays usable."""
    s3 = system.client(request_checksum_calculation="when_required")
    up = s3.create_multipart_upload(Bucket=bucket, Key="c", ChecksumAlgorithm="SHA256")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="c", UploadId=up, PartNumber=1, Body=PARTS[3])
    assert _code(e) == "InvalidRequest"
    assert e.value.response["Error"]["Message"] == ("Checksum Type mismatch occurred, expected checksum Type: "
                                                    "sha256, actual checksum Type: null")
    with pytest.raises(ClientError) as e:                   # another algorithm is a mismatch too
        s3.upload_part(Bucket=bucket, Key="c", UploadId=up, PartNumber=1, Body=PARTS[3], ChecksumAlgorithm="CRC32")
    assert "actual checksum Type: crc32" in e.value.response["Error"]["Message"]
    assert s3.list_parts(Bucket=bucket, Key="c", UploadId=up).get("Parts", []) == []
    sha = _b64(hashlib.sha256(PARTS[3]).digest())
    r = s3.upload_part(Bucket=bucket, Key="c", UploadId=up, PartNumber=1, Body=PARTS[3], ChecksumSHA256=sha)
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=up,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]})
    assert _code(e) == "InvalidRequest"
    assert e.value.response["Error"]["Message"] == (
        "The upload was created using a sha256 checksum. The complete request must include the checksum for each "
        "part. It was missing for part 1 in the request.")
    with pytest.raises(ClientError) as e:                   # present but wrong: that part is not the one stored
        s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=up, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": r["ETag"], "ChecksumSHA256": _b64(hashlib.sha256(b"x").digest())}]})
    assert _code(e) == "InvalidPart"
    out = s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=up, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r["ETag"], "ChecksumSHA256": sha}]})
    assert out["ChecksumSHA256"] == _b64(hashlib.sha256(hashlib.sha256(PARTS[3]).digest()).digest()) + "-1"


def test_full_object_uploads_compute_a_missing_part_checksum(system, bucket):
    """A FULL_OBJECT upload's parts may come without a checksum: the server computes it (ListParts
    shows it; UploadPart echoes only a checksum the client sent) and the object's is right."""
    s3 = system.client(request_checksum_calculation="when_required")
    up = s3.create_multipart_upload(Bucket=bucket, Key="f", ChecksumAlgorithm="CRC32",
                                    ChecksumType="FULL_OBJECT")["UploadId"]
    r1 = s3.upload_part(Bucket=bucket, Key="f", UploadId=up, PartNumber=1, Body=PARTS[0])
    assert "x-amz-checksum-crc32" not in r1["ResponseMetadata"]["HTTPHeaders"]
    r2 = s3.upload_part(Bucket=bucket, Key="f", UploadId=up, PartNumber=2, Body=PARTS[3],
                        ChecksumCRC32=_b64(_crc32(PARTS[3])))
    assert r2["ChecksumCRC32"] == _b64(_crc32(PARTS[3]))
    listed = s3.list_parts(Bucket=bucket, Key="f", UploadId=up)["Parts"]
    assert [p["ChecksumCRC32"] for p in listed] == [_b64(_crc32(PARTS[0])), _b64(_crc32(PARTS[3]))]
    out = s3.complete_multipart_upload(Bucket=bucket, Key="f", UploadId=up, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r1["ETag"]}, {"PartNumber": 2, "ETag": r2["ETag"]}]})
    assert out["ChecksumCRC32"] == _b64(_crc32(PARTS[0] + PARTS[3])) and out["ChecksumType"] == "FULL_OBJECT"


def test_a_copied_part_of_a_composite_upload_gets_its_checksum_from_the_server(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=PARTS[3])
    up = s3.create_multipart_upload(Bucket=bucket, Key="cp", ChecksumAlgorithm="CRC32")["UploadId"]
    res = s3.upload_part_copy(Bucket=bucket, Key="cp", UploadId=up, PartNumber=1,
                              CopySource=f"{bucket}/src")["CopyPartResult"]
    assert res["ChecksumCRC32"] == _b64(_crc32(PARTS[3]))
    out = s3.complete_multipart_upload(Bucket=bucket, Key="cp", UploadId=up, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": res["ETag"], "ChecksumCRC32": res["ChecksumCRC32"]}]})
    assert out["ChecksumCRC32"] == _b64(_crc32(_crc32(PARTS[3]))) + "-1"


@pytest.mark.parametrize("algorithm", [None, "SHA256"])
def test_managed_multipart_copy(s3, bucket, algorithm):
    """boto3's managed copy of a large object (UploadPartCopy parts): with a checksum algorithm it
    passes each CopyPartResult's checksum on to Complete, which a COMPOSITE upload needs."""
    s3.put_object(Bucket=bucket, Key="big", Body=PARTS[0] + PARTS[3])
    extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
    s3.copy({"Bucket": bucket, "Key": "big"}, bucket, "big-copy", ExtraArgs=extra,
            Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB))
    head = s3.head_object(Bucket=bucket, Key="big-copy", ChecksumMode="ENABLED")
    assert head["ETag"].endswith('-2"') and head["ContentLength"] == 5 * MiB + 1024
    if algorithm:
        sums = b"".join(hashlib.sha256(p).digest() for p in (PARTS[0], PARTS[3]))
        assert head["ChecksumSHA256"] == _b64(hashlib.sha256(sums).digest()) + "-2"
    assert s3.get_object(Bucket=bucket, Key="big-copy")["Body"].read() == PARTS[0] + PARTS[3]


def test_reading_one_part_gives_that_parts_checksum(s3, bucket):
    """GetObject/HeadObject with partNumber and checksum mode: a COMPOSITE object's part answers
    with its own checksum (botocore validates the part's bytes against it), the part of a
    FULL_OBJECT object with none."""
    parts = [PARTS[0], PARTS[3]]
    up, done = _upload(s3, bucket, "c", parts, ChecksumAlgorithm="SHA256")
    s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=up, MultipartUpload={"Parts": done})
    for n, data in enumerate(parts, 1):
        got = s3.get_object(Bucket=bucket, Key="c", PartNumber=n, ChecksumMode="ENABLED")
        assert got["ChecksumSHA256"] == done[n - 1]["ChecksumSHA256"] == _b64(hashlib.sha256(data).digest())
        assert got["Body"].read() == data and got["PartsCount"] == 2
        head = s3.head_object(Bucket=bucket, Key="c", PartNumber=n, ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == done[n - 1]["ChecksumSHA256"]
    assert "ChecksumSHA256" not in s3.head_object(Bucket=bucket, Key="c", PartNumber=1)      # mode off
    up, done = _upload(s3, bucket, "f", parts, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    s3.complete_multipart_upload(Bucket=bucket, Key="f", UploadId=up, MultipartUpload={"Parts": done})
    head = s3.head_object(Bucket=bucket, Key="f", PartNumber=1, ChecksumMode="ENABLED")
    assert not any(k.startswith("Checksum") for k in head), head
    up, done = _upload(s3, bucket, "one", [PARTS[3]], ChecksumAlgorithm="CRC32")      # COMPOSITE, one part
    s3.complete_multipart_upload(Bucket=bucket, Key="one", UploadId=up, MultipartUpload={"Parts": done})
    got = s3.get_object(Bucket=bucket, Key="one", PartNumber=1, ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == _b64(_crc32(PARTS[3])) and got["Body"].read() == PARTS[3]


def test_complete_checks_a_checksum_type_it_is_sent(s3, bucket):
    up, done = _upload(s3, bucket, "t", [PARTS[3]], ChecksumAlgorithm="SHA256")         # COMPOSITE
    for ctype, message in (("FULL_OBJECT", "The upload was created using the COMPOSITE checksum mode. The "
                                           "complete request must use the same checksum mode."),
                           ("SOMETHING", "Value for x-amz-checksum-type header is invalid.")):
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key="t", UploadId=up, MultipartUpload={"Parts": done},
                                         ChecksumType=ctype)
        assert _code(e) == "InvalidRequest" and e.value.response["Error"]["Message"] == message
    out = s3.complete_multipart_upload(Bucket=bucket, Key="t", UploadId=up, MultipartUpload={"Parts": done},
                                       ChecksumType="COMPOSITE")
    assert out["ChecksumType"] == "COMPOSITE"
    up = s3.create_multipart_upload(Bucket=bucket, Key="d")["UploadId"]                   # default: CRC64NVME
    r = s3.upload_part(Bucket=bucket, Key="d", UploadId=up, PartNumber=1, Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="d", UploadId=up, ChecksumType="COMPOSITE",
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]})
    assert "created using the FULL_OBJECT checksum mode" in e.value.response["Error"]["Message"]


def test_upload_part_copy_with_range(s3, bucket):
    src = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="src", Body=src)
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    r1 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"},
                             CopySourceRange=f"bytes=0-{5 * MiB - 1}")["CopyPartResult"]
    r2 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up, PartNumber=2,
                             CopySource=f"{bucket}/src", CopySourceRange="bytes=100-199")["CopyPartResult"]
    assert r1["ETag"] == f'"{hashlib.md5(src[:5 * MiB]).hexdigest()}"'
    assert r2["ETag"] == f'"{hashlib.md5(src[100:200]).hexdigest()}"'
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up, PartNumber=3,
                            CopySource=f"{bucket}/src", CopySourceRange=f"bytes=0-{6 * MiB}")
    assert _code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up, PartNumber=3,
                            CopySource=f"{bucket}/src", CopySourceIfMatch='"nope"')
    assert _code(e) == "PreconditionFailed"
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=up, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r1["ETag"]}, {"PartNumber": 2, "ETag": r2["ETag"]}]})
    got = s3.get_object(Bucket=bucket, Key="dst")["Body"].read()
    assert got == src[:5 * MiB] + src[100:200]
