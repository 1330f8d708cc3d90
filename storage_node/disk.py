"""The node's data directory: atomic blob writes, verified reads, quarantine (the bytes' way into
a temp file is writers.py's, the space accounting space.py's).

Layout under ``data_dir``::

    blobs/ab/cd/<id>          published blobs (see blobfile.py for the format)
    tmp/<id>.<random>.tmp     uploads in progress (same file system: rename is atomic)
    quarantine/<id>.<ns>      blobs that failed a checksum: moved aside, never deleted
    recycle/<tag>.<n>         files of deleted small blobs, kept to be reused (recycle.py)

A write goes temp file -> fsync -> rename to the final name -> fsync the directory,
so a blob is either wholly visible under its name or not at all. A fan-out directory made
for it has its own entry fsynced in its parent first (once per directory).
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

from storage_node.blobfile import BlockHasher, CorruptBlob, Layout, read_layout, read_verified
from storage_node.recycle import TRIM_PER_SECOND, Recycler
from storage_node.settings import NodeSettings
from storage_node.space import NoSpace, Space, no_space
from storage_node.writers import DIRECT_MIN, BufferPool, DirectFile, GatherFile, writev_all

BLOB_ID = re.compile(r"^[0-9a-f]{32}$")


class TooYoung(Exception):
    """A conditional delete found the blob newer than the age it asked for."""


class SizeMismatch(Exception):
    """The received byte count differs from the size the client declared."""


def valid_id(blob_id: str) -> bool:
    """True when ``blob_id`` is exactly 32 lowercase hex characters."""
    return bool(BLOB_ID.match(blob_id))


_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def fsync_dir(path: Path | str) -> None:
    """Make a rename/creation inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class OpenBlob:
    """A published blob opened for reading; ``close()`` it when done."""
    blob_id: str
    file: BinaryIO
    layout: Layout
    mtime: float
    release: Callable[[], None] | None = None     # the recycler's count of this file's readers

    @property
    def size(self) -> int:
        return self.layout.data_size

    def close(self) -> None:
        """Close the file (idempotent)."""
        self.file.close()
        release, self.release = self.release, None
        if release is not None:
            release()


