"""Bucket lifecycle rules: PutBucketLifecycleConfiguration, GetBucketLifecycleConfiguration,
DeleteBucketLifecycle (``?lifecycle`` on a bucket). The document is checked here as AWS checks
it; the rules are carried out by the lifecycle pass (service/lifecycle.py).

Expiration (Days, Date) and AbortIncompleteMultipartUpload are carried out. ExpiredObjectDelete-
Marker and NoncurrentVersionExpiration are kept and reported: with one version per object there
is nothing for them to act on, as in an unversioned AWS bucket. Transitions to other storage
classes are refused (501): this server has one tier, and a rule that silently moved nothing would
leave its author believing otherwise."""
from __future__ import annotations

import base64
import os
from datetime import datetime, timezone

import falcon

from s3server.api import xmlbuckets, xmlparse
from s3server.api.s3.buckets import _xml
from s3server.api.s3.context import S3Context
from s3server.api.s3.payload import read_xml_payload
from s3server.errors import S3Error
from s3server.models import BucketLifecycle, LifecycleRule

MAX_LIFECYCLE_BODY = 1024 * 1024
MAX_RULES = 1000
MAX_ID = 255
MAX_INT = 2**31 - 1          # Days and the other counts are integers (AWS: Integer)
MAX_SIZE = 2**63 - 1         # ObjectSizeGreaterThan / LessThan are longs
MIN_SIZE_MODES = ("all_storage_classes_128K", "varies_by_storage_class")
MIN_SIZE_HEADER = "x-amz-transition-default-minimum-object-size"
RULE_ELEMENTS = {"ID", "Prefix", "Filter", "Status", "Expiration", "Transition", "NoncurrentVersionTransition",
                 "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"}
TRANSITIONS = ("Transition", "NoncurrentVersionTransition")


def _malformed() -> S3Error:
    return S3Error("MalformedXML")


def _only(el, name: str):
    """The one child ``name`` of ``el`` (None if absent); twice is MalformedXML."""
    found = el.findall(name)
    if len(found) > 1:
        raise _malformed()
    return found[0] if found else None


def _text(el, name: str) -> str | None:
    child = _only(el, name)
    if child is None:
        return None
    if len(child):
        raise _malformed()
    return (child.text or "").strip()


def _known(el, names: set[str]) -> None:
    if any(child.tag not in names for child in el):
        raise _malformed()


def _number(el, name: str, low: int, high: int, message: str) -> int | None:
    """The integer in ``el``'s child ``name`` (None if absent): not a number is MalformedXML,
    one outside [low, high] InvalidArgument with ``message``."""
    text = _text(el, name)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError as exc:
        raise _malformed() from exc
    if not low <= value <= high:
        raise S3Error("InvalidArgument", message, argument_name=name, argument_value=text)
    return value


def _integer(el, name: str, action: str) -> int | None:
    """A count of days (or versions) of an action: a positive 32-bit integer."""
    return _number(el, name, 1, MAX_INT, f"'{name}' for {action} action must be a positive integer")


def _size(el, name: str) -> int | None:
    return _number(el, name, 0, MAX_SIZE, f"'{name}' must be a non-negative integer of at most 64 bits")


def _tag(el) -> tuple[str, str]:
    _known(el, {"Key", "Value"})
    key, value = _text(el, "Key"), _text(el, "Value")
    if not key:
        raise _malformed()
    return key, value or ""


