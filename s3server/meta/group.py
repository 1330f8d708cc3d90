"""GroupRunner: concurrent calls of one statement combined into one execution (group commit).

On PostgreSQL most of the cost of a one-row statement is per statement, not per row: the
round trip (two ``send()``s that wake another process, which costs much on a VM), parsing the
answer, and for a write the commit. Measured with psycopg alone: ~125 us of client and server
CPU for one ``DELETE ... RETURNING`` in autocommit, ~50 us per key when four go in one
statement. Here a caller runs its statement at once, as before, while fewer than
``max_running`` statements run; callers that come while that many run queue up, and when one
is done the first of them runs one statement for all of them (up to ``max_items``), while the
others wait for it. Nothing waits on purpose: a call with a free slot is never delayed, and a
batch is whatever queued while the slots were busy. A call is always executed after it was
made, so it sees every write committed before it.

The gateway uses it for DeleteObject and for the object lookup of GET and HEAD (see
``MetadataStore``). Each caller gets its own result or the batch's exception. A caller
interrupted while it waits (a greenlet killed by a timeout) leaves the queue, or, if it had
just been made the next runner, hands that on, so the others never wait for a caller that is
gone; the callers of a batch whose runner is interrupted get ``Interrupted``. Works with real
threads and under gevent's monkey-patching (the lock and events are then gevent's).
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

from s3server.meta.errors import Unavailable


class Interrupted(Unavailable):
    """The caller that ran this batch was interrupted (the statement's outcome is unknown);
    retryable, as any lost database answer is (503 to an S3 client)."""


class _Call:
    __slots__ = ("arg", "ready", "batch", "result", "error")

    def __init__(self, arg: Any):
        self.arg = arg
        self.ready: Any = None
        self.batch: list[_Call] | None = None     # set when this caller is to run a batch
        self.result: Any = None
        self.error: BaseException | None = None

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class GroupRunner:
    """``runner(arg)`` returns what ``run_batch([... arg ...])`` gave for ``arg``; ``run_batch``
    takes the args of one batch (in arrival order) and returns one result per arg. At most
    ``max_running`` batches run at once (so one slow statement, a cold read say, does not
    hold up every other call); calls queue only while that many run. ``lock`` and ``event``
    default to ``threading``'s (gevent's under its monkey-patching)."""

    def __init__(self, run_batch: Callable[[list[Any]], Sequence[Any]], *, max_items: int = 64,
                 max_running: int = 1, lock: Any = None, event: Callable[[], Any] | None = None):
        if max_running < 1 or max_items < 1:
            raise ValueError("max_running and max_items must be at least 1")
        self._run_batch = run_batch
        self._max = max_items
        self._max_running = max_running
        self._lock = lock if lock is not None else threading.Lock()
        # looked up now, not at import: under gevent, after its monkey-patching
        self._event = event if event is not None else threading.Event
        self._queue: list[_Call] = []     # waiting, not yet in a batch (only while all slots run)
        self._running = 0
        self.batches = 0          # statistics, for tests and the curious
        self.calls = 0

    def __call__(self, arg: Any) -> Any:
        call = _Call(arg)
        with self._lock:
            if self._running < self._max_running:
                self._running += 1
                call.batch = [call]
            else:
                call.ready = self._event()       # only a caller that waits needs one
                self._queue.append(call)
        if call.batch is None:
            try:
                call.ready.wait()
            except BaseException:
                with self._lock:
                    if call.batch is not None:     # made a runner, gone before it ran: hand on
                        self._queue[:0] = [c for c in call.batch if c is not call]
                        self._pass_lead()
                    elif call in self._queue:
                        self._queue.remove(call)
                raise
            if call.batch is None:
                return call.outcome()
        batch = call.batch
        try:
            results = self._run_batch([c.arg for c in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} calls gave {len(results)} results")
        except Exception as exc:
            for c in batch:
                c.error = exc
        except BaseException:
            for c in batch:
                if c is not call:
                    c.error = Interrupted("the statement was interrupted")
            raise
        else:
            for c, r in zip(batch, results):
                c.result = r
        finally:
            with self._lock:
                self.batches += 1
                self.calls += len(batch)
                for c in batch:
                    if c is not call:
                        c.ready.set()    # (every call in a batch but its runner's waited)
                self._pass_lead()
        return call.outcome()

    def _pass_lead(self) -> None:
        """(Under the lock.) A slot is free: the first queued caller runs the queue's head (up
        to ``max_items`` calls, itself first), or the slot stays free."""
        if self._queue:
            batch = self._queue[:self._max]
            del self._queue[:self._max]
            first = batch[0]
            first.batch = batch
            first.ready.set()
        else:
            self._running -= 1
