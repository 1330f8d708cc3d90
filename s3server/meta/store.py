"""MetadataStore: the metadata database, one method per query, one transaction per unit of work,
models out. A thin composition of the query families, one module each:

* ``users.py``      users, S3 key pairs, REST API keys
* ``buckets.py``    buckets and their settings
* ``objects.py``    object rows: lookup, put, delete, list
* ``uploads.py``    multipart uploads and their parts
* ``lifecycle.py``  lifecycle rules and the rows they reach
* ``repairs.py``    where blobs are used, node-list edits, the repair lock

all running on ``transactions.py`` (``_run``: the unit of work, retries, ``Unavailable``; the
lock order that closes PostgreSQL's races is described there). This module builds the engines
and owns the schema.

Every public method runs exactly one ``engine.begin()`` transaction (``_run``), except
``iter_blob_ids``, which streams one short transaction per page.
SQLAlchemy connection-level failures become ``Unavailable``; PostgreSQL deadlocks and
serialization failures are retried a couple of times first.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

import sqlalchemy as sa

from s3server.meta import schema as s
from s3server.meta.buckets import BucketQueries
from s3server.meta.changes import LookupCache, feed_for
from s3server.meta.common import utc, utcnow
from s3server.meta.engine import for_write, insert_for, make_engine, normalise_url
from s3server.meta.errors import MetaError, Unavailable
from s3server.meta.lifecycle import LifecycleQueries
from s3server.meta.objects import ObjectQueries
from s3server.meta.repairs import BlobUse, RepairLock, RepairQueries  # noqa: F401 (re-exported)
from s3server.meta.uploads import UploadQueries
from s3server.meta.users import UserQueries

_PG_SCHEMA_LOCK = 0x53335356                # pg_advisory_xact_lock key for create_schema


class MetadataStore(UserQueries, BucketQueries, ObjectQueries, UploadQueries, RepairQueries, LifecycleQueries):
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
        self._setup_object_statements()

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

    # -- schema, health, engines -------------------------------------------------------

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
