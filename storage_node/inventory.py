"""The node's inventory for repair: blobs in id order, paged by ``after``."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

from storage_node.blobfile import CorruptBlob, read_layout
from storage_node.disk import valid_id

_FAN = re.compile(r"^[0-9a-f]{2}$")


def _sorted_dirs(path: Path, at_least: str) -> list[str]:
    """Fan-out directory names in ``path`` that sort >= ``at_least``."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if _FAN.match(n) and n >= at_least)


def iter_ids(blobs_dir: Path, after: str = "") -> Iterator[str]:
    """Every stored blob id greater than ``after``, ascending, reading only the fan-out
    directories that can hold such ids."""
    for d1 in _sorted_dirs(blobs_dir, after[:2]):
        for d2 in _sorted_dirs(blobs_dir / d1, after[2:4] if d1 == after[:2] else ""):
            names = os.listdir(blobs_dir / d1 / d2)
            yield from sorted(n for n in names if valid_id(n) and n > after)


def describe(path: Path) -> dict | None:
    """``{"id", "size", "mtime"}`` of one blob file (size None if its trailer is bad);
    None if it vanished."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            try:
                size = read_layout(f, st.st_size).data_size
            except CorruptBlob:
                size = None
    except FileNotFoundError:
        return None
    return {"id": path.name, "size": size, "mtime": st.st_mtime}


def list_blobs(blobs_dir: Path, after: str = "", limit: int = 1000) -> tuple[list[dict], str | None]:
    """One page of the inventory: up to ``limit`` entries after ``after`` and the id to pass
    as the next ``after`` (None when this page is the last)."""
    page: list[dict] = []
    for blob_id in iter_ids(blobs_dir, after):
        if len(page) == limit:
            return page, page[-1]["id"]
        entry = describe(blobs_dir / blob_id[:2] / blob_id[2:4] / blob_id)
        if entry is not None:
            page.append(entry)
    return page, None
