"""Listing operations: ListObjectsV2, ListObjects (v1), ListObjectVersions."""
from __future__ import annotations

from s3server.api import xmllisting
from s3server.api.s3.buckets import _xml, objects_owner_of
from s3server.api.s3.context import S3Context
from s3server.errors import S3Error
from s3server.service.listing import ListRequest, encode_token, parse_max_keys


def _encoding(ctx: S3Context) -> bool:
    enc = ctx.query.get("encoding-type")
    if enc is None:
        return False
    if enc.lower() != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request",
                      argument_name="encoding-type", argument_value=enc)
    return True


def list_objects_v2(ctx: S3Context) -> None:
    q = ctx.query
    if q.get("list-type") != "2":
        raise S3Error("InvalidArgument", "Invalid List Type specified in Request",
                      argument_name="list-type", argument_value=q.get("list-type"))
    encode = _encoding(ctx)
    token = q.get("continuation-token")
    if token == "":
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect",
                      argument_name="continuation-token")
    req = ListRequest(bucket=ctx.bucket, prefix=q.get("prefix", ""), delimiter=q.get("delimiter", ""),
                      max_keys=parse_max_keys(q.get("max-keys")), start_after=q.get("start-after", ""),
                      continuation_token=token)
    page = ctx.services.listing.list_objects(ctx.user, req)
    fetch_owner = q.get("fetch-owner", "").lower() == "true"
    _xml(ctx, xmllisting.list_objects_v2_body(
        bucket=ctx.bucket, prefix=req.prefix, delimiter=req.delimiter, max_keys=req.max_keys, page=page,
        encode=encode, continuation_token=token,
        next_token=encode_token(page.next_marker) if page.is_truncated and page.next_marker else None,
        start_after=req.start_after or None, owner=objects_owner_of(ctx) if fetch_owner else None))


def list_objects(ctx: S3Context) -> None:
    q = ctx.query
    encode = _encoding(ctx)
    req = ListRequest(bucket=ctx.bucket, prefix=q.get("prefix", ""), delimiter=q.get("delimiter", ""),
                      max_keys=parse_max_keys(q.get("max-keys")), start_after=q.get("marker", ""))
    page = ctx.services.listing.list_objects(ctx.user, req)
    _xml(ctx, xmllisting.list_objects_v1_body(bucket=ctx.bucket, prefix=req.prefix, delimiter=req.delimiter,
                                   max_keys=req.max_keys, page=page, encode=encode, marker=req.start_after,
                                   owner=objects_owner_of(ctx)))


def list_object_versions(ctx: S3Context) -> None:
    """Buckets are unversioned: every object appears once, VersionId "null", IsLatest true."""
    q = ctx.query
    encode = _encoding(ctx)
    req = ListRequest(bucket=ctx.bucket, prefix=q.get("prefix", ""), delimiter=q.get("delimiter", ""),
                      max_keys=parse_max_keys(q.get("max-keys")), start_after=q.get("key-marker", ""))
    page = ctx.services.listing.list_objects(ctx.user, req)
    _xml(ctx, xmllisting.list_object_versions(bucket=ctx.bucket, prefix=req.prefix, delimiter=req.delimiter,
                                       max_keys=req.max_keys, page=page, encode=encode,
                                       key_marker=req.start_after, owner=objects_owner_of(ctx)))


HANDLERS = {
    "ListObjectsV2": list_objects_v2,
    "ListObjects": list_objects,
    "ListObjectVersions": list_object_versions,
}
