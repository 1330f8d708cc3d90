"""A client that stops sending in the middle of a body: after ``S3_BODY_IDLE_TIMEOUT`` seconds
without data the gateway answers 400 RequestTimeout (S3 and REST alike), closes the connection,
stores nothing and leaves no temp file on the nodes. Before, the upload held its greenlet and
its storage-node connections until TCP gave up. A slow client that keeps sending is not cut off:
the limit is per read, not per request. The same for a client that stops *reading* a large GET:
the connection is cut once a send has waited that long; a slow steady reader gets everything."""
from __future__ import annotations

import os
import socket
import time
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ADMIN_API, ServeProcess

IDLE = 1.0


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    s = ServeProcess(tmp_path_factory.mktemp("stall") / "data",
                     env={"S3_BODY_IDLE_TIMEOUT": str(IDLE), "S3_FSYNC": "0", "S3_REPAIR_INTERVAL": "0"}).start()
    s.client().create_bucket(Bucket="stall")
    yield s
    s.stop()


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=15)


def _request_head(method: str, url: str, headers: dict) -> bytes:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", *[f"{k}: {v}" for k, v in headers.items()]]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (the test fails if it never does)."""
    out = b""
    while True:
        data = sock.recv(65536)
        if not data:
            return out
        out += data


def _no_temp_files(s: ServeProcess) -> bool:
    return not any(f for d in s.data_dir.glob("node-*/tmp") for f in d.iterdir())


@pytest.mark.parametrize("sent, declared", [(100, 1000), (5 * 2**20, 20 * 2**20)])
def test_stalled_put_is_request_timeout_and_stores_nothing(served, sent, declared):
    key = f"stalled-{declared}"
    url = served.client().generate_presigned_url("put_object", Params={"Bucket": "stall", "Key": key})
    with _connect(url) as sock:
        sock.sendall(_request_head("PUT", url, {"Content-Length": declared}) + b"x" * sent)
        started = time.monotonic()
        answer = _read_all(sock)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert b"<Code>RequestTimeout</Code>" in answer
    assert IDLE * 0.9 <= waited < IDLE + 10
    with pytest.raises(ClientError) as e:
        served.client().head_object(Bucket="stall", Key=key)
    assert e.value.response["Error"]["Code"] == "404"
    deadline = time.monotonic() + 10
    while not _no_temp_files(served) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _no_temp_files(served)


def test_stalled_chunked_put(served):
    url = served.client().generate_presigned_url("put_object", Params={"Bucket": "stall", "Key": "chunked"})
    with _connect(url) as sock:
        sock.sendall(_request_head("PUT", url, {"Transfer-Encoding": "chunked"}) + b"a\r\n0123456789\r\n")
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400 ") and b"<Code>RequestTimeout</Code>" in answer, answer[:300]
    with pytest.raises(ClientError):
        served.client().head_object(Bucket="stall", Key="chunked")


def test_stalled_rest_upload(served):
    url = f"{served.endpoint}/buckets/stall/objects/rest-stalled"
    with _connect(url) as sock:
        sock.sendall(_request_head("PUT", url, {"Authorization": f"Bearer {ADMIN_API}", "Content-Length": 500})
                     + b"y" * 50)
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400 ") and b'"code": "RequestTimeout"' in answer, answer[:300]
    with pytest.raises(ClientError):
        served.client().head_object(Bucket="stall", Key="rest-stalled")


def test_a_slow_client_that_keeps_sending_is_not_cut_off(served):
    """Ten pieces, 0.4 s apart: 3.6 s in all, more than the idle limit, never idle that long."""
    url = served.client().generate_presigned_url("put_object", Params={"Bucket": "stall", "Key": "slow"})
    pieces = [bytes([65 + i]) * 100 for i in range(10)]
    with _connect(url) as sock:
        sock.sendall(_request_head("PUT", url, {"Content-Length": 1000, "Connection": "close"}))
        for piece in pieces:
            time.sleep(0.4)
            sock.sendall(piece)
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert served.client().get_object(Bucket="stall", Key="slow")["Body"].read() == b"".join(pieces)


BIG = 48 * 2**20


@pytest.fixture(scope="module")
def big_object(served):
    data = os.urandom(BIG)
    served.client().put_object(Bucket="stall", Key="big", Body=data)
    return data


def _get_head(sock, url) -> bytes:
    sock.sendall(_request_head("GET", url, {}))
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    return head


def test_a_reader_that_stops_is_cut_off(served, big_object):
    url = served.client().generate_presigned_url("get_object", Params={"Bucket": "stall", "Key": "big"})
    with _connect(url) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        head = _get_head(sock, url)
        assert head.startswith(b"HTTP/1.1 200 ") and f"content-length: {BIG}".encode() in head.lower()
        sock.recv(65536)
        time.sleep(IDLE * 4)                     # stop reading: the gateway's send waits, then gives up
        started, got = time.monotonic(), 0
        while data := sock.recv(1 << 20):        # what the buffers held, then the end: never all of it
            got += len(data)
        assert got < BIG - 2**20 and time.monotonic() - started < 10
    # the gateway goes on serving (the same object, whole)
    assert served.client().get_object(Bucket="stall", Key="big")["Body"].read() == big_object


def test_a_slow_steady_reader_gets_everything(served, big_object):
    url = served.client().generate_presigned_url("get_object", Params={"Bucket": "stall", "Key": "big"})
    with _connect(url) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        _get_head(sock, url)
        got = bytearray()
        while len(got) < BIG:
            data = sock.recv(256 * 1024)
            assert data, f"cut off after {len(got)} bytes"
            got += data
            time.sleep(0.005)                    # reading at a few tens of MB/s, never pausing for IDLE
    assert bytes(got) == big_object
