"""The lifecycle pass: carries out the buckets' lifecycle rules (PutBucketLifecycleConfiguration).
HTTP-free.

What a pass does, for each bucket that has rules and each of its ``Enabled`` rules:

* **Expiration** (``Days`` or ``Date``): deletes the objects the rule applies to (its prefix, tags
  and size bounds) once they have expired. As AWS computes it, an object expires ``Days`` days
  after it was last written, rounded up to the next midnight UTC (written Jan 15 10:30 with
  ``Days`` 3: gone from Jan 19 00:00); with a ``Date`` every object the rule applies to expires
  on that date (a date in the past: at once). Candidates come from an index range scan per rule
  (``expiry_candidates``, a page of 1000 at a time); a page is deleted in one transaction whose
  rows are read under lock and judged again by age and size (``expire_objects``), and for a rule
  with tags each candidate whose listed tags match is deleted with ``delete_object_if``, which
  judges the row again under its lock: an object overwritten, retagged or resized since it was
  listed is deleted only if the rule still expires it. The blobs of a deleted object go the way a
  DeleteObject's do (``delete_later``; what is lost in a crash is left to repair's GC).
* **AbortIncompleteMultipartUpload** (``DaysAfterInitiation``): aborts the uploads under the
  rule's prefix initiated that many days ago (rounded up to midnight the same way), as an
  AbortMultipartUpload does; their parts' blobs are deleted.

``ExpiredObjectDeleteMarker``, ``NoncurrentVersionExpiration``: buckets here keep one version of
each object, so there are never delete markers or noncurrent versions to act on, as in an
unversioned AWS bucket. Transitions between storage classes are refused when the rules are put.

Passes run with ``s3server repair`` (each pass, before the repair; ``--no-lifecycle`` skips it),
so in the background loop of ``serve`` and the repair CronJob of the k8s manifests; ``s3server
lifecycle`` runs one on its own (``--now`` to see what a later date would do, ``--dry-run``).
Rules take effect at a pass, not at the instant they say: AWS, too, acts on them some time after
an object becomes eligible. A pass is idempotent: several at once (several pods) do the work once.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from s3server.meta import errors as meta_errors
from s3server.models import Bucket, BucketLifecycle, LifecycleRule, ObjectMeta

log = logging.getLogger("s3server.lifecycle")

DAY = timedelta(days=1)
PAGE = 1000
COUNTERS = ("buckets", "rules", "expired", "aborted", "kept")


def midnight(t: datetime) -> datetime:
    """The midnight UTC that starts ``t``'s day."""
    return t.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


NEVER = datetime.max.replace(tzinfo=timezone.utc)


def expires_at(written: datetime, days: int) -> datetime:
    """When an object written (or an upload initiated) at ``written`` expires under a rule of
    ``days`` days: ``days`` later, rounded up to the next midnight UTC (``NEVER`` past the year
    9999, where datetime ends: a rule may say a million days)."""
    try:
        t = written.astimezone(timezone.utc) + days * DAY
        start = midnight(t)
        return start if start == t else start + DAY
    except OverflowError:
        return NEVER


def written_by(days: int, now: datetime) -> datetime:
    """The latest write time that has expired by ``now`` under a rule of ``days`` days:
    ``expires_at(w, days) <= now`` exactly when ``w <= written_by(days, now)``."""
    try:
        return midnight(now) - days * DAY
    except OverflowError:
        return datetime.min.replace(tzinfo=timezone.utc)      # nothing is that old


def expiration_cutoff(rule: LifecycleRule, now: datetime) -> datetime | None:
    """The latest write time of an object this rule expires at ``now``; None: the rule expires
    nothing now (no Days or Date, or a Date still ahead)."""
    if rule.expiration_days:
        return written_by(rule.expiration_days, now)
    if rule.expiration_date is not None and now >= rule.expiration_date:
        return now
    return None


@dataclass
class LifecycleReport:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    seconds: float = 0.0
    dry_run: bool = False

    def summary(self) -> dict:
        return {"event": "lifecycle", **self.counts, "dry_run": self.dry_run, "seconds": round(self.seconds, 3)}


