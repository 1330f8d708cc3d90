"""The S3 dialect: authenticate, route (table lookup), call the operation's handler."""
from __future__ import annotations

import dataclasses
from typing import Callable
from urllib.parse import parse_qsl

import falcon

from s3server.api import policykeys, routing
from s3server.api.s3.context import S3Context
from s3server.api.s3.tagging import body_tags
from s3server.auth import sigv4
from s3server.errors import S3Error
from s3server.models import ANONYMOUS, User
from s3server.service import policylang
from s3server.service.copy import parse_copy_source


def other_version(ctx: S3Context, version: str) -> None:
    """A request for a version other than "null", the one version every object has in an
    unversioned bucket: it names nothing. A read or a tagging/ACL call is NoSuchVersion; a
    DeleteObject deletes nothing (204, as for a missing key) instead of the current object."""
    if version == "":
        raise S3Error("InvalidArgument", "Version id cannot be the empty string",
                      argument_name="versionId", argument_value="")
    ctx.services.buckets.head_bucket(ctx.user, ctx.bucket)      # NoSuchBucket / AccessDenied first
    if ctx.operation == "DeleteObject":
        ctx.resp.status = falcon.HTTP_204
        return
    raise S3Error("NoSuchVersion", key=ctx.key, version_id=version)


def policy_keys(ctx: S3Context, *, post: bool = False, tags=None) -> Callable[[], dict[str, str]]:
    """Makes the request's condition keys, for a bucket that has a policy. ``tags``: the tags a
    form upload brings. PutObjectTagging's tags are in its body, which is then read here (and
    kept in ``ctx.extra["body"]`` for the handler)."""
    def make() -> dict[str, str]:
        keys = policykeys.transport_keys(ctx.req.scheme, getattr(ctx.req.context, "client_ip", None),
                                         ctx.headers)
        keys.update(policykeys.s3_keys(ctx.operation, ctx.headers, ctx.query, auth=ctx.auth, post=post))
        if tags is not None:
            keys.update(policykeys.tag_keys(tags))
        if ctx.operation == "PutObjectTagging":
            keys.update(policykeys.tag_keys(body_tags(ctx)))
        return keys
    return make


def authorize(ctx: S3Context) -> User:
    """Judge the request against its bucket's policy (service/buckets.py ``authorize``): the
    user, granted the bucket if the policy allows another account in; AccessDenied on a Deny.
    A copy is judged twice: reading the source (``s3:GetObject`` on it) and writing the target."""
    action = policylang.action_for(ctx.operation, ctx.query.get("versionId"))
    if action is None:
        return ctx.user
    keys = policy_keys(ctx)
    checks = [(ctx.bucket, action, ctx.key if action in policylang.OBJECT_ACTIONS else None)]
    if ctx.operation in ("CopyObject", "UploadPartCopy"):
        try:
            source = parse_copy_source(ctx.header("x-amz-copy-source"))
        except S3Error:
            pass                         # the handler answers the malformed header
        else:
            checks.insert(0, (source.bucket, "s3:getobject", source.key))
    granted: dict[str, bool] = {}
    for bucket, act, key in checks:      # a bucket is granted only if every check on it granted it
        judged = ctx.services.buckets.authorize(ctx.user, bucket, act, key, keys)
        granted[bucket] = granted.get(bucket, True) and bucket in judged.granted
    names = frozenset(b for b, ok in granted.items() if ok)
    return dataclasses.replace(ctx.user, granted=ctx.user.granted | names) if names else ctx.user


READS_OF_A_KEY = frozenset({"GetObject", "HeadObject"})


def call_hiding_missing_keys(ctx: S3Context, handler: Callable[[S3Context], None]) -> None:
    """A read by someone a bucket policy let in (not the owner side): a missing key is
    ``403 AccessDenied`` unless the policy also lets them list the bucket, as AWS answers
    ("If you don't have the s3:ListBucket permission, Amazon S3 returns an HTTP status code 403"),
    so that a grant to read some keys does not tell which other keys exist."""
    try:
        handler(ctx)
    except S3Error as err:
        if err.code != "NoSuchKey" or may_list(ctx):
            raise
        raise S3Error("AccessDenied") from err


