"""How a blob's bytes reach its temp file: gathered through the page cache (one writev per
WRITE_GATHER bytes), or with O_DIRECT from reused page-aligned buffers for the copies the gateway
will not read back (the file-system work around them is disk.py's)."""
from __future__ import annotations

import errno
import fcntl
import mmap
import os
import threading

WRITE_GATHER = 1024 * 1024
GATHER_PIECES = 256           # well under IOV_MAX (1024)
DIRECT_CHUNK = 1024 * 1024    # O_DIRECT writes go out in page-aligned pieces of this size
DIRECT_MIN = 2 * DIRECT_CHUNK  # smaller blobs are always written through the page cache


def writev_all(fd: int, pieces: list[bytes]) -> None:
    """Write every piece at the file's position (one writev unless the kernel writes less)."""
    left = sum(len(p) for p in pieces)
    while left:
        n = os.writev(fd, pieces)
        left -= n
        if left:
            data = b"".join(pieces)
            pieces = [data[len(data) - left:]]


class GatherFile:
    """Writes through the page cache: pieces gathered up to WRITE_GATHER bytes, one writev
    each (a small blob and its footer go out in a single system call)."""
    __slots__ = ("fd", "pieces", "size")

    def __init__(self, fd: int):
        self.fd, self.pieces, self.size = fd, [], 0

    def add(self, piece: bytes) -> None:
        self.pieces.append(piece)
        self.size += len(piece)
        if self.size >= WRITE_GATHER or len(self.pieces) >= GATHER_PIECES:
            writev_all(self.fd, self.pieces)
            self.pieces, self.size = [], 0

    def finish(self, footer: bytes) -> None:
        self.pieces.append(footer)
        writev_all(self.fd, self.pieces)
        self.pieces, self.size = [], 0

    def release(self) -> None:
        pass


class BufferPool:
    """Page-aligned DIRECT_CHUNK buffers (anonymous mappings), reused across writes: a
    fresh mapping's pages would fault in again on every blob."""

    def __init__(self, keep: int = 8):
        self._keep = keep
        self._free: list[mmap.mmap] = []
        self._lock = threading.Lock()

    def get(self) -> mmap.mmap:
        with self._lock:
            if self._free:
                return self._free.pop()
        return mmap.mmap(-1, DIRECT_CHUNK)

    def put(self, buf: mmap.mmap) -> None:
        with self._lock:
            if len(self._free) < self._keep:
                self._free.append(buf)
                return
        buf.close()


class DirectFile:
    """Writes a blob's data with O_DIRECT, DIRECT_CHUNK bytes at a time from a page-aligned
    buffer: the bytes go from the buffer to the device without being copied into the page
    cache. Used for the copies the gateway will not read from (it reads a blob from its
    first node), so a node's cache holds what it serves and large secondary copies cost no
    page-cache pages (allocating those was ~60% of a node's CPU per MB written here).

    O_DIRECT needs aligned offsets and lengths, so the last partial chunk and the footer
    are written through the page cache after O_DIRECT is switched off again; the caller's
    fsync then makes everything durable exactly as for a buffered write. A file system
    without O_DIRECT (``open`` returns None), or one that refuses an aligned write, gets
    a buffered write instead."""
    __slots__ = ("fd", "flags", "pool", "buf", "view", "filled")

    def __init__(self, fd: int, flags: int, pool: BufferPool):
        self.fd, self.flags, self.pool = fd, flags, pool
        self.buf = pool.get()
        self.view = memoryview(self.buf)
        self.filled = 0

    @classmethod
    def open(cls, fd: int, pool: BufferPool) -> DirectFile | None:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT)
        except OSError:
            return None
        return cls(fd, flags, pool)

    def add(self, piece: bytes) -> None:
        data = memoryview(piece)
        while data:
            take = min(len(data), DIRECT_CHUNK - self.filled)
            self.view[self.filled:self.filled + take] = data[:take]
            self.filled += take
            data = data[take:]
            if self.filled == DIRECT_CHUNK:
                self._write_chunk()

    def _write_chunk(self) -> None:
        try:
            done = os.write(self.fd, self.buf)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            done = 0                            # O_DIRECT refused: the page cache it is
        if done < DIRECT_CHUNK:
            self._buffered()
            writev_all(self.fd, [self.view[done:]])
        self.filled = 0

    def _buffered(self) -> None:
        fcntl.fcntl(self.fd, fcntl.F_SETFL, self.flags)

    def finish(self, footer: bytes) -> None:
        self._buffered()
        writev_all(self.fd, [self.view[:self.filled], footer])
        self.filled = 0

    def release(self) -> None:
        view, self.view = self.view, None
        if view is not None:
            view.release()
            self.pool.put(self.buf)
