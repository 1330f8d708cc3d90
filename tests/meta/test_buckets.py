"""Buckets in the metadata store (SQLite and PostgreSQL via db_url)."""
from __future__ import annotations

import pytest

from s3server.meta.errors import AlreadyExists, Conflict, NotFound
from s3server.models import MultipartUpload, UploadPart
from tests.meta.storeutil import T0, blob, obj


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
