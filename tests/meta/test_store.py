"""MetadataStore against real SQLite and PostgreSQL (every test runs on both via db_url)."""
from __future__ import annotations

import dataclasses
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from s3server.meta import schema
from s3server.meta.errors import (
    AlreadyExists,
    Conflict,
    NotFound,
    PreconditionFailed,
    Unavailable,
)
from s3server.meta.listing import successor
from s3server.meta.store import MetadataStore
from s3server.models import (BlobRef, BucketEncryption, BucketLifecycle, CorsRule, LifecycleRule, MultipartUpload,
                             ObjectMeta, Segment, UploadPart)

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.fixture
def store(db_url):
    st = MetadataStore.from_url(db_url, pool_size=8)
    st.create_schema()
    try:
        yield st
    finally:
        st.close()


@pytest.fixture
def bucket(store):
    user = store.create_user("owner")
    store.create_bucket("bkt", user.id, "us-east-1")
    return "bkt"


def blob(n: int | str, size: int = 10) -> BlobRef:
    return BlobRef(blob_id=f"blob-{n}", size=size, nodes=("node-0", "node-2", "node-1"))


def obj(bucket: str, key: str, n: int | str = 1, **kw) -> ObjectMeta:
    fields = dict(bucket=bucket, key=key, size=10, etag=f'"etag{n}"', last_modified=T0,
                  segments=(Segment(blob=blob(n)),))
    fields.update(kw)
    return ObjectMeta(**fields)


def bulk_insert_keys(store: MetadataStore, bucket: str, keys) -> None:
    """Fast fixture data: one multi-row INSERT instead of one transaction per key."""
    row = dict(size=1, etag='"e"', last_modified=T0, content_type="binary/octet-stream",
               user_metadata={}, checksums={}, storage_class="STANDARD", segments=[],
               updated_at=T0)
    with store.engine.begin() as conn:
        conn.execute(schema.objects.insert(), [dict(row, bucket=bucket, key=k) for k in keys])


def utf8_sorted(keys):
    return sorted(keys, key=lambda k: k.encode("utf-8"))


# -- schema / engine ---------------------------------------------------------------------

def test_create_schema_is_idempotent_and_concurrent_safe(db_url):
    stores = [MetadataStore.from_url(db_url, pool_size=2) for _ in range(3)]
    errors: list[BaseException] = []

    def create(st):
        try:
            st.create_schema()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=create, args=(st,)) for st in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stores[0].create_schema()
    assert stores[0].schema_version() == schema.SCHEMA_VERSION
    with stores[0].engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.schema_version)).scalar() == 1
    assert stores[0].ping()
    for st in stores:
        st.close()


# the columns each schema version added, newest last
_ADDED = {2: [("objects", "inline_data")],
          3: [("objects", "tags"), ("objects", "tags_for"), ("multipart_uploads", "tags"), ("buckets", "cors"),
              ("buckets", "tags")],
          4: [("buckets", "versioning")],
          5: [("objects", "website_redirect"), ("objects", "website_redirect_for"),
              ("multipart_uploads", "website_redirect")],
          6: [("multipart_uploads", "sse")],
          7: [("buckets", "encryption")],
          8: [("buckets", "lifecycle")],
          9: [("buckets", "settings")],
          10: [("multipart_uploads", "sse_key")]}


def _database_of_schema(db_url: str, version: int) -> None:
    """A database as a server of schema ``version`` left it: one bucket, one object "old"."""
    st = MetadataStore.from_url(db_url)
    st.create_schema()
    user = st.create_user("owner")
    st.create_bucket("bkt", user.id, "us-east-1")
    st.put_object(obj("bkt", "old"))
    with st.engine.begin() as conn:
        for v in range(version + 1, schema.SCHEMA_VERSION + 1):
            for table, column in _ADDED[v]:
                conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        conn.execute(schema.schema_version.delete())
        conn.execute(schema.schema_version.insert().values(version=version, applied_at=T0))
    st.close()


def test_schema_1_is_migrated(db_url):
    """A database made by a server of schema 1 (no objects.inline_data, no tags) gets the columns
    on the next start, its rows intact, and records the current version; starting again changes
    nothing."""
    _database_of_schema(db_url, 1)
    for _ in range(2):
        st = MetadataStore.from_url(db_url)
        st.create_schema()
        assert st.schema_version() == schema.SCHEMA_VERSION == 10
        assert st.get_object("bkt", "old").segments == obj("bkt", "old").segments
        assert st.get_object("bkt", "old").inline is None
        st.put_object(obj("bkt", "new", size=3, inline=b"abc"))
        assert st.get_object("bkt", "new").inline == b"abc"
        st.close()
    if db_url.startswith("postgresql"):
        st = MetadataStore.from_url(db_url)
        with st.engine.connect() as conn:     # out of line and uncompressed (listings skip it)
            assert conn.execute(sa.text("SELECT attstorage FROM pg_attribute WHERE attrelid = "
                                        "'objects'::regclass AND attname = 'inline_data'")).scalar() == "e"
        st.close()


