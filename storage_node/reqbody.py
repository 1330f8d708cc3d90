"""Request bodies of the storage node's HTTP/1.1 server (server.py), as the WSGI app's
``wsgi.input``: framed by Content-Length or ``Transfer-Encoding: chunked``, never read past their
end, ``Expect: 100-continue`` answered on the first read; the line and header limits."""
from __future__ import annotations

from typing import Protocol

MAX_LINE = 8192
MAX_HEADERS = 100
READ_BUFFER = 64 * 1024
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class BadRequest(Exception):
    """The request cannot be parsed; answered with ``status`` and the connection closed."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class Closed(Exception):
    """The peer went away (EOF or reset) where a request or its body was expected."""


class _Connection(Protocol):
    """What a body needs of its connection: a way to send the interim 100 Continue."""

    def send(self, data: bytes) -> None: ...


class Body:
    """wsgi.input: reads the request body and nothing past it."""

    def __init__(self, rfile, conn: "_Connection"):
        self._rfile = rfile
        self._conn = conn
        self.expect_continue = False

    def _before_read(self) -> None:
        if self.expect_continue:
            self.expect_continue = False
            self._conn.send(_CONTINUE)

    @property
    def finished(self) -> bool:
        raise NotImplementedError

    def read(self, size: int = -1) -> bytes:
        """``size`` bytes, fewer only where the body ends (as a file's read; falcon and
        json.loads(stream.read(n)) rely on it); everything left when ``size`` is negative or
        None."""
        if size is None or size < 0:
            size = -1
        parts, got = [], 0
        while size < 0 or got < size:
            piece = self.read_some(READ_BUFFER * 4 if size < 0 else size - got)
            if not piece:
                break
            parts.append(piece)
            got += len(piece)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read_some(self, size: int) -> bytes:
        """Up to ``size`` bytes, at least one unless the body ended (b"")."""
        raise NotImplementedError

    def readline(self, size: int = -1) -> bytes:     # WSGI requires it; nodes never call it
        out = bytearray()
        while size < 0 or len(out) < size:
            c = self.read(1)
            if not c:
                break
            out += c
            if c == b"\n":
                break
        return bytes(out)

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def drain(self, limit: int) -> bool:
        """Read and drop the rest of the body, up to ``limit`` bytes; True if it ended."""
        seen = 0
        while seen <= limit:
            piece = self.read_some(min(READ_BUFFER, limit + 1 - seen))
            if not piece:
                return True
            seen += len(piece)
        return False


class LengthBody(Body):
    def __init__(self, rfile, conn: "_Connection", length: int):
        super().__init__(rfile, conn)
        self.left = length

    @property
    def finished(self) -> bool:
        return self.left == 0

    def drain(self, limit: int) -> bool:
        return self.left <= limit and super().drain(limit)

    def read_some(self, size: int) -> bytes:
        if self.left <= 0:
            return b""
        self._before_read()
        want = min(size, self.left)
        # read1: what has arrived (one recv at most when the buffer is empty); read() loops
        piece = self._rfile.read1(want)
        if not piece:
            raise Closed(f"request body ended {self.left} bytes short")
        self.left -= len(piece)
        return piece


class ChunkedBody(Body):
    def __init__(self, rfile, conn: "_Connection"):
        super().__init__(rfile, conn)
        self._left_in_chunk = 0
        self._done = False

    @property
    def finished(self) -> bool:
        return self._done

    def read_some(self, size: int) -> bytes:
        if self._done:
            return b""
        self._before_read()
        if self._left_in_chunk == 0:
            self._left_in_chunk = self._chunk_size()
            if self._left_in_chunk == 0:
                self._trailers()
                self._done = True
                return b""
        want = min(size, self._left_in_chunk)
        piece = self._rfile.read(want) if want <= READ_BUFFER else self._rfile.read1(want)
        if not piece:
            raise Closed("chunked request body ended early")
        self._left_in_chunk -= len(piece)
        if self._left_in_chunk == 0 and self._rfile.readline(3) not in (b"\r\n", b"\n"):
            raise BadRequest("chunk not followed by CRLF")
        return piece

    def _chunk_size(self) -> int:
        line = self._rfile.readline(MAX_LINE + 1)
        if not line:
            raise Closed("chunked request body ended early")
        if len(line) > MAX_LINE or not line.endswith(b"\n"):
            raise BadRequest("chunk size line too long")
        size = line.split(b";", 1)[0].strip()
        if not size or len(size) > 16 or any(c not in b"0123456789abcdefABCDEF" for c in size):
            raise BadRequest("bad chunk size")
        return int(size, 16)

    def _trailers(self) -> None:
        for _ in range(MAX_HEADERS + 1):
            line = self._rfile.readline(MAX_LINE + 1)
            if not line:
                raise Closed("chunked request body ended in its trailers")
            if line in (b"\r\n", b"\n"):
                return
        raise BadRequest("too many trailer lines")
