"""Object rows in the metadata store: round trips, conditional and concurrent writes and deletes, the
grouped statements of PostgreSQL (SQLite and PostgreSQL via db_url)."""
from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from s3server.meta import schema
from s3server.meta.errors import NotFound, PreconditionFailed
from s3server.meta.store import MetadataStore
from s3server.models import BlobRef, MultipartUpload, ObjectMeta, Segment, UploadPart
from tests.meta.storeutil import T0, blob, bulk_insert_keys, obj, wait_for


def test_inline_bytes_live_and_die_with_their_row(store, bucket):
    store.put_object(obj(bucket, "k", size=5, inline=b"hello"))
    assert store.get_object(bucket, "k").inline == b"hello"
    assert store.get_bucket_and_object(bucket, "k")[1].inline == b"hello"
    head = store.get_bucket_and_object(bucket, "k", with_inline=False)[1]     # what a HEAD reads
    assert head.inline is None and head.etag == '"etag1"' and head.segments == obj(bucket, "k").segments
    replaced = store.put_object(obj(bucket, "k", 2, size=70000))      # overwritten by a big one
    assert replaced.etag == '"etag1"'
    assert store.get_object(bucket, "k").inline is None
    store.put_object(obj(bucket, "k", 3, size=2, inline=b"hi"), if_match='"etag2"')
    assert store.get_object(bucket, "k").inline == b"hi"
    assert store.delete_object(bucket, "k").etag == '"etag3"'
    assert store.get_object(bucket, "k") is None
    store.put_object(obj(bucket, "k", 4, size=2, inline=b"yo"))
    assert store.delete_objects(bucket, ["k"])["k"].etag == '"etag4"'
    assert store.get_object(bucket, "k") is None


def test_object_round_trip_overwrite_delete(store, bucket):
    key = "dir/ünïcødé 😀 %_+?#.txt"
    segs = (
        Segment(blob=BlobRef("b1", 5 * 2**20, ("n1", "n2", "n3")), part_number=1,
                etag='"aa"', checksums={"CRC32": "AAAAAA=="}),
        Segment(blob=BlobRef("b2", 7, ("n3", "n1")), part_number=2, etag='"bb"',
                checksums={"CRC32": "BBBBBB=="}),
    )
    meta = ObjectMeta(
        bucket=bucket, key=key, size=5 * 2**20 + 7, etag='"abc-2"', last_modified=T0,
        content_type="text/plain; charset=utf-8", content_encoding="gzip",
        content_disposition='attachment; filename="x.txt"', content_language="fr",
        cache_control="no-cache", expires="Wed, 21 Oct 2099 07:28:00 GMT",
        user_metadata={"colour": "bleu ✓", "x-y": ""},
        checksums={"CRC32": "ZZZZZZ==", "SHA256": "s" * 44}, checksum_type="COMPOSITE",
        storage_class="STANDARD_IA", segments=segs, parts_count=2,
    )
    assert store.put_object(meta) is None
    got = store.get_object(bucket, key)
    assert got == meta
    assert got.last_modified.tzinfo is not None and got.last_modified == T0
    assert store.get_object(bucket, "other") is None

    newer = obj(bucket, key, 2, last_modified=T0 + timedelta(seconds=1))
    replaced = store.put_object(newer)
    assert replaced == meta
    assert store.get_object(bucket, key) == newer
    assert store.count_objects(bucket) == 1

    assert store.delete_object(bucket, key) == newer
    assert store.delete_object(bucket, key) is None
    assert store.get_object(bucket, key) is None
    assert store.count_objects(bucket) == 0


SPECIAL_KEYS = ["dir/ünïcødé 😀 %_+?#.txt", "a'b\"c;--", "ümlaut", "日本語/キー", "x" * 1024,
                "  lead and trail  ", "back\\slash", "tab\tnew\nline", "%", "_", "*", "[a-z]"]


