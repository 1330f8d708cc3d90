"""The lean load-generating client: presigned URLs over keep-alive connections.

``Conn`` (the hot loops, listing, populating): one socket per worker thread, reused for every
request; a request is one prebuilt ``sendall`` and the answer is read with the buffered
reader's C ``readline``/``read``. On this 2-core machine the client shares the CPU with the
system under test: ``http.client`` (an email-style header parser and a message object per
answer) cost ~0.18 ms of client CPU per 4 KiB GET/HEAD, this ~0.06-0.08 ms, which the server
then has. ``StreamConn`` (``http.client``) is kept for the large single-stream PUT and GET,
whose bodies stream. Errors carry the S3 error code so the runner can explain them.
"""
from __future__ import annotations

import http.client
import re
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from s3server.bench.sigv4 import Presigner

_CODE = re.compile(rb"<Code>([^<]*)</Code>")
_MSG = re.compile(rb"<Message>([^<]*)</Message>")


class BenchError(Exception):
    """A request the benchmark needed failed; the message says what the endpoint answered."""

    def __init__(self, message: str, *, status: int = 0, code: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code


def s3_error(method: str, what: str, status: int, body: bytes) -> BenchError:
    code = (_CODE.search(body or b"") or [None, b""])[1].decode(errors="replace")
    msg = (_MSG.search(body or b"") or [None, b""])[1].decode(errors="replace")
    text = f"{method} {what} -> HTTP {status}" + (f" {code}" if code else "") + (f": {msg}" if msg else "")
    return BenchError(text, status=status, code=code)


@dataclass
class Endpoint:
    url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    insecure: bool = False

    def __post_init__(self):
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BenchError(f"not an http(s) endpoint URL: {self.url!r}")
        self.scheme = parts.scheme
        self.hostname = parts.hostname
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        default = (self.scheme == "https" and self.port == 443) or (self.scheme == "http" and self.port == 80)
        self.host_header = self.hostname if default else f"{self.hostname}:{self.port}"
        self.signer = Presigner(self.access_key, self.secret_key, self.region, host=self.host_header)

    def connect(self, timeout: float = 120.0) -> http.client.HTTPConnection:
        if self.scheme == "https":
            ctx = ssl._create_unverified_context() if self.insecure else ssl.create_default_context()
            return http.client.HTTPSConnection(self.hostname, self.port, timeout=timeout, context=ctx)
        return http.client.HTTPConnection(self.hostname, self.port, timeout=timeout)

    def url_for(self, method: str, bucket: str, key: str = "", query: dict | None = None) -> str:
        path = "/" + bucket + ("/" + key if key else "") if bucket else "/"
        return self.signer.presign(method, path, query)


class BadAnswer(BenchError):
    """The server's answer is not HTTP/1.x as this client reads it."""


_MAX_LINE = 64 * 1024
_MAX_HEADERS = 200
_NO_BODY = (204, 304)


class Conn:
    """One keep-alive HTTP/1.1 connection for requests with in-memory bodies.

    ``request`` returns ``(status, headers, body)`` with header names lower-cased bytes. Bodies
    are framed by Content-Length, chunked transfer coding, or the server closing (an HTTP/1.0
    answer, ``Connection: close``); 1xx interim answers are skipped. A reused connection that
    the server closed while idle (EOF or reset before any answer) is replaced and the request
    sent once more, as ``http.client`` callers do; a short body is an error, never a short
    result."""

    def __init__(self, endpoint: Endpoint, timeout: float = 120.0):
        self.endpoint = endpoint
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self._rfile = None
        self._reused = False
        self._host = ("Host: %s\r\n" % endpoint.host_header).encode("latin-1")

    def _connect(self) -> None:
        ep = self.endpoint
        sock = socket.create_connection((ep.hostname, ep.port), self.timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if ep.scheme == "https":
                ctx = ssl._create_unverified_context() if ep.insecure else ssl.create_default_context()
                sock = ctx.wrap_socket(sock, server_hostname=ep.hostname)
        except BaseException:
            sock.close()
            raise
        self.sock, self._rfile, self._reused = sock, sock.makefile("rb", 65536), False

    def request(self, method: str, url: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, dict[bytes, bytes], bytes]:
        """``url`` is the request target as sent (path and query, already encoded)."""
        parts = [b"%s %s HTTP/1.1\r\n" % (method.encode("ascii"), url.encode("latin-1")), self._host]
        if headers:
            parts.extend(("%s: %s\r\n" % kv).encode("latin-1") for kv in headers.items()
                         if kv[0].lower() != "content-length")
        if body is not None or method in ("PUT", "POST"):
            parts.append(b"Content-Length: %d\r\n" % len(body or b""))
        parts.append(b"\r\n")
        if body:
            parts.append(bytes(body))
        message = b"".join(parts)
        for attempt in (0, 1):
            if self.sock is None:
                self._connect()
            reused = self._reused
            try:
                self.sock.sendall(message)
                line = self._rfile.readline(_MAX_LINE + 1)
                if not line:
                    raise ConnectionResetError("connection closed before an answer")
            except (BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt or not reused:
                    raise
                continue
            except BaseException:
                self.close()
                raise
            try:
                return self._answer(method, line)
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    def _answer(self, method: str, line: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        readline = self._rfile.readline
        while True:
            if not line.startswith(b"HTTP/1.") or len(line) < 12 or not line.endswith(b"\n"):
                raise BadAnswer(f"not an HTTP/1.x status line: {line[:80]!r}")
            try:
                status = int(line[9:12])
            except ValueError:
                raise BadAnswer(f"bad status line: {line[:80]!r}") from None
            headers: dict[bytes, bytes] = {}
            for _ in range(_MAX_HEADERS):
                h = readline(_MAX_LINE + 1)
                if h in (b"\r\n", b"\n"):
                    break
                name, sep, value = h.partition(b":")
                if not sep or not h.endswith(b"\n"):
                    raise BadAnswer(f"bad header line: {h[:80]!r}")
                headers[name.strip().lower()] = value.strip()
            else:
                raise BadAnswer("too many header lines")
            if status >= 200:
                break
            line = readline(_MAX_LINE + 1)       # 1xx: an interim answer, the real one follows
        keep = (line.startswith(b"HTTP/1.1") and headers.get(b"connection", b"").lower() != b"close"
                or headers.get(b"connection", b"").lower() == b"keep-alive")
        if method == "HEAD" or status in _NO_BODY:
            data = b""
        elif headers.get(b"transfer-encoding", b"identity").lower() == b"chunked":
            data = self._chunked()
        elif b"content-length" in headers:
            try:
                n = int(headers[b"content-length"])
            except ValueError:
                raise BadAnswer(f"bad Content-Length: {headers[b'content-length'][:40]!r}") from None
            data = self._rfile.read(n)
            if len(data) != n:
                raise BadAnswer(f"the answer ended after {len(data)} of {n} body bytes")
        else:                                    # framed by the server closing
            data, keep = self._rfile.read(), False
        if keep:
            self._reused = True
        else:
            self.close()
        return status, headers, data

    def _chunked(self) -> bytes:
        readline, read = self._rfile.readline, self._rfile.read
        parts = []
        while True:
            line = readline(_MAX_LINE + 1)
            try:
                size = int(line.split(b";", 1)[0], 16)
            except ValueError:
                raise BadAnswer(f"bad chunk size line: {line[:80]!r}") from None
            if size == 0:
                while readline(_MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
                    pass                         # trailers
                return b"".join(parts)
            chunk = read(size)
            if len(chunk) != size or readline(_MAX_LINE + 1) not in (b"\r\n", b"\n"):
                raise BadAnswer("the chunked answer ended early")
            parts.append(chunk)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            try:
                self._rfile.close()
            finally:
                sock.close()


class StreamConn:
    """An ``http.client`` keep-alive connection, for bodies that stream (the large PUT and GET);
    ``request`` reconnects once if the server closed it while idle."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint
        self.c = endpoint.connect()

    def request(self, method: str, url: str, body=None, headers: dict | None = None,
                read: bool = True) -> tuple[int, http.client.HTTPResponse, bytes]:
        for attempt in (0, 1):
            try:
                self.c.request(method, url, body=body, headers=headers or {})
                resp = self.c.getresponse()
                data = resp.read() if read else b""
                return resp.status, resp, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.c.close()
                self.c = self.endpoint.connect()
                if attempt or (body is not None and not isinstance(body, (bytes, bytearray, memoryview))):
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.c.close()
