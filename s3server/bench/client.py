"""The lean load-generating client: presigned URLs over ``http.client`` keep-alive connections.

One connection per worker thread, reused for every request; no per-request allocation beyond
what ``http.client`` itself does. Errors carry the S3 error code so the runner can explain them.
"""
from __future__ import annotations

import http.client
import re
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from s3server.bench.sigv4 import Presigner

_CODE = re.compile(rb"<Code>([^<]*)</Code>")
_MSG = re.compile(rb"<Message>([^<]*)</Message>")


class BenchError(Exception):
    """A request the benchmark needed failed; the message says what the endpoint answered."""

    def __init__(self, message: str, *, status: int = 0, code: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code


def s3_error(method: str, what: str, status: int, body: bytes) -> BenchError:
    code = (_CODE.search(body or b"") or [None, b""])[1].decode(errors="replace")
    msg = (_MSG.search(body or b"") or [None, b""])[1].decode(errors="replace")
    text = f"{method} {what} -> HTTP {status}" + (f" {code}" if code else "") + (f": {msg}" if msg else "")
    return BenchError(text, status=status, code=code)


@dataclass
class Endpoint:
    url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    insecure: bool = False

    def __post_init__(self):
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BenchError(f"not an http(s) endpoint URL: {self.url!r}")
        self.scheme = parts.scheme
        self.hostname = parts.hostname
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        default = (self.scheme == "https" and self.port == 443) or (self.scheme == "http" and self.port == 80)
        self.host_header = self.hostname if default else f"{self.hostname}:{self.port}"
        self.signer = Presigner(self.access_key, self.secret_key, self.region, host=self.host_header)

    def connect(self, timeout: float = 120.0) -> http.client.HTTPConnection:
        if self.scheme == "https":
            ctx = ssl._create_unverified_context() if self.insecure else ssl.create_default_context()
            return http.client.HTTPSConnection(self.hostname, self.port, timeout=timeout, context=ctx)
        return http.client.HTTPConnection(self.hostname, self.port, timeout=timeout)

    def url_for(self, method: str, bucket: str, key: str = "", query: dict | None = None) -> str:
        path = "/" + bucket + ("/" + key if key else "") if bucket else "/"
        return self.signer.presign(method, path, query)


class Conn:
    """One keep-alive connection; ``request`` reconnects once if the server closed it while idle."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint
        self.c = endpoint.connect()

    def request(self, method: str, url: str, body=None, headers: dict | None = None,
                read: bool = True) -> tuple[int, http.client.HTTPResponse, bytes]:
        for attempt in (0, 1):
            try:
                self.c.request(method, url, body=body, headers=headers or {})
                resp = self.c.getresponse()
                data = resp.read() if read else b""
                return resp.status, resp, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.c.close()
                self.c = self.endpoint.connect()
                if attempt or (body is not None and not isinstance(body, (bytes, bytearray, memoryview))):
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.c.close()