def may_list(ctx: S3Context) -> bool:
    """Whether the bucket's policy lets the request's caller list the bucket (``s3:ListBucket``)."""
    try:
        judged = ctx.services.buckets.authorize(dataclasses.replace(ctx.user, granted=frozenset()), ctx.bucket,
                                                "s3:listbucket", None, policy_keys(ctx))
    except S3Error:
        return False                      # an explicit Deny
    return ctx.bucket in judged.granted


# what an unsigned request may do where a bucket policy allows everyone to (reads, which need
# no identity; anything else a policy allows them is 501, never done as nobody)
ANONYMOUS_OPERATIONS = frozenset({"GetObject", "HeadObject", "ListObjects", "ListObjectsV2", "HeadBucket",
                                  "GetBucketLocation", "GetObjectTagging", "GetObjectAttributes"})
ANONYMOUS_REFUSED = "Anonymous access is not allowed; sign your request."


def authorize_anonymous(ctx: S3Context) -> User:
    """An unsigned request: AccessDenied unless its bucket's policy allows everyone (``"*"``)
    the action, and no Deny or RestrictPublicBuckets takes it away."""
    if not ctx.target.bucket or policylang.action_for(ctx.operation, ctx.query.get("versionId")) is None:
        raise S3Error("AccessDenied", ANONYMOUS_REFUSED)
    user = authorize(ctx)
    if ctx.bucket not in user.granted:
        raise S3Error("AccessDenied", ANONYMOUS_REFUSED)
    if ctx.operation not in ANONYMOUS_OPERATIONS:
        raise S3Error("NotImplemented", f"Anonymous {ctx.operation} requests are not implemented by this server "
                      "(the bucket policy allows them): sign the request.")
    return user


def wsgi_headers(env: dict) -> dict[str, str]:
    """Lower-case request headers as the client sent them (repeated ones joined by ',')."""
    out: dict[str, str] = {}
    for k, v in env.items():
        if k.startswith("HTTP_"):
            out[k[5:].lower().replace("_", "-")] = v
    if env.get("CONTENT_TYPE"):
        out["content-type"] = env["CONTENT_TYPE"]
    if env.get("CONTENT_LENGTH"):
        out["content-length"] = env["CONTENT_LENGTH"]
    return out


def raw_path_and_query(env: dict) -> tuple[str, str]:
    """The request target exactly as sent (gunicorn's RAW_URI); WSGI's PATH_INFO is decoded."""
    raw = env.get("RAW_URI") or env.get("REQUEST_URI")
    if not raw:
        from urllib.parse import quote
        path = env.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")
        raw = quote(path, safe="/~!$&'()*+,;=:@") + ("?" + env["QUERY_STRING"] if env.get("QUERY_STRING") else "")
    if "://" in raw.split("?", 1)[0]:                       # absolute-form request target
        raw = "/" + raw.split("://", 1)[1].partition("/")[2]
    path, _, query = raw.partition("?")
    return path or "/", query


def parse_query(raw_query: str) -> dict[str, str]:
    """The query parameters; a NUL in one is InvalidArgument (no prefix, marker, token or id
    holds one, and PostgreSQL cannot compare text with it)."""
    query = dict(parse_qsl(raw_query, keep_blank_values=True))
    for name, value in query.items():
        if "\x00" in value or "\x00" in name:
            raise S3Error("InvalidArgument", "Query parameters may not contain the NUL character (0x00).",
                          argument_name=name.replace("\x00", ""))
    return query