def test_schema_2_is_migrated(db_url):
    """Schema 2 had no tags: the columns are added on the next start, old rows read as untagged,
    and tags of new objects and uploads are kept."""
    _database_of_schema(db_url, 2)
    for round_ in range(2):
        st = MetadataStore.from_url(db_url)
        st.create_schema()
        assert st.schema_version() == schema.SCHEMA_VERSION
        assert st.get_object("bkt", "old").tags == ()
        st.put_object(dataclasses.replace(obj("bkt", f"new{round_}"), tags=(("b", "2"), ("a", ""))))
        assert st.get_object("bkt", f"new{round_}").tags == (("b", "2"), ("a", ""))     # order kept
        assert st.set_object_tags("bkt", "old", (("x", "y"),))
        assert st.get_object("bkt", "old").tags == (("x", "y"),)
        assert st.set_object_tags("bkt", "old", ())
        assert st.get_object("bkt", "old").tags == ()
        assert not st.set_object_tags("bkt", "missing", (("x", "y"),))
        st.create_upload(MultipartUpload(f"u{round_}", "bkt", "mp", T0, owner_id=1, tags=(("t", "1"),)))
        assert st.get_upload(f"u{round_}").tags == (("t", "1"),)
        assert st.get_bucket("bkt").cors is None
        rules = (CorsRule(("GET",), ("*",)), CorsRule(("PUT", "POST"), ("https://a.example",), ("x-amz-*",),
                                                       ("ETag",), 60, "up"))
        assert st.set_bucket_cors("bkt", rules) and st.get_bucket("bkt").cors == rules
        assert st.set_bucket_cors("bkt", None) and st.get_bucket("bkt").cors is None
        assert not st.set_bucket_cors("missing", rules)
        assert st.get_bucket("bkt").tags is None
        assert st.set_bucket_tags("bkt", (("b", "1"), ("a", ""))) and st.get_bucket("bkt").tags == (("b", "1"), ("a", ""))
        assert st.set_bucket_tags("bkt", ()) and st.get_bucket("bkt").tags is None
        st.close()


def test_schema_3_is_migrated(db_url):
    """Schema 3 had no bucket versioning state: the column is added on the next start, an old
    bucket reads as never set, and a Suspended state is kept."""
    _database_of_schema(db_url, 3)
    for _ in range(2):
        st = MetadataStore.from_url(db_url)
        st.create_schema()
        assert st.schema_version() == schema.SCHEMA_VERSION
        assert st.get_object("bkt", "old").segments == obj("bkt", "old").segments
        st.close()
    st = MetadataStore.from_url(db_url)
    assert st.get_bucket("bkt").versioning is None
    assert st.set_bucket_versioning("bkt", "Suspended") and st.get_bucket("bkt").versioning == "Suspended"
    assert not st.set_bucket_versioning("missing", "Suspended")
    st.close()


def test_schema_4_is_migrated(db_url):
    """Schema 4 had no website redirect location: the columns are added on the next start, an
    old object has none, and new objects and uploads keep theirs."""
    _database_of_schema(db_url, 4)
    for round_ in range(2):
        st = MetadataStore.from_url(db_url)
        st.create_schema()
        assert st.schema_version() == schema.SCHEMA_VERSION
        assert st.get_object("bkt", "old").website_redirect is None
        st.put_object(dataclasses.replace(obj("bkt", f"new{round_}"), website_redirect="/elsewhere"))
        assert st.get_object("bkt", f"new{round_}").website_redirect == "/elsewhere"
        st.create_upload(MultipartUpload(f"u{round_}", "bkt", "mp", T0, owner_id=1,
                                         website_redirect="https://example.com/x"))
        assert st.get_upload(f"u{round_}").website_redirect == "https://example.com/x"
        st.close()


def test_schema_5_is_migrated(db_url):
    """Schema 5 had no multipart_uploads.sse: the column is added on the next start, an old
    upload is unencrypted, and a new upload keeps its encryption."""
    _database_of_schema(db_url, 5)
    st = MetadataStore.from_url(db_url)
    with st.engine.begin() as conn:         # an upload the old server made
        conn.execute(sa.insert(schema.multipart_uploads).values(
            upload_id="before", bucket="bkt", key="mp", initiated=T0, owner_id=1, content_type="x/y",
            user_metadata={}, storage_class="STANDARD"))
    st.close()
    for round_ in range(2):
        st = MetadataStore.from_url(db_url)
        st.create_schema()
        assert st.schema_version() == schema.SCHEMA_VERSION
        assert st.get_upload("before").sse is None
        st.create_upload(MultipartUpload(f"u{round_}", "bkt", "mp", T0, owner_id=1, sse="AES256"))
        assert st.get_upload(f"u{round_}").sse == "AES256"
        st.close()


