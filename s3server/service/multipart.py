"""MultipartService: CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload,
AbortMultipartUpload, ListParts, ListMultipartUploads. HTTP-free.

Each part is a replicated blob like any object (streamed and verified by
``ObjectService.store_payload``). Complete writes ONE object row listing the part blobs in
order, and drops the upload and its parts, in one transaction (``store.complete_upload``);
blobs of parts that were uploaded but not used, and of a replaced part or object, are deleted
in the background afterwards. A failed Complete deletes nothing: the parts still belong to
the upload.

Checksums. Every part gets MD5 (its ETag), whatever the client declared, and the upload's
algorithm -- or CRC64NVME when the upload has none, so that the object always ends with a
checksum, as on AWS. The object's checksum is COMPOSITE ``b64(H(concat part digests))-N`` for
SHA1/SHA256, and for CRC32/CRC32C unless FULL_OBJECT was asked for; CRC64NVME is always
FULL_OBJECT (CRCs combined from the part CRCs and sizes, without re-reading the data).
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Callable, Sequence

from s3server.errors import S3Error
from s3server.meta import errors as meta_errors
from s3server.models import MultipartUpload, ObjectMeta, Segment, UploadPart, User, segments_sse
from s3server.service import checksums, sse as sse_mod
from s3server.service.common import GuardedStore, owned_bucket, validate_key
from s3server.service.copy import CopyConditions, CopyService, CopySource, parse_copy_range
from s3server.service.conditions import normalize_etag
from s3server.service.objects import DEFAULT_CHECKSUM, MAX_METADATA_BYTES, ObjectService, upload_sse, user_metadata_size
from s3server.service.payload import Payload

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10000
MAX_PARTS_LISTED = 1000
MAX_UPLOADS_LISTED = 1000
MAX_PART_COPY = 5 * 1024 ** 3
CHECKSUM_TYPES = ("COMPOSITE", "FULL_OBJECT")
_FULL_OBJECT_ONLY = frozenset({"CRC64NVME"})
# the digests that do not combine: a multipart object's is the digest of its parts' digests
_COMPOSITE_ONLY = frozenset({"SHA1", "SHA256", "SHA512", "MD5", "XXHASH64", "XXHASH3", "XXHASH128"})


@dataclass(frozen=True)
class CompletedPart:
    """One <Part> of a CompleteMultipartUpload request."""
    part_number: int
    etag: str
    checksums: dict[str, str] = field(default_factory=dict)


def new_upload_id() -> str:
    """Random and unguessable (256 bits), URL-safe."""
    return secrets.token_urlsafe(32)


def check_part_number(value: int | str | None) -> int:
    try:
        n = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        n = 0
    if not 1 <= n <= MAX_PART_NUMBER:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                      argument_name="partNumber", argument_value=str(value))
    return n


def resolve_checksum(algorithm: str | None, checksum_type: str | None) -> tuple[str | None, str | None]:
    """(algorithm, type) of a new upload from x-amz-checksum-algorithm / x-amz-checksum-type."""
    algo = algorithm.upper() if algorithm else None
    ctype = checksum_type.upper() if checksum_type else None
    if algo is not None and algo not in checksums.ALGORITHMS:
        raise S3Error("InvalidRequest", "Checksum algorithm provided is unsupported. Please try again with any of "
                      f"the valid types: [{', '.join(checksums.ALGORITHMS)}]")
    if ctype is not None and ctype not in CHECKSUM_TYPES:
        raise S3Error("InvalidRequest", "Value for x-amz-checksum-type header is invalid.")
    if ctype is not None and algo is None:
        raise S3Error("InvalidRequest", "The x-amz-checksum-type header can only be used with the "
                      "x-amz-checksum-algorithm header.")
    if algo is None:
        return None, None
    if algo in _FULL_OBJECT_ONLY:
        if ctype == "COMPOSITE":
            raise S3Error("InvalidRequest", f"The COMPOSITE checksum type cannot be used with the "
                          f"{algo.lower()} checksum algorithm.")
        return algo, "FULL_OBJECT"
    if algo in _COMPOSITE_ONLY:
        if ctype == "FULL_OBJECT":
            raise S3Error("InvalidRequest", f"The FULL_OBJECT checksum type cannot be used with the "
                          f"{algo.lower()} checksum algorithm.")
        return algo, "COMPOSITE"
    return algo, ctype or "COMPOSITE"


def object_checksum(algo: str, ctype: str, parts: Sequence[UploadPart]) -> str | None:
    """The multipart object's checksum from its parts' checksums (None if a part lacks one)."""
    values = [p.checksums.get(algo) for p in parts]
    if any(v is None for v in values):
        return None
    if ctype == "FULL_OBJECT":
        return checksums.combine_full_object(algo, [(v, p.size) for v, p in zip(values, parts)])
    return checksums.composite_checksum(algo, values)


class MultipartService:
    def __init__(self, store: GuardedStore, blobs, objects: ObjectService, copies: CopyService, *,
                 clock: Callable[[], datetime], new_id: Callable[[], str] = new_upload_id,
                 min_part_size: int = MIN_PART_SIZE):
        self.store = store
        self.blobs = blobs
        self.objects = objects
        self.copies = copies
        self.clock = clock
        self.new_id = new_id
        self.min_part_size = min_part_size

    # ------------------------------------------------------------------ helpers
    def _upload(self, user: User, bucket: str, key: str, upload_id: str) -> MultipartUpload:
        owned_bucket(self.store, user, bucket)
        upload = self.store.get_upload(upload_id) if upload_id else None
        if upload is None or (upload.bucket, upload.key) != (bucket, key):
            raise S3Error("NoSuchUpload", upload_id=upload_id)
        return upload

    @staticmethod
    def _part_algorithms(upload: MultipartUpload) -> list[str]:
        return [upload.checksum_algorithm or DEFAULT_CHECKSUM]

    def _save_part(self, part: UploadPart) -> UploadPart:
        try:
            replaced = self.store.put_part(part)
        except meta_errors.NotFound as exc:
            self.blobs.delete_later([part.blob])
            raise S3Error("NoSuchUpload", upload_id=part.upload_id) from exc
        except BaseException:
            self.blobs.delete_later([part.blob])
            raise
        if replaced is not None and replaced.blob.blob_id != part.blob.blob_id:
            self.blobs.delete_later([replaced.blob])
        return part

    # ------------------------------------------------------------------ actions
    def create_multipart_upload(self, user: User, bucket: str, key: str, attrs: dict, *,
                                checksum_algorithm: str | None = None,
                                checksum_type: str | None = None,
                                customer_key: sse_mod.CustomerKey | None = None) -> MultipartUpload:
        """CreateMultipartUpload; with ``customer_key`` (SSE-C) every part must bring the same
        key, checked against a random token sealed under it and kept with the upload."""
        validate_key(key)
        requested = sse_mod.SSE_C if customer_key is not None else attrs.get("sse")
        attrs = {**attrs, "sse": upload_sse(owned_bucket(self.store, user, bucket), requested)}
        if customer_key is not None:
            attrs["sse_key"] = customer_key.seal(os.urandom(32))
        meta = attrs.get("user_metadata", {})
        if user_metadata_size(meta) > MAX_METADATA_BYTES:
            raise S3Error("MetadataTooLarge", size=user_metadata_size(meta), max_size_allowed=MAX_METADATA_BYTES)
        algo, ctype = resolve_checksum(checksum_algorithm, checksum_type)
        self.objects.check_sse(attrs.get("sse"))
        upload = MultipartUpload(upload_id=self.new_id(), bucket=bucket, key=key, initiated=self.clock(),
                                 owner_id=user.id, checksum_algorithm=algo, checksum_type=ctype, **attrs)
        try:
            self.store.create_upload(upload)
        except meta_errors.NotFound as exc:
            raise S3Error("NoSuchBucket", bucket_name=bucket) from exc
        return upload

    @staticmethod
    def check_part_key(upload: MultipartUpload, customer_key: sse_mod.CustomerKey | None) -> None:
        """A part of an SSE-C upload brings the upload's key; a part of any other upload none."""
        if upload.sse != sse_mod.SSE_C:
            if customer_key is not None:
                raise S3Error("InvalidRequest", "The encryption parameters are not applicable to this object.")
            return
        if customer_key is None:
            raise S3Error("InvalidRequest", "The multipart upload initiate requested encryption. Subsequent part "
                          "requests must include the appropriate encryption parameters.")
        try:
            customer_key.open(upload.sse_key or "")
        except sse_mod.WrongCustomerKey as exc:
            raise S3Error("InvalidRequest", "The provided encryption parameters did not match the ones used "
                          "originally.") from exc

    def upload_part(self, user: User, bucket: str, key: str, upload_id: str, part_number: int,
                    payload: Payload, *, customer_key: sse_mod.CustomerKey | None = None
                    ) -> tuple[UploadPart, MultipartUpload]:
        part_number = check_part_number(part_number)
        upload = self._upload(user, bucket, key, upload_id)
        self.check_part_key(upload, customer_key)
        declared = set(payload.checksums) | set(payload.trailer_algorithms)
        if payload.sdk_algorithm:
            declared.add(payload.sdk_algorithm)
        # A part of an upload with an algorithm must carry that checksum, or none when the upload's
        # checksum is FULL_OBJECT (AWS then computes it); a COMPOSITE one needs it from the client.
        if upload.checksum_algorithm and upload.checksum_algorithm not in declared and (
                declared or upload.checksum_type == "COMPOSITE"):
            actual = sorted(declared)[0].lower() if declared else "null"
            raise S3Error("InvalidRequest", "Checksum Type mismatch occurred, expected checksum Type: "
                          f"{upload.checksum_algorithm.lower()}, actual checksum Type: {actual}")
        blob, digests, algos = self.objects.store_payload(payload, extra_algorithms=self._part_algorithms(upload),
                                                          sse=upload.sse, customer_key=customer_key)
        sums = {a: digests.checksum(a) for a in dict.fromkeys([*algos, *self._part_algorithms(upload)])}
        part = UploadPart(upload_id=upload_id, part_number=part_number, size=blob.size,
                          etag=f'"{digests.md5_hex()}"', last_modified=self.clock(), blob=blob, checksums=sums)
        return self._save_part(part), upload

    def upload_part_copy(self, user: User, bucket: str, key: str, upload_id: str, part_number: int,
                         source: CopySource, *, range_header: str | None = None,
                         cond: CopyConditions = CopyConditions(), source_key: sse_mod.CustomerKey | None = None,
                         customer_key: sse_mod.CustomerKey | None = None) -> tuple[UploadPart, MultipartUpload]:
        part_number = check_part_number(part_number)
        upload = self._upload(user, bucket, key, upload_id)
        self.check_part_key(upload, customer_key)
        src = self.copies.source_object(user, source, cond)
        self.objects.check_customer_key(src, source_key)
        start, end = parse_copy_range(range_header, src.size)
        if end - start > MAX_PART_COPY:
            raise S3Error("InvalidRequest", "The specified copy range is larger than the maximum part size.")
        algos = self._part_algorithms(upload)
        blob, digests = self.copies.copy_data(src, start, end, algos, sse=upload.sse, source_key=source_key,
                                              customer_key=customer_key)
        part = UploadPart(upload_id=upload_id, part_number=part_number, size=blob.size,
                          etag=f'"{digests.md5_hex()}"', last_modified=self.clock(), blob=blob,
                          checksums={a: digests.checksum(a) for a in algos})
        return self._save_part(part), upload

    def complete_multipart_upload(self, user: User, bucket: str, key: str, upload_id: str,
                                  parts: Sequence[CompletedPart], *, declared: dict[str, str] | None = None,
                                  if_none_match: bool = False, if_match: str | None = None,
                                  object_size: int | None = None,
                                  checksum_type: str | None = None) -> ObjectMeta:
        """``declared``: x-amz-checksum-* headers of the request (the object's checksum, full-object
        or ``-N`` composite form), verified against what the parts give. ``object_size``:
        x-amz-mp-object-size, verified against the sum of the parts. ``checksum_type``:
        x-amz-checksum-type, if sent, must be the upload's (AWS: "a data integrity check to verify
        that the checksum type that is received is the same checksum type that was specified
        during the CreateMultipartUpload request")."""
        upload = self._upload(user, bucket, key, upload_id)
        if checksum_type is not None:
            wanted = checksum_type.strip().upper()
            if wanted not in CHECKSUM_TYPES:
                raise S3Error("InvalidRequest", "Value for x-amz-checksum-type header is invalid.")
            mode = upload.checksum_type or "FULL_OBJECT"
            if wanted != mode:
                raise S3Error("InvalidRequest", f"The upload was created using the {mode} checksum mode. The "
                              "complete request must use the same checksum mode.")
        if not parts:
            raise S3Error("MalformedXML")
        for prev, cur in zip(parts, parts[1:]):
            if cur.part_number <= prev.part_number:
                raise S3Error("InvalidPartOrder", upload_id=upload_id)
        try:
            stored = self.store.get_parts(upload_id)
        except meta_errors.NotFound as exc:
            raise S3Error("NoSuchUpload", upload_id=upload_id) from exc
        chosen: list[UploadPart] = []
        composite = upload.checksum_algorithm if upload.checksum_type == "COMPOSITE" else None
        for want in parts:
            if composite and composite not in want.checksums:
                raise S3Error("InvalidRequest", f"The upload was created using a {composite.lower()} checksum. The "
                              "complete request must include the checksum for each part. It was missing for part "
                              f"{want.part_number} in the request.")
            have = stored.get(want.part_number)
            if have is None or normalize_etag(want.etag) != normalize_etag(have.etag) or any(
                    algo in have.checksums and value != have.checksums[algo]
                    for algo, value in want.checksums.items()):
                raise S3Error("InvalidPart", upload_id=upload_id, part_number=want.part_number, e_tag=want.etag)
            chosen.append(have)
        for p in chosen[:-1]:
            if p.size < self.min_part_size:
                raise S3Error("EntityTooSmall", upload_id=upload_id, part_number=p.part_number, e_tag=p.etag,
                              proposed_size=p.size, min_size_allowed=self.min_part_size)
        total = sum(p.size for p in chosen)
        if object_size is not None and object_size != total:
            raise S3Error("InvalidRequest", f"The provided 'x-amz-mp-object-size' header value {object_size} does "
                          f"not match what was computed: {total}")
        algo = upload.checksum_algorithm or DEFAULT_CHECKSUM
        ctype = upload.checksum_type or "FULL_OBJECT"
        value = object_checksum(algo, ctype, chosen)
        obj_sums = {algo: value} if value is not None else {}
        for d_algo, d_value in (declared or {}).items():
            if d_algo == algo and value is not None and d_value not in (value, value.rsplit("-", 1)[0]):
                # AWS names the algorithm in lower case here (PutObject's says "CRC32")
                raise S3Error("BadDigest", f"The {algo.lower()} you specified did not match the calculated checksum.")
        meta = ObjectMeta(
            bucket=bucket, key=key, size=total,
            etag=checksums.multipart_etag([p.etag for p in chosen]), last_modified=self.clock(),
            content_type=upload.content_type, content_encoding=upload.content_encoding,
            content_disposition=upload.content_disposition, content_language=upload.content_language,
            cache_control=upload.cache_control, expires=upload.expires,
            website_redirect=upload.website_redirect,
            user_metadata=dict(upload.user_metadata), storage_class=upload.storage_class, tags=upload.tags,
            checksums=obj_sums, checksum_type=ctype if obj_sums else None,
            segments=tuple(Segment(p.blob, p.part_number, p.etag,
                                   {algo: p.checksums[algo]} if algo in p.checksums else {}) for p in chosen),
            parts_count=len(chosen),
            # what the parts are (a part an older server stored during an upgrade is not encrypted)
            sse=segments_sse(tuple(Segment(p.blob) for p in chosen)))
        try:
            replaced, unused = self.store.complete_upload(upload_id, meta, [p.part_number for p in chosen],
                                                          if_none_match=if_none_match, if_match=if_match)
        except meta_errors.NotFound as exc:
            raise S3Error("NoSuchUpload", upload_id=upload_id) from exc
        except meta_errors.Conflict as exc:
            raise S3Error("InvalidPart", "A part was re-uploaded while the upload was being completed; "
                                         "list the parts and complete again.", upload_id=upload_id) from exc
        except meta_errors.PreconditionFailed as exc:
            raise S3Error("PreconditionFailed", condition="If-None-Match" if if_none_match else "If-Match") from exc
        garbage = list(unused)
        if replaced is not None:
            mine = {b.blob_id for b in meta.blobs}
            garbage += [b for b in replaced.blobs if b.blob_id not in mine]
        if garbage:
            self.blobs.delete_later(garbage)
        return meta

    def abort_multipart_upload(self, user: User, bucket: str, key: str, upload_id: str) -> None:
        self._upload(user, bucket, key, upload_id)
        try:
            blobs = self.store.abort_upload(upload_id)
        except meta_errors.NotFound as exc:
            raise S3Error("NoSuchUpload", upload_id=upload_id) from exc
        if blobs:
            self.blobs.delete_later(blobs)

    def list_parts(self, user: User, bucket: str, key: str, upload_id: str, *, part_number_marker: int = 0,
                   max_parts: int = MAX_PARTS_LISTED) -> tuple[MultipartUpload, list[UploadPart], bool]:
        """Parts above the marker; each shows only the upload's checksum algorithm (if any)."""
        upload = self._upload(user, bucket, key, upload_id)
        try:
            parts, truncated = self.store.list_parts(upload_id, part_number_marker=part_number_marker,
                                                     max_parts=min(max_parts, MAX_PARTS_LISTED))
        except meta_errors.NotFound as exc:
            raise S3Error("NoSuchUpload", upload_id=upload_id) from exc
        algo = upload.checksum_algorithm
        shown = [replace(p, checksums={algo: p.checksums[algo]} if algo and algo in p.checksums else {})
                 for p in parts]
        return upload, shown, truncated

    def list_multipart_uploads(self, user: User, bucket: str, *, prefix: str = "", delimiter: str = "",
                               key_marker: str = "", upload_id_marker: str = "",
                               max_uploads: int = MAX_UPLOADS_LISTED,
                               ) -> tuple[list[MultipartUpload], list[str], bool]:
        owned_bucket(self.store, user, bucket)
        return self.store.list_uploads(bucket, prefix=prefix, delimiter=delimiter, key_marker=key_marker,
                                       upload_id_marker=upload_id_marker if key_marker else "",
                                       max_uploads=min(max_uploads, MAX_UPLOADS_LISTED))
