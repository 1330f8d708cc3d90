"""How repair passes share the scrub and pace it: which slice of the blobs a background pass
re-reads (``scrub_share_at``, ``in_share``) and a rate limit shared by its threads (``Pace``)."""
from __future__ import annotations

import threading
import time
from typing import Callable


def scrub_share_at(now: float, interval: float, cycle: float) -> tuple[int, int]:
    """The share of blobs a background pass started at ``now`` (wall clock) scrubs, when
    passes run every ``interval`` seconds and every copy should be re-read about once per
    ``cycle`` seconds: slice ``floor(now / interval) mod n`` of ``n = cycle / interval``
    (rounded, at least 1). Consecutive passes take consecutive slices; a pass that comes late
    (jitter, a restart) may skip one, which then waits for the next cycle."""
    if cycle <= 0 or interval <= 0:
        return 0, 1
    count = max(1, round(cycle / interval))
    return int(now // interval) % count, count


def in_share(blob_id: str, share: tuple[int, int]) -> bool:
    """Whether ``blob_id`` (random hex) falls in slice ``share[0]`` of ``share[1]``."""
    index, count = share
    return count <= 1 or int(blob_id[:8], 16) % count == index


class Pace:
    """Spreads work to ``rate`` units per second over every thread that calls ``take``:
    each call reserves the next ``n / rate`` seconds and sleeps until its slot starts.
    ``rate`` 0 never waits."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._next = clock()
        self._lock = threading.Lock()

    def take(self, n: float) -> None:
        if self.rate <= 0 or n <= 0:
            return
        with self._lock:
            now = self._clock()
            start = max(self._next, now)
            self._next = start + n / self.rate
        if start > now:
            self._sleep(start - now)
