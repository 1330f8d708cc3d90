"""NodeSettings: everything a storage node is configured with (from its command line).

A leaf of the storage_node package: imports nothing of ours, reads no environment.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BLOCK_SIZE = 1024 * 1024
RECYCLE_FILES = 65536
RECYCLE_BYTES = 256 * 1024 * 1024
RECYCLE_FILE_BYTES = 256 * 1024


@dataclass(frozen=True)
class NodeSettings:
    """How one storage node runs.

    ``capacity_bytes`` caps the bytes of blobs this node accepts (``None``: only the
    file system's free space limits it). ``fsync=False`` skips every fsync (tests,
    throwaway nodes); durability then rests on the OS page cache. ``direct_io=False``
    writes every blob through the page cache, even when the gateway asks for O_DIRECT.
    The files of deleted blobs of at most ``recycle_file_bytes`` are kept for reuse, up to
    ``recycle_files`` files and ``recycle_bytes`` bytes (``recycle_files=0``: never; see
    ``recycle.py``).
    """
    data_dir: Path
    node_id: str
    port: int = 7881
    bind: str = "127.0.0.1"
    capacity_bytes: int | None = None
    fsync: bool = True
    direct_io: bool = True
    max_connections: int = 1024
    block_size: int = BLOCK_SIZE
    temp_max_age: float = 3600.0
    recycle_files: int = RECYCLE_FILES
    recycle_bytes: int = RECYCLE_BYTES
    recycle_file_bytes: int = RECYCLE_FILE_BYTES