def test_delete_objects_existing_missing_duplicate_and_special_keys(store, bucket):
    user = store.get_user_by_name("owner")
    store.create_bucket("other", user.id, "us-east-1")
    for i, key in enumerate(SPECIAL_KEYS):
        store.put_object(obj(bucket, key, f"s{i}"))
    multi = obj(bucket, "multi", "m1", segments=(Segment(blob=blob("m1"), part_number=1),
                                                 Segment(blob=blob("m2"), part_number=2)))
    store.put_object(multi)
    store.put_object(obj(bucket, "survivor", "keep"))
    store.put_object(obj("other", "multi", "o"))        # same key, other bucket: untouched
    keys = ["multi", "missing", *SPECIAL_KEYS, "multi", "%", "missing"]

    removed = store.delete_objects(bucket, keys)

    assert list(removed) == ["multi", "missing", *SPECIAL_KEYS]   # distinct keys, given order
    assert removed["missing"] is None
    assert removed["multi"] == multi
    assert [b.blob_id for b in removed["multi"].blobs] == ["blob-m1", "blob-m2"]
    for i, key in enumerate(SPECIAL_KEYS):
        assert removed[key] == obj(bucket, key, f"s{i}")
        assert [b.blob_id for b in removed[key].blobs] == [f"blob-s{i}"]
    assert [o.key for o in store.list_objects(bucket).objects] == ["survivor"]
    assert store.get_object("other", "multi") == obj("other", "multi", "o")
    # Again: every key is missing now (and counts as deleted); an empty batch is a no-op.
    assert store.delete_objects(bucket, keys) == dict.fromkeys(keys)
    assert store.delete_objects(bucket, []) == {}
    assert store.delete_objects("no-such-bucket", ["survivor"]) == {"survivor": None}
    assert store.get_object(bucket, "survivor") is not None


def test_delete_objects_in_chunks(store, bucket):
    from s3server.meta.objects import _DELETE_CHUNK
    n = 1200
    assert n > 2 * _DELETE_CHUNK
    keys = [f"k{i:05d}" for i in range(n)]
    bulk_insert_keys(store, bucket, keys[3:])
    for i in range(3):                                  # rows with blobs in the mix
        store.put_object(obj(bucket, keys[i], i))
    store.put_object(obj(bucket, "zz-survivor"))
    asked = list(reversed(keys)) + ["missing-1", "k00001", "missing-2"]

    removed = store.delete_objects(bucket, asked)

    assert list(removed) == list(reversed(keys)) + ["missing-1", "missing-2"]
    assert all(removed[k] is not None and removed[k].key == k for k in keys)
    assert removed["missing-1"] is None and removed["missing-2"] is None
    assert [b.blob_id for k in keys[:3] for b in removed[k].blobs] == ["blob-0", "blob-1", "blob-2"]
    assert store.count_objects(bucket) == 1
    assert store.get_object(bucket, "zz-survivor") is not None


def test_delete_objects_without_delete_returning(tmp_path, monkeypatch):
    """SQLite before 3.35 has no DELETE ... RETURNING: select, then delete, in one transaction.
    (SQLite only, whatever the backend of the run: PostgreSQL always has RETURNING.)"""
    store = MetadataStore.from_url(f"sqlite:///{tmp_path / 'old-sqlite.db'}")
    store.create_schema()
    user = store.create_user("owner")
    store.create_bucket("bkt", user.id, "us-east-1")
    bucket = "bkt"
    store.ping()                                        # the dialect learns the server version
    monkeypatch.setattr(store.engine.dialect, "delete_returning", False)
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda conn, cur, stmt, *a: statements.append(stmt))
    store.put_object(obj(bucket, "a", "a"))
    store.put_object(obj(bucket, "b", "b"))
    statements.clear()
    removed = store.delete_objects(bucket, ["a", "nope", "a"])
    assert removed == {"a": obj(bucket, "a", "a"), "nope": None}
    assert not any("RETURNING" in st for st in statements)
    assert [o.key for o in store.list_objects(bucket).objects] == ["b"]
    store.close()


def test_put_object_into_missing_bucket(store):
    with pytest.raises(NotFound):
        store.put_object(obj("nope", "k"))


def test_updated_at_is_set_explicitly(db_url):
    ticks = iter([T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)])
    st = MetadataStore.from_url(db_url, clock=lambda: next(ticks))
    st.create_schema()
    st.create_bucket("b", 1, "r")
    st.put_object(obj("b", "k"))
    with st.engine.connect() as conn:
        updated = conn.execute(sa.select(schema.objects.c.updated_at)).scalar_one()
    assert updated == T0 + timedelta(hours=2)
    st.close()


def test_conditional_put(store, bucket):
    assert store.put_object(obj(bucket, "k", 1), if_none_match=True) is None
    with pytest.raises(PreconditionFailed):
        store.put_object(obj(bucket, "k", 2), if_none_match=True)
    with pytest.raises(PreconditionFailed):
        store.put_object(obj(bucket, "k", 2), if_match='"wrong"')
    with pytest.raises(PreconditionFailed):
        store.put_object(obj(bucket, "missing", 2), if_match='"etag1"')
    assert store.put_object(obj(bucket, "k", 2), if_match='"etag1"').etag == '"etag1"'
    assert store.put_object(obj(bucket, "k", 3), if_match="etag2").etag == '"etag2"'  # unquoted
    assert store.get_object(bucket, "k").etag == '"etag3"'


