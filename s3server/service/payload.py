"""A request body as the service sees it (Payload: decoded chunks plus what the client declared)
and its checks: before the first byte (``validate_payload``), after the last (``verify_payload``:
Content-MD5, x-amz-content-sha256, x-amz-checksum-* header or trailer). HTTP-free."""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from s3server.errors import S3Error
from s3server.service import checksums


@dataclass
class Payload:
    """A request body as the service sees it: decoded chunks plus what the client declared."""
    chunks: Iterable[bytes]
    length: int | None = None                      # declared decoded length
    content_md5: str | None = None                 # base64, from Content-MD5
    sha256_hex: str | None = None                  # from x-amz-content-sha256 when it is a digest
    checksums: dict[str, str] = field(default_factory=dict)   # algo -> base64, from headers
    trailer: Callable[[], dict[str, str]] | None = None       # algo -> base64, known after the body
    trailer_algorithms: tuple[str, ...] = ()       # algorithms announced in x-amz-trailer
    sdk_algorithm: str | None = None               # x-amz-sdk-checksum-algorithm


def _decode_b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise S3Error("InvalidDigest") from exc


def validate_payload(p: Payload) -> None:
    """Checks that can be made before reading a byte of the body."""
    if p.content_md5 is not None and len(_decode_b64(p.content_md5)) != 16:
        raise S3Error("InvalidDigest")
    for algo, value in p.checksums.items():
        if not checksums.valid_value(algo, value):
            raise S3Error("InvalidRequest", f"Value for {checksums.header_name(algo)} header is invalid.")
    declared = set(p.checksums) | set(p.trailer_algorithms)
    if len(declared) > 1:
        raise S3Error("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
    if p.checksums and p.trailer_algorithms:
        raise S3Error("InvalidRequest", "Expecting a single x-amz-checksum- header")
    if p.sdk_algorithm and declared and p.sdk_algorithm not in declared:
        raise S3Error("InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.")


def verify_payload(p: Payload, d: checksums.Digests) -> None:
    """After the body: Content-MD5, x-amz-content-sha256 and every declared checksum (header or
    trailer) against what was computed; BadDigest & co. when one differs."""
    if p.content_md5 is not None and _decode_b64(p.content_md5) != bytes.fromhex(d.md5_hex()):
        raise S3Error("BadDigest", expected_digest=p.content_md5, calculated_digest=d.md5_b64())
    if p.sha256_hex is not None and p.sha256_hex.lower() != d.sha256_hex():
        raise S3Error("XAmzContentSHA256Mismatch", client_computed_content_s_h_a256=p.sha256_hex,
                      s3_computed_content_s_h_a256=d.sha256_hex())
    declared = dict(p.checksums)
    if p.trailer is not None:
        trailer = p.trailer()
        for algo in p.trailer_algorithms:
            if algo not in trailer:
                raise S3Error("InvalidRequest", f"The {checksums.header_name(algo)} trailer was not sent.")
            if not checksums.valid_value(algo, trailer[algo]):
                raise S3Error("InvalidRequest", f"Value for {checksums.header_name(algo)} trailing header is invalid.")
        declared.update(trailer)
    for algo, value in declared.items():
        if d.checksum(algo) != value:
            raise S3Error("BadDigest", f"The {algo} you specified did not match the calculated checksum.")


def read_small_payload(payload: Payload, limit: int, too_large: S3Error) -> bytes:
    """Read a small request body (an XML document) whole and verify it exactly as an upload is
    verified (Content-MD5, x-amz-checksum-* header or trailer, x-amz-content-sha256)."""
    validate_payload(payload)
    algos = list(payload.checksums) or list(payload.trailer_algorithms)
    digests = checksums.Digests(algos, sha256=payload.sha256_hex is not None)
    pieces = []
    for chunk in payload.chunks:
        digests.update(chunk)
        if digests.size > limit:
            raise too_large
        pieces.append(chunk)
    if payload.length is not None and digests.size != payload.length:
        raise S3Error("IncompleteBody")
    verify_payload(payload, digests)
    return b"".join(pieces)


class Kept:
    """The bytes of a body as it streams past, while it is at most ``limit`` bytes long
    (an object's inline copy)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0

    def wrap(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            if self.size <= self.limit:
                self.size += len(chunk)
                if self.size <= self.limit:
                    self.parts.append(chunk)
                else:
                    self.parts = []
            yield chunk

    def data(self, size: int) -> bytes | None:
        """The kept bytes if the whole body (``size`` bytes) fitted, else None."""
        return b"".join(self.parts) if self.size == size <= self.limit else None
