"""MetadataStore: one method per query, one transaction per unit of work, models out.

Every public method runs exactly one ``engine.begin()`` transaction (``_run``), except
``iter_blob_ids``, which streams one short transaction per page. Write units of work
run on ``for_write(engine)`` (SQLite: ``BEGIN IMMEDIATE``). On PostgreSQL (READ
COMMITTED) the races are closed with row locks taken in one global order
(bucket row, then upload row, then object/part row):

* ``put_object`` / ``create_upload`` / ``complete_upload`` hold ``FOR KEY SHARE`` on
  the bucket row; ``delete_bucket`` takes ``FOR UPDATE`` on it, so it either sees the
  new object (Conflict) or the writer finds the bucket gone (NotFound).
* a replaced row is read ``FOR UPDATE`` so the returned "replaced" object is exactly
  the one overwritten; when the row did not exist we ``INSERT .. ON CONFLICT DO
  NOTHING`` and, if a concurrent writer got there first, re-read it under lock. Hence
  two concurrent If-None-Match PUTs: exactly one wins.
* ``put_part`` holds ``FOR KEY SHARE`` on the upload row; complete/abort/delete_bucket
  lock it ``FOR UPDATE`` before collecting part blobs, so no part slips past them.

SQLAlchemy connection-level failures become ``Unavailable``; PostgreSQL deadlocks and
serialization failures are retried a couple of times first.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from s3server.meta import schema as s
from s3server.meta.engine import for_write, insert_for, make_engine
from s3server.meta.errors import (
    AlreadyExists,
    Conflict,
    MetaError,
    NotFound,
    PreconditionFailed,
    Unavailable,
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
    LIST_COLUMNS,
    api_key_from_row,
    blob_from_json,
    bucket_from_row,
    credential_from_row,
    object_from_row,
    object_values,
    part_from_row,
    part_values,
    upload_from_row,
    upload_values,
    user_from_row,
)
from s3server.models import (
    ApiKey,
    BlobRef,
    Bucket,
    Credential,
    ListPage,
    MultipartUpload,
    ObjectMeta,
    UploadPart,
    User,
)

T = TypeVar("T")

_RETRYABLE_SQLSTATES = {"40001", "40P01"}   # serialization_failure, deadlock_detected
_ATTEMPTS = 3
_PG_SCHEMA_LOCK = 0x53335356                # pg_advisory_xact_lock key for create_schema
_BLOB_PAGE = 1000


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: the metadata store wants timezone-aware UTC")
    return dt.astimezone(timezone.utc)


def _strip_etag(etag: str) -> str:
    return etag.strip().strip('"')


def _as_text(column: sa.ColumnElement) -> sa.ColumnElement:
    """A JSONText column seen as plain text (so a LIKE pattern is not JSON-encoded)."""
    return sa.type_coerce(column, sa.Text)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _with_user(table: sa.Table) -> sa.Select:
    """SELECT a key table's row joined with its user's columns (for ``_joined_user``)."""
    u = s.users
    return (sa.select(table, u.c.name, u.c.is_admin, u.c.disabled, u.c.created_at.label("user_created_at"))
            .join(u, u.c.id == table.c.user_id))


def _joined_user(row: sa.Row) -> User:
    return User(id=row.user_id, name=row.name, is_admin=bool(row.is_admin),
                disabled=bool(row.disabled), created_at=row.user_created_at)


# The hot-path lookups, built once: constructing a statement per call (operator overloading,
# coercion, cache-key generation) costs more than executing it against an index.
_Q_CREDENTIAL = _with_user(s.credentials).where(s.credentials.c.access_key == sa.bindparam("access_key"))
_Q_API_KEY = _with_user(s.api_keys).where(s.api_keys.c.key_hash == sa.bindparam("key_hash"))
_Q_BUCKET = sa.select(s.buckets).where(s.buckets.c.name == sa.bindparam("name"))
_Q_OBJECT = sa.select(s.objects).where(s.objects.c.bucket == sa.bindparam("bucket"),
                                       s.objects.c.key == sa.bindparam("key"))


class MetadataStore:
    """The metadata database. Thread-safe (one pooled connection per unit of work)."""

    def __init__(self, engine: sa.Engine, *, clock: Callable[[], datetime] = _utcnow):
        self._engine = engine
        self._write_engine = for_write(engine)
        # Read-only units of work on PostgreSQL run in autocommit: no BEGIN/COMMIT round trips
        # around a lookup. Each statement still sees one consistent snapshot; no read unit needs
        # two of its statements to share one (they are seeks, or checks the writer repeats).
        self._read_engine = (engine.execution_options(isolation_level="AUTOCOMMIT")
                             if engine.dialect.name == "postgresql" else engine)
        self._insert = insert_for(engine)
        self._clock = clock

    @classmethod
    def from_url(cls, url: str, **engine_kw: Any) -> "MetadataStore":
        clock = engine_kw.pop("clock", _utcnow)
        return cls(make_engine(url, **engine_kw), clock=clock)

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    # -- transactions ----------------------------------------------------------------

    def _run(self, fn: Callable[[sa.Connection], T], *, write: bool = False) -> T:
        """Run ``fn`` in one transaction; translate connection trouble to Unavailable.
        IntegrityError propagates (callers know what it means for them)."""
        engine = self._write_engine if write else self._read_engine
        for attempt in itertools.count(1):
            try:
                with engine.begin() as conn:
                    return fn(conn)
            except MetaError:
                raise
            except sa_exc.IntegrityError:
                raise
            except sa_exc.DBAPIError as e:
                sqlstate = getattr(e.orig, "sqlstate", None)
                if sqlstate in _RETRYABLE_SQLSTATES and attempt < _ATTEMPTS:
                    continue
                # The pool does not ping before each checkout (a round trip per unit of work);
                # a connection that died meanwhile (database restart) is found here instead, and
                # SQLAlchemy then invalidates the whole pool. A read is simply run again on a
                # fresh connection; a write is not (its COMMIT may or may not have happened), so
                # it becomes 503 and the client retries.
                if e.connection_invalidated and not write and attempt == 1:
                    continue
                if e.connection_invalidated or isinstance(
                        e, (sa_exc.OperationalError, sa_exc.InterfaceError)):
                    raise Unavailable(f"metadata database unavailable: {e.orig}") from e
                raise
            except (sa_exc.TimeoutError, sa_exc.DisconnectionError) as e:
                raise Unavailable(f"metadata database unavailable: {e}") from e
        raise AssertionError("unreachable")

    def _upsert(self, table: sa.Table, values: dict[str, Any]) -> sa.Insert:
        pk = [c.name for c in table.primary_key.columns]
        stmt = self._insert(table).values(values)
        return stmt.on_conflict_do_update(
            index_elements=pk,
            set_={k: stmt.excluded[k] for k in values if k not in pk},
        )

    def _replace_row(
        self,
        conn: sa.Connection,
        table: sa.Table,
        values: dict[str, Any],
        check: Callable[[sa.Row | None], None] = lambda old: None,
    ) -> sa.Row | None:
        """Insert or overwrite the row with ``values``' primary key; return the row it
        replaced, exactly (read under ``FOR UPDATE``; see the module docstring).
        ``check(old)`` may raise to veto the write (preconditions)."""
        pk = [c for c in table.primary_key.columns]
        where = sa.and_(*(c == values[c.name] for c in pk))
        for _ in range(_ATTEMPTS):
            old = conn.execute(sa.select(table).where(where).with_for_update()).first()
            check(old)
            if old is not None:
                conn.execute(self._upsert(table, values))
                return old
            inserted = conn.execute(
                self._insert(table).values(values)
                .on_conflict_do_nothing(index_elements=[c.name for c in pk])
                .returning(pk[0])   # rowcount is not reliable for INSERT; RETURNING is
            ).first()
            if inserted is not None:
                return None
            # A concurrent transaction inserted the same key and committed: read it
            # under lock and go again (check() sees it, e.g. If-None-Match fails).
        raise Unavailable(f"{table.name} row kept changing under concurrent writers")

    @staticmethod
    def _lock_bucket(conn: sa.Connection, name: str) -> None:
        """Hold the bucket row against a concurrent delete_bucket; NotFound if gone."""
        row = conn.execute(
            sa.select(s.buckets.c.name).where(s.buckets.c.name == name)
            .with_for_update(read=True, key_share=True)
        ).first()
        if row is None:
            raise NotFound(f"bucket {name!r} does not exist", what="bucket")

    # -- lifecycle ---------------------------------------------------------------------

    def create_schema(self) -> None:
        """Create missing tables and indexes and record the schema version. Idempotent;
        concurrent callers serialise on an advisory lock (PostgreSQL) or the write lock
        (SQLite, BEGIN IMMEDIATE), and DDL is transactional on both."""
        now = _utc(self._clock())

        def _create(conn: sa.Connection) -> None:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_SCHEMA_LOCK})
            s.metadata.create_all(conn, checkfirst=True)
            current = conn.execute(sa.select(sa.func.max(s.schema_version.c.version))).scalar()
            if current is None:
                conn.execute(s.schema_version.insert().values(version=s.SCHEMA_VERSION,
                                                              applied_at=now))
            elif current > s.SCHEMA_VERSION:
                raise MetaError(f"database schema version {current} is newer than this "
                                f"server's ({s.SCHEMA_VERSION}); upgrade the server")

        self._run(_create, write=True)

    def schema_version(self) -> int | None:
        return self._run(lambda conn: conn.execute(
            sa.select(sa.func.max(s.schema_version.c.version))).scalar())

    def ping(self) -> bool:
        try:
            return self._run(lambda conn: conn.execute(sa.text("SELECT 1")).scalar() == 1)
        except Unavailable:
            return False

    def close(self) -> None:
        self._engine.dispose()

    def after_fork(self) -> None:
        """Call in a forked child (gunicorn ``post_fork``) when the store was built in
        the parent: drop the inherited pooled connections without closing the parent's
        sockets (SQLAlchemy's documented fork recipe)."""
        self._engine.dispose(close=False)

    # -- users -------------------------------------------------------------------------

    def create_user(self, name: str, *, is_admin: bool = False) -> User:
        now = _utc(self._clock())

        def _do(conn: sa.Connection) -> User:
            res = conn.execute(s.users.insert().values(
                name=name, is_admin=is_admin, disabled=False, created_at=now))
            return User(id=res.inserted_primary_key[0], name=name, is_admin=is_admin,
                        disabled=False, created_at=now)

        try:
            return self._run(_do, write=True)
        except sa_exc.IntegrityError as e:
            raise AlreadyExists(f"user {name!r} already exists") from e

    def get_user(self, user_id: int) -> User | None:
        row = self._run(lambda conn: conn.execute(
            sa.select(s.users).where(s.users.c.id == user_id)).first())
        return user_from_row(row) if row else None

    def get_user_by_name(self, name: str) -> User | None:
        row = self._run(lambda conn: conn.execute(
            sa.select(s.users).where(s.users.c.name == name)).first())
        return user_from_row(row) if row else None

    def list_users(self) -> list[User]:
        rows = self._run(lambda conn: conn.execute(
            sa.select(s.users).order_by(s.users.c.id)).all())
        return [user_from_row(r) for r in rows]

    def set_user_disabled(self, user_id: int, disabled: bool) -> None:
        def _do(conn: sa.Connection) -> None:
            res = conn.execute(s.users.update().where(s.users.c.id == user_id)
                               .values(disabled=disabled))
            if res.rowcount == 0:
                raise NotFound(f"user {user_id} does not exist", what="user")

        self._run(_do, write=True)

    # -- S3 key pairs ------------------------------------------------------------------

    def add_credential(self, user_id: int, access_key: str, secret_key: str) -> Credential:
        now = _utc(self._clock())

        def _do(conn: sa.Connection) -> Credential:
            if conn.execute(sa.select(s.users.c.id).where(s.users.c.id == user_id)).first() is None:
                raise NotFound(f"user {user_id} does not exist", what="user")
            conn.execute(s.credentials.insert().values(
                access_key=access_key, secret_key=secret_key, user_id=user_id,
                created_at=now, revoked=False))
            return Credential(access_key=access_key, secret_key=secret_key, user_id=user_id,
                              created_at=now, revoked=False)

        try:
            return self._run(_do, write=True)
        except sa_exc.IntegrityError as e:
            raise AlreadyExists(f"access key {access_key!r} already exists") from e

    def get_credential(self, access_key: str) -> tuple[Credential, User] | None:
        row = self._run(lambda conn: conn.execute(_Q_CREDENTIAL, {"access_key": access_key}).first())
        if row is None:
            return None
        return credential_from_row(row), _joined_user(row)

    def list_credentials(self, user_id: int) -> list[Credential]:
        c = s.credentials
        rows = self._run(lambda conn: conn.execute(
            sa.select(c).where(c.c.user_id == user_id)
            .order_by(c.c.created_at, c.c.access_key)).all())
        return [credential_from_row(r) for r in rows]

    def revoke_credential(self, access_key: str) -> None:
        def _do(conn: sa.Connection) -> None:
            res = conn.execute(s.credentials.update()
                               .where(s.credentials.c.access_key == access_key)
                               .values(revoked=True))
            if res.rowcount == 0:
                raise NotFound(f"access key {access_key!r} does not exist", what="credential")

        self._run(_do, write=True)

    # -- REST API keys -----------------------------------------------------------------

    def add_api_key(self, user_id: int, key_hash: str, prefix: str) -> ApiKey:
        now = _utc(self._clock())

        def _do(conn: sa.Connection) -> ApiKey:
            if conn.execute(sa.select(s.users.c.id).where(s.users.c.id == user_id)).first() is None:
                raise NotFound(f"user {user_id} does not exist", what="user")
            res = conn.execute(s.api_keys.insert().values(
                user_id=user_id, key_hash=key_hash, prefix=prefix, created_at=now,
                revoked=False))
            return ApiKey(id=res.inserted_primary_key[0], user_id=user_id, key_hash=key_hash,
                          prefix=prefix, created_at=now, revoked=False)

        try:
            return self._run(_do, write=True)
        except sa_exc.IntegrityError as e:
            raise AlreadyExists("API key hash already exists") from e

    def get_api_key(self, key_hash: str) -> tuple[ApiKey, User] | None:
        row = self._run(lambda conn: conn.execute(_Q_API_KEY, {"key_hash": key_hash}).first())
        if row is None:
            return None
        return api_key_from_row(row), _joined_user(row)

    def list_api_keys(self, user_id: int) -> list[ApiKey]:
        k = s.api_keys
        rows = self._run(lambda conn: conn.execute(
            sa.select(k).where(k.c.user_id == user_id).order_by(k.c.id)).all())
        return [api_key_from_row(r) for r in rows]

    def revoke_api_key(self, key_id: int) -> None:
        """NotFound if no such key."""
        def _do(conn: sa.Connection) -> None:
            res = conn.execute(s.api_keys.update().where(s.api_keys.c.id == key_id)
                               .values(revoked=True))
            if res.rowcount == 0:
                raise NotFound(f"API key {key_id} does not exist", what="api_key")

        self._run(_do, write=True)

    # -- buckets -----------------------------------------------------------------------

    def create_bucket(self, name: str, owner_id: int, region: str) -> Bucket:
        now = _utc(self._clock())
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

        return self._run(_do, write=True)

    def get_bucket(self, name: str) -> Bucket | None:
        row = self._run(lambda conn: conn.execute(_Q_BUCKET, {"name": name}).first())
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

        return self._run(_do, write=True)

    # -- objects -----------------------------------------------------------------------

    def get_bucket_and_object(self, bucket: str, key: str) -> tuple[Bucket | None, ObjectMeta | None]:
        """The bucket and one of its objects in one round trip (the hot path of GET/HEAD)."""
        def _do(conn: sa.Connection):
            brow = conn.execute(_Q_BUCKET, {"name": bucket}).first()
            if brow is None:
                return None, None
            orow = conn.execute(_Q_OBJECT, {"bucket": bucket, "key": key}).first()
            return bucket_from_row(brow), (object_from_row(orow) if orow else None)

        return self._run(_do)

    def get_object(self, bucket: str, key: str) -> ObjectMeta | None:
        o = s.objects
        row = self._run(lambda conn: conn.execute(
            sa.select(o).where(o.c.bucket == bucket, o.c.key == key)).first())
        return object_from_row(row) if row else None

    def _write_object(self, conn: sa.Connection, meta: ObjectMeta, if_none_match: bool,
                      if_match: str | None) -> ObjectMeta | None:
        def check(old: sa.Row | None) -> None:
            if if_none_match and old is not None:
                raise PreconditionFailed(f"{meta.key!r} exists (If-None-Match)")
            if if_match is not None:
                if old is None:
                    raise PreconditionFailed(f"{meta.key!r} does not exist (If-Match)")
                if _strip_etag(if_match) != "*" and _strip_etag(if_match) != _strip_etag(old.etag):
                    raise PreconditionFailed(f"{meta.key!r} ETag differs (If-Match)")

        values = object_values(meta, _utc(self._clock()))
        old = self._replace_row(conn, s.objects, values, check)
        return object_from_row(old) if old is not None else None

    def put_object(self, meta: ObjectMeta, *, if_none_match: bool = False,
                   if_match: str | None = None) -> ObjectMeta | None:
        """Create or replace the object row atomically; returns the replaced object
        (its blobs are now garbage) or None. NotFound if the bucket is missing;
        PreconditionFailed when If-None-Match / If-Match do not hold."""
        def _do(conn: sa.Connection) -> ObjectMeta | None:
            self._lock_bucket(conn, meta.bucket)
            return self._write_object(conn, meta, if_none_match, if_match)

        try:
            return self._run(_do, write=True)
        except sa_exc.IntegrityError as e:   # FK: bucket vanished under us
            raise NotFound(f"bucket {meta.bucket!r} does not exist", what="bucket") from e

    def delete_object(self, bucket: str, key: str) -> ObjectMeta | None:
        o = s.objects

        def _do(conn: sa.Connection) -> ObjectMeta | None:
            row = conn.execute(o.delete().where(o.c.bucket == bucket, o.c.key == key)
                               .returning(*o.c)).first()
            return object_from_row(row) if row else None

        return self._run(_do, write=True)

    def count_objects(self, bucket: str) -> int:
        o = s.objects
        return self._run(lambda conn: conn.execute(
            sa.select(sa.func.count()).select_from(o).where(o.c.bucket == bucket)).scalar_one())

    def list_objects(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                     start_after: str = "", max_keys: int = 1000) -> ListPage:
        """One ListObjectsV2 page: keys after ``start_after`` under ``prefix`` in UTF-8
        byte order, rolled up by ``delimiter`` (see ``seek_listing`` for the cost).
        Listed objects carry no ``segments`` (GET reads them with get_object)."""
        empty = ListPage(objects=(), common_prefixes=(), is_truncated=False, next_marker=None)
        if max_keys <= 0:
            return empty
        cursor = start_cursor(prefix, delimiter, start_after)
        if cursor is EMPTY:
            return empty
        o = s.objects
        base = sa.select(*LIST_COLUMNS).where(o.c.bucket == bucket, *prefix_range(o.c.key, prefix))

        def _do(conn: sa.Connection) -> ListPage:
            def fetch(cur: Cursor | None, limit: int) -> list[tuple[str, sa.Row]]:
                q = base
                if cur is not None:
                    q = q.where(key_seek(o.c.key, cur))
                rows = conn.execute(q.order_by(o.c.key).limit(limit)).all()
                return [(r.key, r) for r in rows]

            entries, truncated = seek_listing(fetch, prefix=prefix, delimiter=delimiter,
                                               cursor=cursor, max_entries=max_keys)
            marker = None
            if truncated:
                last = entries[-1]
                marker = last if isinstance(last, str) else last.key
            return ListPage(
                objects=tuple(object_from_row(e) for e in entries if not isinstance(e, str)),
                common_prefixes=tuple(e for e in entries if isinstance(e, str)),
                is_truncated=truncated, next_marker=marker)

        return self._run(_do)

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

    # -- repair / GC -------------------------------------------------------------------

    def iter_blob_ids(self, *, page_size: int = _BLOB_PAGE) -> Iterator[str]:
        """Every blob id referenced by an object or an upload part, streamed in pages
        (one short transaction per page, seeking on the primary keys). Not a snapshot:
        rows written meanwhile may be missed, so GC must keep a grace period and
        re-check with ``blob_referenced`` before deleting."""
        o, p = s.objects, s.upload_parts
        cursor: tuple[Any, ...] | None = None
        while True:
            q = sa.select(o.c.bucket, o.c.key, o.c.segments)
            if cursor is not None:
                q = q.where(sa.tuple_(o.c.bucket, o.c.key) > sa.tuple_(
                    sa.literal(cursor[0], s.BUCKET), sa.literal(cursor[1], s.KEY)))
            rows = self._run(lambda conn: conn.execute(
                q.order_by(o.c.bucket, o.c.key).limit(page_size)).all())
            for r in rows:
                for seg in r.segments:
                    yield seg["blob_id"]
            if len(rows) < page_size:
                break
            cursor = (rows[-1].bucket, rows[-1].key)
        cursor = None
        while True:
            q = sa.select(p.c.upload_id, p.c.part_number, p.c.blob)
            if cursor is not None:
                q = q.where(sa.tuple_(p.c.upload_id, p.c.part_number) > sa.tuple_(
                    sa.literal(cursor[0], p.c.upload_id.type),
                    sa.literal(cursor[1], p.c.part_number.type)))
            rows = self._run(lambda conn: conn.execute(
                q.order_by(p.c.upload_id, p.c.part_number).limit(page_size)).all())
            for r in rows:
                yield r.blob["blob_id"]
            if len(rows) < page_size:
                break
            cursor = (rows[-1].upload_id, rows[-1].part_number)

    def blob_referenced(self, blob_id: str) -> bool:
        """Whether any object or part references ``blob_id``. A scan of the JSON text
        (blob ids are not indexed): meant for re-checking a handful of GC candidates,
        not for bulk use -- use ``iter_blob_ids`` for that."""
        needle = "%" + _like_escape('"blob_id":' + json.dumps(blob_id, ensure_ascii=False)) + "%"
        o, p = s.objects, s.upload_parts

        def _do(conn: sa.Connection) -> bool:
            if conn.execute(sa.select(o.c.key).where(_as_text(o.c.segments).like(needle, escape="\\"))
                            .limit(1)).first():
                return True
            return conn.execute(sa.select(p.c.upload_id).where(_as_text(p.c.blob).like(needle, escape="\\"))
                                .limit(1)).first() is not None

        return self._run(_do)


    # -- repair: where blobs are used, node lists, batch reference checks ----------------

    def iter_blob_uses(self, *, page_size: int = _BLOB_PAGE) -> Iterator["BlobUse"]:
        """Every (row, blob) pair: one per object segment and one per upload part,
        streamed in pages like ``iter_blob_ids`` (not a snapshot, see there)."""
        o, p = s.objects, s.upload_parts
        cursor: tuple[Any, ...] | None = None
        while True:
            q = sa.select(o.c.bucket, o.c.key, o.c.segments)
            if cursor is not None:
                q = q.where(sa.tuple_(o.c.bucket, o.c.key) > sa.tuple_(
                    sa.literal(cursor[0], s.BUCKET), sa.literal(cursor[1], s.KEY)))
            rows = self._run(lambda conn: conn.execute(
                q.order_by(o.c.bucket, o.c.key).limit(page_size)).all())
            for r in rows:
                for seg in r.segments:
                    yield BlobUse("objects", (r.bucket, r.key), blob_from_json(seg))
            if len(rows) < page_size:
                break
            cursor = (rows[-1].bucket, rows[-1].key)
        cursor = None
        while True:
            q = sa.select(p.c.upload_id, p.c.part_number, p.c.blob)
            if cursor is not None:
                q = q.where(sa.tuple_(p.c.upload_id, p.c.part_number) > sa.tuple_(
                    sa.literal(cursor[0], p.c.upload_id.type),
                    sa.literal(cursor[1], p.c.part_number.type)))
            rows = self._run(lambda conn: conn.execute(
                q.order_by(p.c.upload_id, p.c.part_number).limit(page_size)).all())
            for r in rows:
                yield BlobUse("upload_parts", (r.upload_id, r.part_number), blob_from_json(r.blob))
            if len(rows) < page_size:
                break
            cursor = (rows[-1].upload_id, rows[-1].part_number)

    def update_blob_nodes(self, use: "BlobUse", *, add: tuple[str, ...] = (),
                          remove: tuple[str, ...] = ()) -> tuple[str, ...] | None:
        """In one transaction, with the row locked: in the row named by ``use``, change
        the node list of blob ``use.blob.blob_id`` -- drop ``remove``, then append the
        nodes of ``add`` not already listed. Returns the new node list, or None when the
        row is gone or no longer references that blob (it was overwritten or deleted
        meanwhile; nothing is changed). Add/remove (not "set") so concurrent repairs
        compose."""
        blob_id = use.blob.blob_id

        def edit(doc: dict[str, Any]) -> tuple[str, ...]:
            nodes = [n for n in doc["nodes"] if n not in remove]
            nodes += [n for n in dict.fromkeys(add) if n not in nodes]
            doc["nodes"] = nodes
            return tuple(nodes)

        def _do(conn: sa.Connection) -> tuple[str, ...] | None:
            if use.table == "objects":
                o = s.objects
                where = sa.and_(o.c.bucket == use.row[0], o.c.key == use.row[1])
                row = conn.execute(sa.select(o.c.segments).where(where).with_for_update()).first()
                if row is None:
                    return None
                segments = list(row.segments)
                hits = [seg for seg in segments if seg["blob_id"] == blob_id]
                if not hits:
                    return None
                new = [edit(seg) for seg in hits][0]
                conn.execute(o.update().where(where).values(
                    segments=segments, updated_at=_utc(self._clock())))
                return new
            p = s.upload_parts
            where = sa.and_(p.c.upload_id == use.row[0], p.c.part_number == use.row[1])
            row = conn.execute(sa.select(p.c.blob).where(where).with_for_update()).first()
            if row is None or row.blob["blob_id"] != blob_id:
                return None
            doc = dict(row.blob)
            new = edit(doc)
            conn.execute(p.update().where(where).values(blob=doc))
            return new

        return self._run(_do, write=True)

    def referenced_blob_ids(self, blob_ids: list[str]) -> set[str]:
        """Which of ``blob_ids`` any object or upload part references, decided by ONE
        SQL statement (a UNION over both tables), so it sees one snapshot even under
        READ COMMITTED: a multipart Complete moving a blob from a part row to an object
        row cannot slip between two checks. Scans the JSON text; keep batches to a few
        hundred ids (GC re-checks its candidates with it right before deleting)."""
        ids = sorted(set(blob_ids))
        if not ids:
            return set()
        o, p = s.objects, s.upload_parts

        def likes(col: sa.ColumnElement) -> sa.ColumnElement:
            text = _as_text(col)
            return sa.or_(*(text.like("%" + _like_escape('"blob_id":' + json.dumps(i)) + "%",
                                      escape="\\") for i in ids))

        q = sa.union_all(
            sa.select(_as_text(o.c.segments).label("doc")).where(likes(o.c.segments)),
            sa.select(_as_text(p.c.blob).label("doc")).where(likes(p.c.blob)))
        docs = self._run(lambda conn: conn.execute(q).scalars().all())
        found: set[str] = set()
        for doc in docs:
            parsed = json.loads(doc)
            for d in parsed if isinstance(parsed, list) else [parsed]:
                found.add(d["blob_id"])
        return found & set(ids)

    def try_lock_repair(self) -> "RepairLock":
        """A non-blocking, process-wide "one repair pass at a time" lock: a PostgreSQL
        session advisory lock held on a dedicated connection (SQLite: always granted,
        one machine). An optimisation only -- repair is safe without it -- that keeps
        several gateway pods from scrubbing the same blobs at the same moment."""
        return RepairLock(self._engine)


_PG_REPAIR_LOCK = 0x53335250


class RepairLock:
    """Context manager; ``acquired`` tells whether this process holds the lock."""

    def __init__(self, engine: sa.Engine):
        self._engine = engine
        self._conn: sa.Connection | None = None
        self.acquired = False

    def __enter__(self) -> "RepairLock":
        if self._engine.dialect.name != "postgresql":
            self.acquired = True
            return self
        try:
            self._conn = self._engine.connect()
            self.acquired = bool(self._conn.execute(
                sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_REPAIR_LOCK}).scalar())
            self._conn.commit()
        except sa_exc.DBAPIError as e:
            self._release_conn()
            raise Unavailable(f"metadata database unavailable: {e.orig}") from e
        return self

    def __exit__(self, *exc) -> None:
        if self._conn is not None and self.acquired:
            try:
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_REPAIR_LOCK})
                self._conn.commit()
            except sa_exc.DBAPIError:
                self._conn.invalidate()   # the session (and its lock) is gone with it
        self._release_conn()

    def _release_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass(frozen=True)
class BlobUse:
    """One reference to a blob: the row (``table`` "objects" with ``row`` (bucket, key),
    or "upload_parts" with (upload_id, part_number)) and the BlobRef it holds."""
    table: str
    row: tuple[Any, ...]
    blob: BlobRef