def test_if_none_match_race_has_exactly_one_winner(store, bucket):
    n = 6
    barrier = threading.Barrier(n)
    results: list[str] = []
    lock = threading.Lock()

    def put(i):
        barrier.wait()
        try:
            store.put_object(obj(bucket, "contended", i), if_none_match=True)
            outcome = f"won:{i}"
        except PreconditionFailed:
            outcome = "lost"
        except Exception as e:  # noqa: BLE001 - any other outcome fails the test
            outcome = f"error:{e!r}"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r.startswith("won")]
    assert len(winners) == 1, results
    assert results.count("lost") == n - 1, results
    winner = int(winners[0].split(":")[1])
    assert store.get_object(bucket, "contended").etag == f'"etag{winner}"'


def test_concurrent_overwrites_each_return_the_row_they_replaced(store, bucket):
    n = 6
    barrier = threading.Barrier(n)
    replaced: list[str | None] = []
    lock = threading.Lock()

    def put(i):
        barrier.wait()
        old = store.put_object(obj(bucket, "k", i))
        with lock:
            replaced.append(old.etag if old else None)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = store.get_object(bucket, "k").etag
    # The writes form a chain: every version but the last is replaced exactly once.
    assert replaced.count(None) == 1
    assert sorted(x for x in replaced if x) == sorted(
        f'"etag{i}"' for i in range(n) if f'"etag{i}"' != final)


def test_concurrent_deletes_each_get_their_own_row(store, bucket, db_url):
    """DeleteObject calls that come while others run (on PostgreSQL: queued behind two deletes,
    as many as may run at once, held by row locks) each get back the row they removed, special keys and a key deleted
    twice included; on PostgreSQL the queued ones went together in one statement."""
    keys = [f"k{i:02d}" for i in range(30)] + SPECIAL_KEYS
    for i, key in enumerate(keys):
        store.put_object(obj(bucket, key, i))
    other = store.create_user("other")
    store.create_bucket("bkt2", other.id, "us-east-1")
    store.put_object(obj("bkt2", "k03", 99))              # the same key in another bucket stays
    calls = ([("blocked", keys[0]), ("blocked", keys[1])] + [("k", k) for k in keys[2:]]
             + [("again", keys[5])])
    results: dict[tuple[str, str], ObjectMeta | None] = {}
    lock = threading.Lock()

    def delete(tag, key):
        got = store.delete_object(bucket, key)
        with lock:
            results[(tag, key)] = got

    pg = db_url.startswith("postgresql")
    holder = store.engine.connect() if pg else None
    try:
        if pg:     # a concurrent transaction holds the first two keys' rows: their deletes wait
            holder.begin()
            holder.execute(sa.select(schema.objects.c.key).where(
                schema.objects.c.bucket == bucket, schema.objects.c.key.in_(keys[:2])).with_for_update())
        firsts = [threading.Thread(target=delete, args=c) for c in calls[:2]]
        for t in firsts:          # one statement each: every slot busy
            t.start()
            if pg:
                wait_for(lambda: store._deletes._running == len([f for f in firsts if f.is_alive()]))
        rest = [threading.Thread(target=delete, args=c) for c in calls[2:]]
        for t in rest:
            t.start()
        if pg:
            wait_for(lambda: len(store._deletes._queue) == len(rest))
            holder.rollback()
        for t in [*firsts, *rest]:
            t.join(30)
    finally:
        if holder is not None:
            holder.close()
    assert len(results) == len(calls)
    for i, key in enumerate(keys):
        tag = "blocked" if i < 2 else "k"
        got = results[(tag, key)]
        if key == keys[5]:      # deleted twice at once: one call removed it, the other found nothing
            pair = [got, results[("again", key)]]
            assert pair.count(None) == 1
            got = next(g for g in pair if g is not None)
        assert got is not None and (got.key, got.etag) == (key, f'"etag{i}"'), key
        assert store.get_object(bucket, key) is None
    assert store.get_object("bkt2", "k03").etag == '"etag99"'
    if pg:         # the two blocked ones alone, then the queue in one statement
        assert (store._deletes.batches, store._deletes.calls) == (3, len(calls))