def test_schema_6_is_migrated(db_url):
    """Schema 6 had no bucket default encryption: the column is added on the next start, an old
    bucket has none, and one set is kept and removed."""
    _database_of_schema(db_url, 6)
    for _ in range(2):
        st = MetadataStore.from_url(db_url)
        st.create_schema()
        assert st.schema_version() == schema.SCHEMA_VERSION
        assert st.get_bucket("bkt").encryption is None
        st.close()
    st = MetadataStore.from_url(db_url)
    assert st.set_bucket_encryption("bkt", BucketEncryption("AES256", True))
    assert st.get_bucket("bkt").encryption == BucketEncryption("AES256", True)
    assert st.set_bucket_encryption("bkt", None) and st.get_bucket("bkt").encryption is None
    assert not st.set_bucket_encryption("missing", BucketEncryption("AES256"))
    st.close()


LIFECYCLE = BucketLifecycle((
    LifecycleRule("logs", True, "prefix", prefix="logs/", expiration_days=30),
    LifecycleRule("and", False, "and", prefix="p/", tags=(("a", "1"), ("b", "")), size_gt=5, size_lt=500,
                  expiration_date=datetime(2031, 1, 1, tzinfo=timezone.utc), abort_days=3),
    LifecycleRule("legacy", True, "legacy", expired_object_delete_marker=True, noncurrent_days=9,
                  newer_noncurrent=2),
), "varies_by_storage_class")


def test_schema_7_is_migrated(db_url):
    """Schema 7 had no lifecycle rules: the column is added on the next start, an old bucket has
    none, and rules set are kept exactly (dates, tags, sizes), listed, and removed."""
    _database_of_schema(db_url, 7)
    for _ in range(2):
        st = MetadataStore.from_url(db_url)
        st.create_schema()
        assert st.schema_version() == schema.SCHEMA_VERSION
        assert st.get_bucket("bkt").lifecycle is None
        assert st.buckets_with_lifecycle() == []
        st.close()
    st = MetadataStore.from_url(db_url)
    assert st.set_bucket_lifecycle("bkt", LIFECYCLE)
    assert st.get_bucket("bkt").lifecycle == LIFECYCLE
    assert [b.name for b in st.buckets_with_lifecycle()] == ["bkt"]
    assert st.set_bucket_lifecycle("bkt", None) and st.get_bucket("bkt").lifecycle is None
    assert not st.set_bucket_lifecycle("missing", LIFECYCLE)
    st.close()


def test_schema_8_is_migrated(db_url):
    """Schema 8 had no settings document: the column is added on the next start, an old bucket
    has none, and one entry set leaves the others as they are."""
    _database_of_schema(db_url, 8)
    for _ in range(2):
        st = MetadataStore.from_url(db_url)
        st.create_schema()
        assert st.schema_version() == schema.SCHEMA_VERSION
        bkt = st.get_bucket("bkt")
        assert bkt.public_access_block is None and bkt.accelerate is None
        st.close()
    st = MetadataStore.from_url(db_url)
    assert st.set_bucket_setting("bkt", "public_access_block", [True, False, True, False])
    assert st.set_bucket_setting("bkt", "accelerate", "Suspended")
    bkt = st.get_bucket("bkt")
    assert bkt.public_access_block == (True, False, True, False) and bkt.accelerate == "Suspended"
    assert st.set_bucket_setting("bkt", "public_access_block", None)
    bkt = st.get_bucket("bkt")
    assert bkt.public_access_block is None and bkt.accelerate == "Suspended"
    assert not st.set_bucket_setting("missing", "accelerate", "Suspended")
    st.close()


def test_schema_9_is_migrated(db_url):
    """Schema 9 had no SSE-C key check on uploads: the column is added on the next start, an old
    upload has none, and a new one keeps its token."""
    _database_of_schema(db_url, 9)
    st = MetadataStore.from_url(db_url)
    with st.engine.begin() as conn:         # an upload as a schema-9 server wrote it
        conn.execute(sa.text("INSERT INTO multipart_uploads (upload_id, bucket, key, initiated, owner_id, "
                             "content_type, user_metadata, storage_class) VALUES ('old', 'bkt', 'mp', :t, 1, "
                             "'binary/octet-stream', '{}', 'STANDARD')"), {"t": T0.replace(tzinfo=None)})
    st.close()
    for round_ in range(2):
        st = MetadataStore.from_url(db_url)
        st.create_schema()
        assert st.schema_version() == schema.SCHEMA_VERSION
        assert st.get_upload("old").sse_key is None
        st.create_upload(MultipartUpload(f"u{round_}", "bkt", "mp", T0, owner_id=1, sse="SSE-C", sse_key="c1:tok"))
        assert st.get_upload(f"u{round_}").sse_key == "c1:tok" and st.get_upload(f"u{round_}").sse == "SSE-C"
        st.close()