def _date(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise S3Error("InvalidArgument", "The provided 'Date' is not a valid ISO 8601 date",
                      argument_name="Date", argument_value=text) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    if (value.hour, value.minute, value.second, value.microsecond) != (0, 0, 0, 0):
        raise S3Error("InvalidArgument", "'Date' must be at midnight GMT", argument_name="Date",
                      argument_value=text)
    return value


def _filter(el) -> dict:
    """A rule's ``Filter``: at most one predicate, or an ``And`` of several."""
    _known(el, {"Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan", "And"})
    if len(el) > 1:
        raise _malformed()
    if not len(el):
        return {"filter_kind": "all"}
    child = el[0]
    if child.tag == "Prefix":
        return {"filter_kind": "prefix", "prefix": _text(el, "Prefix")}
    if child.tag == "Tag":
        return {"filter_kind": "tag", "tags": (_tag(child),)}
    if child.tag == "ObjectSizeGreaterThan":
        return {"filter_kind": "gt", "size_gt": _size(el, "ObjectSizeGreaterThan")}
    if child.tag == "ObjectSizeLessThan":
        return {"filter_kind": "lt", "size_lt": _size(el, "ObjectSizeLessThan")}
    _known(child, {"Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan"})
    tags = tuple(_tag(t) for t in child.findall("Tag"))
    if len({k for k, _ in tags}) != len(tags):
        raise S3Error("InvalidRequest", "Duplicate Tag Keys are not allowed.")
    out = {"filter_kind": "and", "prefix": _text(child, "Prefix") or "", "tags": tags,
           "size_gt": _size(child, "ObjectSizeGreaterThan"), "size_lt": _size(child, "ObjectSizeLessThan")}
    if not len(child):
        raise _malformed()
    return out


def _rule(el) -> LifecycleRule:
    _known(el, RULE_ELEMENTS)
    status = _text(el, "Status")
    if status not in ("Enabled", "Disabled"):
        raise _malformed()
    rule_id = _text(el, "ID") or base64.b32encode(os.urandom(30)).decode()
    if len(rule_id) > MAX_ID:
        raise S3Error("InvalidArgument", "ID length should not exceed allowed limit of 255",
                      argument_name="ID", argument_value=rule_id)
    legacy, filter_el = _text(el, "Prefix"), _only(el, "Filter")
    if (legacy is None) == (filter_el is None):          # one of the two, never both
        raise _malformed()
    where = {"filter_kind": "legacy", "prefix": legacy} if filter_el is None else _filter(filter_el)
    if where.get("size_gt") is not None and where.get("size_lt") is not None \
            and where["size_gt"] >= where["size_lt"]:
        raise S3Error("InvalidArgument", "ObjectSizeLessThan must be greater than ObjectSizeGreaterThan")
    fields: dict = {}
    expiration = _only(el, "Expiration")
    if expiration is not None:
        _known(expiration, {"Days", "Date", "ExpiredObjectDeleteMarker"})
        if len(expiration) != 1:
            raise _malformed()
        fields["expiration_days"] = _integer(expiration, "Days", "Expiration")
        date = _text(expiration, "Date")
        fields["expiration_date"] = _date(date) if date is not None else None
        marker = _text(expiration, "ExpiredObjectDeleteMarker")
        if marker is not None:
            if marker not in ("true", "false"):
                raise _malformed()
            if where.get("tags"):
                raise S3Error("InvalidRequest", "ExpiredObjectDeleteMarker cannot be specified with Tags.")
            fields["expired_object_delete_marker"] = marker == "true"
    noncurrent = _only(el, "NoncurrentVersionExpiration")
    if noncurrent is not None:
        _known(noncurrent, {"NoncurrentDays", "NewerNoncurrentVersions"})
        fields["noncurrent_days"] = _integer(noncurrent, "NoncurrentDays", "NoncurrentVersionExpiration")
        if fields["noncurrent_days"] is None:
            raise _malformed()
        fields["newer_noncurrent"] = _integer(noncurrent, "NewerNoncurrentVersions", "NoncurrentVersionExpiration")
    abort = _only(el, "AbortIncompleteMultipartUpload")
    if abort is not None:
        _known(abort, {"DaysAfterInitiation"})
        fields["abort_days"] = _integer(abort, "DaysAfterInitiation", "AbortIncompleteMultipartUpload")
        if fields["abort_days"] is None:
            raise _malformed()
        if where.get("tags"):
            raise S3Error("InvalidRequest", "AbortIncompleteMultipartUpload cannot be specified with Tags.")
    if any(el.findall(t) for t in TRANSITIONS):
        raise S3Error("NotImplemented", "Lifecycle transitions are not implemented by this server: it has one "
                      "storage tier. Expiration and AbortIncompleteMultipartUpload rules are.")
    if expiration is None and noncurrent is None and abort is None:
        raise S3Error("InvalidRequest", "At least one action needs to be specified in a rule")
    return LifecycleRule(id=rule_id, enabled=status == "Enabled", **where, **fields)


def parse_lifecycle(body: bytes, min_size_mode: str | None) -> BucketLifecycle:
    root = xmlparse.parse(body)
    if root.tag != "LifecycleConfiguration":
        raise _malformed()
    _known(root, {"Rule"})
    if not len(root) or len(root) > MAX_RULES:
        raise _malformed()
    rules = tuple(_rule(el) for el in root)
    if len({r.id for r in rules}) != len(rules):
        raise S3Error("InvalidArgument", "Rule ID must be unique. Found same ID for more than one rule",
                      argument_name="ID")
    mode = min_size_mode or MIN_SIZE_MODES[0]
    if mode not in MIN_SIZE_MODES:
        raise S3Error("InvalidRequest", f"Invalid value for {MIN_SIZE_HEADER}: {mode}")
    return BucketLifecycle(rules, mode)


def put_bucket_lifecycle(ctx: S3Context) -> None:
    lifecycle = parse_lifecycle(read_xml_payload(ctx, MAX_LIFECYCLE_BODY), ctx.header(MIN_SIZE_HEADER))
    ctx.services.buckets.set_bucket_lifecycle(ctx.user, ctx.bucket, lifecycle)
    ctx.resp.set_header(MIN_SIZE_HEADER, lifecycle.min_size_mode)
    ctx.resp.data = b""


def get_bucket_lifecycle(ctx: S3Context) -> None:
    lifecycle = ctx.services.buckets.get_bucket_lifecycle(ctx.user, ctx.bucket)
    ctx.resp.set_header(MIN_SIZE_HEADER, lifecycle.min_size_mode)
    _xml(ctx, xmlbuckets.lifecycle_configuration(lifecycle))


def delete_bucket_lifecycle(ctx: S3Context) -> None:
    ctx.services.buckets.set_bucket_lifecycle(ctx.user, ctx.bucket, None)
    ctx.resp.status = falcon.HTTP_204


HANDLERS = {
    "PutBucketLifecycleConfiguration": put_bucket_lifecycle,
    "GetBucketLifecycleConfiguration": get_bucket_lifecycle,
    "DeleteBucketLifecycle": delete_bucket_lifecycle,
}
