"""Server-side encryption scenarios (SSE-S3, ``x-amz-server-side-encryption: AES256``): the header
on uploads, reads, copies and multipart uploads, and that a copy is encrypted as its request asks."""
from __future__ import annotations

import hashlib

from tests.conformance.harness import SCENARIOS, as_error, aws_differs_from_moto
from tests.conformance.scenarios.multipart import DEFAULT_CRC64, _default_checksum

S = SCENARIOS
SSE = {"ServerSideEncryption": "AES256"}
BODY = b"encrypt me at rest, please " * 40


@S("encryption")
def put_get_head(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="enc", Body=BODY, **SSE)
    run.call("head_object", Bucket=b, Key="enc")
    run.call("get_object", Bucket=b, Key="enc")
    run.call("get_object", Bucket=b, Key="enc", Range="bytes=17-530")
    run.call("put_object", Bucket=b, Key="plain", Body=BODY)
    run.call("head_object", Bucket=b, Key="plain")
    run.call("list_objects_v2", Bucket=b)


@S("encryption")
def overwrite_changes_encryption(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="k", Body=BODY, **SSE)
    run.call("put_object", Bucket=b, Key="k", Body=b"now plain")
    run.call("get_object", Bucket=b, Key="k")
    run.call("put_object", Bucket=b, Key="k", Body=b"encrypted again", **SSE)
    run.call("get_object", Bucket=b, Key="k")


@S("encryption")
def copies(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="enc", Body=BODY, **SSE)
    run.setup("put_object", Bucket=b, Key="plain", Body=b"plain body")
    run.call("copy_object", Bucket=b, Key="enc-to-plain", CopySource={"Bucket": b, "Key": "enc"})
    run.call("get_object", Bucket=b, Key="enc-to-plain")
    run.call("copy_object", Bucket=b, Key="plain-to-enc", CopySource={"Bucket": b, "Key": "plain"}, **SSE)
    run.call("get_object", Bucket=b, Key="plain-to-enc")
    # a copy onto itself that only changes the encryption is allowed
    run.call("copy_object", Bucket=b, Key="plain", CopySource={"Bucket": b, "Key": "plain"}, **SSE)
    run.call("head_object", Bucket=b, Key="plain")


@S("encryption")
@aws_differs_from_moto(DEFAULT_CRC64, _default_checksum(BODY))
def multipart(run):
    b = run.bucket()
    uid = run.call("create_multipart_upload", Bucket=b, Key="mp", **SSE)["UploadId"]
    part = run.call("upload_part", Bucket=b, Key="mp", UploadId=uid, PartNumber=1, Body=BODY)
    run.call("complete_multipart_upload", Bucket=b, Key="mp", UploadId=uid,
             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    run.call("head_object", Bucket=b, Key="mp")
    got = run.call("get_object", Bucket=b, Key="mp", Range="bytes=100-199")
    run.note("range is right", got["Body"] == BODY[100:200])
    run.note("md5", hashlib.md5(run.call("get_object", Bucket=b, Key="mp")["Body"]).hexdigest())


def _invalid_method(records):
    records[0] = as_error(records[0], 400, "InvalidArgument")
    records[1]["body"]["KeyCount"] = 0
    records[1]["body"].pop("Contents")


@S("encryption")
@aws_differs_from_moto("x-amz-server-side-encryption: The server-side encryption algorithm that was used when you "
                       "store this object in Amazon S3 or Amazon FSx. Valid Values: AES256 | aws:fsx | aws:kms | "
                       "aws:kms:dsse (botocore's model adds aws:backup; moto stores the object whatever the value)",
                       _invalid_method)
def unknown_method(run):
    b = run.bucket()
    run.raw("PUT", run.key_path(b, "k"), body=b"x", headers={"x-amz-server-side-encryption": "rot13"})
    run.call("list_objects_v2", Bucket=b)


DEFAULT_AES = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def _multipart_default(records):
    # CreateMultipartUpload in a bucket with default encryption: AWS encrypts the upload ("Amazon S3
    # automatically encrypts all new objects ... with the default encryption of the bucket"), moto
    # leaves multipart uploads out
    for rec in records:
        if rec["step"] == "create_multipart_upload":
            rec["headers"]["x-amz-server-side-encryption"] = "AES256"
            rec["body"]["ServerSideEncryption"] = "AES256"


@S("encryption")
def bucket_default(run):
    b = run.bucket()
    run.call("get_bucket_encryption", Bucket=b)
    run.call("put_bucket_encryption", Bucket=b, ServerSideEncryptionConfiguration=DEFAULT_AES)
    run.call("get_bucket_encryption", Bucket=b)
    run.call("put_object", Bucket=b, Key="k", Body=BODY)
    run.call("head_object", Bucket=b, Key="k")
    run.call("copy_object", Bucket=b, Key="c", CopySource={"Bucket": b, "Key": "k"})
    run.call("put_bucket_encryption", Bucket=b, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})
    run.call("get_bucket_encryption", Bucket=b)
    run.call("delete_bucket_encryption", Bucket=b)
    run.call("get_bucket_encryption", Bucket=b)
    run.call("put_object", Bucket=b, Key="after", Body=BODY)
    run.call("get_object", Bucket=b, Key="k")


@S("encryption")
@aws_differs_from_moto("Amazon S3 now applies server-side encryption with Amazon S3 managed keys (SSE-S3) as the "
                       "base level of encryption for every bucket ... all new object uploads to Amazon S3 are "
                       "automatically encrypted (default encryption covers multipart uploads; moto leaves them "
                       "out)", _multipart_default)
def bucket_default_multipart(run):
    b = run.bucket()
    run.setup("put_bucket_encryption", Bucket=b, ServerSideEncryptionConfiguration=DEFAULT_AES)
    uid = run.call("create_multipart_upload", Bucket=b, Key="mp")["UploadId"]
    run.setup("abort_multipart_upload", Bucket=b, Key="mp", UploadId=uid)


@S("encryption")
def bucket_default_errors(run):
    b = run.bucket()
    run.call("put_bucket_encryption", Bucket=b, ServerSideEncryptionConfiguration={"Rules": []})
    run.call("get_bucket_encryption", Bucket=run.bucket(create=False))
    run.call("delete_bucket_encryption", Bucket=run.bucket(create=False))
