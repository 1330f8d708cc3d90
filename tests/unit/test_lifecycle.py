"""Lifecycle arithmetic and rule matching (service/lifecycle.py, models.LifecycleRule): AWS's
"add the days to the creation time and round up to the next midnight UTC"."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from s3server.models import LifecycleRule
from s3server.service.lifecycle import expiration_cutoff, expires_at, midnight, written_by
from tests.xmlfuzz import mutations

UTC = timezone.utc


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("written, days, expected", [
    (at(2026, 1, 15, 10, 30), 3, at(2026, 1, 19)),      # the S3 User Guide's example, rounded up
    (at(2026, 1, 15), 3, at(2026, 1, 18)),              # exactly midnight: no rounding
    (at(2026, 1, 15, 0, 0, 0, 1), 1, at(2026, 1, 17)),
    (at(2026, 12, 31, 23, 59, 59), 1, at(2027, 1, 2)),
    (datetime(2026, 1, 15, 23, 30, tzinfo=timezone(timedelta(hours=-5))), 1, at(2026, 1, 18)),  # 04:30 UTC on the 16th
])
def test_expires_at_rounds_up_to_midnight_utc(written, days, expected):
    assert expires_at(written, days) == expected


def test_written_by_is_the_inverse_of_expires_at():
    """``expires_at(w, d) <= now`` exactly when ``w <= written_by(d, now)``, at every boundary."""
    base = at(2026, 3, 1)
    samples = [base + timedelta(minutes=m) for m in range(-3000, 3000, 37)]
    samples += [base, base - timedelta(microseconds=1), base + timedelta(microseconds=1)]
    for days in (1, 2, 30):
        for now in samples:
            cut = written_by(days, now)
            for w in samples:
                assert (expires_at(w, days) <= now) == (w <= cut), (w, days, now)


def test_a_rule_of_millions_of_days_never_comes():
    """Days up to 2**31 - 1 are accepted; past the year 9999 (where datetime ends) nothing
    expires, and nothing fails."""
    from s3server.service.lifecycle import NEVER
    now = at(2026, 5, 5, 12)
    assert expires_at(now, 2**31 - 1) == NEVER and expires_at(now, 3_000_000) == NEVER
    assert written_by(2**31 - 1, now) < at(1, 1, 2)
    assert expiration_cutoff(LifecycleRule("long", True, expiration_days=2**31 - 1), now) < at(1, 1, 2)


def test_expiration_cutoff():
    now = at(2026, 5, 5, 12)
    assert expiration_cutoff(LifecycleRule("d", True, expiration_days=2), now) == at(2026, 5, 3)
    dated = LifecycleRule("t", True, expiration_date=at(2026, 5, 6))
    assert expiration_cutoff(dated, now) is None                       # a date still ahead: nothing yet
    assert expiration_cutoff(dated, at(2026, 5, 6)) == at(2026, 5, 6)  # on the date: everything
    assert expiration_cutoff(LifecycleRule("m", True, expired_object_delete_marker=True), now) is None
    assert midnight(now) == at(2026, 5, 5)


def test_rule_matching():
    rule = LifecycleRule("r", True, "and", prefix="logs/", tags=(("env", "dev"), ("tmp", "")), size_gt=10,
                         size_lt=100)
    tags = (("env", "dev"), ("tmp", ""), ("other", "x"))
    assert rule.matches("logs/a", 50, tags)
    assert not rule.matches("log/a", 50, tags)                # prefix
    assert not rule.matches("logs/a", 10, tags)               # not greater than 10
    assert not rule.matches("logs/a", 100, tags)              # not less than 100
    assert not rule.matches("logs/a", 50, (("env", "dev"),))  # a tag missing
    assert not rule.matches("logs/a", 50, (("env", "prod"), ("tmp", "")))   # a tag's value differs
    assert LifecycleRule("all", True).matches("anything", 0, ())


VALID = [
    b"<LifecycleConfiguration><Rule><ID>a</ID><Filter><And><Prefix>p/</Prefix><Tag><Key>k</Key><Value>v</Value>"
    b"</Tag><ObjectSizeGreaterThan>5</ObjectSizeGreaterThan></And></Filter><Status>Enabled</Status><Expiration>"
    b"<Days>3</Days></Expiration></Rule><Rule><ID>b</ID><Prefix>x/</Prefix><Status>Disabled</Status>"
    b"<AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload>"
    b"<NoncurrentVersionExpiration><NoncurrentDays>4</NoncurrentDays></NoncurrentVersionExpiration></Rule>"
    b"</LifecycleConfiguration>",
    b"<LifecycleConfiguration><Rule><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status>"
    b"<Expiration><Date>2031-01-01T00:00:00.000Z</Date></Expiration></Rule></LifecycleConfiguration>",
]
ODD_TEXT = ["", " ", "0", "-1", "1", "2147483648", "99999999999999999999999", "1e3", "abc", "2031-01-01",
            "2031-01-01T12:00:00Z", "9999-12-31T00:00:00Z", "true", "Enabled", "\u00e9\u4e2d", "x" * 300]


def _mutations(doc: bytes, rnd):
    return mutations(doc, rnd, ODD_TEXT)


def test_mutated_documents_get_an_s3_error_or_a_configuration():
    """Whatever a client sends, PutBucketLifecycleConfiguration's parser answers an S3 error (400,
    or 501 for what is not implemented) or a configuration, never another exception (a 500)."""
    import random

    from s3server.api.s3.lifecycle import parse_lifecycle
    from s3server.errors import S3Error
    from s3server.service.lifecycle import object_expiration, upload_abort
    from s3server.models import ObjectMeta
    rnd = random.Random(11)
    outcomes = {"ok": 0, "error": 0}
    for doc in VALID:
        for variant in _mutations(doc, rnd):
            try:
                lc = parse_lifecycle(variant, None)
            except S3Error as exc:
                assert exc.status in (400, 501), (variant, exc.code)
                outcomes["error"] += 1
                continue
            outcomes["ok"] += 1
            meta = ObjectMeta("b", "p/x", 10, '"e"', at(2026, 1, 1), tags=(("k", "v"),))
            object_expiration(lc, meta)                      # what a GET would report: never raises
            upload_abort(lc, "x/y", at(2026, 1, 1))
            for rule in lc.rules:
                expiration_cutoff(rule, at(2026, 6, 1))
    assert outcomes["ok"] > 50 and outcomes["error"] > 50, outcomes     # both kinds were exercised
