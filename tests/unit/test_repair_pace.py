"""Scrub shares and pacing of repair passes (pure functions; a fake clock for Pace)."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid

import pytest

from s3server.config import Settings
from s3server.service.pace import Pace, in_share, scrub_share_at

HOUR, DAY = 3600.0, 86400.0


def test_consecutive_passes_take_consecutive_shares_and_wrap():
    shares = [scrub_share_at(t * HOUR + 5, HOUR, 7 * DAY) for t in range(1000, 1000 + 2 * 168)]
    assert {count for _, count in shares} == {168}
    indexes = [index for index, _ in shares]
    assert indexes[:168] == [(1000 + k) % 168 for k in range(168)]
    assert sorted(indexes[:168]) == list(range(168))       # one cycle: every share once
    assert indexes[168:] == indexes[:168]                   # and again


@pytest.mark.parametrize("interval,cycle,count", [
    (HOUR, 0, 1),                   # S3_SCRUB_DAYS=0: every pass scrubs everything
    (HOUR, HOUR / 2, 1),            # a cycle shorter than a pass: everything
    (HOUR, 7 * DAY, 168),
    (6 * HOUR, DAY, 4),
])
def test_share_count(interval, cycle, count):
    assert scrub_share_at(123456.0, interval, cycle)[1] == count


def test_shares_split_ids_evenly_and_exactly():
    ids = [uuid.uuid4().hex for _ in range(7000)]
    counts = [sum(in_share(b, (i, 7)) for b in ids) for i in range(7)]
    assert sum(counts) == len(ids)                          # each id in exactly one share
    assert all(800 < c < 1200 for c in counts), counts
    assert all(in_share(b, (0, 1)) for b in ids[:100])


class FakeTime:
    def __init__(self):
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_pace_reserves_consecutive_slots():
    t = FakeTime()
    pace = Pace(1000.0, clock=t.clock, sleep=t.sleep)
    pace.take(500)          # the first slot starts now: no wait
    pace.take(500)          # starts 0.5 s later
    pace.take(2000)         # 1.0 s
    assert t.slept == [pytest.approx(0.5), pytest.approx(0.5)]
    t.now += 10             # idle time is not banked beyond the present
    pace.take(100)
    pace.take(100)
    assert t.slept[2:] == [pytest.approx(0.1)]


def test_pace_zero_rate_never_waits():
    t = FakeTime()
    pace = Pace(0, clock=t.clock, sleep=t.sleep)
    for _ in range(10):
        pace.take(10**9)
    assert t.slept == []


def test_pace_is_shared_between_threads():
    t = FakeTime()
    lock = threading.Lock()

    def sleep(seconds):
        with lock:
            t.slept.append(seconds)

    pace = Pace(100.0, clock=t.clock, sleep=sleep)
    threads = [threading.Thread(target=pace.take, args=(50,)) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # four reservations of 0.5 s from the same instant: waits of 0.5, 1.0 and 1.5 s
    assert sorted(t.slept) == [pytest.approx(0.5), pytest.approx(1.0), pytest.approx(1.5)]


@pytest.mark.parametrize("args,message", [
    (["--scrub-share", "3/3"], "need 0 <= I < N"),
    (["--scrub-share", "1/0"], "need 0 <= I < N"),
    (["--scrub-share", "half"], "expected I/N"),
    (["--scrub-share", "auto", "--interval", "0"], "--scrub-share auto needs"),
])
def test_bad_scrub_share_is_a_clear_error(tmp_path, args, message):
    env = {**os.environ, "S3_STORAGE_NODES": "n0=http://127.0.0.1:1", "S3_REPLICAS": "1",
           "S3_WRITE_QUORUM": "1", "S3_DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    env.pop("S3_REPAIR_INTERVAL", None)
    r = subprocess.run([sys.executable, "-m", "s3server", "repair", *args], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and message in r.stderr, (r.returncode, r.stderr)


@pytest.mark.parametrize("name", ["S3_SCRUB_DAYS", "S3_SCRUB_MB_PER_S", "S3_BLOB_CACHE_MB", "S3_INLINE_MAX",
                                  "S3_WRITE_BATCH_MAX"])
def test_negative_settings_are_refused(name):
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: "-1"})


def test_inline_max_is_bounded():
    assert Settings.from_env({"S3_INLINE_MAX": "65536"}).inline_max == 65536
    assert Settings.from_env({"S3_INLINE_MAX": "0"}).inline_max == 0
    with pytest.raises(ValueError, match="S3_INLINE_MAX"):
        Settings.from_env({"S3_INLINE_MAX": "65537"})


def test_write_batch_max_is_bounded():
    assert Settings.from_env({}).write_batch_max == 65536
    assert Settings.from_env({"S3_WRITE_BATCH_MAX": "262144"}).write_batch_max == 262144
    assert Settings.from_env({"S3_WRITE_BATCH_MAX": "0"}).write_batch_max == 0
    with pytest.raises(ValueError, match="S3_WRITE_BATCH_MAX"):
        Settings.from_env({"S3_WRITE_BATCH_MAX": "262145"})
