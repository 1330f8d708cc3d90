"""Multipart uploads and their parts in the metadata store (SQLite and PostgreSQL via db_url)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from s3server.meta.errors import AlreadyExists, Conflict, NotFound
from s3server.meta.store import MetadataStore
from s3server.models import BlobRef, MultipartUpload, ObjectMeta, Segment, UploadPart
from tests.meta.storeutil import T0, obj, part


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


def test_complete_refuses_a_part_replaced_meanwhile(db_url):
    """Complete lists part blobs read earlier; if a part was re-uploaded since, the row would point at a
    blob about to be deleted: the store must refuse (Conflict) and keep the upload."""
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
