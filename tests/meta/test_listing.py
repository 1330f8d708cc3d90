"""ListObjects pages from the metadata store: UTF-8 byte order, prefixes, delimiters, paging, and the
index seeks behind them (SQLite and PostgreSQL via db_url)."""
from __future__ import annotations

import pytest

from s3server.meta.listing import successor
from s3server.meta.store import MetadataStore
from tests.meta.storeutil import StatementCounter, bulk_insert_keys, utf8_sorted


def test_successor():
    assert successor("a/") == "a0"
    assert successor("ab") == "ac"
    assert successor("a\U0010ffff") == "b"
    assert successor("\U0010ffff") is None
    assert successor("a\ud7ff") == "a\ue000"


def reference_listing(keys, prefix="", delimiter="", start_after=""):
    """S3 semantics, the slow obvious way: every entry (key or common prefix) in order."""
    out: list[tuple[str, str]] = []
    for k in utf8_sorted(keys):
        if not k.startswith(prefix):
            continue
        rest = k[len(prefix):]
        if delimiter and delimiter in rest:
            cp = prefix + rest[: rest.index(delimiter) + len(delimiter)]
            if not out or out[-1] != ("p", cp):
                out.append(("p", cp))
        else:
            out.append(("k", k))
    if start_after:
        sa_b = start_after.encode()
        out = [e for e in out if e[1].encode() > sa_b and not (
            e[0] == "p" and e[1] == start_after)]
        out = [e for e in out if not (e[0] == "k" and delimiter and start_after.endswith(delimiter)
                                      and e[1].startswith(start_after))]
    return out


def page_entries(page):
    entries = [("k", o.key) for o in page.objects] + [("p", p) for p in page.common_prefixes]
    return sorted(entries, key=lambda e: e[1].encode())


def walk(store, bucket, *, max_keys, **kw):
    """Follow next_marker to the end; return all entries and the page count."""
    entries, pages, start_after = [], 0, kw.pop("start_after", "")
    while True:
        page = store.list_objects(bucket, start_after=start_after, max_keys=max_keys, **kw)
        pages += 1
        got = page_entries(page)
        assert len(got) <= max_keys
        entries += got
        if not page.is_truncated:
            assert page.next_marker is None
            return entries, pages
        assert got and page.next_marker == got[-1][1]
        start_after = page.next_marker
        assert pages < 1000


def test_list_byte_order(store, bucket):
    keys = ["a", "a/b", "a0", "ab", "é", "😀", "\uffff", "Z", "a-", "~", "\x7f"]
    bulk_insert_keys(store, bucket, keys)
    page = store.list_objects(bucket)
    assert [o.key for o in page.objects] == utf8_sorted(keys)
    assert not page.is_truncated and page.next_marker is None
    assert not hasattr(page.objects[0], "segments")     # listings leave segments out


def test_list_prefix_with_like_wildcards(store, bucket):
    keys = ["a%b", "a_b", "axb", "a%", "ab", "a%%", "a\\b", "b"]
    bulk_insert_keys(store, bucket, keys)
    assert [o.key for o in store.list_objects(bucket, prefix="a%").objects] == ["a%", "a%%", "a%b"]
    assert [o.key for o in store.list_objects(bucket, prefix="a_").objects] == ["a_b"]
    assert [o.key for o in store.list_objects(bucket, prefix="a\\").objects] == ["a\\b"]
    assert store.list_objects(bucket, prefix="zz").objects == ()


def test_list_max_keys(store, bucket):
    bulk_insert_keys(store, bucket, ["a", "b", "c"])
    zero = store.list_objects(bucket, max_keys=0)
    assert zero.objects == () and not zero.is_truncated and zero.next_marker is None
    one = store.list_objects(bucket, max_keys=1)
    assert [o.key for o in one.objects] == ["a"] and one.is_truncated and one.next_marker == "a"
    exact = store.list_objects(bucket, max_keys=3)
    assert len(exact.objects) == 3 and not exact.is_truncated   # is_truncated is exact
    big = store.list_objects(bucket, max_keys=1000)
    assert len(big.objects) == 3 and not big.is_truncated


