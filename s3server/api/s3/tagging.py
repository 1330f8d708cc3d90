"""Tagging: PutObjectTagging, GetObjectTagging, DeleteObjectTagging (``?tagging`` on an
object) and PutBucketTagging, GetBucketTagging, DeleteBucketTagging (on a bucket). The tag
rules are in service/tagging.py; ``x-amz-tagging`` on PutObject, CopyObject and
CreateMultipartUpload is read in objects.py."""
from __future__ import annotations

import falcon

from s3server.api import xml, xmlparse
from s3server.api.s3.buckets import _xml
from s3server.api.s3.context import S3Context
from s3server.api.s3.payload import read_xml_payload
from s3server.errors import S3Error
from s3server.service.tagging import validate_tags


def _tags_from_body(body: bytes) -> list[tuple[str, str]]:
    root = xmlparse.parse(body)
    tag_set = root.find("TagSet") if root.tag == "Tagging" else None
    if tag_set is None:
        raise S3Error("MalformedXML")
    pairs = []
    for el in tag_set:
        if el.tag != "Tag":
            raise S3Error("MalformedXML")
        key, value = xmlparse.child_text(el, "Key"), xmlparse.child_text(el, "Value")
        if key is None or value is None:
            raise S3Error("MalformedXML")
        pairs.append((key, value))
    return pairs


def body_tags(ctx: S3Context) -> list[tuple[str, str]]:
    """PutObjectTagging's tags, its body read once: by the bucket policy's judging when the
    bucket has a policy (its conditions may name them), else by the handler."""
    if "body" not in ctx.extra:
        ctx.extra["body"] = read_xml_payload(ctx)
    return _tags_from_body(ctx.extra["body"])


def put_object_tagging(ctx: S3Context) -> None:
    tags = validate_tags(body_tags(ctx))
    ctx.services.objects.set_object_tags(ctx.user, ctx.bucket, ctx.key, tags)
    ctx.resp.data = b""


def get_object_tagging(ctx: S3Context) -> None:
    _xml(ctx, xml.tagging(ctx.services.objects.get_object_tags(ctx.user, ctx.bucket, ctx.key)))


def delete_object_tagging(ctx: S3Context) -> None:
    ctx.services.objects.set_object_tags(ctx.user, ctx.bucket, ctx.key, ())
    ctx.resp.status = falcon.HTTP_204


def put_bucket_tagging(ctx: S3Context) -> None:
    body = read_xml_payload(ctx)
    tags = validate_tags(_tags_from_body(body), bucket=True)
    ctx.services.buckets.set_bucket_tags(ctx.user, ctx.bucket, tags)
    ctx.resp.status = falcon.HTTP_204


def get_bucket_tagging(ctx: S3Context) -> None:
    _xml(ctx, xml.tagging(ctx.services.buckets.get_bucket_tags(ctx.user, ctx.bucket)))


def delete_bucket_tagging(ctx: S3Context) -> None:
    ctx.services.buckets.set_bucket_tags(ctx.user, ctx.bucket, None)
    ctx.resp.status = falcon.HTTP_204


HANDLERS = {
    "PutBucketTagging": put_bucket_tagging,
    "GetBucketTagging": get_bucket_tagging,
    "DeleteBucketTagging": delete_bucket_tagging,
    "PutObjectTagging": put_object_tagging,
    "GetObjectTagging": get_object_tagging,
    "DeleteObjectTagging": delete_object_tagging,
}
