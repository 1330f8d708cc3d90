"""Bucket websites: PutBucketWebsite, GetBucketWebsite, DeleteBucketWebsite. The configuration
is checked as AWS checks it (S3 API reference, PutBucketWebsite; S3 User Guide, "Configuring an
index document", "Configuring redirects"); the website endpoint that serves it is api/website.py."""
from __future__ import annotations

import re

import falcon

from s3server.api import xmlbuckets, xmlparse
from s3server.api.s3.buckets import _xml
from s3server.api.s3.context import S3Context
from s3server.api.s3.payload import read_xml_payload
from s3server.errors import S3Error
from s3server.models import RoutingRule, WebsiteConfig

MAX_BODY = 128 * 1024
MAX_ROUTING_RULES = 50
PROTOCOLS = ("http", "https")


def _invalid(message: str) -> S3Error:
    return S3Error("InvalidArgument", message)


def _only(el, allowed: set[str]) -> dict[str, list]:
    """``el``'s children by tag; MalformedXML when one is not ``allowed``."""
    found: dict[str, list] = {}
    for child in el:
        if not isinstance(child.tag, str):
            continue
        if child.tag not in allowed:
            raise S3Error("MalformedXML")
        found.setdefault(child.tag, []).append(child)
    if any(len(v) > 1 for k, v in found.items() if k != "RoutingRule"):
        raise S3Error("MalformedXML")
    return found


def _text(found: dict[str, list], name: str) -> str | None:
    return (found[name][0].text or "") if name in found else None


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _no_control(value: str | None, name: str) -> None:
    """Redirect parts become a Location header: no control characters."""
    if value is not None and _CONTROL.search(value):
        raise _invalid(f"The {name} may not contain control characters.")


def _protocol(value: str | None) -> str | None:
    if value is not None and value not in PROTOCOLS:
        raise _invalid("Invalid protocol, protocol can be http or https. If not defined the protocol will be "
                       "selected automatically.")
    return value


def _code(value: str | None, low: int, high: int, message: str) -> int | None:
    if value is None:
        return None
    try:
        code = int(value.strip())
    except ValueError as exc:
        raise _invalid(message % value) from exc
    if not low <= code <= high or code == 300:
        raise _invalid(message % value)
    return code


def _rule(el) -> RoutingRule:
    parts = _only(el, {"Condition", "Redirect"})
    if "Redirect" not in parts:
        raise S3Error("MalformedXML")
    prefix = error_code = None
    if "Condition" in parts:
        cond = _only(parts["Condition"][0], {"KeyPrefixEquals", "HttpErrorCodeReturnedEquals"})
        if not cond:
            raise _invalid("Condition cannot be empty. To redirect all requests without a condition, the condition "
                           "element shouldn't be present.")
        prefix = _text(cond, "KeyPrefixEquals")
        error_code = _code(_text(cond, "HttpErrorCodeReturnedEquals"), 400, 599,
                           "The provided HTTP error code (%s) is not valid. Valid codes are 4XX or 5XX.")
    red = _only(parts["Redirect"][0], {"HostName", "HttpRedirectCode", "Protocol", "ReplaceKeyPrefixWith",
                                       "ReplaceKeyWith"})
    if not red:
        raise _invalid("The redirect must have at least one of HostName, HttpRedirectCode, Protocol, "
                       "ReplaceKeyPrefixWith or ReplaceKeyWith.")
    if "ReplaceKeyPrefixWith" in red and "ReplaceKeyWith" in red:
        raise _invalid("You can only define ReplaceKeyPrefix or ReplaceKey but not both.")
    host = _text(red, "HostName")
    if host is not None and not host.strip():
        raise _invalid("The host name cannot be empty.")
    for name in ("HostName", "ReplaceKeyPrefixWith", "ReplaceKeyWith"):
        _no_control(_text(red, name), name)
    return RoutingRule(
        key_prefix_equals=prefix, error_code_equals=error_code, host_name=host,
        protocol=_protocol(_text(red, "Protocol")),
        redirect_code=_code(_text(red, "HttpRedirectCode"), 301, 399,
                            "The provided HTTP redirect code (%s) is not valid. Valid codes are 3XX except 300."),
        replace_key_prefix_with=_text(red, "ReplaceKeyPrefixWith"), replace_key_with=_text(red, "ReplaceKeyWith"))


def parse_website(body: bytes) -> WebsiteConfig:
    root = xmlparse.parse(body)
    if root.tag != "WebsiteConfiguration":
        raise S3Error("MalformedXML")
    top = _only(root, {"IndexDocument", "ErrorDocument", "RedirectAllRequestsTo", "RoutingRules"})
    if "RedirectAllRequestsTo" in top:
        if len(top) > 1:
            raise _invalid("RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.")
        red = _only(top["RedirectAllRequestsTo"][0], {"HostName", "Protocol"})
        host = _text(red, "HostName")
        if not host or not host.strip():
            raise S3Error("MalformedXML")
        _no_control(host, "HostName")
        return WebsiteConfig(redirect_all_host=host.strip(), redirect_all_protocol=_protocol(_text(red, "Protocol")))
    if "IndexDocument" not in top:
        raise _invalid("A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty")
    suffix = _text(_only(top["IndexDocument"][0], {"Suffix"}), "Suffix")
    if suffix is None:
        raise S3Error("MalformedXML")
    if not suffix or "/" in suffix:
        raise _invalid("The IndexDocument Suffix is not well formed")
    error_key = None
    if "ErrorDocument" in top:
        error_key = _text(_only(top["ErrorDocument"][0], {"Key"}), "Key")
        if error_key is None:
            raise S3Error("MalformedXML")
        if not error_key:
            raise _invalid("The ErrorDocument Key is not well formed")
    rules: list[RoutingRule] = []
    if "RoutingRules" in top:
        listed = _only(top["RoutingRules"][0], {"RoutingRule"}).get("RoutingRule", [])
        if not listed:
            raise S3Error("MalformedXML")
        if len(listed) > MAX_ROUTING_RULES:
            raise _invalid(f"The number of routing rules must not exceed the allowed limit of {MAX_ROUTING_RULES}.")
        rules = [_rule(el) for el in listed]
    return WebsiteConfig(index_suffix=suffix, error_key=error_key, routing_rules=tuple(rules))


def put_bucket_website(ctx: S3Context) -> None:
    cfg = parse_website(read_xml_payload(ctx, MAX_BODY))
    ctx.services.buckets.set_bucket_website(ctx.user, ctx.bucket, cfg)
    ctx.resp.data = b""


def get_bucket_website(ctx: S3Context) -> None:
    _xml(ctx, xmlbuckets.website_configuration(ctx.services.buckets.get_bucket_website(ctx.user, ctx.bucket)))


def delete_bucket_website(ctx: S3Context) -> None:
    ctx.services.buckets.set_bucket_website(ctx.user, ctx.bucket, None)
    ctx.resp.status = falcon.HTTP_204


HANDLERS = {
    "PutBucketWebsite": put_bucket_website,
    "GetBucketWebsite": get_bucket_website,
    "DeleteBucketWebsite": delete_bucket_website,
}
