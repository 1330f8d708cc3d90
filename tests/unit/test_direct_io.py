"""O_DIRECT writes of the copies the gateway will not read from (``X-Blob-Cache: none``).

Whether a file's pages are in the page cache is read with mincore(2) on a mapping of it:
a copy written with O_DIRECT has only its buffered tail (last partial MiB and footer) cached,
a normal copy all of it.
"""
from __future__ import annotations

import ctypes
import mmap
import os
from pathlib import Path

import pytest
import urllib3
import xxhash

from s3server.blobs import BlobStore
from storage_node.disk import Disk, SizeMismatch
from storage_node.settings import NodeSettings
from storage_node.writers import DIRECT_CHUNK, DIRECT_MIN
from tests.unit.test_storage_node import MiB, blob_id, put, rand_bytes, start_nodes

PAGE = mmap.PAGESIZE
_libc = ctypes.CDLL(None, use_errno=True)


def cached_bytes(path: Path) -> int:
    """Bytes of ``path`` in the page cache now (mincore over a private mapping of it)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY)
    try:
        window = (ctypes.c_char * size).from_buffer(mm)
        pages = -(-size // PAGE)
        vec = (ctypes.c_ubyte * pages)()
        if _libc.mincore(ctypes.c_void_p(ctypes.addressof(window)), ctypes.c_size_t(size), vec):
            raise OSError(ctypes.get_errno(), "mincore")
        del window
    finally:
        mm.close()
    return sum(v & 1 for v in vec) * PAGE


def pieces(data: bytes, size: int):
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.fixture
def http():
    with urllib3.PoolManager(retries=False, timeout=10.0) as pool:
        yield pool


@pytest.fixture
def disk(tmp_path):
    d = Disk(NodeSettings(data_dir=tmp_path / "n", node_id="n", fsync=True))
    d.prepare()
    return d


def read_back(d: Disk, bid: str) -> bytes:
    blob = d.open(bid)
    try:
        return b"".join(d.stream(blob, 0, blob.size))
    finally:
        blob.file.close()


# Sizes around the chunk boundaries, fed in pieces that straddle them.
@pytest.mark.parametrize("size,piece", [
    (DIRECT_MIN, 256 * 1024),                 # whole chunks only: the tail is just the footer
    (DIRECT_MIN + 1, 256 * 1024),
    (5 * MiB + 12345, 333_333),
    (3 * MiB - 1, DIRECT_CHUNK + 7),
    (4 * MiB, 4 * MiB),                       # one piece several chunks long
])
def test_uncached_write_round_trips_and_stays_out_of_the_cache(disk, size, piece):
    data = rand_bytes(size, size % 97)
    bid = blob_id(size)
    assert disk.write(bid, pieces(data, piece), expected=size, cache=False) == (
        size, xxhash.xxh3_128_hexdigest(data))
    assert disk.verify(bid) == (True, size)
    assert read_back(disk, bid) == data
    path = disk.path_for(bid)
    tail = size % DIRECT_CHUNK + (path.stat().st_size - size)
    # the buffered tail may be cached (and the read above cached what it read): check the
    # residency of a fresh copy instead
    bid2 = blob_id(size + 1)
    disk.write(bid2, pieces(data, piece), expected=size, cache=False)
    assert cached_bytes(disk.path_for(bid2)) <= tail + 2 * PAGE


def test_cached_write_is_in_the_page_cache(disk):
    data = rand_bytes(4 * MiB + 5, 3)
    disk.write(blob_id(1), pieces(data, 256 * 1024), expected=len(data), cache=True)
    path = disk.path_for(blob_id(1))
    assert cached_bytes(path) >= path.stat().st_size - PAGE


def test_small_blobs_are_always_buffered(disk):
    data = rand_bytes(DIRECT_MIN - 1, 4)
    disk.write(blob_id(2), [data], expected=len(data), cache=False)
    path = disk.path_for(blob_id(2))
    assert cached_bytes(path) >= path.stat().st_size - PAGE
    assert read_back(disk, blob_id(2)) == data


def test_uncached_write_of_the_wrong_size_keeps_nothing(disk):
    data = rand_bytes(3 * MiB, 5)
    with pytest.raises(SizeMismatch):
        disk.write(blob_id(3), pieces(data, 256 * 1024), expected=4 * MiB, declared=4 * MiB,
                   cache=False)
    assert not disk.path_for(blob_id(3)).exists()
    assert os.listdir(disk.tmp_dir) == []
    # the aligned buffer went back to the pool and serves the next write
    disk.write(blob_id(4), pieces(data, 256 * 1024), expected=len(data), cache=False)
    assert read_back(disk, blob_id(4)) == data


def test_node_honours_the_header_unless_told_not_to(tmp_path, http):
    data = rand_bytes(6 * MiB + 777, 6)
    direct, buffered = start_nodes(tmp_path / "a", 1)[0], start_nodes(tmp_path / "b", 1, "--no-direct-io")[0]
    try:
        for n in (direct, buffered):
            assert put(http, n, blob_id(7), data, **{"X-Blob-Cache": "none"}).status == 201
            assert put(http, n, blob_id(8), data).status == 201
        size = direct.blob_path(blob_id(7)).stat().st_size
        assert cached_bytes(direct.blob_path(blob_id(7))) < 2 * MiB
        assert cached_bytes(direct.blob_path(blob_id(8))) >= size - PAGE
        assert cached_bytes(buffered.blob_path(blob_id(7))) >= size - PAGE
        for n in (direct, buffered):
            r = http.request("GET", f"{n.url}/blobs/{blob_id(7)}")
            assert r.status == 200 and r.data == data
    finally:
        assert direct.stop() == 0 and buffered.stop() == 0


def test_store_caches_only_the_copy_it_reads(tmp_path):
    """A streamed write: the first target (where reads go) keeps its copy in its page cache,
    the other two wrote theirs with O_DIRECT; reads come from the first."""
    nodes = start_nodes(tmp_path, 3)
    by_id = {n.node_id: n for n in nodes}
    store = BlobStore({n.node_id: n.url for n in nodes}, timeout=5.0)
    try:
        data = rand_bytes(5 * MiB + 3, 8)
        ref = store.write(pieces(data, 256 * 1024), size=len(data))
        assert len(ref.nodes) == 3
        first, *others = (by_id[n].blob_path(ref.blob_id) for n in ref.nodes)
        assert cached_bytes(first) >= first.stat().st_size - PAGE
        for path in others:
            assert cached_bytes(path) < 2 * MiB
        assert b"".join(store.open(ref)) == data
        for path in others:                     # served by the first copy: others still cold
            assert cached_bytes(path) < 2 * MiB
    finally:
        store.close()
        for n in nodes:
            n.stop()
