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

import functools
import itertools
from datetime import datetime
from typing import Any, Callable, Sequence, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from s3server.meta import schema as s
from s3server.meta.changes import LookupCache, feed_for
from s3server.meta.common import joined_user, strip_etag, utc, utcnow, with_user
from s3server.meta.direct import DirectStatement, run_direct
from s3server.meta.engine import for_write, insert_for, make_engine, normalise_url
from s3server.meta.errors import (
    AlreadyExists,
    Conflict,
    MetaError,
    NotFound,
    PreconditionFailed,
    Unavailable,
)
from s3server.meta.group import GroupRunner
from s3server.meta.lifecycle import LifecycleQueries
from s3server.meta.listing import (
    EMPTY,
    Cursor,
    listed_objects,
    range_statement,
    seek_listing,
    skip_params,
    skip_statement,
    start_cursor,
    successor,
)
from s3server.meta.repairs import BlobUse, RepairLock, RepairQueries  # noqa: F401 (re-exported)
from s3server.meta.rows import (
    api_key_from_row,
    blob_from_json,
    bucket_from_row,
    cors_to_json,
    credential_from_row,
    encryption_to_json,
    object_from_row,
    object_values,
    tags_to_json,
    user_from_row,
)
from s3server.meta.uploads import UploadQueries
from s3server.models import (
    ApiKey,
    BlobRef,
    Bucket,
    BucketEncryption,
    CorsRule,
    Credential,
    ListPage,
    ObjectMeta,
    User,
)

T = TypeVar("T")

_RETRYABLE_SQLSTATES = {"40001", "40P01"}   # serialization_failure, deadlock_detected
_ATTEMPTS = 3
_PG_SCHEMA_LOCK = 0x53335356                # pg_advisory_xact_lock key for create_schema


# The hot-path lookups, built once: constructing a statement per call (operator overloading,
# coercion, cache-key generation) costs more than executing it against an index.
_Q_CREDENTIAL = with_user(s.credentials).where(s.credentials.c.access_key == sa.bindparam("access_key"))
_Q_API_KEY = with_user(s.api_keys).where(s.api_keys.c.key_hash == sa.bindparam("key_hash"))
_Q_BUCKET = sa.select(s.buckets).where(s.buckets.c.name == sa.bindparam("name"))
_Q_OBJECT = sa.select(s.objects).where(s.objects.c.bucket == sa.bindparam("bucket"),
                                       s.objects.c.key == sa.bindparam("key"))
# Every column but the inline bytes: what a HEAD reads, and what a write or delete hands back
# of the row it replaced or removed (the caller only needs the old blobs and attributes).
_RETURNED = [c for c in s.objects.c if c.name != "inline_data"]
_Q_OBJECT_HEAD = sa.select(*_RETURNED).where(s.objects.c.bucket == sa.bindparam("bucket"),
                                             s.objects.c.key == sa.bindparam("key"))
_Q_DELETE_OBJECT = (s.objects.delete()
                    .where(s.objects.c.bucket == sa.bindparam("bucket"),
                           s.objects.c.key == sa.bindparam("key"))
                    .returning(*_RETURNED))
# DeleteObjects: many keys of one bucket per statement. PostgreSQL takes the keys as ONE array
# parameter (the SQL text is the same for any number of keys, so psycopg can prepare it);
# elsewhere an expanding IN list (one parameter per key: see _DELETE_CHUNK). The bounds ``lo``
# and ``hi`` (the chunk's first and last key) keep the scan to that key range whatever plan
# psycopg's prepared statement keeps: planned while the table was small, ``key = ANY(...)``
# became a filter over a probe of the whole bucket (see ``_delete_chain``).
_Q_DELETE_OBJECTS_PG = (s.objects.delete()
                        .where(s.objects.c.bucket == sa.bindparam("bucket"),
                               s.objects.c.key >= sa.bindparam("lo", type_=s.KEY),
                               s.objects.c.key <= sa.bindparam("hi", type_=s.KEY),
                               s.objects.c.key == sa.any_(sa.bindparam("keys", type_=sa.ARRAY(sa.Text))))
                        .returning(*_RETURNED))
