"""The scenarios. Each takes a ``Ctx`` (one system under test) and returns a result dict.

Hot loops: N threads, one keep-alive ``http.client`` connection each, presigned URLs computed
before the clock starts (PUT/GET/HEAD/DELETE) or by a cached-key presigner (LIST continuation
tokens, which only exist at run time). Latency is measured per request around send + full read.
"""
from __future__ import annotations

import base64
import hashlib
import html
import io
import os
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from s3server.bench.client import BenchError, Conn, Endpoint, StreamConn, s3_error
from s3server.bench.systems import RssSampler

KiB, MiB = 1024, 1024 * 1024
SMALL = 4 * KiB
SSE_DEFAULT = (b'<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule>'
               b"<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm>"
               b"</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>")
PUT_RATE_CAP = 4000          # presigned PUT URLs made per second of --duration (a run ending early says so)
_TOKEN = re.compile(rb"<NextContinuationToken>([^<]*)</NextContinuationToken>")
_KEYCOUNT = re.compile(rb"<KeyCount>(\d+)</KeyCount>")
_PREFIX = re.compile(rb"<CommonPrefixes>")


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


# --------------------------------------------------------------------------- helpers
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


def _split(items: list, n: int) -> list[list]:
    return [items[i::n] for i in range(n)]


# --------------------------------------------------------------------------- small objects
def small_put(ctx: Ctx, concurrency: int) -> dict:
    if not ctx.small_bucket:
        ctx.small_bucket = f"bench-{ctx.run_id}-small"
        create_bucket(ctx, ctx.small_bucket)
    body = os.urandom(ctx.small_size)
    budget = max(50, int(ctx.duration * PUT_RATE_CAP))
    keys = [f"small/c{concurrency}/{i:08d}" for i in range(budget)]
    per = _split([(k, ctx.endpoint.url_for("PUT", ctx.small_bucket, k)) for k in keys], concurrency)
    done: list[str] = []
    hdr = {"Content-Type": "application/octet-stream"}

    def make(mine):
        it = iter(mine)

        def op(conn: Conn) -> bool:
            item = next(it, None)
            if item is None:
                return False
            check(conn, "PUT", item[1], item[0], body=body, headers=hdr, ok=(200,))
            done.append(item[0])
            return True
        return op

    res = closed_loop(ctx, concurrency, [make(m) for m in per], max_seconds=ctx.duration,
                      label=f"small PUT c{concurrency}")
    res["url_budget_exhausted"] = len(done) >= budget
    ctx.small_keys.extend(done)
    return res


def _cycle_op(ctx: Ctx, method: str, keys: list[str], expect: tuple, read_len: int | None):
    urls = [ctx.endpoint.url_for(method, ctx.small_bucket, k) for k in keys]

    def op_factory(offset: int):
        i = [offset]

        def op(conn: Conn) -> bool:
            url = urls[i[0] % len(urls)]
            i[0] += 1
            status, _, data = conn.request(method, url)
            if status not in expect:
                raise s3_error(method, "small object", status, data)
            if read_len is not None and len(data) != read_len:
                raise BenchError(f"{method} returned {len(data)} bytes, expected {read_len}")
            return True
        return op
    return op_factory


