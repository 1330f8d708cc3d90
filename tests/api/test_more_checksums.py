"""The checksum algorithms botocore added after CRC64NVME: SHA512, MD5, XXHASH64, XXHASH3 and
XXHASH128 (``ChecksumAlgorithm=...``; botocore computes the xxhash ones with awscrt). They are
verified while the body streams and stored like the others; before, their headers were ignored,
so the upload's integrity check silently did not happen. (Over https, as trailers:
test_streaming.)"""
from __future__ import annotations

import base64
import hashlib
import os

import pytest
import xxhash
from botocore.exceptions import ClientError

from tests.sigv4util import signed_request

DIGESTS = {"SHA512": hashlib.sha512, "MD5": hashlib.md5, "XXHASH64": xxhash.xxh64, "XXHASH3": xxhash.xxh3_64,
           "XXHASH128": xxhash.xxh3_128}
BOTOCORE_COMPUTES = ("SHA512", "XXHASH64", "XXHASH3", "XXHASH128")     # botocore has no MD5 checksum class


def b64(algo: str, data: bytes) -> str:
    return base64.b64encode(DIGESTS[algo](data).digest()).decode()


@pytest.mark.parametrize("algo", BOTOCORE_COMPUTES)
def test_boto3_put_and_validated_get(s3, bucket, algo):
    data = os.urandom(70_000)
    put = s3.put_object(Bucket=bucket, Key="k", Body=data, ChecksumAlgorithm=algo)
    assert put[f"Checksum{algo}"] == b64(algo, data)
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")     # botocore validates it
    assert got["Body"].read() == data and got[f"Checksum{algo}"] == b64(algo, data)
    attrs = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["Checksum"])
    assert attrs["Checksum"][f"Checksum{algo}"] == b64(algo, data)


@pytest.mark.parametrize("algo", DIGESTS)
def test_a_wrong_value_stores_nothing(system, s3, bucket, algo):
    data = b"the body"
    url = f"{system.endpoint}/{bucket}/k"
    header = f"x-amz-checksum-{algo.lower()}"
    r = signed_request("PUT", url, body=data, headers={header: b64(algo, b"another body")})
    assert r.status_code == 400 and "<Code>BadDigest</Code>" in r.text, r.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")
    r = signed_request("PUT", url, body=data, headers={header: "bm90IGEgZGlnZXN0"})      # wrong length
    assert r.status_code == 400 and "<Code>InvalidRequest</Code>" in r.text, r.text
    r = signed_request("PUT", url, body=data, headers={header: b64(algo, data)})
    assert r.status_code == 200 and r.headers[header] == b64(algo, data)
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head["ResponseMetadata"]["HTTPHeaders"][header] == b64(algo, data)


@pytest.mark.parametrize("algo", ["XXHASH3", "SHA512"])
def test_multipart_composite(s3, bucket, algo):
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(1000)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm=algo)
    assert upload["ChecksumAlgorithm"] == algo and upload.get("ChecksumType") == "COMPOSITE"
    done = []
    for i, p in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=i, Body=p,
                           ChecksumAlgorithm=algo)
        assert r[f"Checksum{algo}"] == b64(algo, p)
        done.append({"PartNumber": i, "ETag": r["ETag"], f"Checksum{algo}": r[f"Checksum{algo}"]})
    out = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"],
                                       MultipartUpload={"Parts": done})
    raw = b"".join(DIGESTS[algo](p).digest() for p in parts)
    expected = base64.b64encode(DIGESTS[algo](raw).digest()).decode()
    assert out[f"Checksum{algo}"] == f"{expected}-2"
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(parts)
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="mp2", ChecksumAlgorithm=algo, ChecksumType="FULL_OBJECT")
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
