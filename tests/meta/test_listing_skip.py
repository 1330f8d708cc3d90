"""Delimiter listings: the skip scan over common prefixes, against a reference implementation
of S3's listing semantics on randomized key sets, on real SQLite and PostgreSQL."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from s3server.meta import listing
from s3server.meta.listing import skip_params
from tests.meta.storeutil import bulk_insert_keys, obj, utf8_sorted

# characters sorting just below, at and above the delimiters, multibyte UTF-8 (2, 3 and 4
# bytes), LIKE wildcards, the last BMP code point, DEL
ALPHABET = ["/", ".", "0", "!", "-", "a", "b", "é", "€", "😀", "%", "_", ":", "\x7f", "~", " ", "\uffff"]
DELIMITERS = ["/", "::", "é", "a", "😀", "/a", "\U0010ffff"]


def b(s: str) -> bytes:
    return s.encode("utf-8")


def reference(keys, prefix="", delimiter="", start_after=""):
    """Every entry, the slow obvious way: keys after ``start_after`` under ``prefix``, in UTF-8
    byte order, rolled up at the first ``delimiter`` after the prefix. A ``start_after`` that
    is itself a common prefix (a previous page's marker) also skips everything under it."""
    out: list[tuple[str, str]] = []
    for k in utf8_sorted(keys):
        if not k.startswith(prefix) or b(k) <= b(start_after):
            continue
        i = k.find(delimiter, len(prefix)) if delimiter else -1
        if i < 0:
            out.append(("k", k))
        else:
            cp = k[: i + len(delimiter)]
            if cp != start_after and (not out or out[-1] != ("p", cp)):
                out.append(("p", cp))
    return out


def entries(page):
    got = [("k", o.key) for o in page.objects] + [("p", p) for p in page.common_prefixes]
    return sorted(got, key=lambda e: b(e[1]))


def walk(store, bucket, *, max_keys, start_after="", **kw):
    got, pages = [], 0
    while True:
        page = store.list_objects(bucket, start_after=start_after, max_keys=max_keys, **kw)
        pages += 1
        part = entries(page)
        assert len(part) <= max_keys
        got += part
        if not page.is_truncated:
            assert page.next_marker is None
            return got, pages
        assert part and page.next_marker == part[-1][1]
        start_after = page.next_marker
        assert pages < 2000


class StatementCounter:
    """Statements containing ``needle`` run on any engine meanwhile (the store may keep more
    than one engine)."""

    def __init__(self, needle: str = "objects"):
        self.count = 0
        self.needle = needle

    def __enter__(self):
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc):
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", self._on)

    def _on(self, conn, cursor, statement, parameters, context, executemany):
        if self.needle in statement:
            self.count += 1


