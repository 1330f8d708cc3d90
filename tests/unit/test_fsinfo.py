"""storage_node.fsinfo: which file system holds a node's data, and the warnings a node logs.

The parsing runs on fake /proc and /sys trees (so every case is covered on any machine); the
last tests ask the real kernel and a real node process and cross-check with ``findmnt``."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import urllib3

from storage_node import fsinfo
from tests.unit.test_storage_node import start_nodes

MOUNTINFO = "\n".join([
    "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard",
    "23 22 0:21 / /proc rw,nosuid shared:2 - proc proc rw",
    "30 22 0:25 / /dev/shm rw,nosuid,nodev shared:3 - tmpfs tmpfs rw",
    "41 22 7:0 / /mnt/j rw,relatime shared:9 - ext4 /dev/loop0 rw",
    "42 22 253:16 / /srv/my\\040data rw,relatime - xfs /dev/vdb rw,attr2",
    "43 41 0:40 / /mnt/j/inner rw - overlay overlay rw,lowerdir=/a",
    "44 22 7:1 / /mnt/j2 rw - ext4 /dev/loop1 rw",
    "garbage line without a separator",
])


@pytest.fixture
def fake_proc(tmp_path):
    """/proc with the mountinfo above, a jbd2 journal for loop0 only, ext4 entries for vda,
    loop0 and loop1; /sys/dev/block links for the block devices."""
    proc, sys_ = tmp_path / "proc", tmp_path / "sys"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "mountinfo").write_text(MOUNTINFO + "\n")
    (proc / "fs" / "jbd2" / "loop0-8").mkdir(parents=True)
    for dev in ("vda", "loop0", "loop1"):
        (proc / "fs" / "ext4" / dev).mkdir(parents=True)
    (sys_ / "dev" / "block").mkdir(parents=True)
    for majmin, name in (("253:0", "vda"), ("7:0", "loop0"), ("7:1", "loop1"), ("253:16", "vdb")):
        os.symlink(f"../../devices/virtual/block/{name}", sys_ / "dev" / "block" / majmin)
    return str(proc)


@pytest.mark.parametrize("path, fstype, source, device, journal", [
    ("/var/lib/node-0", "ext4", "/dev/vda", "vda", False),       # the root: ext4 without a journal
    ("/", "ext4", "/dev/vda", "vda", False),
    ("/mnt/j/node-0/blobs", "ext4", "/dev/loop0", "loop0", True),
    ("/mnt/j2", "ext4", "/dev/loop1", "loop1", False),
    ("/mnt/jx", "ext4", "/dev/vda", "vda", False),               # a prefix of a mount point is not in it
    ("/mnt/j/inner/x", "overlay", "overlay", "", None),
    ("/srv/my data/n", "xfs", "/dev/vdb", "vdb", True),          # octal escapes in mount points
    ("/dev/shm/n", "tmpfs", "tmpfs", "", None),
])
def test_describe(fake_proc, monkeypatch, path, fstype, source, device, journal):
    monkeypatch.setattr(fsinfo.os.path, "realpath", lambda p: str(p))
    info = fsinfo.describe(path, proc=fake_proc)
    assert (info.fstype, info.source, info.device, info.journal) == (fstype, source, device, journal)


def test_describe_without_proc(tmp_path):
    info = fsinfo.describe("/x", proc=str(tmp_path / "nothing"))
    assert info.fstype == "unknown" and info.journal is None and fsinfo.advice(info) == []


def test_ext4_unknown_to_the_kernel_is_not_called_journal_less(fake_proc, monkeypatch):
    """No /proc/fs/ext4/<dev> entry: nothing is known, so nothing is claimed."""
    shutil.rmtree(os.path.join(fake_proc, "fs", "ext4", "vda"))
    monkeypatch.setattr(fsinfo.os.path, "realpath", lambda p: str(p))
    info = fsinfo.describe("/n", proc=fake_proc)
    assert info.fstype == "ext4" and info.journal is None and fsinfo.advice(info) == []


def test_advice():
    no_journal = fsinfo.FsInfo("/", "ext4", "/dev/vda", "vda", False)
    [text] = fsinfo.advice(no_journal)
    assert "/dev/vda" in text and "no journal" in text and "fsck" in text
    [text] = fsinfo.advice(fsinfo.FsInfo("/dev/shm", "tmpfs", "tmpfs", "", None))
    assert "in memory" in text and "lost when the machine restarts" in text
    for quiet in (fsinfo.FsInfo("/", "ext4", "/dev/vda", "vda", True),
                  fsinfo.FsInfo("/", "xfs", "/dev/vdb", "vdb", True),
                  fsinfo.FsInfo("/", "overlay", "overlay", "", None)):
        assert fsinfo.advice(quiet) == []


def _mount_of(path) -> tuple[str, str]:
    """(source, type) of the mount holding ``path`` from another source than fsinfo reads:
    ``findmnt`` (util-linux), or else ``/proc/mounts``."""
    if shutil.which("findmnt"):
        out = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "--target", str(path)],
                             capture_output=True, text=True, check=True).stdout.split()
        return out[0], out[1]
    real, best = os.path.realpath(path), ("", "", "")
    with open("/proc/mounts") as f:
        for line in f:
            source, point, fstype = line.split()[:3]
            if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) >= len(best[1]):
                best = (source, point, fstype)
    return best[0], best[2]


def test_real_kernel_agrees_with_another_view(tmp_path):
    info = fsinfo.describe(tmp_path)
    source, fstype = _mount_of(tmp_path)
    assert (info.source, info.fstype) == (source, fstype)
    if fstype in fsinfo.EXT:
        assert info.journal is (any(j.rsplit("-", 1)[0] == info.device for j in os.listdir("/proc/fs/jbd2"))
                                if os.path.isdir("/proc/fs/jbd2") else False)


def test_node_reports_and_warns(tmp_path):
    """A real node: /health names its data dir's file system, and the node's log carries the
    warning exactly when ``advice`` has one for it."""
    n = start_nodes(tmp_path, 1)[0]
    try:
        with urllib3.PoolManager(retries=False, timeout=5) as http:
            fs = json.loads(http.request("GET", n.url + "/health").data)["filesystem"]
        expected = fsinfo.describe(n.data_dir)
        assert fs == expected.as_dict() and fs["type"] not in ("", "unknown")
        warned = "has no journal" in n.log_text() or "is in memory" in n.log_text()
        assert warned == bool(fsinfo.advice(expected))
    finally:
        n.stop()
