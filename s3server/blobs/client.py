"""NodeClient: one storage node over HTTP/1.1 on plain sockets (keep-alive pool, streamed bodies).

A deliberately small client: the nodes speak a fixed, simple dialect (Content-Length framed
answers, a chunked one tolerated), so the status line and headers are parsed by hand from a
buffered reader instead of through http.client's email-based parser. Works with real
threads and under gevent's monkey-patching (the sockets are then gevent's).

Every failure comes out as a BlobError subclass: 404 -> BlobNotFound, 507 -> NodeFull,
anything else (connection refused/reset, timeout, bad status, garbage, short body) ->
BlobError with ``node_id`` set. Exceptions raised by a caller's body iterable pass through
unchanged.

A request whose body is in memory is sent again, once, on a fresh connection when a pooled
keep-alive connection turns out to have been closed by the node before any byte of the
answer came back (the node never saw it); a streamed PUT never is, but a pooled connection
is checked for a close by the node before it is reused.
"""
from __future__ import annotations

import json
import os
import socket
from typing import Iterable, Iterator
from urllib.parse import urlencode, urlsplit

from s3server.blobs.errors import BlobError, BlobNotFound, NodeFull

READ_CHUNK = 1024 * 1024
DELETE_BATCH = 1000            # ids per POST /blobs/delete (the node's limit)
WRITE_BATCH = 64               # blobs per POST /blobs/write (the node takes up to 128)
WRITE_BATCH_BYTES = 1024 * 1024  # their bytes (the node takes up to 4 MiB)
_MAX_LINE = 8192
_MAX_HEADERS = 64
_MAX_DETAIL = 64 * 1024        # error bodies up to this size are read (connection kept)
_COALESCE = 64 * 1024          # bodies up to this size go out in one send with the head
_NO_BODY = frozenset((204, 304))


class _Garbage(Exception):
    """The node's answer is not HTTP/1.x as we speak it."""


class _Stale(Exception):
    """The connection ended before any byte of the answer (the node closed it)."""


class _Conn:
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