_Q_DELETE_OBJECTS = (s.objects.delete()
                     .where(s.objects.c.bucket == sa.bindparam("bucket"),
                            s.objects.c.key.in_(sa.bindparam("keys", expanding=True)))
                     .returning(*_RETURNED))
_Q_OBJECTS_IN = sa.select(s.objects).where(s.objects.c.bucket == sa.bindparam("bucket"),
                                           s.objects.c.key.in_(sa.bindparam("keys", expanding=True)))
_Q_DELETE_OBJECTS_IN = s.objects.delete().where(
    s.objects.c.bucket == sa.bindparam("bucket"),
    s.objects.c.key.in_(sa.bindparam("keys", expanding=True)))
_DELETE_CHUNK = 500     # keys per statement: under SQLite's oldest parameter limit (999)
# Concurrent DeleteObject calls of one gateway process, combined (PostgreSQL; see meta/group.py):
# one statement, one commit, made of one single-row DELETE per key (``_delete_chain``).
_DELETE_GROUP_MAX = 64  # DeleteObject calls per combined statement
_RETURNED_SQL = ", ".join(f'"{c.name}"' for c in _RETURNED)


@functools.lru_cache(maxsize=None)
def _delete_chain(n: int) -> sa.TextClause:
    """PostgreSQL: delete ``n`` rows by (bucket, key) in ONE statement, each by its own
    single-row DELETE in a WITH, so each keeps the primary-key probe that single-row
    statements get at any table size. A join of the objects table to the key list instead
    (``USING unnest(...)``) got a hash join over a sequential scan when planned while the
    table was small, and psycopg's prepared statement kept that plan as the table grew (the
    trap of README item 19); so did ``key = ANY(...)``, probing the bucket and filtering."""
    ctes = ", ".join(f'x{i} AS (DELETE FROM objects WHERE "bucket" = :b{i} AND "key" = :k{i} '
                     f"RETURNING {_RETURNED_SQL})" for i in range(n))
    union = " UNION ALL ".join(f"SELECT * FROM x{i}" for i in range(n))
    return sa.text(f"WITH {ctes} {union}")


# Concurrent object lookups (GET/HEAD) of one gateway process, combined the same way: one
# statement answers them all, in one snapshot taken after each was asked for. Each key is
# probed by a LATERAL subquery with LIMIT 1, a plan no table size turns into a join over the
# table (see ``_delete_chain``).
def _q_object_pairs(columns: str) -> sa.TextClause:
    return sa.text(
        f"SELECT o.* FROM unnest(CAST(:buckets AS text[]), CAST(:keys AS text[])) AS d(bucket, key) "
        f'CROSS JOIN LATERAL (SELECT {columns} FROM objects WHERE "bucket" = d.bucket AND "key" = d.key '
        f"LIMIT 1) AS o")


_Q_OBJECT_PAIRS_PG = _q_object_pairs("*")
_Q_OBJECT_HEAD_PAIRS_PG = _q_object_pairs(_RETURNED_SQL)
_LOOKUP_GROUP_MAX = 64
# Statements of one kind running at once per gateway process before calls queue and group: two,
# so that one slow statement (rows not in memory, a lock wait) does not hold up every other call.
# With every row in memory one at a time was 3-5% faster (larger batches; README, item 22).
_GROUP_RUNNING = 2


