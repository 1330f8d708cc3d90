"""NodeHealth: which nodes failed recently (thread/greenlet safe)."""
from __future__ import annotations

import threading
from typing import Callable


class NodeHealth:
    """A node that failed is "down" for ``down_seconds`` (by ``clock``); a success marks
    it up again at once. A node that refused a write for lack of space is "full" for
    the same back-off: new writes avoid it, reads still use it."""

    def __init__(self, down_seconds: float, clock: Callable[[], float]):
        self._down_seconds = down_seconds
        self._clock = clock
        self._down_until: dict[str, float] = {}
        self._full_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def mark_full(self, node_id: str) -> None:
        with self._lock:
            self._full_until[node_id] = self._clock() + self._down_seconds

    def is_full(self, node_id: str) -> bool:
        with self._lock:
            until = self._full_until.get(node_id)
        return until is not None and until > self._clock()

    def writable_first(self, node_ids: list[str]) -> list[str]:
        """``node_ids`` reordered for writes: nodes neither down nor full first, then
        full ones, then down ones; each group in the given order."""
        ordered = self.up_first(node_ids)
        return [n for n in ordered if not self.is_full(n) and not self.is_down(n)] + \
            [n for n in ordered if self.is_full(n) or self.is_down(n)]

    def mark_down(self, node_id: str) -> None:
        with self._lock:
            self._down_until[node_id] = self._clock() + self._down_seconds

    def mark_up(self, node_id: str) -> None:
        with self._lock:
            self._down_until.pop(node_id, None)

    def is_down(self, node_id: str) -> bool:
        with self._lock:
            until = self._down_until.get(node_id)
        return until is not None and until > self._clock()

    def up_first(self, node_ids: list[str]) -> list[str]:
        """``node_ids`` reordered: nodes not known down first, each group in given order."""
        down = [n for n in node_ids if self.is_down(n)]
        return [n for n in node_ids if n not in down] + down
