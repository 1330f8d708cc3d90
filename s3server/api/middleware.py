"""Request id, dialect choice, client address, per-IP rate limit, metrics and the access log."""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import secrets
import socket
import time

import falcon

from s3server.auth.ratelimit import RateLimiter
from s3server.errors import S3Error

log = logging.getLogger("s3server.access")

# Probes and scrapes are never rate limited (a limited /ready would take a busy pod out of service).
UNLIMITED_PATHS = frozenset({"/health", "/ready", "/metrics"})


def new_request_id() -> str:
    return secrets.token_hex(8).upper()


def is_sigv4(req: falcon.Request) -> bool:
    """Signed the AWS way (SigV4 or SigV2, header or query string)."""
    auth = req.get_header("Authorization") or ""
    if auth.startswith("AWS4-") or auth.startswith("AWS "):
        return True
    qs = req.env.get("QUERY_STRING", "")
    return "X-Amz-Signature=" in qs or ("Signature=" in qs and "AWSAccessKeyId=" in qs)


def choose_dialect(req: falcon.Request) -> str:
    """One port, two dialects: Bearer requests and unsigned ``/buckets...`` requests are REST."""
    auth = req.get_header("Authorization") or ""
    if auth[:7].lower() == "bearer ":
        return "rest"
    path = req.env.get("RAW_URI", req.path).split("?", 1)[0]
    if (path == "/buckets" or path.startswith("/buckets/")) and not is_sigv4(req):
        return "rest"
    return "s3"


class ClientAddress:
    """The client's IP: the peer address, or, when the peer is a trusted proxy, the
    right-most address in X-Forwarded-For that is not itself a trusted proxy."""

    def __init__(self, trusted_proxies: tuple[str, ...] = ()):
        self.networks = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    def _trusted(self, addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr.strip())
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def __call__(self, req: falcon.Request) -> str:
        peer = req.env.get("REMOTE_ADDR", "") or ""
        if not self.networks or not self._trusted(peer):
            return peer
        forwarded = req.get_header("X-Forwarded-For") or ""
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return peer        # garbage from behind the proxy: limit the proxy's view of it
        return hops[0] if hops else peer


class IdleTimeoutStream:
    """A request body that may not stall: while it is read, the client's socket has a timeout
    of ``seconds``, so each receive that gets nothing for that long fails, and the read raises
    S3Error RequestTimeout (AWS's answer to a client that stops sending mid-body) after shutting
    the connection's read side, so that gunicorn closes the connection after the answer instead
    of waiting out the rest of the body. A slow client that keeps sending is not cut off: the
    limit is per receive, not per request. Without it a stalled upload held its greenlet, and
    the storage-node connections of a PUT in progress, until TCP gave up (hours).
    ``disarm()`` (at the end of the request, before gunicorn writes the answer) puts the
    socket's own timeout back."""

    def __init__(self, stream, seconds: float, sock):
        self._stream = stream
        self._seconds = seconds
        self._sock = sock
        self._restore: float | None = None
        self._armed = False

    def _call(self, fn, size):
        if not self._armed:
            self._restore = self._sock.gettimeout()
            self._sock.settimeout(self._seconds)
            self._armed = True
        try:
            return fn(size)
        except TimeoutError:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RD)
            raise S3Error("RequestTimeout") from None

    def disarm(self) -> None:
        if self._armed:
            self._armed = False
            with contextlib.suppress(OSError):
                self._sock.settimeout(self._restore)

    def read(self, size=-1):
        return self._call(self._stream.read, size)

    def readline(self, size=-1):
        return self._call(self._stream.readline, size)

    def __iter__(self):
        while line := self.readline():
            yield line

    def __getattr__(self, name):
        return getattr(self._stream, name)


class CountingStream:
    """Counts the bytes read from a body without a Content-Length (chunked uploads)."""

    def __init__(self, stream):
        self._stream = stream
        self.count = 0

    def read(self, size=-1):
        data = self._stream.read(size)
        self.count += len(data)
        return data

    def readline(self, size=-1):
        data = self._stream.readline(size)
        self.count += len(data)
        return data

    def __iter__(self):
        for data in self._stream:
            self.count += len(data)
            yield data

    def __getattr__(self, name):
        return getattr(self._stream, name)


