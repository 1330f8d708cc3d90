"""Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation,
GetBucketVersioning, PutBucketVersioning."""
from __future__ import annotations

import falcon

from s3server.api import xmlbuckets, xmllisting, xmlparse
from s3server.api.s3.context import S3Context, parse_count
from s3server.api.s3.payload import read_xml_payload
from s3server.errors import S3Error
from s3server.service import acl
from s3server.service.listing import decode_token, encode_token

MAX_VERSIONING_BODY = 16 * 1024


def canonical_id(user_id: int) -> str:
    """A user's canonical id in Owner and Grantee elements: 64 hex digits, as AWS's."""
    return f"{user_id:064x}"


def owner_of(ctx: S3Context) -> tuple[str, str]:
    return (canonical_id(ctx.user.id), ctx.user.name)


def objects_owner_of(ctx: S3Context) -> tuple[str, str]:
    """The Owner of the objects in ``ctx.bucket``: its bucket's owner (service/acl.py), who is the
    requester unless an admin reads another user's bucket."""
    owner_id, name = ctx.services.buckets.owner(ctx.user, ctx.bucket)
    return canonical_id(owner_id), name


def _xml(ctx: S3Context, body: bytes, status: int = 200) -> None:
    ctx.resp.status = falcon.code_to_http_status(status)
    ctx.resp.content_type = "application/xml"
    ctx.resp.data = body


MAX_BUCKETS = 10_000
PAGED = ("max-buckets", "continuation-token", "prefix", "bucket-region")


def list_buckets(ctx: S3Context) -> None:
    """Every bucket at once; with any of ``max-buckets``, ``continuation-token``, ``prefix`` or
    ``bucket-region``, pages of ``max-buckets`` (default 10,000) and a ContinuationToken while
    more follow, as AWS does since 2024."""
    q = ctx.query
    if not any(name in q for name in PAGED):
        buckets, _ = ctx.services.buckets.list_buckets(ctx.user)
        _xml(ctx, xmllisting.list_buckets(buckets, *owner_of(ctx)))
        return
    raw = q.get("max-buckets", "")
    limit = MAX_BUCKETS
    if raw:
        limit = parse_count(raw, "max-buckets", "Provided max-buckets not an integer or within integer range")
        if not 1 <= limit <= MAX_BUCKETS:
            raise S3Error("InvalidArgument", "Argument max-buckets must be an integer between 1 and 10000",
                          argument_name="max-buckets", argument_value=raw)
    token = q.get("continuation-token") or ""
    after = decode_token(token) if token else ""
    if token and not after:                    # tokens we hand out name the last bucket sent
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect",
                      argument_name="continuation-token", argument_value=token)
    buckets, more = ctx.services.buckets.list_buckets(
        ctx.user, prefix=q.get("prefix", ""), region=q.get("bucket-region") or None, after=after, limit=limit)
    _xml(ctx, xmllisting.list_buckets(buckets, *owner_of(ctx), prefix=q.get("prefix"),
                               continuation_token=encode_token(buckets[-1].name) if more else None))


def create_bucket(ctx: S3Context) -> None:
    ownership = ctx.header("x-amz-object-ownership")
    if ownership is not None and ownership != "BucketOwnerEnforced":
        if ownership not in ("BucketOwnerPreferred", "ObjectWriter"):
            raise S3Error("InvalidArgument", "Invalid x-amz-object-ownership header",
                          argument_name="x-amz-object-ownership", argument_value=ownership)
        raise S3Error("NotImplemented", "Only BucketOwnerEnforced object ownership (ACLs disabled) is "
                      "implemented by this server.")
    if acl.has_acl_headers(ctx.headers):
        acl.check_acl_headers(ctx.headers, canonical_id(ctx.user.id),
                              refusal="InvalidBucketAclWithObjectOwnership")
    if (ctx.header("x-amz-bucket-object-lock-enabled") or "").strip().lower() == "true":
        raise S3Error("NotImplemented", "Object Lock is not implemented by this server: a bucket with it "
                      "cannot be created.")
    body = xmlparse.read_xml_body(ctx.read)
    constraint = None
    if body.strip():
        root = xmlparse.parse(body)
        if root.tag != "CreateBucketConfiguration":
            raise S3Error("MalformedXML")
        constraint = xmlparse.child_text(root, "LocationConstraint")
        if constraint == "":
            constraint = None
    ctx.services.buckets.create_bucket(ctx.user, ctx.bucket, constraint)
    ctx.resp.set_header("Location", f"/{ctx.bucket}")
    ctx.resp.data = b""


def head_bucket(ctx: S3Context) -> None:
    bucket = ctx.services.buckets.head_bucket(ctx.user, ctx.bucket)
    ctx.resp.set_header("x-amz-bucket-region", bucket.region)
    ctx.resp.data = b""


def delete_bucket(ctx: S3Context) -> None:
    ctx.services.buckets.delete_bucket(ctx.user, ctx.bucket)
    ctx.resp.status = falcon.HTTP_204


def get_bucket_location(ctx: S3Context) -> None:
    region = ctx.services.buckets.get_bucket_location(ctx.user, ctx.bucket)
    _xml(ctx, xmlbuckets.location(region))


def get_bucket_versioning(ctx: S3Context) -> None:
    _xml(ctx, xmlbuckets.versioning(ctx.services.buckets.get_bucket_versioning(ctx.user, ctx.bucket)))


def put_bucket_versioning(ctx: S3Context) -> None:
    """``Status`` Enabled or Suspended (only Suspended is accepted, see BucketService), ``MfaDelete``
    absent or Disabled; anything else in the document is IllegalVersioningConfigurationException."""
    root = xmlparse.parse(read_xml_payload(ctx, MAX_VERSIONING_BODY))
    if root.tag != "VersioningConfiguration":
        raise S3Error("MalformedXML")
    values = xmlparse.child_values(root)
    status, mfa = values.pop("Status", [None]), values.pop("MfaDelete", [None])
    if values or len(status) > 1 or len(mfa) > 1 or status[0] not in ("Enabled", "Suspended") \
            or mfa[0] not in (None, "Enabled", "Disabled"):
        raise S3Error("IllegalVersioningConfigurationException")
    if mfa[0] == "Enabled":
        raise S3Error("NotImplemented", "MFA delete is not implemented by this server.")
    ctx.services.buckets.set_bucket_versioning(ctx.user, ctx.bucket, status[0])
    ctx.resp.data = b""


HANDLERS = {
    "ListBuckets": list_buckets,
    "CreateBucket": create_bucket,
    "HeadBucket": head_bucket,
    "DeleteBucket": delete_bucket,
    "GetBucketLocation": get_bucket_location,
    "GetBucketVersioning": get_bucket_versioning,
    "PutBucketVersioning": put_bucket_versioning,
}