def random_keys(rng: random.Random, n: int) -> list[str]:
    keys = set()
    while len(keys) < n:
        keys.add("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 7))))
    return sorted(keys)


def test_skip_params():
    assert skip_params("ab", "/") == {"pstart": 3, "cut": 1, "delim": "/", "succ": "0"}
    assert skip_params("", "::")["succ"] == ";"
    assert skip_params("", "\U0001f600")["succ"] == "\U0001f601"
    assert skip_params("", "\ud7ff")["succ"] == "\ue000"             # over the surrogates
    assert skip_params("x", "a\U0010ffff") is None          # no successor: range scans only


@pytest.mark.parametrize("seed", range(3))
def test_delimiter_listing_matches_reference_on_random_keys(store, bucket, seed):
    rng = random.Random(seed)
    keys = random_keys(rng, 400)
    # and a few big directories, so that range fetches fill up and the skip scan takes over
    keys += [f"{d}{i:03d}{t}" for d in ("d/", "d/x/", "é/", "😀/") for i in range(60) for t in ("", "/z")]
    keys = sorted(set(keys))
    bulk_insert_keys(store, bucket, keys)
    cases = [("", d) for d in DELIMITERS] + [("", "")]
    cases += [(rng.choice(keys)[: rng.randint(0, 2)], rng.choice(DELIMITERS)) for _ in range(6)]
    cases += [("d/", "/"), ("d", "/"), ("é", "/"), ("😀/", "/"), ("d/x/", "/")]
    with StatementCounter(needle="WITH RECURSIVE") as skips:
        for prefix, delimiter in cases:
            check_listing(store, bucket, rng, keys, prefix, delimiter)
    assert skips.count > 0                        # the skip scan was exercised


def check_listing(store, bucket, rng, keys, prefix, delimiter):
    """Every page size and several start points give exactly the reference entries."""
    expected = reference(keys, prefix, delimiter)
    # pages of one and three entries over the small listings; the big ones (up to ~900 entries, a
    # statement per page) in pages of 11 keep the test's time down
    small = len(expected) <= 120
    for max_keys in ((1, 3, 1000) if small else (11, 1000)):
        got, _ = walk(store, bucket, prefix=prefix, delimiter=delimiter, max_keys=max_keys)
        assert got == expected, (prefix, delimiter, max_keys)
    # from arbitrary start points: keys, common prefixes, strings that are neither
    for start_after in rng.sample(keys, 3) + [e[1] for e in rng.sample(expected, min(3, len(expected)))] + [
            "d/0", "d/x", "é", "\uffff\uffff", "/"]:
        got, _ = walk(store, bucket, prefix=prefix, delimiter=delimiter, max_keys=7 if small else 53,
                      start_after=start_after)
        assert got == reference(keys, prefix, delimiter, start_after), (prefix, delimiter, start_after)


def test_ten_prefixes_of_many_keys_cost_two_statements(store, bucket):
    keys = [f"d{p}/k{i:05d}" for p in range(10) for i in range(500)]        # 5,000 keys
    bulk_insert_keys(store, bucket, keys)
    with StatementCounter() as everything, \
            StatementCounter(needle="WITH RECURSIVE") as skips:
        page = store.list_objects(bucket, delimiter="/")
    assert page.common_prefixes == tuple(f"d{p}/" for p in range(10)) and page.objects == ()
    assert not page.is_truncated
    assert (everything.count, skips.count) == (2, 1)       # one range fetch, one skip scan

    # continuation across the prefixes, two entries a page: at most two statements each
    with StatementCounter() as everything:
        got, pages = walk(store, bucket, delimiter="/", max_keys=2)
    assert [e[1] for e in got] == [f"d{p}/" for p in range(10)] and pages == 5
    assert everything.count <= 2 * pages


def test_plain_keys_in_a_directory_stay_range_scans(store, bucket):
    keys = [f"dir/k{i:05d}" for i in range(3000)] + [f"dir/sub{i}/x" for i in range(3)]
    bulk_insert_keys(store, bucket, keys)
    with StatementCounter(needle="WITH RECURSIVE") as skips:
        got, pages = walk(store, bucket, prefix="dir/", delimiter="/", max_keys=1000)
    assert got == reference(keys, "dir/", "/") and pages == 4
    assert skips.count == 0


def test_many_small_directories_use_the_skip_scan(store, bucket):
    # 1,500 directories of 3 keys: after the first fetch, one probe per directory
    keys = [f"u{i:05d}/{f}" for i in range(1500) for f in ("a", "b", "c")] + ["z"]
    bulk_insert_keys(store, bucket, keys)
    with StatementCounter() as everything, \
            StatementCounter(needle="WITH RECURSIVE") as skips:
        got, pages = walk(store, bucket, delimiter="/", max_keys=1000)
    assert got == reference(keys, "", "/") and pages == 2
    assert skips.count >= 2 and everything.count <= 12, (everything.count, skips.count)


def test_delimiter_ending_in_the_last_code_point_falls_back_to_range_scans(store, bucket):
    d = "\U0010ffff"
    keys = [f"p{i}{d}{j}" for i in range(3) for j in range(50)] + ["q", f"r{d}"]
    bulk_insert_keys(store, bucket, keys)
    with StatementCounter(needle="WITH RECURSIVE") as skips:
        got, _ = walk(store, bucket, delimiter=d, max_keys=2)
    assert got == reference(keys, "", d)
    assert skips.count == 0


def test_listed_objects_carry_the_listing_fields(store, bucket):
    t = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=2)))     # stored as UTC
    full = obj(bucket, "dir/k", "x", size=123, last_modified=t, content_type="text/plain",
               content_encoding="gzip", cache_control="no-cache", user_metadata={"a": "b"},
               checksums={"CRC32": "AAAAAA==", "SHA256": "x" * 44}, checksum_type="FULL_OBJECT",
               storage_class="STANDARD_IA", parts_count=None)
    store.put_object(full)
    store.put_object(obj(bucket, "dir/sub/y", "y"))
    stored = store.get_object(bucket, "dir/k")
    for delimiter in ("", "/"):          # range scan and skip scan rows alike
        page = store.list_objects(bucket, prefix="dir/", delimiter=delimiter)
        listed = page.objects[0]
        for field in ("bucket", "key", "size", "etag", "last_modified", "content_type", "checksums",
                      "checksum_type", "storage_class"):
            assert getattr(listed, field) == getattr(stored, field), field
        assert listed.last_modified.tzinfo == timezone.utc and listed.last_modified == t
        assert not hasattr(listed, "segments") and not hasattr(listed, "user_metadata")


