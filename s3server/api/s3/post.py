"""PostObject: browser-based uploads, an HTML form (multipart/form-data) posted to the bucket, as
boto3's ``generate_presigned_post`` prepares it. The form is authenticated by its signed policy
(auth/postpolicy.py), not by an Authorization header; its fields stand in for PutObject's
headers; the file is streamed to the storage nodes like any upload body (form.py)."""
from __future__ import annotations

import dataclasses
from typing import Iterator
from urllib.parse import quote, urlencode

import falcon

from s3server.api import routing, xmlobjects
from s3server.api.s3 import form
from s3server.api.s3.objects import (CONTENT_HEADERS, OBJECT_LOCK_HEADERS, SSE_HEADERS, customer_key, object_attrs,
                                     set_sse_header)
from s3server.api.s3.context import S3Context
from s3server.api.s3.resources import policy_keys
from s3server.api.s3.tagging import _tags_from_body
from s3server.errors import S3Error
from s3server.service import checksums
from s3server.service.payload import Payload
from s3server.service.tagging import validate_tags

# form fields that stand in for PutObject's request headers
HEADER_FIELDS = (frozenset(CONTENT_HEADERS) | {"x-amz-storage-class", "content-md5"} | frozenset(SSE_HEADERS)
                 | frozenset(OBJECT_LOCK_HEADERS))
SUCCESS_STATUSES = {"200": falcon.HTTP_200, "201": falcon.HTTP_201, "204": falcon.HTTP_204}


def _sized(chunks: Iterator[bytes], min_size: int, max_size: int | None) -> Iterator[bytes]:
    """The policy's content-length-range, enforced while the file streams (nothing is stored
    when it fails)."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if max_size is not None and total > max_size:
            raise S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                          max_size_allowed=max_size)
        yield chunk
    if total < min_size:
        raise S3Error("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size",
                      min_size_allowed=min_size, proposed_size=total)


def post_object(ctx: S3Context) -> None:
    """``ctx`` is the request's context before authentication (its user is None; the
    authenticator is in ``ctx.extra``)."""
    location = f"{ctx.req.scheme or 'http'}://{ctx.header('host') or 'localhost'}/"
    if not ctx.target.vhost:                     # virtual-hosted: the bucket is in the host name
        location += quote(ctx.bucket) + "/"
    reader = form.FormReader(ctx.read, form.boundary_of(ctx.header("content-type") or ""))
    fields = reader.fields()
    user, auth = ctx.extra["authenticator"].post_form(fields, ctx.bucket)
    ctx.req.context.user = user
    key = fields.get("key")
    if not key:
        raise S3Error("InvalidArgument", "Bucket POST must contain a field named 'key'.  If it is specified, "
                      "please check the order of the fields.", argument_name="key", argument_value="")
    key = key.replace("${filename}", reader.filename or "")
    headers = {name: value for name, value in fields.items()
               if name in HEADER_FIELDS or name.startswith(("x-amz-meta-", "x-amz-checksum-"))}
    if "acl" in fields:
        headers["x-amz-acl"] = fields["acl"]
    for name in [n for n in fields if n.startswith("x-amz-grant-")]:
        headers[name] = fields[name]
    ctx = dataclasses.replace(ctx, user=user, headers=headers,
                              target=routing.Target(ctx.bucket, key, ctx.target.vhost))
    tags = _tags_from_body(fields["tagging"].encode("utf-8")) if fields.get("tagging") else None
    user = ctx.services.buckets.authorize(user, ctx.bucket, "s3:putobject", key,
                                          policy_keys(dataclasses.replace(ctx, auth=None), post=True, tags=tags))
    ctx = dataclasses.replace(ctx, user=user)
    attrs = object_attrs(ctx)        # content fields, x-amz-meta-*, storage class, ACL check
    if tags is not None:
        attrs["tags"] = validate_tags(tags)
    declared = {algo: value.strip() for name, value in headers.items()
                if (algo := checksums.algorithm_from_header(name))}
    payload = Payload(chunks=_sized(reader.file_chunks(), auth.min_size, auth.max_size),
                      content_md5=headers.get("content-md5"), checksums=declared)
    meta = ctx.services.objects.put_object(user, ctx.bucket, key, payload, attrs,
                                           customer_key=customer_key(ctx))   # SSE-C fields, over HTTPS

    location += quote(key, safe="/~")
    ctx.resp.set_header("ETag", meta.etag)
    ctx.resp.set_header("Location", location)
    set_sse_header(ctx, meta.sse)
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect:
        query = urlencode({"bucket": ctx.bucket, "key": key, "etag": meta.etag})
        ctx.resp.status = falcon.HTTP_303
        # the field may hold what a header cannot carry: percent-encoded, as a URL holds it
        ctx.resp.set_header("Location", quote(redirect, safe="/:?#[]@!$&'()*+,;=%~")
                            + ("&" if "?" in redirect else "?") + query)
        ctx.resp.data = b""
        return
    status = SUCCESS_STATUSES.get(fields.get("success_action_status", ""), falcon.HTTP_204)
    ctx.resp.status = status
    if status == falcon.HTTP_201:
        ctx.resp.content_type = "application/xml"
        ctx.resp.data = xmlobjects.post_response(location, ctx.bucket, key, meta.etag)
    else:
        ctx.resp.data = b""


HANDLERS = {"PostObject": post_object}
