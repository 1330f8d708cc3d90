"""Object operations: PutObject, GetObject, HeadObject, DeleteObject, GetObjectAttributes."""
from __future__ import annotations

import base64
import binascii
import email.header
import hashlib
import re
from urllib.parse import quote

import falcon

from s3server.api import xmlobjects
from s3server.api.s3.buckets import canonical_id
from s3server.api.s3.context import S3Context
from s3server.api.s3.payload import request_payload
from s3server.errors import S3Error
from s3server.models import ObjectMeta
from s3server.service import acl, checksums, lifecycle, sse
from s3server.service.conditions import Conditions, DeleteCondition
from s3server.service.tagging import tags_from_header
from s3server.timefmt import http_date, parse_http_date

CONTENT_HEADERS = {
    "content-type": "content_type",
    "content-encoding": "content_encoding",
    "content-disposition": "content_disposition",
    "content-language": "content_language",
    "cache-control": "cache_control",
    "expires": "expires",
    "x-amz-website-redirect-location": "website_redirect",
}
MAX_REDIRECT_LOCATION = 2048
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
STORAGE_CLASSES = frozenset({"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA",
                             "INTELLIGENT_TIERING", "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR", "OUTPOSTS",
                             "EXPRESS_ONEZONE", "SNOW"})


def _wire_to_text(value: str) -> str:
    """WSGI hands headers over as latin-1 strings; clients send UTF-8 bytes."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _meta_to_text(value: str) -> str:
    """A user-metadata value as stored: RFC 2047 encoded-words are decoded first, as AWS does
    ("character decoded as per RFC 2047 before storing")."""
    text = _wire_to_text(value)
    if "=?" not in text:
        return text
    try:
        parts = email.header.decode_header(text)
    except (ValueError, LookupError):
        return text
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        try:
            out.append(chunk.decode(charset or "ascii"))
        except (LookupError, UnicodeDecodeError):
            return text
    return "".join(out)


# what an HTTP header value may carry as it is: visible ASCII, space and tab
_WIRE_SAFE = re.compile("[\t\x20-\x7e]*")
# an HTTP header name (RFC 9110 token)
_TOKEN = re.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# control characters (tab aside): no header may carry them (gunicorn refuses to send one)
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def text_to_wire(value: str) -> str:
    """Non-ASCII values go out as one RFC 2047 encoded-word, as AWS sends them; so do values
    with control characters (user metadata may hold them, decoded from an encoded-word), which
    no header can carry as they are."""
    if _WIRE_SAFE.fullmatch(value):
        return value
    return "=?UTF-8?B?" + base64.b64encode(value.encode("utf-8")).decode("ascii") + "?="


OBJECT_LOCK_HEADERS = ("x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date",
                       "x-amz-object-lock-legal-hold", "x-amz-object-lock-event-hold",
                       "x-amz-object-lock-event-hold-duration-days", "x-amz-object-lock-event-hold-duration-years")
# botocore's ServerSideEncryption enum (aws:fsx and aws:backup belong to FSx and AWS Backup)
SSE_METHODS = frozenset({"AES256", "aws:kms", "aws:kms:dsse", "aws:fsx", "aws:backup"})
SSE_HEADERS = ("x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id",
               "x-amz-server-side-encryption-context", "x-amz-server-side-encryption-customer-algorithm",
               "x-amz-server-side-encryption-customer-key", "x-amz-server-side-encryption-customer-key-md5")
CUSTOMER_KEY = "x-amz-server-side-encryption-customer-"
SOURCE_CUSTOMER_KEY = "x-amz-copy-source-server-side-encryption-customer-"


def check_encryption(ctx: S3Context) -> str | None:
    """The server-side encryption an upload asks for: None, "AES256" (SSE-S3, with keys this
    server manages; the service refuses it if no master key is configured) or "SSE-C" (the
    customer-key headers, checked by ``customer_key``). SSE-KMS is refused with 501 rather than
    the object stored otherwise than its client believes (as MinIO and Ceph RGW do without a key
    service)."""
    if not any(h in ctx.headers for h in SSE_HEADERS):
        return None
    method = ctx.header("x-amz-server-side-encryption")
    customer = any(h in ctx.headers for h in SSE_HEADERS[3:])
    if method is not None and method not in SSE_METHODS:
        raise S3Error("InvalidArgument", "The encryption method specified is not supported",
                      argument_name="x-amz-server-side-encryption", argument_value=method)
    if customer and method is not None:
        raise S3Error("InvalidArgument", "Server Side Encryption with Customer provided key is incompatible with the "
                      "encryption method specified", argument_name="x-amz-server-side-encryption",
                      argument_value=method)
    kms = next((h for h in SSE_HEADERS[1:3] if h in ctx.headers), None)
    if method == sse.ALGORITHM or (customer and kms is not None):
        if kms is not None:
            raise S3Error("InvalidArgument", "Server Side Encryption with AWS KMS managed key requires HTTP header "
                          "x-amz-server-side-encryption : aws:kms", argument_name=kms, argument_value=ctx.header(kms))
        return sse.ALGORITHM
    if customer:
        customer_key(ctx)           # the headers are checked before any byte of the body is read
        return sse.SSE_C
    raise S3Error("NotImplemented", "Server-side encryption with KMS keys (SSE-KMS, DSSE-KMS) is not implemented "
                  "by this server; SSE-S3 (AES256) and SSE-C (customer-provided keys) are.")


def customer_key(ctx: S3Context, prefix: str = CUSTOMER_KEY) -> sse.CustomerKey | None:
    """SSE-C's three headers (``prefix``: the object's own, or a copy source's), as AWS checks
    them: None when none is sent. The key travels in every request, so, as AWS requires, only
    over HTTPS (TLS here, or a trusted proxy's ``X-Forwarded-Proto: https``, S3_TRUSTED_PROXIES)."""
    algorithm = ctx.header(prefix + "algorithm")
    key_b64, md5_b64 = ctx.header(prefix + "key"), ctx.header(prefix + "key-md5")
    if algorithm is None and key_b64 is None and md5_b64 is None:
        return None
    if (ctx.req.scheme or "http") != "https":
        raise S3Error("InvalidRequest", "Requests specifying Server Side Encryption with Customer provided keys "
                      "must be made over a secure connection.")
    if algorithm is None:
        raise S3Error("InvalidArgument", "Requests specifying Server Side Encryption with Customer provided keys "
                      "must provide a valid encryption algorithm.", argument_name=prefix + "algorithm")
    if algorithm != sse.ALGORITHM:
        raise S3Error("InvalidEncryptionAlgorithmError", argument_name=prefix + "algorithm", argument_value=algorithm)
    if key_b64 is None:
        raise S3Error("InvalidArgument", "Requests specifying Server Side Encryption with Customer provided keys "
                      "must provide an appropriate secret key.", argument_name=prefix + "key")
    if md5_b64 is None:
        raise S3Error("InvalidArgument", "Requests specifying Server Side Encryption with Customer provided keys "
                      "must provide the client calculated MD5 of the secret key.", argument_name=prefix + "key-MD5")
    try:
        key = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise S3Error("InvalidArgument", "The secret key was invalid for the specified algorithm.",
                      argument_name=prefix + "key")
    if base64.b64encode(hashlib.md5(key).digest()).decode("ascii") != md5_b64.strip():
        raise S3Error("InvalidArgument", "The calculated MD5 hash of the key did not match the hash that was "
                      "provided.", argument_name=prefix + "key-MD5")
    return sse.CustomerKey(key, md5_b64.strip())


def set_expiration_header(ctx: S3Context, meta: ObjectMeta) -> None:
    """``x-amz-expiration`` when a lifecycle rule of the bucket will expire the object (AWS sends it
    with PutObject, CopyObject, CompleteMultipartUpload, GetObject and HeadObject)."""
    found = lifecycle.object_expiration(ctx.services.buckets.lifecycle_of(ctx.bucket), meta)
    if found is not None:
        ctx.resp.set_header("x-amz-expiration",
                            f'expiry-date="{http_date(found[0])}", rule-id="{quote(found[1], safe="")}"')


def set_sse_header(ctx: S3Context, method: str | None) -> None:
    """An answer about an encrypted object or upload says how: SSE-S3's one header, or for SSE-C
    the algorithm and the key's MD5 (the request's)."""
    if method == sse.SSE_C:
        ctx.resp.set_header(CUSTOMER_KEY + "algorithm", sse.ALGORITHM)
        md5 = ctx.header(CUSTOMER_KEY + "key-md5")
        if md5 is not None:
            ctx.resp.set_header(CUSTOMER_KEY + "key-MD5", md5.strip())
    elif method is not None:
        ctx.resp.set_header("x-amz-server-side-encryption", method)


def check_object_lock(ctx: S3Context) -> None:
    """No bucket here has Object Lock: an upload asking for a retention or a legal hold is refused
    as AWS refuses it in a bucket without Object Lock, rather than stored unprotected while its
    client believes it locked."""
    if any(h in ctx.headers for h in OBJECT_LOCK_HEADERS):
        raise S3Error("InvalidRequest", "Bucket is missing Object Lock Configuration")


def check_acl(ctx: S3Context) -> None:
    """``x-amz-acl`` / ``x-amz-grant-*`` on an upload: accepted only if they grant no one but the
    bucket owner anything (service/acl.py); the owner is looked up only for grant headers."""
    if not acl.has_acl_headers(ctx.headers):
        return
    owner_id = ""
    if any(h in ctx.headers for h in acl.GRANT_HEADERS):
        owner_id = canonical_id(ctx.services.buckets.owner(ctx.user, ctx.bucket)[0])
    acl.check_acl_headers(ctx.headers, owner_id)


def object_attrs(ctx: S3Context) -> dict:
    """Content headers, x-amz-meta-*, storage class and x-amz-tagging captured from an upload
    request, whose ACL headers are checked too."""
    check_acl(ctx)
    attrs: dict = {"sse": check_encryption(ctx)}
    check_object_lock(ctx)
    for header, name in CONTENT_HEADERS.items():
        value = ctx.header(header)
        if value is not None:
            attrs[name] = _wire_to_text(value)
            if _CONTROL.search(attrs[name]):     # a form field or an encoded-word can bring them
                raise S3Error("InvalidArgument", f"The value of {header} may not contain control characters.",
                              argument_name=header)
    if "content_type" not in attrs:
        attrs["content_type"] = "binary/octet-stream"
    if "website_redirect" in attrs:
        check_redirect_location(attrs["website_redirect"])
    meta = {}
    for name, value in ctx.headers.items():
        if name.startswith("x-amz-meta-"):
            if not _TOKEN.fullmatch(name):       # a form field's name can be anything; a header's cannot
                raise S3Error("InvalidArgument", "A metadata name must be a valid HTTP header name.",
                              argument_name=name)
            meta[name[len("x-amz-meta-"):]] = _meta_to_text(value)
    attrs["user_metadata"] = meta
    sc = (ctx.header("x-amz-storage-class") or "STANDARD").upper()
    if sc not in STORAGE_CLASSES:
        raise S3Error("InvalidStorageClass", storage_class_requested=sc)
    attrs["storage_class"] = sc
    attrs["tags"] = tags_from_header(_wire_to_text(tagging)) if (tagging := ctx.header("x-amz-tagging")) else ()
    return attrs


def check_redirect_location(value: str) -> None:
    """x-amz-website-redirect-location: "/...", "http://..." or "https://...", at most 2 KB
    (AWS: InvalidRedirectLocation)."""
    if not value.startswith(("/", "http://", "https://")) or _CONTROL.search(value):
        raise S3Error("InvalidRedirectLocation")
    if len(value.encode("utf-8")) > MAX_REDIRECT_LOCATION:
        raise S3Error("InvalidRedirectLocation",
                      f"The length of the website redirect location cannot exceed {MAX_REDIRECT_LOCATION} characters.")


def set_object_headers(ctx: S3Context, meta: ObjectMeta, *, checksum: bool) -> None:
    resp = ctx.resp
    resp.set_header("ETag", meta.etag)
    resp.set_header("Last-Modified", http_date(meta.last_modified))
    resp.set_header("Accept-Ranges", "bytes")
    resp.content_type = text_to_wire(meta.content_type)
    for header, name in CONTENT_HEADERS.items():
        value = getattr(meta, name)
        if value is not None and header != "content-type":
            resp.set_header(header, text_to_wire(value))
    for name, value in meta.user_metadata.items():
        resp.set_header("x-amz-meta-" + name, text_to_wire(value))
    if meta.storage_class != "STANDARD":
        resp.set_header("x-amz-storage-class", meta.storage_class)
    set_sse_header(ctx, meta.sse)
    set_expiration_header(ctx, meta)
    if meta.parts_count and "partNumber" in ctx.query:
        # AWS: "This value is only returned if you specify partNumber in your request and the object
        # was uploaded as a multipart upload."
        resp.set_header("x-amz-mp-parts-count", str(meta.parts_count))
    if checksum and meta.checksums:
        for algo, value in meta.checksums.items():
            resp.set_header(checksums.header_name(algo), value)
        if meta.checksum_type:
            resp.set_header("x-amz-checksum-type", meta.checksum_type)
    for param, header in RESPONSE_OVERRIDES.items():
        if param in ctx.query:                  # decoded from the query: it may hold anything
            resp.set_header(header, text_to_wire(ctx.query[param]))


def part_checksums(meta: ObjectMeta, part_number: int) -> dict[str, str]:
    """GetObject/HeadObject of one part of a multipart object, checksum mode on: a COMPOSITE
    object's part has its own checksum (the one the client sent with UploadPart), which AWS
    returns, so that a client reading an object part by part can check each part. A FULL_OBJECT
    object's parts have none to give (their checksums only combine into the object's)."""
    if meta.checksum_type != "COMPOSITE":
        return {}
    part = next((s for s in meta.segments if s.part_number == part_number), None)
    return {a: v for a, v in part.checksums.items() if a in meta.checksums} if part else {}


def conditions(ctx: S3Context) -> Conditions:
    return Conditions(ctx.header("if-match"), ctx.header("if-none-match"),
                      ctx.header("if-modified-since"), ctx.header("if-unmodified-since"))


def _part_number(ctx: S3Context) -> int | None:
    raw = ctx.query.get("partNumber")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                      argument_name="partNumber", argument_value=raw) from exc


