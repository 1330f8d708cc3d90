"""BlobStore against real storage-node processes: replication, quorum, abort, failover."""
from __future__ import annotations

import itertools
import json
import time

import pytest
import urllib3

from s3server.blobs import BlobError, BlobNotFound, BlobStore, QuorumError
from s3server.blobs.placement import nodes_for
from s3server.models import BlobRef
from tests.unit.test_storage_node import MiB, corrupt, rand_bytes, start_nodes


def chunked(data: bytes, size: int = 256 * 1024):
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.fixture
def make_store():
    """Build BlobStores over node processes; their keep-alive connections are closed at
    teardown (before the nodes stop, which otherwise linger for idle connections)."""
    stores = []

    def make(nodes, **kw) -> BlobStore:
        stores.append(BlobStore({n.node_id: n.url for n in nodes}, timeout=5.0, **kw))
        return stores[-1]

    yield make
    for store in stores:
        store.close()


def ids_from(prefix: str):
    counter = itertools.count()
    return lambda: f"{prefix}{next(counter):0{32 - len(prefix)}x}"


def holders(store: BlobStore, blob_id: str) -> list[str]:
    """Node ids that currently answer HEAD for the blob."""
    found = []
    for n in store.node_ids:
        try:
            store.client(n).head(blob_id)
            found.append(n)
        except BlobError:
            pass
    return found


