"""A node's space accounting: stored and in-flight bytes against its capacity and the file system's
free space; NoSpace when a blob would not fit."""
from __future__ import annotations

import errno
import shutil
import threading
from pathlib import Path


class NoSpace(Exception):
    """Storing the blob would exceed the node's capacity or free space."""



def no_space(exc: OSError) -> Exception:
    """NoSpace for a full file system or quota, else ``exc`` itself."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NoSpace("file system full")
    return exc



class Space:
    """Thread-safe accounting of stored and in-flight bytes against capacity and free disk."""

    def __init__(self, root: Path, capacity: int | None, used: int, *, counted: bool = True):
        self._root = root
        self._capacity = capacity
        self._used = used
        self._inflight = 0
        self._lock = threading.Lock()
        self._counted = counted

    def add_counted(self, n: int) -> None:
        """The start-up count of stored bytes is done: it found ``n`` bytes (of files older
        than the count's start; newer ones were accounted by ``settle`` as they came)."""
        with self._lock:
            self._used += n
            self._counted = True

    @property
    def counted(self) -> bool:
        """False while the start-up count of stored bytes is still running (``used_bytes``
        is then too low, and so is the capacity check)."""
        return self._counted

    def reserve(self, n: int) -> None:
        """Claim ``n`` more bytes for an upload in progress, or raise NoSpace."""
        with self._lock:
            if self._capacity is not None and self._used + self._inflight + n > self._capacity:
                raise NoSpace(f"capacity of {self._capacity} bytes would be exceeded")
            if shutil.disk_usage(self._root).free < n:
                raise NoSpace("file system full")
            self._inflight += n

    def settle(self, reserved: int, stored: int, replaced: int = 0) -> None:
        """An upload that reserved ``reserved`` bytes ended having stored ``stored`` (0 if
        it failed), replacing a file of ``replaced`` bytes."""
        with self._lock:
            self._inflight -= reserved
            self._used += stored - replaced

    def forget(self, n: int) -> None:
        """A stored file of ``n`` bytes went away."""
        with self._lock:
            self._used -= n

    def used_bytes(self) -> int:
        """Bytes of stored blob files (footers included)."""
        with self._lock:
            return self._used

    @property
    def capacity(self) -> int | None:
        return self._capacity

    def free_bytes(self) -> int:
        """Bytes this node can still accept."""
        free = shutil.disk_usage(self._root).free
        with self._lock:
            if self._capacity is not None:
                free = min(free, self._capacity - self._used - self._inflight)
        return max(free, 0)