def test_skip_scan_statement_directly(store, bucket):
    """The skip scan alone, from each kind of start point: one row per entry."""
    keys = ["a", "a/1", "a/2", "a0", "b/1/x", "b/2", "c"]
    bulk_insert_keys(store, bucket, keys)
    params = dict(bucket=bucket, lim=10, **skip_params("", "/"))
    with store.engine.connect() as conn:
        name = conn.dialect.name

        def run(inclusive, lo):
            rows = conn.execute(listing.skip_statement(name, inclusive, False), dict(params, lo=lo)).all()
            return [r.key for r in rows]

        assert run(True, "") == ["a", "a/1", "a0", "b/1/x", "c"]
        assert run(False, "a") == ["a/1", "a0", "b/1/x", "c"]
        assert run(True, "a0") == ["a0", "b/1/x", "c"]
        assert run(True, "c0") == []
        bounded = listing.skip_statement(name, True, True)
        rows = conn.execute(bounded, dict(params, lo="b", hi="c")).all()
        assert [r.key for r in rows] == ["b/1/x"]
        rows = conn.execute(listing.skip_statement(name, True, False), dict(params, lo="", lim=2)).all()
        assert [r.key for r in rows] == ["a", "a/1"]


def test_postgresql_skip_scan_plan_cached_on_a_small_table_stays_index_probes(pg_database):
    """psycopg prepares a statement after a few runs and PostgreSQL may keep a generic plan made
    while the table was small. The skip scan's plan, made (forced generic) on a 20-row table,
    must still probe the index per entry once the table holds 40,000 rows: a hash join over
    the bucket, which a plain join got, read the whole bucket per page (62 ms at 100k keys in
    a bench run, against ~2 ms)."""
    import psycopg

    from s3server.meta.store import MetadataStore

    st = MetadataStore.from_url(pg_database.url)
    st.create_schema()
    st.create_bucket("small", 1, "us-east-1")
    st.create_bucket("big", 1, "us-east-1")
    bulk_insert_keys(st, "small", [f"d{i % 10}/k{i}" for i in range(20)])
    st.close()
    stmt = listing.skip_statement("postgresql", True, False).compile(dialect=sa.dialects.postgresql.dialect())
    names = list(stmt.params)
    sql = str(stmt)
    for i, name in enumerate(names, 1):
        sql = sql.replace(f"%({name})s", f"${i}")
    params = dict(lo="", lim=12, **skip_params("", "/"))

    def explain(conn, bucket: str) -> str:
        args = ", ".join(conn.execute("SELECT quote_nullable(%s::text)", (str(dict(params, bucket=bucket)[n]),))
                         .fetchone()[0] for n in names)
        return "\n".join(r[0] for r in conn.execute(f"EXPLAIN ANALYZE EXECUTE skip({args})"))

    with psycopg.connect(pg_database.plain_url, autocommit=True) as conn:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE skip AS {sql}")
        small = explain(conn, "small")                       # the generic plan is made here
        conn.execute("INSERT INTO objects (bucket, key, size, etag, last_modified, content_type, user_metadata,"
                     " checksums, storage_class, segments, updated_at) SELECT 'big', 'd' || (i % 10) || '/k' || i,"
                     " 1, 'e', now(), 'x', '{}', '{}', 'STANDARD', '[]', now() FROM generate_series(1, 40000) i")
        big = explain(conn, "big")                           # and reused here
    for plan in (small, big):
        assert "Hash Join" not in plan and "Seq Scan" not in plan, plan
    assert big.count("Index") >= 3, big
