"""gunicorn_http: a small response goes out as one send() of head and body (gunicorn's real
Response class, a socket that records what it is given)."""
from __future__ import annotations

import email.utils
import time
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
import gunicorn.http.wsgi as gunicorn_wsgi
from gunicorn.http.wsgi import Response

from s3server import gunicorn_http

gunicorn_http.install()


class RecordingSocket:
    """Records each send()/sendall() as one piece; ``take`` caps what one send() accepts (a
    full socket buffer)."""

    def __init__(self, take: int = 1 << 30):
        self.sent: list[bytes] = []
        self.take = take

    def send(self, data):
        self.sent.append(bytes(data[:self.take]))
        return min(len(data), self.take)

    def sendall(self, data):
        self.sent.append(bytes(data))


def respond(method: str, status: str, headers: list[tuple[str, str]], body: list[bytes], take: int = 1 << 30):
    req = SimpleNamespace(method=method, version=(1, 1), should_close=lambda: False)
    sock = RecordingSocket(take)
    resp = Response(req, sock, Config())
    resp.start_response(status, headers)
    for piece in body:
        resp.write(piece)
    resp.close()
    return sock.sent


def test_a_small_body_goes_out_with_its_head():
    xml = b"<CompleteMultipartUploadResult><ETag>&quot;x-2&quot;</ETag></CompleteMultipartUploadResult>"
    sent = respond("POST", "200 OK", [("Content-Type", "application/xml"),
                                      ("Content-Length", str(len(xml)))], [xml])
    assert len(sent) == 1
    head, _, body = sent[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"Content-Length: %d" % len(xml) in head
    assert body == xml


def test_large_and_later_pieces_keep_gunicorns_path():
    big = b"x" * (gunicorn_http.COALESCE_BODY + 1)
    sent = respond("GET", "200 OK", [("Content-Length", str(len(big)))], [big])
    assert len(sent) == 2 and sent[1] == big                   # head, then the body
    pieces = [b"a" * 10, b"b" * 10]
    sent = respond("GET", "200 OK", [("Content-Length", "20")], pieces)
    assert sent[0].endswith(b"\r\n\r\n" + pieces[0]) and sent[1:] == [pieces[1]]


@pytest.mark.parametrize("method,status", [("HEAD", "200 OK"), ("GET", "204 No Content"),
                                           ("GET", "304 Not Modified")])
def test_no_body_responses_send_only_the_head(method, status):
    sent = respond(method, status, [("Content-Length", "5")] if method == "HEAD" else [], [b""])
    assert len(sent) == 1 and sent[0].endswith(b"\r\n\r\n")


def test_chunked_responses_are_framed_by_gunicorn():
    sent = respond("GET", "200 OK", [], [b"hello"])                # no length: chunked
    joined = b"".join(sent)
    assert b"Transfer-Encoding: chunked" in joined and b"5\r\nhello\r\n" in joined


def test_a_partial_send_is_completed_in_order():
    body = b"0123456789" * 100
    sent = respond("GET", "200 OK", [("Content-Length", str(len(body)))], [body], take=50)
    assert len(sent[0]) == 50 and len(sent) == 2          # what send() took, then sendall the rest
    head, _, rest = b"".join(sent).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and rest == body


def test_the_date_header_is_an_http_date_of_now():
    sent = respond("HEAD", "200 OK", [("Content-Length", "0")], [b""])
    date = next(line for line in sent[0].split(b"\r\n") if line.startswith(b"Date: "))[6:].decode()
    assert date == email.utils.formatdate(usegmt=True) or \
        abs(email.utils.parsedate_to_datetime(date).timestamp() - time.time()) < 2
    assert gunicorn_http._http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert gunicorn_http._http_date(1445412480) == email.utils.formatdate(1445412480, usegmt=True)


def test_environ_bases_are_copies():
    cfg = Config()
    first, second = gunicorn_wsgi.base_environ(cfg), gunicorn_wsgi.base_environ(cfg)
    assert first == second and first is not second
    first["REQUEST_METHOD"] = "PUT"
    assert "REQUEST_METHOD" not in gunicorn_wsgi.base_environ(cfg)
    assert isinstance(first["wsgi.errors"], gunicorn_wsgi.WSGIErrorsWrapper)


def test_install_is_idempotent():
    write = Response.write
    gunicorn_http.install()
    assert Response.write is write and getattr(write, "_s3server", False)
