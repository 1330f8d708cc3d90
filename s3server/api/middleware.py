"""Request id, dialect choice and the one-line access log."""
from __future__ import annotations

import logging
import secrets
import time

log = logging.getLogger("s3server.access")


def new_request_id() -> str:
    return secrets.token_hex(8).upper()


class RequestContext:
    """Gives every request an id (sent back as x-amz-request-id) and logs one line per request."""

    def __init__(self, new_id=new_request_id, clock=time.monotonic):
        self.new_id = new_id
        self.clock = clock

    def process_request(self, req, resp):
        req.context.request_id = self.new_id()
        req.context.started = self.clock()
        req.context.dialect = "s3"
        req.context.operation = "-"

    def process_response(self, req, resp, resource, req_succeeded):
        rid = getattr(req.context, "request_id", "")
        if rid:
            resp.set_header("x-amz-request-id", rid)
            resp.set_header("x-amz-id-2", rid.lower())
        resp.set_header("Server", "s3server")
        started = getattr(req.context, "started", None)
        ms = (self.clock() - started) * 1000 if started is not None else 0.0
        log.info("%s %s %s %s %s %s %.1fms", rid, req.remote_addr, req.method,
                 getattr(req.context, "raw_path", req.path), getattr(req.context, "operation", "-"),
                 resp.status.split(" ", 1)[0] if isinstance(resp.status, str) else resp.status, ms)
