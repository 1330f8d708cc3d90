"""Prometheus metrics: requests by operation and status, latency, bytes, storage-node health,
write failures. ``GET /metrics`` renders them in the Prometheus text format.

Several gunicorn workers serve one pod, and a scrape reaches only one of them. The
gunicorn config therefore points ``PROMETHEUS_MULTIPROC_DIR`` at ``<run dir>/metrics``
before forking: prometheus-client then keeps every worker's values in small mmap'ed files
there, and ``/metrics`` (in whichever worker answers) adds them up with its
``MultiProcessCollector``. That is prometheus-client's own mechanism for exactly this
setup, needs no extra process, and survives worker restarts (a dead worker's counters
stay in the sum; its live gauges are dropped by gunicorn's ``child_exit`` hook).
Without a run dir (one process), the app's own registry is rendered.

The metrics are created per app with a private registry: no module globals.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import falcon
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
METRICS_SUBDIR = "metrics"


class Metrics:
    def __init__(self, run_dir: str = ""):
        self.multiproc_dir = str(Path(run_dir) / METRICS_SUBDIR) if run_dir else ""
        r = self.registry = CollectorRegistry()
        self.requests = Counter("s3server_requests", "Requests by dialect, operation and HTTP status.",
                                ["dialect", "operation", "status"], registry=r)
        self.latency = Histogram("s3server_request_duration_seconds", "Time to answer a request (headers and "
                                 "body, as far as the app can see).", ["dialect", "operation"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.bytes_in = Counter("s3server_received_bytes", "Request body bytes received.",
                                ["dialect", "operation"], registry=r)
        self.bytes_out = Counter("s3server_sent_bytes", "Response body bytes sent.",
                                 ["dialect", "operation"], registry=r)
        self.node_up = Gauge("s3server_storage_node_up", "1 if the storage node answered its last health "
                             "probe, else 0.", ["node"], multiprocess_mode="mostrecent", registry=r)
        self.write_failures = Counter("s3server_blob_write_failures", "Blob writes that did not reach the "
                                      "write quorum (the client got 503).", registry=r)
        self.under_replicated = Counter("s3server_under_replicated_writes", "Blob writes acknowledged with "
                                        "fewer copies than S3_REPLICAS (repair completes them).", registry=r)
        self.read_failures = Counter("s3server_blob_read_failures", "Blob reads that no replica could "
                                     "complete.", registry=r)
        self.cache_lookups = Counter("s3server_blob_cache_lookups", "Reads of small blobs by whether the "
                                     "worker's blob cache had them (result=hit) or the nodes were read "
                                     "(result=miss).", ["result"], registry=r)
        self._cache_hit = self.cache_lookups.labels("hit")
        self._cache_miss = self.cache_lookups.labels("miss")
        # the labelled children of each (dialect, operation[, status]), looked up once:
        # ``labels()`` validates and locks on every call, a tenth of a request's bookkeeping
        self._per_request: dict[tuple[str, str, str], list] = {}

    def observe_request(self, dialect: str, operation: str, status: str, seconds: float,
                        bytes_in: int, bytes_out: int) -> None:
        key = (dialect, operation, status)
        children = self._per_request.get(key)
        if children is None:
            # the byte counters' children are made when first needed: a series appears in
            # /metrics once it has counted something
            children = [self.requests.labels(dialect, operation, status),
                        self.latency.labels(dialect, operation), None, None]
            if len(self._per_request) < 4096:     # operations x statuses: a few hundred at most
                self._per_request[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if bytes_in:
            if children[2] is None:
                children[2] = self.bytes_in.labels(dialect, operation)
            children[2].inc(bytes_in)
        if bytes_out:
            if children[3] is None:
                children[3] = self.bytes_out.labels(dialect, operation)
            children[3].inc(bytes_out)

    def observe_cache(self, hit: bool) -> None:
        (self._cache_hit if hit else self._cache_miss).inc()

    def observe_nodes(self, health: dict[str, bool]) -> None:
        for node, ok in health.items():
            self.node_up.labels(node).set(1 if ok else 0)

    def render(self) -> bytes:
        if self.multiproc_dir:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self.multiproc_dir)
            return generate_latest(registry)
        return generate_latest(self.registry)


class MetricsResource:
    """GET /metrics. Probes the storage nodes first so node health is current."""

    def __init__(self, metrics: Metrics, blobs):
        self.metrics = metrics
        self.blobs = blobs

    def on_get(self, req, resp):
        req.context.operation = "metrics"
        self.metrics.observe_nodes(self.blobs.node_health())
        resp.status = falcon.HTTP_200
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = self.metrics.render()


class MeteredBlobs:
    """The BlobStore as the services see it, counting failed and under-replicated writes and
    failed reads on the way. Everything else is passed through unchanged."""

    def __init__(self, blobs, metrics: Metrics, *, replicas: int, errors: tuple[type[Exception], ...]):
        self._blobs = blobs
        self._metrics = metrics
        self._replicas = replicas
        self._errors = errors

    def write(self, chunks: Iterable[bytes], size: int | None = None):
        try:
            ref = self._blobs.write(chunks, size=size)
        except self._errors:
            self._metrics.write_failures.inc()
            raise
        if len(ref.nodes) < self._replicas:
            self._metrics.under_replicated.inc()
        return ref

    def open(self, ref, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        try:
            pieces = self._blobs.open(ref, start, end)
        except self._errors:
            self._metrics.read_failures.inc()
            raise
        return self._counted(pieces)

    def _counted(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        try:
            yield from pieces
        except self._errors:
            self._metrics.read_failures.inc()
            raise

    def node_health(self, *args, **kwargs) -> dict[str, bool]:
        health = self._blobs.node_health(*args, **kwargs)
        self._metrics.observe_nodes(health)
        return health

    def __getattr__(self, name):
        return getattr(self._blobs, name)
