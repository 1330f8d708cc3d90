"""The small-object, mixed and listing scenarios (large objects: large.py; what they run on:
harness.py). Each takes a ``Ctx`` (one system under test) and returns a result dict.

Hot loops: N threads, one keep-alive ``http.client`` connection each, presigned URLs computed
before the clock starts (PUT/GET/HEAD/DELETE) or by a cached-key presigner (LIST continuation
tokens, which only exist at run time). Latency is measured per request around send + full read.
"""
from __future__ import annotations

import html
import os
import random
import re
import threading
import time

from s3server.bench.client import BenchError, Conn, s3_error
from s3server.bench.harness import Ctx, check, closed_loop, create_bucket, pct, split

PUT_RATE_CAP = 4000          # presigned PUT URLs made per second of --duration (a run ending early says so)
_TOKEN = re.compile(rb"<NextContinuationToken>([^<]*)</NextContinuationToken>")
_KEYCOUNT = re.compile(rb"<KeyCount>(\d+)</KeyCount>")
_PREFIX = re.compile(rb"<CommonPrefixes>")


def small_put(ctx: Ctx, concurrency: int) -> dict:
    if not ctx.small_bucket:
        ctx.small_bucket = f"bench-{ctx.run_id}-small"
        create_bucket(ctx, ctx.small_bucket)
    body = os.urandom(ctx.small_size)
    budget = max(50, int(ctx.duration * PUT_RATE_CAP))
    keys = [f"small/c{concurrency}/{i:08d}" for i in range(budget)]
    per = split([(k, ctx.endpoint.url_for("PUT", ctx.small_bucket, k)) for k in keys], concurrency)
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
    per = split([(k, ctx.endpoint.url_for("DELETE", ctx.small_bucket, k)) for k in keys], concurrency)

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
