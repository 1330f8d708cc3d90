"""CopyObject (PUT with x-amz-copy-source), and the copy-source headers UploadPartCopy shares."""
from __future__ import annotations

import dataclasses

from s3server.api import xmlobjects
from s3server.api.s3.buckets import _xml
from s3server.api.s3.objects import (SOURCE_CUSTOMER_KEY, customer_key, object_attrs, set_expiration_header,
                                     set_sse_header)
from s3server.api.s3.context import S3Context
from s3server.errors import S3Error
from s3server.service.copy import CopyConditions, CopySource, parse_copy_source


def copy_conditions(ctx: S3Context) -> CopyConditions:
    return CopyConditions(ctx.header("x-amz-copy-source-if-match"), ctx.header("x-amz-copy-source-if-none-match"),
                          ctx.header("x-amz-copy-source-if-modified-since"),
                          ctx.header("x-amz-copy-source-if-unmodified-since"))


def copy_source(ctx: S3Context) -> CopySource:
    """``x-amz-copy-source``, with ``x-amz-source-expected-bucket-owner`` checked against its bucket."""
    source = parse_copy_source(ctx.header("x-amz-copy-source"))
    expected = ctx.header("x-amz-source-expected-bucket-owner")
    if expected is not None:
        ctx.services.buckets.check_expected_owner(source.bucket, expected)
    return source


def copy_object(ctx: S3Context) -> None:
    if_none_match = ctx.header("if-none-match")
    if if_none_match is not None and if_none_match.strip() != "*":
        raise S3Error("NotImplemented", "If-None-Match on CopyObject only supports '*'.")
    source = copy_source(ctx)
    if (ctx.header("x-amz-tagging-directive") or "COPY").upper() != "REPLACE" and "x-amz-tagging" in ctx.headers:
        # COPY (the default) takes the source's tags: the header is ignored, not validated
        ctx = dataclasses.replace(ctx, headers={k: v for k, v in ctx.headers.items() if k != "x-amz-tagging"})
    attrs = object_attrs(ctx)           # validates x-amz-storage-class and the copy's encryption too
    meta = ctx.services.copy.copy_object(
        ctx.user, ctx.bucket, ctx.key, source, cond=copy_conditions(ctx),
        metadata_directive=ctx.header("x-amz-metadata-directive"), replace_attrs=attrs,
        storage_class=attrs["storage_class"] if ctx.header("x-amz-storage-class") else None,
        checksum_algorithm=ctx.header("x-amz-checksum-algorithm"),
        tagging_directive=ctx.header("x-amz-tagging-directive"),
        if_none_match=if_none_match is not None, if_match=ctx.header("if-match"),
        source_key=customer_key(ctx, SOURCE_CUSTOMER_KEY), customer_key=customer_key(ctx))
    if meta.storage_class != "STANDARD":
        ctx.resp.set_header("x-amz-storage-class", meta.storage_class)
    set_sse_header(ctx, meta.sse)
    set_expiration_header(ctx, meta)
    _xml(ctx, xmlobjects.copy_result("CopyObjectResult", meta.etag, meta.last_modified, meta.checksums))


HANDLERS = {
    "CopyObject": copy_object,
}
