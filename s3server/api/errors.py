"""Render errors: S3Error -> S3 XML (or JSON on the REST API); anything else -> 500.

HEAD responses carry no body (clients then report the bare status, as with AWS).
Unknown exceptions are logged once with the request id and become InternalError.
"""
from __future__ import annotations

import json
import logging

import falcon

from s3server.api import xml
from s3server.errors import S3Error

log = logging.getLogger("s3server.api")

# REST API: S3 codes -> HTTP statuses where the REST dialect differs from S3's
REST_STATUS = {
    "InvalidAccessKeyId": 401,
    "MissingSecurityHeader": 401,
    "EntityTooLarge": 413,
    "SlowDown": 429,
}


def host_id(request_id: str) -> str:
    return request_id.lower()


def render_s3(req: falcon.Request, resp: falcon.Response, err: S3Error) -> None:
    resp.status = falcon.code_to_http_status(err.status)
    for name, value in err.headers.items():
        resp.set_header(name, value)
    rid = getattr(req.context, "request_id", "")
    if req.method == "HEAD" or err.status == 304:
        resp.data = b""
        resp.content_length = 0 if err.status != 304 else None
        return
    fields = dict(err.fields)
    if err.code in ("NoSuchBucket", "NoSuchKey", "AccessDenied", "NoSuchUpload") and "Resource" not in fields:
        fields.setdefault("Resource", getattr(req.context, "raw_path", req.path))
    resp.content_type = "application/xml"
    resp.data = xml.error(err.code, err.message, fields, rid, host_id(rid))


def render_rest(req: falcon.Request, resp: falcon.Response, err: S3Error) -> None:
    status = REST_STATUS.get(err.code, err.status)
    resp.status = falcon.code_to_http_status(status)
    for name, value in err.headers.items():
        resp.set_header(name, value)
    if req.method == "HEAD":
        resp.data = b""
        return
    body = {"error": {"code": err.code, "message": err.message}}
    if err.fields:
        body["error"]["details"] = {k: str(v) for k, v in err.fields.items()}
    resp.content_type = "application/json"
    resp.data = json.dumps(body).encode()


def handle_s3_error(req, resp, ex, params):
    if getattr(req.context, "dialect", "s3") == "rest":
        render_rest(req, resp, ex)
    else:
        render_s3(req, resp, ex)


def handle_http_error(req, resp, ex: falcon.HTTPError, params):
    """Falcon's own errors (e.g. a malformed request line it rejects) in our dialects."""
    status = falcon.http_status_to_code(ex.status)
    code = {400: "InvalidRequest", 404: "NoSuchKey", 405: "MethodNotAllowed", 411: "MissingContentLength",
            413: "EntityTooLarge"}.get(status, "InvalidRequest" if status < 500 else "InternalError")
    err = S3Error(code, ex.description or ex.title)
    err.status = status
    handle_s3_error(req, resp, err, params)


def handle_unexpected(req, resp, ex: Exception, params):
    rid = getattr(req.context, "request_id", "-")
    log.exception("request %s failed: %s %s", rid, req.method, req.relative_uri)
    handle_s3_error(req, resp, S3Error("InternalError"), params)
