"""GetObjectAttributes through boto3 and hand-made requests, on both metadata backends: the
multipart details moto does not report (ObjectParts, per-part checksums, paging) and the
request errors. Single-part objects are also compared with moto in tests/conformance."""
from __future__ import annotations

import base64
import hashlib

import pytest
import requests
from botocore.exceptions import ClientError

from tests.sigv4util import sign

ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
MiB = 1024 * 1024


def _multipart(s3, bucket, key, sizes, **create):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)
    parts, datas = [], []
    for n, size in enumerate(sizes, 1):
        data = bytes([n]) * size
        kw = {"ChecksumAlgorithm": create["ChecksumAlgorithm"]} if "ChecksumAlgorithm" in create else {}
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=data, **kw)
        parts.append({"PartNumber": n, "ETag": r["ETag"], **{k: v for k, v in r.items() if k == "ChecksumSHA256"}})
        datas.append(data)
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": parts})
    return parts, datas


def test_multipart_object_lists_its_parts_with_their_checksums(s3, bucket):
    parts, datas = _multipart(s3, bucket, "mp", [5 * MiB, 5 * MiB, 1234], ChecksumAlgorithm="SHA256")
    attrs = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=ALL)
    head = s3.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert attrs["ETag"] == head["ETag"].strip('"') and attrs["ETag"].endswith("-3")
    assert attrs["ObjectSize"] == sum(map(len, datas)) and attrs["StorageClass"] == "STANDARD"
    assert attrs["LastModified"] == head["LastModified"]
    assert attrs["Checksum"] == {"ChecksumSHA256": head["ChecksumSHA256"].split("-")[0], "ChecksumType": "COMPOSITE"}
    op = attrs["ObjectParts"]
    assert op["TotalPartsCount"] == 3 and op["IsTruncated"] is False and op["MaxParts"] == 1000
    assert [(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in op["Parts"]] == [
        (n, len(d), base64.b64encode(hashlib.sha256(d).digest()).decode()) for n, d in enumerate(datas, 1)]
    assert [p["ChecksumSHA256"] for p in op["Parts"]] == [p["ChecksumSHA256"] for p in parts]


def test_parts_come_in_pages(s3, bucket):
    _multipart(s3, bucket, "mp", [5 * MiB, 5 * MiB, 10], ChecksumAlgorithm="SHA256")
    first = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=2)
    op = first["ObjectParts"]
    assert [p["PartNumber"] for p in op["Parts"]] == [1, 2] and op["IsTruncated"] is True
    assert op["NextPartNumberMarker"] == 2 and op["MaxParts"] == 2 and op["TotalPartsCount"] == 3
    rest = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=2,
                                    PartNumberMarker=2)["ObjectParts"]
    assert [p["PartNumber"] for p in rest["Parts"]] == [3] and rest["IsTruncated"] is False
    assert set(first) - {"ResponseMetadata"} == {"ObjectParts", "LastModified"}      # only what was asked


def test_a_single_part_object_has_no_object_parts(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"abc")
    attrs = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=ALL)
    assert "ObjectParts" not in attrs and attrs["ObjectSize"] == 3
    assert attrs["ETag"] == hashlib.md5(b"abc").hexdigest()


@pytest.mark.parametrize("headers,fragment", [
    ({}, b"either missing or empty"),
    ({"x-amz-object-attributes": ""}, b"either missing or empty"),
    ({"x-amz-object-attributes": "ETag,Colour"}, b"Invalid attribute name"),
    ({"x-amz-object-attributes": "ETag", "x-amz-max-parts": "lots"}, b"Invalid x-amz-max-parts header"),
    ({"x-amz-object-attributes": "ETag", "x-amz-part-number-marker": "-1"}, b"Invalid x-amz-part-number-marker"),
])
def test_bad_requests_are_invalid_argument(system, s3, bucket, headers, fragment):
    s3.put_object(Bucket=bucket, Key="k", Body=b"abc")
    url = f"{system.endpoint}/{bucket}/k?attributes"
    r = requests.get(url, headers=sign("GET", url, b"", headers))
    assert r.status_code == 400 and b"<Code>InvalidArgument</Code>" in r.content and fragment in r.content


def test_attributes_of_another_users_object_are_denied(system, bucket):
    from tests.adminutil import new_user
    bob = new_user(system, "attr-bob")
    s3 = system.client()
    s3.put_object(Bucket=bucket, Key="k", Body=b"abc")
    other = system.client(access_key=bob["access_key"], secret_key=bob["secret_key"])
    with pytest.raises(ClientError) as e:
        other.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ETag"])
    assert e.value.response["Error"]["Code"] == "AccessDenied"
