"""Rendezvous (highest random weight) placement of blobs on nodes."""
from __future__ import annotations

from typing import Sequence

import xxhash


def weight(node_id: str, blob_id: str) -> int:
    """The node's score for a blob: xxh3_64 of node id, a separator, and blob id."""
    return xxhash.xxh3_64_intdigest(f"{node_id}\x00{blob_id}".encode())


def nodes_for(blob_id: str, node_ids: Sequence[str], k: int) -> list[str]:
    """The ``k`` nodes (fewer if there are fewer) with the highest weight for ``blob_id``,
    best first. Depends only on the set of ids, not their order; adding a node moves a
    blob only when the new node lands in its top ``k``."""
    ranked = sorted(set(node_ids), key=lambda n: (weight(n, blob_id), n), reverse=True)
    return ranked[:max(k, 0)]
