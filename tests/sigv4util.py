"""Send hand-made requests signed by botocore's own SigV4 signer (an independent implementation),
for cases boto3's high-level API will not produce (bad XML, tampered signatures, raw bodies)."""
from __future__ import annotations

import hashlib
import socket
from urllib.parse import urlsplit

import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import ADMIN_AK, ADMIN_SK


class _FixedPayloadSigner(S3SigV4Auth):
    """botocore's signer, but with the x-amz-content-sha256 value we choose (botocore would
    otherwise recompute it from the body)."""

    def __init__(self, credentials, payload_hash):
        super().__init__(credentials, "s3", "us-east-1")
        self._payload_hash = payload_hash

    def payload(self, request):
        return self._payload_hash


def sign(method: str, url: str, body: bytes = b"", headers: dict | None = None, *,
         access_key: str = ADMIN_AK, secret_key: str = ADMIN_SK, payload_hash: str | None = None) -> dict:
    headers = dict(headers or {})
    headers["x-amz-content-sha256"] = payload_hash or hashlib.sha256(body).hexdigest()
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    _FixedPayloadSigner(Credentials(access_key, secret_key), headers["x-amz-content-sha256"]).add_auth(req)
    return dict(req.headers.items())


def signed_request(method: str, url: str, body: bytes = b"", headers: dict | None = None, **kw) -> requests.Response:
    signed = sign(method, url, body, headers, **{k: v for k, v in kw.items() if k in ("access_key", "secret_key", "payload_hash")})
    return requests.request(method, url, data=body, headers=signed, timeout=30)


def raw_http(url: str, request_bytes: bytes, *, close_after_send: bool = False, timeout: float = 10) -> bytes:
    """Write raw bytes to the server and read what comes back until it closes or times out."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(request_bytes)
        if close_after_send:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except socket.timeout:
            pass
        return b"".join(chunks)