class _Response:
    """Status, headers and the framing of one answer; read its body, then ``release``."""
    __slots__ = ("client", "conn", "status", "headers", "keep", "_left", "_chunked")

    def __init__(self, client: NodeClient, conn: _Conn, method: str):
        self.client = client
        self.conn = conn
        rfile = conn.rfile
        while True:
            line = rfile.readline(_MAX_LINE + 1)
            if not line:
                raise _Stale()
            parts = line.split(None, 2)
            if (len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3
                    or not parts[1].isdigit() or not line.endswith(b"\n")):
                raise _Garbage(f"bad status line {line[:80]!r}")
            status = int(parts[1])
            headers = _read_headers(rfile)
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
                raise _Garbage(f"transfer-encoding {headers['transfer-encoding']!r}")
            self._chunked, self._left = True, -1
        elif "content-length" in headers:
            length = headers["content-length"]
            if not length.isdigit():
                raise _Garbage(f"content-length {length!r}")
            self._left = int(length)
        else:                                   # to the end of the connection
            self._left, self.keep = -1, False

    @property
    def done(self) -> bool:
        return self._left == 0

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of the body (b"" at its end). Raises _Garbage or OSError."""
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
            raise _Garbage(f"body ended {self._left} bytes short")
        self._left -= len(piece)
        return piece

    def read_all(self, limit: int = 16 * 1024 * 1024) -> bytes:
        """The whole body (at most ``limit`` bytes, else _Garbage)."""
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
                raise _Garbage("body too large")
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
                    raise _Garbage("bad chunk end")
            line = rfile.readline(_MAX_LINE + 1)
            size = line.split(b";", 1)[0].strip()
            try:
                chunk = int(size, 16)
            except ValueError:
                raise _Garbage(f"bad chunk size {line[:40]!r}") from None
            if chunk == 0:
                _read_headers(rfile)            # trailers, dropped
                self._left = 0
                return b""
            self._left = chunk
        piece = rfile.read(min(n, self._left))
        if not piece:
            raise _Garbage("chunked body ended early")
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


def _read_headers(rfile) -> dict[str, str]:
    headers = {}
    for _ in range(_MAX_HEADERS):
        line = rfile.readline(_MAX_LINE + 1)
        if line in (b"\r\n", b"\n"):
            return headers
        name, sep, value = line.partition(b":")
        if not sep or not line.endswith(b"\n"):
            raise _Garbage(f"bad header line {line[:80]!r}")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    raise _Garbage("too many header lines")


class Call:
    """A request with an in-memory body that has been sent; ``response()`` reads the answer.
    Lets one thread/greenlet send to several nodes first and read their answers after."""
    __slots__ = ("client", "method", "path", "payload", "conn")

    def __init__(self, client: NodeClient, method: str, path: str, payload: tuple[bytes, ...]):
        self.client = client
        self.method = method
        self.path = path
        self.payload = payload
        self.conn: _Conn | None = None

    def send(self) -> Call:
        """Send on a pooled (or new) connection; a pooled one that fails is replaced once."""
        self.conn = self.client._get_conn()
        try:
            self._send()
        except OSError as exc:
            if not self.conn.reused:
                self._drop()
                raise self.client._fail(f"{self.method} {self.path}: {_describe(exc)}") from exc
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
            raise self.client._fail(f"{self.method} {self.path}: {_describe(exc)}") from exc

    def response(self) -> _Response:
        """Read the status and headers (the body is the caller's to read, then release)."""
        try:
            try:
                return _Response(self.client, self.conn, self.method)
            except (_Stale, ConnectionError):
                if not self.conn.reused:
                    raise
            self._resend()
            return _Response(self.client, self.conn, self.method)
        except _Stale:
            self._drop()
            raise self.client._fail(f"{self.method} {self.path}: connection closed "
                                    "without an answer") from None
        except _Garbage as exc:
            self._drop()
            raise self.client._fail(f"{self.method} {self.path}: bad answer: {exc}") from None
        except OSError as exc:
            self._drop()
            raise self.client._fail(f"{self.method} {self.path}: {_describe(exc)}") from exc
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


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class NodeClient:
    """Talks to the node ``node_id`` at ``url`` (``http://host:port``)."""

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
        self._idle: list[_Conn] = []
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"NodeClient({self.node_id!r}, {self.url!r})"

    def close(self) -> None:
        """Close pooled connections (the client stays usable)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- connections ----------------------------------------------------------------------
    def _new_conn(self) -> _Conn:
        return _Conn(self._address, self._connect_timeout, self.timeout)

    def _get_conn(self) -> _Conn:
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
            raise self._fail(f"connect: {_describe(exc)}") from exc

    def _put_back(self, conn: _Conn) -> None:
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
                 headers: dict[str, str] | None = None, timeout: float | None = None) -> _Response:
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
            raise self._fail(f"{method} {path}: {_describe(exc)}") from exc
        return c

    def _finish(self, resp: _Response, what: str, ok: tuple[int, ...]) -> bytes:
        """Read the whole (small) body, release the connection, map the status."""
        try:
            data = resp.read_all()
        except (_Garbage, OSError) as exc:
            resp.close()
            raise self._fail(f"{what}: {exc}") from exc
        if resp.conn is not None and resp.conn.sock.gettimeout() != self.timeout:
            resp.conn.sock.settimeout(self.timeout)
        resp.release()
        if resp.status not in ok:
            self._raise_status(resp.status, what, data)
        return data

    def _raise_status(self, status: int, what: str, data: bytes = b"") -> None:
        if status == 404:
            raise self._fail(f"{what}: not found", BlobNotFound)
        if status == 507:
            raise self._fail(f"{what}: node full", NodeFull)
        detail = data[:200].decode("utf-8", "replace") if status >= 400 else ""
        raise self._fail(f"{what}: HTTP {status} {detail}")

    def _check(self, resp: _Response, ok: tuple[int, ...], what: str) -> None:
        """Raise for a status outside ``ok`` (reading a small error body first)."""
        if resp.status in ok:
            return
        data = b""
        if 0 <= resp._left <= _MAX_DETAIL:
            try:
                data = resp.read_all(_MAX_DETAIL)
            except (_Garbage, OSError):
                pass
        resp.release()
        self._raise_status(resp.status, what, data)

    def _json(self, method: str, path: str, ok: tuple[int, ...], body: bytes = b"",
              timeout: float | None = None) -> dict:
        what = f"{method} {path}"
        data = self._finish(self._request(method, path, body, timeout=timeout), what, ok)
        return self._parse_json(data, what)

    def _parse_json(self, data: bytes, what: str) -> dict:
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise self._fail(f"{what}: bad JSON") from exc
        if not isinstance(doc, dict):
            raise self._fail(f"{what}: bad JSON")
        return doc

    # -- API ------------------------------------------------------------------------------
    def put(self, blob_id: str, chunks: Iterable[bytes] | bytes, size: int | None = None, *,
            cache: bool = True) -> dict:
        """Store ``chunks`` as the blob; return the node's ``{"id", "size", "xxh3"}``.
        ``bytes`` go out with a Content-Length (see ``begin_put``); an iterable is streamed
        (chunked transfer): if iterating it raises, the connection is closed mid-body (the
        node keeps nothing) and that exception propagates. ``cache=False`` asks the node to
        keep the streamed copy out of its page cache (O_DIRECT; the node decides, by size)."""
        if isinstance(chunks, bytes):
            return self.end_put(self.begin_put(blob_id, chunks))
        path = f"/blobs/{blob_id}"
        headers = {"Content-Type": "application/octet-stream"}
        if not cache:
            headers["X-Blob-Cache"] = "none"
        if size is None:
            headers["Transfer-Encoding"] = "chunked"
        else:
            # A known size goes out with a Content-Length: the node then reads the body in
            # large pieces (its chunked decoder copies every byte several times). A body that
            # ends early or runs long breaks the connection: the node keeps nothing.
            headers["X-Blob-Size"] = str(size)
        conn = self._get_conn()
        sock = conn.sock
        pending = self._head("PUT", path, headers, size)
        it = iter(chunks)
        sent = 0
        try:
            while True:
                try:
                    chunk = next(it)
                except StopIteration:
                    break
                if not chunk:
                    continue
                if size is None:
                    sock.sendall(pending + b"%x\r\n%b\r\n" % (len(chunk), chunk))
                else:
                    sent += len(chunk)
                    if sent > size:
                        raise BlobError(f"node {self.node_id}: PUT {path}: body longer than "
                                        f"its declared {size} bytes", node_id=self.node_id)
                    if pending:
                        sock.sendall(pending)
                    sock.sendall(chunk)
                pending = b""
            if size is None:
                sock.sendall(pending + b"0\r\n\r\n")
            elif sent < size:
                raise BlobError(f"node {self.node_id}: PUT {path}: body ended after {sent} of "
                                f"{size} bytes", node_id=self.node_id)
            elif pending:
                sock.sendall(pending)
        except OSError as exc:
            # The node may have answered (507, 400) and closed while we were sending.
            if isinstance(exc, TimeoutError):
                conn.close()
                raise self._fail(f"PUT {path}: {_describe(exc)}") from exc
            try:
                resp = _Response(self, conn, "PUT")
            except (_Stale, _Garbage, OSError):
                conn.close()
                raise self._fail(f"PUT {path}: {_describe(exc)}") from exc
            resp.keep = False
            return self._put_result(resp, path)
        except BaseException:
            conn.close()
            raise
        c = Call(self, "PUT", path, ())
        c.conn = conn
        conn.reused = False                     # a streamed body cannot be sent again
        return self._put_result(c.response(), path)

    def begin_put(self, blob_id: str, data: bytes) -> Call:
        """Send ``data`` as the blob with a Content-Length; ``end_put`` reads the answer.
        BlobError if the node cannot be reached."""
        return self.call("PUT", f"/blobs/{blob_id}", data,
                         {"Content-Type": "application/octet-stream"})

    def end_put(self, call: Call) -> dict:
        """The node's ``{"id", "size", "xxh3"}`` for a ``begin_put``."""
        return self._put_result(call.response(), call.path)

    def _put_result(self, resp: _Response, path: str) -> dict:
        what = f"PUT {path}"
        return self._parse_json(self._finish(resp, what, (201,)), what)

    def get(self, blob_id: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Request bytes [start, end) (``end`` exclusive, None = to the end) and return an
        iterator over them. The request is made now (so 404 etc. raise here); the iterator
        raises BlobError if the body ends short. Close it to drop the connection early."""
        if end is not None and end <= start:
            return iter(())
        headers = None
        if start or end is not None:
            headers = {"Range": f"bytes={start}-{'' if end is None else end - 1}"}
        path = f"/blobs/{blob_id}"
        resp = self._request("GET", path, headers=headers)
        self._check(resp, (200, 206), f"GET {path}")
        expected = self._expected_length(resp, start, end)
        return _Body(self, resp, expected)

    def _expected_length(self, resp: _Response, start: int, end: int | None) -> int:
        length = resp.headers.get("content-length")
        want_partial = bool(start or end is not None)
        if length is None or not length.isdigit() or (resp.status == 206) != want_partial:
            resp.close()
            raise self._fail("GET: unexpected response framing")
        length = int(length)
        if end is not None and length != end - start:
            resp.close()
            raise self._fail(f"GET: node sent {length} bytes, asked for {end - start}")
        return length

    def head(self, blob_id: str) -> int:
        """The blob's size; BlobNotFound if absent."""
        path = f"/blobs/{blob_id}"
        resp = self._request("HEAD", path)
        self._finish(resp, f"HEAD {path}", (200,))
        length = resp.headers.get("content-length", "")
        if not length.isdigit():
            raise self._fail(f"HEAD {path}: no Content-Length")
        return int(length)

    def delete(self, blob_id: str, min_age: float | None = None) -> bool:
        """Delete the blob (fine if it is already gone). With ``min_age`` the node deletes
        it only if its copy was published at least ``min_age`` seconds ago by the node's
        own clock, atomically with respect to a concurrent PUT of the same id; returns
        False when the copy was too young (kept)."""
        path = f"/blobs/{blob_id}"
        if min_age is not None:
            path += "?" + urlencode({"min_age": repr(float(min_age))})
        resp = self._request("DELETE", path)
        if resp.status == 412:
            self._finish(resp, f"DELETE {path}", (412,))
            return False
        self._finish(resp, f"DELETE {path}", (204, 200, 404))
        return True

    def begin_delete_many(self, blob_ids: list[str]) -> Call:
        """Send one batch delete (at most DELETE_BATCH ids); ``end_delete_many`` reads it."""
        body = json.dumps({"ids": blob_ids}).encode()
        return self.call("POST", "/blobs/delete", body, {"Content-Type": "application/json"})

    def end_delete_many(self, call: Call) -> dict[str, bool] | None:
        """{blob_id: True if the node had it} for a ``begin_delete_many``; None if the node
        has no batch endpoint (404/405: a node older than this client)."""
        what = "POST /blobs/delete"
        resp = call.response()
        if resp.status in (404, 405):
            self._finish(resp, what, (404, 405))
            return None
        doc = self._parse_json(self._finish(resp, what, (200,)), what)
        deleted = doc.get("deleted")
        absent = doc.get("absent")
        if not isinstance(deleted, list) or not isinstance(absent, list):
            raise self._fail(f"{what}: bad JSON")
        return {**{b: False for b in absent}, **{b: True for b in deleted}}

    def begin_write_many(self, blobs: list[tuple[str, bytes]]) -> Call:
        """Send several small blobs in one ``POST /blobs/write`` (at most WRITE_BATCH, whose
        sizes add up to at most WRITE_BATCH_BYTES); ``end_write_many`` reads the answer."""
        names = ",".join(f"{blob_id}:{len(data)}" for blob_id, data in blobs)
        body = b"".join(data for _, data in blobs)
        return self.call("POST", "/blobs/write", body,
                         {"Content-Type": "application/octet-stream", "X-Blobs": names})

    def end_write_many(self, call: Call, blob_ids: list[str]) -> list[dict | BlobError] | None:
        """For a ``begin_write_many`` of ``blob_ids``: per blob, in order, the node's
        ``{"id", "size", "xxh3"}`` or the BlobError (NodeFull for 507) it answered for that
        blob. None if the node has no batch endpoint (404/405: older than this client)."""
        what = "POST /blobs/write"
        resp = call.response()
        if resp.status in (404, 405):
            self._finish(resp, what, (404, 405))
            return None
        doc = self._parse_json(self._finish(resp, what, (200,)), what)
        answers = doc.get("blobs")
        if (not isinstance(answers, list) or len(answers) != len(blob_ids)
                or any(not isinstance(a, dict) or a.get("id") != b for a, b in zip(answers, blob_ids))):
            raise self._fail(f"{what}: the answer does not match the blobs sent")
        out: list[dict | BlobError] = []
        for a in answers:
            status = a.get("status")
            if status is None:
                out.append(a)
            else:
                out.append(self._fail(f"{what}: {a.get('id')}: HTTP {status} {a.get('error', '')}",
                                      NodeFull if status == 507 else BlobError))
        return out

    def delete_many(self, blob_ids: Iterable[str]) -> dict[str, bool]:
        """Delete many blobs (idempotent), DELETE_BATCH per request; {blob_id: existed}.
        Falls back to one DELETE per blob on a node without the batch endpoint."""
        ids, result = list(blob_ids), {}
        for i in range(0, len(ids), DELETE_BATCH):
            batch = ids[i:i + DELETE_BATCH]
            done = self.end_delete_many(self.begin_delete_many(batch))
            if done is None:
                done = {b: self.delete(b) for b in batch}
            result.update(done)
        return result

    def inventory(self, after: str | None = None, limit: int = 1000) -> dict:
        """One page ``{"blobs": [{"id", "size", "mtime"}], "next": id | None}``."""
        fields = {"limit": str(limit)}
        if after:
            fields["after"] = after
        return self._json("GET", "/blobs?" + urlencode(fields), (200,))

    def iter_inventory(self, page: int = 1000) -> Iterator[tuple[dict, float]]:
        """Every stored blob as ``({"id", "size", "mtime"}, node_now)``, paging through
        ``inventory``; ``node_now`` is the node's clock when that page was listed."""
        after = None
        while True:
            doc = self.inventory(after, page)
            now = float(doc.get("now") or 0.0)
            for entry in doc["blobs"]:
                yield entry, now
            after = doc.get("next")
            if not after:
                return

    def verify(self, blob_id: str) -> dict:
        """Ask the node to re-check every block: ``{"id", "ok", "size"}``."""
        return self._json("POST", f"/blobs/{blob_id}/verify", (200,))

    def health(self, timeout: float | None = None) -> dict:
        """The node's /health document; BlobError if it does not answer."""
        return self._json("GET", "/health", (200,), timeout=timeout)


class _Body:
    """The body of a GET as an iterator of pieces; ``close()`` drops the connection if the
    body was not read to its end (it goes back to the pool if it was)."""

    def __init__(self, client: NodeClient, resp: _Response, expected: int):
        self._client = client
        self._resp = resp
        self._expected = expected
        self._received = 0
        if expected == 0:
            resp.release()

    def __iter__(self) -> _Body:
        return self

    def __next__(self) -> bytes:
        left = self._expected - self._received
        if left <= 0:
            self.close()
            raise StopIteration
        try:
            piece = self._resp.read(min(READ_CHUNK, left))
        except (_Garbage, OSError) as exc:
            self.close()
            raise self._client._fail(
                f"GET: stream broke after {self._received} bytes: {exc}") from exc
        if not piece:
            self.close()
            raise self._client._fail(f"GET: short body, {self._received} of "
                                     f"{self._expected} bytes")
        self._received += len(piece)
        if self._received == self._expected:
            self._resp.release()
        return piece

    def close(self) -> None:
        if self._received >= self._expected:
            self._resp.release()
        else:
            self._resp.close()
