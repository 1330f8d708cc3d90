"""The website endpoint: ``http://<bucket>.<S3_WEBSITE_DOMAIN>/<path>``, as S3's website endpoints
serve a bucket with a website configuration (S3 User Guide, "Hosting a static website"; "Key
differences between a website endpoint and a REST API endpoint"):

- GET and HEAD only, unsigned, and only what the bucket's policy lets everyone read
  (``s3:GetObject`` for ``"*"``, judged exactly as an unsigned REST request is);
- ``/`` and every path ending in ``/`` serve that folder's index document; a path without the
  slash whose object does not exist but whose folder index does is redirected (302) to the slash;
- an object with ``x-amz-website-redirect-location`` is a 301 to it;
- routing rules redirect by key prefix and by the error a request met; ``RedirectAllRequestsTo``
  redirects everything;
- errors are HTML documents, or the configured error document (with the error's status).
"""
from __future__ import annotations

import dataclasses
import html
from urllib.parse import quote

import falcon

from s3server.api import routing
from s3server.api.s3.context import S3Context
from s3server.api.s3.resources import authorize, may_list, raw_path_and_query, wsgi_headers
from s3server.errors import ERRORS, S3Error
from s3server.models import ANONYMOUS, RoutingRule, WebsiteConfig

_URL_SAFE = "/:?#[]@!$&'()*+,;=%~"
TITLES = {301: "301 Moved Permanently", 302: "302 Found", 400: "400 Bad Request", 403: "403 Forbidden",
          404: "404 Not Found", 405: "405 Method Not Allowed", 500: "500 Internal Server Error",
          503: "503 Service Unavailable"}


def website_bucket(host: str, domain: str) -> str | None:
    """The bucket a Host header names on the website endpoint, or None (not a website host)."""
    if not domain:
        return None
    name = (host or "").lower().rsplit(":", 1)[0] if not (host or "").startswith("[") else ""
    domain = domain.lower().strip(".")
    if name.endswith("." + domain) and len(name) > len(domain) + 1:
        return name[: -len(domain) - 1]
    return None


class WebsiteError(Exception):
    def __init__(self, status: int, code: str, message: str, key: str | None = None, *, missing: bool = False):
        super().__init__(message)
        self.status, self.code, self.message, self.key = status, code, message, key
        self.missing = missing or code == "NoSuchKey"          # the key does not exist (maybe shown as 403)


def _from_s3(err: S3Error, key: str | None) -> WebsiteError:
    status = ERRORS.get(err.code, (500, ""))[0]
    return WebsiteError(status, err.code, err.message, key if err.code == "NoSuchKey" else None)


