"""The metadata schema: created idempotently by concurrent starts, and every older schema version migrated
(SQLite and PostgreSQL via db_url), rolling upgrades next to a server of an older schema included."""
from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from s3server.meta import schema
from s3server.meta.store import MetadataStore
from s3server.models import BucketEncryption, BucketLifecycle, CorsRule, LifecycleRule, MultipartUpload
from tests.meta.storeutil import T0, obj


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
