"""Bucket settings and lifecycle queries (a query family of MetadataStore): an entry of the bucket
row's settings document, the buckets that have lifecycle rules, the objects an expiration rule may
reach and the uploads an abort rule may reach. The scans are seeks
on an index range, paged by key, so a pass over a large bucket holds nothing whole; the row itself
is judged again when it is deleted (``delete_object_if``)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from s3server.meta import schema as s
from s3server.meta.listing import prefix_range
from s3server.meta.rows import bucket_from_row, lifecycle_to_json, object_from_row, tags_from_json
from s3server.meta.transactions import Transactions
from s3server.models import Bucket, BucketLifecycle, ObjectMeta


def _age_and_size(modified_before: datetime | None, size_gt: int | None,
                  size_lt: int | None) -> list[sa.ColumnElement]:
    """An expiration rule's conditions on an object row: written at or before ``modified_before``
    (None: any time), larger than ``size_gt``, smaller than ``size_lt`` (None: no bound)."""
    o = s.objects
    conds = []
    if modified_before is not None:
        conds.append(o.c.last_modified <= modified_before)
    if size_gt is not None:
        conds.append(o.c.size > size_gt)
    if size_lt is not None:
        conds.append(o.c.size < size_lt)
    return conds


class LifecycleQueries(Transactions):
    # -- lifecycle rules -----------------------------------------------------------------

    def set_bucket_lifecycle(self, name: str, lifecycle: BucketLifecycle | None) -> bool:
        """Record PutBucketLifecycleConfiguration's rules (None: DeleteBucketLifecycle); False if
        there is no such bucket. Announced on the change feed, as CORS rules are."""
        b = s.buckets
        return self._run_change(lambda conn: conn.execute(
            sa.update(b).where(b.c.name == name).values(lifecycle=lifecycle_to_json(lifecycle))).rowcount > 0)

    def set_bucket_setting(self, name: str, setting: str, value: Any) -> bool:
        """Set one entry of the bucket's ``settings`` document (None removes it), the row locked
        so that concurrent changes of other entries are kept; False if there is no such bucket."""
        b = s.buckets

        def _do(conn: sa.Connection) -> bool:
            row = conn.execute(sa.select(b.c.settings).where(b.c.name == name).with_for_update()).first()
            if row is None:
                return False
            doc = dict(row.settings or {})
            if value is None:
                doc.pop(setting, None)
            else:
                doc[setting] = value
            conn.execute(sa.update(b).where(b.c.name == name).values(settings=doc or None))
            return True

        return self._run_change(_do)

    def buckets_with_lifecycle(self) -> list[Bucket]:
        b = s.buckets
        return self._run(lambda conn: [bucket_from_row(r) for r in conn.execute(
            sa.select(b).where(b.c.lifecycle.is_not(None)).order_by(b.c.name))])

    def expiry_candidates(self, bucket: str, prefix: str, after: str, modified_before: datetime | None, *,
                          size_gt: int | None = None, size_lt: int | None = None,
                          limit: int = 1000, with_tags: bool = False) -> list[tuple]:
        """Up to ``limit`` (key, size) of objects after ``after`` in key order, under ``prefix``,
        last modified at or before ``modified_before`` (None: any time), within the size bounds;
        with ``with_tags``, (key, size, tag set) (the tags that count, as ``object_from_row``
        reads them), so a rule's tag filter can pass over the others without locking them."""
        o = s.objects
        conds = [o.c.bucket == bucket, o.c.key > after, *prefix_range(o.c.key, prefix),
                 *_age_and_size(modified_before, size_gt, size_lt)]
        if not with_tags:
            q = sa.select(o.c.key, o.c.size).where(*conds).order_by(o.c.key).limit(limit)
            return self._run(lambda conn: [(r.key, r.size) for r in conn.execute(q)])
        q = (sa.select(o.c.key, o.c.size, o.c.tags, o.c.tags_for, o.c.updated_at).where(*conds)
             .order_by(o.c.key).limit(limit))
        return self._run(lambda conn: [
            (r.key, r.size, tags_from_json(r.tags) if r.tags_for == r.updated_at else ()) for r in conn.execute(q)])

    def expire_objects(self, bucket: str, keys: list[str], modified_before: datetime | None, *,
                       size_gt: int | None = None, size_lt: int | None = None) -> list[ObjectMeta]:
        """Delete those of ``keys`` that are still last modified at or before ``modified_before``
        and within the size bounds (a rule without tags: one transaction for a page of
        candidates instead of one per object); returns the removed objects. The rows are read
        ``FOR UPDATE`` and deleted in the same transaction, so an object overwritten since it
        was listed is judged as it now is (SQLite: the write transaction holds the database)."""
        if not keys:
            return []
        o = s.objects
        conds = [o.c.bucket == bucket, o.c.key.in_(keys), *_age_and_size(modified_before, size_gt, size_lt)]

        def _do(conn: sa.Connection) -> list[ObjectMeta]:
            rows = conn.execute(sa.select(o).where(*conds).order_by(o.c.key).with_for_update()).all()
            if rows:
                conn.execute(sa.delete(o).where(o.c.bucket == bucket, o.c.key.in_([r.key for r in rows])))
            return [object_from_row(r) for r in rows]

        return self._run(_do, write=True)

    def stale_uploads(self, bucket: str, prefix: str, initiated_before: datetime, after: tuple[str, str], *,
                      limit: int = 1000) -> list[tuple[str, str]]:
        """Up to ``limit`` (key, upload id) of uploads under ``prefix`` initiated at or before
        ``initiated_before``, after the (key, upload id) ``after``, in that order."""
        mu = s.multipart_uploads
        conds = [mu.c.bucket == bucket, *prefix_range(mu.c.key, prefix),
                 mu.c.initiated <= initiated_before,
                 sa.tuple_(mu.c.key, mu.c.upload_id) > sa.tuple_(sa.literal(after[0]), sa.literal(after[1]))]
        q = (sa.select(mu.c.key, mu.c.upload_id).where(*conds)
             .order_by(mu.c.key, mu.c.upload_id).limit(limit))
        return self._run(lambda conn: [(r.key, r.upload_id) for r in conn.execute(q)])