class WebsiteApi:
    """Falcon sink for requests whose Host names a website bucket."""

    def __init__(self, services, handlers: dict, domain: str):
        self.services = services
        self.get_handler = handlers["GetObject"]
        self.head_handler = handlers["HeadObject"]
        self.domain = domain

    def bucket_of(self, req: falcon.Request) -> str | None:
        return website_bucket(req.get_header("Host") or "", self.domain)

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_):
        bucket = self.bucket_of(req)
        req.context.dialect = "website"
        req.context.bucket = bucket
        req.context.operation = "Website" + req.method.title()
        origin = req.get_header("Origin")
        try:
            if req.method == "OPTIONS":          # a browser's preflight: the bucket's CORS rules, as on S3
                return self._preflight(req, resp, bucket, origin)
            self._serve(req, resp, bucket)
        except WebsiteError as err:
            self._error_page(req, resp, err)
        finally:
            if origin and req.method != "OPTIONS":
                try:
                    cors_headers = self.services.buckets.cors_headers(bucket, origin, req.method)
                except Exception:           # noqa: BLE001 - metadata trouble: the answer goes out without them
                    cors_headers = {}
                for name, value in cors_headers.items():
                    resp.set_header(name, value)

    def _preflight(self, req, resp, bucket: str, origin: str | None) -> None:
        try:
            allowed = self.services.buckets.preflight(bucket, origin, req.get_header("Access-Control-Request-Method"),
                                                      req.get_header("Access-Control-Request-Headers"))
        except S3Error as err:
            raise _from_s3(err, None) from err
        for name, value in allowed.items():
            resp.set_header(name, value)
        resp.data = b""

    # ------------------------------------------------------------------ the request
    def _serve(self, req, resp, bucket: str) -> None:
        if req.method not in ("GET", "HEAD"):
            raise WebsiteError(405, "MethodNotAllowed", "The specified method is not allowed against this "
                               "resource.", None)
        raw_path = raw_path_and_query(req.env)[0]
        try:
            key = routing.decode_path(raw_path[1:])       # keys are opaque: "//a" is "/a"
            cfg = self.services.buckets.website_of(bucket)
        except S3Error as err:
            raise _from_s3(err, None) from err
        if cfg.redirect_all_host is not None:
            self._redirect(resp, 301, f"{cfg.redirect_all_protocol or req.scheme}://{cfg.redirect_all_host}{raw_path}")
            return
        rule = _matching_rule(cfg, key, None)
        if rule is not None:
            return self._follow(req, resp, rule, key)
        folder = key == "" or key.endswith("/")
        target = key + cfg.index_suffix if folder else key
        try:
            self._object(req, resp, bucket, target)
        except WebsiteError as err:
            if err.missing and not folder and self._exists(req, bucket, f"{key}/{cfg.index_suffix}"):
                self._redirect(resp, 302, f"/{key}/")
                return
            rule = _matching_rule(cfg, key, err.status)
            if rule is not None:
                return self._follow(req, resp, rule, key)
            if cfg.error_key is not None and err.status in (403, 404):
                return self._error_document(req, resp, bucket, cfg.error_key, err)
            raise

    def _context(self, req, resp, bucket: str, key: str, operation: str) -> S3Context:
        ctx = S3Context(req, resp, self.services, routing.Target(bucket, key), operation, ANONYMOUS, None,
                        {}, {k: v for k, v in wsgi_headers(req.env).items() if not k.startswith("x-amz-")},
                        "/" + key)
        user = authorize(ctx)                        # the bucket policy, for everyone ("*")
        if bucket not in user.granted:
            raise WebsiteError(403, "AccessDenied", "Access Denied")
        return dataclasses.replace(ctx, user=user)

    def _object(self, req, resp, bucket: str, key: str) -> None:
        """Serve ``key``: its redirect location (301), or the object as GetObject/HeadObject do."""
        try:
            ctx = self._context(req, resp, bucket, key, "GetObject")
            meta = self.services.objects.head_object(ctx.user, bucket, key)
            if meta.website_redirect:
                self._redirect(resp, 301, meta.website_redirect)
                return
            (self.head_handler if req.method == "HEAD" else self.get_handler)(ctx)
        except S3Error as err:
            if err.code == "NoSuchKey" and not may_list(ctx):     # as on the REST endpoint: 403
                raise WebsiteError(403, "AccessDenied", "Access Denied", missing=True) from err
            raise _from_s3(err, key) from err

    def _exists(self, req, bucket: str, key: str) -> bool:
        try:
            ctx = self._context(req, falcon.Response(), bucket, key, "HeadObject")
            self.services.objects.head_object(ctx.user, bucket, key)
        except (S3Error, WebsiteError):
            return False
        return True

    def _error_document(self, req, resp, bucket: str, key: str, err: WebsiteError) -> None:
        """The configured error document, with the status of the error it stands for; when it
        cannot be read either, the HTML page says so."""
        try:
            ctx = self._context(req, resp, bucket, key, "GetObject")
            (self.head_handler if req.method == "HEAD" else self.get_handler)(dataclasses.replace(ctx, headers={}))
        except (S3Error, WebsiteError) as second:
            raise WebsiteError(err.status, err.code, err.message + "\n" + f"An Error Occurred While Attempting to "
                               f"Retrieve a Custom Error Document: {second.code}", err.key) from second
        resp.status = falcon.code_to_http_status(err.status)

    # ------------------------------------------------------------------ answers
    def _follow(self, req, resp, rule: RoutingRule, key: str) -> None:
        if rule.replace_key_with is not None:
            new_key = rule.replace_key_with
        elif rule.replace_key_prefix_with is not None:
            new_key = rule.replace_key_prefix_with + key[len(rule.key_prefix_equals or ""):]
        else:
            new_key = key
        host = rule.host_name or req.get_header("Host") or ""
        self._redirect(resp, rule.redirect_code or 301, f"{rule.protocol or req.scheme}://{host}/{new_key}")

    @staticmethod
    def _redirect(resp, status: int, location: str) -> None:
        resp.status = falcon.code_to_http_status(status)
        # a key may hold what a header cannot carry (non-ASCII, controls): percent-encoded
        resp.set_header("Location", quote(location, safe=_URL_SAFE))
        resp.content_type = "text/html; charset=utf-8"
        resp.data = b""

    @staticmethod
    def _error_page(req, resp, err: WebsiteError) -> None:
        title = TITLES.get(err.status, f"{err.status} Error")
        items = [f"<li>Code: {html.escape(err.code)}</li>"]
        for line in err.message.split("\n"):
            items.append(f"<li>Message: {html.escape(line)}</li>")
        if err.key is not None:
            items.append(f"<li>Key: {html.escape(err.key)}</li>")
        rid = getattr(req.context, "request_id", "")
        items.append(f"<li>RequestId: {html.escape(rid)}</li>")
        body = (f"<html>\n<head><title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n<ul>\n"
                + "\n".join(items) + "\n</ul>\n<hr/>\n</body>\n</html>\n").encode("utf-8")
        resp.status = falcon.code_to_http_status(err.status)
        resp.content_type = "text/html; charset=utf-8"
        resp.stream = None
        resp.data = b"" if req.method == "HEAD" else body
        if req.method == "HEAD":
            resp.content_length = len(body)


def _matching_rule(cfg: WebsiteConfig, key: str, status: int | None) -> RoutingRule | None:
    """The first routing rule whose condition holds: a key prefix (before the object is looked
    up when it is the only condition) and an error code (after the lookup met that error)."""
    for rule in cfg.routing_rules:
        if rule.error_code_equals != status:          # before the lookup (None): the rules without one
            continue
        if rule.key_prefix_equals is not None and not key.startswith(rule.key_prefix_equals):
            continue
        return rule
    return None
