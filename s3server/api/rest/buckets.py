"""The documented JSON REST routes (``Authorization: Bearer <api key>``).

    GET    /buckets                              list the caller's buckets
    POST   /buckets   {"bucket_name": "x"}       create
    DELETE /buckets/{bucket}                     delete (409 when not empty)
    PUT    /buckets/{bucket}/objects/{key}       upload the raw body
    GET    /buckets/{bucket}/objects/{key}       download (Range supported)
    HEAD   /buckets/{bucket}/objects/{key}       metadata only
    DELETE /buckets/{bucket}/objects/{key}
    GET    /buckets/{bucket}/objects?prefix=p&limit=n&token=t   list, paged

Same buckets and objects as the S3 API, through the same services, bound by the same bucket
policies. Errors are ``{"error": {"code", "message"}}``; ``api.errors`` maps S3 codes to REST statuses.
"""
from __future__ import annotations

import json

import falcon

from s3server.api import policykeys
from s3server.api.routing import decode_path
from s3server.api.s3.objects import text_to_wire
from s3server.api.s3.resources import parse_query, raw_path_and_query, wsgi_headers
from s3server.api.xml import iso8601
from s3server.errors import S3Error
from s3server.service import policylang
from s3server.service.conditions import Conditions
from s3server.service.listing import ListRequest, encode_token
from s3server.service.payload import Payload

READ_SIZE = 256 * 1024
MAX_JSON = 64 * 1024
# route -> the S3 operation it is, for bucket policies
REST_OPERATIONS = {"get_bucket": "HeadBucket", "delete_bucket": "DeleteBucket", "list_objects": "ListObjects",
                   "put_object": "PutObject", "get_object": "GetObject", "delete_object": "DeleteObject"}


def _route_error(method: str, path: str, status: int) -> S3Error:
    """404 for a path that is no route, 405 for a route without that method."""
    if status == 405:
        return S3Error("MethodNotAllowed", f"{method} is not allowed on {path}.")
    err = S3Error("InvalidRequest", f"No such route: {method} {path}. See docs/api-coverage.md, The JSON REST API.")
    err.code, err.status = "NoSuchRoute", 404
    return err


def _json(resp: falcon.Response, body: dict, status: int = 200) -> None:
    resp.status = falcon.code_to_http_status(status)
    resp.content_type = "application/json"
    resp.data = json.dumps(body).encode()


def _bucket_json(b) -> dict:
    return {"name": b.name, "region": b.region, "created_at": iso8601(b.created_at)}


def _object_json(o) -> dict:
    return {"key": o.key, "size": o.size, "etag": o.etag.strip('"'), "last_modified": iso8601(o.last_modified),
            "content_type": o.content_type}