@functools.lru_cache(maxsize=None)
def _pg_replace_object() -> sa.TextClause:
    """PostgreSQL: create or overwrite an object row in ONE statement (one round trip in
    autocommit; the statement is its own transaction). ``old`` reads the row it replaces
    under ``FOR UPDATE``; the upsert overwrites a conflicting row only if ``old`` found one,
    so a row a concurrent writer inserted after our snapshot is never overwritten unseen:
    ``written`` is then 0 and the caller runs the statement again (now ``old`` sees it).
    The bucket row is held by the foreign key check (``FOR KEY SHARE``), as in
    ``_lock_bucket``."""
    o = s.objects
    names = [c.name for c in o.columns]
    old_names = [c.name for c in _RETURNED]      # the replaced row, without its inline bytes
    cols = ", ".join(f'"{n}"' for n in names)
    old_cols = ", ".join(f'"{n}"' for n in old_names)
    sets = ", ".join(f'"{n}" = EXCLUDED."{n}"' for n in names if n not in ("bucket", "key"))
    sql = (f'WITH old AS (SELECT {old_cols} FROM objects '
           f'WHERE "bucket" = :bucket AND "key" = :key FOR UPDATE), '
           f'up AS (INSERT INTO objects ({cols}) VALUES ({", ".join(":" + n for n in names)}) '
           f'ON CONFLICT ("bucket", "key") DO UPDATE SET {sets} '
           f'WHERE EXISTS (SELECT 1 FROM old) RETURNING 1) '
           f'SELECT (SELECT count(*) FROM up) AS written, '
           f'{", ".join(f"old.{chr(34)}{n}{chr(34)}" for n in old_names)} '
           f'FROM (SELECT 1) AS one LEFT JOIN old ON true')
    return (sa.text(sql)
            .bindparams(*(sa.bindparam(c.name, type_=c.type) for c in o.columns))
            .columns(sa.column("written", sa.Integer), *(sa.column(c.name, c.type) for c in _RETURNED)))


