"""Object and bucket tags: parsing and AWS's rules for them.

A tag set is kept as a tuple of (key, value) pairs in the order the client sent them. AWS's
rules (S3 User Guide, "Categorizing your storage using tags"; the PutObjectTagging and
PutBucketTagging references): at most 10 tags per object (50 per bucket), keys 1-128 and
values 0-256 Unicode characters, letters, digits, spaces and ``+ - = . _ : / @`` only, unique
keys, no ``aws:`` prefix (system tags). Over 10 tags on an object is ``BadRequest``, everything
else ``InvalidTag``, each with the message AWS sends.

A leaf of the service layer: imports only errors.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl

from s3server.errors import S3Error

Tags = tuple[tuple[str, str], ...]

MAX_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
_CHARS = re.compile(r"[\w\s+\-=.:/@]*")        # \w: Unicode letters, digits and _


def validate_tags(pairs: list[tuple[str, str]], *, bucket: bool = False) -> Tags:
    """``pairs`` as an object's (or with ``bucket``, a bucket's) tag set, or S3Error."""
    if bucket and len(pairs) > MAX_BUCKET_TAGS:
        raise S3Error("InvalidTag", f"Bucket tag count cannot be greater than {MAX_BUCKET_TAGS}")
    if not bucket and len(pairs) > MAX_TAGS:
        raise S3Error("BadRequest", "Object tags cannot be greater than 10")
    seen = set()
    for key, value in pairs:
        if key in seen:
            raise S3Error("InvalidTag", "Cannot provide multiple Tags with the same key")
        seen.add(key)
        if len(key) > MAX_TAG_KEY:
            raise S3Error("InvalidTag", "The TagKey you have provided is too long, max 128")
        if len(value) > MAX_TAG_VALUE:
            raise S3Error("InvalidTag", "The TagValue you have provided is too long, max 256")
        if key.lower().startswith("aws:"):
            raise S3Error("InvalidTag", "Your TagKey cannot be prefixed with aws:")
        if not key or not _CHARS.fullmatch(key):
            raise S3Error("InvalidTag", "The TagKey you have provided is invalid")
        if not _CHARS.fullmatch(value):
            raise S3Error("InvalidTag", "The TagValue you have provided is invalid")
    return tuple(pairs)


def tags_from_header(value: str | None) -> Tags | None:
    """The ``x-amz-tagging`` header (URL query form, ``k1=v1&k2=v2``); None when absent."""
    if value is None:
        return None
    try:
        pairs = parse_qsl(value, keep_blank_values=True, strict_parsing=bool(value), errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise S3Error("InvalidArgument", "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded "
                      "URL query parameters without tag name duplicates.",
                      argument_name="x-amz-tagging", argument_value=value) from exc
    return validate_tags(pairs)