class S3Api:
    """Falcon sink for every S3 request."""

    def __init__(self, services, authenticator, handlers: dict[str, Callable], *, domain: str = ""):
        self.services = services
        self.authenticator = authenticator
        self.handlers = handlers
        self.domain = domain

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_):
        env = req.env
        raw_path, raw_query = raw_path_and_query(env)
        req.context.raw_path = raw_path
        headers = wsgi_headers(env)
        query = parse_query(raw_query)
        target = routing.split_target(raw_path, headers.get("host", ""), self.domain)
        req.context.bucket = target.bucket
        if req.method == "OPTIONS":
            req.context.operation = "PreflightCorsRequest"
            return self._preflight(resp, target.bucket, headers)
        origin = headers.get("origin")
        if origin and target.bucket:
            try:
                return self._serve(req, resp, headers, query, raw_path, raw_query, target)
            finally:          # on errors too: a browser may read an error only with them
                self._cors_headers(resp, target.bucket, origin, req.method)
        return self._serve(req, resp, headers, query, raw_path, raw_query, target)

    def _preflight(self, resp: falcon.Response, bucket: str, headers: dict[str, str]) -> None:
        """OPTIONS: browsers send it without credentials before a cross-origin request."""
        allowed = self.services.buckets.preflight(bucket, headers.get("origin"),
                                                  headers.get("access-control-request-method"),
                                                  headers.get("access-control-request-headers"))
        for name, value in allowed.items():
            resp.set_header(name, value)
        resp.data = b""

    def _cors_headers(self, resp: falcon.Response, bucket: str, origin: str, method: str) -> None:
        """The allowing rule's Access-Control-* headers, if one allows the request; a lookup
        that fails leaves the response as it is (it never fails the request)."""
        try:
            extra = self.services.buckets.cors_headers(bucket, origin, method)
        except Exception:          # noqa: BLE001 - metadata trouble: the answer goes out without them
            return
        for name, value in extra.items():
            resp.set_header(name, value)

    def _serve(self, req, resp, headers, query, raw_path, raw_query, target) -> None:
        if req.method == "POST" and target.kind == "bucket" and "delete" not in query \
                and (headers.get("content-type") or "").lower().startswith("multipart/form-data"):
            # a browser upload: authenticated by the form's signed policy, not by a header (post.py)
            req.context.operation = "PostObject"
            ctx = S3Context(req, resp, self.services, target, "PostObject", None, None, query, headers, raw_path,
                            extra={"authenticator": self.authenticator})
            return self.handlers["PostObject"](ctx)
        signed = sigv4.SignedRequest(req.method, raw_path, raw_query, headers)
        user, auth = self.authenticator.s3(signed, vhost_bucket=target.bucket if target.vhost else None)
        req.context.user = user
        operation = routing.match(req.method, target.kind, query, headers)
        if operation is None:
            sub = routing.unrouted_sub_resource(query)
            if sub is not None:
                raise S3Error("NotImplemented", f"{req.method} ?{sub} on this resource is not implemented by this "
                              "server.")
            raise S3Error("MethodNotAllowed", method=req.method, resource_type=target.kind.upper())
        req.context.operation = operation
        handler = self.handlers.get(operation)
        if handler is None:
            raise S3Error("NotImplemented", f"{operation} is not implemented by this server.")
        ctx = S3Context(req, resp, self.services, target, operation, user, auth, query, headers, raw_path)
        if user.id == ANONYMOUS.id:
            ctx.user = req.context.user = authorize_anonymous(ctx)
        elif target.bucket:
            ctx.user = req.context.user = authorize(ctx)
        expected_owner = headers.get("x-amz-expected-bucket-owner")
        if expected_owner is not None and target.bucket:
            self.services.buckets.check_expected_owner(target.bucket, expected_owner)
        version = query.get("versionId")
        if version is not None and version != "null" and operation in routing.VERSION_ADDRESSED:
            return other_version(ctx, version)
        if operation in READS_OF_A_KEY and ctx.bucket in ctx.user.granted:
            return call_hiding_missing_keys(ctx, handler)
        handler(ctx)
