"""Bucket configurations this server keeps none of (object lock, replication,
logging, notifications, payer): the reads answer what AWS answers for a bucket where they were
never set, and the deletes succeed, since there is nothing to remove. Tools that read every
setting of a bucket (Terraform's aws_s3_bucket, backup and sync tools, S3 browsers) then work;
the writes stay 501 NotImplemented, so nobody believes a setting took effect, except those that
only describe this server's one state (fixed.py).

Ownership controls are the one setting with a fixed value: BucketOwnerEnforced, ACLs disabled
(see acl.py), the default of every new AWS bucket since April 2023.

The same goes for analytics, metrics, inventory and Intelligent-Tiering configurations (lists are
empty, an id names nothing), and Object Lock on objects (no bucket
here has it: retention and legal holds are InvalidRequest, as on an AWS bucket without Object
Lock); RestoreObject finds every object already readable (InvalidObjectState). The other
sub-resources routing.py knows without an operation here answer 501 NotImplemented."""
from __future__ import annotations

import falcon

from s3server.api import routing, xml, xmlbuckets
from s3server.api.s3.buckets import _xml
from s3server.api.s3.context import S3Context
from s3server.errors import S3Error

# read -> the error AWS answers while the setting was never made
NOT_SET = {
    "GetObjectLockConfiguration": "ObjectLockConfigurationNotFoundError",
    "GetBucketReplication": "ReplicationConfigurationNotFoundError",
    **{f"GetBucket{name}Configuration": "NoSuchConfiguration" for _, name in routing.CONFIG_LISTS},
    **{f"DeleteBucket{name}Configuration": "NoSuchConfiguration" for _, name in routing.CONFIG_LISTS},
}
# read -> the document AWS answers while the setting was never made
DEFAULTS = {
    "GetBucketLogging": lambda: xml.empty("BucketLoggingStatus"),
    "GetBucketNotificationConfiguration": lambda: xml.empty("NotificationConfiguration"),
    "GetBucketRequestPayment": lambda: xml.single("RequestPaymentConfiguration", "Payer", "BucketOwner"),
    "GetBucketOwnershipControls": xmlbuckets.ownership_controls,
    # the list operations' documents as AWS names them, with no configuration in them
    "ListBucketAnalyticsConfigurations": lambda: xml.single("ListBucketAnalyticsConfigurationResult",
                                                            "IsTruncated", "false"),
    "ListBucketMetricsConfigurations": lambda: xml.single("ListMetricsConfigurationsResult", "IsTruncated", "false"),
    "ListBucketInventoryConfigurations": lambda: xml.single("ListInventoryConfigurationsResult",
                                                            "IsTruncated", "false"),
    "ListBucketIntelligentTieringConfigurations": lambda: xml.single(
        "ListBucketIntelligentTieringConfigurationsOutput", "IsTruncated", "false"),
}
OBJECT_LOCK = ("GetObjectRetention", "PutObjectRetention", "GetObjectLegalHold", "PutObjectLegalHold")
NOTHING_TO_DELETE = ("DeleteBucketReplication",)


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


def _no_object_lock(ctx: S3Context) -> None:
    ctx.services.buckets.head_bucket(ctx.user, ctx.bucket)
    raise S3Error("InvalidRequest", "Bucket is missing Object Lock Configuration")


def _restore_object(ctx: S3Context) -> None:
    """Every object here is readable at once (no archive storage classes): AWS's answer for an
    object not in S3 Glacier Flexible Retrieval or Deep Archive."""
    ctx.services.objects.head_object(ctx.user, ctx.bucket, ctx.key)
    raise S3Error("InvalidObjectState", "Restore is not allowed for the object's current storage class")


HANDLERS = {
    **{op: _not_set(code) for op, code in NOT_SET.items()},
    **{op: _default(render) for op, render in DEFAULTS.items()},
    **{op: _nothing_to_delete for op in NOTHING_TO_DELETE},
    **{op: _no_object_lock for op in OBJECT_LOCK},
    "RestoreObject": _restore_object,
}
