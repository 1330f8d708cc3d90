"""GroupRunner (meta/group.py): calls that come while a batch runs go together in the next one;
each caller gets its own result or the batch's error; callers interrupted while waiting never
leave the others waiting. With real threads, and with gevent greenlets (as in the gateway's
workers) for the interruptions, which only greenlets can suffer."""
from __future__ import annotations

import threading
import time

import gevent
import gevent.event
import gevent.lock
import pytest

from s3server.meta.errors import Unavailable
from s3server.meta.group import GroupRunner, Interrupted
from tests.unit.test_blobs import eventually


class Gate:
    """A run_batch that records its batches and can hold the next one until released."""

    def __init__(self, event=threading.Event, fail_on=None):
        self.batches: list[list] = []
        self.entered = event()
        self.release = event()
        self.release.set()
        self.fail_on = fail_on

    def hold(self) -> None:
        self.release.clear()
        self.entered.clear()

    def __call__(self, args: list) -> list:
        self.batches.append(list(args))
        self.entered.set()
        self.release.wait()
        if self.fail_on is not None and self.fail_on in args:
            raise ValueError(f"batch with {self.fail_on}")
        return [a * 10 for a in args]


def test_a_lone_call_runs_at_once_alone():
    gate = Gate()
    runner = GroupRunner(gate)
    assert runner(1) == 10
    assert runner(2) == 20
    assert gate.batches == [[1], [2]]
    assert (runner.batches, runner.calls) == (2, 2)


def test_calls_queued_behind_a_running_batch_go_together_with_their_own_results():
    gate = Gate()
    runner = GroupRunner(gate)
    results: dict[int, int] = {}

    def call(i):
        results[i] = runner(i)

    gate.hold()
    first = threading.Thread(target=call, args=(0,))
    first.start()
    assert gate.entered.wait(5)
    rest = [threading.Thread(target=call, args=(i,)) for i in range(1, 9)]
    for t in rest:
        t.start()
    eventually(lambda: len(runner._queue) == 8)
    gate.release.set()
    for t in [first, *rest]:
        t.join(5)
    assert results == {i: i * 10 for i in range(9)}
    assert gate.batches[0] == [0]
    assert sorted(gate.batches[1]) == list(range(1, 9)) and len(gate.batches) == 2


def test_max_items_splits_a_long_queue():
    gate = Gate()
    runner = GroupRunner(gate, max_items=3)
    results: dict[int, int] = {}
    gate.hold()
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, runner(i))) for i in range(8)]
    threads[0].start()
    assert gate.entered.wait(5)
    for t in threads[1:]:
        t.start()
    eventually(lambda: len(runner._queue) == 7)
    gate.release.set()
    for t in threads:
        t.join(5)
    assert results == {i: i * 10 for i in range(8)}
    assert [len(b) for b in gate.batches] == [1, 3, 3, 1]


def test_up_to_max_running_batches_run_at_once_then_calls_queue():
    entered = [threading.Event() for _ in range(3)]
    release = threading.Event()
    batches: list[list] = []

    def run_batch(args):
        batches.append(list(args))
        entered[min(len(batches), 3) - 1].set()
        release.wait(5)
        return [a * 10 for a in args]

    runner = GroupRunner(run_batch, max_running=2)
    results: dict[int, int] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, runner(i))) for i in range(6)]
    threads[0].start()
    assert entered[0].wait(5)
    threads[1].start()
    assert entered[1].wait(5)                    # the second ran beside the first, not queued
    assert runner._running == 2 and not runner._queue
    for t in threads[2:]:
        t.start()
    eventually(lambda: len(runner._queue) == 4)  # both slots busy: the rest queue
    release.set()
    for t in threads:
        t.join(5)
    assert results == {i: i * 10 for i in range(6)}
    assert batches[:2] == [[0], [1]] and sorted(x for b in batches[2:] for x in b) == [2, 3, 4, 5]
    assert runner._running == 0
    with pytest.raises(ValueError):
        GroupRunner(run_batch, max_running=0)


def test_an_error_reaches_every_caller_of_its_batch_and_no_other():
    gate = Gate(fail_on=5)
    runner = GroupRunner(gate)
    outcomes: dict[int, object] = {}

    def call(i):
        try:
            outcomes[i] = runner(i)
        except ValueError as exc:
            outcomes[i] = str(exc)

    gate.hold()
    first = threading.Thread(target=call, args=(0,))
    first.start()
    assert gate.entered.wait(5)
    rest = [threading.Thread(target=call, args=(i,)) for i in (4, 5, 6)]
    for t in rest:
        t.start()
    eventually(lambda: len(runner._queue) == 3)
    gate.release.set()
    for t in [first, *rest]:
        t.join(5)
    assert outcomes == {0: 0, 4: "batch with 5", 5: "batch with 5", 6: "batch with 5"}
    assert runner(7) == 70                       # the runner goes on


def test_a_batch_giving_the_wrong_number_of_results_fails_its_callers():
    runner = GroupRunner(lambda args: [1])
    assert runner("x") == 1
    runner = GroupRunner(lambda args: [])
    with pytest.raises(RuntimeError, match="gave 0 results"):
        runner("x")
    assert not runner._running


def _gevent_runner(gate, **kw):
    return GroupRunner(gate, lock=gevent.lock.Semaphore(), event=gevent.event.Event, **kw)