class MetadataStore(UploadQueries, RepairQueries, LifecycleQueries):
    """The metadata database. Thread-safe (one pooled connection per unit of work)."""

    def __init__(self, engine: sa.Engine, *, clock: Callable[[], datetime] = utcnow,
                 cache: bool = False, autocommit_engine: sa.Engine | None = None):
        self._engine = engine
        # Writers of users, keys and buckets announce their change on the feed; with
        # ``cache`` (the gateway) the lookups of those rows are answered from memory while
        # the feed says nothing changed (see meta/changes.py).
        self._feed = feed_for(engine)
        self._cache = LookupCache(self._feed) if cache else None
        self._write_engine = for_write(engine)
        # Read-only units of work on PostgreSQL run in autocommit: no BEGIN/COMMIT round trips
        # around a lookup. Each statement still sees one consistent snapshot; no read unit needs
        # two of its statements to share one (they are seeks, or checks the writer repeats).
        # Single-statement writes run there too (``_run(single=True)``). ``from_url`` gives
        # them a pool of their own whose connections stay in autocommit.
        self._read_engine = autocommit_engine or (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql" else engine)
        self._insert = insert_for(engine)
        self._pg = engine.dialect.name == "postgresql"
        self._clock = clock
        # The statements of every GET/HEAD, PUT and DELETE skip SQLAlchemy's per-call layer
        # on PostgreSQL (see meta/direct.py); SQLite keeps the Connection route.
        self._direct: dict[str, DirectStatement] = {}
        if self._pg and self._read_engine.dialect.paramstyle == "pyformat":
            cols = list(s.objects.columns)
            written = sa.Column("written", sa.Integer)
            self._direct = {
                "object": DirectStatement(_Q_OBJECT, self._read_engine, cols),
                "object_head": DirectStatement(_Q_OBJECT_HEAD, self._read_engine, _RETURNED),
                "delete": DirectStatement(_Q_DELETE_OBJECT, self._read_engine, _RETURNED),
                "replace": DirectStatement(_pg_replace_object(), self._read_engine, [written, *_RETURNED]),
                "object_pairs": DirectStatement(_Q_OBJECT_PAIRS_PG, self._read_engine, cols),
                "object_head_pairs": DirectStatement(_Q_OBJECT_HEAD_PAIRS_PG, self._read_engine, _RETURNED),
            }
        self._delete_chains: dict[int, DirectStatement] = {}
        self._deletes = (GroupRunner(self._delete_batch, max_items=_DELETE_GROUP_MAX, max_running=_GROUP_RUNNING)
                         if self._direct else None)
        self._lookups = {
            inline: GroupRunner(functools.partial(self._lookup_batch, inline), max_items=_LOOKUP_GROUP_MAX,
                                max_running=_GROUP_RUNNING)
            for inline in (True, False)} if self._direct else None

    @classmethod
    def from_url(cls, url: str, **engine_kw: Any) -> "MetadataStore":
        clock = engine_kw.pop("clock", utcnow)
        cache = engine_kw.pop("cache", False)
        if normalise_url(url).get_backend_name() != "postgresql":
            return cls(make_engine(url, **engine_kw), clock=clock, cache=cache)
        # Two pools: reads and single-statement writes (the hot path: GET, HEAD, PUT, DELETE,
        # listings) on ``pool_size`` connections in autocommit; multi-statement transactions
        # (multipart, bucket changes, conditional writes) on half as many.
        size = engine_kw.pop("pool_size", 10)
        twin = make_engine(url, pool_size=size, autocommit=True, **engine_kw)
        engine = make_engine(url, pool_size=max(2, size // 2), **engine_kw)
        return cls(engine, clock=clock, cache=cache, autocommit_engine=twin)

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    @property
    def read_engine(self) -> sa.Engine:
        """Where reads and single-statement writes run (on PostgreSQL a pool in autocommit)."""
        return self._read_engine

    # -- transactions ----------------------------------------------------------------

    def _run(self, fn: Callable[[sa.Connection], T], *, write: bool = False,
             single: bool = False) -> T:
        """Run ``fn`` in one transaction; translate connection trouble to Unavailable.
        IntegrityError propagates (callers know what it means for them). ``single``: ``fn``
        writes with exactly one statement, which PostgreSQL runs in autocommit (its own
        transaction: no BEGIN/COMMIT round trips)."""
        engine = self._write_engine if write and not (single and self._pg) else self._read_engine
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

    def _run_change(self, fn: Callable[[sa.Connection], T]) -> T:
        """A write unit of work that changes users, keys or buckets: announced on the
        change feed (in the transaction on PostgreSQL, after the commit on SQLite)."""
        def _do(conn: sa.Connection) -> T:
            result = fn(conn)
            self._feed.announce(conn)
            return result

        try:
            return self._run(_do, write=True)
        finally:
            if self._cache is not None:
                self._cache.clear()
            self._feed.announced()

    def _cached(self, key: tuple, load: Callable[[], T]) -> T:
        return load() if self._cache is None else self._cache.get(key, load)

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
        """Create missing tables and indexes, migrate an older schema (``schema.migrate``)
        and record the schema version. Idempotent;
        concurrent callers serialise on an advisory lock (PostgreSQL) or the write lock
        (SQLite, BEGIN IMMEDIATE), and DDL is transactional on both."""
        now = utc(self._clock())

        def _create(conn: sa.Connection) -> None:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_SCHEMA_LOCK})
            s.metadata.create_all(conn, checkfirst=True)
            current = conn.execute(sa.select(sa.func.max(s.schema_version.c.version))).scalar()
            if current is not None and current > s.SCHEMA_VERSION:
                raise MetaError(f"database schema version {current} is newer than this "
                                f"server's ({s.SCHEMA_VERSION}); upgrade the server")
            if current != s.SCHEMA_VERSION:
                s.migrate(conn, current)
                conn.execute(s.schema_version.insert().values(version=s.SCHEMA_VERSION,
                                                              applied_at=now))

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
        self._feed.close()
        self._engine.dispose()
        self._read_engine.dispose()

    def after_fork(self) -> None:
        """Call in a forked child (gunicorn ``post_fork``) when the store was built in
        the parent: drop the inherited pooled connections without closing the parent's
        sockets (SQLAlchemy's documented fork recipe)."""
        self._engine.dispose(close=False)
        self._read_engine.dispose(close=False)

    # -- users -------------------------------------------------------------------------

    def create_user(self, name: str, *, is_admin: bool = False) -> User:
        now = utc(self._clock())

        def _do(conn: sa.Connection) -> User:
            res = conn.execute(s.users.insert().values(
                name=name, is_admin=is_admin, disabled=False, created_at=now))
            return User(id=res.inserted_primary_key[0], name=name, is_admin=is_admin,
                        disabled=False, created_at=now)

        try:
            return self._run_change(_do)
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

        self._run_change(_do)

    # -- S3 key pairs ------------------------------------------------------------------

    def add_credential(self, user_id: int, access_key: str, secret_key: str) -> Credential:
        now = utc(self._clock())

        def _do(conn: sa.Connection) -> Credential:
            if conn.execute(sa.select(s.users.c.id).where(s.users.c.id == user_id)).first() is None:
                raise NotFound(f"user {user_id} does not exist", what="user")
            conn.execute(s.credentials.insert().values(
                access_key=access_key, secret_key=secret_key, user_id=user_id,
                created_at=now, revoked=False))
            return Credential(access_key=access_key, secret_key=secret_key, user_id=user_id,
                              created_at=now, revoked=False)

        try:
            return self._run_change(_do)
        except sa_exc.IntegrityError as e:
            raise AlreadyExists(f"access key {access_key!r} already exists") from e

    def get_credential(self, access_key: str) -> tuple[Credential, User] | None:
        def load() -> tuple[Credential, User] | None:
            row = self._run(lambda conn: conn.execute(_Q_CREDENTIAL, {"access_key": access_key}).first())
            if row is None:
                return None
            return credential_from_row(row), joined_user(row)

        return self._cached(("credential", access_key), load)

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

        self._run_change(_do)

    # -- REST API keys -----------------------------------------------------------------

    def add_api_key(self, user_id: int, key_hash: str, prefix: str) -> ApiKey:
        now = utc(self._clock())

        def _do(conn: sa.Connection) -> ApiKey:
            if conn.execute(sa.select(s.users.c.id).where(s.users.c.id == user_id)).first() is None:
                raise NotFound(f"user {user_id} does not exist", what="user")
            res = conn.execute(s.api_keys.insert().values(
                user_id=user_id, key_hash=key_hash, prefix=prefix, created_at=now,
                revoked=False))
            return ApiKey(id=res.inserted_primary_key[0], user_id=user_id, key_hash=key_hash,
                          prefix=prefix, created_at=now, revoked=False)

        try:
            return self._run_change(_do)
        except sa_exc.IntegrityError as e:
            raise AlreadyExists("API key hash already exists") from e

    def get_api_key(self, key_hash: str) -> tuple[ApiKey, User] | None:
        def load() -> tuple[ApiKey, User] | None:
            row = self._run(lambda conn: conn.execute(_Q_API_KEY, {"key_hash": key_hash}).first())
            if row is None:
                return None
            return api_key_from_row(row), joined_user(row)

        return self._cached(("api_key", key_hash), load)

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

        self._run_change(_do)

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

        return self._run_change(_do)

    # -- objects -----------------------------------------------------------------------

    def get_bucket_and_object(self, bucket: str, key: str, *, with_inline: bool = True
                              ) -> tuple[Bucket | None, ObjectMeta | None]:
        """The bucket and one of its objects in one round trip (the hot path of GET/HEAD);
        with the lookup cache, the bucket usually comes from memory, and on PostgreSQL
        concurrent lookups share statements (``GroupRunner``). Without ``with_inline`` the
        object's inline bytes are not read (``inline`` is None)."""
        q_object = _Q_OBJECT if with_inline else _Q_OBJECT_HEAD
        if self._cache is not None:
            found = self.get_bucket(bucket)
            if found is None:
                return None, None
            params = {"bucket": bucket, "key": key}
            if self._lookups is not None:
                orow = self._lookups[with_inline]((bucket, key))
            else:
                orow = self._run(lambda conn: conn.execute(q_object, params).first())
            if orow is None:    # the miss path: make sure the bucket was not deleted meanwhile
                found = self._uncached_bucket(bucket)
            return found, (object_from_row(orow) if orow else None)

        def _do(conn: sa.Connection):
            brow = conn.execute(_Q_BUCKET, {"name": bucket}).first()
            if brow is None:
                return None, None
            orow = conn.execute(q_object, {"bucket": bucket, "key": key}).first()
            return bucket_from_row(brow), (object_from_row(orow) if orow else None)

        return self._run(_do)

    def _lookup_batch(self, with_inline: bool, pairs: list[tuple[str, str]]) -> list[dict | None]:
        """A batch of ``get_bucket_and_object``'s object lookups (PostgreSQL, see GroupRunner):
        one row (a dict) per pair, None where there is none. One statement, so every lookup
        of a batch sees one snapshot, taken after each of them was asked for."""
        if len(pairs) == 1:
            bucket, key = pairs[0]
            stmt = self._direct["object" if with_inline else "object_head"]
            rows = run_direct(self._read_engine, stmt, {"bucket": bucket, "key": key}, write=False)
            return [rows[0] if rows else None]
        stmt = self._direct["object_pairs" if with_inline else "object_head_pairs"]
        rows = run_direct(self._read_engine, stmt, {"buckets": [b for b, _ in pairs], "keys": [k for _, k in pairs]},
                          write=False)
        found = {(r["bucket"], r["key"]): r for r in rows}
        return [found.get(pair) for pair in pairs]

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
                if strip_etag(if_match) != "*" and strip_etag(if_match) != strip_etag(old.etag):
                    raise PreconditionFailed(f"{meta.key!r} ETag differs (If-Match)")

        values = object_values(meta, utc(self._clock()))
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

        def _one_statement(conn: sa.Connection) -> ObjectMeta | None:
            values = object_values(meta, utc(self._clock()))
            for _ in range(_ATTEMPTS):
                row = conn.execute(_pg_replace_object(), values).one()
                if row.written:
                    return object_from_row(row) if row.key is not None else None
            raise Unavailable("objects row kept changing under concurrent writers")

        def _direct() -> ObjectMeta | None:
            values = object_values(meta, utc(self._clock()))
            for _ in range(_ATTEMPTS):
                row = run_direct(self._read_engine, self._direct["replace"], values, write=True)[0]
                if row["written"]:
                    return object_from_row(row) if row["key"] is not None else None
            raise Unavailable("objects row kept changing under concurrent writers")

        try:
            if self._pg and not if_none_match and if_match is None:
                if self._direct:
                    return _direct()
                return self._run(_one_statement, write=True, single=True)
            return self._run(_do, write=True)
        except sa_exc.IntegrityError as e:   # FK: bucket vanished under us
            raise NotFound(f"bucket {meta.bucket!r} does not exist", what="bucket") from e

    def set_object_tags(self, bucket: str, key: str, tags: tuple[tuple[str, str], ...]) -> bool:
        """Replace the object's tag set (``()``: none); False if there is no such object. The
        rest of the row (ETag, Last-Modified) stays as it is, as with AWS's PutObjectTagging."""
        o = s.objects

        def _do(conn: sa.Connection) -> bool:
            return conn.execute(sa.update(o).where(o.c.bucket == bucket, o.c.key == key)
                                .values(tags=tags_to_json(tags), tags_for=o.c.updated_at)).rowcount > 0

        return self._run(_do, write=True, single=True)

    def delete_object(self, bucket: str, key: str) -> ObjectMeta | None:
        """Delete the object's row; the removed object, or None if there was none. On
        PostgreSQL concurrent calls share statements and commits (``GroupRunner``): each
        row still goes atomically with what it returns."""
        if self._deletes is not None:
            return self._deletes((bucket, key))

        def _do(conn: sa.Connection) -> ObjectMeta | None:
            row = conn.execute(_Q_DELETE_OBJECT, {"bucket": bucket, "key": key}).first()
            return object_from_row(row) if row else None

        return self._run(_do, write=True, single=True)

    def _delete_batch(self, pairs: list[tuple[str, str]]) -> list[ObjectMeta | None]:
        """A batch of ``delete_object`` calls (PostgreSQL): one statement, in autocommit
        (``_delete_chain``). The pairs go in sorted order, so that concurrent batches lock rows in one order (a
        deadlock that still happens is retried by ``run_direct``). A pair given twice gets
        the row once, the other call None (as if it came second)."""
        if len(pairs) == 1:
            bucket, key = pairs[0]
            rows = run_direct(self._read_engine, self._direct["delete"], {"bucket": bucket, "key": key},
                              write=True)
            return [object_from_row(rows[0]) if rows else None]
        ordered = sorted(set(pairs))
        stmt = self._delete_chains.get(len(ordered))
        if stmt is None:
            stmt = self._delete_chains[len(ordered)] = DirectStatement(
                _delete_chain(len(ordered)), self._read_engine, _RETURNED)
        params = {}
        for i, (bucket, key) in enumerate(ordered):
            params[f"b{i}"], params[f"k{i}"] = bucket, key
        rows = run_direct(self._read_engine, stmt, params, write=True)
        found = {(r["bucket"], r["key"]): r for r in rows}
        out: list[ObjectMeta | None] = []
        for pair in pairs:
            row = found.pop(pair, None)
            out.append(object_from_row(row) if row is not None else None)
        return out

    def delete_object_if(self, bucket: str, key: str, holds: Callable[[ObjectMeta], bool]) -> ObjectMeta | None:
        """Delete the object if ``holds(current object)`` (a conditional delete), reading its row
        ``FOR UPDATE`` in the delete's transaction, so a concurrent overwrite either comes first
        and is the one judged, or waits and comes after. None if there is no such object;
        PreconditionFailed (nothing deleted) when the condition does not hold."""
        o = s.objects
        where = (o.c.bucket == bucket) & (o.c.key == key)

        def _do(conn: sa.Connection) -> ObjectMeta | None:
            row = conn.execute(sa.select(o).where(where).with_for_update()).first()
            if row is None:
                return None
            current = object_from_row(row)
            if not holds(current):
                raise PreconditionFailed(f"{key!r}: the delete's condition does not hold")
            conn.execute(sa.delete(o).where(where))
            return current

        return self._run(_do, write=True)

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> dict[str, ObjectMeta | None]:
        """Delete many keys of one bucket (DeleteObjects): ``{key: removed object or None}``
        for every distinct key, in the order given (a missing key is simply None; duplicates
        are fine). One ``DELETE ... RETURNING`` per ``_DELETE_CHUNK`` keys: up to that many
        keys it is one statement (on PostgreSQL in autocommit, like ``delete_object``),
        beyond it the chunks share one transaction, so the call deletes all of the rows or
        none of them. Each key's row goes atomically with the blobs it returns. Keys are
        chunked in sorted order, so concurrent batches lock rows in one order (a deadlock
        that still happens is retried by ``_run``). SQLite before 3.35 (no RETURNING):
        read the rows, then delete them, in the same write transaction."""
        result: dict[str, ObjectMeta | None] = dict.fromkeys(keys)
        if not result:
            return result
        ordered = sorted(result)
        chunks = [ordered[i:i + _DELETE_CHUNK] for i in range(0, len(ordered), _DELETE_CHUNK)]

        def _do(conn: sa.Connection) -> list[sa.Row]:
            rows: list[sa.Row] = []
            for chunk in chunks:
                params = {"bucket": bucket, "keys": chunk}
                if self._pg:
                    rows.extend(conn.execute(_Q_DELETE_OBJECTS_PG, dict(params, lo=chunk[0], hi=chunk[-1])))
                elif conn.dialect.delete_returning:
                    rows.extend(conn.execute(_Q_DELETE_OBJECTS, params))
                else:
                    rows.extend(conn.execute(_Q_OBJECTS_IN, params))
                    conn.execute(_Q_DELETE_OBJECTS_IN, params)
            return rows

        for row in self._run(_do, write=True, single=len(chunks) == 1):
            result[row.key] = object_from_row(row)
        return result

    @staticmethod
    def _list_rows(conn: sa.Connection, stmt: sa.TextClause, params: dict[str, Any]) -> list:
        """A listing statement's rows as the DBAPI cursor's plain tuples: building
        SQLAlchemy Row objects for them was a sixth of a 1000-key page's CPU."""
        result = conn.execute(stmt, params)
        try:
            return result.cursor.fetchall()
        finally:
            result.close()

    def count_objects(self, bucket: str) -> int:
        o = s.objects
        return self._run(lambda conn: conn.execute(
            sa.select(sa.func.count()).select_from(o).where(o.c.bucket == bucket)).scalar_one())

    def list_objects(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                     start_after: str = "", max_keys: int = 1000) -> ListPage:
        """One ListObjectsV2 page: keys after ``start_after`` under ``prefix`` in UTF-8
        byte order, rolled up by ``delimiter`` (see ``seek_listing`` for the cost: range
        scans, and a skip scan over common prefixes). Listed objects carry the listing's
        fields only (see ``listed_object``)."""
        empty = ListPage(objects=(), common_prefixes=(), is_truncated=False, next_marker=None)
        if max_keys <= 0:
            return empty
        cursor = start_cursor(prefix, delimiter, start_after)
        if cursor is EMPTY:
            return empty
        upper = successor(prefix) if prefix else None
        skip_args = skip_params(prefix, delimiter) if delimiter else None

        def _do(conn: sa.Connection) -> ListPage:
            def seek(cur: Cursor | None, limit: int) -> tuple[bool, dict[str, Any]]:
                lo, inclusive = prefix, True                 # keys >= prefix ("" = all)
                if cur is not None:
                    key, key_incl = (cur[1][0], False) if cur[0] == "row" else (cur[1], cur[2])
                    if key > prefix or (key == prefix and not key_incl):
                        lo, inclusive = key, key_incl
                params = {"bucket": bucket, "lo": lo, "lim": limit}
                if upper is not None:
                    params["hi"] = upper
                return inclusive, params

            def fetch(cur: Cursor | None, limit: int) -> list[tuple[str, tuple]]:
                inclusive, params = seek(cur, limit)
                rows = self._list_rows(conn, range_statement(inclusive, upper is not None), params)
                return [(r[0], r) for r in rows]

            def skip(cur: Cursor | None, limit: int) -> list[tuple[str, tuple]]:
                inclusive, params = seek(cur, limit)
                stmt = skip_statement(conn.dialect.name, inclusive, upper is not None)
                rows = self._list_rows(conn, stmt, {**params, **skip_args})
                return [(r[0], r) for r in rows]

            entries, truncated = seek_listing(fetch, prefix=prefix, delimiter=delimiter,
                                               cursor=cursor, max_entries=max_keys,
                                               skip=skip if skip_args else None)
            marker = None
            if truncated:
                last = entries[-1]
                marker = last if isinstance(last, str) else last[0]
            return ListPage(
                objects=listed_objects(bucket, (e for e in entries if not isinstance(e, str))),
                common_prefixes=tuple(e for e in entries if isinstance(e, str)),
                is_truncated=truncated, next_marker=marker)

        return self._run(_do)