def small_read(ctx: Ctx, method: str, concurrency: int) -> dict:
    keys = ctx.small_keys[:4000]
    if not keys:
        raise BenchError("no small objects to read (small PUT made none)")
    factory = _cycle_op(ctx, method, keys, (200,), ctx.small_size if method == "GET" else 0)
    step = max(1, len(keys) // concurrency)
    res = closed_loop(ctx, concurrency, [factory(i * step) for i in range(concurrency)],
                      max_seconds=ctx.duration, label=f"small {method} c{concurrency}")
    ctx.read_rates[(method, concurrency)] = res["ops_s"]
    return res


DELETE_MARGIN = 1.5          # objects for a DELETE loop: its duration x the HEAD rate x this
DELETE_MAX_ADDED = 100_000
DELETE_SETTLE = 2.0          # seconds after a DELETE loop (at most 0.4 x its duration), untimed: a server's background deletes
                             # (ours: ~1 s of node work after ~10,000) end before the next scenario


def small_delete(ctx: Ctx, concurrency: int, share: float) -> dict:
    """Deletes objects small PUT made, each once; ``share`` of what is left (the c1 run takes half).
    So that the loop can last the whole duration, objects are added first (PUT through the API,
    16 threads, for every system alike) up to the duration x the system's HEAD rate at this
    concurrency x DELETE_MARGIN (a delete does at least a HEAD's lookup); without that, the
    objects the PUT loops left lasted about a second."""
    n = max(1, int(len(ctx.small_keys) * share))
    keys, ctx.small_keys = ctx.small_keys[:n], ctx.small_keys[n:]
    want = int(ctx.duration * ctx.read_rates.get(("HEAD", concurrency), 0.0) * DELETE_MARGIN)
    added = min(max(0, want - len(keys)), DELETE_MAX_ADDED)
    if added:
        extra = [f"small/del-c{concurrency}/{i:08d}" for i in range(added)]
        populate(ctx, ctx.small_bucket, extra, body=os.urandom(ctx.small_size),
                 label=f"small DELETE c={concurrency}: adding")
        ctx.progress.phase(f"[{ctx.name}] small DELETE c={concurrency}")
        keys = keys + extra
    per = _split([(k, ctx.endpoint.url_for("DELETE", ctx.small_bucket, k)) for k in keys], concurrency)

    def make(mine):
        it = iter(mine)

        def op(conn: Conn) -> bool:
            item = next(it, None)
            if item is None:
                return False
            check(conn, "DELETE", item[1], item[0], ok=(204, 200))
            return True
        return op

    res = closed_loop(ctx, concurrency, [make(m) for m in per], max_seconds=ctx.duration,
                      label=f"small DELETE c{concurrency}")
    res["objects_available"] = len(keys)
    res["objects_added"] = added
    res["ran_out"] = res["ops"] + res["errors"] >= len(keys)
    time.sleep(min(DELETE_SETTLE, 0.4 * ctx.duration))      # a short loop leaves less to finish
    return res


# --------------------------------------------------------------------------- mixed
def mixed(ctx: Ctx, concurrency: int = 16, seed_objects: int = 256) -> dict:
    """70% GET of existing 4 KiB objects, 25% PUT of new ones, 5% ListObjectsV2 (first page of up
    to 1000 keys) in one bucket, ``concurrency`` threads."""
    bucket = f"bench-{ctx.run_id}-mixed"
    create_bucket(ctx, bucket)
    body = os.urandom(ctx.small_size)
    seed = [f"seed/{i:06d}" for i in range(seed_objects)]
    populate(ctx, bucket, seed, body=body, concurrency=concurrency, label="mixed: seeding")
    get_urls = [ctx.endpoint.url_for("GET", bucket, k) for k in seed]
    list_url = ctx.endpoint.url_for("GET", bucket, "", {"list-type": "2", "max-keys": "1000"})
    budget = max(50, int(ctx.duration * PUT_RATE_CAP * 0.25 / concurrency) + 1)
    put_urls = [[ctx.endpoint.url_for("PUT", bucket, f"new/{t:02d}/{i:07d}") for i in range(budget)]
                for t in range(concurrency)]
    counts = {"GET": 0, "PUT": 0, "LIST": 0}

    def make(t: int):
        rnd = random.Random(t)
        puts = iter(put_urls[t])

        def op(conn: Conn) -> bool:
            r = rnd.random()
            if r < 0.70:
                status, _, data = conn.request("GET", get_urls[rnd.randrange(len(get_urls))])
                what, ok = "GET", status == 200 and len(data) == len(body)
            elif r < 0.95:
                url = next(puts, None)
                if url is None:
                    return False
                status, _, data = conn.request("PUT", url, body=body)
                what, ok = "PUT", status == 200
            else:
                status, _, data = conn.request("GET", list_url)
                what, ok = "LIST", status == 200
            if not ok:
                raise s3_error(what, "mixed", status, data)
            counts[what] += 1
            return True
        return op

    ctx.progress.phase(f"[{ctx.name}] mixed 70/25/5 c{concurrency}")
    res = closed_loop(ctx, concurrency, [make(t) for t in range(concurrency)], max_seconds=ctx.duration,
                      label="mixed")
    res["op_counts"] = counts
    return res


# --------------------------------------------------------------------------- listing
def populate(ctx: Ctx, bucket: str, keys: list[str], *, body: bytes = b"", concurrency: int = 16,
             label: str = "populating") -> dict:
    """PUT every key (empty objects by default) with ``concurrency`` threads over presigned URLs."""
    nxt = iter(range(len(keys)))
    lock = threading.Lock()
    done = [0]
    errors: list[str] = []

    def worker():
        conn = Conn(ctx.endpoint)
        try:
            while not errors:
                with lock:
                    i = next(nxt, None)
                if i is None:
                    return
                url = ctx.endpoint.url_for("PUT", bucket, keys[i])
                try:
                    check(conn, "PUT", url, keys[i], body=body, ok=(200,))
                except Exception as exc:
                    errors.append(str(exc))
                    return
                done[0] += 1
        finally:
            conn.close()

    ctx.progress.phase(f"[{ctx.name}] {label} {len(keys)} objects")
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        threads[0].join(0.25)
        el = time.perf_counter() - t0
        ctx.progress.update(f"{done[0]}/{len(keys)}  ({done[0] / max(el, 1e-9):.0f}/s)")
    if errors:
        raise BenchError(f"{label} on {ctx.name} failed: {errors[0]}")
    el = time.perf_counter() - t0
    rate = len(keys) / el if el > 0 else 0.0
    ctx.progress.done(f"{len(keys)} objects in {el:.1f} s ({rate:.0f}/s)")
    return {"objects": len(keys), "seconds": round(el, 2), "puts_per_s": round(rate, 1)}


def list_keys(n: int, prefixes: int = 10) -> list[str]:
    """``n`` keys in ``prefixes`` top-level 'directories': d0/k000000000, d1/k000000001, ..."""
    return [f"d{i % prefixes}/k{i:09d}" for i in range(n)]


def _timed_list(conn: Conn, ctx: Ctx, bucket: str, query: dict) -> tuple[float, bytes]:
    url = ctx.endpoint.url_for("GET", bucket, "", query)
    t0 = time.perf_counter()
    status, _, data = conn.request("GET", url)
    dt = time.perf_counter() - t0
    if status != 200:
        raise s3_error("GET", f"ListObjectsV2 {bucket}", status, data)
    return dt, data


def list_scenario(ctx: Ctx, size: int, *, budget: float) -> dict:
    """Populate a bucket of ``size`` keys (10 prefixes), then time ListObjectsV2 pages of 1000:
    without delimiter (pages at spread-out start-after positions, each followed by one
    continuation-token page), and with delimiter '/' at the root (10 common prefixes) and inside
    one prefix. ``budget`` seconds per kind (at least 3 pages each)."""
    bucket = f"bench-{ctx.run_id}-list{size}"
    create_bucket(ctx, bucket)
    keys = list_keys(size)
    pop = populate(ctx, bucket, keys)
    keys.sort()
    conn = Conn(ctx.endpoint)
    out: dict = {"keys": size, "populate": pop}
    try:
        ctx.progress.phase(f"[{ctx.name}] LIST {size} keys")
        pages: list[float] = []
        t_end = time.perf_counter() + budget
        j = 0
        while len(pages) < 4 or (time.perf_counter() < t_end and len(pages) < 200):
            pos = (j * 7919) % max(1, size - 2000) if j else 0
            q = {"list-type": "2", "max-keys": "1000"}
            if pos:
                q["start-after"] = keys[pos]
            dt, data = _timed_list(conn, ctx, bucket, q)
            pages.append(dt)
            tok = _TOKEN.search(data)
            if tok:
                dt, data = _timed_list(conn, ctx, bucket, {"list-type": "2", "max-keys": "1000",
                                                           "continuation-token": html.unescape(tok[1].decode())})
                pages.append(dt)
            j += 1
            ctx.progress.update(f"{len(pages)} pages")
        delim: list[float] = []
        t_end = time.perf_counter() + budget / 2
        while len(delim) < 3 or (time.perf_counter() < t_end and len(delim) < 200):
            dt, data = _timed_list(conn, ctx, bucket, {"list-type": "2", "max-keys": "1000", "delimiter": "/"})
            delim.append(dt)
        n_prefixes = len(_PREFIX.findall(data))
        inside: list[float] = []
        t_end = time.perf_counter() + budget / 2
        while len(inside) < 3 or (time.perf_counter() < t_end and len(inside) < 200):
            dt, data = _timed_list(conn, ctx, bucket, {"list-type": "2", "max-keys": "1000", "delimiter": "/",
                                                       "prefix": "d3/"})
            inside.append(dt)
    finally:
        conn.close()
    for name, vals in (("page", pages), ("delimiter_page", delim), ("prefix_delimiter_page", inside)):
        vals.sort()
        out[f"{name}_ms"] = round(pct(vals, 50) * 1000, 2)
        out[f"{name}_p90_ms"] = round(pct(vals, 90) * 1000, 2)
        out[f"{name}_count"] = len(vals)
    out["delimiter_common_prefixes"] = n_prefixes
    ctx.progress.done(f"page {out['page_ms']:.1f} ms, delimiter page {out['delimiter_page_ms']:.1f} ms "
                      f"({n_prefixes} prefixes), in-prefix page {out['prefix_delimiter_page_ms']:.1f} ms")
    return out


def list_tiny(ctx: Ctx) -> dict:
    """The delimiter baseline: a bucket of 10 keys, one under each of 10 prefixes."""
    bucket = f"bench-{ctx.run_id}-list10"
    create_bucket(ctx, bucket)
    populate(ctx, bucket, list_keys(10), label="LIST baseline: populating")
    conn = Conn(ctx.endpoint)
    vals = []
    try:
        for _ in range(20):
            dt, _ = _timed_list(conn, ctx, bucket, {"list-type": "2", "max-keys": "1000", "delimiter": "/"})
            vals.append(dt)
    finally:
        conn.close()
    vals.sort()
    return {"keys": 10, "delimiter_page_ms": round(pct(vals, 50) * 1000, 2)}


# --------------------------------------------------------------------------- large objects
class PatternStream(io.RawIOBase):
    """``size`` bytes of a repeated 1 MiB random block, readable and seekable, never all in memory."""

    def __init__(self, size: int, block: bytes):
        self.size, self.block, self.pos = size, block, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, off, whence=0):
        self.pos = off if whence == 0 else (self.pos + off if whence == 1 else self.size + off)
        return self.pos

    def readinto(self, b):
        n = min(len(b), self.size - self.pos)
        if n <= 0:
            return 0
        mv = memoryview(b)
        done = 0
        bl = len(self.block)
        while done < n:
            o = (self.pos + done) % bl
            k = min(bl - o, n - done)
            mv[done:done + k] = self.block[o:o + k]
            done += k
        self.pos += n
        return n


