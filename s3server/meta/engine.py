"""Engines for the metadata database: SQLite (embedded) and PostgreSQL (pods).

Dialect differences live here and nowhere else above the query modules:

SQLite
    * ``journal_mode=WAL``: readers never block the writer and vice versa, so several
      gunicorn worker processes can share one file.
    * ``synchronous=FULL``: in WAL mode NORMAL is corruption-safe but may lose the last
      committed transactions on power loss. A lost commit here is an acknowledged PUT
      whose object vanishes; storage nodes already fsync every blob, so one more fsync
      per metadata commit is the consistent price for "200 means durable".
    * ``foreign_keys=ON`` and a 30 s busy timeout (``sqlite3.connect(timeout=30)``
      installs SQLite's busy handler).
    * Write transactions start with ``BEGIN IMMEDIATE`` (the SQLAlchemy pysqlite recipe:
      disable the driver's own BEGIN, emit ours from the ``begin`` event). A deferred
      transaction that reads and then writes can fail with SQLITE_BUSY *without* waiting
      on the busy handler when another process committed in between; IMMEDIATE takes the
      write lock up front, so writers queue on the busy timeout instead. Read-only units
      of work use a plain deferred ``BEGIN`` so they never take the write lock. A unit of
      work asks for IMMEDIATE with the execution option ``WRITE_OPTION`` (see
      :func:`for_write`).
    * Caveat: the busy wait blocks inside the C library, i.e. the whole gevent worker.
      That is acceptable for the single-machine ``serve`` mode; pods use PostgreSQL.

PostgreSQL
    ``postgresql+psycopg`` (psycopg 3; ``postgresql://`` and ``postgres://`` are
    normalised to it). Pooling: SQLAlchemy's own ``QueuePool`` (no pre-ping: see below).
    SQLAlchemy documents psycopg_pool (>= 3.3, ``close_returns=True``) as an *alternative*
    that plugs in through ``creator=pool.getconn`` with ``poolclass=NullPool``. We keep
    SQLAlchemy's pool because:

    * it starts no background threads and opens no connection until first use, so an
      engine built before gunicorn forks is safe (``engine.dispose(close=False)`` in
      ``post_fork`` is the documented fork recipe); psycopg_pool's worker threads would
      not survive the fork;
    * on a disconnect error SQLAlchemy invalidates the connection *and every older pooled
      connection*, so after a PostgreSQL restart requests recover without a process
      restart. We do not pre-ping at checkout (one extra round trip on every unit of work,
      the hot path of every request); ``Transactions._run`` (meta/transactions.py) instead re-runs a *read* that
      met a dead connection, and lets a write become 503 (its COMMIT may have happened);
    * with ``NullPool`` + ``creator`` the dialect's per-connection ``on_connect`` setup
      runs on every checkout, and health checks would be configured in two places.

    ``connect_timeout=5`` and TCP keepalives make an outage fail fast (-> ``Unavailable``
    -> 503) instead of hanging a worker; ``pool_timeout`` bounds the wait for a free
    connection the same way.

``insert_for(engine)`` returns the dialect's ``insert`` construct; both have
``on_conflict_do_update`` / ``on_conflict_do_nothing`` with the same signature, so the
store builds identical upserts on both backends.
"""
from __future__ import annotations

from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

WRITE_OPTION = "s3server_write"
"""Execution option marking a unit of work that writes (SQLite: BEGIN IMMEDIATE)."""

SQLITE_BUSY_TIMEOUT_S = 30
PG_CONNECT_TIMEOUT_S = 5
# Session settings of every metadata connection (libpq startup options: no round trip).
# enable_bitmapscan=off: our statements are key lookups, index range scans with a LIMIT in key
# order (listings, repair paging) and full scans (GC checks); none wants a bitmap scan. Without
# statistics (a table not analyzed yet, autovacuum off) the planner guessed a few hundred rows
# for a listing's key range and chose a bitmap scan of the whole range plus a sort: 0.7 s per
# page at 1M keys instead of ~1 ms (tests/meta/test_listing.py checks the plan). A connection
# pooler in front of PostgreSQL must pass startup options (PgBouncer: ignore_startup_parameters).
# TimeZone=UTC: timestamptz values are the same instants in any session time zone, but psycopg
# loads them with the session's tzinfo; a server whose zone is "Etc/UTC" (Debian's default) or
# local time gave ZoneInfo datetimes, each then converted to timezone.utc: ~1 us per row, a
# tenth of a 1000-key listing page's CPU. With "UTC" psycopg loads timezone.utc directly.
PG_SESSION_OPTIONS = "-c enable_bitmapscan=off -c TimeZone=UTC"


def normalise_url(url: str) -> sa.URL:
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 5,
    pool_timeout: float = 10.0,
    echo: bool = False,
    autocommit: bool = False,
) -> sa.Engine:
    """An engine for ``url`` configured as described in the module docstring.
    ``autocommit`` (PostgreSQL): every connection of its pool stays in autocommit, for
    units of work that are single statements (no per-checkout isolation switching)."""
    u = normalise_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        if autocommit:
            raise ValueError("autocommit engines are for PostgreSQL")
        return _sqlite_engine(u, pool_size=pool_size, max_overflow=max_overflow,
                              pool_timeout=pool_timeout, echo=echo)
    if backend == "postgresql":
        return sa.create_engine(
            u,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_pre_ping=False,   # see Transactions._run: stale connections are retried there
            pool_recycle=3600,
            pool_use_lifo=True,   # idle surplus connections age out instead of rotating
            echo=echo,
            **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
            connect_args={
                "connect_timeout": PG_CONNECT_TIMEOUT_S,
                "application_name": "s3server",
                "keepalives": 1,
                "keepalives_idle": 30,
                "keepalives_interval": 10,
                "keepalives_count": 3,
                "options": PG_SESSION_OPTIONS,
            },
        )
    raise ValueError(f"unsupported metadata database URL: {u.render_as_string(hide_password=True)}")


def _sqlite_engine(u: sa.URL, **kw: Any) -> sa.Engine:
    database = u.database or ""
    if database in ("", ":memory:") or "mode=memory" in str(u):
        raise ValueError("the metadata store needs a SQLite *file* (several processes share it)")
    engine = sa.create_engine(
        u,
        pool_size=kw["pool_size"],
        max_overflow=kw["max_overflow"],
        pool_timeout=kw["pool_timeout"],
        echo=kw["echo"],
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):  # noqa: ARG001
        # Take BEGIN away from the driver: we emit it ourselves in _on_begin.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
            _set_wal(cur)
            cur.execute("PRAGMA synchronous = FULL")
            cur.execute("PRAGMA foreign_keys = ON")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def _set_wal(cur) -> None:
    """Switch to WAL. The switch needs an exclusive lock and SQLite may report "database is
    locked" at once, without its busy handler, when several processes open a new database
    together; retry for a while (WAL is persistent: once set, later connections find it set)."""
    import sqlite3
    import time

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def for_write(engine: sa.Engine) -> sa.Engine:
    """The same engine (same pool) whose transactions are write transactions."""
    return engine.execution_options(**{WRITE_OPTION: True})


def insert_for(engine: sa.Engine) -> Callable[..., Any]:
    """The dialect's ``insert`` (with ``on_conflict_do_update``), picked once per engine."""
    name = engine.dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise ValueError(f"no upsert support for dialect {name!r}")