class Disk:
    """All file-system work of a node. Call ``prepare()`` once before use."""

    def __init__(self, settings: NodeSettings, clock=time.time):
        self.settings = settings
        self.root = Path(settings.data_dir)
        self.blobs_dir = self.root / "blobs"
        self.tmp_dir = self.root / "tmp"
        self.quarantine_dir = self.root / "quarantine"
        # recycled files are not counted as stored: with a capacity, they may add a sixteenth to it
        recycle_bytes = settings.recycle_bytes
        if settings.capacity_bytes is not None:
            recycle_bytes = min(recycle_bytes, settings.capacity_bytes // 16)
        self.recycler = Recycler(str(self.root / "recycle"), max_files=settings.recycle_files,
                                 max_bytes=recycle_bytes, max_file_bytes=settings.recycle_file_bytes)
        self._clock = clock
        self.space = Space(self.root, settings.capacity_bytes, 0)
        # Serialises publishing a blob with a conditional delete of the same name, so a
        # "delete if older than N seconds" can never remove a copy published meanwhile.
        self._names = threading.Lock()
        self._tmp = str(self.tmp_dir)
        # temp names: unique per process and write without asking the kernel for randomness
        self._tmp_tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._tmp_seq = itertools.count()
        self._dirs: set[str] = set()          # fan-out directories known to exist
        self._buffers = BufferPool()         # for O_DIRECT writes

    # -- start-up ---------------------------------------------------------------------
    def prepare(self) -> None:
        """Create the directories, drop stale temp files, start counting the bytes stored.

        The count runs in a background thread: it stats every blob file, which takes a minute
        at a few million blobs, and a node must answer (health probes, reads, writes) long
        before that. Files published after the count started are accounted as they are
        written, so the count skips them."""
        for d in (self.blobs_dir, self.tmp_dir, self.quarantine_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.clean_temp(self.settings.temp_max_age)
        self.recycler.adopt()
        if self.recycler.enabled:
            threading.Thread(target=self._trim_recycled, daemon=True, name="recycle-trim").start()
        self.space = Space(self.root, self.settings.capacity_bytes, 0, counted=False)
        started = time.time()
        threading.Thread(target=self._count_stored, args=(self.space, started), daemon=True,
                         name="count-stored").start()

    def _trim_recycled(self) -> None:
        while True:
            time.sleep(1.0)
            self.recycler.trim(TRIM_PER_SECOND)

    def _count_stored(self, space: Space, started: float) -> None:
        try:
            total = self._bytes_stored(before=started)
        except OSError:
            total = 0
        space.add_counted(total)

    def clean_temp(self, max_age: float) -> int:
        """Delete temp files older than ``max_age`` seconds; return how many."""
        cutoff, removed = self._clock() - max_age, 0
        for entry in os.scandir(self.tmp_dir):
            try:
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

    def _bytes_stored(self, before: float) -> int:
        """Bytes of blob files last modified before ``before`` (blobs/ab/cd/<id>)."""
        total = 0
        stack = [str(self.blobs_dir)]
        while stack:
            try:
                entries = list(os.scandir(stack.pop()))
            except FileNotFoundError:
                continue
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                        continue
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if st.st_mtime < before:
                    total += st.st_size
        return total

    # -- paths ------------------------------------------------------------------------
    def path_for(self, blob_id: str) -> Path:
        """``blobs/ab/cd/<id>``; the id must already be validated."""
        if not valid_id(blob_id):
            raise ValueError("invalid blob id")
        return self.blobs_dir / blob_id[:2] / blob_id[2:4] / blob_id

    # -- write ------------------------------------------------------------------------
    def write(self, blob_id: str, pieces: Iterable[bytes], *, expected: int | None = None,
              declared: int | None = None, cache: bool = True) -> tuple[int, str]:
        """Store ``pieces`` as blob ``blob_id`` atomically; return (size, xxh3-128 hex).

        ``expected`` (if known) is reserved up front; ``declared`` must equal the received
        length or SizeMismatch is raised. On any error nothing is left under the real name
        and the temp file is removed.

        Pieces are gathered up to WRITE_GATHER bytes and written with one writev (a small
        blob and its footer go out in a single system call). ``cache=False`` on a blob of
        at least DIRECT_MIN bytes writes its data with O_DIRECT instead (see ``DirectFile``):
        the gateway asks for that for the copies it will not read from."""
        final = self.path_for(blob_id)
        tmp = self._temp_name(blob_id)
        reserved = stored = replaced = 0
        published = False
        try:
            if expected:
                self._reserve(expected)
                reserved = expected
            hasher = BlockHasher(self.settings.block_size)
            fd = self._create_temp(tmp)
            out = None
            try:
                if not cache and (expected or 0) >= DIRECT_MIN and self.settings.direct_io:
                    out = DirectFile.open(fd, self._buffers)
                out = out or GatherFile(fd)
                for piece in pieces:
                    if hasher.size + len(piece) > reserved:
                        need = hasher.size + len(piece) - reserved
                        self._reserve(need)
                        reserved += need
                    hasher.update(piece)
                    out.add(piece)
                if declared is not None and hasher.size != declared:
                    raise SizeMismatch(f"declared {declared} bytes, received {hasher.size}")
                footer = hasher.finish()
                out.finish(footer)
                if self.settings.fsync:
                    os.fsync(fd)
                stored = hasher.size + len(footer)
            finally:
                if out is not None:
                    out.release()
                os.close(fd)
            replaced = self._publish(tmp, str(final))
            published = True
            return hasher.size, hasher.hexdigest()
        except OSError as exc:
            mapped = no_space(exc)
            if mapped is not exc:
                raise mapped from exc
            raise
        finally:
            self.space.settle(reserved, stored if published else 0, replaced)
            if not published:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)

    def write_many(self, blobs: list[tuple[str, bytes]]) -> list[tuple[int, str] | Exception]:
        """Store several in-memory blobs, sharing the waits for the disk: every temp file is
        written, then all are fsynced, renamed, and each distinct directory fsynced once
        (the first fsync's journal commit carries the others' work, which then find little
        left to do). Each blob is atomic on its own exactly as with ``write``, and none is
        reported stored before its rename is durable. Returns, in order, ``(size, xxh3)`` or
        the exception that kept that blob from being stored (NoSpace, OSError); the others
        are stored regardless."""
        results: list[tuple[int, str] | Exception | None] = [None] * len(blobs)
        staged: list[list] = []                  # [index, tmp, fd, final, stored, digest, size]
        reserved = stored_total = replaced_total = 0
        published: set[int] = set()
        try:
            for i, (blob_id, data) in enumerate(blobs):
                final = str(self.path_for(blob_id))
                try:
                    self._reserve(len(data))
                except NoSpace as exc:
                    results[i] = exc
                    continue
                reserved += len(data)
                tmp = self._temp_name(blob_id)
                try:
                    fd = self._create_temp(tmp)
                except OSError as exc:
                    results[i] = no_space(exc)
                    continue
                entry = [i, tmp, fd, final, 0, "", len(data)]
                staged.append(entry)
                try:
                    hasher = BlockHasher(self.settings.block_size)
                    hasher.update(data)
                    footer = hasher.finish()
                    writev_all(fd, [data, footer])
                    entry[4], entry[5] = len(data) + len(footer), hasher.hexdigest()
                except OSError as exc:
                    results[i] = no_space(exc)
            for entry in staged:
                fd, entry[2] = entry[2], -1
                try:
                    if results[entry[0]] is None and self.settings.fsync:
                        os.fsync(fd)
                except OSError as exc:
                    results[entry[0]] = no_space(exc)
                finally:
                    os.close(fd)
            parents: set[str] = set()
            for i, tmp, _, final, stored, digest, size in staged:
                if results[i] is not None:
                    continue
                try:
                    replaced = self._publish(tmp, final, sync=False)
                except OSError as exc:
                    results[i] = no_space(exc)
                    continue
                published.add(i)
                stored_total += stored
                replaced_total += replaced
                parents.add(os.path.dirname(final))
                results[i] = (size, digest)
            if self.settings.fsync:
                for parent in parents:
                    try:
                        fsync_dir(parent)
                    except OSError as exc:     # renamed, but not known to be durable
                        for entry in staged:
                            if os.path.dirname(entry[3]) == parent and entry[0] in published:
                                results[entry[0]] = exc
            return results
        finally:
            self.space.settle(reserved, stored_total, replaced_total)
            for entry in staged:
                if entry[2] >= 0:
                    os.close(entry[2])
                if entry[0] not in published:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry[1])

    def _reserve(self, n: int) -> None:
        """``space.reserve(n)``; when that finds no room, the recycled files are given back
        first and it is tried once more."""
        try:
            self.space.reserve(n)
        except NoSpace:
            if not self.recycler.drop():
                raise
            self.space.reserve(n)

    def _create_temp(self, tmp: str) -> int:
        """Create the temp file ``tmp`` for writing: a recycled file renamed there and
        emptied (no new inode, see recycle.py), or a new file."""
        taken = self.recycler.take() if self.recycler.enabled else None
        if taken is not None:
            try:
                os.rename(taken[0], tmp)
            except OSError:                      # gone (removed by hand): create one instead
                pass
            else:
                try:
                    return os.open(tmp, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
        return os.open(tmp, _TEMP_FLAGS, 0o644)

    def _temp_name(self, blob_id: str) -> str:
        """A temp file name unique per process and write, without asking the kernel for randomness."""
        return os.path.join(self._tmp, f"{blob_id}.{self._tmp_tag}.{next(self._tmp_seq)}.tmp")

    def _publish(self, tmp: str, final: str, *, sync: bool = True) -> int:
        """Rename ``tmp`` to ``final`` durably (``sync=False``: the caller fsyncs the
        directory); return the size of the file it replaced."""
        parent = os.path.dirname(final)
        if parent not in self._dirs:
            self._make_dirs(parent)
            self._dirs.add(parent)
        with self._names:
            try:
                replaced = os.stat(final).st_size
            except FileNotFoundError:
                replaced = 0
            try:
                os.replace(tmp, final)
            except FileNotFoundError:       # the fan-out directory went away meanwhile
                if not os.path.exists(tmp):
                    raise
                self._make_dirs(parent)
                os.replace(tmp, final)
        if sync and self.settings.fsync:
            fsync_dir(parent)
        return replaced

    def _make_dirs(self, parent: str) -> None:
        """Create the fan-out directories up to ``parent`` (blobs/ab/cd). A new directory's
        name is an entry of *its* parent, so each parent of a directory made here is fsynced
        too: otherwise a crash could lose ``cd`` (and the blob in it) even though the blob's
        own rename was made durable. Happens once per fan-out directory."""
        created = []
        d = parent
        while not os.path.isdir(d) and d != os.path.dirname(d):
            created.append(d)
            d = os.path.dirname(d)
        os.makedirs(parent, exist_ok=True)
        if self.settings.fsync:
            for made in reversed(created):          # blobs/ab's entry in blobs, then cd's in ab
                fsync_dir(os.path.dirname(made))

    # -- read -------------------------------------------------------------------------
    def open(self, blob_id: str) -> OpenBlob:
        """Open a published blob. FileNotFoundError if absent; CorruptBlob (after
        quarantining it) if its footer is bad."""
        path = self.path_for(blob_id)
        release = None
        if self.recycler.enabled:
            f, ino = self.recycler.open_reader(str(path))
            release = functools.partial(self.recycler.close_reader, ino)
        else:
            f = open(path, "rb")
        blob = OpenBlob(blob_id, f, None, 0.0, release)     # type: ignore[arg-type]
        try:
            st = os.fstat(f.fileno())
            blob.layout, blob.mtime = read_layout(f, st.st_size), st.st_mtime
        except CorruptBlob:
            blob.close()
            self.quarantine(blob_id)
            raise
        except BaseException:
            blob.close()
            raise
        return blob

    def stream(self, blob: OpenBlob, start: int, end: int) -> Iterator[bytes]:
        """Yield verified bytes [start, end) and close the file at the end. At a bad
        block: quarantine the blob and raise CorruptBlob (no byte of that block is sent)."""
        try:
            yield from read_verified(blob.file, blob.layout, start, end)
        except CorruptBlob:
            self.quarantine(blob.blob_id)
            raise
        finally:
            blob.close()

    def verify(self, blob_id: str) -> tuple[bool, int | None]:
        """Re-read every block; return (ok, size). A failing blob is quarantined.
        FileNotFoundError if absent."""
        try:
            blob = self.open(blob_id)
        except CorruptBlob:
            return False, None
        try:
            for _ in self.stream(blob, 0, blob.size):
                pass
        except CorruptBlob:
            return False, blob.size
        return True, blob.size

    # -- removal ----------------------------------------------------------------------
    def delete(self, blob_id: str, min_age: float | None = None) -> bool:
        """Remove a blob; True if it existed. Idempotent. With ``min_age`` (seconds) only
        a blob published at least that long ago (by this node's clock) is removed;
        a younger one raises TooYoung. The check and the unlink are atomic with respect
        to publishing (garbage collection relies on this). A small blob's file is moved
        into ``recycle/`` instead of unlinked (see recycle.py)."""
        path = self.path_for(blob_id)
        with self._names:
            try:
                st = path.stat()
                if min_age is not None and st.st_mtime > self._clock() - min_age:
                    raise TooYoung(f"blob {blob_id} is younger than {min_age} s")
                if not self.recycler.keep(str(path), st.st_size, st.st_ino):
                    path.unlink()
            except FileNotFoundError:
                return False
        self.space.forget(st.st_size)
        return True

    def quarantine(self, blob_id: str) -> None:
        """Move a blob aside into ``quarantine/`` so it is no longer served (kept for
        inspection, never deleted here)."""
        path = self.path_for(blob_id)
        dest = self.quarantine_dir / f"{blob_id}.{time.time_ns()}"
        try:
            size = path.stat().st_size
            os.replace(path, dest)
        except FileNotFoundError:
            return
        self.space.forget(size)