def test_a_queued_greenlet_killed_while_waiting_leaves_the_queue_under_gevent():
    gate = Gate(event=gevent.event.Event)
    runner = _gevent_runner(gate)
    gate.hold()
    first = gevent.spawn(runner, 0)
    assert gate.entered.wait(5)
    doomed = gevent.spawn(runner, 1)
    other = gevent.spawn(runner, 2)
    gevent.sleep(0.01)
    assert len(runner._queue) == 2
    doomed.kill()
    assert [c.arg for c in runner._queue] == [2]
    gate.release.set()
    assert first.get(timeout=5) == 0 and other.get(timeout=5) == 20
    assert gate.batches == [[0], [2]]            # the killed caller's statement never ran


class Killed(BaseException):
    """What a killed greenlet or thread sees (GreenletExit, gevent's Timeout, KeyboardInterrupt)."""


class TrippingEvent(threading.Event):
    """An Event whose wait() is interrupted: at once (``early``, a caller killed while queued),
    or right after it was set (``late``, a caller killed just after it was made the next runner)."""

    def __init__(self, mode: str = ""):
        super().__init__()
        self.mode = mode

    def wait(self, timeout=None):
        if self.mode == "early":
            raise Killed()
        got = super().wait(timeout)
        if self.mode == "late":
            raise Killed()
        return got


def _events(modes: dict[int, str]):
    """An event factory: the n-th event made (0-based; only queued callers get one) trips as ``modes[n]`` says."""
    made: list[TrippingEvent] = []

    def make():
        made.append(TrippingEvent(modes.get(len(made), "")))
        return made[-1]
    return make


def _queued(runner, n, timeout=5.0):
    eventually(lambda: len(runner._queue) >= n, timeout)


def _recorder(runner):
    """(outcomes, call): ``call(i)`` runs ``runner(i)`` and records its result, or the name of
    what interrupted it."""
    outcomes: dict[int, object] = {}

    def call(i):
        try:
            outcomes[i] = runner(i)
        except (Killed, Interrupted) as exc:
            outcomes[i] = "killed" if isinstance(exc, Killed) else "Interrupted"
    return outcomes, call


def test_a_queued_caller_interrupted_while_waiting_leaves_the_queue():
    gate = Gate()
    runner = GroupRunner(gate, event=_events({0: "early"}))
    outcomes, call = _recorder(runner)

    gate.hold()
    first = threading.Thread(target=call, args=(0,))
    first.start()
    assert gate.entered.wait(5)
    doomed = threading.Thread(target=call, args=(1,))
    doomed.start()
    doomed.join(5)
    other = threading.Thread(target=call, args=(2,))
    other.start()
    _queued(runner, 1)
    assert [c.arg for c in runner._queue] == [2]
    gate.release.set()
    for t in (first, other):
        t.join(5)
    assert outcomes == {0: 0, 1: "killed", 2: 20}
    assert gate.batches == [[0], [2]]            # the interrupted caller's statement never ran
    assert not runner._running


def test_the_next_runner_interrupted_before_it_runs_hands_on_to_the_next():
    gate = Gate()
    runner = GroupRunner(gate, event=_events({0: "late"}))
    outcomes, call = _recorder(runner)

    gate.hold()
    threads = [threading.Thread(target=call, args=(0,))]
    threads[0].start()
    assert gate.entered.wait(5)
    for i in (1, 2):                            # 1 queues first, so it is made the next runner
        threads.append(threading.Thread(target=call, args=(i,)))
        threads[-1].start()
        _queued(runner, i)
    gate.release.set()
    for t in threads:
        t.join(5)
    assert outcomes == {0: 0, 1: "killed", 2: 20}
    assert gate.batches == [[0], [2]]
    assert not runner._running and not runner._queue
    assert runner(3) == 30


def test_a_runner_interrupted_mid_batch_fails_its_batch_and_the_queue_goes_on():
    batches: list[list] = []
    entered, release = threading.Event(), threading.Event()

    def run_batch(args):
        batches.append(list(args))
        if 1 in args:                          # the statement of [1, 2] is interrupted
            entered.set()
            release.wait(5)
            raise Killed()
        return [a * 10 for a in args]

    runner = GroupRunner(run_batch)
    outcomes, call = _recorder(runner)

    hold = threading.Event()
    original = run_batch

    def first_held(args):
        if 0 in args:
            hold.wait(5)
        return original(args)

    runner._run_batch = first_held
    threads = [threading.Thread(target=call, args=(0,))]
    threads[0].start()
    eventually(lambda: runner._running)
    for i in (1, 2):
        threads.append(threading.Thread(target=call, args=(i,)))
        threads[-1].start()
        _queued(runner, i)
    hold.set()
    assert entered.wait(5)                     # 1 runs [1, 2]
    threads.append(threading.Thread(target=call, args=(3,)))
    threads[-1].start()
    _queued(runner, 1)
    release.set()
    for t in threads:
        t.join(5)
    assert outcomes == {0: 0, 1: "killed", 2: "Interrupted", 3: 30}
    assert issubclass(Interrupted, Unavailable)  # retryable: a 503 to an S3 client
    assert batches == [[0], [1, 2], [3]]
    assert not runner._running


def test_many_threads_hammering_get_their_own_results():
    def run_batch(args):
        time.sleep(0.001)
        return [a + 1 for a in args]

    runner = GroupRunner(run_batch)
    errors: list[BaseException] = []

    def worker(base):
        try:
            for i in range(base, base + 200):
                assert runner(i) == i + 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k * 1000,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert runner.calls == 1600 and runner.batches < 1600
