"""Multipart operations: CreateMultipartUpload, UploadPart, UploadPartCopy,
CompleteMultipartUpload, AbortMultipartUpload, ListParts, ListMultipartUploads."""
from __future__ import annotations

from urllib.parse import quote

import falcon

from s3server.api import xmllisting, xmlobjects, xmlparse
from s3server.api.s3.buckets import _xml, owner_of
from s3server.api.s3.copy import copy_conditions, copy_source
from s3server.api.s3.listing import _encoding
from s3server.api.s3.objects import (SOURCE_CUSTOMER_KEY, customer_key, object_attrs, set_expiration_header,
                                     set_sse_header, text_to_wire)
from s3server.api.s3.payload import request_payload
from s3server.api.s3.context import S3Context, parse_count
from s3server.errors import S3Error
from s3server.timefmt import http_date
from s3server.models import MultipartUpload, UploadPart
from s3server.service import checksums, lifecycle
from s3server.service.multipart import MAX_PART_NUMBER, CompletedPart, check_part_number


def _int_param(ctx: S3Context, name: str, default: int, message: str) -> int:
    raw = ctx.query.get(name)
    if raw is None or raw == "":
        return default
    return parse_count(raw, name, message)


def _upload_id(ctx: S3Context) -> str:
    return ctx.query.get("uploadId", "")


def _checksum_headers(ctx: S3Context, sums: dict[str, str]) -> None:
    """A part's checksum headers. No x-amz-checksum-type: UploadPart's response has none
    (the type belongs to the upload: CreateMultipartUpload and CompleteMultipartUpload say it)."""
    for algo, value in sums.items():
        ctx.resp.set_header(checksums.header_name(algo), value)


def _part_sums(part: UploadPart, declared: set[str]) -> dict[str, str]:
    """The part checksums UploadPart echoes: those the client sent (AWS: "This will only be present
    if the checksum was provided in the request"; a part of a FULL_OBJECT upload may come without)."""
    return {a: v for a, v in part.checksums.items() if a in declared}


def set_abort_headers(ctx: S3Context, upload: MultipartUpload) -> None:
    """``x-amz-abort-date`` and ``x-amz-abort-rule-id`` when a lifecycle rule of the bucket will
    abort the upload (CreateMultipartUpload, ListParts)."""
    found = lifecycle.upload_abort(ctx.services.buckets.lifecycle_of(ctx.bucket), upload.key, upload.initiated)
    if found is not None:
        ctx.resp.set_header("x-amz-abort-date", http_date(found[0]))
        ctx.resp.set_header("x-amz-abort-rule-id", text_to_wire(found[1]))   # an ID may hold anything


def create_multipart_upload(ctx: S3Context) -> None:
    upload = ctx.services.multipart.create_multipart_upload(
        ctx.user, ctx.bucket, ctx.key, object_attrs(ctx),
        checksum_algorithm=ctx.header("x-amz-checksum-algorithm"),
        checksum_type=ctx.header("x-amz-checksum-type"), customer_key=customer_key(ctx))
    if upload.checksum_algorithm:
        ctx.resp.set_header("x-amz-checksum-algorithm", upload.checksum_algorithm)
        ctx.resp.set_header("x-amz-checksum-type", upload.checksum_type)
    set_sse_header(ctx, upload.sse)
    set_abort_headers(ctx, upload)
    _xml(ctx, xmlobjects.initiate_multipart(ctx.bucket, ctx.key, upload.upload_id))


def upload_part(ctx: S3Context) -> None:
    number = check_part_number(ctx.query.get("partNumber"))
    payload = request_payload(ctx)
    part, upload = ctx.services.multipart.upload_part(ctx.user, ctx.bucket, ctx.key, _upload_id(ctx),
                                                      number, payload, customer_key=customer_key(ctx))
    declared = set(payload.checksums) | set(payload.trailer_algorithms)
    if payload.sdk_algorithm:
        declared.add(payload.sdk_algorithm)
    ctx.resp.set_header("ETag", part.etag)
    set_sse_header(ctx, upload.sse)
    _checksum_headers(ctx, _part_sums(part, declared))
    ctx.resp.data = b""


def upload_part_copy(ctx: S3Context) -> None:
    number = check_part_number(ctx.query.get("partNumber"))
    part, upload = ctx.services.multipart.upload_part_copy(
        ctx.user, ctx.bucket, ctx.key, _upload_id(ctx), number,
        copy_source(ctx),
        range_header=ctx.header("x-amz-copy-source-range"), cond=copy_conditions(ctx),
        source_key=customer_key(ctx, SOURCE_CUSTOMER_KEY), customer_key=customer_key(ctx))
    sums = _part_sums(part, {upload.checksum_algorithm} if upload.checksum_algorithm else set())
    set_sse_header(ctx, upload.sse)
    _xml(ctx, xmlobjects.copy_result("CopyPartResult", part.etag, part.last_modified, sums))


