"""``s3server bench``: benchmark any S3 endpoint, or this system against moto's server."""
from __future__ import annotations


def cmd_bench(args) -> int:
    """Benchmark an S3 endpoint, or ours against moto's server (s3server/bench, a client tool)."""
    from s3server.bench.runner import run
    return run(args)


def add_parser(sub) -> None:
    bn = sub.add_parser("bench", help="benchmark any S3 endpoint, or this system against moto's server")
    bn.add_argument("--endpoint", help="S3 endpoint URL to benchmark")
    bn.add_argument("--access-key")
    bn.add_argument("--secret-key")
    bn.add_argument("--region", default="us-east-1")
    bn.add_argument("--insecure", action="store_true", help="https without certificate verification")
    bn.add_argument("--compare-moto", action="store_true",
                    help="start s3server serve (PostgreSQL if S3_DATABASE_URL is set, else SQLite) and moto's "
                         "server on loopback ports and run every scenario on both, alternating")
    bn.add_argument("--scenarios", help="comma list of machine,small,mixed,list,large,multipart (default: all)")
    bn.add_argument("--duration", type=float, default=5.0, help="seconds per timed scenario (default 5)")
    bn.add_argument("--concurrency", default="1,16", help="small-object concurrency levels (default 1,16)")
    bn.add_argument("--size", default="4KiB", help="small object size (default 4KiB)")
    bn.add_argument("--large-size", default="1GiB", help="large and multipart object size (default 1GiB)")
    bn.add_argument("--list-sizes", default="10k,100k",
                    help="LIST bucket sizes, populated by parallel PUTs of empty objects (default 10k,100k)")
    bn.add_argument("--workers", type=int, help="--compare-moto: gunicorn workers of our gateway (S3_WORKERS)")
    bn.add_argument("--serve-dir", help="data dir of a running `s3server serve` at --endpoint, to watch its memory")
    bn.add_argument("--keep", action="store_true", help="keep the buckets made on --endpoint (default: delete)")
    bn.add_argument("--sse", action="store_true", help="give every bucket SSE-S3 default encryption, so that "
                    "all uploads are encrypted (PutBucketEncryption)")
    bn.add_argument("--json", help="also write the results as JSON to this file")
    bn.add_argument("--quiet", action="store_true", help="no progress display on stderr")
