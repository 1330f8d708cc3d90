"""The node inventories a repair pass holds (service/repair.py): per node, every listed blob with
its size and age, kept compact, and the marks of the blobs the metadata references (what is
left unmarked is a GC candidate)."""
from __future__ import annotations

from array import array
from bisect import bisect_left
from typing import Iterator


class NodeInventory:
    """One node's blobs for a pass, compactly: sorted 16-byte ids, sizes (-1: the node could
    not read the trailer), ages in seconds (float32) and a "referenced" mark per blob. About
    70 bytes per blob where a dict of hex strings and tuples took ~230: a pass over millions
    of blobs holds one of these per node. Marking replaces a set of every referenced id."""
    __slots__ = ("ids", "sizes", "ages", "seen")

    def __init__(self) -> None:
        self.ids: list[bytes] = []
        self.sizes = array("q")
        self.ages = array("f")
        self.seen = bytearray()

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, blob_id: str, size: int | None, age: float) -> None:
        """Append an entry (nodes list in id order; ``finish`` sorts if one did not)."""
        self.ids.append(bytes.fromhex(blob_id))
        self.sizes.append(-1 if size is None else size)
        self.ages.append(age)
        self.seen.append(0)

    def finish(self) -> NodeInventory:
        ids = self.ids
        if any(ids[i] >= ids[i + 1] for i in range(len(ids) - 1)):
            order = sorted(range(len(ids)), key=ids.__getitem__)
            self.ids = [ids[i] for i in order]
            self.sizes = array("q", (self.sizes[i] for i in order))
            self.ages = array("f", (self.ages[i] for i in order))
            self.seen = bytearray(len(order))
        return self

    def _find(self, blob_id: str) -> int:
        try:
            key = bytes.fromhex(blob_id)
        except ValueError:
            return -1
        i = bisect_left(self.ids, key)
        return i if i < len(self.ids) and self.ids[i] == key else -1

    def get(self, blob_id: str) -> tuple[int | None, float] | None:
        """(size or None, age) of the node's copy; None if the node did not list it."""
        i = self._find(blob_id)
        if i < 0:
            return None
        size = self.sizes[i]
        return (None if size < 0 else size), self.ages[i]

    def mark(self, blob_id: str) -> None:
        """Note that the metadata references ``blob_id`` (GC leaves it alone)."""
        i = self._find(blob_id)
        if i >= 0:
            self.seen[i] = 1

    def unreferenced(self) -> Iterator[tuple[str, float]]:
        """(blob id, age) of every listed copy no reference marked."""
        seen, ids, ages = self.seen, self.ids, self.ages
        i = seen.find(0)
        while i >= 0:
            yield ids[i].hex(), ages[i]
            i = seen.find(0, i + 1)


class Inventory:
    """Per configured node: its NodeInventory, or None if it did not answer."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeInventory | None] = {}

    def reachable(self) -> list[str]:
        return [n for n, inv in self.nodes.items() if inv is not None]

    def mark(self, blob_id: str) -> None:
        for inv in self.nodes.values():
            if inv is not None:
                inv.mark(blob_id)