class LifecycleRunner:
    """One lifecycle pass over every bucket that has rules (or over ``bucket`` alone)."""

    def __init__(self, store, blobs, *, now: Callable[[], datetime] | None = None, dry_run: bool = False,
                 bucket: str | None = None, on_event: Callable[[dict], None] | None = None, page: int = PAGE):
        self.store = store
        self.blobs = blobs
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.dry_run = dry_run
        self.bucket = bucket
        self.on_event = on_event or (lambda event: None)
        self.page = page

    def run(self) -> LifecycleReport:
        started = time.monotonic()
        report = LifecycleReport(dry_run=self.dry_run)
        now = self.now()
        for bucket in self.store.buckets_with_lifecycle():
            if self.bucket is not None and bucket.name != self.bucket:
                continue
            report.counts["buckets"] += 1
            for rule in bucket.lifecycle.rules:
                if not rule.enabled:
                    continue
                report.counts["rules"] += 1
                cutoff = expiration_cutoff(rule, now)
                if cutoff is not None:
                    self._expire(bucket, rule, cutoff, report)
                if rule.abort_days:
                    self._abort(bucket, rule, written_by(rule.abort_days, now), report)
        report.seconds = time.monotonic() - started
        return report

    def _event(self, report: LifecycleReport, kind: str, bucket: Bucket, rule: LifecycleRule, **fields) -> None:
        report.counts[kind] += 1
        self.on_event({"event": kind, "bucket": bucket.name, "rule": rule.id, "dry_run": self.dry_run, **fields})

    def _expire(self, bucket: Bucket, rule: LifecycleRule, cutoff: datetime, report: LifecycleReport) -> None:
        def expired(meta: ObjectMeta) -> bool:      # judged again on the locked row
            return meta.last_modified <= cutoff and rule.matches(meta.key, meta.size, meta.tags)

        after = ""
        while True:
            found = self.store.expiry_candidates(bucket.name, rule.prefix, after, cutoff, size_gt=rule.size_gt,
                                                 size_lt=rule.size_lt, limit=self.page, with_tags=bool(rule.tags))
            if self.dry_run:
                removed = [m for key, *_ in found if (m := self.store.get_object(bucket.name, key)) and expired(m)]
            elif not rule.tags:       # age and size only: the page in one transaction, judged by its WHERE
                removed = self.store.expire_objects(bucket.name, [key for key, *_ in found], cutoff,
                                                    size_gt=rule.size_gt, size_lt=rule.size_lt)
            else:                     # tags: each object whose listed tags match, judged under its lock
                removed = []
                for key, size, tags in found:
                    if not rule.matches(key, size, tags):
                        continue
                    try:
                        meta = self.store.delete_object_if(bucket.name, key, expired)
                    except meta_errors.PreconditionFailed:
                        meta = None
                    if meta is not None:
                        removed.append(meta)
            report.counts["kept"] += len(found) - len(removed)
            garbage = []
            for meta in removed:
                garbage.extend(meta.blobs)
                self._event(report, "expired", bucket, rule, key=meta.key, size=meta.size,
                            last_modified=meta.last_modified.isoformat())
            if garbage:
                self.blobs.delete_later(garbage)
            if len(found) < self.page:
                return
            after = found[-1][0]

    def _abort(self, bucket: Bucket, rule: LifecycleRule, cutoff: datetime, report: LifecycleReport) -> None:
        after = ("", "")
        while True:
            found = self.store.stale_uploads(bucket.name, rule.prefix, cutoff, after, limit=self.page)
            for key, upload_id in found:
                if not self.dry_run:
                    try:
                        blobs = self.store.abort_upload(upload_id)
                    except meta_errors.NotFound:       # completed or aborted meanwhile
                        continue
                    if blobs:
                        self.blobs.delete_later(blobs)
                self._event(report, "aborted", bucket, rule, key=key, upload_id=upload_id)
            if len(found) < self.page:
                return
            after = found[-1]


def object_expiration(lifecycle: BucketLifecycle | None, meta: ObjectMeta) -> tuple[datetime, str] | None:
    """When the bucket's rules expire this object, and by which rule (the earliest, if several
    apply): what AWS reports in ``x-amz-expiration``. None: no enabled Expiration rule applies."""
    if lifecycle is None:
        return None
    best = None
    for rule in lifecycle.rules:
        if not rule.enabled or not rule.matches(meta.key, meta.size, meta.tags):
            continue
        if rule.expiration_days:
            when = expires_at(meta.last_modified, rule.expiration_days)
        elif rule.expiration_date is not None:
            when = rule.expiration_date
        else:
            continue
        if when != NEVER and (best is None or when < best[0]):
            best = (when, rule.id)
    return best


def upload_abort(lifecycle: BucketLifecycle | None, key: str, initiated: datetime) -> tuple[datetime, str] | None:
    """When the bucket's rules abort an upload of ``key`` initiated then, and by which rule: what
    AWS reports in ``x-amz-abort-date`` and ``x-amz-abort-rule-id``."""
    if lifecycle is None:
        return None
    found = [(expires_at(initiated, r.abort_days), r.id) for r in lifecycle.rules
             if r.enabled and r.abort_days and key.startswith(r.prefix)]
    found = [f for f in found if f[0] != NEVER]
    return min(found) if found else None
