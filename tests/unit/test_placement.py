"""Rendezvous placement: deterministic, evenly spread, minimal movement."""
from collections import Counter
import uuid

from s3server.blobs.placement import nodes_for

NODES = [f"node-{i}" for i in range(6)]
IDS = [uuid.UUID(int=i * 7919 + 13).hex for i in range(3000)]


def test_deterministic_and_order_independent():
    for blob_id in IDS[:50]:
        first = nodes_for(blob_id, NODES, 3)
        assert first == nodes_for(blob_id, list(reversed(NODES)), 3)
        assert len(first) == len(set(first)) == 3
        assert set(first) <= set(NODES)


def test_k_larger_than_node_count_and_zero():
    assert sorted(nodes_for(IDS[0], NODES[:2], 3)) == NODES[:2]
    assert nodes_for(IDS[0], NODES, 0) == []
    assert nodes_for(IDS[0], [], 3) == []


def test_prefix_property():
    """The first k of a longer ranking are the k-ranking: failover order is consistent."""
    for blob_id in IDS[:50]:
        assert nodes_for(blob_id, NODES, 6)[:3] == nodes_for(blob_id, NODES, 3)


def test_even_spread_over_six_nodes():
    counts = Counter(n for b in IDS for n in nodes_for(b, NODES, 3))
    expected = len(IDS) * 3 / len(NODES)
    assert set(counts) == set(NODES)
    for node, count in counts.items():
        assert abs(count - expected) < expected * 0.1, (node, count, expected)
    primaries = Counter(nodes_for(b, NODES, 1)[0] for b in IDS)
    assert max(primaries.values()) < 1.2 * len(IDS) / len(NODES)


def test_adding_a_node_moves_few_blobs():
    grown = NODES + ["node-6"]
    moved = 0
    for blob_id in IDS:
        before, after = set(nodes_for(blob_id, NODES, 3)), set(nodes_for(blob_id, grown, 3))
        lost = before - after
        # a blob only ever moves onto the new node, and at most one copy moves
        assert lost <= before and len(lost) <= 1
        if lost:
            assert after - before == {"node-6"}
            moved += 1
    # ideally 3/7 of blobs get a copy on the new node
    assert abs(moved / len(IDS) - 3 / 7) < 0.05


def test_removing_a_node_only_moves_its_blobs():
    for blob_id in IDS[:500]:
        before = nodes_for(blob_id, NODES, 3)
        after = nodes_for(blob_id, NODES[:-1], 3)
        if "node-5" not in before:
            assert after == before
        else:
            assert set(before) - {"node-5"} <= set(after)