def test_expiry_candidates_and_stale_uploads(store, bucket):
    """The lifecycle pass's scans: by prefix (a key range), last-modified cutoff and size bounds,
    paged by key; uploads by prefix and initiation time, paged by (key, upload id)."""
    for i in range(6):
        store.put_object(obj(bucket, f"logs/{i}", i, size=i * 100, last_modified=T0 + timedelta(days=i)))
    store.put_object(obj(bucket, "logz", 9, last_modified=T0))
    store.put_object(obj(bucket, "log", 8, last_modified=T0))
    cutoff = T0 + timedelta(days=3)
    assert store.expiry_candidates(bucket, "logs/", "", cutoff) == [(f"logs/{i}", i * 100) for i in range(4)]
    assert store.expiry_candidates(bucket, "logs/", "", cutoff, limit=2) == [("logs/0", 0), ("logs/1", 100)]
    assert store.expiry_candidates(bucket, "logs/", "logs/1", cutoff, limit=2) == [("logs/2", 200), ("logs/3", 300)]
    assert store.expiry_candidates(bucket, "logs/", "", None, size_gt=100, size_lt=400) == [
        ("logs/2", 200), ("logs/3", 300)]
    assert [k for k, _ in store.expiry_candidates(bucket, "", "", T0)] == ["log", "logs/0", "logz"]
    assert store.expiry_candidates(bucket, "nothing/", "", None) == []
    assert store.set_object_tags(bucket, "logs/1", (("a", "1"), ("b", "")))
    assert store.expiry_candidates(bucket, "logs/", "", cutoff, limit=2, with_tags=True) == [
        ("logs/0", 0, ()), ("logs/1", 100, (("a", "1"), ("b", "")))]
    # a page deleted at once: only the rows still old enough and within the bounds go
    store.put_object(obj(bucket, "logs/3", 30, size=300, last_modified=T0 + timedelta(days=9)))   # rewritten
    removed = store.expire_objects(bucket, ["logs/0", "logs/1", "logs/2", "logs/3", "gone"], cutoff, size_gt=50)
    assert sorted(m.key for m in removed) == ["logs/1", "logs/2"] and removed[0].blobs
    assert [k for k, _ in store.expiry_candidates(bucket, "logs/", "", None)] == ["logs/0", "logs/3", "logs/4",
                                                                              "logs/5"]
    assert store.expire_objects(bucket, [], cutoff) == []
    for i, key in enumerate(["a/x", "a/x", "a/y", "b/z"]):
        store.create_upload(MultipartUpload(f"u{i}", bucket, key, T0 + timedelta(hours=i), owner_id=1))
    late = T0 + timedelta(hours=10)
    assert store.stale_uploads(bucket, "a/", late, ("", "")) == [("a/x", "u0"), ("a/x", "u1"), ("a/y", "u2")]
    assert store.stale_uploads(bucket, "a/", late, ("a/x", "u0"), limit=1) == [("a/x", "u1")]
    assert store.stale_uploads(bucket, "", T0 + timedelta(hours=1), ("", "")) == [("a/x", "u0"), ("a/x", "u1")]


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


def test_redirect_does_not_pass_to_an_object_a_schema_4_server_wrote(store, bucket):
    """As the tags: an old server's overwrite leaves the redirect columns as they were, and the
    new object must not inherit the location."""
    store.put_object(dataclasses.replace(obj(bucket, "k"), website_redirect="/a"))
    assert store.get_object(bucket, "k").website_redirect == "/a"
    o = schema.objects
    with store.engine.begin() as conn:     # what the old server's overwrite changes
        conn.execute(sa.update(o).where(o.c.bucket == bucket)
                     .values(etag='"other"', updated_at=datetime.now(timezone.utc) + timedelta(seconds=1)))
    assert store.get_object(bucket, "k").website_redirect is None
    store.put_object(obj(bucket, "k", 2))                              # a new server's overwrite
    assert store.get_object(bucket, "k").website_redirect is None


