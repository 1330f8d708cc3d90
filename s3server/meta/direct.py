"""Hot single statements run straight on the pooled DBAPI connection (PostgreSQL).

SQLAlchemy compiles each statement once; per call it would then build a Connection, a
transaction, an execution context and a result proxy around psycopg's own work. Measured on
the object lookup of GET/HEAD: ~230-320 us of CPU per call through ``engine.begin()``
against ~95-135 us here (psycopg alone: ~65-85 us), and that layer was half of a GET's
handler time in the gateway. So the statements on every request's path (object lookup,
one-statement PUT and DELETE) take this route on PostgreSQL; everything else, and SQLite,
stays on SQLAlchemy Connections.

What stays the same as ``Transactions._run``:

* connections come from the same SQLAlchemy pool (checkout, reset on return, size);
* values go through the columns' own bind and result processors (JSON text, UTC times);
* errors: deadlocks and serialization failures are retried; a disconnect invalidates the
  connection and every older pooled one (SQLAlchemy's own rule) and a *read* is re-run
  once on a fresh connection; connection trouble is ``Unavailable``; an integrity
  violation is raised as ``sqlalchemy.exc.IntegrityError`` so callers keep one except
  clause for both routes.
"""
from __future__ import annotations

import itertools
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from s3server.meta.errors import Unavailable

_RETRYABLE_SQLSTATES = {"40001", "40P01"}   # serialization_failure, deadlock_detected
_ATTEMPTS = 3


class DirectStatement:
    """One statement compiled for ``engine``'s dialect, with the bind processors of its
    parameters and the result processors of the columns it returns."""

    __slots__ = ("sql", "_binds", "_results", "_names", "_procs")

    def __init__(self, stmt: sa.Executable, engine: sa.Engine, columns: Iterable[sa.Column]):
        dialect = engine.dialect
        compiled = stmt.compile(dialect=dialect)
        if dialect.paramstyle != "pyformat":
            raise ValueError(f"direct statements need pyformat parameters, not {dialect.paramstyle}")
        self.sql = str(compiled)
        self._binds = {}
        for name, bind in compiled.binds.items():
            proc = bind.type.bind_processor(dialect)
            if proc is not None:
                self._binds[name] = proc
        self._results = {}
        for col in columns:
            proc = col.type.result_processor(dialect, None)
            self._results[col.name] = proc
        self._names: list[str] | None = None
        self._procs: list = []

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        if not self._binds:
            return values
        out = dict(values)
        for name, proc in self._binds.items():
            if name in out:
                out[name] = proc(out[name])
        return out

    def rows(self, cursor) -> list[dict[str, Any]]:
        """The executed ``cursor``'s rows as dicts, through the column processors."""
        # The SQL names its columns, so the result's shape never changes: read the names off
        # the first description only (psycopg builds a Column object per column per call).
        names = self._names
        if names is None:
            names = [d.name for d in cursor.description]
            self._procs = [self._results.get(n) for n in names]
            self._names = names
        procs = self._procs
        out = []
        for raw in cursor.fetchall():
            out.append({n: (p(v) if p is not None else v) for n, p, v in zip(names, procs, raw)})
        return out


def run_direct(engine: sa.Engine, stmt: DirectStatement, values: dict[str, Any], *,
               write: bool) -> list[dict[str, Any]]:
    """Execute ``stmt`` once with ``values`` on a pooled connection (in the pool's mode:
    autocommit for the store's read pool) and return its rows as dicts."""
    params = stmt.params(values)
    pool = engine.pool
    dialect = engine.dialect
    for attempt in itertools.count(1):
        try:
            raw = engine.raw_connection()
        except sa_exc.DBAPIError as e:
            raise Unavailable(f"metadata database unavailable: {e.orig}") from e
        except (sa_exc.TimeoutError, sa_exc.DisconnectionError) as e:
            raise Unavailable(f"metadata database unavailable: {e}") from e
        cursor = None
        try:
            cursor = raw.cursor()
            cursor.execute(stmt.sql, params)
            rows = stmt.rows(cursor)
            cursor.close()
            raw.close()                       # back to the pool (its reset is a no-op here)
            return rows
        except dialect.loaded_dbapi.Error as e:
            disconnect = dialect.is_disconnect(e, raw.dbapi_connection, cursor)
            if disconnect:
                _invalidate(pool, raw, e)
            else:
                _close_quietly(cursor)
                raw.close()
            sqlstate = getattr(e, "sqlstate", None)
            if not disconnect and sqlstate in _RETRYABLE_SQLSTATES and attempt < _ATTEMPTS:
                continue
            if disconnect and not write and attempt == 1:
                continue
            if disconnect or isinstance(e, (dialect.loaded_dbapi.OperationalError,
                                            dialect.loaded_dbapi.InterfaceError)):
                raise Unavailable(f"metadata database unavailable: {e}") from e
            if isinstance(e, dialect.loaded_dbapi.IntegrityError):
                raise sa_exc.IntegrityError(stmt.sql, params, e) from e
            raise sa_exc.DBAPIError(stmt.sql, params, e) from e
        except BaseException:
            # anything else (a greenlet killed by a timeout, a bug): the connection may be
            # mid-statement, so it is not reused
            _invalidate(pool, raw, None)
            raise
    raise AssertionError("unreachable")


def _invalidate(pool, raw, exc: BaseException | None) -> None:
    """Drop ``raw``'s DBAPI connection, and on a disconnect every connection pooled before
    it, as SQLAlchemy does for its own Connections (a database restart kills them all)."""
    if exc is not None:
        invalidate_all = getattr(pool, "_invalidate", None)
        if invalidate_all is not None:
            invalidate_all(raw, exc, _checkin=False)
    try:
        raw.invalidate(exc)
    finally:
        raw.close()


def _close_quietly(cursor) -> None:
    if cursor is None:
        return
    try:
        cursor.close()
    except Exception:
        pass
