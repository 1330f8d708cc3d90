"""Changes to how gunicorn writes a response: a small body goes out in the same ``send()``
as the status line and headers; and three per-request costs go (measured with py-spy on the
gateway's workers, together ~4% of a HEAD's CPU).

gunicorn sends the head and the body with two ``send()`` calls. A worker that dies between
them (kill -9, the OOM killer) leaves the client a complete-looking head and no body, and
botocore reads bodies without enforcing Content-Length: a ``200 OK``
CompleteMultipartUpload (or CopyObject) with an empty body parses as a success without an
ETag, a success the client never got (seen in the gateway-crash test). With one ``send()``
the client gets the whole answer or none of it, and retries. Bodies over ``COALESCE_BODY``
bytes keep gunicorn's own path (a cut XML body is a parse error to botocore, which it retries;
object bodies are checked against Content-Length by the SDKs).

The per-request costs:

* ``util.write`` is gevent's ``sendall``, which asks the kernel for the socket's send buffer
  size (a ``getsockopt`` system call) on every call; an answer that fits goes out with one
  ``send()`` now, ``sendall`` sending whatever a full buffer left over;
* ``util.http_date`` (the ``Date`` header) formatted the time through ``email.utils`` on every
  response; it is formatted once per second now;
* ``base_environ`` built a new ``wsgi.errors`` wrapper (a logger lookup under the logging
  lock) on every request; its values depend only on the config, so they are built once per
  config and copied.

``install()`` is called by the gunicorn config; a gunicorn whose Response lacks what this
relies on keeps its own ``write`` for every response.
"""
from __future__ import annotations

import contextlib
import errno
import socket
import time

import gunicorn.util as gunicorn_util

from s3server.timefmt import format_http_time

COALESCE_BODY = 64 * 1024
_send_idle = [0.0]        # seconds a client may take nothing before it is cut off; 0 = no limit


def send_all(sock, data) -> None:
    """``sock.sendall(data)``, in one ``send()`` when the socket takes it all.

    With a send idle limit (``install``), every ``send()`` may wait that long for the client to
    make room, and no longer: a client that stops reading (a paused or vanished reader of a large
    GET) would otherwise hold the worker's greenlet and the storage-node connection the body comes
    from until TCP gave up. The connection is then shut and the write fails with EPIPE, which
    gunicorn treats as the client going away. A slow reader that keeps reading is never cut off."""
    if not data:
        return
    idle = _send_idle[0]
    if not idle:
        sent = sock.send(data)
        if sent < len(data):
            sock.sendall(memoryview(data)[sent:])
        return
    previous = sock.gettimeout()
    sock.settimeout(idle)
    try:
        view, sent = memoryview(data), 0
        while sent < len(view):
            sent += sock.send(view[sent:])
    except TimeoutError:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        raise BrokenPipeError(errno.EPIPE, f"the client took nothing for {idle:g} s") from None
    finally:
        with contextlib.suppress(OSError):
            sock.settimeout(previous)


def _write(sock, data, chunked=False):
    if chunked:         # gunicorn's write_chunk, through send_all
        if isinstance(data, str):
            data = data.encode("utf-8")
        return send_all(sock, b"%X\r\n%s\r\n" % (len(data), data))
    send_all(sock, data)


_date_cache = [-1, ""]


def _http_date(timestamp=None):
    if timestamp is not None:
        return format_http_time(time.gmtime(timestamp))
    second = int(time.time())
    if _date_cache[0] != second:
        _date_cache[1] = format_http_time(time.gmtime(second))
        _date_cache[0] = second
    return _date_cache[1]


def install(send_idle_timeout: float = 0.0) -> None:
    """Patch gunicorn (see the module docstring); ``send_idle_timeout``: see ``send_all``."""
    import gunicorn.http.wsgi as gunicorn_wsgi

    _send_idle[0] = send_idle_timeout

    response = gunicorn_wsgi.Response
    if getattr(response.write, "_s3server", False):
        return
    original = response.write
    gunicorn_util.write = _write
    gunicorn_util.http_date = _http_date
    original_environ = gunicorn_wsgi.base_environ
    built: list = [None, None]

    def base_environ(cfg):
        if built[0] is not cfg:
            built[:] = [cfg, original_environ(cfg)]
        return dict(built[1])

    gunicorn_wsgi.base_environ = base_environ

    def write(self, arg):
        try:
            small = (not self.headers_sent and type(arg) is bytes
                     and 0 < len(arg) <= COALESCE_BODY and not self.chunked
                     and not self._omits_body
                     and (self.response_length is None or len(arg) <= self.response_length))
        except AttributeError:          # not the gunicorn this was written against
            small = False
        if not small:
            return original(self, arg)
        head = self.default_headers()
        head.extend("%s: %s\r\n" % (k, v) for k, v in self.headers)
        data = ("%s\r\n" % "".join(head)).encode("latin-1") + arg
        self.headers_sent = True
        self.sent += len(arg)
        send_all(self.sock, data)

    write._s3server = True
    response.write = write