KEYS = [
    "a", "a/", "a/1", "a/2", "a/b/c", "a/b/d", "a0", "ab", "b/x", "b/y/z", "c", "c//d",
    "photos/2024/jan/1.jpg", "photos/2024/feb/2.jpg", "photos/2025/x.jpg", "photos/readme",
    "é/1", "é/2", "😀", "😀/x", "x::y::z", "x::w", "x:", "q%/1", "q_/1",
]


@pytest.mark.parametrize("prefix,delimiter", [
    ("", ""), ("", "/"), ("a", "/"), ("a/", "/"), ("photos/", "/"), ("photos/2024/", "/"),
    ("", "::"), ("x", "::"), ("", "b"), ("q", "/"), ("nothing", "/"),
])
def test_list_matches_reference_across_pages(store, bucket, prefix, delimiter):
    bulk_insert_keys(store, bucket, KEYS)
    expected = reference_listing(KEYS, prefix, delimiter)
    for max_keys in (1, 2, 3, 1000):
        got, pages = walk(store, bucket, prefix=prefix, delimiter=delimiter, max_keys=max_keys)
        assert got == expected, (max_keys, got)


def test_list_start_after_a_common_prefix_skips_it(store, bucket):
    bulk_insert_keys(store, bucket, KEYS)
    page = store.list_objects(bucket, delimiter="/", start_after="a/", max_keys=3)
    assert page_entries(page) == [("k", "a0"), ("k", "ab"), ("p", "b/")]
    assert page.is_truncated and page.next_marker == "b/"
    page = store.list_objects(bucket, delimiter="/", start_after="b/", max_keys=2)
    assert page_entries(page) == [("k", "c"), ("p", "c/")]
    # a plain key as start_after: strictly after it
    page = store.list_objects(bucket, prefix="a/", delimiter="/", start_after="a/1")
    assert page_entries(page) == [("k", "a/2"), ("p", "a/b/")]
    # start_after before the prefix
    page = store.list_objects(bucket, prefix="b/", start_after="a")
    assert [o.key for o in page.objects] == ["b/x", "b/y/z"]


def test_delimiter_listing_seeks_past_common_prefixes(store, bucket):
    keys = [f"{p}/{i:05d}" for p in ("p0", "p1", "p2") for i in range(1667)]   # 5,001 keys
    bulk_insert_keys(store, bucket, keys)
    with StatementCounter(store.read_engine) as c:
        page = store.list_objects(bucket, delimiter="/")
    assert page.common_prefixes == ("p0/", "p1/", "p2/") and not page.is_truncated
    assert c.count <= 4, c.count                     # one seek per prefix + end, not 5,001 rows

    with StatementCounter(store.read_engine) as c:      # one page per prefix, one query each
        got, pages = walk(store, bucket, delimiter="/", max_keys=1)
    assert [e[1] for e in got] == ["p0/", "p1/", "p2/"] and pages == 3
    assert c.count <= 2 * pages, c.count

    with StatementCounter(store.read_engine) as c:      # no delimiter: one query per page
        got, pages = walk(store, bucket, max_keys=1000)
    assert len(got) == len(keys) and pages == 6
    assert c.count == pages, c.count


def test_postgresql_list_pages_walk_the_index_without_statistics(pg_database):
    """A listing page is an index range scan with a LIMIT, whatever the planner knows.
    Without statistics (a table not yet analyzed, or autovacuum off, as on the machine this
    was found on) PostgreSQL guessed a few hundred matching rows and planned a bitmap scan
    of the whole key range plus a sort: 0.7 s per page at 1M keys instead of ~1 ms. The
    store's sessions turn bitmap scans off (no statement of ours wants one)."""
    from s3server.meta.listing import range_statement

    st = MetadataStore.from_url(pg_database.url, pool_size=2)
    st.create_schema()
    user = st.create_user("owner")
    st.create_bucket("big", user.id, "r")
    bulk_insert_keys(st, "big", [f"d{i % 10}/k{i:09d}" for i in range(60_000)])
    stmt = range_statement(inclusive=False, bounded=False)
    for engine in (st.read_engine, st.engine):
        with engine.connect() as conn:
            sql = stmt.compile(dialect=conn.dialect)
            params = {"bucket": "big", "lo": "d3/k000030003", "lim": 1001}
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + str(sql), params))
        assert "Index Scan" in plan and "Bitmap" not in plan and "Sort" not in plan, plan
    assert len(st.list_objects("big", start_after="d3/k000030003").objects) == 1000
    st.close()