def _checksum_mode(ctx: S3Context) -> bool:
    return (ctx.header("x-amz-checksum-mode") or "").upper() == "ENABLED"


def put_object(ctx: S3Context) -> None:
    if "x-amz-write-offset-bytes" in ctx.headers:
        # an append (S3 Express directory buckets): storing the body as the whole object would
        # replace what the client meant to extend
        raise S3Error("NotImplemented", "Appending to an object (x-amz-write-offset-bytes) is not implemented "
                      "by this server.")
    if_none_match = ctx.header("if-none-match")
    if if_none_match is not None and if_none_match.strip() != "*":
        raise S3Error("NotImplemented", "If-None-Match on PUT only supports '*'.")
    attrs = object_attrs(ctx)
    payload = request_payload(ctx)
    meta = ctx.services.objects.put_object(
        ctx.user, ctx.bucket, ctx.key, payload, attrs,
        if_none_match=if_none_match is not None, if_match=ctx.header("if-match"), customer_key=customer_key(ctx))
    ctx.resp.set_header("ETag", meta.etag)
    set_sse_header(ctx, meta.sse)
    set_expiration_header(ctx, meta)
    for algo, value in meta.checksums.items():
        if algo in payload.checksums or algo in payload.trailer_algorithms or algo == payload.sdk_algorithm:
            ctx.resp.set_header(checksums.header_name(algo), value)
            ctx.resp.set_header("x-amz-checksum-type", meta.checksum_type or "FULL_OBJECT")
    ctx.resp.data = b""


