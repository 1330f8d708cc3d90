"""Objects: the GET/HEAD lookup, PUT (create or replace, conditional), tags, DELETE (one,
conditional, many) and the ListObjects page (a query family of MetadataStore).

The hot statements are built once here; on PostgreSQL they skip SQLAlchemy's per-call layer
(meta/direct.py) and concurrent calls of one gateway process share statements and commits
(meta/group.py)."""
from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from s3server.meta import schema as s
from s3server.meta.buckets import Q_BUCKET
from s3server.meta.common import strip_etag, utc
from s3server.meta.direct import DirectStatement, run_direct
from s3server.meta.errors import NotFound, PreconditionFailed, Unavailable
from s3server.meta.group import GroupRunner
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
from s3server.meta.rows import bucket_from_row, object_from_row, object_values, tags_to_json
from s3server.meta.transactions import ATTEMPTS, Transactions
from s3server.models import Bucket, ListPage, ObjectMeta

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
    trap of Performance item 19 in README.md before the docs split, commit 233bf0b); so did ``key = ANY(...)``, probing the bucket and filtering."""
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
# With every row in memory one at a time was 3-5% faster (larger batches; Performance item 22 in README.md at commit 233bf0b).
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


class ObjectQueries(Transactions):
    def _setup_object_statements(self) -> None:
        """The statements of every GET/HEAD, PUT and DELETE skip SQLAlchemy's per-call layer
        on PostgreSQL (see meta/direct.py); SQLite keeps the Connection route."""
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
            brow = conn.execute(Q_BUCKET, {"name": bucket}).first()
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
            for _ in range(ATTEMPTS):
                row = conn.execute(_pg_replace_object(), values).one()
                if row.written:
                    return object_from_row(row) if row.key is not None else None
            raise Unavailable("objects row kept changing under concurrent writers")

        def _direct() -> ObjectMeta | None:
            values = object_values(meta, utc(self._clock()))
            for _ in range(ATTEMPTS):
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
