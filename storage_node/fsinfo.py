"""What file system holds a node's data directory, and what an operator should know about it.

A node's promise (a blob acknowledged is on disk, a crash leaves the old copy or the new one)
rests on fsync and rename, and its speed on how cheaply the file system creates files:

* **ext4 without a journal** (``mkfs.ext4 -O ^has_journal``; some VM images ship their root
  file system this way) keeps fsynced data, but a crash can leave its metadata for ``fsck``
  to mend, and it creates files slowly after deletes: to avoid reusing an inode whose
  deletion may not be on disk yet, ext4 without a journal skips every inode freed in the last
  60 seconds (up to 6 minutes while its inode table block is dirty), one buffer-cache lookup
  each, on every file it creates. A node creates a file per blob copy and deletes one per
  deleted copy, so under PUTs and DELETEs that scan took 30-50% of the nodes' CPU on the
  development VM (see docs/performance.md, Reading it).
* **tmpfs / ramfs**: memory; every blob is lost when the machine restarts.

``describe(path)`` reads ``/proc/self/mountinfo`` (the mount holding ``path``) and, for ext2/3/4,
whether the kernel runs a journal for it (``/proc/fs/jbd2/<device>-*``); ``advice(info)``
turns that into the warnings the node logs at start. Linux only: elsewhere the type is
"unknown" and nothing is said.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

EXT = ("ext2", "ext3", "ext4")
MEMORY = ("tmpfs", "ramfs")
_OCTAL = re.compile(r"\\([0-7]{3})")
JOURNALED = ("xfs", "btrfs", "zfs", "f2fs", "jfs", "reiserfs", "nilfs2", "bcachefs")


@dataclass(frozen=True)
class FsInfo:
    mount_point: str
    fstype: str
    source: str           # what was mounted (/dev/vda, overlay, tmpfs...)
    device: str           # the kernel's name of the block device (vda, dm-0, loop0), "" if none
    journal: bool | None  # None: not known (or not a question for this type)

    def as_dict(self) -> dict:
        return {"mount_point": self.mount_point, "type": self.fstype, "source": self.source,
                "device": self.device, "journal": self.journal}


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[tuple[str, str, str, str]]:
    """``(mount_point, fstype, source, major:minor)`` per line of ``/proc/<pid>/mountinfo``
    (fields: id, parent, major:minor, root, mount point, options, optional fields..., "-",
    type, source, super options)."""
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
            mounts.append((_unescape(fields[4]), fields[sep + 1], _unescape(fields[sep + 2]), fields[2]))
        except (ValueError, IndexError):
            continue
    return mounts


def mount_for(path: str, mounts: list[tuple[str, str, str, str]]) -> tuple[str, str, str, str] | None:
    """The mount holding ``path`` (an absolute, resolved path): the longest mount point that
    is ``path`` or one of its parents; of several at the same point, the last (it hides the
    others)."""
    best = None
    for m in mounts:
        point = m[0]
        if path == point or path.startswith(point.rstrip("/") + "/"):
            if best is None or len(point) >= len(best[0]):
                best = m
    return best


def _device_name(majmin: str, proc: str) -> str:
    """The block device's kernel name for ``major:minor`` (``/sys/dev/block/M:m`` links to it)."""
    sys_root = os.path.join(os.path.dirname(proc.rstrip("/")) or "/", "sys")
    try:
        return os.path.basename(os.readlink(os.path.join(sys_root, "dev", "block", majmin)))
    except OSError:
        return ""


def _ext_journal(device: str, proc: str) -> bool | None:
    """True if the kernel runs a jbd2 journal for ``device`` (``/proc/fs/jbd2/<device>-<ino>``),
    False if it knows the ext file system (``/proc/fs/ext4/<device>``) but runs none."""
    if not device:
        return None
    try:
        journals = os.listdir(os.path.join(proc, "fs", "jbd2"))
    except FileNotFoundError:
        journals = []
    except OSError:
        return None
    if any(j.rsplit("-", 1)[0] == device for j in journals):
        return True
    return False if os.path.isdir(os.path.join(proc, "fs", "ext4", device)) else None


def describe(path: str | os.PathLike, *, proc: str = "/proc") -> FsInfo:
    """The file system holding ``path`` (see the module docstring)."""
    real = os.path.realpath(path)
    try:
        with open(os.path.join(proc, "self", "mountinfo")) as f:
            found = mount_for(real, parse_mountinfo(f.read()))
    except OSError:
        found = None
    if found is None:
        return FsInfo("", "unknown", "", "", None)
    point, fstype, source, majmin = found
    device = _device_name(majmin, proc) if not majmin.startswith("0:") else ""
    if fstype in EXT:
        journal = _ext_journal(device, proc)
    elif fstype in JOURNALED:
        journal = True
    else:
        journal = None
    return FsInfo(point, fstype, source, device, journal)


def advice(info: FsInfo) -> list[str]:
    """What an operator should hear about this file system (empty: nothing)."""
    where = f"{info.source} ({info.fstype}, mounted on {info.mount_point})"
    if info.fstype in EXT and info.journal is False:
        return [f"data directory on {where} has no journal: a crash may need fsck, and creating files "
                "after deletes costs much CPU (the node reuses deleted small blobs' files to avoid most of "
                "it); use a journaled file system (docs/operations.md, Deploy on Kubernetes)"]
    if info.fstype in MEMORY:
        return [f"data directory on {where} is in memory: every blob here is lost when the machine restarts"]
    return []
