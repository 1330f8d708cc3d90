"""The bench's lean client (``s3server.bench.client.Conn``) against a scripted HTTP server on a
real socket: every way an answer can be framed, and every way it can go wrong, is read right
or raised, never returned short."""
from __future__ import annotations

import socket
import threading

import pytest

from s3server.bench.client import BadAnswer, Conn, Endpoint


class ScriptedServer:
    """Answers the n-th request with ``answers[n]`` (raw bytes); after an answer whose entry is
    a tuple ``(bytes, "close")`` it closes that connection. Records each request and the
    connection it came on."""

    def __init__(self, answers: list):
        self.answers = list(answers)
        self.requests: list[tuple[int, bytes, bytes]] = []    # (connection no., head, body)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(sock, self.connections), daemon=True).start()

    def _serve(self, sock: socket.socket, no: int) -> None:
        rfile = sock.makefile("rb")
        with sock, rfile:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = rfile.readline()
                    if not line:
                        return
                    head += line
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = rfile.read(length)
                self.requests.append((no, head, body))
                answer = self.answers.pop(0)
                close = isinstance(answer, tuple)
                sock.sendall(answer[0] if close else answer)
                if close:
                    return

    def endpoint(self) -> Endpoint:
        return Endpoint(f"http://127.0.0.1:{self.port}", "AK", "SK")

    def stop(self) -> None:
        self.listener.close()


@pytest.fixture
def serve():
    servers = []

    def make(*answers):
        s = ScriptedServer(list(answers))
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.stop()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


def test_content_length_and_keep_alive(serve):
    srv = serve(OK, b"HTTP/1.1 204 No Content\r\n\r\n", OK)
    c = Conn(srv.endpoint(), timeout=5)
    assert c.request("GET", "/a?x=1") == (200, {b"content-length": b"5"}, b"hello")
    assert c.request("DELETE", "/a")[0::2] == (204, b"")
    status, _, data = c.request("PUT", "/b", body=b"12345", headers={"Content-Type": "text/plain"})
    assert (status, data) == (200, b"hello")
    assert srv.connections == 1
    head, body = srv.requests[2][1:]
    assert head.startswith(b"PUT /b HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % srv.port)
    assert b"Content-Type: text/plain\r\n" in head and b"Content-Length: 5\r\n" in head
    assert body == b"12345"
    assert srv.requests[0][1].startswith(b"GET /a?x=1 HTTP/1.1\r\n")
    assert b"content-length" not in srv.requests[0][1].lower()     # a bodyless GET says none
    c.close()


def test_head_answer_has_no_body_even_with_a_length(serve):
    srv = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\nETag: \"x\"\r\n\r\n", OK)
    c = Conn(srv.endpoint(), timeout=5)
    status, headers, data = c.request("HEAD", "/k")
    assert (status, data, headers[b"etag"]) == (200, b"", b'"x"')
    assert c.request("GET", "/k")[2] == b"hello"                  # the connection stayed in step
    assert srv.connections == 1


def test_chunked_answer_with_trailers(serve):
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
    srv = serve(chunked, OK)
    c = Conn(srv.endpoint(), timeout=5)
    assert c.request("GET", "/")[2] == b"hello world"
    assert c.request("GET", "/")[2] == b"hello"
    assert srv.connections == 1


def test_interim_answer_is_skipped(serve):
    srv = serve(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)
    assert Conn(srv.endpoint(), timeout=5).request("PUT", "/k", body=b"x")[0::2] == (200, b"hello")


def test_close_framed_and_http10_answers_reconnect(serve):
    srv = serve((b"HTTP/1.0 200 OK\r\n\r\nuntil close", "close"),
                b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
                (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi", "close"),
                OK)
    c = Conn(srv.endpoint(), timeout=5)
    assert c.request("GET", "/1")[2] == b"until close"
    assert c.request("GET", "/2")[2] == b"ok"        # HTTP/1.0 without keep-alive: closed after
    assert c.request("GET", "/3")[2] == b"hi"
    assert c.request("GET", "/4")[2] == b"hello"
    assert srv.connections == 4


def test_idle_connection_closed_by_server_is_retried_once(serve):
    srv = serve((OK, "close"), OK)
    c = Conn(srv.endpoint(), timeout=5)
    assert c.request("GET", "/1")[2] == b"hello"
    assert c.request("PUT", "/2", body=b"abc")[2] == b"hello"      # sent again on a new connection
    assert srv.connections == 2
    assert srv.requests[1][2] == b"abc"


def test_fresh_connection_closed_without_answer_is_an_error(serve):
    srv = serve((b"", "close"))
    c = Conn(srv.endpoint(), timeout=5)
    with pytest.raises(ConnectionResetError):
        c.request("GET", "/")
    assert srv.connections == 1                                     # not retried: it was new


@pytest.mark.parametrize("answer, message", [
    ((b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd", "close"), "ended after 4 of 10"),
    ((b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "close"), "ended early"),
    ((b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "close"), "chunk size"),
    ((b"SSH-2.0-OpenSSH\r\n\r\n", "close"), "status line"),
    ((b"HTTP/1.1 2x0 OK\r\n\r\n", "close"), "status line"),
    ((b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "close"), "header line"),
    ((b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n", "close"), "Content-Length"),
])
def test_bad_or_short_answers_raise(serve, answer, message):
    srv = serve(answer, OK)
    c = Conn(srv.endpoint(), timeout=5)
    with pytest.raises(BadAnswer, match=message):
        c.request("GET", "/")
    assert c.sock is None                                           # dropped, never reused
    assert c.request("GET", "/")[2] == b"hello"                     # the next request reconnects
