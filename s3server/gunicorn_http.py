"""One change to how gunicorn writes a response: a small body goes out in the same ``send()``
as the status line and headers.

gunicorn sends the head and the body with two ``send()`` calls. A worker that dies between
them (kill -9, the OOM killer) leaves the client a complete-looking head and no body, and
botocore reads bodies without enforcing Content-Length: a ``200 OK``
CompleteMultipartUpload (or CopyObject) with an empty body parses as a success without an
ETag, a success the client never got (seen in the gateway-crash test). With one ``send()``
the client gets the whole answer or none of it, and retries. Bodies over ``COALESCE_BODY``
bytes keep gunicorn's own path (a cut XML body is a parse error to botocore, which it retries;
object bodies are checked against Content-Length by the SDKs).

``install()`` is called by the gunicorn config; a gunicorn whose Response lacks what this
relies on keeps its own ``write`` for every response.
"""
from __future__ import annotations

COALESCE_BODY = 64 * 1024


def install() -> None:
    import gunicorn.http.wsgi as gunicorn_wsgi

    response = gunicorn_wsgi.Response
    if getattr(response.write, "_s3server", False):
        return
    original = response.write

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
        self.sock.sendall(data)

    write._s3server = True
    response.write = write
