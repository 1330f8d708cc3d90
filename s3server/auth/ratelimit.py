"""Token buckets per client IP and per key, shared by every worker process of one gateway.

gunicorn forks several workers; a limit kept in each worker's memory would let a client
through ``workers`` times the configured figure. The buckets therefore live in one small
file that every worker maps (``mmap``, ``MAP_SHARED``) from the pod-local run directory
the gunicorn master creates before it forks (``S3_RUN_DIR``, a tmpfs in the container).

Why a mapped file with ``fcntl`` byte-range locks, and not a semaphore in shared memory,
SQLite, or a server: a worker that dies inside the critical section (OOM kill, timeout)
has its ``fcntl`` locks released by the kernel, where a semaphore would stay taken and
freeze every other worker; a lookup is one lock, 256 bytes read and 32 written, with no
allocation or transaction (SQLite would fsync or need WAL files in tmpfs); and nothing
outside the pod is involved, so each pod enforces exactly the configured figure.

Layout: ``GROUPS`` groups of ``WAYS`` slots; a key's BLAKE2b digest picks its group, the
group is locked (its byte range), the key's slot found or claimed. A slot is (16-byte key
digest, tokens: float64, last update: float64). A full group reuses a slot whose bucket
has refilled completely (equivalent to a fresh bucket, so nothing is lost), else the
least recently used one (a client then gets a fresh bucket: lenient, never stricter).

The clock is ``time.monotonic`` (CLOCK_MONOTONIC: one clock for all processes of a host).
Without a run directory (tests, embedding) the same table lives in process memory.
"""
from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import struct
import threading
import time
from pathlib import Path
from typing import Callable

from s3server.errors import S3Error

SLOT = struct.Struct("<16sdd")           # key digest, tokens, updated
WAYS = 8
GROUPS = 4096                            # 32768 slots, 1 MiB
GROUP_BYTES = SLOT.size * WAYS
TABLE_BYTES = GROUP_BYTES * GROUPS
FILE_NAME = "ratelimit.bin"
_EMPTY = bytes(16)


class _Table:
    """The slots, in a shared file mapping or in process memory."""

    def __init__(self, path: Path | None = None):
        self._local = threading.Lock()   # fcntl locks are per process; this orders our own threads
        self._fd = None
        if path is None:
            self._buf = bytearray(TABLE_BYTES)
            return
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(fd).st_size < TABLE_BYTES:
            os.ftruncate(fd, TABLE_BYTES)       # zero-filled; two workers doing it at once is harmless
        self._fd = fd
        self._buf = mmap.mmap(fd, TABLE_BYTES, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)

    def update(self, group: int, fn: Callable[[bytearray], bytes | None]) -> None:
        """Run ``fn(group bytes)`` under the group's lock; write back what it returns."""
        start = group * GROUP_BYTES
        with self._local:
            if self._fd is not None:
                fcntl.lockf(self._fd, fcntl.LOCK_EX, GROUP_BYTES, start, os.SEEK_SET)
            try:
                new = fn(bytearray(self._buf[start:start + GROUP_BYTES]))
                if new is not None:
                    self._buf[start:start + GROUP_BYTES] = new
            finally:
                if self._fd is not None:
                    fcntl.lockf(self._fd, fcntl.LOCK_UN, GROUP_BYTES, start, os.SEEK_SET)

    def close(self) -> None:
        if self._fd is not None:
            self._buf.close()
            os.close(self._fd)
            self._fd = None


class TokenBuckets:
    """``take(name)``: None when a token was taken, else the seconds until one is available."""

    def __init__(self, per_minute: int, burst: int = 0, *, path: Path | None = None,
                 clock: Callable[[], float] = time.monotonic):
        if per_minute <= 0:
            raise ValueError("per_minute must be positive (0 means: no limiter at all)")
        self.rate = per_minute / 60.0
        self.capacity = float(burst or per_minute)
        self.clock = clock
        self._table = _Table(path)

    def take(self, name: str) -> float | None:
        digest = hashlib.blake2b(name.encode("utf-8"), digest_size=16).digest()
        group = int.from_bytes(digest[:8], "little") % GROUPS
        now = self.clock()
        out: list[float | None] = [None]

        def step(buf: bytearray) -> bytes:
            slots = [SLOT.unpack_from(buf, i * SLOT.size) for i in range(WAYS)]
            index = next((i for i, s in enumerate(slots) if s[0] == digest), None)
            if index is None:
                tokens = self.capacity
                index = self._victim(slots, now)
            else:
                _, tokens, updated = slots[index]
                tokens = min(self.capacity, tokens + max(0.0, now - updated) * self.rate)
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                out[0] = (1.0 - tokens) / self.rate
            SLOT.pack_into(buf, index * SLOT.size, digest, tokens, now)
            return bytes(buf)

        self._table.update(group, step)
        return out[0]

    def _victim(self, slots: list[tuple[bytes, float, float]], now: float) -> int:
        """An empty slot, else one whose bucket is full again (nothing lost), else the LRU."""
        for i, (key, tokens, updated) in enumerate(slots):
            if key == _EMPTY or tokens + (now - updated) * self.rate >= self.capacity:
                return i
        return min(range(WAYS), key=lambda i: slots[i][2])

    def close(self) -> None:
        self._table.close()


class RateLimiter:
    """The limits of one gateway: per client IP (before auth) and per key (after auth).

    ``check(kind, value)`` raises ``SlowDown`` (503 on S3, 429 on the REST API) with
    ``Retry-After`` in whole seconds.
    """

    def __init__(self, buckets: TokenBuckets | None):
        self.buckets = buckets

    @classmethod
    def from_settings(cls, per_minute: int, burst: int, run_dir: str = "") -> "RateLimiter":
        if per_minute <= 0:
            return cls(None)
        path = Path(run_dir) / FILE_NAME if run_dir else None
        return cls(TokenBuckets(per_minute, burst, path=path))

    @property
    def enabled(self) -> bool:
        return self.buckets is not None

    def check(self, kind: str, value: str) -> None:
        if self.buckets is None or not value:
            return
        wait = self.buckets.take(f"{kind}:{value}")
        if wait is not None:
            raise S3Error("SlowDown", headers={"Retry-After": str(max(1, math.ceil(wait)))})
