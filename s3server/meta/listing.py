"""The listing algorithm shared by ListObjectsV2 and ListMultipartUploads, and the
statements ListObjects runs (range scans, and a skip scan over common prefixes).

Keys sort in UTF-8 byte order, which for str is code-point order: Python's own string
comparison, SQLite's BINARY collation and PostgreSQL's ``COLLATE "C"`` all agree.
"""
from __future__ import annotations

import functools
import json
from datetime import datetime, timezone
from typing import Any, Callable

import sqlalchemy as sa

from s3server.meta import schema as s
from s3server.models import ListedObject

LIST_BATCH_MIN = 32        # first seek batch of a delimiter listing


def successor(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix``
    (code-point order == UTF-8 byte order): increment the last code point, dropping
    trailing U+10FFFF and jumping over the surrogate range. None if there is none."""
    chars = list(prefix)
    while chars:
        cp = ord(chars[-1]) + 1
        if cp <= 0x10FFFF:
            if 0xD800 <= cp <= 0xDFFF:
                cp = 0xE000
            chars[-1] = chr(cp)
            return "".join(chars)
        chars.pop()
    return None


def common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    """The common prefix ``key`` rolls up into in a delimiter listing, else None."""
    if not delimiter or not key.startswith(prefix):
        return None
    idx = key.find(delimiter, len(prefix))
    if idx < 0:
        return None
    return key[: idx + len(delimiter)]


# A listing cursor: ("key", k, inclusive) -- seek to keys > k (>= k when inclusive) --
# or ("row", row) -- continue right after that row in the listing's order.
Cursor = tuple
EMPTY = ("empty",)


def prefix_range(column: sa.ColumnElement, prefix: str) -> list[sa.ColumnElement]:
    """``column`` starts with ``prefix``, as an index range (never LIKE: keys may hold
    ``%`` and ``_``)."""
    if not prefix:
        return []
    conds = [column >= prefix]
    upper = successor(prefix)
    if upper is not None:
        conds.append(column < upper)
    return conds


def key_seek(column: sa.ColumnElement, cursor: Cursor) -> sa.ColumnElement:
    if cursor[0] == "row":
        return column > cursor[1].key
    _, key, inclusive = cursor
    return column >= key if inclusive else column > key


def start_cursor(prefix: str, delimiter: str, start_after: str) -> Cursor | None:
    """Where a listing starts. A ``start_after`` that is itself a common prefix (the
    ``next_marker`` of a page that ended on one) skips everything under it."""
    if not start_after:
        return None
    if delimiter and start_after == common_prefix(start_after, prefix, delimiter):
        nxt = successor(start_after)
        return EMPTY if nxt is None else ("key", nxt, True)
    return ("key", start_after, False)


def seek_listing(
    fetch: Callable[[Cursor | None, int], list[tuple[str, Any]]],
    *,
    prefix: str,
    delimiter: str,
    cursor: Cursor | None,
    max_entries: int,
    skip: Callable[[Cursor | None, int], list[tuple[str, Any]]] | None = None,
) -> tuple[list[Any], bool]:
    """Collect up to ``max_entries`` entries -- rows, or common-prefix strings -- from
    ``cursor`` on; return (entries, is_truncated).

    ``fetch(cursor, limit)`` returns up to ``limit`` (key, row) pairs after ``cursor``
    in listing order, under the listing's prefix: an index range scan costing
    O(limit) whatever the bucket size. When a common prefix turns up, the next fetch
    seeks straight to ``successor(common_prefix)``: keys under it are not read one by
    one. Without a delimiter a page is a single fetch of max_entries + 1 rows. With
    one, fetches start at LIST_BATCH_MIN rows and double while no row is skipped, so
    the rows read and thrown away per common prefix stay bounded as well.

    ``skip(cursor, limit)``, when given, returns the first row of each of the next
    ``limit`` entries (a key, or the first key of a common prefix) in one statement: a
    skip scan, one index probe per entry. It takes over as soon as a fetch skipped rows
    (common prefixes hold many keys), and hands back to ``fetch`` once most of the
    entries it returns are keys (a range scan reads those far cheaper). So 10 common
    prefixes of 100,000 keys each cost two statements, and a directory of plain keys
    stays one range scan.

    ``is_truncated`` is exact: True only when one more entry really exists.
    """
    entries: list[Any] = []
    batch = LIST_BATCH_MIN if delimiter else max_entries + 1
    skipping = False
    while True:
        limit = min(batch, max_entries - len(entries) + 1)
        rows = (skip if skipping else fetch)(cursor, limit)
        open_prefix: str | None = None
        skipped = False
        rolled_up = 0
        for key, row in rows:
            if open_prefix is not None and key.startswith(open_prefix):
                skipped = True
                continue
            if len(entries) == max_entries:
                return entries, True
            cp = common_prefix(key, prefix, delimiter)
            if cp is None:
                entries.append(row)
                open_prefix = None
                cursor = ("row", row)
            else:
                entries.append(cp)
                rolled_up += 1
                open_prefix = cp
                nxt = successor(cp)
                if nxt is None:
                    return entries, False
                cursor = ("key", nxt, True)
        if len(rows) < limit:
            return entries, False
        if skipping:                    # one row per entry: keep on while prefixes dominate
            skipping = 2 * rolled_up >= len(rows)
            batch = min(batch * 2, max_entries + 1) if skipping else LIST_BATCH_MIN
        elif skipped and skip is not None:
            skipping, batch = True, LIST_BATCH_MIN
        else:
            batch = LIST_BATCH_MIN if skipped else min(batch * 2, max_entries + 1)


# -- ListObjects statements ------------------------------------------------------------
#
# Written as SQL text, built once per shape: a page is 1,000 rows, and SQLAlchemy's
# per-row type processing (JSON decoding, datetime coercion) cost more than the query.
# Rows come back raw and ``listed_objects`` builds the models from the listing columns.

LISTED_COLUMNS = ("key", "size", "etag", "last_modified", "content_type", "checksums",
                  "checksum_type", "storage_class")


def _select_list(alias: str = "") -> str:
    return ", ".join(alias + c for c in LISTED_COLUMNS)


@functools.lru_cache(maxsize=None)
def range_statement(inclusive: bool, bounded: bool) -> sa.TextClause:
    """A range scan on the (bucket, key) index: keys from ``:lo`` (inclusive or not),
    below ``:hi`` when bounded, in key order, ``:lim`` rows."""
    return sa.text(
        f"SELECT {_select_list()} FROM {s.objects.name} WHERE bucket = :bucket"
        f" AND key {'>=' if inclusive else '>'} :lo{' AND key < :hi' if bounded else ''}"
        " ORDER BY key LIMIT :lim")


@functools.lru_cache(maxsize=None)
def skip_statement(dialect: str, inclusive: bool, bounded: bool) -> sa.TextClause:
    """A skip scan (loose index scan) in one statement: the first row of each of the next
    ``:lim`` entries of a delimiter listing, from ``:lo`` (inclusive or not), below ``:hi``
    when bounded. A recursive CTE steps from one entry to the next with one index probe:
    past a key to its immediate successor, past a common prefix to the successor of the
    prefix -- ``cp[:-1] || :succ``, :succ being the code point after the delimiter's last
    one (``cp`` ends with the delimiter). ``:pstart`` = len(prefix) + 1 and ``:cut`` =
    len(prefix) + len(delimiter) - 2, in characters (code points on both backends).

    Dialect differences: PostgreSQL's ``strpos`` is SQLite's ``instr``; PostgreSQL reads
    each entry's row through a LATERAL subquery (see below), SQLite (no LATERAL) through a
    join; the immediate successor of a key is key || U+0001 on PostgreSQL (text never holds
    NUL) and key || NUL on SQLite (BINARY compares lengths too); PostgreSQL wants the recursive column's type
    pinned (text, byte order) and SQLite a compound member with LIMIT wrapped in a SELECT.
    """
    pg = dialect == "postgresql"
    pos = "strpos" if pg else "instr"
    key_t = 'key::text COLLATE "C"' if pg else "key"
    tiny = "chr(1)" if pg else "char(0)"
    hi = " AND key < :hi" if bounded else ""
    first = (f"SELECT {key_t}, 1 FROM {s.objects.name} WHERE bucket = :bucket"
             f" AND key {'>=' if inclusive else '>'} :lo{hi} ORDER BY key LIMIT 1")
    first = f"({first})" if pg else f"SELECT * FROM ({first})"
    found = f"{pos}(substr(r.key, :pstart), :delim)"
    step = (f"SELECT (SELECT {key_t} FROM {s.objects.name} WHERE bucket = :bucket AND key >="
            f" CASE WHEN {found} > 0 THEN substr(r.key, 1, :cut + {found}) || :succ"
            f" ELSE r.key || {tiny} END{hi} ORDER BY key LIMIT 1), r.n + 1"
            " FROM r WHERE r.key IS NOT NULL AND r.n < :lim")
    if pg:
        # Each entry's row by one index probe, whatever the plan cache holds: psycopg prepares a
        # statement after a few runs and PostgreSQL may then reuse a generic plan made when the
        # table was small. A plain join planned then (a hash join over the bucket's rows) read
        # the whole bucket per page once it had grown: 62-74 ms instead of 0.2 ms at 100k keys,
        # measured. A LATERAL subquery with LIMIT cannot be flattened into such a join.
        rows = (f"FROM r CROSS JOIN LATERAL (SELECT {_select_list()} FROM {s.objects.name}"
                " WHERE bucket = :bucket AND key = r.key LIMIT 1) o")
    else:
        rows = f"FROM r JOIN {s.objects.name} o ON o.bucket = :bucket AND o.key = r.key"
    return sa.text(
        f"WITH RECURSIVE r(key, n) AS ({first} UNION ALL {step})"
        f" SELECT {_select_list('o.')} {rows} ORDER BY r.n")


def skip_params(prefix: str, delimiter: str) -> dict[str, Any] | None:
    """The skip scan's parameters for this listing; None when it cannot be used (the
    delimiter ends with U+10FFFF, which has no successor)."""
    succ = successor(delimiter[-1]) if delimiter else None
    if succ is None:
        return None
    return {"pstart": len(prefix) + 1, "cut": len(prefix) + len(delimiter) - 2,
            "delim": delimiter, "succ": succ}


_JSON = json.JSONDecoder()


def _utc(value: datetime | str) -> datetime:
    if type(value) is datetime and value.tzinfo is timezone.utc:   # PostgreSQL (TimeZone=UTC)
        return value
    if isinstance(value, str):                      # SQLite: naive UTC, ISO text
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def listed_objects(bucket: str, rows) -> tuple[ListedObject, ...]:
    """Listing rows (``LISTED_COLUMNS``, raw) as models."""
    decode = _JSON.raw_decode
    return tuple(
        ListedObject(bucket, key, size, etag, _utc(last_modified), content_type,
                     {} if checksums == "{}" else decode(checksums)[0],   # written by us
                     checksum_type, storage_class)
        for key, size, etag, last_modified, content_type, checksums, checksum_type, storage_class
        in rows)
