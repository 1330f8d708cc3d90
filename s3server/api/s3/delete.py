"""DeleteObjects (POST /{bucket}?delete): up to 1000 keys in one XML request.

The body is read whole (size-capped) and verified like an upload: Content-MD5 (older SDKs)
or any x-amz-checksum-* header or trailer (boto3 >= 1.36 sends CRC32 instead), and a
literal x-amz-content-sha256. Neither digest is required.
"""
from __future__ import annotations

from s3server.api import xml
from s3server.api.s3.buckets import _xml
from s3server.api.s3.payload import read_xml_payload
from s3server.api.s3.resources import S3Context
from s3server.errors import S3Error
from s3server.service.delete import MAX_KEYS, DeleteTarget


def _targets(body: bytes) -> tuple[list[DeleteTarget], bool]:
    root = xml.parse(body)
    if root.tag != "Delete":
        raise S3Error("MalformedXML")
    quiet = (xml.child_text(root, "Quiet") or "").strip().lower() == "true"
    targets = []
    for el in root:
        if el.tag != "Object":
            continue
        key = xml.child_text(el, "Key")
        if not key:
            raise S3Error("MalformedXML")
        targets.append(DeleteTarget(key, xml.child_text(el, "VersionId")))
        if len(targets) > MAX_KEYS:
            raise S3Error("MalformedXML")
    if not targets:
        raise S3Error("MalformedXML")
    return targets, quiet


def delete_objects(ctx: S3Context) -> None:
    body = read_xml_payload(ctx)
    targets, quiet = _targets(body)
    outcome = ctx.services.delete.delete_objects(ctx.user, ctx.bucket, targets)
    _xml(ctx, xml.delete_result(outcome.deleted, outcome.errors, quiet))


HANDLERS = {
    "DeleteObjects": delete_objects,
}
