"""S3 XML in one place: a hardened parser and one builder per result type.

The parser resolves no entities, loads no DTD, touches no network and refuses
bodies over a size cap. Builders take plain values and return bytes.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from html import escape
from typing import Iterable, Sequence
from urllib.parse import quote

from lxml import etree

from s3server.errors import S3Error

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'
MAX_XML_BODY = 2 * 1024 * 1024   # DeleteObjects of 1000 max-length keys stays well under this

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
    huge_tree=False, remove_comments=True, remove_pis=True,
)


# ----------------------------------------------------------------------- parsing
def read_xml_body(read, limit: int = MAX_XML_BODY) -> bytes:
    """Read a request body for XML parsing, refusing more than ``limit`` bytes."""
    chunks, total = [], 0
    while True:
        piece = read(65536)
        if not piece:
            break
        total += len(piece)
        if total > limit:
            raise S3Error("MalformedXML", "The XML you provided was too large.")
        chunks.append(piece)
    return b"".join(chunks)


def parse(body: bytes) -> etree._Element:
    """Parse an XML request body; any problem is MalformedXML. Namespaces are stripped."""
    if not body or not body.strip():
        raise S3Error("MalformedXML")
    if b"<!DOCTYPE" in body[:4096].upper() or b"<!ENTITY" in body.upper():
        raise S3Error("MalformedXML", "DTDs and entities are not allowed.")
    try:
        root = etree.fromstring(body, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise S3Error("MalformedXML") from exc
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.startswith("{"):
            el.tag = el.tag.split("}", 1)[1]
    return root


def child_text(el, name: str, default: str | None = None) -> str | None:
    c = el.find(name)
    if c is None:
        return default
    return c.text or ""


def child_values(el) -> dict[str, list[str]]:
    """Each child element's stripped text, by tag, in document order (for documents whose
    elements may repeat or be unknown, which the caller then judges)."""
    values: dict[str, list[str]] = {}
    for child in el:
        values.setdefault(child.tag, []).append((child.text or "").strip())
    return values


# ----------------------------------------------------------------------- building
# Characters XML 1.0 cannot carry (lxml refuses them), which S3 keys may hold: they are written as
# numeric character references (&#x1;), so a listing or an error naming such a key is an answer,
# not a 500 (clients that cannot parse those ask for encoding-type=url, as botocore always does).
# ``_sub`` marks each with U+E000 and a private-use character, U+E000 itself doubled, and ``_doc``
# turns the marks into references in the serialized bytes: every text goes through ``_sub``, so
# a U+E000 there always starts a mark.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ue000]")
_MARK = "\ue000"
_MARKED = re.compile(b"\xee\x80\x80(\xee\x80\x80|\xee\x84[\x80-\xa1])")


def _mark(m: re.Match) -> str:
    c = m.group()
    if c == _MARK:
        return _MARK + _MARK
    code = ord(c)
    return _MARK + chr(0xE100 + (code if code < 0x20 else 0x20 + code - 0xFFFE))


def _unmark(m: re.Match) -> bytes:
    if m.group(1) == b"\xee\x80\x80":
        return m.group(1)
    code = ord(m.group(1).decode("utf-8")) - 0xE100
    return b"&#x%X;" % (code if code < 0x20 else 0xFFFE + code - 0x20)


def _sub(parent, name: str, text=None):
    el = etree.SubElement(parent, name)
    if text is not None:
        text = text if isinstance(text, str) else str(text)
        el.text = _XML_INVALID.sub(_mark, text) if _XML_INVALID.search(text) else text
    return el


def _doc(root) -> bytes:
    out = XML_DECL + etree.tostring(root, encoding="UTF-8")
    return _MARKED.sub(_unmark, out) if b"\xee\x80\x80" in out else out


def _root(name: str, ns: bool = True):
    return etree.Element(name, nsmap={None: S3_NS}) if ns else etree.Element(name)


def iso8601(dt: datetime) -> str:
    """S3's timestamp format in XML bodies: 2009-10-12T17:50:30.000Z"""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def error(code: str, message: str, fields: dict, request_id: str, host_id: str) -> bytes:
    root = etree.Element("Error")
    _sub(root, "Code", code)
    _sub(root, "Message", message)
    for k, v in fields.items():
        _sub(root, k, v)
    _sub(root, "RequestId", request_id)
    _sub(root, "HostId", host_id)
    return _doc(root)