def get_object(ctx: S3Context, *, head: bool = False) -> None:
    part_number = _part_number(ctx)
    read = ctx.services.objects.get_object(
        ctx.user, ctx.bucket, ctx.key, range_header=None if part_number else ctx.header("range"),
        cond=conditions(ctx), part_number=part_number, with_body=not head, customer_key=customer_key(ctx))
    meta = read.meta
    whole = read.start == 0 and read.end == meta.size and (part_number is None or not meta.parts_count)
    set_object_headers(ctx, meta, checksum=_checksum_mode(ctx) and whole)
    if part_number is not None and meta.parts_count and _checksum_mode(ctx):
        for algo, value in part_checksums(meta, part_number).items():
            ctx.resp.set_header(checksums.header_name(algo), value)
    ctx.resp.status = falcon.code_to_http_status(read.status)
    if read.status == 206:
        ctx.resp.set_header("Content-Range", f"bytes {read.start}-{read.end - 1}/{meta.size}")
    ctx.resp.content_length = read.end - read.start
    if meta.tags:            # TagCount of GetObject and HeadObject
        ctx.resp.set_header("x-amz-tagging-count", str(len(meta.tags)))
    if head:
        return
    ctx.resp.stream = read.body


def head_object(ctx: S3Context) -> None:
    get_object(ctx, head=True)


