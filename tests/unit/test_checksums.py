"""Streaming digests against botocore's checksum classes and known vectors."""
from __future__ import annotations

import base64
import hashlib
import os
import zlib

import crc32c
import pytest
import xxhash
from botocore.httpchecksum import (BaseChecksum, Crc32Checksum, CrtCrc32cChecksum, CrtCrc32Checksum,
                                   CrtCrc64NvmeChecksum, CrtXxhash3Checksum, CrtXxhash64Checksum,
                                   CrtXxhash128Checksum, Sha1Checksum, Sha256Checksum, Sha512Checksum)

from s3server.service import checksums
from s3server.service.checksums import (ALGORITHMS, Digests, algorithm_from_header, combine_full_object,
                                        composite_checksum, header_name, multipart_etag, valid_value)

class Md5Checksum(BaseChecksum):
    """botocore names MD5 among the algorithms but has no class for it (its digest is plain MD5)."""

    def __init__(self):
        self._md5 = hashlib.md5()

    def update(self, chunk):
        self._md5.update(chunk)

    def digest(self):
        return self._md5.digest()


BOTOCORE = {
    "CRC32": Crc32Checksum, "CRC32C": CrtCrc32cChecksum, "CRC64NVME": CrtCrc64NvmeChecksum,
    "SHA1": Sha1Checksum, "SHA256": Sha256Checksum, "SHA512": Sha512Checksum, "MD5": Md5Checksum,
    "XXHASH64": CrtXxhash64Checksum, "XXHASH3": CrtXxhash3Checksum, "XXHASH128": CrtXxhash128Checksum,
}
# "123456789" check values of each CRC (CRC catalogue), big-endian, base64.
CHECK_VALUES = {
    "CRC32": 0xCBF43926, "CRC32C": 0xE3069283, "CRC64NVME": 0xAE8B14860A799888,
}


def botocore_b64(algo: str, data: bytes, piece: int = 1000) -> str:
    c = BOTOCORE[algo]()
    for i in range(0, len(data), piece):
        c.update(data[i:i + piece])
    return c.b64digest()


def digest_of(algo: str, data: bytes, piece: int = 777) -> str:
    d = Digests([algo])
    for i in range(0, len(data), piece):
        d.update(data[i:i + piece])
    return d.checksum(algo)


@pytest.mark.parametrize("algo", ALGORITHMS)
@pytest.mark.parametrize("size", [0, 1, 5, 4096, 100_003])
def test_matches_botocore(algo, size):
    data = os.urandom(size)
    assert digest_of(algo, data) == botocore_b64(algo, data)


@pytest.mark.parametrize("algo,value", CHECK_VALUES.items())
def test_crc_check_values(algo, value):
    width = 8 if algo == "CRC64NVME" else 4
    assert digest_of(algo, b"123456789") == base64.b64encode(value.to_bytes(width, "big")).decode()


def test_independent_implementations():
    data = os.urandom(50_000)
    assert digest_of("CRC32", data) == base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert digest_of("CRC32C", data) == base64.b64encode(crc32c.crc32c(data).to_bytes(4, "big")).decode()
    crt = CrtCrc32Checksum()
    crt.update(data)
    assert digest_of("CRC32", data) == crt.b64digest()


def test_known_s3_values():
    # The AWS sigv4-streaming-trailers example: 66560 x "a" has CRC32C sOO8/Q==.
    assert digest_of("CRC32C", b"a" * 66560) == "sOO8/Q=="
    # Empty object: AWS returns AAAAAA== (CRC32) and AAAAAAAAAAA= (CRC64NVME).
    assert digest_of("CRC32", b"") == "AAAAAA=="
    assert digest_of("CRC64NVME", b"") == "AAAAAAAAAAA="


def test_md5_sha256_xxh3_size():
    data = os.urandom(12345)
    d = Digests(sha256=True, xxh3=True)
    d.update(data[:100])
    d.update(b"")
    d.update(data[100:])
    assert d.size == 12345
    assert d.md5_hex() == hashlib.md5(data).hexdigest()
    assert d.md5_b64() == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert d.sha256_hex() == hashlib.sha256(data).hexdigest()
    assert d.xxh3_hex() == xxhash.xxh3_64(data).hexdigest()


def test_sha256_shared_with_checksum():
    d = Digests(["SHA256", "CRC32"], sha256=True)
    d.update(b"abc")
    assert d.sha256_hex() == hashlib.sha256(b"abc").hexdigest()
    assert d.checksum("SHA256") == base64.b64encode(hashlib.sha256(b"abc").digest()).decode()


def test_unrequested_digest_raises():
    d = Digests(["CRC32"])
    with pytest.raises(KeyError):
        d.checksum("SHA1")
    with pytest.raises(KeyError):
        d.sha256_hex()
    with pytest.raises(KeyError):
        d.xxh3_hex()
    with pytest.raises(ValueError):
        Digests(["MD4"])


def test_header_names():
    assert header_name("CRC64NVME") == "x-amz-checksum-crc64nvme"
    for algo in ALGORITHMS:
        assert algorithm_from_header(header_name(algo)) == algo
        assert algorithm_from_header(header_name(algo).upper()) == algo
    assert algorithm_from_header("x-amz-checksum-type") is None
    assert algorithm_from_header("x-amz-checksum-algorithm") is None
    assert algorithm_from_header("content-md5") is None


def test_valid_value():
    for algo in ALGORITHMS:
        assert valid_value(algo, digest_of(algo, b"x"))
    assert not valid_value("CRC32", "AAAAAAAAAAA=")   # 8 bytes
    assert not valid_value("CRC64NVME", "AAAAAA==")   # 4 bytes
    assert not valid_value("CRC32", "not base64!")
    assert not valid_value("SHA256", "")


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_composite_checksum(algo):
    parts = [os.urandom(n) for n in (5000, 7000, 10)]
    part_b64 = [digest_of(algo, p) for p in parts]
    raw = b"".join(base64.b64decode(c) for c in part_b64)
    expected = f"{digest_of(algo, raw)}-3"
    assert composite_checksum(algo, part_b64) == expected
    assert composite_checksum(algo, part_b64) != f"{digest_of(algo, b''.join(parts))}-3"


@pytest.mark.parametrize("algo", ["CRC32", "CRC32C", "CRC64NVME"])
def test_combine_full_object(algo):
    parts = [os.urandom(n) for n in (5 * 1024 * 1024 + 3, 1, 0, 4097)]
    combined = combine_full_object(algo, [(digest_of(algo, p, 1 << 20), len(p)) for p in parts])
    assert combined == botocore_b64(algo, b"".join(parts), 1 << 20)
    assert combine_full_object(algo, []) == digest_of(algo, b"")


def test_combine_full_object_rejects_hashes_and_bad_values():
    with pytest.raises(ValueError):
        combine_full_object("SHA256", [])
    with pytest.raises(ValueError):
        combine_full_object("CRC32", [("AAAAAAAAAAA=", 1)])


def test_multipart_etag():
    md5s = [hashlib.md5(p).hexdigest() for p in (b"one", b"two")]
    expected = hashlib.md5(hashlib.md5(b"one").digest() + hashlib.md5(b"two").digest()).hexdigest()
    assert multipart_etag(md5s) == f'"{expected}-2"'
    assert multipart_etag([f'"{m}"' for m in md5s]) == f'"{expected}-2"'


def test_module_constants():
    assert checksums.ALGORITHMS == ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", "SHA512", "MD5", "XXHASH64",
                                   "XXHASH3", "XXHASH128")
