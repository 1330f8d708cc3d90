"""BlobCache (pure) and the BlobStore's use of it against real storage-node processes."""
from __future__ import annotations

import pytest

from s3server.blobs import BlobNotFound, BlobStore
from s3server.blobs.cache import BlobCache
from tests.unit.test_storage_node import rand_bytes, start_nodes


def test_lru_within_budget():
    c = BlobCache(budget=100, max_blob=60)
    c.put("a", b"a" * 40)
    c.put("b", b"b" * 40)
    assert c.get("a") == b"a" * 40           # a is now the most recent
    c.put("c", b"c" * 40)                     # over budget: b (least recent) goes
    assert c.get("b") is None and c.get("a") and c.get("c")
    assert c.size == 80 and len(c) == 2
    c.put("big", b"x" * 61)                   # over max_blob: never kept
    assert c.get("big") is None and c.size == 80
    c.put("a", b"A" * 10)                     # same id again: replaced, size follows
    assert c.get("a") == b"A" * 10 and c.size == 50
    c.discard("a")
    c.discard("nope")
    assert c.get("a") is None and c.size == 40
    assert (c.hits, c.misses) == (4, 3)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    ns = start_nodes(tmp_path_factory.mktemp("cache"), 3, "--no-fsync")
    yield ns
    for n in ns:
        n.stop()


@pytest.fixture
def store(nodes):
    s = BlobStore({n.node_id: n.url for n in nodes}, timeout=5.0, cache_bytes=1024 * 1024)
    yield s
    s.close()


def remove_copies(nodes, ref) -> None:
    for n in nodes:
        path = n.blob_path(ref.blob_id)
        if path.exists():
            path.unlink()


def test_a_small_blob_read_once_is_served_from_memory(nodes, store):
    data = rand_bytes(100_000, 1)
    ref = store.write(iter([data]), size=len(data))
    assert store.cache.get(ref.blob_id) is None                  # writes do not fill it
    assert b"".join(store.open(ref, 10, 20)) == data[10:20]      # a range reads the whole blob
    remove_copies(nodes, ref)                                    # the nodes no longer have it
    assert b"".join(store.open(ref)) == data
    assert b"".join(store.open(ref, 99_990)) == data[99_990:]
    assert b"".join(store.open(ref, 5, 5)) == b""


def test_deleting_a_blob_drops_it_from_the_cache(nodes, store):
    data = rand_bytes(5000, 2)
    ref = store.write(iter([data]), size=len(data))
    assert b"".join(store.open(ref)) == data
    store.delete(ref)
    with pytest.raises(BlobNotFound):
        b"".join(store.open(ref))
    ref2 = store.write(iter([data]), size=len(data))
    assert b"".join(store.open(ref2)) == data
    store.delete_later([ref2])
    assert store.cache.get(ref2.blob_id) is None


def test_large_blobs_are_never_cached(nodes, store):
    data = rand_bytes(store.cache.max_blob + 1, 3)
    ref = store.write(iter([data]), size=len(data))
    assert b"".join(store.open(ref)) == data
    assert store.cache.get(ref.blob_id) is None
    remove_copies(nodes, ref)
    with pytest.raises(BlobNotFound):
        b"".join(store.open(ref))


def test_no_cache_when_disabled(nodes):
    s = BlobStore({n.node_id: n.url for n in nodes}, timeout=5.0)
    try:
        assert s.cache is None
        data = rand_bytes(1000, 4)
        ref = s.write(iter([data]), size=len(data))
        assert b"".join(s.open(ref)) == data
        remove_copies(nodes, ref)
        with pytest.raises(BlobNotFound):
            b"".join(s.open(ref))
    finally:
        s.close()
