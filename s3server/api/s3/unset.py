"""Bucket configurations this server keeps none of (policy, lifecycle, encryption, website,
object lock, public access block, replication, logging, notifications, payer, acceleration): the
reads answer what AWS answers for a bucket where they were never set, and the deletes succeed,
since there is nothing to remove. Tools that read every setting of a bucket (Terraform's
aws_s3_bucket, backup and sync tools, S3 browsers) then work; the writes stay 501 NotImplemented,
so nobody believes a setting took effect.

Ownership controls are the one setting with a fixed value: BucketOwnerEnforced, ACLs disabled
(see acl.py), the default of every new AWS bucket since April 2023."""
from __future__ import annotations

import falcon

from s3server.api import xml
from s3server.api.s3.buckets import _xml
from s3server.api.s3.resources import S3Context
from s3server.errors import S3Error

# read -> the error AWS answers while the setting was never made
NOT_SET = {
    "GetBucketPolicy": "NoSuchBucketPolicy",
    "GetBucketLifecycleConfiguration": "NoSuchLifecycleConfiguration",
    "GetBucketEncryption": "ServerSideEncryptionConfigurationNotFoundError",
    "GetBucketWebsite": "NoSuchWebsiteConfiguration",
    "GetObjectLockConfiguration": "ObjectLockConfigurationNotFoundError",
    "GetPublicAccessBlock": "NoSuchPublicAccessBlockConfiguration",
    "GetBucketReplication": "ReplicationConfigurationNotFoundError",
}
# read -> the document AWS answers while the setting was never made
DEFAULTS = {
    "GetBucketLogging": lambda: xml.empty("BucketLoggingStatus"),
    "GetBucketNotificationConfiguration": lambda: xml.empty("NotificationConfiguration"),
    "GetBucketAccelerateConfiguration": lambda: xml.empty("AccelerateConfiguration"),
    "GetBucketRequestPayment": lambda: xml.single("RequestPaymentConfiguration", "Payer", "BucketOwner"),
    "GetBucketOwnershipControls": xml.ownership_controls,
}
NOTHING_TO_DELETE = ("DeleteBucketPolicy", "DeleteBucketLifecycle", "DeleteBucketEncryption",
                     "DeleteBucketWebsite", "DeletePublicAccessBlock", "DeleteBucketReplication")


def _not_set(code: str):
    def handler(ctx: S3Context) -> None:
        ctx.services.buckets.head_bucket(ctx.user, ctx.bucket)
        raise S3Error(code, bucket_name=ctx.bucket)
    return handler


def _default(render):
    body = render()

    def handler(ctx: S3Context) -> None:
        ctx.services.buckets.head_bucket(ctx.user, ctx.bucket)
        _xml(ctx, body)
    return handler


def _nothing_to_delete(ctx: S3Context) -> None:
    ctx.services.buckets.head_bucket(ctx.user, ctx.bucket)
    ctx.resp.status = falcon.HTTP_204


HANDLERS = {
    **{op: _not_set(code) for op, code in NOT_SET.items()},
    **{op: _default(render) for op, render in DEFAULTS.items()},
    **{op: _nothing_to_delete for op in NOTHING_TO_DELETE},
}