def _owner(parent, owner_id: str, display_name: str, tag: str = "Owner"):
    o = _sub(parent, tag)
    _sub(o, "ID", owner_id)
    _sub(o, "DisplayName", display_name)
    return o


def list_buckets(buckets: Iterable, owner_id: str, owner_name: str, *, prefix: str | None = None,
                 continuation_token: str | None = None) -> bytes:
    root = _root("ListAllMyBucketsResult")
    _owner(root, owner_id, owner_name)
    bs = _sub(root, "Buckets")
    for b in buckets:
        e = _sub(bs, "Bucket")
        _sub(e, "Name", b.name)
        _sub(e, "CreationDate", iso8601(b.created_at))
    if continuation_token:
        _sub(root, "ContinuationToken", continuation_token)
    if prefix is not None:
        _sub(root, "Prefix", prefix)
    return _doc(root)


def location(region: str) -> bytes:
    root = _root("LocationConstraint")
    if region and region != "us-east-1":
        root.text = region
    return _doc(root)


def _enc(value: str, encode: bool) -> str:
    # AWS's encoding-type=url: like URL-encoding with safe '/', spaces as '+'... measured on AWS:
    # 'a b' -> 'a+b', 'a+b' -> 'a%2Bb', '100%' -> '100%25'
    if not encode:
        return value
    return quote(value, safe="/~").replace("%20", "+")


def _contents(parent, obj, encode: bool, owner: tuple[str, str] | None, tag: str = "Contents"):
    c = _sub(parent, tag)
    _sub(c, "Key", _enc(obj.key, encode))
    _sub(c, "LastModified", iso8601(obj.last_modified))
    _sub(c, "ETag", obj.etag)
    if obj.checksums:
        for algo in obj.checksums:
            _sub(c, "ChecksumAlgorithm", algo)
        if obj.checksum_type:
            _sub(c, "ChecksumType", obj.checksum_type)
    _sub(c, "Size", obj.size)
    if owner:
        _owner(c, *owner)
    _sub(c, "StorageClass", obj.storage_class)
    return c


def list_objects_v2(*, bucket: str, prefix: str, delimiter: str, max_keys: int, page, encode: bool,
                    continuation_token: str | None, next_token: str | None, start_after: str | None,
                    owner: tuple[str, str] | None) -> bytes:
    root = _root("ListBucketResult")
    _sub(root, "Name", bucket)
    _sub(root, "Prefix", _enc(prefix, encode))
    if delimiter:
        _sub(root, "Delimiter", _enc(delimiter, encode))
    _sub(root, "MaxKeys", max_keys)
    if encode:
        _sub(root, "EncodingType", "url")
    _sub(root, "KeyCount", len(page.objects) + len(page.common_prefixes))
    if continuation_token is not None:
        _sub(root, "ContinuationToken", continuation_token)
    if start_after:
        _sub(root, "StartAfter", _enc(start_after, encode))
    _sub(root, "IsTruncated", "true" if page.is_truncated else "false")
    if next_token:
        _sub(root, "NextContinuationToken", next_token)
    for obj in page.objects:
        _contents(root, obj, encode, owner)
    for cp in page.common_prefixes:
        _sub(_sub(root, "CommonPrefixes"), "Prefix", _enc(cp, encode))
    return _doc(root)


def list_objects_v1(*, bucket: str, prefix: str, delimiter: str, max_keys: int, page, encode: bool,
                    marker: str, owner: tuple[str, str] | None) -> bytes:
    root = _root("ListBucketResult")
    _sub(root, "Name", bucket)
    _sub(root, "Prefix", _enc(prefix, encode))
    _sub(root, "Marker", _enc(marker, encode))
    if page.is_truncated and delimiter and page.next_marker:
        _sub(root, "NextMarker", _enc(page.next_marker, encode))
    _sub(root, "MaxKeys", max_keys)
    if delimiter:
        _sub(root, "Delimiter", _enc(delimiter, encode))
    if encode:
        _sub(root, "EncodingType", "url")
    _sub(root, "IsTruncated", "true" if page.is_truncated else "false")
    for obj in page.objects:
        _contents(root, obj, encode, owner)
    for cp in page.common_prefixes:
        _sub(_sub(root, "CommonPrefixes"), "Prefix", _enc(cp, encode))
    return _doc(root)