def _completed_parts(body: bytes) -> list[CompletedPart]:
    root = xmlparse.parse(body)
    if root.tag != "CompleteMultipartUpload":
        raise S3Error("MalformedXML")
    parts = []
    for el in root:
        if el.tag != "Part":
            continue
        number = xmlparse.child_text(el, "PartNumber")
        etag = xmlparse.child_text(el, "ETag")
        if number is None or etag is None or not number.strip().isdigit():
            raise S3Error("MalformedXML")
        sums = {}
        for algo in checksums.ALGORITHMS:
            value = xmlparse.child_text(el, "Checksum" + algo)
            if value:
                sums[algo] = value.strip()
        parts.append(CompletedPart(int(number), etag.strip(), sums))
    if not parts or len(parts) > MAX_PART_NUMBER:
        raise S3Error("MalformedXML")
    return parts


def complete_multipart_upload(ctx: S3Context) -> None:
    parts = _completed_parts(xmlparse.read_xml_body(ctx.read))
    declared = {}
    for name, value in ctx.headers.items():
        algo = checksums.algorithm_from_header(name)
        if algo:
            declared[algo] = value.strip()
    if_none_match = ctx.header("if-none-match")
    if if_none_match is not None and if_none_match.strip() != "*":
        raise S3Error("NotImplemented", "If-None-Match on CompleteMultipartUpload only supports '*'.")
    meta = ctx.services.multipart.complete_multipart_upload(
        ctx.user, ctx.bucket, ctx.key, _upload_id(ctx), parts, declared=declared,
        if_none_match=if_none_match is not None, if_match=ctx.header("if-match"),
        object_size=ctx.int_header("x-amz-mp-object-size"), checksum_type=ctx.header("x-amz-checksum-type"))
    host = ctx.header("host") or "localhost"
    scheme = ctx.req.scheme or "http"
    location = f"{scheme}://{host}/{quote(ctx.bucket)}/{quote(ctx.key, safe='/~')}"
    set_sse_header(ctx, meta.sse)
    set_expiration_header(ctx, meta)
    _xml(ctx, xmlobjects.complete_multipart(location, ctx.bucket, ctx.key, meta.etag, meta.checksums,
                                     meta.checksum_type))


def abort_multipart_upload(ctx: S3Context) -> None:
    ctx.services.multipart.abort_multipart_upload(ctx.user, ctx.bucket, ctx.key, _upload_id(ctx))
    ctx.resp.status = falcon.HTTP_204


def list_parts(ctx: S3Context) -> None:
    marker = _int_param(ctx, "part-number-marker", 0,
                        "Provided part-number-marker not an integer or within integer range")
    max_parts = _int_param(ctx, "max-parts", 1000, "Provided max-parts not an integer or within integer range")
    upload, parts, truncated = ctx.services.multipart.list_parts(
        ctx.user, ctx.bucket, ctx.key, _upload_id(ctx), part_number_marker=marker, max_parts=max_parts)
    set_abort_headers(ctx, upload)
    _xml(ctx, xmllisting.list_parts(bucket=ctx.bucket, key=ctx.key, upload_id=upload.upload_id, parts=parts,
                             is_truncated=truncated, marker=marker, max_parts=min(max_parts, 1000),
                             owner=owner_of(ctx), storage_class=upload.storage_class,
                             checksum_algorithm=upload.checksum_algorithm, checksum_type=upload.checksum_type))


def list_multipart_uploads(ctx: S3Context) -> None:
    q = ctx.query
    encode = _encoding(ctx)
    max_uploads = _int_param(ctx, "max-uploads", 1000,
                             "Provided max-uploads not an integer or within integer range")
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    key_marker, upload_id_marker = q.get("key-marker", ""), q.get("upload-id-marker", "")
    uploads, prefixes, truncated = ctx.services.multipart.list_multipart_uploads(
        ctx.user, ctx.bucket, prefix=prefix, delimiter=delimiter, key_marker=key_marker,
        upload_id_marker=upload_id_marker, max_uploads=max_uploads)
    _xml(ctx, xmllisting.list_uploads(bucket=ctx.bucket, uploads=uploads, prefixes=prefixes, is_truncated=truncated,
                               key_marker=key_marker, upload_id_marker=upload_id_marker,
                               max_uploads=min(max_uploads, 1000), prefix=prefix, delimiter=delimiter,
                               encode=encode, owner=owner_of(ctx)))


HANDLERS = {
    "CreateMultipartUpload": create_multipart_upload,
    "UploadPart": upload_part,
    "UploadPartCopy": upload_part_copy,
    "CompleteMultipartUpload": complete_multipart_upload,
    "AbortMultipartUpload": abort_multipart_upload,
    "ListParts": list_parts,
    "ListMultipartUploads": list_multipart_uploads,
}
