"""The condition keys a request carries, for judging it against a bucket policy
(service/policy.py): the ones of the request itself (transport, source address, headers, query);
the principal's and the clock's are added by the service. Made only for buckets that have a policy."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Mapping
from urllib.parse import parse_qsl

# request header -> condition key (present when the header is)
HEADER_KEYS = {
    "x-amz-acl": "s3:x-amz-acl",
    "x-amz-grant-read": "s3:x-amz-grant-read",
    "x-amz-grant-write": "s3:x-amz-grant-write",
    "x-amz-grant-read-acp": "s3:x-amz-grant-read-acp",
    "x-amz-grant-write-acp": "s3:x-amz-grant-write-acp",
    "x-amz-grant-full-control": "s3:x-amz-grant-full-control",
    "x-amz-copy-source": "s3:x-amz-copy-source",
    "x-amz-metadata-directive": "s3:x-amz-metadata-directive",
    "x-amz-server-side-encryption": "s3:x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id": "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-customer-algorithm": "s3:x-amz-server-side-encryption-customer-algorithm",
    "x-amz-storage-class": "s3:x-amz-storage-class",
    "x-amz-content-sha256": "s3:x-amz-content-sha256",
    "x-amz-website-redirect-location": "s3:x-amz-website-redirect-location",
    "if-match": "s3:if-match",
    "if-none-match": "s3:if-none-match",
    "x-amz-object-lock-mode": "s3:object-lock-mode",
    "x-amz-object-lock-retain-until-date": "s3:object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold": "s3:object-lock-legal-hold",
}
LIST_OPERATIONS = frozenset({"ListObjects", "ListObjectsV2", "ListObjectVersions"})
LIST_KEYS = (("prefix", "s3:prefix"), ("delimiter", "s3:delimiter"), ("max-keys", "s3:max-keys"))


def transport_keys(scheme: str | None, client_ip: str | None, headers: Mapping[str, str]) -> dict[str, str]:
    """What every request carries, whichever dialect: ``aws:SecureTransport``, ``aws:SourceIp``
    (the client as the trusted proxies report it), ``aws:UserAgent``, ``aws:Referer``."""
    keys = {"aws:securetransport": "true" if scheme == "https" else "false"}
    if client_ip:
        keys["aws:sourceip"] = client_ip
    if "user-agent" in headers:
        keys["aws:useragent"] = headers["user-agent"]
    if "referer" in headers:
        keys["aws:referer"] = headers["referer"]
    return keys


def tag_keys(pairs) -> dict[str, str | list[str]]:
    """The tags a request brings: ``s3:RequestObjectTag/<key>`` (keys in lower case, as every
    condition key) and ``s3:RequestObjectTagKeys`` (all of them, a multi-valued key)."""
    keys: dict[str, str | list[str]] = {"s3:requestobjecttag/" + k.lower(): v for k, v in pairs}
    keys["s3:requestobjecttagkeys"] = [k for k, _ in pairs]
    return keys


def header_tags(value: str | None) -> list[tuple[str, str]] | None:
    """``x-amz-tagging`` as pairs; None when absent or unparsable (the handler answers that)."""
    if value is None:
        return None
    try:
        return parse_qsl(value, keep_blank_values=True, strict_parsing=bool(value), errors="strict")
    except (ValueError, UnicodeDecodeError):
        return None


def s3_keys(operation: str, headers: Mapping[str, str], query: Mapping[str, str], *, auth=None,
            post: bool = False) -> dict[str, str]:
    """The S3 dialect's keys: the headers of ``HEADER_KEYS``, a listing's ``s3:prefix``,
    ``s3:delimiter`` and ``s3:max-keys``, ``s3:VersionId``, and how the request was signed
    (``s3:signatureversion``, ``s3:authType``, ``s3:signatureAge`` in milliseconds)."""
    keys = {key: headers[name] for name, key in HEADER_KEYS.items() if name in headers}
    if operation in LIST_OPERATIONS:
        keys.update((key, query[name]) for name, key in LIST_KEYS if name in query)
    if "versionId" in query:
        keys["s3:versionid"] = query["versionId"]
    pairs = header_tags(headers.get("x-amz-tagging"))
    if pairs is not None:
        keys.update(tag_keys(pairs))
    if post:
        keys["s3:authtype"] = "POST"
    if auth is not None:
        keys["s3:signatureversion"] = "AWS4-HMAC-SHA256" if auth.version == 4 else "AWS"
        if not post:
            keys["s3:authtype"] = "REST-QUERY-STRING" if auth.presigned else "REST-HEADER"
        try:
            signed = datetime.strptime(auth.amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            pass
        else:
            age = (datetime.now(timezone.utc) - signed).total_seconds() * 1000
            keys["s3:signatureage"] = str(max(0, int(age)))
    return keys