def eventually(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    nodes = start_nodes(tmp_path_factory.mktemp("cluster"), 3)
    yield nodes
    for n in nodes:
        assert n.stop() == 0


@pytest.fixture
def fresh_cluster(tmp_path):
    """Three nodes this test may kill."""
    nodes = start_nodes(tmp_path, 3, "--no-fsync")
    yield nodes
    for n in nodes:
        n.stop()


def test_write_puts_three_copies_and_reads_back(cluster, make_store):
    store = make_store(cluster)
    data = rand_bytes(3 * MiB + 123, 10)
    ref = store.write(chunked(data), size=len(data))
    assert ref.size == len(data)
    assert list(ref.nodes) == nodes_for(ref.blob_id, store.node_ids, 3)
    assert sorted(holders(store, ref.blob_id)) == sorted(store.node_ids)
    assert b"".join(store.open(ref)) == data
    assert store.node_health() == {n.node_id: True for n in cluster}
    assert store.healthy_nodes() == 3


def test_ranged_open(cluster, make_store):
    store = make_store(cluster)
    data = rand_bytes(2 * MiB + 10, 11)
    ref = store.write(chunked(data, 100_000))
    for a, b in [(0, 1), (5, 5), (MiB - 1, MiB + 1), (MiB, None), (2 * MiB, 10**12), (0, None)]:
        assert b"".join(store.open(ref, a, b)) == data[a:b], (a, b)
    with pytest.raises(ValueError):
        store.open(ref, 10, 5)


def test_empty_blob(cluster, make_store):
    store = make_store(cluster)
    ref = store.write(iter([]), size=0)
    assert ref.size == 0 and len(ref.nodes) == 3
    assert b"".join(store.open(ref)) == b""


def test_missing_blob_is_not_found(cluster, make_store):
    store = make_store(cluster)
    ref = BlobRef("f" * 32, 10, tuple(store.node_ids))
    with pytest.raises(BlobNotFound):
        b"".join(store.open(ref))


def test_failing_chunks_abort_every_upload(cluster, make_store):
    store = make_store(cluster, new_id=ids_from("ab0e7"))

    class Boom(Exception):
        pass

    boom = Boom("client went away")

    def body():
        yield b"a" * MiB
        yield b"b" * MiB
        raise boom

    with pytest.raises(Boom) as info:
        store.write(body(), size=5 * MiB)
    # the same store writes fine with the next id: the failure was the body's, not the nodes'
    ok = store.write(iter([b"ok"]))
    assert ok.blob_id == "ab0e7" + "0" * 26 + "1" and len(holders(store, ok.blob_id)) == 3
    assert info.value is boom
    blob_id = "ab0e7" + "0" * 27
    assert holders(store, blob_id) == []
    eventually(lambda: all(not list((n.data_dir / "tmp").iterdir()) for n in cluster))


def test_short_stream_for_declared_size_stores_nothing(cluster, make_store):
    store = make_store(cluster, new_id=ids_from("5a0e7"))
    with pytest.raises(BlobError):
        store.write(iter([b"x" * 1000]), size=2000)
    assert holders(store, "5a0e7" + "0" * 27) == []


def test_mid_stream_failover_from_corrupt_replica(cluster, make_store):
    store = make_store(cluster)
    data = rand_bytes(3 * MiB + MiB // 2, 12)
    ref = store.write(chunked(data))
    first = next(n for n in cluster if n.node_id == ref.nodes[0])
    corrupt(first.blob_path(ref.blob_id), MiB + MiB // 2)      # block 1: after block 0 was sent
    got = list(store.open(ref))
    assert b"".join(got) == data
    assert any(p.name.startswith(ref.blob_id) for p in (first.data_dir / "quarantine").iterdir())
    # later reads skip the quarantined copy (404) and still succeed
    assert b"".join(store.open(ref, MiB, 2 * MiB)) == data[MiB:2 * MiB]


def _verified_copy(node, blob_id: str) -> bool:
    r = urllib3.PoolManager(retries=False, timeout=10.0).request(
        "POST", f"{node.url}/blobs/{blob_id}/verify")
    return r.status == 200 and json.loads(r.data)["ok"] is True


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_read_repair_puts_back_the_copy_a_read_failed_on(cluster, make_store, damage):
    """A read that fails over from a bad copy (a corrupt block mid-stream, or no file) has
    the gateway copy the blob back to that node in the background: same node, so the
    metadata's node list stays true."""
    store = make_store(cluster)
    data = rand_bytes(2 * MiB + 1000, 21 if damage == "corrupt" else 22)
    ref = store.write(chunked(data))
    first = next(n for n in cluster if n.node_id == ref.nodes[0])
    if damage == "corrupt":
        corrupt(first.blob_path(ref.blob_id), MiB + 5)
    else:
        first.blob_path(ref.blob_id).unlink()
    assert b"".join(store.open(ref)) == data
    eventually(lambda: store.read_repair.repaired == 1, timeout=10)
    assert _verified_copy(first, ref.blob_id)
    assert sorted(holders(store, ref.blob_id)) == sorted(ref.nodes)


def test_read_repair_leaves_good_copies_and_silent_nodes_alone(fresh_cluster, make_store):
    store = make_store(fresh_cluster)
    data = rand_bytes(300_000, 23)
    ref = store.write(chunked(data))
    by_id = {n.node_id: n for n in fresh_cluster}
    mtime = by_id[ref.nodes[0]].blob_path(ref.blob_id).stat().st_mtime_ns
    # the copy is fine (the failed read was a passing hiccup): nothing is rewritten
    assert store.read_repair.repair(ref, ref.nodes[0], (ref.nodes[1],)) is False
    assert by_id[ref.nodes[0]].blob_path(ref.blob_id).stat().st_mtime_ns == mtime
    # a node that does not answer is left to the repair pass
    by_id[ref.nodes[2]].proc.kill()
    by_id[ref.nodes[2]].proc.wait()
    assert store.read_repair.repair(ref, ref.nodes[2], (ref.nodes[1],)) is False
    assert store.read_repair.repaired == 0


def test_delete_and_delete_later(cluster, make_store):
    store = make_store(cluster)
    refs = [store.write(iter([b"d" * 1000])) for _ in range(3)]
    store.delete(refs[0])
    assert holders(store, refs[0].blob_id) == []
    store.delete_later(refs[1:])
    eventually(lambda: all(holders(store, r.blob_id) == [] for r in refs[1:]))


def test_node_loss_failover_then_quorum_loss(fresh_cluster, make_store):
    store = make_store(fresh_cluster, new_id=ids_from("c111"), down_seconds=60)
    data = rand_bytes(2 * MiB, 13)
    ref = store.write(chunked(data))
    by_id = {n.node_id: n for n in fresh_cluster}

    # one node dies: reads fail over (it is the first replica), writes reach the other two
    by_id[ref.nodes[0]].proc.kill()
    by_id[ref.nodes[0]].proc.wait()
    assert b"".join(store.open(ref)) == data
    ref2 = store.write(chunked(data))
    assert len(ref2.nodes) == 2 and ref.nodes[0] not in ref2.nodes
    assert b"".join(store.open(ref2)) == data
    assert store.node_health()[ref.nodes[0]] is False and store.healthy_nodes() == 2

    # a second node dies: quorum cannot be met, the survivor keeps no copy
    dead2 = ref2.nodes[0]
    by_id[dead2].proc.kill()
    by_id[dead2].proc.wait()
    with pytest.raises(QuorumError) as info:
        store.write(chunked(data))
    assert info.value.needed == 2 and info.value.written < 2
    survivor = next(n for n in store.node_ids if n not in (ref.nodes[0], dead2))
    listed = [b["id"] for b in store.client(survivor).inventory()["blobs"]]
    assert listed == sorted([ref.blob_id, ref2.blob_id])
    assert b"".join(store.open(ref)) == data          # one copy is still enough to read


def test_down_node_is_skipped_for_writes(tmp_path, make_store):
    nodes = start_nodes(tmp_path, 4, "--no-fsync")
    try:
        ids = [n.node_id for n in nodes]
        dead = nodes[0]
        # an id whose placement includes the dead node among its first three
        blob_id = next(f"{i:032x}" for i in itertools.count()
                       if dead.node_id in nodes_for(f"{i:032x}", ids, 3))
        store = make_store(nodes, new_id=lambda: blob_id, down_seconds=60)
        dead.proc.kill()
        dead.proc.wait()
        assert store.node_health()[dead.node_id] is False
        ref = store.write(iter([b"q" * 5000]))
        assert list(ref.nodes) == [n for n in nodes_for(blob_id, ids, 4) if n != dead.node_id]
        assert b"".join(store.open(ref)) == b"q" * 5000
    finally:
        store.close()
        for n in nodes:
            n.stop()


def test_copy_from_verified_source(cluster, make_store, tmp_path):
    store = make_store(cluster)
    data = rand_bytes(2 * MiB + 77, 14)
    ref = store.write(chunked(data))
    target = ref.nodes[2]
    store.client(target).delete(ref.blob_id)
    # the first source is corrupt in its second block: the copy falls back to the next one
    first = next(n for n in cluster if n.node_id == ref.nodes[0])
    corrupt(first.blob_path(ref.blob_id), MiB + 5)
    used = store.copy(ref.blob_id, ref.size, list(ref.nodes), target)
    assert used == ref.nodes[1]
    assert store.client(target).verify(ref.blob_id)["ok"] is True
    assert b"".join(store.client(target).get(ref.blob_id)) == data
    with pytest.raises(BlobError):   # wrong size: refused before anything is sent
        store.copy(ref.blob_id, ref.size + 1, [ref.nodes[1]], ref.nodes[0])
    assert holders(store, ref.blob_id) == sorted(ref.nodes[1:]) or \
        set(holders(store, ref.blob_id)) == set(ref.nodes[1:])


def test_gc_delete_respects_min_age(cluster, make_store):
    store = make_store(cluster)
    ref = store.write(iter([b"g" * 100]))
    client = store.client(ref.nodes[0])
    assert client.delete(ref.blob_id, min_age=3600) is False
    assert client.delete(ref.blob_id, min_age=0) is True
    assert ref.nodes[0] not in holders(store, ref.blob_id)


def test_full_node_is_avoided_for_writes(tmp_path, make_store):
    nodes = [*start_nodes(tmp_path / "a", 3, "--no-fsync"),
             *start_nodes(tmp_path / "b", 1, "--no-fsync", "--capacity-bytes", "1000")]
    full = nodes[3]
    try:
        store = BlobStore({**{n.node_id: n.url for n in nodes[:3]}, "full": full.url},
                          timeout=5.0, down_seconds=60, new_id=ids_from("f0"))
        try:
            refs = [store.write(iter([b"z" * 5000])) for _ in range(8)]
            # the write that first meets the full node gets 2 copies; later ones skip it
            assert all("full" not in r.nodes for r in refs)
            assert sum(len(r.nodes) < 3 for r in refs) <= 1
            assert all(len(r.nodes) >= 2 for r in refs)
            assert not store._health.is_down("full")               # reads may still use it
        finally:
            store.close()
    finally:
        for n in nodes:
            n.stop()
