"""Time formats on the wire: RFC 7231 HTTP dates in, ISO 8601 in error bodies out.

A leaf: imports nothing of ours.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


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


def format_http_time(t: time.struct_time) -> str:
    """The RFC 7231 HTTP date (``Wed, 21 Oct 2015 07:28:00 GMT``) of a UTC ``struct_time``, with
    English names whatever the locale (a third of the time ``email.utils.formatdate`` takes)."""
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (_DAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1],
                                                   t.tm_year, t.tm_hour, t.tm_min, t.tm_sec)


def http_date(moment: datetime) -> str:
    """The HTTP date of an aware datetime (seconds; the fraction is dropped, as S3 does)."""
    if moment.utcoffset():
        moment = moment.astimezone(timezone.utc)
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (_DAYS[moment.weekday()], moment.day, _MONTHS[moment.month - 1],
                                                   moment.year, moment.hour, moment.minute, moment.second)
