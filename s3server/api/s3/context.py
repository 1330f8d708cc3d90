"""S3Context: everything a handler needs about one S3 request (the request and response, the
services, the routed target and operation, the authenticated user, query and headers)."""
from __future__ import annotations

from dataclasses import dataclass, field

import falcon

from s3server.api import routing
from s3server.auth import sigv4
from s3server.errors import S3Error
from s3server.models import User


def parse_count(raw: str, name: str, message: str) -> int:
    """A non-negative integer header or query value; InvalidArgument with ``message`` otherwise."""
    try:
        value = int(raw)
    except ValueError as exc:
        raise S3Error("InvalidArgument", message, argument_name=name, argument_value=raw) from exc
    if value < 0:
        raise S3Error("InvalidArgument", message, argument_name=name, argument_value=raw)
    return value


@dataclass
class S3Context:
    """Everything a handler needs about one S3 request."""
    req: falcon.Request
    resp: falcon.Response
    services: object
    target: routing.Target
    operation: str
    user: User
    auth: sigv4.AuthResult
    query: dict[str, str]
    headers: dict[str, str]
    raw_path: str
    extra: dict = field(default_factory=dict)

    @property
    def bucket(self) -> str:
        return self.target.bucket or ""

    @property
    def key(self) -> str:
        return self.target.key or ""

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def int_header(self, name: str) -> int | None:
        """A header holding a count or size: None when absent or empty, InvalidArgument unless
        a non-negative integer."""
        raw = self.headers.get(name)
        if raw is None or raw == "":
            return None
        return parse_count(raw, name, f"Invalid {name} header")

    def read(self, n: int) -> bytes:
        """Raw body bytes (after HTTP/1.1 de-chunking); a dropped connection is IncompleteBody."""
        try:
            return self.req.stream.read(n)
        except (OSError, ValueError, EOFError) as exc:
            raise S3Error("IncompleteBody") from exc
        except Exception as exc:  # gunicorn's NoMoreData / InvalidChunkSize are plain Exceptions
            if type(exc).__module__.startswith("gunicorn"):
                raise S3Error("IncompleteBody") from exc
            raise
