"""This machine's ceilings, measured in the same run as the scenarios (issue 7's definitions):

- MD5 throughput (hashlib): a durable PUT must compute the ETag;
- sequential write + fsync throughput ÷ 3: three replicas share one disk on a one-machine setup;
- single-connection loopback TCP throughput: what a GET can move at best;
- one 4 KiB write + fsync + rename (latency), for reading small-PUT figures.
"""
from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import threading
import time

MiB = 1024 * 1024


def md5_mb_s(seconds: float = 0.5) -> float:
    buf = os.urandom(MiB)
    h = hashlib.md5()
    n = 0
    t0 = time.perf_counter()
    while True:
        for _ in range(16):
            h.update(buf)
        n += 16
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n * MiB / dt / 1e6


def write_fsync_mb_s(directory: str, size: int = 256 * MiB) -> float:
    buf = os.urandom(MiB)
    fd, path = tempfile.mkstemp(prefix=".bench-fsync-", dir=directory)
    try:
        t0 = time.perf_counter()
        left = size
        while left > 0:
            left -= os.write(fd, buf if left >= MiB else buf[:left])
        os.fsync(fd)
        dt = time.perf_counter() - t0
        return size / dt / 1e6
    finally:
        os.close(fd)
        os.unlink(path)


def small_write_fsync_ms(directory: str, count: int = 50) -> float:
    """Median time of a 4 KiB temp write + fsync + rename (what a node does per small blob)."""
    buf = os.urandom(4096)
    times = []
    d = tempfile.mkdtemp(prefix=".bench-small-", dir=directory)
    try:
        for i in range(count):
            tmp, final = os.path.join(d, f"t{i}"), os.path.join(d, f"f{i}")
            t0 = time.perf_counter()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, buf)
            os.fsync(fd)
            os.close(fd)
            os.rename(tmp, final)
            times.append(time.perf_counter() - t0)
    finally:
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)
    times.sort()
    return times[len(times) // 2] * 1000


def loopback_tcp_mb_s(size: int = 1024 * MiB) -> float:
    """One TCP connection over 127.0.0.1, 1 MiB sends, a receiver thread (the GIL is released in
    the syscalls, so the two sides run in parallel)."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    got = {"n": 0}

    def receive():
        conn, _ = srv.accept()
        buf = bytearray(MiB)
        view = memoryview(buf)
        with conn:
            while True:
                k = conn.recv_into(view)
                if not k:
                    break
                got["n"] += k

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    buf = os.urandom(MiB)
    with socket.create_connection(("127.0.0.1", port)) as c:
        t0 = time.perf_counter()
        left = size
        while left > 0:
            c.sendall(buf)
            left -= MiB
        c.shutdown(socket.SHUT_WR)
        t.join()
        dt = time.perf_counter() - t0
    srv.close()
    return got["n"] / dt / 1e6


def measure(directory: str, *, large_size: int) -> dict:
    fsync_size = max(32 * MiB, min(large_size, 512 * MiB))
    out = {"md5_mb_s": md5_mb_s(), "write_fsync_mb_s": write_fsync_mb_s(directory, fsync_size),
           "loopback_tcp_mb_s": loopback_tcp_mb_s(max(256 * MiB, min(large_size, 2048 * MiB))),
           "small_write_fsync_rename_ms": small_write_fsync_ms(directory),
           "fsync_sample_bytes": fsync_size}
    out["durable_3_replica_write_mb_s"] = min(out["md5_mb_s"], out["write_fsync_mb_s"] / 3)
    out["nproc"] = os.cpu_count()
    try:
        with open("/proc/meminfo") as f:
            out["mem_total_mib"] = int(f.readline().split()[1]) // 1024
    except OSError:
        pass
    return out
