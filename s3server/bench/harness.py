"""What every benchmark scenario runs on: the system under test (``Ctx``), the progress line,
request checks, percentiles, buckets (made, with ``--sse`` encrypted by default, and emptied
again), and the closed loop of N threads that the timed scenarios drive."""
from __future__ import annotations

import base64
import hashlib
import html
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from s3server.bench.client import BenchError, Conn, Endpoint, s3_error

KiB, MiB = 1024, 1024 * 1024

SMALL = 4 * KiB
SSE_DEFAULT = (b'<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule>'
               b"<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm>"
               b"</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>")


@dataclass
class Ctx:
    name: str
    endpoint: Endpoint
    pids: dict[str, int]
    progress: "Progress"
    duration: float
    run_id: str
    small_bucket: str = ""
    small_keys: list[str] = field(default_factory=list)
    small_size: int = SMALL
    buckets: list[str] = field(default_factory=list)
    read_rates: dict[tuple[str, int], float] = field(default_factory=dict)   # (method, c) -> ops/s
    sse: bool = False            # --sse: buckets encrypt every upload (SSE-S3 default encryption)


class Progress:
    """One status line on stderr, rewritten in place on a terminal, one line per phase otherwise."""

    def __init__(self, stream, enabled: bool = True):
        self.stream = stream
        self.enabled = enabled
        self.tty = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.label = ""
        self._last = 0.0

    def phase(self, label: str) -> None:
        self.label = label
        if self.enabled and not self.tty:
            self.stream.write(f"  {label} ...\n")
            self.stream.flush()
        self.update("")

    def update(self, text: str, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        self.stream.write(f"\r\033[K  {self.label} {text}")
        self.stream.flush()

    def done(self, summary: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write(f"\r\033[K  {self.label}: {summary}\n")
        else:
            self.stream.write(f"    -> {summary}\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        if self.enabled:
            self.stream.write(("\r\033[K" if self.tty else "") + text + "\n")
            self.stream.flush()


def check(conn: Conn, method: str, url: str, what: str, body=None, headers=None, ok=(200, 204)) -> bytes:
    status, _, data = conn.request(method, url, body=body, headers=headers)
    if status not in ok:
        raise s3_error(method, what, status, data)
    return data


def pct(sorted_vals: list[float], p: float) -> float:
    if not sorted_vals:
        return 0.0
    i = min(len(sorted_vals) - 1, max(0, int(round(p / 100 * (len(sorted_vals) - 1)))))
    return sorted_vals[i]


def create_bucket(ctx: Ctx, bucket: str) -> None:
    """A bucket for a scenario; with ``--sse``, with SSE-S3 as its default encryption, so that every
    upload to it is encrypted whatever the scenario sends."""
    conn = Conn(ctx.endpoint)
    try:
        check(conn, "PUT", ctx.endpoint.url_for("PUT", bucket), f"CreateBucket {bucket}")
        ctx.buckets.append(bucket)
        if ctx.sse:
            md5 = base64.b64encode(hashlib.md5(SSE_DEFAULT).digest()).decode()
            check(conn, "PUT", ctx.endpoint.url_for("PUT", bucket, "", {"encryption": ""}),
                  f"PutBucketEncryption {bucket}", body=SSE_DEFAULT,
                  headers={"Content-MD5": md5, "Content-Type": "application/xml"}, ok=(200,))
    finally:
        conn.close()


def preflight(endpoint: Endpoint) -> None:
    """ListBuckets with the given credentials: a clear error for wrong keys or a dead endpoint."""
    try:
        conn = Conn(endpoint)
        status, _, data = conn.request("GET", endpoint.url_for("GET", ""))
        conn.close()
    except OSError as exc:
        raise BenchError(f"cannot reach {endpoint.url}: {exc}") from None
    if status in (401, 403):
        err = s3_error("GET", "/ (ListBuckets)", status, data)
        raise BenchError(f"the endpoint {endpoint.url} rejected the credentials "
                         f"(access key {endpoint.access_key!r}): {err}", status=status, code=err.code)
    if status != 200:
        raise s3_error("GET", f"{endpoint.url}/ (ListBuckets)", status, data)


def closed_loop(ctx: Ctx, concurrency: int, ops: list[Callable[[Conn], bool]], *, max_seconds: float,
                label: str) -> dict:
    """Run ``ops[i]`` in thread i until ``max_seconds`` pass or it returns False (its work is done).
    Each op call is one request; returns ops/s, latency percentiles, errors, client CPU share."""
    lat: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    first_error: list[str] = []
    stop = threading.Event()
    start = threading.Barrier(concurrency + 1)
    ends = [0.0] * concurrency
    conns = [Conn(ctx.endpoint) for _ in range(concurrency)]

    def worker(i: int) -> None:
        conn, op, mine = conns[i], ops[i], lat[i]
        pc = time.perf_counter
        start.wait()
        deadline = t_start[0] + max_seconds
        try:
            while not stop.is_set():
                t0 = pc()
                if t0 >= deadline:
                    break
                try:
                    if not op(conn):
                        break
                except Exception as exc:   # counted and shown; too many stop the run
                    errors[i] += 1
                    if not first_error:
                        first_error.append(f"{type(exc).__name__}: {exc}")
                    if errors[i] > 20:
                        stop.set()
                    conn.close()
                    conn = conns[i] = Conn(ctx.endpoint)
                    continue
                mine.append(pc() - t0)
        finally:
            ends[i] = pc()

    t_start = [0.0]
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    cpu0 = time.process_time()
    t_start[0] = time.perf_counter()
    start.wait()
    while any(t.is_alive() for t in threads):
        threads[0].join(0.25)
        done = sum(len(x) for x in lat)
        ctx.progress.update(f"{time.perf_counter() - t_start[0]:5.1f}/{max_seconds:.0f} s  {done} ops")
    elapsed = max(ends) - t_start[0]
    cpu = time.process_time() - cpu0
    for c in conns:
        c.close()
    allv = sorted(v for x in lat for v in x)
    n = len(allv)
    res = {"concurrency": concurrency, "ops": n, "errors": sum(errors), "seconds": round(elapsed, 3),
           "ops_s": round(n / elapsed, 1) if elapsed > 0 else 0.0,
           "p50_ms": round(pct(allv, 50) * 1000, 2), "p99_ms": round(pct(allv, 99) * 1000, 2),
           "client_cpu_share": round(cpu / elapsed, 3) if elapsed > 0 else 0.0}
    if first_error:
        res["first_error"] = first_error[0]
    if sum(errors) > n:
        raise BenchError(f"{label} on {ctx.name}: mostly errors ({sum(errors)} errors, {n} ok); first: {first_error[0]}")
    ctx.progress.done(f"{res['ops_s']:.0f} ops/s, p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms"
                      f"{', %d errors' % res['errors'] if res['errors'] else ''}"
                      f" (client CPU {res['client_cpu_share'] * 100:.0f}% of a core)")
    return res


def split(items: list, n: int) -> list[list]:
    return [items[i::n] for i in range(n)]


def delete_object(ctx: Ctx, bucket: str, key: str) -> None:
    conn = Conn(ctx.endpoint)
    try:
        check(conn, "DELETE", ctx.endpoint.url_for("DELETE", bucket, key), key, ok=(204, 200))
    finally:
        conn.close()


def empty_and_delete_bucket(ctx: Ctx, bucket: str) -> None:
    """For runs against an external endpoint: delete what the run made (DeleteObjects by 1000)."""
    from xml.sax.saxutils import escape
    key_re = re.compile(rb"<Key>([^<]*)</Key>")
    conn = Conn(ctx.endpoint)
    try:
        while True:
            data = check(conn, "GET", ctx.endpoint.url_for("GET", bucket, "", {"list-type": "2", "max-keys": "1000"}),
                         f"ListObjectsV2 {bucket}", ok=(200,))
            keys = [html.unescape(k.decode()) for k in key_re.findall(data)]
            if not keys:
                break
            body = ("<Delete><Quiet>true</Quiet>" + "".join(f"<Object><Key>{escape(k)}</Key></Object>" for k in keys)
                    + "</Delete>").encode()
            md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
            check(conn, "POST", ctx.endpoint.url_for("POST", bucket, "", {"delete": ""}), f"DeleteObjects {bucket}",
                  body=body, headers={"Content-MD5": md5, "Content-Type": "application/xml"}, ok=(200,))
        check(conn, "DELETE", ctx.endpoint.url_for("DELETE", bucket), f"DeleteBucket {bucket}", ok=(204, 200))
    finally:
        conn.close()
