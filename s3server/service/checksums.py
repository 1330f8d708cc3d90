"""Streaming digests: the MD5 ETag, S3's additional checksums, SHA-256 and xxh3.

Pure computation, no I/O. Checksum values are exchanged the way S3 sends them:
base64 of the big-endian digest (``x-amz-checksum-crc32: "sOO8/Q=="``).

CRC32C and CRC64NVME come from ``awscrt.checksums`` (the library botocore uses
for the same job); CRC32 from zlib; SHA-1, SHA-256, SHA-512 and MD5 from hashlib; XXHASH64,
XXHASH3 (64-bit) and XXHASH128 (xxh3-128) from the xxhash package, whose big-endian digests
are what botocore's (awscrt's) produce.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from typing import Callable, Iterable, Sequence

import xxhash
from awscrt import checksums as crt

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", "SHA512", "MD5", "XXHASH64", "XXHASH3",
              "XXHASH128")
HEADER_PREFIX = "x-amz-checksum-"

# CRC algorithms: (update(data, previous) -> int, combine(crc1, crc2, len2) -> int, digest size in bytes)
_CRCS: dict[str, tuple[Callable[[bytes, int], int], Callable[[int, int, int], int], int]] = {
    "CRC32": (zlib.crc32, crt.combine_crc32, 4),
    "CRC32C": (crt.crc32c, crt.combine_crc32c, 4),
    "CRC64NVME": (crt.crc64nvme, crt.combine_crc64nvme, 8),
}
# the others: a new hash object (update, digest)
_HASHES: dict[str, Callable[..., "hashlib._Hash"]] = {
    "SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512, "MD5": hashlib.md5,
    "XXHASH64": xxhash.xxh64, "XXHASH3": xxhash.xxh3_64, "XXHASH128": xxhash.xxh3_128,
}
_SIZES = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32, "SHA512": 64, "MD5": 16,
          "XXHASH64": 8, "XXHASH3": 8, "XXHASH128": 16}


def _check(algo: str) -> str:
    if algo not in _SIZES:
        raise ValueError(f"unknown checksum algorithm {algo!r}")
    return algo


def header_name(algo: str) -> str:
    """``"CRC32"`` -> ``"x-amz-checksum-crc32"``."""
    return HEADER_PREFIX + _check(algo).lower()


def algorithm_from_header(name: str) -> str | None:
    """``"X-Amz-Checksum-CRC32C"`` -> ``"CRC32C"``; None for any other header
    (including ``x-amz-checksum-type`` and ``x-amz-checksum-algorithm``)."""
    name = name.lower()
    if not name.startswith(HEADER_PREFIX):
        return None
    algo = name[len(HEADER_PREFIX):].upper()
    return algo if algo in _SIZES else None


def decode_value(algo: str, b64: str) -> bytes | None:
    """The raw digest of a base64 checksum value, or None if it is not one."""
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == _SIZES[_check(algo)] else None


def valid_value(algo: str, b64: str) -> bool:
    """True when ``b64`` is well-formed base64 of the algorithm's digest size."""
    return decode_value(algo, b64) is not None


def _crc_bytes(algo: str, value: int) -> bytes:
    return value.to_bytes(_CRCS[algo][2], "big")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class Digests:
    """Every digest a PUT needs, fed once per piece of the body.

    MD5 is always computed (the ETag). ``algorithms`` are S3 checksum algorithms
    (``ALGORITHMS``); ``sha256`` adds a SHA-256 for x-amz-content-sha256
    verification (shared with a requested SHA256 checksum); ``xxh3`` adds the
    64-bit xxh3 used to verify blobs between gateway and storage nodes.
    """

    def __init__(self, algorithms: Iterable[str] = (), *, sha256: bool = False, xxh3: bool = False):
        self.size = 0
        self._md5 = hashlib.md5()
        self._crcs: dict[str, int] = {}
        self._hashes: dict[str, "hashlib._Hash"] = {}
        for algo in algorithms:
            if _check(algo) in _CRCS:
                self._crcs[algo] = 0
            else:
                self._hashes[algo] = _HASHES[algo]()
        if sha256 and "SHA256" not in self._hashes:
            self._hashes["SHA256"] = hashlib.sha256()
        self._xxh3 = xxhash.xxh3_64() if xxh3 else None

    def update(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        self._md5.update(data)
        for algo, value in self._crcs.items():
            self._crcs[algo] = _CRCS[algo][0](data, value)
        for h in self._hashes.values():
            h.update(data)
        if self._xxh3 is not None:
            self._xxh3.update(data)

    def md5_hex(self) -> str:
        return self._md5.hexdigest()

    def md5_b64(self) -> str:
        return _b64(self._md5.digest())

    def checksum(self, algo: str) -> str:
        """Base64 checksum, as S3 sends it in ``x-amz-checksum-<algo>``."""
        if algo in self._crcs:
            return _b64(_crc_bytes(algo, self._crcs[algo]))
        if algo in self._hashes:
            return _b64(self._hashes[algo].digest())
        raise KeyError(f"checksum {algo!r} was not requested")

    def sha256_hex(self) -> str:
        if "SHA256" not in self._hashes:
            raise KeyError("sha256 was not requested")
        return self._hashes["SHA256"].hexdigest()

    def xxh3_hex(self) -> str:
        if self._xxh3 is None:
            raise KeyError("xxh3 was not requested")
        return self._xxh3.hexdigest()


def composite_checksum(algo: str, part_checksums_b64: Sequence[str]) -> str:
    """COMPOSITE multipart checksum: ``b64(H(concat raw part digests))-N``."""
    raw = b"".join(_raw_or_raise(algo, c) for c in part_checksums_b64)
    if algo in _CRCS:
        digest = _crc_bytes(algo, _CRCS[algo][0](raw, 0))
    else:
        digest = _HASHES[algo](raw).digest()
    return f"{_b64(digest)}-{len(part_checksums_b64)}"


def combine_full_object(algo: str, parts: Sequence[tuple[str, int]]) -> str:
    """FULL_OBJECT multipart checksum of a CRC algorithm, from ``(part b64, part size)``
    pairs in part order: the CRC of the whole object, without re-reading it."""
    if algo not in _CRCS:
        raise ValueError(f"{algo} has no full-object form")
    _update, combine, _size = _CRCS[algo]
    crc = 0
    for b64, size in parts:
        part = int.from_bytes(_raw_or_raise(algo, b64), "big")
        crc = combine(crc, part, size)
    return _b64(_crc_bytes(algo, crc))


def multipart_etag(part_md5_hex: Sequence[str]) -> str:
    """``'"<hex md5 of the concatenated binary part md5s>-N"'`` (quotes included)."""
    joined = b"".join(bytes.fromhex(h.strip('"')) for h in part_md5_hex)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(part_md5_hex)}"'


def _raw_or_raise(algo: str, b64: str) -> bytes:
    raw = decode_value(algo, b64)
    if raw is None:
        raise ValueError(f"not a {algo} checksum: {b64!r}")
    return raw