def test_tags_do_not_pass_to_an_object_a_schema_2_server_wrote(store, bucket):
    """A server of schema 2 (rolling upgrade) overwrites rows without knowing the tag columns: its
    upsert sets updated_at and leaves tags and tags_for as they were. The new object is untagged."""
    store.put_object(dataclasses.replace(obj(bucket, "k"), tags=(("a", "1"),)))
    store.put_object(dataclasses.replace(obj(bucket, "k2"), tags=()))
    assert store.set_object_tags(bucket, "k2", (("b", "2"),))
    assert store.get_object(bucket, "k").tags == (("a", "1"),)
    assert store.get_object(bucket, "k2").tags == (("b", "2"),)
    o = schema.objects
    with store.engine.begin() as conn:     # what the old server's overwrite changes
        conn.execute(sa.update(o).where(o.c.bucket == bucket)
                     .values(etag='"other"', updated_at=datetime.now(timezone.utc) + timedelta(seconds=1)))
    assert store.get_object(bucket, "k").tags == () and store.get_object(bucket, "k2").tags == ()
    assert store.set_object_tags(bucket, "k", (("c", "3"),))          # tagging it again works
    assert store.get_object(bucket, "k").tags == (("c", "3"),)


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


def test_sqlite_pragmas(tmp_path):
    st = MetadataStore.from_url(f"sqlite:///{tmp_path / 'p.db'}")
    with st.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2   # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    st.close()


def test_plain_postgresql_url_is_normalised(pg_database):
    st = MetadataStore.from_url(pg_database.plain_url)
    assert st.engine.dialect.driver == "psycopg"
    st.create_schema()
    assert st.ping()
    st.close()


def test_unreachable_database_is_unavailable_not_a_hang():
    st = MetadataStore.from_url("postgresql://postgres@127.0.0.1:1/nothing")
    assert st.ping() is False
    with pytest.raises(Unavailable):
        st.get_bucket("x")
    st.close()


def test_successor():
    assert successor("a/") == "a0"
    assert successor("ab") == "ac"
    assert successor("a\U0010ffff") == "b"
    assert successor("\U0010ffff") is None
    assert successor("a\ud7ff") == "a\ue000"


# -- users, key pairs, API keys --------------------------------------------------------------

def test_users(store):
    alice = store.create_user("alice", is_admin=True)
    bob = store.create_user("bob")
    assert alice.is_admin and not bob.is_admin and alice.id != bob.id
    assert alice.created_at.tzinfo is not None
    with pytest.raises(AlreadyExists):
        store.create_user("alice")
    assert store.get_user(alice.id) == alice
    assert store.get_user_by_name("bob") == bob
    assert store.get_user(999) is None and store.get_user_by_name("nobody") is None
    assert [u.name for u in store.list_users()] == ["alice", "bob"]
    store.set_user_disabled(bob.id, True)
    assert store.get_user(bob.id).disabled
    store.set_user_disabled(bob.id, False)
    assert not store.get_user(bob.id).disabled
    with pytest.raises(NotFound):
        store.set_user_disabled(999, True)


def test_credentials(store):
    u = store.create_user("alice")
    c = store.add_credential(u.id, "AKIA1", "secret1")
    store.add_credential(u.id, "AKIA2", "secret2")
    with pytest.raises(AlreadyExists):
        store.add_credential(u.id, "AKIA1", "other")
    with pytest.raises(NotFound):
        store.add_credential(999, "AKIA3", "x")
    got, user = store.get_credential("AKIA1")
    assert got == c and user == u
    assert store.get_credential("nope") is None
    assert [x.access_key for x in store.list_credentials(u.id)] == ["AKIA1", "AKIA2"]
    store.revoke_credential("AKIA1")
    got, _ = store.get_credential("AKIA1")          # revoked ones are still returned
    assert got.revoked and got.secret_key == "secret1"
    with pytest.raises(NotFound):
        store.revoke_credential("nope")


def test_api_keys(store):
    u = store.create_user("alice")
    k = store.add_api_key(u.id, "hash1", "s3k_ab")
    with pytest.raises(AlreadyExists):
        store.add_api_key(u.id, "hash1", "s3k_ab")
    got, user = store.get_api_key("hash1")
    assert got == k and user == u
    assert store.get_api_key("hash2") is None
    assert store.list_api_keys(u.id) == [k]
    store.revoke_api_key(k.id)
    assert store.get_api_key("hash1")[0].revoked
    with pytest.raises(NotFound):
        store.revoke_api_key(12345)


# -- buckets ---------------------------------------------------------------------------

def test_buckets(store):
    a = store.create_user("a")
    b = store.create_user("b")
    store.create_bucket("zeta", a.id, "us-east-1")
    store.create_bucket("alpha", b.id, "eu-west-1")
    with pytest.raises(AlreadyExists) as ei:
        store.create_bucket("zeta", b.id, "us-east-1")
    assert ei.value.owner_id == a.id
    got = store.get_bucket("alpha")
    assert (got.name, got.owner_id, got.region) == ("alpha", b.id, "eu-west-1")
    assert got.created_at.tzinfo is not None
    assert store.get_bucket("nope") is None
    assert [x.name for x in store.list_buckets()] == ["alpha", "zeta"]
    assert [x.name for x in store.list_buckets(a.id)] == ["zeta"]
    with pytest.raises(NotFound):
        store.delete_bucket("nope")
    store.put_object(obj("zeta", "k"))
    with pytest.raises(Conflict):
        store.delete_bucket("zeta")
    store.delete_object("zeta", "k")
    assert store.delete_bucket("zeta") == []
    assert store.get_bucket("zeta") is None


