"""NodeUpload: one node's share of a replicated write.

A thread (a greenlet under gevent's monkey-patching) runs a chunked PUT whose body is
fed through a bounded queue, so a slow node can hold at most ``depth`` chunks and the
producer waits for it rather than buffering without bound.
"""
from __future__ import annotations

import queue
import threading
import time

from s3server.blobs.client import NodeClient
from s3server.blobs.errors import BlobError

_END = object()
_ABORT = object()
_POLL = 0.2


class Aborted(Exception):
    """Raised inside the body iterator to break the connection mid-body."""


class NodeUpload:
    """Streams queued chunks to ``client`` as blob ``blob_id``. Use: ``start()``, then
    ``feed()`` each chunk, then ``finish()`` or ``abort()``, then ``wait()``."""

    def __init__(self, client: NodeClient, blob_id: str, size: int | None, *,
                 depth: int = 8, timeout: float = 10.0, cache: bool = True):
        self.client = client
        self.cache = cache
        self.node_id = client.node_id
        self.blob_id = blob_id
        self.size = size
        self.timeout = timeout
        self.result: dict | None = None
        self.error: BaseException | None = None
        self.aborted = False
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"upload-{self.node_id}-{blob_id[:8]}")

    @property
    def failed(self) -> bool:
        """True once this upload can no longer succeed."""
        return self.aborted or self.error is not None

    def start(self) -> None:
        self._thread.start()

    def feed(self, chunk: bytes) -> bool:
        """Queue ``chunk``; False if this upload has failed (or stayed full past the
        timeout, which abandons it)."""
        return self._put(chunk)

    def finish(self) -> None:
        """Signal the end of the body (the node then publishes the blob)."""
        self._put(_END)

    def abort(self) -> None:
        """Break the upload mid-body so the node keeps nothing."""
        self.aborted = True
        try:
            self._queue.put_nowait(_ABORT)
        except queue.Full:
            pass  # the writer is busy sending; it sees ``aborted`` at its next chunk

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the PUT to end; True if the node confirmed the blob."""
        self._done.wait(timeout)
        return self._done.is_set() and self.result is not None and not self.failed

    def _put(self, item) -> bool:
        deadline = time.monotonic() + self.timeout
        while not self._done.is_set() and not self.failed:
            try:
                self._queue.put(item, timeout=_POLL)
                return True
            except queue.Full:
                if time.monotonic() > deadline:
                    self.error = BlobError(f"node {self.node_id} too slow", node_id=self.node_id)
                    self.abort()
        return False

    def _body(self):
        while True:
            item = self._queue.get()
            if item is _ABORT or self.aborted:
                raise Aborted()
            if item is _END:
                return
            yield item

    def _run(self) -> None:
        try:
            self.result = self.client.put(self.blob_id, self._body(), self.size,
                                          cache=self.cache)
        except Aborted:
            self.aborted = True
        except BaseException as exc:  # recorded; the store decides what it means
            self.error = exc
        finally:
            self._done.set()