# -- page bodies -------------------------------------------------------------------------
#
# A 1,000-key page built element by element with lxml costs about as much as the rest of
# the request; these write the same bytes as ``list_objects_v2`` / ``list_objects_v1``
# as one string. A value lxml would not write verbatim -- a character XML 1.0 cannot carry
# (lxml refuses it) or CR (written as &#13;) -- sends the page to the lxml builder, so the
# output, errors included, stays exactly that builder's.
_NOT_VERBATIM = re.compile("[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_OPEN = f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="{S3_NS}">'


def _esc(text: str) -> str:
    """Text content as lxml writes it: &, < and > escaped (CR never gets here)."""
    if "&" in text or "<" in text or ">" in text:
        return escape(text, quote=False)
    return text


def _iso8601(dt) -> str:
    """``iso8601`` for the UTC datetimes the store returns, ~2.5x cheaper: %-formatting the
    fields beats both ``strftime`` and ``isoformat`` (which was a sixth of a listing page)."""
    if dt.tzinfo is timezone.utc:
        return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
            dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond // 1000)
    return iso8601(dt)


class _Body:
    """One page body as a list of strings; ``values`` collects every value written."""

    def __init__(self):
        self.out = [_OPEN]
        self.values: list[str] = []

    def el(self, name: str, text: str) -> None:
        self.values.append(text)
        self.out.append(f"<{name}>{_esc(text)}</{name}>")

    def entries(self, page, encode: bool, owner: tuple[str, str] | None) -> None:
        out, values = self.out, self.values
        owner_xml = ""
        if owner:
            values.extend(owner)
            owner_xml = f"<Owner><ID>{_esc(owner[0])}</ID><DisplayName>{_esc(owner[1])}</DisplayName></Owner>"
        for o in page.objects:
            key = _enc(o.key, encode) if encode else o.key
            values += (key, o.etag, o.storage_class)
            checksums = ""
            if o.checksums:
                values.extend(o.checksums)
                checksums = "".join(f"<ChecksumAlgorithm>{_esc(a)}</ChecksumAlgorithm>" for a in o.checksums)
                if o.checksum_type:
                    values.append(o.checksum_type)
                    checksums += f"<ChecksumType>{_esc(o.checksum_type)}</ChecksumType>"
            out.append(f"<Contents><Key>{_esc(key)}</Key><LastModified>{_iso8601(o.last_modified)}"
                       f"</LastModified><ETag>{_esc(o.etag)}</ETag>{checksums}<Size>{o.size:d}</Size>"
                       f"{owner_xml}<StorageClass>{_esc(o.storage_class)}</StorageClass></Contents>")
        for cp in page.common_prefixes:
            cp = _enc(cp, encode)
            values.append(cp)
            out.append(f"<CommonPrefixes><Prefix>{_esc(cp)}</Prefix></CommonPrefixes>")
        out.append("</ListBucketResult>")

    def bytes(self) -> bytes | None:
        """The body, or None when a value must go through lxml."""
        if _NOT_VERBATIM.search("".join(self.values)):
            return None
        return "".join(self.out).encode("utf-8")


def list_objects_v2_body(*, bucket: str, prefix: str, delimiter: str, max_keys: int, page, encode: bool,
                         continuation_token: str | None, next_token: str | None, start_after: str | None,
                         owner: tuple[str, str] | None) -> bytes:
    """``list_objects_v2``, byte for byte (the fast path ListObjectsV2 uses)."""
    enc = _enc
    b = _Body()
    b.el("Name", bucket)
    b.el("Prefix", enc(prefix, encode))
    if delimiter:
        b.el("Delimiter", enc(delimiter, encode))
    b.el("MaxKeys", str(max_keys))
    if encode:
        b.el("EncodingType", "url")
    b.el("KeyCount", str(len(page.objects) + len(page.common_prefixes)))
    if continuation_token is not None:
        b.el("ContinuationToken", continuation_token)
    if start_after:
        b.el("StartAfter", enc(start_after, encode))
    b.el("IsTruncated", "true" if page.is_truncated else "false")
    if next_token:
        b.el("NextContinuationToken", next_token)
    b.entries(page, encode, owner)
    body = b.bytes()
    if body is None:
        return list_objects_v2(
            bucket=bucket, prefix=prefix, delimiter=delimiter, max_keys=max_keys, page=page, encode=encode,
            continuation_token=continuation_token, next_token=next_token, start_after=start_after,
            owner=owner)
    return body


def list_objects_v1_body(*, bucket: str, prefix: str, delimiter: str, max_keys: int, page, encode: bool,
                         marker: str, owner: tuple[str, str] | None) -> bytes:
    """``list_objects_v1``, byte for byte (the fast path ListObjects uses)."""
    enc = _enc
    b = _Body()
    b.el("Name", bucket)
    b.el("Prefix", enc(prefix, encode))
    b.el("Marker", enc(marker, encode))
    if page.is_truncated and delimiter and page.next_marker:
        b.el("NextMarker", enc(page.next_marker, encode))
    b.el("MaxKeys", str(max_keys))
    if delimiter:
        b.el("Delimiter", enc(delimiter, encode))
    if encode:
        b.el("EncodingType", "url")
    b.el("IsTruncated", "true" if page.is_truncated else "false")
    b.entries(page, encode, owner)
    body = b.bytes()
    if body is None:
        return list_objects_v1(bucket=bucket, prefix=prefix, delimiter=delimiter, max_keys=max_keys,
                                   page=page, encode=encode, marker=marker, owner=owner)
    return body



def list_object_versions(*, bucket: str, prefix: str, delimiter: str, max_keys: int, page, encode: bool,
                         key_marker: str, owner: tuple[str, str]) -> bytes:
    root = _root("ListVersionsResult")
    _sub(root, "Name", bucket)
    _sub(root, "Prefix", _enc(prefix, encode))
    _sub(root, "KeyMarker", _enc(key_marker, encode))
    _sub(root, "VersionIdMarker", "")
    if page.is_truncated and page.next_marker:
        _sub(root, "NextKeyMarker", _enc(page.next_marker, encode))
        _sub(root, "NextVersionIdMarker", "null")
    _sub(root, "MaxKeys", max_keys)
    if delimiter:
        _sub(root, "Delimiter", _enc(delimiter, encode))
    if encode:
        _sub(root, "EncodingType", "url")
    _sub(root, "IsTruncated", "true" if page.is_truncated else "false")
    for obj in page.objects:
        v = _sub(root, "Version")
        _sub(v, "Key", _enc(obj.key, encode))
        _sub(v, "VersionId", "null")
        _sub(v, "IsLatest", "true")
        _sub(v, "LastModified", iso8601(obj.last_modified))
        _sub(v, "ETag", obj.etag)
        _sub(v, "Size", obj.size)
        _owner(v, *owner)
        _sub(v, "StorageClass", obj.storage_class)
    for cp in page.common_prefixes:
        _sub(_sub(root, "CommonPrefixes"), "Prefix", _enc(cp, encode))
    return _doc(root)


def delete_result(deleted: Sequence[str], errors: Sequence[tuple[str, str, str]], quiet: bool) -> bytes:
    root = _root("DeleteResult")
    if not quiet:
        for key in deleted:
            _sub(_sub(root, "Deleted"), "Key", key)
    for key, code, message in errors:
        e = _sub(root, "Error")
        _sub(e, "Key", key)
        _sub(e, "Code", code)
        _sub(e, "Message", message)
    return _doc(root)


def cors_configuration(rules) -> bytes:
    root = _root("CORSConfiguration")
    for rule in rules:
        r = _sub(root, "CORSRule")
        if rule.id is not None:
            _sub(r, "ID", rule.id)
        for name, values in (("AllowedHeader", rule.allowed_headers), ("AllowedMethod", rule.allowed_methods),
                             ("AllowedOrigin", rule.allowed_origins), ("ExposeHeader", rule.expose_headers)):
            for value in values:
                _sub(r, name, value)
        if rule.max_age_seconds is not None:
            _sub(r, "MaxAgeSeconds", rule.max_age_seconds)
    return _doc(root)


def copy_result(tag: str, etag: str, last_modified: datetime, checksums: dict[str, str] | None = None) -> bytes:
    root = _root(tag)
    _sub(root, "ETag", etag)
    _sub(root, "LastModified", iso8601(last_modified))
    for algo, value in (checksums or {}).items():
        _sub(root, "Checksum" + algo, value)
    if checksums and tag == "CopyObjectResult":
        _sub(root, "ChecksumType", "FULL_OBJECT")     # a copy is a single-part write (CopyPartResult has none)
    return _doc(root)


def tagging(tags: Sequence[tuple[str, str]]) -> bytes:
    root = _root("Tagging")
    tag_set = _sub(root, "TagSet")
    for key, value in tags:
        tag = _sub(tag_set, "Tag")
        _sub(tag, "Key", key)
        _sub(tag, "Value", value)
    return _doc(root)


def object_attributes(meta, wanted: set[str], *, part_number_marker: int, max_parts: int) -> bytes:
    """GetObjectAttributesResponse with the ``wanted`` attributes, in the API reference's order.
    A multipart object's composite checksum goes out without its ``-N`` part count (the count
    is ObjectParts' PartsCount); Parts are listed when the parts carry checksums."""
    root = _root("GetObjectAttributesResponse")
    if "ETag" in wanted:
        _sub(root, "ETag", meta.etag.strip('"'))
    if "Checksum" in wanted and meta.checksums:
        c = _sub(root, "Checksum")
        for algo, value in meta.checksums.items():
            _sub(c, "Checksum" + algo, value.split("-", 1)[0])
        if meta.checksum_type:
            _sub(c, "ChecksumType", meta.checksum_type)
    if "ObjectParts" in wanted and meta.parts_count:
        op = _sub(root, "ObjectParts")
        _sub(op, "PartsCount", meta.parts_count)
        if any(seg.checksums for seg in meta.segments):
            after = [seg for seg in meta.segments if (seg.part_number or 0) > part_number_marker]
            shown = after[:max_parts]
            _sub(op, "PartNumberMarker", part_number_marker)
            if shown:
                _sub(op, "NextPartNumberMarker", shown[-1].part_number)
            _sub(op, "MaxParts", max_parts)
            _sub(op, "IsTruncated", "true" if len(after) > len(shown) else "false")
            for seg in shown:
                part = _sub(op, "Part")
                for algo, value in seg.checksums.items():
                    _sub(part, "Checksum" + algo, value)
                _sub(part, "PartNumber", seg.part_number)
                _sub(part, "Size", seg.blob.size)
    if "StorageClass" in wanted:
        _sub(root, "StorageClass", meta.storage_class)
    if "ObjectSize" in wanted:
        _sub(root, "ObjectSize", meta.size)
    return _doc(root)


def initiate_multipart(bucket: str, key: str, upload_id: str) -> bytes:
    root = _root("InitiateMultipartUploadResult")
    _sub(root, "Bucket", bucket)
    _sub(root, "Key", key)
    _sub(root, "UploadId", upload_id)
    return _doc(root)


def complete_multipart(location_url: str, bucket: str, key: str, etag: str,
                       checksums: dict[str, str] | None = None, checksum_type: str | None = None) -> bytes:
    root = _root("CompleteMultipartUploadResult")
    _sub(root, "Location", location_url)
    _sub(root, "Bucket", bucket)
    _sub(root, "Key", key)
    _sub(root, "ETag", etag)
    for algo, value in (checksums or {}).items():
        _sub(root, "Checksum" + algo, value)
    if checksums and checksum_type:
        _sub(root, "ChecksumType", checksum_type)
    return _doc(root)


def list_parts(*, bucket: str, key: str, upload_id: str, parts, is_truncated: bool, marker: int,
               max_parts: int, owner: tuple[str, str], storage_class: str,
               checksum_algorithm: str | None, checksum_type: str | None) -> bytes:
    root = _root("ListPartsResult")
    _sub(root, "Bucket", bucket)
    _sub(root, "Key", key)
    _sub(root, "UploadId", upload_id)
    _owner(root, *owner, tag="Initiator")
    _owner(root, *owner)
    _sub(root, "StorageClass", storage_class)
    _sub(root, "PartNumberMarker", marker)
    if parts:
        _sub(root, "NextPartNumberMarker", parts[-1].part_number)
    _sub(root, "MaxParts", max_parts)
    _sub(root, "IsTruncated", "true" if is_truncated else "false")
    if checksum_algorithm:
        _sub(root, "ChecksumAlgorithm", checksum_algorithm)
        if checksum_type:
            _sub(root, "ChecksumType", checksum_type)
    for p in parts:
        e = _sub(root, "Part")
        _sub(e, "PartNumber", p.part_number)
        _sub(e, "LastModified", iso8601(p.last_modified))
        _sub(e, "ETag", p.etag)
        _sub(e, "Size", p.size)
        for algo, value in p.checksums.items():
            _sub(e, "Checksum" + algo, value)
    return _doc(root)


def list_uploads(*, bucket: str, uploads, prefixes: Sequence[str], is_truncated: bool, key_marker: str,
                 upload_id_marker: str, max_uploads: int, prefix: str, delimiter: str, encode: bool,
                 owner: tuple[str, str]) -> bytes:
    root = _root("ListMultipartUploadsResult")
    _sub(root, "Bucket", bucket)
    _sub(root, "KeyMarker", _enc(key_marker, encode))
    _sub(root, "UploadIdMarker", upload_id_marker)
    if is_truncated and (uploads or prefixes):
        # the seek point is whichever of the last upload / last common prefix sorts last
        if prefixes and (not uploads or prefixes[-1] > uploads[-1].key):
            _sub(root, "NextKeyMarker", _enc(prefixes[-1], encode))
            _sub(root, "NextUploadIdMarker", "")
        else:
            _sub(root, "NextKeyMarker", _enc(uploads[-1].key, encode))
            _sub(root, "NextUploadIdMarker", uploads[-1].upload_id)
    if encode:
        _sub(root, "EncodingType", "url")
    if delimiter:
        _sub(root, "Delimiter", _enc(delimiter, encode))
    _sub(root, "Prefix", _enc(prefix, encode))
    _sub(root, "MaxUploads", max_uploads)
    _sub(root, "IsTruncated", "true" if is_truncated else "false")
    for u in uploads:
        e = _sub(root, "Upload")
        _sub(e, "Key", _enc(u.key, encode))
        _sub(e, "UploadId", u.upload_id)
        _owner(e, *owner, tag="Initiator")
        _owner(e, *owner)
        _sub(e, "StorageClass", u.storage_class)
        _sub(e, "Initiated", iso8601(u.initiated))
        if u.checksum_algorithm:
            _sub(e, "ChecksumAlgorithm", u.checksum_algorithm)
            if u.checksum_type:
                _sub(e, "ChecksumType", u.checksum_type)
    for cp in prefixes:
        _sub(_sub(root, "CommonPrefixes"), "Prefix", _enc(cp, encode))
    return _doc(root)


XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


def access_control_policy(owner_id: str, owner_name: str) -> bytes:
    """The one ACL there is (service/acl.py): FULL_CONTROL for the bucket owner."""
    root = _root("AccessControlPolicy")
    _owner(root, owner_id, owner_name)
    grant = _sub(_sub(root, "AccessControlList"), "Grant")
    grantee = etree.SubElement(grant, "Grantee", nsmap={"xsi": XSI_NS})
    grantee.set(f"{{{XSI_NS}}}type", "CanonicalUser")
    _sub(grantee, "ID", owner_id)
    _sub(grantee, "DisplayName", owner_name)
    _sub(grant, "Permission", "FULL_CONTROL")
    return _doc(root)


def post_response(location: str, bucket: str, key: str, etag: str) -> bytes:
    """PostObject's answer with success_action_status 201."""
    root = _root("PostResponse", ns=False)
    _sub(root, "Location", location)
    _sub(root, "Bucket", bucket)
    _sub(root, "Key", key)
    _sub(root, "ETag", etag)
    return _doc(root)


def empty(name: str) -> bytes:
    """A document with nothing set: ``<BucketLoggingStatus xmlns="..."/>``."""
    return _doc(_root(name))


def single(name: str, child: str, text: str) -> bytes:
    root = _root(name)
    _sub(root, child, text)
    return _doc(root)


def ownership_controls(setting: str = "BucketOwnerEnforced") -> bytes:
    root = _root("OwnershipControls")
    _sub(_sub(root, "Rule"), "ObjectOwnership", setting)
    return _doc(root)


def versioning(status: str | None = None) -> bytes:
    root = _root("VersioningConfiguration")
    if status:
        _sub(root, "Status", status)
    return _doc(root)


def bucket_encryption(enc) -> bytes:
    """GetBucketEncryption's ``ServerSideEncryptionConfiguration`` (one rule)."""
    root = _root("ServerSideEncryptionConfiguration")
    rule = _sub(root, "Rule")
    _sub(_sub(rule, "ApplyServerSideEncryptionByDefault"), "SSEAlgorithm", enc.algorithm)
    _sub(rule, "BucketKeyEnabled", "true" if enc.bucket_key_enabled else "false")
    return _doc(root)


def _lifecycle_filter(parent, rule) -> None:
    kind = rule.filter_kind
    if kind == "legacy":
        _sub(parent, "Prefix", rule.prefix)
        return
    f = _sub(parent, "Filter")
    if kind == "prefix":
        _sub(f, "Prefix", rule.prefix)
    elif kind == "tag":
        tag = _sub(f, "Tag")
        _sub(tag, "Key", rule.tags[0][0])
        _sub(tag, "Value", rule.tags[0][1])
    elif kind == "gt":
        _sub(f, "ObjectSizeGreaterThan", rule.size_gt)
    elif kind == "lt":
        _sub(f, "ObjectSizeLessThan", rule.size_lt)
    elif kind == "and":
        a = _sub(f, "And")
        if rule.prefix:
            _sub(a, "Prefix", rule.prefix)
        for key, value in rule.tags:
            tag = _sub(a, "Tag")
            _sub(tag, "Key", key)
            _sub(tag, "Value", value)
        if rule.size_gt is not None:
            _sub(a, "ObjectSizeGreaterThan", rule.size_gt)
        if rule.size_lt is not None:
            _sub(a, "ObjectSizeLessThan", rule.size_lt)


def lifecycle_configuration(lifecycle) -> bytes:
    """GetBucketLifecycleConfiguration's ``LifecycleConfiguration``: the rules as they were put."""
    root = _root("LifecycleConfiguration")
    for rule in lifecycle.rules:
        r = _sub(root, "Rule")
        _sub(r, "ID", rule.id)
        _lifecycle_filter(r, rule)
        _sub(r, "Status", "Enabled" if rule.enabled else "Disabled")
        if rule.expiration_days or rule.expiration_date or rule.expired_object_delete_marker is not None:
            e = _sub(r, "Expiration")
            if rule.expiration_days:
                _sub(e, "Days", rule.expiration_days)
            elif rule.expiration_date is not None:
                _sub(e, "Date", iso8601(rule.expiration_date))
            else:
                _sub(e, "ExpiredObjectDeleteMarker", "true" if rule.expired_object_delete_marker else "false")
        if rule.noncurrent_days:
            n = _sub(r, "NoncurrentVersionExpiration")
            _sub(n, "NoncurrentDays", rule.noncurrent_days)
            if rule.newer_noncurrent:
                _sub(n, "NewerNoncurrentVersions", rule.newer_noncurrent)
        if rule.abort_days:
            _sub(_sub(r, "AbortIncompleteMultipartUpload"), "DaysAfterInitiation", rule.abort_days)
    return _doc(root)


def flags(name: str, values: dict[str, bool]) -> bytes:
    """A document of boolean settings, e.g. GetPublicAccessBlock's ``PublicAccessBlockConfiguration``."""
    root = _root(name)
    for child, value in values.items():
        _sub(root, child, "true" if value else "false")
    return _doc(root)


def website_configuration(cfg) -> bytes:
    """GetBucketWebsite: the configuration as PutBucketWebsite took it (models.WebsiteConfig)."""
    root = _root("WebsiteConfiguration")
    if cfg.redirect_all_host is not None:
        red = _sub(root, "RedirectAllRequestsTo")
        _sub(red, "HostName", cfg.redirect_all_host)
        if cfg.redirect_all_protocol:
            _sub(red, "Protocol", cfg.redirect_all_protocol)
        return _doc(root)
    _sub(_sub(root, "IndexDocument"), "Suffix", cfg.index_suffix)
    if cfg.error_key is not None:
        _sub(_sub(root, "ErrorDocument"), "Key", cfg.error_key)
    if cfg.routing_rules:
        rules = _sub(root, "RoutingRules")
        for r in cfg.routing_rules:
            rule = _sub(rules, "RoutingRule")
            if r.key_prefix_equals is not None or r.error_code_equals is not None:
                cond = _sub(rule, "Condition")
                if r.key_prefix_equals is not None:
                    _sub(cond, "KeyPrefixEquals", r.key_prefix_equals)
                if r.error_code_equals is not None:
                    _sub(cond, "HttpErrorCodeReturnedEquals", str(r.error_code_equals))
            red = _sub(rule, "Redirect")
            for tag, value in (("HostName", r.host_name), ("HttpRedirectCode", r.redirect_code),
                               ("Protocol", r.protocol), ("ReplaceKeyPrefixWith", r.replace_key_prefix_with),
                               ("ReplaceKeyWith", r.replace_key_with)):
                if value is not None:
                    _sub(red, tag, str(value))
    return _doc(root)