class RequestContext:
    """Gives every request an id (x-amz-request-id), its dialect and client IP; applies the
    per-IP rate limit; at the end records metrics and logs one line."""

    def __init__(self, new_id=new_request_id, clock=time.monotonic, *, limiter: RateLimiter | None = None,
                 client_address: ClientAddress | None = None, metrics=None, body_idle_timeout: float = 0.0):
        self.new_id = new_id
        self.body_idle_timeout = body_idle_timeout
        self.clock = clock
        self.limiter = limiter or RateLimiter(None)
        self.client_address = client_address or ClientAddress()
        self.metrics = metrics

    def process_request(self, req, resp):
        ctx = req.context
        ctx.request_id = self.new_id()
        ctx.started = self.clock()
        ctx.dialect = choose_dialect(req)
        ctx.operation = "-"
        ctx.bucket = None
        ctx.user = None
        ctx.client_ip = self.client_address(req)
        ctx.body_counter = None
        chunked = req.content_length is None and "chunked" in (req.get_header("Transfer-Encoding") or "").lower()
        ctx.idle_stream = None
        sock = req.env.get("gunicorn.socket")          # under gunicorn only
        if self.body_idle_timeout and sock is not None and (chunked or req.content_length):
            ctx.idle_stream = req.stream = req.env["wsgi.input"] = IdleTimeoutStream(
                req.stream, self.body_idle_timeout, sock)
        if chunked:
            ctx.body_counter = req.stream = CountingStream(req.stream)
        if req.path not in UNLIMITED_PATHS:
            self.limiter.check("ip", ctx.client_ip)

    def process_response(self, req, resp, resource, req_succeeded):
        ctx = req.context
        idle_stream = getattr(ctx, "idle_stream", None)
        if idle_stream is not None:
            idle_stream.disarm()
        rid = getattr(ctx, "request_id", "")
        if rid:
            resp.set_header("x-amz-request-id", rid)
            resp.set_header("x-amz-id-2", rid.lower())
        resp.set_header("Server", "s3server")
        started = getattr(ctx, "started", None)
        seconds = (self.clock() - started) if started is not None else 0.0
        status = resp.status.split(" ", 1)[0] if isinstance(resp.status, str) else str(int(resp.status))
        counter = getattr(ctx, "body_counter", None)
        bytes_in = counter.count if counter is not None else (req.content_length or 0)
        bytes_out = _response_bytes(req, resp)
        dialect = getattr(ctx, "dialect", "s3")
        operation = getattr(ctx, "operation", "-")
        if self.metrics is not None:
            try:
                self.metrics.observe_request(dialect, operation, status, seconds, bytes_in, bytes_out)
            except Exception:       # metrics must never fail a request
                log.exception("request %s: recording metrics failed", rid)
        user = getattr(ctx, "user", None)
        # Only the path (never the query string: presigned URLs carry signatures) and no headers.
        log.info("request_id=%s client=%s method=%s path=%s dialect=%s operation=%s bucket=%s user=%s "
                 "status=%s bytes_in=%d bytes_out=%d duration_ms=%.1f",
                 rid, getattr(ctx, "client_ip", req.remote_addr), req.method,
                 _quote(getattr(ctx, "raw_path", None) or req.path), dialect, operation,
                 _quote(getattr(ctx, "bucket", None) or "-"), _quote(user.name if user else "-"),
                 status, bytes_in, bytes_out, seconds * 1000)


def _response_bytes(req, resp) -> int:
    if req.method == "HEAD":
        return 0
    length = resp.content_length        # Falcon keeps it as the header's string
    if length is not None:
        try:
            return int(length)
        except ValueError:
            return 0
    body = resp.render_body() if resp.stream is None else None   # media: rendered once, cached
    return len(body) if body else 0


def _quote(value: str) -> str:
    """One token per field: no spaces or control characters in the log line."""
    if value and all(33 <= ord(c) < 127 and c != '"' for c in value):
        return value
    return '"' + value.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