class RestApi:
    """Falcon sink for ``/buckets...`` in the REST dialect."""

    def __init__(self, services, authenticator):
        self.services = services
        self.authenticator = authenticator

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_):
        req.context.dialect = "rest"
        raw_path, raw_query = raw_path_and_query(req.env)
        req.context.raw_path = raw_path
        user = self.authenticator.bearer(req.get_header("Authorization"))
        req.context.user = user
        parts = raw_path.split("/", 4)          # ['', 'buckets', bucket, 'objects', key]
        query = parse_query(raw_query)
        method = req.method
        if len(parts) > 2:
            req.context.bucket = decode_path(parts[2]) or None
        if len(parts) == 2 or (len(parts) == 3 and parts[2] == ""):
            route = {"GET": self.list_buckets, "POST": self.create_bucket}.get(method)
            args = ()
        elif len(parts) == 3 or (len(parts) == 4 and parts[3] == ""):
            route = {"DELETE": self.delete_bucket, "GET": self.get_bucket, "HEAD": self.get_bucket}.get(method)
            args = (decode_path(parts[2]),)
        elif parts[3] != "objects":
            raise _route_error(method, raw_path, 404)
        elif len(parts) == 4 or parts[4] == "":
            route = {"GET": self.list_objects}.get(method)
            args = (decode_path(parts[2]), query)
        else:
            route = {"PUT": self.put_object, "GET": self.get_object, "HEAD": self.get_object,
                     "DELETE": self.delete_object}.get(method)
            args = (decode_path(parts[2]), decode_path(parts[4]))
        if route is None:
            raise _route_error(method, raw_path, 405)
        req.context.operation = "rest." + route.__name__
        operation = REST_OPERATIONS.get(route.__name__)
        if operation is not None:
            user = req.context.user = self._authorize(req, user, operation, args)
        route(req, resp, user, *args)

    def _authorize(self, req, user, operation: str, args: tuple):
        """Judge the request against its bucket's policy as the S3 operation it is (the same
        statements bind both dialects; a Bearer request is signed by neither SigV4 nor SigV2)."""
        bucket = args[0]
        key = args[1] if operation in ("PutObject", "GetObject", "DeleteObject") else None
        query = args[1] if operation == "ListObjects" else {}

        def keys() -> dict[str, str]:
            headers = wsgi_headers(req.env)
            found = policykeys.transport_keys(req.scheme, getattr(req.context, "client_ip", None), headers)
            found.update(policykeys.s3_keys(operation, headers, query))
            return found
        return self.services.buckets.authorize(user, bucket, policylang.action_for(operation), key, keys)

    # ------------------------------------------------------------------ buckets
    def list_buckets(self, req, resp, user):
        buckets, _ = self.services.buckets.list_buckets(user)
        _json(resp, {"buckets": [_bucket_json(b) for b in buckets]})

    def create_bucket(self, req, resp, user):
        ctype = (req.content_type or "").split(";")[0].strip().lower()
        if ctype and ctype != "application/json":
            raise S3Error("InvalidRequest", f"Content-Type must be application/json (got {ctype!r}).")
        if (req.content_length or 0) > MAX_JSON:
            raise S3Error("EntityTooLarge", f"The JSON body is larger than {MAX_JSON} bytes.")
        raw = req.bounded_stream.read(MAX_JSON + 1)
        if len(raw) > MAX_JSON:
            raise S3Error("EntityTooLarge", f"The JSON body is larger than {MAX_JSON} bytes.")
        if not raw.strip():
            raise S3Error("InvalidRequest", 'Send a JSON body: {"bucket_name": "..."}.')
        try:
            body = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise S3Error("InvalidRequest", "The body is not valid JSON.") from exc
        name = body.get("bucket_name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            raise S3Error("InvalidRequest", 'The body must be a JSON object with a non-empty "bucket_name" string.')
        region = body.get("region") if isinstance(body.get("region"), str) else None
        self._refuse_existing(user, name)
        bucket = self.services.buckets.create_bucket(user, name, region)
        _json(resp, {"bucket_name": bucket.name, **_bucket_json(bucket)}, 201)

    def _refuse_existing(self, user, name: str) -> None:
        """POST /buckets always makes a new bucket: 409 when the name is taken, even by the caller
        (S3's us-east-1 answers 200 to re-creating your own bucket; this API does not)."""
        try:
            existing = self.services.buckets.head_bucket(user, name)
        except S3Error as err:
            if err.code == "AccessDenied":
                raise S3Error("BucketAlreadyExists", bucket_name=name) from err
            return                      # NoSuchBucket, or an invalid name create_bucket reports
        if existing.owner_id == user.id:
            raise S3Error("BucketAlreadyOwnedByYou", bucket_name=name)
        raise S3Error("BucketAlreadyExists", bucket_name=name)

    def get_bucket(self, req, resp, user, bucket):
        b = self.services.buckets.head_bucket(user, bucket)
        _json(resp, _bucket_json(b))

    def delete_bucket(self, req, resp, user, bucket):
        try:
            self.services.buckets.delete_bucket(user, bucket)
        except S3Error as err:
            if err.code == "BucketNotEmpty":
                raise S3Error("BucketNotEmpty", f"Bucket {bucket!r} is not empty: delete its objects first.") from err
            raise
        _json(resp, {"deleted": bucket})

    # ------------------------------------------------------------------ objects
    def list_objects(self, req, resp, user, bucket, query):
        try:
            limit = int(query.get("limit", "1000"))
        except ValueError as exc:
            raise S3Error("InvalidArgument", "limit must be an integer") from exc
        if limit < 1:
            raise S3Error("InvalidArgument", "limit must be at least 1")
        token = query.get("token") or query.get("next_token") or None
        page = self.services.listing.list_objects(user, ListRequest(
            bucket=bucket, prefix=query.get("prefix", ""), delimiter=query.get("delimiter", ""),
            max_keys=min(limit, 1000), continuation_token=token))
        next_token = encode_token(page.next_marker) if page.is_truncated and page.next_marker else None
        body = {"bucket": bucket, "prefix": query.get("prefix", ""),
                "objects": [_object_json(o) for o in page.objects],
                "truncated": next_token is not None, "next_token": next_token}
        if query.get("delimiter"):
            body["common_prefixes"] = list(page.common_prefixes)
        _json(resp, body)

    def put_object(self, req, resp, user, bucket, key):
        chunked = "chunked" in (req.get_header("Transfer-Encoding") or "").lower()
        length = req.content_length
        if length is None and not chunked:
            raise S3Error("MissingContentLength")
        if length is not None and length > self.services.objects.max_object_size:
            raise S3Error("EntityTooLarge", max_size_allowed=self.services.objects.max_object_size)
        stream = req.stream

        def chunks():
            remaining = None if chunked else length
            while remaining is None or remaining > 0:
                try:
                    data = stream.read(READ_SIZE if remaining is None else min(READ_SIZE, remaining))
                except S3Error:             # RequestTimeout: the client stopped sending
                    raise
                except Exception as exc:    # a dropped connection: gunicorn raises its own types
                    raise S3Error("IncompleteBody") from exc
                if not data:
                    break
                if remaining is not None:
                    remaining -= len(data)
                yield data

        attrs = {"content_type": req.content_type or "binary/octet-stream", "user_metadata": {}}
        payload = Payload(chunks=chunks(), length=None if chunked else length,
                          content_md5=req.get_header("Content-MD5"))
        meta = self.services.objects.put_object(user, bucket, key, payload, attrs)
        resp.set_header("ETag", meta.etag)
        _json(resp, {"bucket": bucket, **_object_json(meta)}, 201)

    def get_object(self, req, resp, user, bucket, key):
        cond = Conditions(req.get_header("If-Match"), req.get_header("If-None-Match"),
                          req.get_header("If-Modified-Since"), req.get_header("If-Unmodified-Since"))
        read = self.services.objects.get_object(user, bucket, key, range_header=req.get_header("Range"),
                                                cond=cond, with_body=req.method != "HEAD")
        meta = read.meta
        resp.status = falcon.code_to_http_status(read.status)
        resp.content_type = text_to_wire(meta.content_type)
        resp.set_header("ETag", meta.etag)
        resp.set_header("Accept-Ranges", "bytes")
        resp.set_header("Last-Modified", falcon.dt_to_http(meta.last_modified))
        if read.status == 206:
            resp.set_header("Content-Range", f"bytes {read.start}-{read.end - 1}/{meta.size}")
        resp.content_length = read.end - read.start
        if read.body is not None:
            resp.stream = read.body

    def delete_object(self, req, resp, user, bucket, key):
        removed = self.services.objects.delete_object(user, bucket, key)
        if removed is None:
            raise S3Error("NoSuchKey", key=key)
        _json(resp, {"deleted": key, "bucket": bucket})
