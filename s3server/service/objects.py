"""ObjectService: PutObject, GetObject, HeadObject, DeleteObject. HTTP-free.

Write order (the durability contract): stream the body once to the storage nodes
while computing every digest; verify what the client declared at the end of the
stream (a failed check aborts the node uploads, so nothing is stored); reach the
write quorum; only then commit the metadata row. Replaced blobs are deleted after
the commit, in the background.

The request body's checks are payload.py's, the conditional and Range headers conditions.py's.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable, Iterator

from s3server import blobs as blobs_mod
from s3server.errors import S3Error
from s3server.meta import errors as meta_errors
from s3server.models import Bucket, ObjectMeta, Segment, User
from s3server.service import checksums, sse as sse_mod
from s3server.service.common import GuardedStore, can_access, owned_bucket, quorum_error, unavailable, validate_key
from s3server.service.conditions import (Conditions, DeleteCondition, check_conditions, delete_row_if, etag_matches,
                                         parse_range)
from s3server.service.payload import Kept, Payload, validate_payload, verify_payload

log = logging.getLogger(__name__)

MAX_METADATA_BYTES = 2048
DEFAULT_CHECKSUM = "CRC64NVME"   # what AWS computes when the client sends no checksum


@dataclass(frozen=True)
class ObjectRead:
    meta: ObjectMeta
    status: int                 # 200 or 206
    start: int
    end: int                    # exclusive
    body: Iterator[bytes] | None


def user_metadata_size(meta: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in meta.items())


def inline_bytes(meta: ObjectMeta, data: bytes | None = None) -> bytes | None:
    """The object's bytes from its metadata row (``data``: the row's copy decrypted, for an
    encrypted object), if it has an inline copy that checks out: the right length and, as every
    single-part object's ETag is the MD5 of its bytes, the right MD5. A copy that does not (a
    damaged row, or one a server without inline copies overwrote) is ignored: the object is read
    from the storage nodes."""
    data = meta.inline if data is None else data
    if data is None or meta.parts_count:
        return None
    etag = meta.etag.strip('"')
    if len(data) != meta.size or "-" in etag or hashlib.md5(data).hexdigest() != etag:
        log.warning("inline copy of %s/%s does not match its ETag; reading the storage nodes",
                    meta.bucket, meta.key)
        return None
    return data


def upload_sse(bucket: Bucket, requested: str | None) -> str | None:
    """The encryption of a new object: what its request asks for, else the bucket's default."""
    if requested is not None:
        return requested
    return bucket.encryption.algorithm if bucket.encryption is not None else None


