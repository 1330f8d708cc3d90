"""A bucket's default encryption: PutBucketEncryption, GetBucketEncryption, DeleteBucketEncryption.

SSE-S3 (AES256) is the one algorithm offered (see service/sse.py); uploads that ask for no
encryption in such a bucket are encrypted with it. A KMS default is refused (501), as the
per-object KMS headers are."""
from __future__ import annotations

import falcon

from s3server.api import xmlbuckets, xmlparse
from s3server.api.s3.buckets import _xml
from s3server.api.s3.context import S3Context
from s3server.api.s3.payload import read_xml_payload
from s3server.errors import S3Error
from s3server.models import BucketEncryption
from s3server.service import sse

MAX_ENCRYPTION_BODY = 16 * 1024
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")


def _parse(body: bytes) -> BucketEncryption:
    """``ServerSideEncryptionConfiguration`` with one ``Rule``: ``ApplyServerSideEncryptionByDefault``
    (``SSEAlgorithm``, optional ``KMSMasterKeyID``) and optional ``BucketKeyEnabled``."""
    root = xmlparse.parse(body)
    rules = root.findall("Rule")
    if root.tag != "ServerSideEncryptionConfiguration" or len(rules) != 1 or len(root) != 1:
        raise S3Error("MalformedXML")
    rule = xmlparse.child_values(rules[0])
    default = rules[0].findall("ApplyServerSideEncryptionByDefault")
    bucket_key = rule.pop("BucketKeyEnabled", ["false"])
    rule.pop("ApplyServerSideEncryptionByDefault", None)
    if rule or len(default) != 1 or len(bucket_key) != 1 or bucket_key[0] not in ("true", "false"):
        raise S3Error("MalformedXML")
    values = xmlparse.child_values(default[0])
    algorithm = values.pop("SSEAlgorithm", [None])
    key_id = values.pop("KMSMasterKeyID", [None])
    if values or len(algorithm) != 1 or len(key_id) != 1 or algorithm[0] is None:
        raise S3Error("MalformedXML")
    if algorithm[0] in KMS_ALGORITHMS:
        raise S3Error("NotImplemented", "Server-side encryption with KMS keys is not implemented by this server; "
                      "SSE-S3 (AES256) is.")
    if algorithm[0] != sse.ALGORITHM:
        raise S3Error("MalformedXML")
    if key_id[0] is not None:
        raise S3Error("InvalidArgument", "a KMSMasterKeyID is not applicable if the default sse algorithm is not "
                      "aws:kms or aws:kms:dsse", argument_name="ApplyServerSideEncryptionByDefault")
    return BucketEncryption(sse.ALGORITHM, bucket_key[0] == "true")


def put_bucket_encryption(ctx: S3Context) -> None:
    encryption = _parse(read_xml_payload(ctx, MAX_ENCRYPTION_BODY))
    ctx.services.objects.check_sse(encryption.algorithm)      # 501 without a master key
    ctx.services.buckets.set_bucket_encryption(ctx.user, ctx.bucket, encryption)
    ctx.resp.data = b""


def get_bucket_encryption(ctx: S3Context) -> None:
    _xml(ctx, xmlbuckets.bucket_encryption(ctx.services.buckets.get_bucket_encryption(ctx.user, ctx.bucket)))


def delete_bucket_encryption(ctx: S3Context) -> None:
    ctx.services.buckets.set_bucket_encryption(ctx.user, ctx.bucket, None)
    ctx.resp.status = falcon.HTTP_204


HANDLERS = {
    "PutBucketEncryption": put_bucket_encryption,
    "GetBucketEncryption": get_bucket_encryption,
    "DeleteBucketEncryption": delete_bucket_encryption,
}
