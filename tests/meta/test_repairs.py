"""Repair and GC queries of the metadata store: where blobs are referenced (SQLite and PostgreSQL via db_url)."""
from __future__ import annotations

from s3server.models import MultipartUpload
from tests.meta.storeutil import T0, obj, part


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