def test_concurrent_object_lookups_each_get_their_own_row(db_url):
    """GET/HEAD lookups (``get_bucket_and_object``, the gateway's cached store) that come while
    another runs each get their own object, with or without its inline bytes: present, missing,
    special and repeated keys, the same key in another bucket; on PostgreSQL the queued ones
    (behind two lookups per kind, as many as may run at once, held up by a table lock) went
    together, one statement per kind."""
    store = MetadataStore.from_url(db_url, pool_size=8, cache=True)
    store.create_schema()
    try:
        owner = store.create_user("owner")
        store.create_bucket("bkt", owner.id, "us-east-1")
        store.create_bucket("bkt2", owner.id, "us-east-1")
        keys = [f"k{i:02d}" for i in range(12)] + SPECIAL_KEYS
        for i, key in enumerate(keys):
            store.put_object(obj("bkt", key, i, inline=b"x%d" % i))
        store.put_object(obj("bkt2", "k03", 99))
        asks = ([("bkt", k, i % 2 == 0) for i, k in enumerate(keys)]
                + [("bkt", "missing", True), ("bkt", "missing", False), ("bkt", keys[4], True),
                   ("bkt2", "k03", True), ("bkt2", "k03", False), ("bkt2", "k04", False)])
        results: dict[int, tuple] = {}

        def look(n, bucket, key, inline):
            results[n] = store.get_bucket_and_object(bucket, key, with_inline=inline)

        pg = db_url.startswith("postgresql")
        holder = store.engine.connect() if pg else None
        try:
            if pg:           # the first lookups (one per slot) wait for the table lock
                holder.begin()
                holder.execute(sa.text("LOCK TABLE objects IN ACCESS EXCLUSIVE MODE"))
            firsts = [threading.Thread(target=look, args=(-1 - n, "bkt", f"k{n:02d}", n % 2 == 0))
                      for n in range(4)]
            for t in firsts:
                t.start()
            if pg:
                wait_for(lambda: all(r._running == r._max_running == 2 for r in store._lookups.values()))
            rest = [threading.Thread(target=look, args=(n, *a)) for n, a in enumerate(asks)]
            for t in rest:
                t.start()
            if pg:
                wait_for(lambda: sum(len(r._queue) for r in store._lookups.values()) == len(asks))
                holder.rollback()
            for t in [*firsts, *rest]:
                t.join(30)
        finally:
            if holder is not None:
                holder.close()
        assert len(results) == len(asks) + 4
        for n, (bucket, key, inline) in [*((-1 - n, ("bkt", f"k{n:02d}", n % 2 == 0)) for n in range(4)),
                                         *enumerate(asks)]:
            found, meta = results[n]
            assert found is not None and found.name == bucket
            if key == "missing" or (bucket, key) == ("bkt2", "k04"):
                assert meta is None
                continue
            i = 99 if bucket == "bkt2" else keys.index(key)
            assert (meta.bucket, meta.key, meta.etag) == (bucket, key, f'"etag{i}"'), (n, key)
            if bucket == "bkt":
                assert meta.inline == (b"x%d" % i if inline else None), (n, key, inline)
        if pg:
            assert sorted((r.batches, r.calls) for r in store._lookups.values()) == sorted(
                [(3, 2 + sum(1 for a in asks if a[2])), (3, 2 + sum(1 for a in asks if not a[2]))])
    finally:
        store.close()


