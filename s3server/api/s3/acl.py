"""ACL operations: GetBucketAcl, PutBucketAcl, GetObjectAcl, PutObjectAcl. ACLs are disabled as
in a "bucket owner enforced" AWS bucket; the rules, and the check of ``x-amz-acl`` and
``x-amz-grant-*`` on uploads and CreateBucket, are in service/acl.py."""
from __future__ import annotations

from s3server.api import xmlbuckets, xmlparse
from s3server.api.s3.buckets import _xml, canonical_id
from s3server.api.s3.context import S3Context
from s3server.api.s3.payload import read_xml_payload
from s3server.errors import S3Error
from s3server.service import acl


def _owner(ctx: S3Context) -> tuple[str, str]:
    owner_id, name = ctx.services.buckets.owner(ctx.user, ctx.bucket)
    return canonical_id(owner_id), name


def get_bucket_acl(ctx: S3Context) -> None:
    _xml(ctx, xmlbuckets.access_control_policy(*_owner(ctx)))


def get_object_acl(ctx: S3Context) -> None:
    ctx.services.objects.head_object(ctx.user, ctx.bucket, ctx.key)     # NoSuchKey
    _xml(ctx, xmlbuckets.access_control_policy(*_owner(ctx)))


def _grants_from_body(body: bytes) -> tuple[list[acl.Grant], str | None]:
    """An AccessControlPolicy document -> (grants, owner id); MalformedACLError if it is not one."""
    try:
        root = xmlparse.parse(body)
    except S3Error as exc:
        raise S3Error("MalformedACLError") from exc
    listing = root.find("AccessControlList") if root.tag == "AccessControlPolicy" else None
    if listing is None:
        raise S3Error("MalformedACLError")
    owner = root.find("Owner")
    grants = []
    for el in listing:
        grantee = el.find("Grantee") if el.tag == "Grant" else None
        permission = xmlparse.child_text(el, "Permission")
        if grantee is None or permission not in acl.PERMISSIONS:
            raise S3Error("MalformedACLError")
        kind = grantee.get(acl.XSI_TYPE)
        value = xmlparse.child_text(grantee, acl.GRANTEE_TYPES.get(kind, ""))
        if not value:
            raise S3Error("MalformedACLError")
        grants.append(acl.Grant(kind, value, permission))
    return grants, (xmlparse.child_text(owner, "ID") if owner is not None else None)


def put_acl(ctx: S3Context) -> None:
    """PutBucketAcl / PutObjectAcl: the ACL in a body or in headers, never both."""
    if ctx.key:
        ctx.services.objects.head_object(ctx.user, ctx.bucket, ctx.key)  # NoSuchKey
    owner_id, _ = _owner(ctx)
    body = read_xml_payload(ctx)
    in_headers = acl.has_acl_headers(ctx.headers)
    if body.strip():
        if in_headers:
            raise S3Error("UnexpectedContent", "This request does not support content with ACL headers")
        grants, policy_owner = _grants_from_body(body)
        acl.check_policy(grants, owner_id, policy_owner)
    elif in_headers:
        acl.check_acl_headers(ctx.headers, owner_id)
    else:
        raise S3Error("MissingSecurityHeader", missing_header_name="x-amz-acl")
    ctx.resp.data = b""


HANDLERS = {
    "GetBucketAcl": get_bucket_acl,
    "GetObjectAcl": get_object_acl,
    "PutBucketAcl": put_acl,
    "PutObjectAcl": put_acl,
}
