"""DeleteObjects (POST /{bucket}?delete): up to 1000 keys in one XML request.

The body is read whole (size-capped) and verified like an upload: Content-MD5 (older SDKs)
or any x-amz-checksum-* header or trailer (boto3 >= 1.36 sends CRC32 instead), and a
literal x-amz-content-sha256. Neither digest is required. An Object element may carry ``ETag``,
``Size`` and ``LastModifiedTime``: that key is deleted only if they match (a conditional delete).
"""
from __future__ import annotations

from datetime import datetime

from s3server.api import xmlobjects, xmlparse
from s3server.api.s3.buckets import _xml
from s3server.api.s3.payload import read_xml_payload
from s3server.api.s3.context import S3Context
from s3server.api.s3.resources import policy_keys
from s3server.errors import S3Error
from s3server.service.delete import MAX_KEYS, DeleteTarget
from s3server.service.conditions import DeleteCondition
from s3server.timefmt import parse_http_date


def _condition(el) -> DeleteCondition:
    """An Object element's ``ETag``, ``Size`` and ``LastModifiedTime`` (an HTTP date, as botocore
    writes it, or ISO 8601): a conditional delete of that key. Unparsable values are MalformedXML."""
    size, when = xmlparse.child_text(el, "Size"), xmlparse.child_text(el, "LastModifiedTime")
    try:
        size_value = int(size) if size is not None else None
        moment = None if when is None else (parse_http_date(when)
                                            or datetime.fromisoformat(when.strip().replace("Z", "+00:00")))
    except ValueError as exc:
        raise S3Error("MalformedXML") from exc
    if (size_value is not None and size_value < 0) or (moment is not None and moment.tzinfo is None):
        raise S3Error("MalformedXML")
    return DeleteCondition(xmlparse.child_text(el, "ETag"), size_value, moment)


def _targets(body: bytes) -> tuple[list[DeleteTarget], bool]:
    root = xmlparse.parse(body)
    if root.tag != "Delete":
        raise S3Error("MalformedXML")
    quiet = (xmlparse.child_text(root, "Quiet") or "").strip().lower() == "true"
    targets = []
    for el in root:
        if el.tag != "Object":
            continue
        key = xmlparse.child_text(el, "Key")
        if not key:
            raise S3Error("MalformedXML")
        targets.append(DeleteTarget(key, xmlparse.child_text(el, "VersionId"), _condition(el)))
        if len(targets) > MAX_KEYS:
            raise S3Error("MalformedXML")
    if not targets:
        raise S3Error("MalformedXML")
    return targets, quiet


def delete_objects(ctx: S3Context) -> None:
    body = read_xml_payload(ctx)
    targets, quiet = _targets(body)
    user, allowed = ctx.services.buckets.judge_keys(ctx.user, ctx.bucket, policy_keys(ctx))
    outcome = ctx.services.delete.delete_objects(user, ctx.bucket, targets, allowed)
    _xml(ctx, xmlobjects.delete_result(outcome.deleted, outcome.errors, quiet))


HANDLERS = {
    "DeleteObjects": delete_objects,
}