def test_delete_bucket_aborts_uploads_and_returns_part_blobs(store, bucket):
    store.create_upload(MultipartUpload("u1", bucket, "big", T0, owner_id=1))
    store.put_part(UploadPart("u1", 1, 10, '"p1"', T0, blob("p1")))
    store.put_part(UploadPart("u1", 2, 10, '"p2"', T0, blob("p2")))
    blobs = store.delete_bucket(bucket)
    assert sorted(b.blob_id for b in blobs) == ["blob-p1", "blob-p2"]
    assert store.get_upload("u1") is None


# -- objects ---------------------------------------------------------------------------

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
    from s3server.meta.store import _DELETE_CHUNK
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


def _wait_for(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


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
                _wait_for(lambda: store._deletes._running == len([f for f in firsts if f.is_alive()]))
        rest = [threading.Thread(target=delete, args=c) for c in calls[2:]]
        for t in rest:
            t.start()
        if pg:
            _wait_for(lambda: len(store._deletes._queue) == len(rest))
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
                _wait_for(lambda: all(r._running == r._max_running == 2 for r in store._lookups.values()))
            rest = [threading.Thread(target=look, args=(n, *a)) for n, a in enumerate(asks)]
            for t in rest:
                t.start()
            if pg:
                _wait_for(lambda: sum(len(r._queue) for r in store._lookups.values()) == len(asks))
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

    from s3server.meta.store import (_Q_DELETE_OBJECTS_PG, _Q_OBJECT_HEAD_PAIRS_PG, _Q_OBJECT_PAIRS_PG,
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


# -- listing ---------------------------------------------------------------------------

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


class StatementCounter:
    def __init__(self, engine, needle="objects"):
        self.count = 0
        self.needle = needle
        self.engine = engine

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._on)

    def _on(self, conn, cursor, statement, parameters, context, executemany):
        if self.needle in statement:
            self.count += 1


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


# -- multipart -------------------------------------------------------------------------

def part(upload_id, n, tag="", size=5):
    return UploadPart(upload_id=upload_id, part_number=n, size=size, etag=f'"p{n}{tag}"',
                      last_modified=T0, blob=blob(f"{upload_id}-{n}{tag}", size),
                      checksums={"CRC32": f"c{n}"})


def test_multipart_lifecycle(store, bucket):
    with pytest.raises(NotFound):
        store.create_upload(MultipartUpload("u0", "nope", "k", T0, owner_id=1))
    up = MultipartUpload("u1", bucket, "big/ü", T0, owner_id=7, content_type="video/mp4",
                         cache_control="max-age=1", user_metadata={"a": "b"},
                         checksum_algorithm="CRC32", checksum_type="COMPOSITE",
                         storage_class="STANDARD")
    store.create_upload(up)
    with pytest.raises(AlreadyExists):
        store.create_upload(up)
    assert store.get_upload("u1") == up
    assert store.get_upload("nope") is None

    for n in range(1, 6):
        assert store.put_part(part("u1", n)) is None
    assert store.put_part(part("u1", 3, "v2")) == part("u1", 3)        # replaced
    with pytest.raises(NotFound):
        store.put_part(part("gone", 1))

    first, more = store.list_parts("u1", max_parts=2)
    assert [p.part_number for p in first] == [1, 2] and more
    rest, more = store.list_parts("u1", part_number_marker=2, max_parts=3)
    assert [p.part_number for p in rest] == [3, 4, 5] and not more
    assert rest[0] == part("u1", 3, "v2")
    with pytest.raises(NotFound):
        store.list_parts("nope")
    parts = store.get_parts("u1")
    assert sorted(parts) == [1, 2, 3, 4, 5]

    store.put_object(obj(bucket, "big/ü", "old"))
    segs = tuple(Segment(blob=parts[n].blob, part_number=n, etag=parts[n].etag,
                         checksums=parts[n].checksums) for n in (1, 3))
    final = obj(bucket, "big/ü", "mp", size=10, etag='"x-2"', segments=segs, parts_count=2,
                content_type="video/mp4")
    replaced, unused = store.complete_upload("u1", final, [1, 3])
    assert replaced.etag == '"etagold"'
    assert sorted(b.blob_id for b in unused) == ["blob-u1-2", "blob-u1-4", "blob-u1-5"]
    assert store.get_object(bucket, "big/ü") == final
    assert store.get_upload("u1") is None
    with pytest.raises(NotFound):
        store.complete_upload("u1", final, [1, 3])
    with pytest.raises(NotFound):
        store.put_part(part("u1", 9))


def test_abort_upload(store, bucket):
    store.create_upload(MultipartUpload("u1", bucket, "k", T0, owner_id=1))
    store.put_part(part("u1", 1))
    store.put_part(part("u1", 2))
    assert sorted(b.blob_id for b in store.abort_upload("u1")) == ["blob-u1-1", "blob-u1-2"]
    assert store.get_upload("u1") is None
    with pytest.raises(NotFound):
        store.abort_upload("u1")


def test_list_uploads(store, bucket):
    specs = [("a/1", "u3", 0), ("a/1", "u1", 1), ("a/2", "u2", 0), ("b", "u4", 0),
             ("b", "u5", 2), ("c/d/e", "u6", 0)]
    for key, uid, dt in specs:
        store.create_upload(MultipartUpload(uid, bucket, key, T0 + timedelta(seconds=dt), 1))
    ups, cps, trunc = store.list_uploads(bucket)
    assert [u.upload_id for u in ups] == ["u3", "u1", "u2", "u4", "u5", "u6"] and not trunc
    ups, cps, trunc = store.list_uploads(bucket, max_uploads=2)
    assert [u.upload_id for u in ups] == ["u3", "u1"] and trunc
    ups, cps, trunc = store.list_uploads(bucket, key_marker="a/1", upload_id_marker="u3",
                                         max_uploads=2)
    assert [u.upload_id for u in ups] == ["u1", "u2"] and trunc
    ups, cps, trunc = store.list_uploads(bucket, key_marker="a/1")
    assert [u.upload_id for u in ups] == ["u2", "u4", "u5", "u6"]
    ups, cps, trunc = store.list_uploads(bucket, delimiter="/")
    assert [u.upload_id for u in ups] == ["u4", "u5"] and cps == ["a/", "c/"] and not trunc
    ups, cps, trunc = store.list_uploads(bucket, delimiter="/", key_marker="a/", max_uploads=2)
    assert [u.upload_id for u in ups] == ["u4", "u5"] and cps == [] and trunc
    ups, cps, trunc = store.list_uploads(bucket, prefix="c/", delimiter="/")
    assert ups == [] and cps == ["c/d/"]
    assert store.list_uploads(bucket, max_uploads=0) == ([], [], False)


# -- repair / GC -----------------------------------------------------------------------

def test_blob_references(store, bucket):
    for i in range(5):
        store.put_object(obj(bucket, f"k{i}", i))
    store.create_upload(MultipartUpload("u1", bucket, "m", T0, owner_id=1))
    store.put_part(part("u1", 1))
    store.put_part(part("u1", 2))
    assert sorted(store.iter_blob_ids(page_size=2)) == sorted(
        [f"blob-{i}" for i in range(5)] + ["blob-u1-1", "blob-u1-2"])
    assert store.blob_referenced("blob-3")
    assert store.blob_referenced("blob-u1-2")
    assert not store.blob_referenced("blob-")
    assert not store.blob_referenced("blob-%")
    store.delete_object(bucket, "k3")
    assert not store.blob_referenced("blob-3")


def test_postgresql_restart_recovers_without_a_new_store(pg_database):
    """Server-side disconnects (restart, failover) are healed by pool_pre_ping."""
    import psycopg

    st = MetadataStore.from_url(pg_database.url, pool_size=3)
    st.create_schema()
    st.create_bucket("b", 1, "r")
    with psycopg.connect(pg_database.plain_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s AND pid <> pg_backend_pid()", (pg_database.name,))
    assert st.get_bucket("b") is not None
    assert st.ping()
    st.close()


def test_postgresql_direct_statements_after_terminated_connections(pg_database):
    """The hot statements (object lookup, one-statement PUT and DELETE) run on the pooled
    psycopg connection directly (meta/direct.py): after every connection was killed, a read
    is re-run on a fresh connection, a write answers Unavailable (its outcome is unknown) and
    the next one succeeds; a vanished bucket is NotFound as on the SQLAlchemy route."""
    import psycopg

    st = MetadataStore.from_url(pg_database.url, pool_size=3, cache=True)
    assert st._direct, "PostgreSQL stores use the direct statements"
    st.create_schema()
    user = st.create_user("owner")
    st.create_bucket("b", user.id, "r")
    st.put_object(obj("b", "k", 1))
    assert st.get_bucket_and_object("b", "k")[1].etag == obj("b", "k", 1).etag

    def kill_all() -> None:
        with psycopg.connect(pg_database.plain_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (pg_database.name,))

    kill_all()
    _, found = st.get_bucket_and_object("b", "k")          # read: retried, succeeds
    assert found is not None and found.etag == obj("b", "k", 1).etag
    kill_all()
    with pytest.raises(Unavailable):
        st.put_object(obj("b", "k", 2))                      # write on a dead connection
    replaced = st.put_object(obj("b", "k", 3))               # the pool healed
    assert replaced is not None and replaced.key == "k"
    kill_all()
    with pytest.raises(Unavailable):
        st.delete_object("b", "k")
    removed = st.delete_object("b", "k")
    assert removed is not None and removed.segments == obj("b", "k", 3).segments
    assert st.delete_object("b", "k") is None
    with pytest.raises(NotFound):
        st.put_object(obj("nope", "k", 1))                   # FK violation -> NotFound
    st.close()


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


def _process_writer(url: str, worker: int, keys: int, out) -> None:
    st = MetadataStore.from_url(url, pool_size=2)
    won = 0
    try:
        for i in range(keys):
            try:
                st.put_object(obj("b", f"k{i}", worker), if_none_match=True)
                won += 1
            except PreconditionFailed:
                pass
            st.put_object(obj("b", f"w{worker}-{i}", worker))
        out.put(("ok", won))
    except Exception as e:  # noqa: BLE001 - reported to the parent
        out.put(("error", repr(e)))
    finally:
        st.close()


def test_sqlite_writers_in_several_processes(tmp_path):
    """The gateway runs several gunicorn workers on one SQLite file: BEGIN IMMEDIATE
    plus the busy timeout must make them queue, never fail with 'database is locked'."""
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    st = MetadataStore.from_url(url)
    st.create_schema()
    st.create_bucket("b", 1, "r")
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_process_writer, args=(url, w, 20, out)) for w in range(3)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    assert all(r[0] == "ok" for r in results), results
    assert sum(r[1] for r in results) == 20          # each contended key won exactly once
    assert st.count_objects("b") == 20 + 3 * 20
    st.close()


def test_complete_refuses_a_part_replaced_meanwhile(db_url):
    """Complete lists part blobs read earlier; if a part was re-uploaded since, the row would point at a
    blob about to be deleted: the store must refuse (Conflict) and keep the upload."""
    from datetime import datetime, timezone

    from s3server.meta.errors import Conflict
    from s3server.meta.store import MetadataStore
    from s3server.models import BlobRef, MultipartUpload, ObjectMeta, Segment, UploadPart

    store = MetadataStore.from_url(db_url)
    store.create_schema()
    user = store.create_user("u-race")
    store.create_bucket("race", user.id, "us-east-1")
    now = datetime.now(timezone.utc)
    store.create_upload(MultipartUpload("up1", "race", "k", now, user.id))
    old = BlobRef("a" * 32, 5, ("n0", "n1", "n2"))
    store.put_part(UploadPart("up1", 1, 5, '"e1"', now, old))
    new = BlobRef("b" * 32, 5, ("n0", "n1", "n2"))
    store.put_part(UploadPart("up1", 1, 5, '"e2"', now, new))     # re-upload after the caller read part 1
    meta = ObjectMeta("race", "k", 5, '"x-1"', now, segments=(Segment(old, 1, '"e1"'),), parts_count=1)
    with pytest.raises(Conflict):
        store.complete_upload("up1", meta, [1])
    assert store.get_upload("up1") is not None and store.get_object("race", "k") is None
    ok = ObjectMeta("race", "k", 5, '"x-1"', now, segments=(Segment(new, 1, '"e2"'),), parts_count=1)
    replaced, unused = store.complete_upload("up1", ok, [1])
    assert replaced is None and unused == []
    assert store.get_object("race", "k").segments[0].blob.blob_id == "b" * 32
    store.close()


def test_postgresql_sessions_load_times_as_utc_whatever_the_server_zone(pg_database):
    """Sessions run with TimeZone=UTC, so psycopg loads timestamptz values as timezone.utc
    datetimes (the listing's and lookups' fast path) even where the server's or database's own
    zone is another: the instants and their ISO text are the same."""
    import sqlalchemy as sa
    admin = sa.create_engine(pg_database.url,
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        db = conn.exec_driver_sql("SELECT current_database()").scalar_one()
        conn.exec_driver_sql(f'ALTER DATABASE "{db}" SET TimeZone = \'Asia/Kathmandu\'')
    admin.dispose()
    st = MetadataStore.from_url(pg_database.url, pool_size=2)
    try:
        st.create_schema()
        user = st.create_user("owner")
        st.create_bucket("tz", user.id, "r")
        when = datetime(2025, 6, 30, 23, 59, 58, 123456, tzinfo=timezone.utc)
        st.put_object(obj("tz", "k", last_modified=when))
        listed = st.list_objects("tz").objects[0].last_modified
        got = st.get_object("tz", "k").last_modified
        assert listed == got == when
        assert listed.tzinfo is timezone.utc and got.tzinfo is timezone.utc
        for engine in (st.read_engine, st.engine):
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SHOW TimeZone").scalar_one() == "UTC"
    finally:
        st.close()
