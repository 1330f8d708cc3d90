"""ReadRepairer: a copy that failed a read is put back from a good one, in the background.

When ``BlobStore`` reads a blob and one replica fails (its node says 404, answers a corrupt
block with an error, or breaks off mid-stream) but another serves the bytes, the failed node
may have lost its copy: a node quarantines a copy that fails its block checksums, and files
go missing. Waiting for the next repair pass (an hour by default) would leave the blob a
copy short for that long, so the gateway reports it here:

1. ``submit(ref, bad_node, good_nodes)`` queues the pair and returns at once (duplicates of
   a pair already queued or in progress are dropped; the queue is bounded, and what does
   not fit is left to the repair pass).
2. One long-lived thread (a greenlet under gevent) asks the bad node ``HEAD`` for the blob.
   A copy of the right size means the failure was passing (a timeout, a restart): nothing
   to do. A node that does not answer: nothing to do now (repair will see it). 404 or a
   wrong size: the blob is copied from the good nodes with ``BlobStore.copy`` (the source
   checks every block as it sends, the target's xxh3-128 must match what was sent).

The copy goes back to the same node, so the metadata's node list stays true and no row is
edited. If the object is deleted or overwritten meanwhile, the copy becomes an orphan that
repair's garbage collection removes after its grace period, as for any interrupted write.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from typing import Iterable, Protocol

from s3server.blobs.client import NodeClient
from s3server.blobs.errors import BlobError, BlobNotFound
from s3server.models import BlobRef

log = logging.getLogger(__name__)

MAX_PENDING = 1000


class Copies(Protocol):
    """What the repairer needs of its BlobStore (blobs/store.py, which builds it)."""

    def client(self, node_id: str) -> NodeClient: ...

    def copy(self, blob_id: str, size: int, sources: Iterable[str], target: str) -> str: ...


class ReadRepairer:
    """Puts back copies that failed a read (see the module docstring)."""

    def __init__(self, store: Copies, *, max_pending: int = MAX_PENDING):
        self._store = store
        self._max_pending = max_pending
        self._queue: queue.Queue = queue.Queue()
        self._pending: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self.repaired = 0          # copies put back by this process (tests, metrics)

    def submit(self, ref: BlobRef, bad_node: str, good_nodes: Iterable[str]) -> bool:
        """Queue a check-and-copy of ``ref`` to ``bad_node``; False if it was dropped."""
        key = (ref.blob_id, bad_node)
        with self._lock:
            if self._pid != os.getpid():          # forked: the parent's queue is not ours
                self._queue, self._pending, self._thread = queue.Queue(), set(), None
                self._pid = os.getpid()
            if key in self._pending or len(self._pending) >= self._max_pending:
                return False
            self._pending.add(key)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True, name="read-repair")
                self._thread.start()
        self._queue.put((ref, bad_node, tuple(good_nodes)))
        return True

    def _run(self) -> None:
        q = self._queue
        while True:
            ref, bad, good = q.get()
            try:
                self.repair(ref, bad, good)
            except Exception:        # never let the thread die: the repair pass is the backstop
                log.exception("read repair of %s on %s failed", ref.blob_id, bad)
            finally:
                with self._lock:
                    self._pending.discard((ref.blob_id, bad))

    def repair(self, ref: BlobRef, bad: str, good: tuple[str, ...]) -> bool:
        """Check ``bad``'s copy and copy the blob there from ``good`` if it is missing or
        the wrong size; True if a copy was made."""
        try:
            size = self._store.client(bad).head(ref.blob_id)
        except BlobNotFound:
            size = None
        except (BlobError, KeyError) as exc:
            log.info("read repair of %s skipped: %s does not answer (%s)", ref.blob_id, bad, exc)
            return False
        if size == ref.size:
            return False
        sources = list(good) + [n for n in ref.nodes if n not in good and n != bad]
        try:
            source = self._store.copy(ref.blob_id, ref.size, sources, bad)
        except BlobError as exc:
            log.warning("read repair of %s to %s failed: %s", ref.blob_id, bad, exc)
            return False
        self.repaired += 1
        log.warning("read repair: copy of blob %s on %s was %s; copied it back from %s",
                    ref.blob_id, bad, "missing" if size is None else f"{size} bytes", source)
        return True
