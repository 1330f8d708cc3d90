"""BlobCache: the bytes of small blobs read recently, by blob id, within a byte budget.

A blob's bytes never change: an overwrite or a copy is written as a new blob with a new
random id, repair copies the same bytes under the same id, and a deleted blob's id is never
reused. So a cached blob can never be stale and the cache needs no invalidation: the metadata
lookup that precedes every read still decides whether (and which) blob is read. Entries of
deleted blobs are dropped when the gateway deletes them, or age out.

Least recently used entries are evicted first. Thread-safe (a lock; under gevent the lock is
never contended across a yield).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable


class BlobCache:
    """Up to ``budget`` bytes of blobs of at most ``max_blob`` bytes each."""

    def __init__(self, budget: int, max_blob: int):
        self.budget = budget
        self.max_blob = max_blob
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.on_lookup: Callable[[bool], None] | None = None   # told hit (True) or miss

    def __len__(self) -> int:
        return len(self._items)

    def get(self, blob_id: str) -> bytes | None:
        with self._lock:
            data = self._items.get(blob_id)
            if data is None:
                self.misses += 1
            else:
                self._items.move_to_end(blob_id)
                self.hits += 1
        if self.on_lookup is not None:
            self.on_lookup(data is not None)
        return data

    def put(self, blob_id: str, data: bytes) -> None:
        if len(data) > self.max_blob or len(data) > self.budget:
            return
        with self._lock:
            old = self._items.pop(blob_id, None)
            if old is not None:
                self.size -= len(old)
            self._items[blob_id] = data
            self.size += len(data)
            while self.size > self.budget:
                _, evicted = self._items.popitem(last=False)
                self.size -= len(evicted)

    def discard(self, blob_id: str) -> None:
        with self._lock:
            old = self._items.pop(blob_id, None)
            if old is not None:
                self.size -= len(old)
