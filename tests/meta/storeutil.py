"""Test data and probes shared by the metadata store's tests (tests/meta/test_*.py)."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import sqlalchemy as sa

from s3server.meta import schema
from s3server.meta.store import MetadataStore
from s3server.models import BlobRef, ObjectMeta, Segment, UploadPart

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def blob(n: int | str, size: int = 10) -> BlobRef:
    return BlobRef(blob_id=f"blob-{n}", size=size, nodes=("node-0", "node-2", "node-1"))


def obj(bucket: str, key: str, n: int | str = 1, **kw) -> ObjectMeta:
    fields = dict(bucket=bucket, key=key, size=10, etag=f'"etag{n}"', last_modified=T0,
                  segments=(Segment(blob=blob(n)),))
    fields.update(kw)
    return ObjectMeta(**fields)


def bulk_insert_keys(store: MetadataStore, bucket: str, keys) -> None:
    """Fast fixture data: one multi-row INSERT instead of one transaction per key."""
    row = dict(size=1, etag='"e"', last_modified=T0, content_type="binary/octet-stream",
               user_metadata={}, checksums={}, storage_class="STANDARD", segments=[],
               updated_at=T0)
    with store.engine.begin() as conn:
        conn.execute(schema.objects.insert(), [dict(row, bucket=bucket, key=k) for k in keys])


def utf8_sorted(keys):
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def part(upload_id, n, tag="", size=5):
    return UploadPart(upload_id=upload_id, part_number=n, size=size, etag=f'"p{n}{tag}"',
                      last_modified=T0, blob=blob(f"{upload_id}-{n}{tag}", size),
                      checksums={"CRC32": f"c{n}"})


def wait_for(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


class StatementCounter:
    def __init__(self, engine, needle="objects"):
        self.count = 0
        self.needle = needle
        self.engine = engine

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._on)

    def _on(self, conn, cursor, statement, parameters, context, executemany):
        if self.needle in statement:
            self.count += 1
