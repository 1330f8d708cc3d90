"""Deleted blob files kept for reuse instead of unlinked.

Creating a file costs the file system an inode. On ext4 without a journal (this project's CI
machine, and any volume formatted without one) the inode allocator skips every inode freed in
the last minutes, one buffer-cache lookup each, so after a burst of deletes every create pays
for all of them: 0.1 ms of kernel CPU per file grew to 0.3-0.4 ms after 10,000 deletes,
a third of a node's CPU under small PUTs (Performance item 21 in README.md at commit 233bf0b). A node therefore moves
the file of a deleted small blob into ``recycle/`` (a rename: no inode is freed), and a later
write takes such a file (renamed into ``tmp/`` and truncated) instead of creating one.

Reader safety: a blob deleted while a reader has it open (a GET in progress) keeps its bytes
for that reader, as an unlinked file would. Readers are counted per inode; a file with a
reader is never taken; and opening a blob by name and counting the reader happen under the
same lock as taking, so no file is taken between a reader's ``open`` and its count (only the
node process opens blob files). Were a taken file still read (it cannot be), the reader's block
checksums, read at open, would fail and the node would answer an error, never other bytes.

Bounds: a file of at most ``max_file_bytes`` is kept, at most ``max_files`` files and
``max_bytes`` bytes in all; a file nobody took for ``idle_seconds`` is unlinked by ``trim``
at a trickle (``TRIM_PER_SECOND``), so a burst of deletes gives its space back without
re-creating the burst of freed inodes. ``drop`` unlinks them all (the disk is full).
"""
from __future__ import annotations

import collections
import itertools
import os
import threading
import time
import uuid

TRIM_PER_SECOND = 50


class Recycler:
    """The files in ``recycle/`` waiting to be reused, and the readers of blob files."""

    def __init__(self, directory: str, *, max_files: int, max_bytes: int, max_file_bytes: int,
                 idle_seconds: float = 600.0, clock=time.monotonic):
        self.dir = directory
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.max_file_bytes = max_file_bytes
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._free: collections.deque[tuple[str, int, int, float]] = collections.deque()  # path, ino, size, since
        self._bytes = 0
        self._readers: dict[int, int] = {}        # inode -> open readers
        self._tag = uuid.uuid4().hex[:8]
        self._seq = itertools.count()
        self.taken = self.kept = 0                # counters for /health

    @property
    def enabled(self) -> bool:
        return self.max_files > 0

    def adopt(self) -> None:
        """At start-up: keep the files a previous run left in ``recycle/`` (within the bounds)
        and unlink the rest. A file with another name too (``st_nlink > 1``: a crash before the
        directories were written back can leave a taken file's old entry here while it is
        already a published blob) only loses this name."""
        os.makedirs(self.dir, exist_ok=True)
        for entry in os.scandir(self.dir):
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue                     # not ours (a directory or link made by hand): left alone
                st = entry.stat(follow_symlinks=False)
                if st.st_nlink != 1 or not self._room(st.st_size):
                    os.unlink(entry.path)
                    continue
            except FileNotFoundError:
                continue
            self._free.append((entry.path, st.st_ino, st.st_size, self._clock()))
            self._bytes += st.st_size

    def _room(self, size: int) -> bool:
        return (self.enabled and size <= self.max_file_bytes and len(self._free) < self.max_files
                and self._bytes + size <= self.max_bytes)

    # -- deleting and taking ---------------------------------------------------------------
    def keep(self, path: str, size: int, ino: int) -> bool:
        """Move the file of a blob being deleted (``path``) into ``recycle/`` if it fits the
        bounds; False if it does not (the caller unlinks it)."""
        with self._lock:
            if not self._room(size):
                return False
            dest = os.path.join(self.dir, f"{self._tag}.{next(self._seq)}")
            try:
                os.rename(path, dest)
            except OSError:          # gone meanwhile (quarantined), or recycle/ unusable: unlink as before
                return False
            self._free.append((dest, ino, size, self._clock()))
            self._bytes += size
            self.kept += 1
        return True

    def take(self) -> tuple[str, int] | None:
        """A kept file no reader has open, out of the pool: (path, size); None if there is none.
        The oldest first, so a reader of a freshly deleted blob has the longest to finish."""
        with self._lock:
            for _ in range(min(len(self._free), 8)):
                entry = self._free.popleft()
                if entry[1] in self._readers:
                    self._free.append(entry)
                    continue
                self._bytes -= entry[2]
                self.taken += 1
                return entry[0], entry[2]
        return None

    def trim(self, limit: int) -> int:
        """Unlink up to ``limit`` files kept longer than ``idle_seconds``; return the bytes freed."""
        freed = 0
        cutoff = self._clock() - self.idle_seconds
        for _ in range(limit):
            with self._lock:
                if not self._free or self._free[0][3] > cutoff:
                    break
                path, _, size, _ = self._free.popleft()
                self._bytes -= size
            _unlink(path)
            freed += size
        return freed

    def drop(self) -> int:
        """Unlink every kept file (a reader of one keeps its bytes: an unlinked file stays
        readable); return the bytes freed."""
        with self._lock:
            entries, self._free, freed, self._bytes = self._free, collections.deque(), self._bytes, 0
        for path, *_ in entries:
            _unlink(path)
        return freed

    # -- readers ---------------------------------------------------------------------------
    def open_reader(self, path: str):
        """Open a blob file for reading and count its reader; ``close_reader(ino)`` after."""
        with self._lock:
            f = open(path, "rb")
            try:
                ino = os.fstat(f.fileno()).st_ino
            except BaseException:
                f.close()
                raise
            self._readers[ino] = self._readers.get(ino, 0) + 1
        return f, ino

    def close_reader(self, ino: int) -> None:
        with self._lock:
            left = self._readers.get(ino, 0) - 1
            if left > 0:
                self._readers[ino] = left
            else:
                self._readers.pop(ino, None)

    def stats(self) -> dict:
        with self._lock:
            return {"files": len(self._free), "bytes": self._bytes, "kept": self.kept,
                    "taken": self.taken, "readers": sum(self._readers.values())}


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
