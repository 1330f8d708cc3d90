"""timefmt: the HTTP dates we write match email.utils' whatever the moment or its zone."""
from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, formatdate

from s3server.timefmt import format_http_time, http_date, parse_http_date


def test_http_dates_match_email_utils():
    rnd = random.Random(7)
    for _ in range(2000):
        ts = rnd.uniform(0, 4102444800)           # 1970 .. 2100
        moment = datetime.fromtimestamp(ts, timezone.utc)
        expected = format_datetime(moment.replace(microsecond=0), usegmt=True)
        assert http_date(moment) == expected
        assert format_http_time(time.gmtime(ts)) == formatdate(int(ts), usegmt=True)
        assert parse_http_date(expected) == moment.replace(microsecond=0)


def test_other_zones_are_written_in_gmt():
    moment = datetime(2026, 11, 28, 23, 30, 5, 999999, tzinfo=timezone(timedelta(hours=-5)))
    assert http_date(moment) == "Sun, 29 Nov 2026 04:30:05 GMT"
    assert http_date(datetime(2026, 2, 28, 1, 2, 3)) == "Sat, 28 Feb 2026 01:02:03 GMT"   # naive: UTC
