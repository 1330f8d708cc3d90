"""Files of deleted blobs reused for new ones (storage_node/recycle.py): the node in-process for
the races (a reader holding a deleted blob), as a real process for the HTTP view."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import urllib3

import storage_node.space as space_mod
from storage_node.disk import Disk
from storage_node.recycle import Recycler
from storage_node.settings import NodeSettings
from storage_node.space import NoSpace
from tests.unit.test_storage_node import blob_id, rand_bytes, start_nodes


def make_disk(tmp_path: Path, **settings) -> Disk:
    d = Disk(NodeSettings(data_dir=tmp_path / "n", node_id="n", fsync=False, **settings))
    d.prepare()
    return d


def read_all(d: Disk, bid: str) -> bytes:
    blob = d.open(bid)
    return b"".join(d.stream(blob, 0, blob.size))


def ino(d: Disk, bid: str) -> int:
    return d.path_for(bid).stat().st_ino


def recycled(d: Disk) -> list[str]:
    return sorted(os.listdir(d.root / "recycle"))


def test_a_deleted_blobs_file_is_reused_by_the_next_write(tmp_path):
    d = make_disk(tmp_path)
    d.write(blob_id(1), [b"first " * 100])
    old = ino(d, blob_id(1))
    assert d.delete(blob_id(1)) and not d.path_for(blob_id(1)).exists()
    assert len(recycled(d)) == 1
    with pytest.raises(FileNotFoundError):
        d.open(blob_id(1))
    d.write(blob_id(2), [b"second"])                 # shorter: the old bytes must not show
    assert ino(d, blob_id(2)) == old and recycled(d) == []
    assert read_all(d, blob_id(2)) == b"second"
    assert d.recycler.stats() == {"files": 0, "bytes": 0, "kept": 1, "taken": 1, "readers": 0}
    assert os.listdir(d.tmp_dir) == []


def test_a_file_still_read_is_not_reused_until_its_reader_is_done(tmp_path):
    """A GET of a blob that is deleted meanwhile reads the deleted bytes to the end (blocks of
    4 KiB: the stream reads the file block by block, long after it opened it)."""
    d = make_disk(tmp_path, block_size=4096)
    data = rand_bytes(40_000, seed=3)
    d.write(blob_id(1), [data])
    held = ino(d, blob_id(1))
    blob = d.open(blob_id(1))
    stream = d.stream(blob, 0, blob.size)
    first = next(stream)
    d.delete(blob_id(1))
    assert len(recycled(d)) == 1
    for i in range(2, 6):                            # writes while the reader is in the middle
        d.write(blob_id(i), [rand_bytes(30_000, seed=i)])
        assert ino(d, blob_id(i)) != held
    assert first + b"".join(stream) == data          # the stream closed the blob at its end
    assert d.recycler.stats()["readers"] == 0
    d.write(blob_id(9), [b"now it may"])
    assert ino(d, blob_id(9)) == held
    for i in range(2, 6):
        assert read_all(d, blob_id(i)) == rand_bytes(30_000, seed=i)


def test_a_reader_closed_early_releases_the_file(tmp_path):
    d = make_disk(tmp_path)
    d.write(blob_id(1), [b"x" * 10])
    held = ino(d, blob_id(1))
    blob = d.open(blob_id(1))
    d.delete(blob_id(1))
    d.write(blob_id(2), [b"y"])
    assert ino(d, blob_id(2)) != held
    blob.close()
    blob.close()                                     # idempotent: counts once
    d.write(blob_id(3), [b"z"])
    assert ino(d, blob_id(3)) == held


def test_bounds_large_files_and_a_full_pool_are_unlinked(tmp_path):
    d = make_disk(tmp_path, recycle_files=2, recycle_file_bytes=10_000)
    d.write(blob_id(1), [b"b" * 20_000])
    d.delete(blob_id(1))
    assert recycled(d) == []
    for i in range(2, 6):
        d.write(blob_id(i), [b"s" * 100])
    for i in range(2, 6):
        d.delete(blob_id(i))
    assert len(recycled(d)) == 2 and d.recycler.stats()["files"] == 2


def test_recycling_off_unlinks_and_gives_back_leftovers(tmp_path):
    d = make_disk(tmp_path)
    d.write(blob_id(1), [b"a"])
    d.delete(blob_id(1))
    assert len(recycled(d)) == 1
    off = make_disk(tmp_path, recycle_files=0)       # restarted with recycling off
    assert recycled(off) == []
    off.write(blob_id(2), [b"b"])
    off.delete(blob_id(2))
    assert recycled(off) == []


def test_restart_keeps_recycled_files_but_never_one_that_is_also_a_blob(tmp_path):
    """After a crash before the directories reached the disk, a taken file's old name in
    recycle/ can survive beside its new name as a blob: that name is dropped, not reused."""
    d = make_disk(tmp_path)
    for i in (1, 2):
        d.write(blob_id(i), [f"blob {i}".encode()])
    d.delete(blob_id(1))
    os.link(d.path_for(blob_id(2)), d.root / "recycle" / "crash.0")
    (d.root / "recycle" / "big.0").write_bytes(b"x" * (d.settings.recycle_file_bytes + 1))
    (d.root / "recycle" / "a-dir").mkdir()                   # not ours: left alone, never taken
    os.symlink(d.path_for(blob_id(2)), d.root / "recycle" / "a-link")
    again = make_disk(tmp_path)
    assert {"a-dir", "a-link"} <= set(recycled(again)) and len(recycled(again)) == 3
    assert again.recycler.stats()["files"] == 1
    for i in range(3, 6):
        again.write(blob_id(i), [b"new"])
    assert read_all(again, blob_id(2)) == b"blob 2"
    assert os.stat(again.path_for(blob_id(2))).st_nlink == 1


def test_a_full_file_system_gets_the_recycled_space_back(tmp_path, monkeypatch):
    d = make_disk(tmp_path)
    d.write(blob_id(1), [b"r" * 5000])
    d.delete(blob_id(1))
    real = shutil.disk_usage

    def usage(path):                                 # "full" while recycle/ holds anything
        u = real(path)
        return u._replace(free=0) if os.listdir(d.root / "recycle") else u
    monkeypatch.setattr(space_mod.shutil, "disk_usage", usage)
    d.write(blob_id(2), [b"fits"], expected=4)
    assert read_all(d, blob_id(2)) == b"fits" and recycled(d) == []
    monkeypatch.setattr(space_mod.shutil, "disk_usage", lambda p: real(p)._replace(free=0))
    with pytest.raises(NoSpace):
        d.write(blob_id(3), [b"no"], expected=2)


def test_trim_unlinks_files_idle_too_long(tmp_path):
    now = [1000.0]
    r = Recycler(str(tmp_path / "r"), max_files=10, max_bytes=10**6, max_file_bytes=1000,
                 idle_seconds=60, clock=lambda: now[0])
    r.adopt()
    for i in range(3):                               # kept at 1000, 1030, 1060
        (tmp_path / f"f{i}").write_bytes(b"x" * 10)
        st = os.stat(tmp_path / f"f{i}")
        assert r.keep(str(tmp_path / f"f{i}"), st.st_size, st.st_ino)
        now[0] += 30
    now[0] = 1075                                    # only the first is idle for over a minute
    assert r.trim(10) == 10 and r.stats()["files"] == 2
    now[0] = 1200
    assert r.trim(1) == 10 and r.stats()["files"] == 1     # at most ``limit`` per call
    assert len(os.listdir(tmp_path / "r")) == 1


def test_node_reuses_files_over_http(tmp_path):
    node = start_nodes(tmp_path, 1, "--no-fsync")[0]
    http = urllib3.PoolManager(retries=False, timeout=10.0)
    try:
        for i in range(5):
            assert http.request("PUT", f"{node.url}/blobs/{blob_id(i)}", body=b"o" * 4096).status == 201
        inodes = {node.blob_path(blob_id(i)).stat().st_ino for i in range(5)}
        r = http.request("POST", f"{node.url}/blobs/delete",
                         body=json.dumps({"ids": [blob_id(i) for i in range(5)]}))
        assert r.status == 200
        assert http.request("DELETE", f"{node.url}/blobs/{blob_id(0)}").status == 204
        for i in range(10, 15):
            assert http.request("PUT", f"{node.url}/blobs/{blob_id(i)}", body=rand_bytes(3000, i)).status == 201
        assert {node.blob_path(blob_id(i)).stat().st_ino for i in range(10, 15)} == inodes
        for i in range(10, 15):
            assert http.request("GET", f"{node.url}/blobs/{blob_id(i)}").data == rand_bytes(3000, i)
        for i in range(5):
            assert http.request("GET", f"{node.url}/blobs/{blob_id(i)}").status == 404
        health = json.loads(http.request("GET", f"{node.url}/health").data)
        assert health["recycled"] == {"files": 0, "bytes": 0, "kept": 5, "taken": 5, "readers": 0}
        assert health["used_bytes"] == sum(node.blob_path(blob_id(i)).stat().st_size for i in range(10, 15))
    finally:
        http.clear()
        assert node.stop() == 0


def test_a_delete_still_works_when_recycle_dir_is_unusable(tmp_path):
    d = make_disk(tmp_path)
    d.write(blob_id(1), [b"a"])
    os.rmdir(d.root / "recycle")                      # removed by hand while the node runs
    assert d.delete(blob_id(1)) and not d.path_for(blob_id(1)).exists()
    assert d.recycler.stats()["files"] == 0
    d.write(blob_id(2), [b"b"])
    assert read_all(d, blob_id(2)) == b"b"


def test_with_a_capacity_recycled_files_hold_at_most_a_sixteenth_of_it(tmp_path):
    d = make_disk(tmp_path, capacity_bytes=160_000)
    assert d.recycler.max_bytes == 10_000
    for i in range(1, 4):
        d.write(blob_id(i), [b"c" * 4000])
    for i in range(1, 4):
        d.delete(blob_id(i))
    assert d.recycler.stats()["files"] == 2 and len(recycled(d)) == 2      # the third did not fit
