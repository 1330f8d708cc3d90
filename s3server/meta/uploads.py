"""Multipart uploads: the part of MetadataStore that keeps uploads and their parts
(a query family of MetadataStore, on the transaction helpers of transactions.py)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from s3server.meta import schema as s
from s3server.meta.errors import (
    AlreadyExists,
    Conflict,
    NotFound,
)
from s3server.meta.listing import (
    EMPTY,
    Cursor,
    key_seek,
    prefix_range,
    seek_listing,
    start_cursor,
)
from s3server.meta.rows import (
    blob_from_json,
    part_from_row,
    part_values,
    upload_from_row,
    upload_values,
)
from s3server.meta.transactions import Transactions
from s3server.models import (
    BlobRef,
    MultipartUpload,
    ObjectMeta,
    UploadPart,
)


class UploadQueries(Transactions):
    # -- multipart ---------------------------------------------------------------------

    def create_upload(self, upload: MultipartUpload) -> None:
        """NotFound if the bucket is missing; AlreadyExists on a duplicate upload id."""
        def _do(conn: sa.Connection) -> None:
            self._lock_bucket(conn, upload.bucket)
            conn.execute(s.multipart_uploads.insert().values(upload_values(upload)))

        try:
            self._run(_do, write=True)
        except sa_exc.IntegrityError as e:
            raise AlreadyExists(f"upload {upload.upload_id!r} already exists") from e

    def get_upload(self, upload_id: str) -> MultipartUpload | None:
        mu = s.multipart_uploads
        row = self._run(lambda conn: conn.execute(
            sa.select(mu).where(mu.c.upload_id == upload_id)).first())
        return upload_from_row(row) if row else None

    @staticmethod
    def _lock_upload(conn: sa.Connection, upload_id: str, *, exclusive: bool) -> sa.Row:
        mu = s.multipart_uploads
        q = sa.select(mu).where(mu.c.upload_id == upload_id)
        q = q.with_for_update() if exclusive else q.with_for_update(read=True, key_share=True)
        row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"upload {upload_id!r} does not exist", what="upload")
        return row

    def put_part(self, part: UploadPart) -> UploadPart | None:
        """Store (or replace) one part; returns the part it replaced. NotFound if the
        upload is gone (completed or aborted)."""
        values = part_values(part)

        def _do(conn: sa.Connection) -> UploadPart | None:
            self._lock_upload(conn, part.upload_id, exclusive=False)
            old = self._replace_row(conn, s.upload_parts, values)
            return part_from_row(old) if old is not None else None

        try:
            return self._run(_do, write=True)
        except sa_exc.IntegrityError as e:
            raise NotFound(f"upload {part.upload_id!r} does not exist", what="upload") from e

    def list_parts(self, upload_id: str, *, part_number_marker: int = 0,
                   max_parts: int = 1000) -> tuple[list[UploadPart], bool]:
        """Parts numbered above the marker, ascending, and whether more follow.
        NotFound if the upload does not exist."""
        p = s.upload_parts

        def _do(conn: sa.Connection) -> tuple[list[UploadPart], bool]:
            self._get_upload_row(conn, upload_id)
            if max_parts <= 0:
                return [], False
            rows = conn.execute(
                sa.select(p).where(p.c.upload_id == upload_id,
                                   p.c.part_number > part_number_marker)
                .order_by(p.c.part_number).limit(max_parts + 1)).all()
            return [part_from_row(r) for r in rows[:max_parts]], len(rows) > max_parts

        return self._run(_do)

    @staticmethod
    def _get_upload_row(conn: sa.Connection, upload_id: str) -> sa.Row:
        mu = s.multipart_uploads
        row = conn.execute(sa.select(mu).where(mu.c.upload_id == upload_id)).first()
        if row is None:
            raise NotFound(f"upload {upload_id!r} does not exist", what="upload")
        return row

    def get_parts(self, upload_id: str) -> dict[int, UploadPart]:
        """Every part of the upload by number. NotFound if the upload does not exist."""
        p = s.upload_parts

        def _do(conn: sa.Connection) -> dict[int, UploadPart]:
            self._get_upload_row(conn, upload_id)
            rows = conn.execute(sa.select(p).where(p.c.upload_id == upload_id)
                                .order_by(p.c.part_number)).all()
            return {r.part_number: part_from_row(r) for r in rows}

        return self._run(_do)

    @staticmethod
    def _delete_parts(conn: sa.Connection, upload_id: str) -> list[tuple[int, BlobRef]]:
        p = s.upload_parts
        rows = conn.execute(p.delete().where(p.c.upload_id == upload_id)
                            .returning(p.c.part_number, p.c.blob)).all()
        return [(r.part_number, blob_from_json(r.blob)) for r in rows]

    def complete_upload(self, upload_id: str, meta: ObjectMeta, used_parts: list[int], *,
                        if_none_match: bool = False, if_match: str | None = None,
                        ) -> tuple[ObjectMeta | None, list[BlobRef]]:
        """In one transaction: write the object row, drop the upload and its parts.
        Returns (replaced object or None, blobs of the parts not used). NotFound if the
        upload (or its bucket) is gone; Conflict if ``meta`` names another bucket/key, or if a
        part's blob is no longer the one ``meta`` lists (re-uploaded meanwhile)."""
        mu = s.multipart_uploads
        used = set(used_parts)

        def _do(conn: sa.Connection) -> tuple[ObjectMeta | None, list[BlobRef]]:
            self._lock_bucket(conn, meta.bucket)
            up = self._lock_upload(conn, upload_id, exclusive=True)
            if (up.bucket, up.key) != (meta.bucket, meta.key):
                raise Conflict(f"upload {upload_id!r} is for {up.bucket}/{up.key}")
            parts = self._delete_parts(conn, upload_id)
            current = {number: blob.blob_id for number, blob in parts}
            for seg in meta.segments:
                # a part re-uploaded after the caller read the parts: its old blob is garbage now
                if seg.part_number is not None and current.get(seg.part_number) != seg.blob.blob_id:
                    raise Conflict(f"part {seg.part_number} of upload {upload_id!r} changed during completion")
            replaced = self._write_object(conn, meta, if_none_match, if_match)
            conn.execute(mu.delete().where(mu.c.upload_id == upload_id))
            return replaced, [blob for number, blob in parts if number not in used]

        try:
            return self._run(_do, write=True)
        except NotFound as e:
            if e.what == "bucket":   # no bucket, no upload: report the upload
                raise NotFound(f"upload {upload_id!r} does not exist", what="upload") from e
            raise

    def abort_upload(self, upload_id: str) -> list[BlobRef]:
        """Drop the upload; returns its part blobs. NotFound if it does not exist."""
        mu = s.multipart_uploads

        def _do(conn: sa.Connection) -> list[BlobRef]:
            self._lock_upload(conn, upload_id, exclusive=True)
            parts = self._delete_parts(conn, upload_id)
            conn.execute(mu.delete().where(mu.c.upload_id == upload_id))
            return [blob for _, blob in parts]

        return self._run(_do, write=True)

    def list_uploads(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                     key_marker: str = "", upload_id_marker: str = "",
                     max_uploads: int = 1000) -> tuple[list[MultipartUpload], list[str], bool]:
        """ListMultipartUploads: in-progress uploads ordered by (key, initiated,
        upload_id), rolled up by delimiter like list_objects. Returns (uploads, common
        prefixes, is_truncated); the next markers are the last upload's key and id, or
        the last common prefix, whichever sorts last. An ``upload_id_marker`` that no
        longer exists falls back to "keys after key_marker"."""
        if max_uploads <= 0:
            return [], [], False
        mu = s.multipart_uploads
        order = (mu.c.key, mu.c.initiated, mu.c.upload_id)
        base = sa.select(mu).where(mu.c.bucket == bucket, *prefix_range(mu.c.key, prefix))

        def _do(conn: sa.Connection) -> tuple[list[MultipartUpload], list[str], bool]:
            cursor = start_cursor(prefix, delimiter, key_marker)
            if key_marker and upload_id_marker:
                marker_row = conn.execute(sa.select(*order).where(
                    mu.c.bucket == bucket, mu.c.key == key_marker,
                    mu.c.upload_id == upload_id_marker)).first()
                if marker_row is not None:
                    cursor = ("row", marker_row)
            if cursor is EMPTY:
                return [], [], False

            def fetch(cur: Cursor | None, limit: int) -> list[tuple[str, sa.Row]]:
                q = base
                if cur is not None and cur[0] == "row":
                    row = cur[1]
                    q = q.where(sa.tuple_(*order) > sa.tuple_(
                        *(sa.literal(getattr(row, c.name), c.type) for c in order)))
                elif cur is not None:
                    q = q.where(key_seek(mu.c.key, cur))
                rows = conn.execute(q.order_by(*order).limit(limit)).all()
                return [(r.key, r) for r in rows]

            entries, truncated = seek_listing(fetch, prefix=prefix, delimiter=delimiter,
                                               cursor=cursor, max_entries=max_uploads)
            return ([upload_from_row(e) for e in entries if not isinstance(e, str)],
                    [e for e in entries if isinstance(e, str)], truncated)

        return self._run(_do)
