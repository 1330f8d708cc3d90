"""S3 XML responses, the shared part: the writing primitives every builder uses (``sub``,
``document``: characters XML 1.0 cannot carry become character references), timestamps and
encoding-type=url, and the generic documents (Error, empty, single-value, flags, Tagging).

Builders take plain values and return bytes, one per result type, by family: xmllisting.py
(ListBuckets, ListObjects v1/v2, versions, uploads, parts), xmlbuckets.py (bucket configuration
documents), xmlobjects.py (object and multipart results). Request bodies are parsed by
xmlparse.py."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Sequence
from urllib.parse import quote

from lxml import etree

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'


# Characters XML 1.0 cannot carry (lxml refuses them), which S3 keys may hold: they are written as
# numeric character references (&#x1;), so a listing or an error naming such a key is an answer,
# not a 500 (clients that cannot parse those ask for encoding-type=url, as botocore always does).
# ``sub`` marks each with U+E000 and a private-use character, U+E000 itself doubled, and ``document``
# turns the marks into references in the serialized bytes: every text goes through ``sub``, so
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


def sub(parent, name: str, text=None):
    el = etree.SubElement(parent, name)
    if text is not None:
        text = text if isinstance(text, str) else str(text)
        el.text = _XML_INVALID.sub(_mark, text) if _XML_INVALID.search(text) else text
    return el


def document(root) -> bytes:
    out = XML_DECL + etree.tostring(root, encoding="UTF-8")
    return _MARKED.sub(_unmark, out) if b"\xee\x80\x80" in out else out


def new_root(name: str, ns: bool = True):
    return etree.Element(name, nsmap={None: S3_NS}) if ns else etree.Element(name)


def iso8601(dt: datetime) -> str:
    """S3's timestamp format in XML bodies: 2009-10-12T17:50:30.000Z"""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def url_encode(value: str, encode: bool) -> str:
    # AWS's encoding-type=url: like URL-encoding with safe '/', spaces as '+'... measured on AWS:
    # 'a b' -> 'a+b', 'a+b' -> 'a%2Bb', '100%' -> '100%25'
    if not encode:
        return value
    return quote(value, safe="/~").replace("%20", "+")


def owner_element(parent, owner_id: str, display_name: str, tag: str = "Owner"):
    o = sub(parent, tag)
    sub(o, "ID", owner_id)
    sub(o, "DisplayName", display_name)
    return o


def error(code: str, message: str, fields: dict, request_id: str, host_id: str) -> bytes:
    root = etree.Element("Error")
    sub(root, "Code", code)
    sub(root, "Message", message)
    for k, v in fields.items():
        sub(root, k, v)
    sub(root, "RequestId", request_id)
    sub(root, "HostId", host_id)
    return document(root)


def empty(name: str) -> bytes:
    """A document with nothing set: ``<BucketLoggingStatus xmlns="..."/>``."""
    return document(new_root(name))


def single(name: str, child: str, text: str) -> bytes:
    root = new_root(name)
    sub(root, child, text)
    return document(root)


def flags(name: str, values: dict[str, bool]) -> bytes:
    """A document of boolean settings, e.g. GetPublicAccessBlock's ``PublicAccessBlockConfiguration``."""
    root = new_root(name)
    for child, value in values.items():
        sub(root, child, "true" if value else "false")
    return document(root)


def tagging(tags: Sequence[tuple[str, str]]) -> bytes:
    root = new_root("Tagging")
    tag_set = sub(root, "TagSet")
    for key, value in tags:
        tag = sub(tag_set, "Tag")
        sub(tag, "Key", key)
        sub(tag, "Value", value)
    return document(root)
