"""GroupRunner: concurrent calls of one statement combined into one execution (group commit).

On PostgreSQL most of the cost of a one-row statement is per statement, not per row: the
round trip (two ``send()``s that wake another process, which costs much on a VM), parsing the
answer, and for a write the commit. Measured with psycopg alone: ~125 us of client and server
CPU for one ``DELETE ... RETURNING`` in autocommit, ~50 us per key when four go in one
statement. Here the first caller runs its statement at once, as before; callers that come
while it runs queue up, and when it is done the first of them runs one statement for all of
them (up to ``max_items``), while the others wait for it. Nothing waits on purpose: a lone
call is never delayed, and a batch is whatever queued during the previous statement. A call
is always executed after it was made, so it sees every write committed before it.

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
    __slots__ = ("arg", "ready", "lead", "result", "error")

    def __init__(self, arg: Any):
        self.arg = arg
        self.ready: Any = None
        self.lead = False
        self.result: Any = None
        self.error: BaseException | None = None

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class GroupRunner:
    """``runner(arg)`` returns what ``run_batch([... arg ...])`` gave for ``arg``; ``run_batch``
    takes the args of one batch (in arrival order) and returns one result per arg. ``lock`` and
    ``event`` default to ``threading``'s (gevent's under its monkey-patching)."""

    def __init__(self, run_batch: Callable[[list[Any]], Sequence[Any]], *, max_items: int = 64,
                 lock: Any = None, event: Callable[[], Any] | None = None):
        self._run_batch = run_batch
        self._max = max_items
        self._lock = lock if lock is not None else threading.Lock()
        # looked up now, not at import: under gevent, after its monkey-patching
        self._event = event if event is not None else threading.Event
        self._queue: list[_Call] = []
        self._busy = False
        self.batches = 0          # statistics, for tests and the curious
        self.calls = 0

    def __call__(self, arg: Any) -> Any:
        call = _Call(arg)
        with self._lock:
            self._queue.append(call)
            lead = not self._busy
            if lead:
                self._busy = True
            else:
                call.ready = self._event()       # only a caller that waits needs one
        if not lead:
            try:
                call.ready.wait()
            except BaseException:
                with self._lock:
                    if call in self._queue:
                        self._queue.remove(call)
                        if call.lead:
                            self._pass_lead()
                raise
            if not call.lead:
                return call.outcome()
        with self._lock:
            batch = self._queue[:self._max]
            del self._queue[:self._max]
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
        """(Under the lock.) The first queued caller runs next, or nobody is running."""
        if self._queue:
            first = self._queue[0]
            first.lead = True
            first.ready.set()
        else:
            self._busy = False