class ObjectService:
    def __init__(self, store: GuardedStore, blobs, *, max_object_size: int, clock: Callable[[], datetime],
                 inline_max: int = 0, sealer: sse_mod.Sealer | None = None):
        self.store = store
        self.blobs = blobs
        self.max_object_size = max_object_size
        self.clock = clock
        self.inline_max = inline_max      # objects up to this size keep a copy in their row
        self.sealer = sealer              # SSE-S3's master keys; None: encryption is not offered

    def check_sse(self, sse: str | None) -> None:
        """An upload asking for SSE-S3 on a server without a master key is refused before any
        data is stored (rather than stored unencrypted while its client believes otherwise).
        SSE-C needs no master key: the client brings the key."""
        if sse == sse_mod.ALGORITHM and self.sealer is None:
            raise S3Error("NotImplemented", "Server-side encryption is not enabled on this server (it needs a "
                          "master key: S3_SSE_KEY).")

    # ------------------------------------------------------------------ writes
    def put_object(self, user: User, bucket: str, key: str, payload: Payload, attrs: dict,
                   *, if_none_match: bool = False, if_match: str | None = None,
                   customer_key: sse_mod.CustomerKey | None = None) -> ObjectMeta:
        """PutObject; with ``customer_key`` (SSE-C) the data is encrypted under a data key sealed
        with it, and the object keeps no inline copy (reading it takes the key)."""
        validate_key(key)
        requested = sse_mod.SSE_C if customer_key is not None else attrs.get("sse")
        attrs = {**attrs, "sse": upload_sse(owned_bucket(self.store, user, bucket), requested)}
        if user_metadata_size(attrs.get("user_metadata", {})) > MAX_METADATA_BYTES:
            raise S3Error("MetadataTooLarge", size=user_metadata_size(attrs["user_metadata"]),
                          max_size_allowed=MAX_METADATA_BYTES)
        if payload.length is not None and payload.length > self.max_object_size:
            raise S3Error("EntityTooLarge", proposed_size=payload.length, max_size_allowed=self.max_object_size)
        sse = attrs.get("sse")
        self.check_sse(sse)
        self.check_write_conditions(bucket, key, if_none_match=if_none_match, if_match=if_match)
        kept = None
        if self.inline_max and sse != sse_mod.SSE_C and (payload.length is None or payload.length <= self.inline_max):
            kept = Kept(self.inline_max)
            payload = dataclasses.replace(payload, chunks=kept.wrap(payload.chunks))
        blob, digests, algos = self.store_payload(payload, sse=sse, customer_key=customer_key)
        inline = kept.data(blob.size) if kept is not None else None
        meta = ObjectMeta(
            bucket=bucket, key=key, size=blob.size, etag=f'"{digests.md5_hex()}"',
            last_modified=self.clock(),
            checksums={a: digests.checksum(a) for a in algos},
            checksum_type="FULL_OBJECT",
            segments=(Segment(blob),),
            inline=self.seal_inline(blob, inline),
            **attrs,
        )
        return self.commit(meta, if_none_match=if_none_match, if_match=if_match)

    def check_write_conditions(self, bucket: str, key: str, *, if_none_match: bool, if_match: str | None) -> None:
        """A conditional write's early check, before any data is stored (``commit`` checks again,
        atomically): If-Match names a missing key (NoSuchKey) or another ETag, If-None-Match: *
        an existing key (PreconditionFailed)."""
        if if_match is not None:
            current = self.store.get_object(bucket, key)
            if current is None:
                raise S3Error("NoSuchKey", key=key)
            if not etag_matches(if_match, current.etag):
                raise S3Error("PreconditionFailed", condition="If-Match")
        if if_none_match and self.store.get_object(bucket, key) is not None:
            raise S3Error("PreconditionFailed", condition="If-None-Match")

    def commit(self, meta: ObjectMeta, *, if_none_match: bool = False, if_match: str | None = None) -> ObjectMeta:
        """Commit a new object row whose blobs are on disk; on failure remove those blobs."""
        try:
            replaced = self.store.put_object(meta, if_none_match=if_none_match, if_match=if_match)
        except meta_errors.NotFound as exc:
            self.blobs.delete_later(meta.blobs)
            raise S3Error("NoSuchBucket", bucket_name=meta.bucket) from exc
        except meta_errors.PreconditionFailed as exc:
            self.blobs.delete_later(meta.blobs)
            raise S3Error("PreconditionFailed", condition="If-None-Match" if if_none_match else "If-Match") from exc
        except BaseException:
            self.blobs.delete_later(meta.blobs)
            raise
        if replaced is not None:
            old = {b.blob_id for b in meta.blobs}
            garbage = [b for b in replaced.blobs if b.blob_id not in old]
            if garbage:
                self.blobs.delete_later(garbage)
        return meta

    def store_payload(self, payload: Payload, *, extra_algorithms: Iterable[str] = (), sse: str | None = None,
                      customer_key: sse_mod.CustomerKey | None = None):
        """Stream a payload to the nodes, verifying it on the way. Returns (BlobRef, Digests, algorithms
        stored). Any failed check is raised from inside the stream, so the node uploads are aborted.
        ``extra_algorithms`` are computed as well (e.g. a multipart upload's algorithm); they are
        included in the returned Digests but not in the returned algorithms. With ``sse`` the
        bytes are encrypted after the digests saw them, under a new data key the BlobRef keeps
        sealed."""
        validate_payload(payload)
        self.check_sse(sse)
        algos = list(payload.checksums) or list(payload.trailer_algorithms)
        if not algos and payload.sdk_algorithm in checksums.ALGORITHMS:
            algos = [payload.sdk_algorithm]
        if not algos:
            algos = [DEFAULT_CHECKSUM]
        computed = list(dict.fromkeys([*algos, *extra_algorithms]))
        digests = checksums.Digests(computed, sha256=payload.sha256_hex is not None)
        max_size = self.max_object_size

        def verified() -> Iterator[bytes]:
            for chunk in payload.chunks:
                if chunk:
                    digests.update(chunk)
                    if digests.size > max_size:
                        raise S3Error("EntityTooLarge", max_size_allowed=max_size)
                    yield chunk
            if payload.length is not None and digests.size != payload.length:
                raise S3Error("IncompleteBody")
            verify_payload(payload, digests)

        stream: Iterator[bytes] = verified()
        sealed = None
        if sse == sse_mod.SSE_C:
            if customer_key is None:
                raise S3Error("InvalidRequest", "The encryption parameters are required for this object.")
            data_key, sealed = customer_key.new_key()
            stream = sse_mod.crypt(data_key, stream)
        elif sse is not None:
            data_key, sealed = self.sealer.new_key()
            stream = sse_mod.crypt(data_key, stream)
        try:
            blob = self.blobs.write(stream, size=payload.length)
        except blobs_mod.QuorumError as exc:
            raise quorum_error(exc) from exc
        except blobs_mod.BlobError as exc:
            raise quorum_error(exc) from exc
        if sealed is not None:
            blob = dataclasses.replace(blob, key=sealed)
        return blob, digests, algos

    def delete_object(self, user: User, bucket: str, key: str,
                      cond: DeleteCondition = DeleteCondition()) -> ObjectMeta | None:
        """DeleteObject; with ``cond``, only if it holds (PreconditionFailed otherwise), and a
        missing object is NoSuchKey when an ETag was given (AWS's conditional delete)."""
        owned_bucket(self.store, user, bucket)
        validate_key(key)
        removed = delete_row_if(self.store, bucket, key, cond) if cond else self.store.delete_object(bucket, key)
        if removed is not None and removed.blobs:
            self.blobs.delete_later(removed.blobs)
        return removed

    # ------------------------------------------------------------------ tags
    def get_object_tags(self, user: User, bucket: str, key: str) -> tuple[tuple[str, str], ...]:
        return self.head_object(user, bucket, key).tags

    def set_object_tags(self, user: User, bucket: str, key: str, tags: tuple[tuple[str, str], ...]) -> None:
        """PutObjectTagging (DeleteObjectTagging: ``()``)."""
        owned_bucket(self.store, user, bucket)
        validate_key(key)
        if not self.store.set_object_tags(bucket, key, tags):
            raise S3Error("NoSuchKey", key=key)

    # ------------------------------------------------------------------ reads
    def head_object(self, user: User, bucket: str, key: str, cond: Conditions = Conditions(),
                    *, part_number: int | None = None, with_inline: bool = False) -> ObjectMeta:
        """The object's metadata (with its inline bytes only if ``with_inline``: a HEAD
        has no use for them)."""
        found, meta = self.store.get_bucket_and_object(bucket, key, with_inline=with_inline)
        if found is None:
            raise S3Error("NoSuchBucket", bucket_name=bucket)
        if not can_access(user, found):
            raise S3Error("AccessDenied")
        if meta is None:
            raise S3Error("NoSuchKey", key=key)
        check_conditions(meta, cond)
        return meta

    def check_customer_key(self, meta: ObjectMeta, customer_key: sse_mod.CustomerKey | None) -> None:
        """A read of an object's data (GET, HEAD, a copy's source, GetObjectAttributes) must bring
        the customer key exactly when the object is encrypted with one (SSE-C): without it
        InvalidRequest, with a wrong one AccessDenied (checked against the first segment's sealed
        data key), with one for an object that has none InvalidRequest, as AWS answers."""
        if meta.sse != sse_mod.SSE_C:
            if customer_key is not None:
                raise S3Error("InvalidRequest", "The encryption parameters are not applicable to this object.")
            return
        if customer_key is None:
            raise S3Error("InvalidRequest", "The object was stored using a form of Server Side Encryption. The "
                          "correct parameters must be provided to retrieve the object.")
        try:
            customer_key.open(meta.segments[0].blob.key)
        except sse_mod.WrongCustomerKey as exc:
            raise S3Error("AccessDenied") from exc

    def get_object(self, user: User, bucket: str, key: str, *, range_header: str | None = None,
                   cond: Conditions = Conditions(), part_number: int | None = None,
                   with_body: bool = True, customer_key: sse_mod.CustomerKey | None = None) -> ObjectRead:
        meta = self.head_object(user, bucket, key, cond, with_inline=with_body)
        self.check_customer_key(meta, customer_key)
        status = 200
        if part_number is not None:
            start, end = self._part_range(meta, part_number)
            status = 206            # a part is a range, even part 1 of a single-part object (as AWS)
        else:
            rng = parse_range(range_header, meta.size)
            if rng is None:
                start, end = 0, meta.size
            else:
                start, end = rng
                status = 206
        body = self._stream(meta, start, end, customer_key) if with_body else None
        return ObjectRead(meta, status, start, end, body)

    @staticmethod
    def _part_range(meta: ObjectMeta, part_number: int) -> tuple[int, int]:
        if part_number < 1 or part_number > 10000:
            raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                          argument_name="partNumber", argument_value=str(part_number))
        if not meta.parts_count:
            if part_number == 1:
                return 0, meta.size
            raise S3Error("InvalidPartNumber", "The requested partnumber is not satisfiable",
                          part_number_requested=part_number, actual_parts_count=1)
        offset = 0
        for seg in meta.segments:
            if seg.part_number == part_number:
                return offset, offset + seg.blob.size
            offset += seg.blob.size
        raise S3Error("InvalidPartNumber", "The requested partnumber is not satisfiable",
                      part_number_requested=part_number, actual_parts_count=meta.parts_count)

    def open_range(self, meta: ObjectMeta, start: int, end: int,
                   customer_key: sse_mod.CustomerKey | None = None) -> Iterator[bytes]:
        """Bytes [start, end) of an object's data, across its segments (for copies: node to
        gateway to nodes, never through the client). 503 if no replica of the first can be read."""
        return self._stream(meta, start, end, customer_key)

    def _stream(self, meta: ObjectMeta, start: int, end: int,
                customer_key: sse_mod.CustomerKey | None = None) -> Iterator[bytes]:
        """From the object's inline copy if it has one, else from the nodes: open the first
        needed segment eagerly (so a total outage is a clean 503 before any header is
        sent), then stream the rest lazily."""
        inline = self.inline_plain(meta)
        if inline is not None:
            return iter((inline[start:end],) if start < end else ())
        pieces = []
        offset = 0
        for seg in meta.segments:
            s, e = offset, offset + seg.blob.size
            offset = e
            lo, hi = max(s, start), min(e, end)
            if lo < hi:
                pieces.append((seg.blob, lo - s, hi - s))
        if not pieces:
            return iter(())
        try:
            first = self._open(pieces[0][0], pieces[0][1], pieces[0][2], customer_key)
            head = next(first, b"")
        except blobs_mod.BlobError as exc:
            raise unavailable(f"No replica of the object data could be read ({exc}).") from exc
        return self._chain(head, first, pieces[1:], customer_key)

    def _chain(self, head: bytes, first: Iterator[bytes], rest, customer_key) -> Iterator[bytes]:
        if head:
            yield head
        yield from first
        for blob, lo, hi in rest:
            yield from self._open(blob, lo, hi, customer_key)

    def seal_inline(self, blob, data: bytes | None) -> bytes | None:
        """What the row keeps of a small object's bytes: the bytes, or for an encrypted blob its
        ciphertext (the same as on the nodes), so no plaintext reaches the metadata database."""
        if data is None or blob.key is None:
            return data
        if sse_mod.customer_sealed(blob.key):
            return None         # reading it takes the customer's key: served from the nodes
        return b"".join(sse_mod.crypt(self.sealer.open(blob.key), [data]))

    def inline_plain(self, meta: ObjectMeta) -> bytes | None:
        """The object's bytes from its row's inline copy (decrypted if need be), if it checks out."""
        if meta.inline is None or not meta.segments or meta.segments[0].blob.key is None:
            return inline_bytes(meta)
        if meta.parts_count or self.sealer is None or meta.sse == sse_mod.SSE_C:
            return None
        try:
            data = b"".join(sse_mod.crypt(self.sealer.open(meta.segments[0].blob.key), [meta.inline]))
        except sse_mod.KeyUnavailable:
            return None         # the nodes' copy fails the same way, with a clear error
        return inline_bytes(meta, data)

    def _open(self, blob, lo: int, hi: int, customer_key: sse_mod.CustomerKey | None = None) -> Iterator[bytes]:
        """Bytes [lo, hi) of one blob, decrypted if it is encrypted (its key is opened here,
        before any byte is read, so a missing master key fails the request cleanly)."""
        if blob.key is None:
            return self.blobs.open(blob, lo, hi)
        if sse_mod.customer_sealed(blob.key):
            if customer_key is None:
                raise S3Error("InvalidRequest", "The object was stored using a form of Server Side Encryption. The "
                              "correct parameters must be provided to retrieve the object.")
            try:
                data_key = customer_key.open(blob.key)
            except sse_mod.WrongCustomerKey as exc:
                raise S3Error("AccessDenied") from exc
            return sse_mod.crypt(data_key, self.blobs.open(blob, lo, hi), lo)
        try:
            if self.sealer is None:
                raise sse_mod.KeyUnavailable("no SSE master key is configured (S3_SSE_KEY)")
            data_key = self.sealer.open(blob.key)
        except sse_mod.KeyUnavailable as exc:
            log.error("cannot decrypt blob %s: %s", blob.blob_id, exc)
            raise S3Error("InternalError", "The server-side encryption key of this object's data is not "
                          "available on this server.") from exc
        return sse_mod.crypt(data_key, self.blobs.open(blob, lo, hi), lo)
