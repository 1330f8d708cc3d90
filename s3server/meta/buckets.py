"""Buckets: create, settings (CORS, versioning, encryption, tags), look up, list, delete (a query
family of MetadataStore). Writes are announced on the change feed; ``get_bucket`` answers from the
lookup cache unless asked for a ``fresh`` read."""
from __future__ import annotations

import sqlalchemy as sa

from s3server.meta import schema as s
from s3server.meta.common import utc
from s3server.meta.errors import AlreadyExists, Conflict, NotFound
from s3server.meta.rows import blob_from_json, bucket_from_row, cors_to_json, encryption_to_json, tags_to_json
from s3server.meta.transactions import Transactions
from s3server.models import BlobRef, Bucket, BucketEncryption, CorsRule

Q_BUCKET = sa.select(s.buckets).where(s.buckets.c.name == sa.bindparam("name"))


class BucketQueries(Transactions):
    # -- buckets -----------------------------------------------------------------------

    def create_bucket(self, name: str, owner_id: int, region: str) -> Bucket:
        now = utc(self._clock())
        b = s.buckets

        def _do(conn: sa.Connection) -> Bucket:
            res = conn.execute(
                self._insert(b).values(name=name, owner_id=owner_id, region=region,
                                       created_at=now)
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(b.c.name)).first()
            if res is not None:
                return Bucket(name=name, owner_id=owner_id, region=region, created_at=now)
            owner = conn.execute(sa.select(b.c.owner_id).where(b.c.name == name)).scalar()
            raise AlreadyExists(f"bucket {name!r} already exists", owner_id=owner)

        return self._run_change(_do)

    def set_bucket_cors(self, name: str, rules: tuple[CorsRule, ...] | None) -> bool:
        """Replace the bucket's CORS rules (None: remove them); False if there is no such
        bucket. Announced on the change feed: every gateway's cached bucket sees it at once."""
        b = s.buckets
        return self._run_change(lambda conn: conn.execute(
            sa.update(b).where(b.c.name == name).values(cors=cors_to_json(rules))).rowcount > 0)

    def set_bucket_versioning(self, name: str, status: str) -> bool:
        """Record PutBucketVersioning's status; False if there is no such bucket."""
        b = s.buckets
        return self._run_change(lambda conn: conn.execute(
            sa.update(b).where(b.c.name == name).values(versioning=status)).rowcount > 0)

    def set_bucket_encryption(self, name: str, encryption: BucketEncryption | None) -> bool:
        """Record PutBucketEncryption's default (None: DeleteBucketEncryption); False if there is
        no such bucket. Announced on the change feed, as CORS rules are."""
        b = s.buckets
        return self._run_change(lambda conn: conn.execute(
            sa.update(b).where(b.c.name == name).values(encryption=encryption_to_json(encryption))).rowcount > 0)

    def set_bucket_tags(self, name: str, tags: tuple[tuple[str, str], ...] | None) -> bool:
        """Replace the bucket's tag set (None or empty: remove it); False if there is no such bucket."""
        b = s.buckets
        return self._run_change(lambda conn: conn.execute(
            sa.update(b).where(b.c.name == name).values(tags=tags_to_json(tags or ()))).rowcount > 0)

    def get_bucket(self, name: str, *, fresh: bool = False) -> Bucket | None:
        """The bucket's row: from the lookup cache, or with ``fresh`` from the database (the
        reads of a bucket's settings, so that a read right after a change, on another worker or
        pod, never answers what was there before: the change feed may still be on its way)."""
        if fresh:
            return self._uncached_bucket(name)
        return self._cached(("bucket", name), lambda: self._uncached_bucket(name))

    def _uncached_bucket(self, name: str) -> Bucket | None:
        row = self._run(lambda conn: conn.execute(Q_BUCKET, {"name": name}).first())
        return bucket_from_row(row) if row else None

    def list_buckets(self, owner_id: int | None = None) -> list[Bucket]:
        q = sa.select(s.buckets).order_by(s.buckets.c.name)
        if owner_id is not None:
            q = q.where(s.buckets.c.owner_id == owner_id)
        return [bucket_from_row(r) for r in self._run(lambda conn: conn.execute(q).all())]

    def delete_bucket(self, name: str) -> list[BlobRef]:
        """Delete an empty bucket, aborting its multipart uploads; returns their part
        blobs (garbage for the caller). NotFound / Conflict (objects present)."""
        b, o, mu, p = s.buckets, s.objects, s.multipart_uploads, s.upload_parts

        def _do(conn: sa.Connection) -> list[BlobRef]:
            if conn.execute(sa.select(b.c.name).where(b.c.name == name)
                            .with_for_update()).first() is None:
                raise NotFound(f"bucket {name!r} does not exist", what="bucket")
            if conn.execute(sa.select(o.c.key).where(o.c.bucket == name).limit(1)).first():
                raise Conflict(f"bucket {name!r} is not empty")
            uploads = sa.select(mu.c.upload_id).where(mu.c.bucket == name)
            conn.execute(uploads.with_for_update()).all()     # wait out in-flight put_part
            blobs = conn.execute(p.delete().where(p.c.upload_id.in_(uploads))
                                 .returning(p.c.blob)).scalars().all()
            conn.execute(mu.delete().where(mu.c.bucket == name))
            conn.execute(b.delete().where(b.c.name == name))
            return [blob_from_json(x) for x in blobs]

        return self._run_change(_do)
