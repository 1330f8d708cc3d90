"""A small threaded HTTP/1.1 server for the storage node's WSGI app.

Why not gunicorn: a node answers a handful of keep-alive connections from gateways, one
small request after another, and most of its time went to gunicorn's per-request machinery
(a thread-pool hand-off, an email-style header parser, a large environ, a status-line and
date formatter), about as much Python time as the file work itself. Here each connection
gets one thread that reads requests off a buffered socket and runs the app directly:

- request line and headers read with ``readline`` (limits: 8 KiB per line, 100 headers);
  bodies framed by Content-Length or ``Transfer-Encoding: chunked`` (both at once, or any
  other transfer coding, is 400); ``Expect: 100-continue`` answered on the first body read;
- answers framed by the app's Content-Length, else chunked (HTTP/1.1) or by closing; a small
  answer leaves in one ``sendall`` with its head;
- keep-alive unless the client or the app says ``Connection: close``; a request body the app
  left unread is drained when short (up to 1 MiB), else the connection is closed;
- an exception before the head is sent is a 500 with ``Connection: close``; after it, the
  connection is closed (the client sees a short body, never a wrong one);
- idle connections are closed after ``keepalive`` seconds, stalled reads and writes fail
  after ``timeout`` seconds;
- ``stop(grace)``: no new connections, idle ones closed at once, busy ones finish their
  request (up to ``grace`` seconds) and close.

Threads block in the kernel (socket reads, file writes, fsync) with the GIL released, which
is what a node does most of the time.
"""
from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from typing import Callable
from urllib.parse import unquote_to_bytes

from storage_node.reqbody import (
    MAX_HEADERS,
    MAX_LINE,
    READ_BUFFER,
    BadRequest,
    Body,
    ChunkedBody,
    Closed,
    LengthBody,
)

log = logging.getLogger("storage_node.server")

COALESCE = 64 * 1024        # answers up to this size go out with their head in one send
DRAIN_MAX = 1024 * 1024     # unread request bodies up to this size are drained (keep-alive)
_NO_BODY = frozenset((204, 304))
_REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Payload Too Large",
            414: "URI Too Long", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 501: "Not Implemented", 505: "HTTP Version Not Supported"}


# -- one connection ----------------------------------------------------------------------

