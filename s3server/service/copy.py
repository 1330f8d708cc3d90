"""CopyService: CopyObject, and the copy-source rules UploadPartCopy shares. HTTP-free.

Data moves node -> gateway -> nodes (``ObjectService.open_range`` into ``store_payload``),
never through the client. A copy is always a new blob: two object rows never share one,
so deleting either can free its data without looking at the other. A multipart source is
copied as one blob, so the copy's ETag is the MD5 of the whole body (as AWS does for copies
of multipart objects up to 5 GiB).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable
from urllib.parse import parse_qsl, unquote

from s3server.errors import S3Error
from s3server.models import ObjectMeta, Segment, User
from s3server.service import checksums
from s3server.service.sse import SSE_C, CustomerKey
from s3server.service.common import GuardedStore, owned_bucket, validate_key
from s3server.service.conditions import failed_condition
from s3server.service.objects import DEFAULT_CHECKSUM, MAX_METADATA_BYTES, ObjectService, upload_sse, user_metadata_size
from s3server.service.payload import Payload

MAX_COPY_SOURCE = 5 * 1024 ** 3
SELF_COPY_MESSAGE = ("This copy request is illegal because it is trying to copy an object to itself without "
                     "changing the object's metadata, storage class, website redirect location or encryption "
                     "attributes.")
CONTENT_ATTRS = ("content_type", "content_encoding", "content_disposition", "content_language",
                 "cache_control", "expires")


@dataclass(frozen=True)
class CopySource:
    bucket: str
    key: str


@dataclass(frozen=True)
class CopyConditions:
    """x-amz-copy-source-if-match / -if-none-match / -if-modified-since / -if-unmodified-since."""
    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_unmodified_since: str | None = None


def parse_copy_source(raw: str | None) -> CopySource:
    """``x-amz-copy-source``: ``/bucket/key`` or ``bucket/key``, URL-encoded once (``+`` is a plus,
    not a space), optionally ``?versionId=...``. Buckets here are unversioned, so the only
    version id that exists is ``null``; any other is InvalidArgument."""
    if raw is None or not raw.strip():
        raise S3Error("InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
                      argument_name="x-amz-copy-source", argument_value=raw)
    path, _, query = raw.strip().partition("?")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "versionId" and value != "null":
            raise S3Error("InvalidArgument", "Invalid version id specified (this server does not keep object "
                          "versions; the only version of an object is 'null').",
                          argument_name="x-amz-copy-source", argument_value=raw)
    try:
        decoded = unquote(path, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise S3Error("InvalidArgument", "The x-amz-copy-source header is not valid UTF-8.",
                      argument_name="x-amz-copy-source", argument_value=raw) from exc
    bucket, _, key = decoded.lstrip("/").partition("/")
    if "\x00" in decoded:
        raise S3Error("InvalidArgument", "Object key names may not contain the NUL character (0x00).",
                      argument_name="x-amz-copy-source")
    if not bucket or not key:
        raise S3Error("InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
                      argument_name="x-amz-copy-source", argument_value=raw)
    return CopySource(bucket, key)


def check_copy_conditions(meta: ObjectMeta, cond: CopyConditions) -> None:
    """AWS's rules for copy-source preconditions: the same precedence as GET's, but every
    failure is 412 (never 304)."""
    failed = failed_condition(meta, cond)
    if failed is not None:
        raise S3Error("PreconditionFailed", condition="x-amz-copy-source-" + failed[0])


def parse_copy_range(header: str | None, size: int) -> tuple[int, int]:
    """``x-amz-copy-source-range: bytes=first-last`` (both required, inclusive) -> (start, end
    exclusive); no header: the whole object."""
    if header is None:
        return 0, size
    spec = header.strip()
    first, sep, last = spec[6:].partition("-") if spec.lower().startswith("bytes=") else ("", "", "")
    if not sep or not first.isdigit() or not last.isdigit() or int(last) < int(first):
        raise S3Error("InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last "
                      "where first and last are the zero-based offsets of the first and last bytes to copy",
                      argument_name="x-amz-copy-source-range", argument_value=header)
    start, end = int(first), int(last) + 1
    if end > size:
        raise S3Error("InvalidArgument", f"Range specified is not valid for source object of size: {size}",
                      argument_name="x-amz-copy-source-range", argument_value=header)
    return start, end


class CopyService:
    def __init__(self, store: GuardedStore, objects: ObjectService, *, clock: Callable[[], datetime]):
        self.store = store
        self.objects = objects
        self.clock = clock

    def source_object(self, user: User, source: CopySource, cond: CopyConditions = CopyConditions()) -> ObjectMeta:
        """The copy source, if the caller may read it and its preconditions hold."""
        owned_bucket(self.store, user, source.bucket)
        meta = self.store.get_object(source.bucket, source.key)
        if meta is None:
            raise S3Error("NoSuchKey", key=source.key)
        check_copy_conditions(meta, cond)
        return meta

    def copy_data(self, src: ObjectMeta, start: int, end: int, algorithms: list[str], *, sse: str | None = None,
                  source_key: CustomerKey | None = None, customer_key: CustomerKey | None = None):
        """Stream bytes [start, end) of ``src`` into a new replicated blob, computing MD5 and
        ``algorithms``, encrypted under a key of its own with ``sse`` (a copy is encrypted as its
        request asks, whatever its source was). ``source_key`` opens an SSE-C source,
        ``customer_key`` seals an SSE-C copy. Returns (BlobRef, Digests)."""
        self.objects.check_sse(sse)
        self.objects.check_customer_key(src, source_key)
        payload = Payload(chunks=self.objects.open_range(src, start, end, source_key), length=end - start)
        blob, digests, _ = self.objects.store_payload(payload, extra_algorithms=algorithms, sse=sse,
                                                      customer_key=customer_key)
        return blob, digests

    def copy_object(self, user: User, bucket: str, key: str, source: CopySource, *,
                    cond: CopyConditions = CopyConditions(), metadata_directive: str | None = None,
                    replace_attrs: dict | None = None, storage_class: str | None = None,
                    checksum_algorithm: str | None = None, tagging_directive: str | None = None,
                    if_none_match: bool = False, if_match: str | None = None,
                    source_key: CustomerKey | None = None, customer_key: CustomerKey | None = None) -> ObjectMeta:
        """CopyObject. ``replace_attrs``: content headers and metadata of the request (used with
        REPLACE), and its tags (used with tagging directive REPLACE; COPY, the default, keeps the
        source's). ``storage_class``: the request's x-amz-storage-class (None = STANDARD, as AWS).
        ``if_none_match`` / ``if_match``: a conditional write of the destination, as PutObject's."""
        validate_key(key)
        directive = (metadata_directive or "COPY").upper()
        if directive not in ("COPY", "REPLACE"):
            raise S3Error("InvalidArgument", "Unknown metadata directive.",
                          argument_name="x-amz-metadata-directive", argument_value=metadata_directive)
        tag_directive = (tagging_directive or "COPY").upper()
        if tag_directive not in ("COPY", "REPLACE"):
            raise S3Error("InvalidArgument", "Unknown tagging directive.",
                          argument_name="x-amz-tagging-directive", argument_value=tagging_directive)
        if checksum_algorithm is not None and checksum_algorithm.upper() not in checksums.ALGORITHMS:
            raise S3Error("InvalidRequest", "Checksum algorithm provided is unsupported. Please try again with any of "
                          f"the valid types: [{', '.join(checksums.ALGORITHMS)}]")
        src = self.source_object(user, source, cond)
        self.objects.check_customer_key(src, source_key)
        dest = owned_bucket(self.store, user, bucket)
        self.objects.check_write_conditions(bucket, key, if_none_match=if_none_match, if_match=if_match)
        # The redirect location is never copied: the request's, if any, under either directive.
        # Nor is encryption: the copy is encrypted as its request asks, else as its bucket's default.
        redirect = (replace_attrs or {}).get("website_redirect")
        requested = SSE_C if customer_key is not None else (replace_attrs or {}).get("sse")
        sse = upload_sse(dest, requested)
        self.objects.check_sse(sse)
        if ((source.bucket, source.key) == (bucket, key) and directive == "COPY" and storage_class is None
                and redirect is None and requested is None and sse == src.sse):    # (a new SSE-C key is a change)
            raise S3Error("InvalidRequest", SELF_COPY_MESSAGE)
        if src.size > MAX_COPY_SOURCE:
            raise S3Error("InvalidRequest", "The specified copy source is larger than the maximum allowable size "
                          f"for a copy source: {MAX_COPY_SOURCE}")
        if directive == "REPLACE":
            attrs = {name: (replace_attrs or {}).get(name) for name in CONTENT_ATTRS}
            attrs["content_type"] = attrs["content_type"] or "binary/octet-stream"
            attrs["user_metadata"] = dict((replace_attrs or {}).get("user_metadata", {}))
        else:
            attrs = {name: getattr(src, name) for name in CONTENT_ATTRS}
            attrs["user_metadata"] = dict(src.user_metadata)
        if user_metadata_size(attrs["user_metadata"]) > MAX_METADATA_BYTES:
            raise S3Error("MetadataTooLarge", size=user_metadata_size(attrs["user_metadata"]),
                          max_size_allowed=MAX_METADATA_BYTES)
        attrs["tags"] = tuple((replace_attrs or {}).get("tags", ())) if tag_directive == "REPLACE" else src.tags
        attrs["website_redirect"] = redirect
        # The copy keeps the source's checksum algorithm (recomputed over the new single blob)
        # unless the request names another one; AWS's default otherwise.
        algos = [checksum_algorithm.upper()] if checksum_algorithm else list(src.checksums) or [DEFAULT_CHECKSUM]
        blob, digests = self.copy_data(src, 0, src.size, algos, sse=sse, source_key=source_key,
                                       customer_key=customer_key)
        meta = ObjectMeta(
            bucket=bucket, key=key, size=blob.size, etag=f'"{digests.md5_hex()}"',
            last_modified=self.clock(), checksums={a: digests.checksum(a) for a in algos},
            checksum_type="FULL_OBJECT", storage_class=storage_class or "STANDARD",
            segments=(Segment(blob),), sse=sse, inline=self._inline_copy(src, blob), **attrs)
        return self.objects.commit(meta, if_none_match=if_none_match, if_match=if_match)

    def _inline_copy(self, src: ObjectMeta, blob) -> bytes | None:
        """The copy's inline bytes: the source's (checked, decrypted), when copies of its size get
        one, sealed as the copy's blob is."""
        if not self.objects.inline_max or blob.size > self.objects.inline_max:
            return None
        data = self.objects.inline_plain(src)
        return self.objects.seal_inline(blob, data) if data is not None and len(data) == blob.size else None
