"""The lifecycle pass's scans in the metadata store (SQLite and PostgreSQL via db_url)."""
from __future__ import annotations

from datetime import timedelta

from s3server.models import MultipartUpload
from tests.meta.storeutil import T0, obj


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