class _Connection:
    """One client connection, served request after request by one thread."""

    def __init__(self, server: "Server", sock: socket.socket, addr):
        self.server = server
        self.sock = sock
        self.addr = addr
        self.busy = False
        self.rfile = sock.makefile("rb", READ_BUFFER)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def run(self) -> None:
        try:
            while not self.server.stopping:
                if not self._one_request():
                    break
        except (Closed, ConnectionError, TimeoutError, OSError):
            pass                                   # peer gone or stalled: just close
        except Exception:
            log.exception("connection from %s failed", self.addr)
        finally:
            self.close()

    def close(self) -> None:
        try:
            self.rfile.close()
        finally:
            self.sock.close()

    def _one_request(self) -> bool:
        """Serve one request; True to keep the connection for another."""
        self.sock.settimeout(self.server.keepalive)
        try:
            line = self.rfile.readline(MAX_LINE + 1)
        except (TimeoutError, OSError):
            return False                           # idle too long, or closed by stop()
        if not line:
            return False
        self.busy = True
        try:
            self.sock.settimeout(self.server.timeout)
            try:
                environ, body, keep = self._parse(line)
            except BadRequest as exc:
                self._send_error(exc.status, str(exc))
                return False
            return self._respond(environ, body, keep)
        finally:
            self.busy = False

    def _parse(self, line: bytes):
        if len(line) > MAX_LINE:
            raise BadRequest("request line too long", 414)
        if not line.endswith(b"\n"):
            raise Closed("request line cut short")
        parts = line.split()
        if len(parts) != 3:
            raise BadRequest("bad request line")
        method, target, version = parts
        if version not in (b"HTTP/1.1", b"HTTP/1.0"):
            raise BadRequest("unsupported HTTP version", 505)
        if not target.startswith(b"/"):
            raise BadRequest("bad request target")
        path, _, query = target.partition(b"?")
        environ = {
            "REQUEST_METHOD": method.decode("latin-1"),
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query.decode("latin-1"),
            "RAW_URI": target.decode("latin-1"),
            "SERVER_NAME": self.server.host,
            "SERVER_PORT": str(self.server.port),
            "SERVER_PROTOCOL": version.decode("latin-1"),
            "REMOTE_ADDR": self.addr[0] if isinstance(self.addr, tuple) else "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        conn_tokens = ""
        transfer = length = expect = None
        for _ in range(MAX_HEADERS + 1):
            h = self.rfile.readline(MAX_LINE + 1)
            if h in (b"\r\n", b"\n"):
                break
            if not h:
                raise Closed("headers cut short")
            if len(h) > MAX_LINE or not h.endswith(b"\n"):
                raise BadRequest("header line too long", 431)
            if h[:1] in (b" ", b"\t"):
                raise BadRequest("folded header line")
            name, sep, value = h.partition(b":")
            if not sep or not name or name != name.strip() or b"_" in name:
                raise BadRequest("bad header line")
            name_s = name.decode("latin-1").upper().replace("-", "_")
            value_s = value.strip().decode("latin-1")
            if name_s == "CONTENT_LENGTH":
                if length is not None and length != value_s:
                    raise BadRequest("conflicting Content-Length")
                length = value_s
                environ["CONTENT_LENGTH"] = value_s
                continue
            if name_s == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value_s
                continue
            if name_s == "TRANSFER_ENCODING":
                transfer = value_s.lower()
            elif name_s == "CONNECTION":
                conn_tokens = value_s.lower()
            elif name_s == "EXPECT":
                expect = value_s.lower()
            key = "HTTP_" + name_s
            environ[key] = f"{environ[key]},{value_s}" if key in environ else value_s
        else:
            raise BadRequest("too many header lines", 431)

        if transfer is not None:
            if transfer != "chunked" or length is not None:
                raise BadRequest("unsupported Transfer-Encoding")
            body: Body = ChunkedBody(self.rfile, self)
        else:
            if length is not None and (not length.isdigit() or len(length) > 19):
                raise BadRequest("bad Content-Length")
            body = LengthBody(self.rfile, self, int(length) if length else 0)
        if expect == "100-continue" and version == b"HTTP/1.1":
            body.expect_continue = True
        environ["wsgi.input"] = body
        environ["wsgi.input_terminated"] = True
        if version == b"HTTP/1.1":
            keep = "close" not in conn_tokens
        else:
            keep = "keep-alive" in conn_tokens
        return environ, body, keep

    def _respond(self, environ: dict, body: Body, keep: bool) -> bool:
        state: dict = {}
        version = environ["SERVER_PROTOCOL"]
        head_only = environ["REQUEST_METHOD"] == "HEAD"

        def start_response(status: str, headers: list, exc_info=None):
            if exc_info and state.get("sent"):
                raise exc_info[1].with_traceback(exc_info[2])
            state["status"], state["headers"] = status, headers
            return _no_write

        try:
            result = self.server.app(environ, start_response)
        except BadRequest as exc:                 # from the body reader, not handled by the app
            self._send_error(exc.status, str(exc))
            return False
        except (Closed, ConnectionError, TimeoutError):
            return False
        except Exception:
            log.exception("%s %s failed", environ["REQUEST_METHOD"], environ["PATH_INFO"])
            self._send_error(500, "internal error")
            return False
        sent = 0
        try:
            status = state["status"]
            code = int(status[:3])
            length = None
            lines = [f"{version} {status}\r\n"]
            for name, value in state["headers"]:
                low = name.lower()
                if low == "content-length":
                    length = int(value)
                    continue
                if low == "connection":
                    if "close" in value.lower():
                        keep = False
                    continue
                elif low == "transfer-encoding":
                    continue
                lines.append(f"{name}: {value}\r\n")
            no_body = head_only or code in _NO_BODY or 100 <= code < 200
            chunked = False
            if not no_body and length is None:
                if version == "HTTP/1.1":
                    chunked = True
                    lines.append("Transfer-Encoding: chunked\r\n")
                else:
                    keep = False
            if length is not None and code not in _NO_BODY:
                lines.append(f"Content-Length: {length}\r\n")
            if keep and not body.finished:
                keep = self._drain(body)
            if self.server.stopping:
                keep = False
            lines.append("Connection: keep-alive\r\n\r\n" if keep else "Connection: close\r\n\r\n")
            head = "".join(lines).encode("latin-1")
            state["sent"] = True
            if no_body:
                self.send(head)
                return keep
            pending = head
            for piece in result:
                if not piece:
                    continue
                if length is not None:
                    if sent + len(piece) > length:
                        piece = piece[:length - sent]
                        keep = False
                    sent += len(piece)
                elif chunked:
                    piece = b"%x\r\n%s\r\n" % (len(piece), piece)
                if pending is not None:
                    if len(piece) <= COALESCE:
                        self.send(pending + piece)
                    else:
                        self.send(pending)
                        self.send(piece)
                    pending = None
                else:
                    self.send(piece)
                if length is not None and sent >= length:
                    break
            tail = b"0\r\n\r\n" if chunked else b""
            if pending is not None:
                self.send(pending + tail)
            elif tail:
                self.send(tail)
            if length is not None and sent < length:
                return False                      # the app yielded too little: close
            return keep
        except (ConnectionError, TimeoutError, OSError, Closed):
            return False
        except Exception:
            log.exception("%s %s failed", environ["REQUEST_METHOD"], environ["PATH_INFO"])
            if not state.get("sent"):
                self._send_error(500, "internal error")
            return False
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("closing the answer of %s failed", environ["PATH_INFO"])

    @staticmethod
    def _drain(body: Body) -> bool:
        """Before answering: drop what is left of the request body if it is short."""
        try:
            return body.drain(DRAIN_MAX)
        except (BadRequest, Closed, OSError):
            return False

    def _send_error(self, status: int, message: str) -> None:
        data = message.encode("utf-8", "replace")
        head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode("latin-1")
        try:
            self.send(head + data)
        except OSError:
            pass


def _no_write(data: bytes) -> None:
    raise NotImplementedError("the write() callable is not supported; return an iterable")


# -- the server ----------------------------------------------------------------------------

class Server:
    """Serve ``app`` on ``host:port``: ``start()`` binds, ``serve()`` runs the accept loop in
    the calling thread until ``stop()``."""

    def __init__(self, app: Callable, host: str, port: int, *, keepalive: float = 30.0,
                 timeout: float = 60.0, max_connections: int = 1024, backlog: int = 512):
        self.app = app
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self.timeout = timeout
        self.backlog = backlog
        self.stopping = False
        self._slots = threading.BoundedSemaphore(max_connections)
        self._conns: set[_Connection] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._wake_r = self._wake_w = None

    def start(self) -> None:
        """Bind and listen (port 0 picks a free port, read back into ``port``)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(self.backlog)
        self.port = s.getsockname()[1]
        self._listener = s
        self._wake_r, self._wake_w = socket.socketpair()

    def serve(self) -> None:
        """Accept connections until ``stop()``; each gets its own thread."""
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self.stopping:
                if not self._slots.acquire(timeout=1.0):
                    continue
                ready = [key.fileobj for key, _ in sel.select()]
                if self.stopping or self._listener not in ready:
                    self._slots.release()
                    continue
                try:
                    sock, addr = self._listener.accept()
                except OSError as exc:             # EMFILE and the like: back off, retry
                    self._slots.release()
                    log.warning("accept failed: %s", exc)
                    time.sleep(0.05)
                    continue
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = _Connection(self, sock, addr)
                with self._lock:
                    self._conns.add(conn)
                threading.Thread(target=self._run, args=(conn,), daemon=True,
                                 name=f"conn-{addr[1] if isinstance(addr, tuple) else ''}").start()
        finally:
            sel.close()
            self._listener.close()

    def _run(self, conn: _Connection) -> None:
        try:
            conn.run()
        finally:
            with self._lock:
                self._conns.discard(conn)
            self._slots.release()

    def stop(self) -> None:
        """Stop accepting and close idle connections (safe to call from a signal handler)."""
        self.stopping = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._close_idle()

    def _close_idle(self) -> None:
        for conn in list(self._conns):
            if not conn.busy:
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def wait(self, grace: float) -> bool:
        """After ``stop()``: wait up to ``grace`` seconds for busy connections; True if all
        ended."""
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with self._lock:
                if not self._conns:
                    return True
            self._close_idle()
            time.sleep(0.01)
        return False


__all__ = ["Server", "BadRequest"]
