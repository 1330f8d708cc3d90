"""SSE-S3: server-side encryption with keys this server manages (``x-amz-server-side-encryption:
AES256``). HTTP-free.

Every encrypted blob has a data key of its own: 32 random bytes, used for that blob alone, kept in
the blob's reference in the metadata row *sealed* (AES-256-GCM) under the server's master key, with
the master key's id beside it so that an old key can still open what it sealed after a rotation.
The blob's bytes are AES-256-CTR under its data key with the counter starting at zero: a blob's
ciphertext is as long as its plaintext, so sizes, ranges, the nodes' block checksums, repair and
scrub work on encrypted blobs unchanged, and a range is decrypted from its own offset. A data key
never encrypts two plaintexts (a blob is written once; repair copies its ciphertext), which is what
CTR needs. The plaintext's MD5 (the ETag) and checksums are computed before encryption, as AWS
computes them; tampering with the stored bytes is caught by the nodes' block checksums and by the
checksums a client may ask for (``x-amz-checksum-mode``), not by the cipher.

SSE-C (``CustomerKey``) is the same scheme with the data key sealed under the key the client sends
with each request instead of the master key (``c1:`` instead of ``v1:<key id>:``): the server
never stores the customer's key, GCM's check tells a wrong key (403), and everything below the
data key is identical.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ALGORITHM = "AES256"
SSE_C = "SSE-C"          # an object's or upload's encryption with a customer-provided key
_VERSION = "v1"
_AAD = b"s3server-sse-data-key-v1"
_C_VERSION = "c1"
_C_AAD = b"s3server-sse-c-data-key-v1"


class KeyUnavailable(Exception):
    """A sealed data key this server cannot open: its master key is not configured (or the
    stored value is damaged)."""


def parse_master_key(text: str) -> bytes:
    """A master key as configured: 32 bytes, base64 (``openssl rand -base64 32``)."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("an SSE master key must be 32 bytes in base64 (openssl rand -base64 32)") from exc
    if len(key) != 32:
        raise ValueError(f"an SSE master key must be 32 bytes in base64, not {len(key)} bytes")
    return key


def key_id(master: bytes) -> str:
    """A master key's public id (recorded with every data key it seals; reveals nothing of the key)."""
    return hashlib.sha256(b"s3server-sse-key-id\0" + master).hexdigest()[:16]


def new_master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode("ascii")


class Sealer:
    """Makes data keys sealed under the current master key and opens keys sealed under it or
    under any of the ``old`` ones (a rotation: new writes use the new key, old objects stay
    readable while the old key is configured)."""

    def __init__(self, current: bytes, old: Iterable[bytes] = ()):
        self.key_id = key_id(current)
        self._keys = {key_id(k): AESGCM(k) for k in (*old, current)}

    @classmethod
    def from_settings(cls, current: str, old: str = "") -> "Sealer | None":
        """None when no master key is configured (SSE requests are then refused)."""
        if not current.strip():
            return None
        return cls(parse_master_key(current), [parse_master_key(k) for k in old.split(",") if k.strip()])

    def new_key(self) -> tuple[bytes, str]:
        """A fresh data key and its sealed form (what the blob reference keeps)."""
        data_key = os.urandom(32)
        return data_key, self.seal(data_key)

    def seal(self, data_key: bytes) -> str:
        """``data_key`` sealed under the current master key."""
        nonce = os.urandom(12)
        sealed = self._keys[self.key_id].encrypt(nonce, data_key, _AAD)
        return f"{_VERSION}:{self.key_id}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    @staticmethod
    def sealed_by(sealed: str) -> str:
        """The id of the master key that sealed ``sealed``."""
        return sealed.split(":", 2)[1] if sealed.count(":") >= 2 else ""

    def open(self, sealed: str) -> bytes:
        version, _, rest = sealed.partition(":")
        kid, _, data = rest.partition(":")
        aead = self._keys.get(kid)
        if version != _VERSION or aead is None:
            raise KeyUnavailable(f"the master key {kid or '?'} that sealed this object's data key is not configured "
                                 "(S3_SSE_KEY / S3_SSE_OLD_KEYS)")
        try:
            raw = base64.b64decode(data, validate=True)
            return aead.decrypt(raw[:12], raw[12:], _AAD)
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise KeyUnavailable(f"the sealed data key under master key {kid} does not open") from exc


class WrongCustomerKey(Exception):
    """The customer-provided key given does not open what was sealed under the object's key."""


def customer_sealed(sealed: str | None) -> bool:
    """Whether a blob's sealed data key was sealed under a customer-provided key (SSE-C)."""
    return sealed is not None and sealed.startswith(_C_VERSION + ":")


@dataclass(frozen=True)
class CustomerKey:
    """SSE-C: a key the client sends with every request (``x-amz-server-side-encryption-customer-
    key``), never stored. Each blob still has a data key of its own, sealed (AES-256-GCM) under
    the customer's key instead of the master key: the wrong key fails GCM's check (403), and the
    bytes are encrypted exactly as SSE-S3's are (CTR), so ranges, repair and scrub are unchanged.
    A multipart upload keeps a token sealed the same way, to check each part's key against."""
    key: bytes = field(repr=False)
    md5: str                     # base64 MD5 of the key, as the client sent it (echoed in answers)

    def seal(self, data_key: bytes) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self.key).encrypt(nonce, data_key, _C_AAD)
        return f"{_C_VERSION}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def new_key(self) -> tuple[bytes, str]:
        data_key = os.urandom(32)
        return data_key, self.seal(data_key)

    def open(self, sealed: str) -> bytes:
        version, _, data = sealed.partition(":")
        if version != _C_VERSION:
            raise WrongCustomerKey("not sealed under a customer-provided key")
        try:
            raw = base64.b64decode(data, validate=True)
            return AESGCM(self.key).decrypt(raw[:12], raw[12:], _C_AAD)
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise WrongCustomerKey("the customer-provided key does not open this data key") from exc


def crypt(data_key: bytes, chunks: Iterable[bytes], offset: int = 0) -> Iterator[bytes]:
    """AES-256-CTR of ``chunks``, which start ``offset`` bytes into the blob (encryption and
    decryption are the same operation). The counter is the 16-byte block number, big-endian."""
    block, skip = divmod(offset, 16)
    ctx = Cipher(algorithms.AES(data_key), modes.CTR(block.to_bytes(16, "big"))).encryptor()
    if skip:
        ctx.update(bytes(skip))
    for chunk in chunks:
        if chunk:
            yield ctx.update(chunk)
