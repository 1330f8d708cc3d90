"""Bucket policies: PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy, GetBucketPolicyStatus.
The document is checked by service/policyparse.py and judged by service/policy.py; every request
is judged against it before its handler runs (resources.py ``authorize``)."""
from __future__ import annotations

import falcon

from s3server.api import xml
from s3server.api.s3.buckets import _xml
from s3server.api.s3.context import S3Context
from s3server.api.s3.payload import request_payload
from s3server.service import policylang
from s3server.service.payload import read_small_payload


def put_bucket_policy(ctx: S3Context) -> None:
    body = read_small_payload(request_payload(ctx), policylang.MAX_POLICY_BYTES,
                              policylang.malformed("Policy exceeds the maximum allowed document size."))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise policylang.malformed("This policy contains invalid Json") from exc
    ctx.services.buckets.set_bucket_policy(ctx.user, ctx.bucket, text)
    ctx.resp.status = falcon.HTTP_204


def get_bucket_policy(ctx: S3Context) -> None:
    text = ctx.services.buckets.get_bucket_policy(ctx.user, ctx.bucket)
    ctx.resp.content_type = "application/json"
    ctx.resp.data = text.encode("utf-8")


def delete_bucket_policy(ctx: S3Context) -> None:
    ctx.services.buckets.set_bucket_policy(ctx.user, ctx.bucket, None)
    ctx.resp.status = falcon.HTTP_204


def get_bucket_policy_status(ctx: S3Context) -> None:
    public = ctx.services.buckets.policy_is_public(ctx.user, ctx.bucket)
    _xml(ctx, xml.single("PolicyStatus", "IsPublic", "true" if public else "false"))


HANDLERS = {
    "PutBucketPolicy": put_bucket_policy,
    "GetBucketPolicy": get_bucket_policy,
    "DeleteBucketPolicy": delete_bucket_policy,
    "GetBucketPolicyStatus": get_bucket_policy_status,
}
