"""AWS Signature Version 2 (HMAC-SHA1) for S3: header and query-string forms.

Still sent by aws-cli v1's ``aws s3 presign`` and older tools. ``sigv4.authenticate``
dispatches here; the request object only needs ``method``, ``raw_path``,
``raw_query`` and lower-cased ``headers`` (``sigv4.SignedRequest``).

String to sign::

    METHOD \\n Content-MD5 \\n Content-Type \\n Date-or-Expires \\n
    x-amz-name:value \\n ...  /bucket/key?sub-resources
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Mapping, Protocol
from urllib.parse import unquote

from s3server.errors import S3Error
from s3server.timefmt import iso_time, parse_http_date

# Query parameters that are part of the signed resource (botocore HmacV1Auth.QSAOfInterest).
SUBRESOURCES = frozenset({
    "accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "inventory", "lifecycle",
    "location", "logging", "metrics", "notification", "object-lock", "partNumber", "policy",
    "replication", "requestPayment", "response-cache-control", "response-content-disposition",
    "response-content-encoding", "response-content-language", "response-content-type",
    "response-expires", "restore", "select", "select-type", "storageClass", "tagging", "torrent",
    "uploadId", "uploads", "versionId", "versioning", "versions", "website",
})


class _Request(Protocol):
    method: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, str]


@dataclass(frozen=True)
class V2Auth:
    access_key: str
    signature: str
    date: datetime | None  # request date (header form) or expiry (query form)


def _query_pairs(raw_query: str) -> list[tuple[str, str | None]]:
    """(name, value) as sent, value None when there is no ``=``; values %-decoded."""
    pairs: list[tuple[str, str | None]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, sep, value = part.partition("=")
        pairs.append((unquote(name), unquote(value) if sep else None))
    return pairs


def canonical_resource(raw_path: str, raw_query: str, vhost_bucket: str | None = None) -> str:
    """``/bucket/key`` as sent plus the signed sub-resources, sorted by name."""
    resource = (f"/{vhost_bucket}" if vhost_bucket else "") + (raw_path or "/")
    subs = sorted((n, v) for n, v in _query_pairs(raw_query) if n in SUBRESOURCES)
    if subs:
        resource += "?" + "&".join(n if v is None else f"{n}={v}" for n, v in subs)
    return resource


def resource_candidates(raw_path: str, raw_query: str, vhost_bucket: str | None = None) -> list[str]:
    """The canonical resource, and for a path-style bucket request (``/bucket``, no key) also
    ``/bucket/``: botocore's SigV2 signer puts the slash there (it signs the bucket as the
    virtual-hosted form would, ``/bucket`` + path ``/``), so its presigned bucket URLs, the
    default presigner for us-east-1 (a ListObjectsV2 URL, say), name ``/bucket/``."""
    first = canonical_resource(raw_path, raw_query, vhost_bucket)
    path = raw_path or "/"
    if vhost_bucket or path.count("/") != 1 or path == "/":
        return [first]
    return [first, canonical_resource(path + "/", raw_query)]


def canonical_amz_headers(amz: Mapping[str, str]) -> str:
    return "".join(f"{name}:{amz[name].strip()}\n" for name in sorted(amz))


def string_to_sign(method: str, content_md5: str, content_type: str, date: str, amz_headers: str,
                   resource: str) -> str:
    return f"{method.upper()}\n{content_md5}\n{content_type}\n{date}\n{amz_headers}{resource}"


def sign(secret: str, to_sign: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _verify(access_key: str, provided: str, candidates: list[str],
            secret_for: Callable[[str], str | None]) -> None:
    secret = secret_for(access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId", **{"AWSAccessKeyId": access_key})
    provided_bytes = provided.encode("utf-8", "replace")
    for to_sign in candidates:
        if hmac.compare_digest(sign(secret, to_sign).encode("ascii"), provided_bytes):
            return
    raise S3Error("SignatureDoesNotMatch", **{"AWSAccessKeyId": access_key, "StringToSign": candidates[0],
                                              "SignatureProvided": provided})


def authenticate_header(req: _Request, secret_for: Callable[[str], str | None], now: datetime, *,
                        max_skew: int = 900, vhost_bucket: str | None = None) -> V2Auth:
    """``Authorization: AWS AKID:signature``."""
    authorization = req.headers["authorization"]
    access_key, sep, provided = authorization[4:].strip().rpartition(":")
    if not sep or not access_key or not provided:
        raise S3Error("InvalidArgument", "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
                      argument_name="Authorization", argument_value=authorization)
    headers = req.headers
    raw_date = headers.get("x-amz-date") or headers.get("date")
    request_time = parse_http_date(raw_date) if raw_date else None
    if request_time is None:
        raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
    if abs((now - request_time).total_seconds()) > max_skew:
        raise S3Error("RequestTimeTooSkewed", request_time=raw_date, server_time=iso_time(now),
                      max_allowed_skew_milliseconds=str(max_skew * 1000))
    amz = {n: v for n, v in headers.items() if n.startswith("x-amz-")}
    parts = (req.method, headers.get("content-md5", "").strip(), headers.get("content-type", "").strip())
    amz_lines = canonical_amz_headers(amz)
    resources = resource_candidates(req.raw_path, req.raw_query, vhost_bucket)
    # With x-amz-date the Date line is empty (AWS docs); some clients keep Date there anyway.
    dates = [""] if "x-amz-date" in headers else []
    dates.append(headers.get("date", "").strip())
    candidates = list(dict.fromkeys(string_to_sign(*parts, d, amz_lines, resource)
                                    for resource in resources for d in dates))
    _verify(access_key, provided, candidates, secret_for)
    return V2Auth(access_key, provided, request_time)


def authenticate_query(req: _Request, secret_for: Callable[[str], str | None], now: datetime, *,
                       vhost_bucket: str | None = None) -> V2Auth:
    """``?AWSAccessKeyId=..&Expires=<epoch>&Signature=..``."""
    params: dict[str, str] = {}
    for name, value in _query_pairs(req.raw_query):
        params.setdefault(name, value or "")
    access_key, provided, raw_expires = (params.get(n, "") for n in ("AWSAccessKeyId", "Signature", "Expires"))
    if not (access_key and provided and raw_expires):
        raise S3Error("AccessDenied",
                      "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
    if not raw_expires.isdigit():
        raise S3Error("AccessDenied", f"Invalid date (should be seconds since epoch): {raw_expires}")
    expires = datetime.fromtimestamp(int(raw_expires), timezone.utc)
    if now > expires:
        raise S3Error("AccessDenied", "Request has expired", expires=iso_time(expires), server_time=iso_time(now))
    headers = req.headers
    # x-amz-* (and Content-MD5/Type) may ride in the query string instead of headers.
    amz = {n.lower(): v for n, v in params.items() if n.lower().startswith("x-amz-")}
    amz.update({n: v for n, v in headers.items() if n.startswith("x-amz-")})
    content_md5 = headers.get("content-md5", params.get("content-md5", "")).strip()
    content_type = headers.get("content-type", params.get("content-type", "")).strip()
    amz_lines = canonical_amz_headers(amz)
    candidates = [string_to_sign(req.method, content_md5, content_type, raw_expires, amz_lines, resource)
                  for resource in resource_candidates(req.raw_path, req.raw_query, vhost_bucket)]
    _verify(access_key, provided, candidates, secret_for)
    return V2Auth(access_key, provided, expires)
