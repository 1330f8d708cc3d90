"""storage_node.server: the storage node's HTTP/1.1 server, over real sockets.

Framing and error cases run the server in-process with small WSGI apps (so each case can be
provoked exactly); keep-alive, 100-continue and shutdown run against a real node process.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time

import pytest

from storage_node.server import Server
from tests.unit.test_storage_node import NodeProcess


def echo_app(environ, start_response):
    """Answers with the method, path, query and the request body it read."""
    body = environ["wsgi.input"].read()
    out = b"%s %s ?%s len=%d\n%s" % (environ["REQUEST_METHOD"].encode(), environ["PATH_INFO"].encode("latin-1"),
                                      environ["QUERY_STRING"].encode(), len(body), body)
    if environ["PATH_INFO"] == "/nolength":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [out[:5], out[5:]]
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("the app failed")
    if environ["PATH_INFO"] == "/midway":
        start_response("200 OK", [("Content-Length", "100")])

        def gen():
            yield b"x" * 10
            raise RuntimeError("failed mid-answer")
        return gen()
    if environ["PATH_INFO"] == "/short":
        start_response("200 OK", [("Content-Length", "100")])
        return [b"x" * 10]
    if environ["PATH_INFO"] == "/close":
        start_response("200 OK", [("Content-Length", str(len(out))), ("Connection", "close")])
        return [out]
    if environ["PATH_INFO"] == "/ignore-body":
        start_response("204 No Content", [])
        return []
    start_response("200 OK", [("Content-Length", str(len(out)))])
    return [out]


def ignore_body_app(environ, start_response):
    start_response("404 Not Found", [("Content-Length", "2")])
    return [b"no"]


@contextlib.contextmanager
def running(app, **kw):
    """A Server for ``app`` on a free port, serving from a thread until the block ends."""
    srv = Server(app, "127.0.0.1", 0, **kw)
    srv.start()
    t = threading.Thread(target=srv.serve, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.stop()
        t.join(5)


@pytest.fixture
def server():
    with running(echo_app, keepalive=5.0, timeout=5.0) as srv:
        yield srv
    assert srv.wait(5)


class Raw:
    """A raw HTTP/1.1 client connection: send bytes, read one answer."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.rfile = self.sock.makefile("rb")

    def send(self, data: bytes) -> "Raw":
        self.sock.sendall(data)
        return self

    def answer(self, head_only: bool = False) -> tuple[int, dict, bytes]:
        line = self.rfile.readline()
        assert line.startswith(b"HTTP/1."), line
        status = int(line.split()[1])
        headers = {}
        while True:
            h = self.rfile.readline()
            if h in (b"\r\n", b""):
                break
            k, _, v = h.decode().partition(":")
            headers[k.strip().lower()] = v.strip()
        if head_only or status in (100, 204, 304):
            return status, headers, b""
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    assert self.rfile.readline() == b"\r\n"
                    break
                body += self.rfile.read(size)
                assert self.rfile.read(2) == b"\r\n"
            return status, headers, body
        if "content-length" in headers:
            return status, headers, self.rfile.read(int(headers["content-length"]))
        return status, headers, self.rfile.read()

    def closed_by_peer(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.rfile.close()
        self.sock.close()


def test_keep_alive_serves_many_requests_on_one_connection(server):
    c = Raw(server.port)
    for i in range(5):
        status, headers, body = c.send(b"PUT /p/%d?q=%d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" % (i, i)).answer()
        assert status == 200 and headers["connection"] == "keep-alive"
        assert body == b"PUT /p/%d ?q=%d len=3\nabc" % (i, i)
    c.close()


def test_pipelined_requests_are_answered_in_order(server):
    c = Raw(server.port)
    c.send(b"GET /a HTTP/1.1\r\n\r\nPUT /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\n\r\n")
    assert [c.answer()[2].split(b"\n")[0] for _ in range(3)] == [b"GET /a ? len=0", b"PUT /b ? len=2", b"GET /c ? len=0"]
    c.close()


def test_http10_closes_after_the_answer(server):
    c = Raw(server.port)
    status, headers, body = c.send(b"GET /x HTTP/1.0\r\n\r\n").answer()
    assert status == 200 and headers["connection"] == "close"
    assert c.closed_by_peer()


def test_chunked_request_with_extensions_and_trailers(server):
    c = Raw(server.port)
    c.send(b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"3;ext=1\r\nabc\r\n5\r\ndefgh\r\n0\r\nX-Trailer: 1\r\n\r\n")
    status, _, body = c.answer()
    assert status == 200 and body.endswith(b"len=8\nabcdefgh")
    # the connection is still in step: a second request works
    assert c.send(b"GET /after HTTP/1.1\r\n\r\n").answer()[0] == 200
    c.close()


def test_answer_without_length_is_chunked(server):
    c = Raw(server.port)
    status, headers, body = c.send(b"GET /nolength HTTP/1.1\r\n\r\n").answer()
    assert status == 200 and headers["transfer-encoding"] == "chunked"
    assert body == b"GET /nolength ? len=0\n"
    assert c.send(b"GET /again HTTP/1.1\r\n\r\n").answer()[0] == 200


def test_head_answer_has_no_body(server):
    c = Raw(server.port)
    status, headers, body = c.send(b"HEAD /h HTTP/1.1\r\n\r\n").answer(head_only=True)
    assert status == 200 and int(headers["content-length"]) > 0
    status, _, body = c.send(b"GET /next HTTP/1.1\r\n\r\n").answer()
    assert status == 200 and body.startswith(b"GET /next")   # no stray HEAD body in between


def test_expect_100_continue(server):
    c = Raw(server.port)
    c.send(b"PUT /e HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    status, _, _ = c.answer()
    assert status == 100
    status, _, body = c.send(b"body").answer()
    assert status == 200 and body.endswith(b"len=4\nbody")


@pytest.mark.parametrize("request_bytes, status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /x HTTP/2.0\r\n\r\n", 505),
    (b"GET x HTTP/1.1\r\n\r\n", 400),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET /x HTTP/1.1\r\nX: " + b"v" * 9000 + b"\r\n\r\n", 431),
    (b"GET /x HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n", 431),
    (b"PUT /x HTTP/1.1\r\nContent-Length: 12a\r\n\r\n", 400),
    (b"PUT /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    (b"PUT /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    (b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc", 400),
    (b"GET /x HTTP/1.1\r\nBad Header\r\n\r\n", 400),
    (b"GET /x HTTP/1.1\r\n folded: yes\r\n\r\n", 400),
    (b"GET /x HTTP/1.1\r\nX_Under: 1\r\n\r\n", 400),
])
def test_malformed_requests_get_an_error_and_a_close(server, request_bytes, status):
    c = Raw(server.port)
    got, headers, _ = c.send(request_bytes).answer()
    assert got == status and headers["connection"] == "close"
    assert c.closed_by_peer()


def test_bad_chunk_size_closes_the_connection(server):
    c = Raw(server.port)
    c.send(b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
    status, headers, _ = c.answer()
    assert status == 400 and headers["connection"] == "close"
    assert c.closed_by_peer()


def test_app_exception_before_the_head_is_a_500(server):
    c = Raw(server.port)
    status, headers, _ = c.send(b"GET /boom HTTP/1.1\r\n\r\n").answer()
    assert status == 500 and headers["connection"] == "close"
    assert c.closed_by_peer()
    # the server itself is fine
    assert Raw(server.port).send(b"GET /ok HTTP/1.1\r\n\r\n").answer()[0] == 200


@pytest.mark.parametrize("path", [b"/midway", b"/short"])
def test_a_short_answer_ends_the_connection(server, path):
    c = Raw(server.port)
    c.send(b"GET %s HTTP/1.1\r\n\r\n" % path)
    line = c.rfile.readline()
    assert line.startswith(b"HTTP/1.1 200")
    while c.rfile.readline() != b"\r\n":
        pass
    got = c.rfile.read()                   # to EOF: the server closes instead of hanging
    assert got == b"x" * 10


def test_app_asked_close_is_honoured(server):
    c = Raw(server.port)
    status, headers, _ = c.send(b"GET /close HTTP/1.1\r\n\r\n").answer()
    assert status == 200 and headers["connection"] == "close"
    assert c.closed_by_peer()


def test_unread_short_body_is_drained_and_the_connection_kept():
    with running(ignore_body_app) as srv:
        c = Raw(srv.port)
        status, headers, _ = c.send(b"PUT /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").answer()
        assert status == 404 and headers["connection"] == "keep-alive"
        assert c.send(b"GET /y HTTP/1.1\r\n\r\n").answer()[0] == 404
        # a body too long to drain: answered, then closed (the rest is never read)
        big = 2 * 1024 * 1024
        c.send(b"PUT /x HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % big + b"z" * 65536)
        status, headers, _ = c.answer()
        assert status == 404 and headers["connection"] == "close"
        c.close()


def test_idle_connections_time_out():
    with running(echo_app, keepalive=0.3) as srv:
        c = Raw(srv.port)
        assert c.send(b"GET /x HTTP/1.1\r\n\r\n").answer()[0] == 200
        t0 = time.monotonic()
        assert c.closed_by_peer()
        assert time.monotonic() - t0 < 3


def test_node_process_stops_gracefully_finishing_an_upload(tmp_path):
    """SIGTERM while a PUT is half sent: the upload completes and is stored, idle connections
    are closed at once, the process exits 0."""
    (tmp_path / "n").mkdir()
    node = NodeProcess(tmp_path / "n", "n0").wait_ready()
    try:
        idle = Raw(node.port)
        assert idle.send(b"GET /health HTTP/1.1\r\n\r\n").answer()[0] == 200
        up = Raw(node.port)
        blob = "ab" * 16
        data = os.urandom(300_000)
        up.send(b"PUT /blobs/%s HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (blob.encode(), len(data)) + data[:1000])
        time.sleep(0.3)                          # the node is now inside the request
        node.proc.send_signal(signal.SIGTERM)
        assert idle.closed_by_peer()             # idle: closed promptly
        time.sleep(0.3)
        assert node.proc.poll() is None          # still finishing the upload
        up.send(data[1000:])
        status, headers, body = up.answer()
        assert status == 201 and headers["connection"] == "close"
        assert node.proc.wait(10) == 0
        assert node.blob_path(blob).exists()
    finally:
        node.stop()


def test_node_process_sigint_exits_quickly(tmp_path):
    (tmp_path / "n").mkdir()
    node = NodeProcess(tmp_path / "n", "n0").wait_ready()
    try:
        c = Raw(node.port)
        assert c.send(b"GET /health HTTP/1.1\r\n\r\n").answer()[0] == 200
        t0 = time.monotonic()
        node.proc.send_signal(signal.SIGINT)
        assert node.proc.wait(5) == 0
        assert time.monotonic() - t0 < 3
    finally:
        node.stop()


def test_node_refuses_a_second_listener_on_its_port(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = NodeProcess(tmp_path / "a", "a").wait_ready()
    try:
        second = NodeProcess(tmp_path / "b", "b", port=first.port)
        assert second.proc.wait(10) == 1
        assert "cannot listen" in second.log_text()
        second.log.close()
    finally:
        first.stop()


def test_read_n_returns_n_bytes_even_when_they_arrive_in_parts():
    """wsgi.input.read(n) returns n bytes unless the body ends (falcon's bounded_stream and
    json.loads(stream.read(length)) rely on it), Content-Length and chunked bodies alike."""
    def app(environ, start_response):
        got = environ["wsgi.input"].read(200_000)
        rest = environ["wsgi.input"].read()
        out = b"%d %d" % (len(got), len(rest))
        start_response("200 OK", [("Content-Length", str(len(out)))])
        return [out]

    with running(app) as srv:
        c = Raw(srv.port)
        c.send(b"PUT /x HTTP/1.1\r\nContent-Length: 250000\r\n\r\n" + b"a" * 70_000)
        time.sleep(0.2)
        c.send(b"b" * 180_000)
        assert c.answer()[2] == b"200000 50000"
        c.send(b"PUT /y HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        for size in (70_000, 90_000, 90_000):
            c.send(b"%x\r\n" % size + b"c" * size + b"\r\n")
            time.sleep(0.05)
        c.send(b"0\r\n\r\n")
        assert c.answer()[2] == b"200000 50000"
        c.close()
