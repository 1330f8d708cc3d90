"""The MinIO Python SDK (``minio``), a second S3 client with its own SigV4 signer, multipart
logic, XML parsing and presigning (unlike aws-cli, which shares botocore with boto3): the calls
an application makes, on both metadata backends."""
from __future__ import annotations

import hashlib
import io
import json
import os
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit

from minio import Minio
from minio.commonconfig import ENABLED, ComposeSource, CopySource, Filter, Tags
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule
from minio.sse import SseS3

from tests.conftest import ADMIN_AK, ADMIN_SK

MiB = 1024 * 1024


def client(system) -> Minio:
    return Minio(urlsplit(system.endpoint).netloc, access_key=ADMIN_AK, secret_key=ADMIN_SK, secure=False,
                 region="us-east-1")


def test_minio_sdk_round_trips(system, tmp_path):
    mc = client(system)
    b = f"minio-{uuid.uuid4().hex[:12]}"
    mc.make_bucket(b)
    assert mc.bucket_exists(b) and b in [x.name for x in mc.list_buckets()]
    small = os.urandom(100_000)
    assert mc.put_object(b, "dir/small.bin", io.BytesIO(small), len(small)).etag == hashlib.md5(small).hexdigest()
    big = os.urandom(12 * MiB + 7)
    # length unknown: the SDK uploads 5 MiB parts (CreateMultipartUpload, UploadPart, Complete)
    assert mc.put_object(b, "big.bin", io.BytesIO(big), -1, part_size=5 * MiB).etag.endswith("-3")
    assert mc.get_object(b, "big.bin").read() == big
    assert mc.get_object(b, "big.bin", offset=5 * MiB - 10, length=20).read() == big[5 * MiB - 10:5 * MiB + 10]
    assert mc.stat_object(b, "big.bin").size == len(big)
    src = tmp_path / "up.bin"
    src.write_bytes(small)
    mc.fput_object(b, "dir/file.bin", str(src))
    mc.fget_object(b, "dir/file.bin", str(tmp_path / "down.bin"))
    assert (tmp_path / "down.bin").read_bytes() == small

    assert [o.object_name for o in mc.list_objects(b)] == ["big.bin", "dir/"]
    assert [o.object_name for o in mc.list_objects(b, recursive=True)] == ["big.bin", "dir/file.bin", "dir/small.bin"]
    assert [o.object_name for o in mc.list_objects(b, prefix="dir/", use_api_v1=True)] == [
        "dir/file.bin", "dir/small.bin"]

    mc.copy_object(b, "copy.bin", CopySource(b, "dir/small.bin"))
    # compose: a multipart upload whose parts are server-side copies (UploadPartCopy)
    mc.compose_object(b, "composed.bin", [ComposeSource(b, "big.bin"), ComposeSource(b, "dir/small.bin")])
    assert mc.get_object(b, "composed.bin").read() == big + small

    tags = Tags.new_object_tags()
    tags["team"] = "data"
    mc.set_object_tags(b, "copy.bin", tags)
    assert dict(mc.get_object_tags(b, "copy.bin")) == {"team": "data"}

    assert urllib.request.urlopen(mc.presigned_get_object(b, "dir/small.bin")).read() == small
    put = urllib.request.Request(mc.presigned_put_object(b, "presigned.txt"), data=b"hello", method="PUT")
    assert urllib.request.urlopen(put).status == 200
    assert mc.get_object(b, "presigned.txt").read() == b"hello"

    mc.put_object(b, "secret.bin", io.BytesIO(small), len(small), sse=SseS3())
    assert mc.stat_object(b, "secret.bin").metadata["x-amz-server-side-encryption"] == "AES256"

    mc.set_bucket_lifecycle(b, LifecycleConfig([Rule(ENABLED, rule_filter=Filter(prefix="logs/"), rule_id="logs",
                                                     expiration=Expiration(days=30))]))
    [rule] = mc.get_bucket_lifecycle(b).rules
    assert (rule.rule_id, rule.expiration.days, rule.rule_filter.prefix) == ("logs", 30, "logs/")
    mc.delete_bucket_lifecycle(b)
    assert mc.get_bucket_lifecycle(b) is None

    # the policy `mc anonymous set download` writes: everyone may list the bucket and read it
    public = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{b}"]},
        {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{b}/*"]}]})
    mc.set_bucket_policy(b, public)
    assert json.loads(mc.get_bucket_policy(b)) == json.loads(public)
    assert urllib.request.urlopen(f"{system.endpoint}/{b}/dir/small.bin").read() == small    # unsigned
    mc.delete_bucket_policy(b)
    try:
        urllib.request.urlopen(f"{system.endpoint}/{b}/dir/small.bin")
        raise AssertionError("an unsigned read worked without a policy")
    except urllib.error.HTTPError as exc:
        assert exc.code == 403

    try:
        mc.get_object(b, "missing")
        raise AssertionError("a missing key was found")
    except S3Error as exc:
        assert exc.code == "NoSuchKey"

    names = [o.object_name for o in mc.list_objects(b, recursive=True)]
    assert list(mc.remove_objects(b, [DeleteObject(n) for n in names])) == []
    assert list(mc.list_objects(b, recursive=True)) == []
    mc.remove_bucket(b)
    assert not mc.bucket_exists(b)
