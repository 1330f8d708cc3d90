"""The hardened parser of S3 request bodies: resolves no entities, loads no DTD, touches no network,
strips namespaces and refuses bodies over a size cap. Any problem is MalformedXML."""
from __future__ import annotations

from lxml import etree

from s3server.errors import S3Error

MAX_XML_BODY = 2 * 1024 * 1024   # DeleteObjects of 1000 max-length keys stays well under this
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
    huge_tree=False, remove_comments=True, remove_pis=True,
)


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
