"""The metadata store's repair methods, on SQLite and PostgreSQL: node-list edits under
a row lock, and the one-statement reference check GC relies on."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from conftest import PgDatabase, require_pg
from s3server.meta.store import BlobUse, MetadataStore
from s3server.models import BlobRef, MultipartUpload, ObjectMeta, Segment, UploadPart

pytestmark = pytest.mark.slow
NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    db = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        require_pg()
        db = PgDatabase()
        url = db.url
    st = MetadataStore.from_url(url, pool_size=2)
    st.create_schema()
    st.create_bucket("bkt", 1, "us-east-1")
    yield st
    st.close()
    if db:
        db.drop()


def blob(i: int, nodes=("n0", "n1")) -> BlobRef:
    return BlobRef(f"{i:032x}", 10, tuple(nodes))


def put(store, key: str, *blobs: BlobRef) -> None:
    store.put_object(ObjectMeta(bucket="bkt", key=key, size=10 * len(blobs), etag='"e"',
                                last_modified=NOW,
                                segments=tuple(Segment(b, part_number=i + 1 if len(blobs) > 1 else None)
                                               for i, b in enumerate(blobs))))


def test_update_blob_nodes_edits_one_segment_and_composes(store):
    put(store, "multi", blob(1), blob(2))
    uses = {u.blob.blob_id: u for u in store.iter_blob_uses()}
    use = uses[blob(2).blob_id]
    assert store.update_blob_nodes(use, add=("n2",)) == ("n0", "n1", "n2")
    assert store.update_blob_nodes(use, remove=("n0",)) == ("n1", "n2")
    assert store.update_blob_nodes(use, add=("n2", "n3"), remove=("n9",)) == ("n1", "n2", "n3")
    segs = store.get_object("bkt", "multi").segments
    assert segs[0].blob.nodes == ("n0", "n1") and segs[1].blob.nodes == ("n1", "n2", "n3")
    assert segs[1].part_number == 2
    # the row was overwritten or deleted meanwhile: nothing changes
    put(store, "multi", blob(3))
    assert store.update_blob_nodes(use, add=("n4",)) is None
    store.delete_object("bkt", "multi")
    assert store.update_blob_nodes(use, add=("n4",)) is None


def test_update_blob_nodes_keeps_tags_and_redirect(store):
    """A node-list edit is not a new version of the object: its tags and website redirect
    location (which count only while written for the row's current version) stay."""
    store.put_object(ObjectMeta(bucket="bkt", key="tagged", size=10, etag='"e"', last_modified=NOW,
                                segments=(Segment(blob(1)),), tags=(("team", "a"),), website_redirect="/new"))
    assert store.set_object_tags("bkt", "tagged", (("team", "b"),))
    use = next(u for u in store.iter_blob_uses() if u.row == ("bkt", "tagged"))
    assert store.update_blob_nodes(use, add=("n2",), remove=("n0",)) == ("n1", "n2")
    got = store.get_object("bkt", "tagged")
    assert got.segments[0].blob.nodes == ("n1", "n2")
    assert got.tags == (("team", "b"),) and got.website_redirect == "/new"


def test_update_blob_nodes_of_a_part_and_references(store):
    store.create_upload(MultipartUpload(upload_id="u1", bucket="bkt", key="k", initiated=NOW, owner_id=1))
    store.put_part(UploadPart(upload_id="u1", part_number=1, size=10, etag='"p"', last_modified=NOW,
                              blob=blob(7)))
    put(store, "plain", blob(8))
    use = next(u for u in store.iter_blob_uses() if u.table == "upload_parts")
    assert use == BlobUse("upload_parts", ("u1", 1), blob(7))
    assert store.update_blob_nodes(use, add=("n5",)) == ("n0", "n1", "n5")
    assert store.get_parts("u1")[1].blob.nodes == ("n0", "n1", "n5")
    ids = [blob(i).blob_id for i in (7, 8, 9)]
    assert store.referenced_blob_ids(ids) == {blob(7).blob_id, blob(8).blob_id}
    assert store.referenced_blob_ids([]) == set()
    store.abort_upload("u1")
    assert store.referenced_blob_ids(ids) == {blob(8).blob_id}
    with store.try_lock_repair() as lock:
        assert lock.acquired
        if store.engine.dialect.name == "postgresql":   # one holder at a time across sessions
            with store.try_lock_repair() as second:
                assert not second.acquired
    with store.try_lock_repair() as again:
        assert again.acquired


def test_referenced_blob_ids_checks_thousands_of_ids_at_once(store):
    """Every segment of a multipart object and every part counts; ids are matched exactly (no
    pattern characters, no prefixes); an encrypted blob's reference (with its sealed key) counts;
    thousands of ids go in one call."""
    put(store, "multi", blob(1), blob(2), blob(3))
    put(store, "single", blob(4))
    put(store, "sealed", BlobRef(f"{5:032x}", 10, ("n0",), key="v1:kid:c2VhbGVk"))
    store.create_upload(MultipartUpload("u1", "bkt", "m", NOW, owner_id=1))
    store.put_part(UploadPart("u1", 1, 10, '"p"', NOW, blob(6)))
    referenced = {blob(i).blob_id for i in (1, 2, 3, 4, 5, 6)}
    others = [f"{i:032x}" for i in range(100, 4100)] + ["%", "_" * 32, f"{1:031x}", f"{1:032x}0", '"', ""]
    assert store.referenced_blob_ids([*referenced, *others]) == referenced
    assert store.referenced_blob_ids(others) == set()
    assert store.blob_referenced(blob(3).blob_id) and not store.blob_referenced("%")
    store.delete_object("bkt", "multi")
    assert store.referenced_blob_ids(list(referenced)) == {blob(i).blob_id for i in (4, 5, 6)}


def test_reseal_blob_key_replaces_only_the_key_it_was_given(store):
    """The sealed key is swapped in the segment of that blob alone, in objects and parts; a row
    that changed meanwhile (another key, overwritten, deleted) is left alone."""
    sealed = BlobRef(f"{1:032x}", 10, ("n0",), key="v1:old:AAAA")
    put(store, "multi", sealed, BlobRef(f"{2:032x}", 10, ("n0",), key="v1:old:BBBB"))
    store.create_upload(MultipartUpload("u1", "bkt", "m", NOW, owner_id=1))
    store.put_part(UploadPart("u1", 1, 10, '"p"', NOW, BlobRef(f"{3:032x}", 10, ("n0",), key="v1:old:CCCC")))
    uses = {u.blob.blob_id: u for u in store.iter_blob_uses()}
    assert store.reseal_blob_key(uses[f"{1:032x}"], "v1:new:aaaa")
    assert [s.blob.key for s in store.get_object("bkt", "multi").segments] == ["v1:new:aaaa", "v1:old:BBBB"]
    assert not store.reseal_blob_key(uses[f"{1:032x}"], "v1:new:zzzz")     # holds another key now
    assert store.reseal_blob_key(uses[f"{3:032x}"], "v1:new:cccc")
    assert store.get_parts("u1")[1].blob.key == "v1:new:cccc"
    put(store, "multi", blob(9))
    assert not store.reseal_blob_key(uses[f"{2:032x}"], "v1:new:bbbb")
    assert store.get_object("bkt", "multi").segments[0].blob.key is None
