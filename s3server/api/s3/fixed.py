"""Bucket settings that can only describe this server's one state, accepted when they do:
PutBucketOwnershipControls (``BucketOwnerEnforced``), PutPublicAccessBlock (any flags; kept and
reported, with GetPublicAccessBlock and DeletePublicAccessBlock), PutBucketRequestPayment
(``BucketOwner``), PutBucketAccelerateConfiguration (``Suspended``; kept and reported),
PutBucketNotificationConfiguration (no notifications) and PutBucketLogging (logging off).

Infrastructure tools write these settings as a matter of course (Terraform modules create a
public access block and ownership controls for every bucket), and until now got 501 for a
setting that changes nothing here. A document that asks for something this server does not do
(ACLs enabled, requester pays, acceleration, notifications, access logs) stays 501
NotImplemented, so nobody believes it took effect. A public access block is accepted whatever
its flags: they only ever restrict access (ACLs are disabled; BlockPublicPolicy and
RestrictPublicBuckets act on bucket policies, service/buckets.py)."""
from __future__ import annotations

import falcon

from s3server.api import xml, xmlparse
from s3server.api.s3.buckets import _xml
from s3server.api.s3.context import S3Context
from s3server.api.s3.payload import read_xml_payload
from s3server.errors import S3Error

MAX_BODY = 64 * 1024
PUBLIC_ACCESS_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
OWNERSHIPS = ("BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter")
NOTIFICATIONS = ("TopicConfiguration", "QueueConfiguration", "CloudFunctionConfiguration",
                 "EventBridgeConfiguration")


def _document(ctx: S3Context, root_name: str):
    root = xmlparse.parse(read_xml_payload(ctx, MAX_BODY))
    if root.tag != root_name:
        raise S3Error("MalformedXML")
    return root


def _only_child_text(el, name: str) -> str:
    """The text of ``el``'s one child, which must be ``name``; MalformedXML otherwise."""
    values = xmlparse.child_values(el)
    if set(values) != {name} or len(values[name]) != 1:
        raise S3Error("MalformedXML")
    return values[name][0]


def put_ownership_controls(ctx: S3Context) -> None:
    root = _document(ctx, "OwnershipControls")
    rules = root.findall("Rule")
    if len(rules) != 1 or len(root) != 1:
        raise S3Error("MalformedXML")
    ownership = _only_child_text(rules[0], "ObjectOwnership")
    if ownership not in OWNERSHIPS:
        raise S3Error("MalformedXML")
    ctx.services.buckets.head_bucket(ctx.user, ctx.bucket)
    if ownership != "BucketOwnerEnforced":
        raise S3Error("NotImplemented", f"Object Ownership {ownership} (ACLs enabled) is not implemented by this "
                      "server: ACLs are disabled, as with BucketOwnerEnforced.")
    ctx.resp.data = b""


def put_public_access_block(ctx: S3Context) -> None:
    root = _document(ctx, "PublicAccessBlockConfiguration")
    values = xmlparse.child_values(root)
    if set(values) - set(PUBLIC_ACCESS_FLAGS) or any(len(v) != 1 for v in values.values()):
        raise S3Error("MalformedXML")
    flags = []
    for name in PUBLIC_ACCESS_FLAGS:
        text = values.get(name, ["false"])[0].lower()
        if text not in ("true", "false"):
            raise S3Error("MalformedXML")
        flags.append(text == "true")
    ctx.services.buckets.set_public_access_block(ctx.user, ctx.bucket, tuple(flags))
    ctx.resp.data = b""


def get_public_access_block(ctx: S3Context) -> None:
    flags = ctx.services.buckets.get_public_access_block(ctx.user, ctx.bucket)
    _xml(ctx, xml.flags("PublicAccessBlockConfiguration", dict(zip(PUBLIC_ACCESS_FLAGS, flags))))


def delete_public_access_block(ctx: S3Context) -> None:
    ctx.services.buckets.set_public_access_block(ctx.user, ctx.bucket, None)
    ctx.resp.status = falcon.HTTP_204


def put_request_payment(ctx: S3Context) -> None:
    payer = _only_child_text(_document(ctx, "RequestPaymentConfiguration"), "Payer")
    if payer not in ("BucketOwner", "Requester"):
        raise S3Error("MalformedXML")
    ctx.services.buckets.head_bucket(ctx.user, ctx.bucket)
    if payer != "BucketOwner":
        raise S3Error("NotImplemented", "Requester Pays buckets are not implemented by this server.")
    ctx.resp.data = b""


def put_accelerate(ctx: S3Context) -> None:
    status = _only_child_text(_document(ctx, "AccelerateConfiguration"), "Status")
    if status not in ("Enabled", "Suspended"):
        raise S3Error("MalformedXML")
    if status != "Suspended":
        ctx.services.buckets.head_bucket(ctx.user, ctx.bucket)
        raise S3Error("NotImplemented", "Transfer Acceleration is not implemented by this server.")
    ctx.services.buckets.set_accelerate(ctx.user, ctx.bucket, status)
    ctx.resp.data = b""


def get_accelerate(ctx: S3Context) -> None:
    status = ctx.services.buckets.get_accelerate(ctx.user, ctx.bucket)
    _xml(ctx, xml.single("AccelerateConfiguration", "Status", status) if status else xml.empty("AccelerateConfiguration"))


def put_notification(ctx: S3Context) -> None:
    root = _document(ctx, "NotificationConfiguration")
    if any(child.tag not in NOTIFICATIONS for child in root):
        raise S3Error("MalformedXML")
    ctx.services.buckets.head_bucket(ctx.user, ctx.bucket)
    if len(root):
        raise S3Error("NotImplemented", "Event notifications are not implemented by this server.")
    ctx.resp.data = b""


def put_logging(ctx: S3Context) -> None:
    root = _document(ctx, "BucketLoggingStatus")
    if any(child.tag != "LoggingEnabled" for child in root) or len(root) > 1:
        raise S3Error("MalformedXML")
    ctx.services.buckets.head_bucket(ctx.user, ctx.bucket)
    if len(root):
        raise S3Error("NotImplemented", "Server access logging is not implemented by this server.")
    ctx.resp.data = b""


HANDLERS = {
    "PutBucketOwnershipControls": put_ownership_controls,
    "PutPublicAccessBlock": put_public_access_block,
    "GetPublicAccessBlock": get_public_access_block,
    "DeletePublicAccessBlock": delete_public_access_block,
    "PutBucketRequestPayment": put_request_payment,
    "PutBucketAccelerateConfiguration": put_accelerate,
    "GetBucketAccelerateConfiguration": get_accelerate,
    "PutBucketNotificationConfiguration": put_notification,
    "PutBucketLogging": put_logging,
}
