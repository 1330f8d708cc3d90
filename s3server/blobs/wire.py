"""HTTP/1.1 to one storage node on plain sockets: a keep-alive pool, request heads, answers framed
by hand, bodies sent and read in pieces (the transport under NodeClient, blobs/client.py).

The nodes speak a fixed, simple dialect (Content-Length framed answers, a chunked one tolerated),
so the status line and headers are parsed by hand from a buffered reader instead of through
http.client's email-based parser. Works with real threads and under gevent's monkey-patching (the
sockets are then gevent's).

A request whose body is in memory is sent again, once, on a fresh connection when a pooled
keep-alive connection turns out to have been closed by the node before any byte of the
answer came back (the node never saw it); a streamed PUT never is, but a pooled connection
is checked for a close by the node before it is reused.
"""
from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from s3server.blobs.errors import BlobError

READ_CHUNK = 1024 * 1024
_MAX_LINE = 8192
_MAX_HEADERS = 64
_COALESCE = 64 * 1024          # bodies up to this size go out in one send with the head
_NO_BODY = frozenset((204, 304))


class Garbage(Exception):
    """The node's answer is not HTTP/1.x as we speak it."""


class Stale(Exception):
    """The connection ended before any byte of the answer (the node closed it)."""


class Conn:
    """One keep-alive connection to a node."""
    __slots__ = ("sock", "rfile", "reused")

    def __init__(self, address: tuple[str, int], connect_timeout: float, timeout: float):
        sock = socket.create_connection(address, timeout=connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(timeout)
            self.rfile = sock.makefile("rb", 65536)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.reused = False

    def dropped(self) -> bool:
        """True if the node closed this idle connection (or sent bytes nobody asked for)."""
        sock = self.sock
        timeout = sock.gettimeout()
        sock.settimeout(0.0)
        try:
            sock.recv(1, socket.MSG_PEEK)
            return True                    # EOF (b"") or unexpected bytes
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            sock.settimeout(timeout)

    def close(self) -> None:
        self.rfile.close()
        self.sock.close()


class Response:
    """Status, headers and the framing of one answer; read its body, then ``release``."""
    __slots__ = ("client", "conn", "status", "headers", "keep", "_left", "_chunked")

    def __init__(self, client: HttpNode, conn: Conn, method: str):
        self.client = client
        self.conn = conn
        rfile = conn.rfile
        while True:
            line = rfile.readline(_MAX_LINE + 1)
            if not line:
                raise Stale()
            parts = line.split(None, 2)
            if (len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3
                    or not parts[1].isdigit() or not line.endswith(b"\n")):
                raise Garbage(f"bad status line {line[:80]!r}")
            status = int(parts[1])
            headers = read_headers(rfile)
            if not 100 <= status < 200:
                break
        self.status = status
        self.headers = headers
        self.keep = parts[0] == b"HTTP/1.1" and headers.get("connection", "").lower() != "close"
        self._chunked = False
        if method == "HEAD" or status in _NO_BODY:
            self._left = 0
        elif "transfer-encoding" in headers:
            if headers["transfer-encoding"].lower() != "chunked":
                raise Garbage(f"transfer-encoding {headers['transfer-encoding']!r}")
            self._chunked, self._left = True, -1
        elif "content-length" in headers:
            length = headers["content-length"]
            if not length.isdigit():
                raise Garbage(f"content-length {length!r}")
            self._left = int(length)
        else:                                   # to the end of the connection
            self._left, self.keep = -1, False

    @property
    def done(self) -> bool:
        return self._left == 0

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of the body (b"" at its end). Raises Garbage or OSError."""
        if self._left == 0:
            return b""
        rfile = self.conn.rfile
        if self._chunked:
            return self._read_chunked(n)
        if self._left < 0:                      # delimited by close
            piece = rfile.read(n)
            if not piece:
                self._left = 0
            return piece
        piece = rfile.read(min(n, self._left))
        if not piece:
            raise Garbage(f"body ended {self._left} bytes short")
        self._left -= len(piece)
        return piece

    def read_all(self, limit: int = 16 * 1024 * 1024) -> bytes:
        """The whole body (at most ``limit`` bytes, else Garbage)."""
        if 0 <= self._left <= limit:
            data = self.read(self._left) if self._left else b""
            if self._left:
                data += self._read_exact_rest()
            return data
        pieces, size = [], 0
        while piece := self.read(READ_CHUNK):
            pieces.append(piece)
            size += len(piece)
            if size > limit:
                raise Garbage("body too large")
        return b"".join(pieces)

    def _read_exact_rest(self) -> bytes:
        pieces = []
        while self._left:
            pieces.append(self.read(self._left))
        return b"".join(pieces)

    def _read_chunked(self, n: int) -> bytes:
        rfile = self.conn.rfile
        if self._left <= 0:                     # at a chunk-size line
            if self._left == -2:                # after a chunk: its CRLF
                if rfile.readline(_MAX_LINE + 1) not in (b"\r\n", b"\n"):
                    raise Garbage("bad chunk end")
            line = rfile.readline(_MAX_LINE + 1)
            size = line.split(b";", 1)[0].strip()
            try:
                chunk = int(size, 16)
            except ValueError:
                raise Garbage(f"bad chunk size {line[:40]!r}") from None
            if chunk == 0:
                read_headers(rfile)            # trailers, dropped
                self._left = 0
                return b""
            self._left = chunk
        piece = rfile.read(min(n, self._left))
        if not piece:
            raise Garbage("chunked body ended early")
        self._left -= len(piece)
        if self._left == 0:
            self._left = -2
        return piece

    def release(self) -> None:
        """Give the connection back to the pool if the answer was read to its end and the
        node keeps it open; close it otherwise."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        if self._left == 0 and self.keep:
            self.client._put_back(conn)
        else:
            conn.close()

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()


def read_headers(rfile) -> dict[str, str]:
    headers = {}
    for _ in range(_MAX_HEADERS):
        line = rfile.readline(_MAX_LINE + 1)
        if line in (b"\r\n", b"\n"):
            return headers
        name, sep, value = line.partition(b":")
        if not sep or not line.endswith(b"\n"):
            raise Garbage(f"bad header line {line[:80]!r}")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    raise Garbage("too many header lines")


class Call:
    """A request with an in-memory body that has been sent; ``response()`` reads the answer.
    Lets one thread/greenlet send to several nodes first and read their answers after."""
    __slots__ = ("client", "method", "path", "payload", "conn")

    def __init__(self, client: HttpNode, method: str, path: str, payload: tuple[bytes, ...]):
        self.client = client
        self.method = method
        self.path = path
        self.payload = payload
        self.conn: Conn | None = None

    def send(self) -> Call:
        """Send on a pooled (or new) connection; a pooled one that fails is replaced once."""
        self.conn = self.client._get_conn()
        try:
            self._send()
        except OSError as exc:
            if not self.conn.reused:
                self._drop()
                raise self.client._fail(f"{self.method} {self.path}: {describe(exc)}") from exc
            self._resend()
        return self

    def _send(self) -> None:
        sock = self.conn.sock
        for part in self.payload:
            # one send() when the socket takes it all (gevent's sendall first asks the kernel
            # for the send buffer's size, a system call per call)
            sent = sock.send(part)
            if sent < len(part):
                sock.sendall(memoryview(part)[sent:])

    def _resend(self) -> None:
        self._drop()
        try:
            self.conn = self.client._new_conn()
            self._send()
        except OSError as exc:
            self._drop()
            raise self.client._fail(f"{self.method} {self.path}: {describe(exc)}") from exc

    def response(self) -> Response:
        """Read the status and headers (the body is the caller's to read, then release)."""
        try:
            try:
                return Response(self.client, self.conn, self.method)
            except (Stale, ConnectionError):
                if not self.conn.reused:
                    raise
            self._resend()
            return Response(self.client, self.conn, self.method)
        except Stale:
            self._drop()
            raise self.client._fail(f"{self.method} {self.path}: connection closed "
                                    "without an answer") from None
        except Garbage as exc:
            self._drop()
            raise self.client._fail(f"{self.method} {self.path}: bad answer: {exc}") from None
        except OSError as exc:
            self._drop()
            raise self.client._fail(f"{self.method} {self.path}: {describe(exc)}") from exc
        except BaseException:
            self._drop()
            raise

    def abandon(self) -> None:
        """Close the connection without reading the answer."""
        self._drop()

    def _drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class HttpNode:
    """The connections to the node ``node_id`` at ``url`` (``http://host:port``) and the
    requests sent on them; NodeClient (blobs/client.py) adds the node's API."""

    def __init__(self, node_id: str, url: str, *, timeout: float = 10.0, maxsize: int = 32):
        self.node_id = node_id
        self.url = url.rstrip("/")
        self.timeout = timeout
        parts = urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"node URL must be http://host:port, not {url!r}")
        self._address = (parts.hostname, parts.port or 80)
        self._host = parts.netloc.encode("latin-1")
        self._connect_timeout = min(timeout, 5.0)
        self._maxsize = maxsize
        self._idle: list[Conn] = []
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.node_id!r}, {self.url!r})"

    def close(self) -> None:
        """Close pooled connections (the client stays usable)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- connections ----------------------------------------------------------------------
    def _new_conn(self) -> Conn:
        return Conn(self._address, self._connect_timeout, self.timeout)

    def _get_conn(self) -> Conn:
        """A pooled connection the node has not closed, else a new one. BlobError if the
        node cannot be reached."""
        if self._pid != os.getpid():           # inherited through fork: not ours to use
            self._idle, self._pid = [], os.getpid()
        idle = self._idle
        while idle:
            try:
                conn = idle.pop()
            except IndexError:
                break
            if conn.dropped():
                conn.close()
                continue
            conn.reused = True
            return conn
        try:
            return self._new_conn()
        except OSError as exc:
            raise self._fail(f"connect: {describe(exc)}") from exc

    def _put_back(self, conn: Conn) -> None:
        if len(self._idle) < self._maxsize and self._pid == os.getpid():
            self._idle.append(conn)
        else:
            conn.close()

    # -- plumbing -------------------------------------------------------------------------
    def _fail(self, message: str, cls: type[BlobError] = BlobError) -> BlobError:
        return cls(f"node {self.node_id}: {message}", node_id=self.node_id)

    def _head(self, method: str, path: str, headers: dict[str, str] | None,
              length: int | None) -> bytes:
        lines = [f"{method} {path} HTTP/1.1\r\nHost: ".encode("latin-1"), self._host, b"\r\n"]
        if length is not None:
            lines.append(b"Content-Length: %d\r\n" % length)
        if headers:
            lines.extend(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers.items())
        lines.append(b"\r\n")
        return b"".join(lines)

    def call(self, method: str, path: str, body: bytes = b"",
             headers: dict[str, str] | None = None) -> Call:
        """Send a request with an in-memory ``body``; read the answer with ``response()``."""
        length = len(body) if body or method in ("PUT", "POST") else None
        head = self._head(method, path, headers, length)
        if not body:
            payload = (head,)
        elif len(body) <= _COALESCE:
            payload = (head + body,)
        else:
            payload = (head, body)
        return Call(self, method, path, payload).send()

    def _request(self, method: str, path: str, body: bytes = b"",
                 headers: dict[str, str] | None = None, timeout: float | None = None) -> Response:
        if timeout is None:
            return self.call(method, path, body, headers).response()
        return self._timed_call(method, path, timeout).response()

    def _timed_call(self, method: str, path: str, timeout: float) -> Call:
        """A bodyless request on a connection with its own ``timeout`` (restored by
        ``_finish`` before the connection goes back to the pool)."""
        c = Call(self, method, path, (self._head(method, path, None, None),))
        c.conn = self._get_conn()
        c.conn.sock.settimeout(timeout)
        try:
            c._send()
        except OSError as exc:
            c.abandon()
            raise self._fail(f"{method} {path}: {describe(exc)}") from exc
        return c
