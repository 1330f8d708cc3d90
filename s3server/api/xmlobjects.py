"""S3 XML responses of object operations: DeleteObjects, CopyObject/UploadPartCopy,
GetObjectAttributes, the multipart initiate/complete results, PostObject."""
from __future__ import annotations

from datetime import datetime
from typing import Sequence

from s3server.api.xml import document, iso8601, new_root, sub


def delete_result(deleted: Sequence[str], errors: Sequence[tuple[str, str, str]], quiet: bool) -> bytes:
    root = new_root("DeleteResult")
    if not quiet:
        for key in deleted:
            sub(sub(root, "Deleted"), "Key", key)
    for key, code, message in errors:
        e = sub(root, "Error")
        sub(e, "Key", key)
        sub(e, "Code", code)
        sub(e, "Message", message)
    return document(root)


def copy_result(tag: str, etag: str, last_modified: datetime, checksums: dict[str, str] | None = None) -> bytes:
    root = new_root(tag)
    sub(root, "ETag", etag)
    sub(root, "LastModified", iso8601(last_modified))
    for algo, value in (checksums or {}).items():
        sub(root, "Checksum" + algo, value)
    if checksums and tag == "CopyObjectResult":
        sub(root, "ChecksumType", "FULL_OBJECT")     # a copy is a single-part write (CopyPartResult has none)
    return document(root)


def object_attributes(meta, wanted: set[str], *, part_number_marker: int, max_parts: int) -> bytes:
    """GetObjectAttributesResponse with the ``wanted`` attributes, in the API reference's order.
    A multipart object's composite checksum goes out without its ``-N`` part count (the count
    is ObjectParts' PartsCount); Parts are listed when the parts carry checksums."""
    root = new_root("GetObjectAttributesResponse")
    if "ETag" in wanted:
        sub(root, "ETag", meta.etag.strip('"'))
    if "Checksum" in wanted and meta.checksums:
        c = sub(root, "Checksum")
        for algo, value in meta.checksums.items():
            sub(c, "Checksum" + algo, value.split("-", 1)[0])
        if meta.checksum_type:
            sub(c, "ChecksumType", meta.checksum_type)
    if "ObjectParts" in wanted and meta.parts_count:
        op = sub(root, "ObjectParts")
        sub(op, "PartsCount", meta.parts_count)
        if any(seg.checksums for seg in meta.segments):
            after = [seg for seg in meta.segments if (seg.part_number or 0) > part_number_marker]
            shown = after[:max_parts]
            sub(op, "PartNumberMarker", part_number_marker)
            if shown:
                sub(op, "NextPartNumberMarker", shown[-1].part_number)
            sub(op, "MaxParts", max_parts)
            sub(op, "IsTruncated", "true" if len(after) > len(shown) else "false")
            for seg in shown:
                part = sub(op, "Part")
                for algo, value in seg.checksums.items():
                    sub(part, "Checksum" + algo, value)
                sub(part, "PartNumber", seg.part_number)
                sub(part, "Size", seg.blob.size)
    if "StorageClass" in wanted:
        sub(root, "StorageClass", meta.storage_class)
    if "ObjectSize" in wanted:
        sub(root, "ObjectSize", meta.size)
    return document(root)


def initiate_multipart(bucket: str, key: str, upload_id: str) -> bytes:
    root = new_root("InitiateMultipartUploadResult")
    sub(root, "Bucket", bucket)
    sub(root, "Key", key)
    sub(root, "UploadId", upload_id)
    return document(root)


def complete_multipart(location_url: str, bucket: str, key: str, etag: str,
                       checksums: dict[str, str] | None = None, checksum_type: str | None = None) -> bytes:
    root = new_root("CompleteMultipartUploadResult")
    sub(root, "Location", location_url)
    sub(root, "Bucket", bucket)
    sub(root, "Key", key)
    sub(root, "ETag", etag)
    for algo, value in (checksums or {}).items():
        sub(root, "Checksum" + algo, value)
    if checksums and checksum_type:
        sub(root, "ChecksumType", checksum_type)
    return document(root)


def post_response(location: str, bucket: str, key: str, etag: str) -> bytes:
    """PostObject's answer with success_action_status 201."""
    root = new_root("PostResponse", ns=False)
    sub(root, "Location", location)
    sub(root, "Bucket", bucket)
    sub(root, "Key", key)
    sub(root, "ETag", etag)
    return document(root)
