"""SSE-S3's key handling and stream cipher (s3server/service/sse.py)."""
from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from s3server.config import Settings
from s3server.service import sse


def _ctr_by_hand(key: bytes, data: bytes) -> bytes:
    """AES-256 of the 16-byte big-endian block numbers 0, 1, 2... XORed onto the data: the format
    stored blobs are in (it must never change, or stored objects stop reading)."""
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    stream = b"".join(ecb.update(i.to_bytes(16, "big")) for i in range((len(data) + 15) // 16))
    return bytes(a ^ b for a, b in zip(data, stream))


def test_the_stream_is_aes_ctr_from_block_zero_and_decrypts_from_any_offset():
    key = os.urandom(32)
    data = os.urandom(5000)
    pieces = [data[:7], data[7:4096], b"", data[4096:]]
    encrypted = b"".join(sse.crypt(key, pieces))
    assert encrypted == _ctr_by_hand(key, data) and encrypted != data
    assert b"".join(sse.crypt(key, [encrypted])) == data
    for offset in (0, 1, 15, 16, 17, 31, 32, 4095, 4096, 4999):
        for length in (1, 16, 100, 5000):
            piece = encrypted[offset:offset + length]
            assert b"".join(sse.crypt(key, [piece[:3], piece[3:]], offset)) == data[offset:offset + length]


def test_data_keys_are_fresh_and_sealed_under_the_master_key():
    sealer = sse.Sealer(os.urandom(32))
    k1, s1 = sealer.new_key()
    k2, s2 = sealer.new_key()
    assert k1 != k2 and len(k1) == 32 and s1 != s2
    assert sealer.open(s1) == k1 and sealer.open(s2) == k2
    assert base64.b64encode(k1).decode() not in s1
    version, kid, _ = s1.split(":", 2)
    assert version == "v1" and kid == sealer.key_id


def test_rotation_opens_old_keys_and_seals_with_the_new_one():
    old, new = os.urandom(32), os.urandom(32)
    before = sse.Sealer(old)
    key, sealed = before.new_key()
    after = sse.Sealer(new, [old])
    assert after.open(sealed) == key
    assert after.new_key()[1].split(":")[1] == sse.key_id(new) != sse.key_id(old)
    with pytest.raises(sse.KeyUnavailable):
        sse.Sealer(new).open(sealed)


@pytest.mark.parametrize("damage", [lambda s: s[:-4] + "AAAA", lambda s: "v2" + s[2:], lambda s: s.split(":")[0],
                                    lambda s: s[:-3] + "%%%"])
def test_a_damaged_sealed_key_does_not_open(damage):
    sealer = sse.Sealer(os.urandom(32))
    _, sealed = sealer.new_key()
    with pytest.raises(sse.KeyUnavailable):
        sealer.open(damage(sealed))


def test_master_keys_are_checked_when_settings_load():
    good = base64.b64encode(os.urandom(32)).decode()
    assert Settings.from_env({"S3_SSE_KEY": good}).sse_key == good
    assert sse.Sealer.from_settings("") is None
    for bad in ("c2hvcnQ=", "not base64!", base64.b64encode(os.urandom(33)).decode()):
        with pytest.raises(ValueError, match="S3_SSE_KEY"):
            Settings.from_env({"S3_SSE_KEY": bad})
    with pytest.raises(ValueError, match="S3_SSE_OLD_KEYS"):
        Settings.from_env({"S3_SSE_KEY": good, "S3_SSE_OLD_KEYS": "c2hvcnQ="})
    with pytest.raises(ValueError, match="needs S3_SSE_KEY"):
        Settings.from_env({"S3_SSE_OLD_KEYS": good})
    assert good not in repr(Settings.from_env({"S3_SSE_KEY": good}))


def test_a_data_key_resealed_under_a_new_master_key():
    old, new = os.urandom(32), os.urandom(32)
    key, sealed = sse.Sealer(old).new_key()
    both = sse.Sealer(new, [old])
    assert sse.Sealer.sealed_by(sealed) == sse.key_id(old)
    resealed = both.seal(both.open(sealed))
    assert sse.Sealer.sealed_by(resealed) == sse.key_id(new) and sse.Sealer(new).open(resealed) == key
    assert sse.Sealer.sealed_by("garbage") == ""


def test_customer_keys_seal_data_keys_only_they_open():
    """SSE-C: a data key sealed under the customer's key opens with that key alone; the sealed form
    says it is a customer key's (``c1:``), so the object reads as SSE-C; a master key's sealed
    form is not mistaken for one."""
    mine = sse.CustomerKey(os.urandom(32), "md5")
    other = sse.CustomerKey(os.urandom(32), "md5")
    data_key, sealed = mine.new_key()
    assert sealed.startswith("c1:") and sse.customer_sealed(sealed)
    assert mine.open(sealed) == data_key and len(data_key) == 32
    assert mine.new_key()[0] != data_key                          # a fresh data key every time
    with pytest.raises(sse.WrongCustomerKey):
        other.open(sealed)
    with pytest.raises(sse.WrongCustomerKey):
        mine.open(sealed[:-4] + "AAA=")
    master = sse.Sealer(os.urandom(32))
    _, by_master = master.new_key()
    assert not sse.customer_sealed(by_master) and not sse.customer_sealed(None)
    with pytest.raises(sse.WrongCustomerKey):
        mine.open(by_master)
    assert "key=" not in repr(mine) and mine.key.hex() not in repr(mine)       # never in logs


def test_an_object_reads_as_encrypted_the_way_its_segments_are():
    from s3server.models import BlobRef, Segment, segments_sse
    blob = lambda key: Segment(BlobRef("b", 1, ("n",), key=key))  # noqa: E731
    assert segments_sse(()) is None
    assert segments_sse((blob(None),)) is None
    assert segments_sse((blob("v1:kid:x"), blob("v1:kid:y"))) == "AES256"
    assert segments_sse((blob("c1:x"), blob("c1:y"))) == "SSE-C"
    assert segments_sse((blob("c1:x"), blob(None))) is None      # a part stored unencrypted
