"""The large-object scenarios: one big PUT and GET streamed from a repeating pattern (client memory
flat), and boto3's multipart upload with its default transfer settings, with the servers' memory
growth sampled throughout."""
from __future__ import annotations

import io
import time

from s3server.bench.client import BenchError, StreamConn, s3_error
from s3server.bench.harness import MiB, Ctx, check
from s3server.bench.systems import RssSampler


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