def test_grouped_statements_keep_index_probes_when_planned_on_a_small_table(pg_database):
    """The grouped lookup and delete statements (GroupRunner batches), prepared with a generic
    plan while the objects table holds 20 rows (as psycopg's prepared statements on a new
    installation are), must still probe the primary key per key once it holds 40,000: a join
    of the table to the key list was planned as a hash join over a sequential scan, and
    ``key = ANY(...)`` as a probe of the whole bucket with a filter (README, items 19 and 22)."""
    import re

    import psycopg

    from s3server.meta.objects import (_Q_DELETE_OBJECTS_PG, _Q_OBJECT_HEAD_PAIRS_PG, _Q_OBJECT_PAIRS_PG,
                                       _delete_chain)

    st = MetadataStore.from_url(pg_database.url)
    st.create_schema()
    st.create_bucket("small", 1, "us-east-1")
    st.create_bucket("big", 1, "us-east-1")
    bulk_insert_keys(st, "small", [f"k{i}" for i in range(20)])
    st.close()
    dialect = sa.dialects.postgresql.dialect()

    def prepared(conn, name, stmt, values):
        sql = str(stmt.compile(dialect=dialect))
        names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))
        for i, n in enumerate(names, 1):
            sql = sql.replace(f"%({n})s", f"${i}")
        conn.execute(f"PREPARE {name} AS {sql}")

        def explain(bucket):
            args = []
            for n in names:
                v = values(bucket)[n]
                literal = conn.execute("SELECT quote_nullable(%s::text)", (str(v) if isinstance(v, str) else
                                       "{" + ",".join(v) + "}",)).fetchone()[0]
                args.append(literal + ("::text[]" if isinstance(v, list) else "::text"))
            return "\n".join(r[0] for r in conn.execute(f"EXPLAIN EXECUTE {name}({', '.join(args)})"))
        return explain

    def pairs(bucket):
        return {"buckets": [bucket] * 3, "keys": ["k1", "k2", "k3"]}

    def chain(bucket):
        return {f"{c}{i}": (bucket if c == "b" else f"k{i}") for i in range(3) for c in "bk"}

    with psycopg.connect(pg_database.plain_url, autocommit=True) as conn:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute("SET enable_bitmapscan = off")            # as the store's sessions run
        explains = [prepared(conn, "get", _Q_OBJECT_PAIRS_PG, pairs),
                    prepared(conn, "head", _Q_OBJECT_HEAD_PAIRS_PG, pairs),
                    prepared(conn, "del", _delete_chain(3), chain)]
        many = prepared(conn, "many", _Q_DELETE_OBJECTS_PG, lambda b: {
            "bucket": b, "lo": "k1", "hi": "k3", "keys": ["k1", "k2", "k3"]})
        small = [e("small") for e in explains]                 # the generic plans are made here
        many_small = many("small")
        conn.execute("INSERT INTO objects (bucket, key, size, etag, last_modified, content_type, user_metadata,"
                     " checksums, storage_class, segments, updated_at) SELECT 'big', 'k' || i,"
                     " 1, 'e', now(), 'x', '{}', '{}', 'STANDARD', '[]', now() FROM generate_series(1, 40000) i")
        big = [e("big") for e in explains]                     # and reused here
        many_big = many("big")
    for plan in small + big:
        assert "Hash Join" not in plan and "Seq Scan" not in plan and "Filter" not in plan, plan
        assert "Index Scan using pk_objects" in plan, plan
        assert re.search(r"Index Cond: .*bucket.*key", plan), plan
    for plan in (many_small, many_big):      # DeleteObjects: the scan stays within its keys' range
        assert re.search(r"Index Cond: .*bucket.* >= .* <= ", plan), plan
        assert "Seq Scan" not in plan, plan


def test_direct_statements_round_trip_every_column(store, bucket):
    """An object written and read back carries every field unchanged (JSON columns, UTC
    times, None), on both backends and both routes."""
    meta = obj(bucket, "k/\u00e9 x", 7, user_metadata={"a": "b \u00fc"}, content_type="text/plain",
               checksums={"CRC32": "AAAAAA=="})
    store.put_object(meta)
    _, got = store.get_bucket_and_object(bucket, meta.key)
    assert got.last_modified.tzinfo is not None
    assert (got.size, got.etag, got.user_metadata, got.checksums, got.segments, got.content_type) == (
        meta.size, meta.etag, meta.user_metadata, meta.checksums, meta.segments, meta.content_type)
    removed = store.delete_object(bucket, meta.key)
    assert removed.segments == meta.segments and removed.last_modified == got.last_modified


def test_sealed_data_keys_are_kept_with_their_blobs(store, bucket):
    """An encrypted blob's sealed key travels with its reference (objects' segments, upload parts);
    an object reads as encrypted only when every segment is."""
    sealed = dataclasses.replace(blob(1), key="v1:kid:c2VhbGVk")
    store.put_object(obj(bucket, "enc", segments=(Segment(blob=sealed),)))
    got = store.get_object(bucket, "enc")
    assert got.segments[0].blob.key == "v1:kid:c2VhbGVk" and got.sse == "AES256"
    mixed = (Segment(blob=sealed, part_number=1), Segment(blob=blob(2), part_number=2))
    store.put_object(obj(bucket, "mixed", segments=mixed, parts_count=2))
    assert store.get_object(bucket, "mixed").sse is None
    assert store.get_object(bucket, "mixed").segments[0].blob.key == "v1:kid:c2VhbGVk"
    store.put_object(obj(bucket, "plain"))
    assert store.get_object(bucket, "plain").sse is None
    store.create_upload(MultipartUpload("up-sealed", bucket, "mp", T0, owner_id=1, sse="AES256"))
    store.put_part(UploadPart("up-sealed", 1, 10, '"e"', T0, sealed))
    assert store.get_parts("up-sealed")[1].blob.key == "v1:kid:c2VhbGVk"