OBJECT_ATTRIBUTES = frozenset({"ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"})


def get_object_attributes(ctx: S3Context) -> None:
    raw = ctx.header("x-amz-object-attributes") or ""
    wanted = {name.strip() for name in raw.split(",") if name.strip()}
    if not wanted:
        raise S3Error("InvalidArgument", "The x-amz-object-attributes header specifying the attributes to be "
                      "retrieved is either missing or empty", argument_name="x-amz-object-attributes")
    if not wanted <= OBJECT_ATTRIBUTES:
        raise S3Error("InvalidArgument", "Invalid attribute name specified.",
                      argument_name="x-amz-object-attributes", argument_value=raw)
    max_parts = ctx.int_header("x-amz-max-parts")
    max_parts = 1000 if max_parts is None else min(max_parts, 1000)
    marker = ctx.int_header("x-amz-part-number-marker") or 0
    meta = ctx.services.objects.head_object(ctx.user, ctx.bucket, ctx.key)
    ctx.services.objects.check_customer_key(meta, customer_key(ctx))
    ctx.resp.set_header("Last-Modified", http_date(meta.last_modified))
    ctx.resp.content_type = "application/xml"
    ctx.resp.data = xmlobjects.object_attributes(meta, wanted, part_number_marker=marker, max_parts=max_parts)


def delete_condition(ctx: S3Context) -> DeleteCondition:
    """A conditional DeleteObject: ``If-Match`` (an ETag or ``*``), ``x-amz-if-match-size``,
    ``x-amz-if-match-last-modified-time`` (an HTTP date); unparsable values are InvalidArgument."""
    when = ctx.header("x-amz-if-match-last-modified-time")
    moment = parse_http_date(when) if when is not None else None
    if when is not None and moment is None:
        raise S3Error("InvalidArgument", "Invalid x-amz-if-match-last-modified-time header",
                      argument_name="x-amz-if-match-last-modified-time", argument_value=when)
    return DeleteCondition(ctx.header("if-match"), ctx.int_header("x-amz-if-match-size"), moment)


def delete_object(ctx: S3Context) -> None:
    ctx.services.objects.delete_object(ctx.user, ctx.bucket, ctx.key, delete_condition(ctx))
    ctx.resp.status = falcon.HTTP_204


HANDLERS = {
    "PutObject": put_object,
    "GetObject": get_object,
    "HeadObject": head_object,
    "DeleteObject": delete_object,
    "GetObjectAttributes": get_object_attributes,
}
