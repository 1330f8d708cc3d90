"""The listing algorithm shared by ListObjectsV2 and ListMultipartUploads.

Keys sort in UTF-8 byte order, which for str is code-point order: Python's own string
comparison, SQLite's BINARY collation and PostgreSQL's ``COLLATE "C"`` all agree.
"""
from __future__ import annotations

from typing import Any, Callable

import sqlalchemy as sa

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

    ``is_truncated`` is exact: True only when one more entry really exists.
    """
    entries: list[Any] = []
    batch = LIST_BATCH_MIN if delimiter else max_entries + 1
    while True:
        limit = min(batch, max_entries - len(entries) + 1)
        rows = fetch(cursor, limit)
        open_prefix: str | None = None
        skipped = False
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
                open_prefix = cp
                nxt = successor(cp)
                if nxt is None:
                    return entries, False
                cursor = ("key", nxt, True)
        if len(rows) < limit:
            return entries, False
        batch = LIST_BATCH_MIN if skipped else min(batch * 2, max_entries + 1)
