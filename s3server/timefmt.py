"""Time formats on the wire: RFC 7231 HTTP dates in, ISO 8601 in error bodies out.

A leaf: imports nothing of ours.
"""
from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime


def parse_http_date(value: str) -> datetime | None:
    """An HTTP date (``Wed, 21 Oct 2015 07:28:00 GMT``) as an aware UTC datetime; None if unparsable."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def iso_time(moment: datetime) -> str:
    """``2015-10-21T07:28:00Z``, as S3 writes times in error bodies."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
