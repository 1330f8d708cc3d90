"""NodeInventory: the compact per-node blob list a repair pass holds (pure data structure)."""
from __future__ import annotations

import random
import tracemalloc
import uuid

from s3server.service.inventory import NodeInventory


def make(entries) -> NodeInventory:
    inv = NodeInventory()
    for bid, size, age in entries:
        inv.add(bid, size, age)
    return inv.finish()


def test_lookup_marks_and_unreferenced_in_any_input_order():
    rnd = random.Random(7)
    entries = [(uuid.UUID(int=rnd.getrandbits(128)).hex, rnd.randrange(10**9), rnd.random() * 1e5)
               for _ in range(5000)]
    entries.append((uuid.uuid4().hex, None, 12.5))          # a copy with an unreadable trailer
    for order in (sorted(entries), entries):                # as a node lists them, and shuffled
        inv = make(order)
        assert len(inv) == len(entries)
        for bid, size, age in entries[::97]:
            got = inv.get(bid)
            assert got[0] == size and abs(got[1] - age) <= age * 1e-6 + 1e-3
        assert inv.get(uuid.uuid4().hex) is None
        assert inv.get("not-hex") is None
        marked = {bid for bid, _, _ in entries[::3]}
        for bid in marked:
            inv.mark(bid)
        inv.mark(uuid.uuid4().hex)                          # referenced but not on this node
        left = dict(inv.unreferenced())
        assert set(left) == {bid for bid, _, _ in entries} - marked
        assert list(left) == sorted(left)


def test_empty_inventory():
    inv = make([])
    assert len(inv) == 0 and inv.get(uuid.uuid4().hex) is None
    assert list(inv.unreferenced()) == []


def test_memory_per_blob_is_small():
    """A pass over millions of blobs holds one inventory per node: well under 100 bytes per
    blob (a dict of hex strings to (size, age) tuples took ~230)."""
    ids = sorted(uuid.uuid4().hex for _ in range(200_000))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        inv = make((bid, 4096, 100.0) for bid in ids)
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(inv) == len(ids)
    assert used / len(ids) < 100, used / len(ids)