def _chunks(size: int, block: bytes):
    left = size
    while left > 0:
        b = block if left >= len(block) else block[:left]
        left -= len(b)
        yield b


def large_put(ctx: Ctx, bucket: str, key: str, size: int, block: bytes) -> dict:
    ctx.progress.phase(f"[{ctx.name}] large PUT {size // MiB} MiB")
    url = ctx.endpoint.url_for("PUT", bucket, key)
    conn = StreamConn(ctx.endpoint)
    with RssSampler(ctx.pids) as mem:
        cpu0, t0 = time.process_time(), time.perf_counter()
        try:
            check(conn, "PUT", url, key, body=_chunks(size, block), headers={"Content-Length": str(size)}, ok=(200,))
        finally:
            conn.close()
        dt = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    res = {"bytes": size, "seconds": round(dt, 3), "mb_s": round(size / dt / 1e6, 1),
           "client_cpu_share": round(cpu / dt, 3), "memory": mem.result()}
    ctx.progress.done(f"{res['mb_s']:.0f} MB/s" + _mem_text(res["memory"]))
    return res


def large_get(ctx: Ctx, bucket: str, key: str, size: int) -> dict:
    ctx.progress.phase(f"[{ctx.name}] large GET {size // MiB} MiB")
    url = ctx.endpoint.url_for("GET", bucket, key)
    conn = StreamConn(ctx.endpoint)
    buf = bytearray(MiB)
    got = 0
    with RssSampler(ctx.pids) as mem:
        cpu0, t0 = time.process_time(), time.perf_counter()
        try:
            status, resp, _ = conn.request("GET", url, read=False)
            if status != 200:
                raise s3_error("GET", key, status, resp.read())
            while True:
                k = resp.readinto(buf)
                if not k:
                    break
                got += k
                if got % (64 * MiB) < MiB:
                    ctx.progress.update(f"{got // MiB} MiB")
        finally:
            conn.close()
        dt = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    if got != size:
        raise BenchError(f"large GET on {ctx.name} returned {got} bytes, expected {size}")
    res = {"bytes": size, "seconds": round(dt, 3), "mb_s": round(size / dt / 1e6, 1),
           "client_cpu_share": round(cpu / dt, 3), "memory": mem.result()}
    ctx.progress.done(f"{res['mb_s']:.0f} MB/s" + _mem_text(res["memory"]))
    return res


