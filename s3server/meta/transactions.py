"""The unit-of-work layer every query family of MetadataStore runs on: one ``engine.begin()``
transaction per public call (``_run``), retries of PostgreSQL deadlocks and serialization failures,
connection trouble turned into ``Unavailable``, the change feed around writes of users, keys and
buckets, and the row-replacing upsert.

Write units of work run on ``for_write(engine)`` (SQLite: ``BEGIN IMMEDIATE``). On PostgreSQL
(READ COMMITTED) the races are closed with row locks taken in one global order (bucket row, then
upload row, then object/part row):

* ``put_object`` / ``create_upload`` / ``complete_upload`` hold ``FOR KEY SHARE`` on
  the bucket row; ``delete_bucket`` takes ``FOR UPDATE`` on it, so it either sees the
  new object (Conflict) or the writer finds the bucket gone (NotFound).
* a replaced row is read ``FOR UPDATE`` so the returned "replaced" object is exactly
  the one overwritten; when the row did not exist we ``INSERT .. ON CONFLICT DO
  NOTHING`` and, if a concurrent writer got there first, re-read it under lock. Hence
  two concurrent If-None-Match PUTs: exactly one wins.
* ``put_part`` holds ``FOR KEY SHARE`` on the upload row; complete/abort/delete_bucket
  lock it ``FOR UPDATE`` before collecting part blobs, so no part slips past them.
"""
from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any, Callable, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from s3server.meta import schema as s
from s3server.meta.changes import LookupCache, NoFeed
from s3server.meta.errors import MetaError, NotFound, Unavailable

T = TypeVar("T")

_RETRYABLE_SQLSTATES = {"40001", "40P01"}   # serialization_failure, deadlock_detected
ATTEMPTS = 3


class Transactions:
    """The transaction helpers of MetadataStore (whose ``__init__`` sets these attributes)."""

    _engine: sa.Engine
    _read_engine: sa.Engine
    _write_engine: sa.Engine
    _feed: NoFeed
    _cache: LookupCache | None
    _insert: Callable[[sa.Table], Any]
    _pg: bool
    _clock: Callable[[], datetime]

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
                if sqlstate in _RETRYABLE_SQLSTATES and attempt < ATTEMPTS:
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
        for _ in range(ATTEMPTS):
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
