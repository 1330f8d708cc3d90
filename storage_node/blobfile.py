"""The on-disk format of one blob: data, then block checksums, then a fixed trailer.

    [data: size bytes][xxh3_64 of each block: 8 bytes big-endian each][trailer: 28 bytes]
    trailer = magic b"SNB1", version u16, reserved u16, block_size u32, data_size u64,
              xxh3_64(checksum bytes + the 20 bytes before it) u64

Data and checksums live in one file so a single rename publishes both atomically.
A block is the ``block_size`` bytes at ``i * block_size`` (the last may be shorter).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO, Iterator

import xxhash

MAGIC = b"SNB1"
VERSION = 1
_HEAD = struct.Struct(">4sHHIQ")
_HASH = struct.Struct(">Q")
TRAILER_SIZE = _HEAD.size + _HASH.size


class CorruptBlob(Exception):
    """The blob file fails its own checks (bad trailer or a block checksum mismatch)."""


def block_count(data_size: int, block_size: int) -> int:
    """How many blocks ``data_size`` bytes make (0 for an empty blob)."""
    return -(-data_size // block_size)


@dataclass(frozen=True)
class Layout:
    """What the trailer says about a blob file."""
    data_size: int
    block_size: int
    checksums: tuple[int, ...]

    def block_bounds(self, index: int) -> tuple[int, int]:
        """[start, end) of block ``index`` in the data."""
        start = index * self.block_size
        return start, min(start + self.block_size, self.data_size)


def encode_footer(checksums: list[int], block_size: int, data_size: int) -> bytes:
    """The bytes written after the data: checksums then trailer."""
    sums = b"".join(_HASH.pack(c) for c in checksums)
    head = _HEAD.pack(MAGIC, VERSION, 0, block_size, data_size)
    return sums + head + _HASH.pack(xxhash.xxh3_64_intdigest(sums + head))


def read_layout(f: BinaryIO, file_size: int) -> Layout:
    """Parse and check the footer of an open blob file; raise CorruptBlob if it is bad."""
    if file_size < TRAILER_SIZE:
        raise CorruptBlob("file shorter than its trailer")
    f.seek(file_size - TRAILER_SIZE)
    trailer = f.read(TRAILER_SIZE)
    magic, version, _, block_size, data_size = _HEAD.unpack_from(trailer)
    if magic != MAGIC or version != VERSION or block_size <= 0:
        raise CorruptBlob("bad trailer")
    n = block_count(data_size, block_size)
    if data_size + 8 * n + TRAILER_SIZE != file_size:
        raise CorruptBlob("trailer does not match file size")
    f.seek(data_size)
    sums = f.read(8 * n)
    (want,) = _HASH.unpack_from(trailer, _HEAD.size)
    if xxhash.xxh3_64_intdigest(sums + trailer[:_HEAD.size]) != want:
        raise CorruptBlob("footer checksum mismatch")
    checksums = tuple(_HASH.unpack_from(sums, 8 * i)[0] for i in range(n))
    return Layout(data_size, block_size, checksums)


def read_verified(f: BinaryIO, layout: Layout, start: int, end: int) -> Iterator[bytes]:
    """Yield data bytes [start, end), reading whole blocks and checking each before any of
    its bytes is yielded. Raises CorruptBlob at the first bad block."""
    if start >= end:
        return
    first, last = start // layout.block_size, (end - 1) // layout.block_size
    for index in range(first, last + 1):
        b_start, b_end = layout.block_bounds(index)
        f.seek(b_start)
        block = f.read(b_end - b_start)
        if len(block) != b_end - b_start or xxhash.xxh3_64_intdigest(block) != layout.checksums[index]:
            raise CorruptBlob(f"block {index} fails its checksum")
        lo, hi = max(start, b_start) - b_start, min(end, b_end) - b_start
        yield block if (lo, hi) == (0, len(block)) else block[lo:hi]


class BlockHasher:
    """Accumulates per-block xxh3_64 checksums and the whole-blob xxh3_128 of a byte stream."""

    def __init__(self, block_size: int):
        self.block_size = block_size
        self.size = 0
        self.checksums: list[int] = []
        self._block = xxhash.xxh3_64()
        self._in_block = 0
        self._whole = xxhash.xxh3_128()

    def update(self, data: bytes) -> None:
        """Account for the next ``data`` bytes of the blob."""
        self._whole.update(data)
        self.size += len(data)
        view = memoryview(data)
        while view:
            take = min(len(view), self.block_size - self._in_block)
            self._block.update(view[:take])
            self._in_block += take
            view = view[take:]
            if self._in_block == self.block_size:
                self._close_block()

    def finish(self) -> bytes:
        """Close the last partial block; return the footer to append to the data."""
        if self._in_block:
            self._close_block()
        return encode_footer(self.checksums, self.block_size, self.size)

    def hexdigest(self) -> str:
        """xxh3-128 of everything seen, as hex."""
        return self._whole.hexdigest()

    def _close_block(self) -> None:
        self.checksums.append(self._block.intdigest())
        self._block = xxhash.xxh3_64()
        self._in_block = 0