def delete_object(ctx: Ctx, bucket: str, key: str) -> None:
    conn = Conn(ctx.endpoint)
    try:
        check(conn, "DELETE", ctx.endpoint.url_for("DELETE", bucket, key), key, ok=(204, 200))
    finally:
        conn.close()


def multipart(ctx: Ctx, bucket: str, key: str, size: int, block: bytes) -> dict:
    """boto3 ``upload_fileobj`` with its default TransferConfig (8 MiB parts, 10 threads, boto3's
    default checksums)."""
    try:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config
    except ImportError:
        return {"skipped": "boto3 is not installed (pip install -e '.[bench]')"}
    ctx.progress.phase(f"[{ctx.name}] multipart upload {size // MiB} MiB (boto3 defaults)")
    ep = ctx.endpoint
    s3 = boto3.client("s3", endpoint_url=ep.url, aws_access_key_id=ep.access_key,
                      aws_secret_access_key=ep.secret_key, region_name=ep.region,
                      config=Config(s3={"addressing_style": "path"}),
                      verify=not ep.insecure if ep.scheme == "https" else None)
    cfg = TransferConfig()
    src = PatternStream(size, block)
    with RssSampler(ctx.pids) as mem:
        cpu0, t0 = time.process_time(), time.perf_counter()
        s3.upload_fileobj(src, bucket, key, Config=cfg)
        dt = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    head = s3.head_object(Bucket=bucket, Key=key)
    if head["ContentLength"] != size:
        raise BenchError(f"multipart upload on {ctx.name}: object has {head['ContentLength']} bytes, expected {size}")
    res = {"bytes": size, "seconds": round(dt, 3), "mb_s": round(size / dt / 1e6, 1),
           "part_size": cfg.multipart_chunksize, "threads": cfg.max_concurrency, "etag": head.get("ETag"),
           "client_cpu_share": round(cpu / dt, 3), "memory": mem.result()}
    ctx.progress.done(f"{res['mb_s']:.0f} MB/s" + _mem_text(res["memory"]))
    return res


def _mem_text(m: dict) -> str:
    if m.get("max_gateway_growth_mib") is None:
        return ""
    s = f"; server RSS growth: front end {m['max_gateway_growth_mib']:.0f} MiB"
    if m.get("max_node_growth_mib") is not None:
        s += f", nodes {m['max_node_growth_mib']:.0f} MiB"
    return s


# --------------------------------------------------------------------------- cleanup
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
