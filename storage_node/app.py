"""The storage node's HTTP API: bytes by blob id, nothing about S3.

    PUT    /blobs/{id}          201 {"id", "size", "xxh3"}   (400 bad id/size, 507 no space)
    GET    /blobs/{id}          200/206 verified data, Range: bytes=a-b | a-   (404, 416)
    HEAD   /blobs/{id}          200 Content-Length = size (404)
    DELETE /blobs/{id}          204 (idempotent)
           ?min_age=S           ... only if published at least S seconds ago, else 412
    POST   /blobs/delete        {"ids": [id, ...]} (at most 1000) -> 200 {"deleted": [ids it
                                had], "absent": [ids it did not]}; 400 (nothing deleted) for a
                                bad document or id
    POST   /blobs/write         X-Blobs: id:size,... (at most 128, 4 MiB in all), body = the
                                blobs back to back -> 200 {"blobs": [{"id", "size", "xxh3"} |
                                {"id", "status": 507|500, "error"}]} in order; 400 (nothing
                                stored) for a bad header, size sum or truncated body
    GET    /blobs?after=&limit= 200 {"blobs": [{"id", "size", "mtime"}], "next": id | null,
                                     "now": node clock (compare mtimes with it, not yours)}
    POST   /blobs/{id}/verify   200 {"id", "ok", "size"}   (404; a bad copy is quarantined)
    GET    /health, /ready      200 {"status": "ok", "node_id", "free_bytes", "used_bytes",
                                     "used_bytes_counted" (false while the start-up count of
                                     stored bytes runs), "capacity_bytes", "blobs_dir",
                                     "filesystem": {"mount_point", "type", "source", "device",
                                     "journal": true | false | null}}

A PUT that would exceed ``--capacity-bytes`` (or the file system's free space) is 507
Insufficient Storage with a description saying so; reads and deletes go on as usual.

Blob ids are 32 lowercase hex characters; anything else is 400 before any path is built.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import queue
import re
import threading
import time
from typing import Iterator

import falcon

from storage_node import fsinfo
from storage_node.blobfile import CorruptBlob
from storage_node.disk import Disk, SizeMismatch, TooYoung, valid_id
from storage_node.fsinfo import FsInfo
from storage_node.inventory import list_blobs
from storage_node.settings import NodeSettings
from storage_node.space import NoSpace

READ_PIECE = 256 * 1024       # 1 MiB saves CPU (fewer copies in gunicorn) but doubles RSS under concurrent uploads
MAX_LIMIT = 10000
log = logging.getLogger(__name__)
MAX_BATCH = 1000
MAX_BATCH_BODY = 1024 * 1024
MAX_WRITE_BATCH = 128                    # blobs in one POST /blobs/write
MAX_WRITE_BATCH_BODY = 4 * 1024 * 1024   # and their bytes
DRAIN_LIMIT = 8 * 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class Truncated(Exception):
    """The request body ended before its declared length."""


def _check_id(blob_id: str) -> None:
    if not valid_id(blob_id):
        raise falcon.HTTPBadRequest(title="invalid blob id")


def body_pieces(stream, length: int | None) -> Iterator[bytes]:
    """Read a request body in pieces: ``length`` bytes, or to the end of a chunked body.
    Raises Truncated if the client stops early."""
    received = 0
    while length is None or received < length:
        want = READ_PIECE if length is None else min(READ_PIECE, length - received)
        try:
            piece = stream.read(want)
        except Exception as exc:  # the server's body reader: broken chunking, disconnect
            raise Truncated(str(exc)) from exc
        if not piece:
            break
        received += len(piece)
        yield piece
    if length is not None and received < length:
        raise Truncated(f"got {received} of {length} bytes")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` -> [start, end) clipped to ``size``; None for no header.
    Raises HTTPRangeNotSatisfiable for a range outside the blob, 400 for bad syntax."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m:
        raise falcon.HTTPBadRequest(title="unsupported Range")
    start = int(m.group(1))
    end = int(m.group(2)) + 1 if m.group(2) else size
    if start >= size or end <= start:
        raise falcon.HTTPRangeNotSatisfiable(size)
    return start, min(end, size)


def _int_header(req: falcon.Request, name: str) -> int | None:
    value = req.get_header(name)
    if value is None:
        return None
    if not value.isdigit():
        raise falcon.HTTPBadRequest(title=f"bad {name}")
    return int(value)


class BlobResource:
    """/blobs/{blob_id}"""

    def __init__(self, disk: Disk):
        self.disk = disk

    def on_put(self, req: falcon.Request, resp: falcon.Response, blob_id: str) -> None:
        _check_id(blob_id)
        declared = _int_header(req, "X-Blob-Size")
        length = req.content_length
        if declared is not None and length is not None and declared != length:
            resp.set_header("Connection", "close")
            raise falcon.HTTPBadRequest(title="X-Blob-Size differs from Content-Length")
        body = body_pieces(req.stream, length)
        try:
            size, digest = self.disk.write(
                blob_id, body, expected=length if length is not None else declared,
                declared=declared, cache=req.get_header("X-Blob-Cache") != "none")
        except Truncated as exc:
            resp.set_header("Connection", "close")
            raise falcon.HTTPBadRequest(title="body truncated", description=str(exc))
        except SizeMismatch as exc:
            self._refuse(body, resp)
            raise falcon.HTTPBadRequest(title="body size", description=str(exc))
        except NoSpace as exc:
            self._refuse(body, resp)
            raise falcon.HTTPError(falcon.HTTP_507, title="insufficient storage",
                                   description=str(exc))
        resp.status = falcon.HTTP_201
        resp.content_type = falcon.MEDIA_JSON
        resp.data = b'{"id": "%s", "size": %d, "xxh3": "%s"}' % (blob_id.encode(), size,
                                                                 digest.encode())

    @staticmethod
    def _refuse(body: Iterator[bytes], resp: falcon.Response) -> None:
        """Before answering an error to a PUT: read (and drop) up to DRAIN_LIMIT more
        bytes of the body, so a client still sending sees our status instead of a reset;
        past the limit, or if the body is broken, close the connection."""
        drained = 0
        try:
            for piece in body:
                drained += len(piece)
                if drained > DRAIN_LIMIT:
                    break
            else:
                return
        except Truncated:
            pass
        resp.set_header("Connection", "close")

    def on_get(self, req: falcon.Request, resp: falcon.Response, blob_id: str) -> None:
        blob = self._open(blob_id)
        try:
            rng = parse_range(req.get_header("Range"), blob.size)
        except falcon.HTTPError:
            blob.close()
            raise
        start, end = rng or (0, blob.size)
        stream = self.disk.stream(blob, start, end)
        first = self._first_piece(stream, blob_id)
        if rng:
            resp.status = falcon.HTTP_206
            resp.set_header("Content-Range", f"bytes {start}-{end - 1}/{blob.size}")
        resp.content_length = end - start
        resp.content_type = "application/octet-stream"
        resp.set_header("Accept-Ranges", "bytes")
        resp.stream = itertools.chain(first, stream)

    def on_head(self, req: falcon.Request, resp: falcon.Response, blob_id: str) -> None:
        blob = self._open(blob_id)
        blob.close()
        resp.content_length = blob.size
        resp.content_type = "application/octet-stream"
        resp.set_header("Accept-Ranges", "bytes")

    def on_delete(self, req: falcon.Request, resp: falcon.Response, blob_id: str) -> None:
        _check_id(blob_id)
        min_age = req.get_param_as_float("min_age", min_value=0.0)
        try:
            self.disk.delete(blob_id, min_age=min_age)
        except TooYoung as exc:
            raise falcon.HTTPPreconditionFailed(title="blob too young", description=str(exc))
        resp.status = falcon.HTTP_204

    def _open(self, blob_id: str):
        _check_id(blob_id)
        try:
            return self.disk.open(blob_id)
        except (FileNotFoundError, CorruptBlob):
            raise falcon.HTTPNotFound(title="no such blob")

    @staticmethod
    def _first_piece(stream: Iterator[bytes], blob_id: str) -> list[bytes]:
        """Check the first block before answering, so a blob that is bad from its first
        requested block gets a clean 500 instead of a broken 200 (it is quarantined)."""
        try:
            return [next(stream)]
        except StopIteration:
            return []
        except CorruptBlob as exc:
            raise falcon.HTTPInternalServerError(title="corrupt blob", description=str(exc))


class BackgroundWork:
    """One thread that runs work handed to it at a low CPU priority (nice +``nice``, for this
    thread only), the caller waiting for the result. Used for the unlinks of batch deletes:
    a gateway sends each node one batch every 50 ms under a DELETE load, and each batch's
    burst of unlinks held the CPU from the requests clients were waiting for. Measured on the
    2-core machine (4 KiB objects, DELETE c=16, three rounds each way): p99 45-50 -> 30-34 ms at
    the same DELETE rate. The deletes still all happen, in the CPU's gaps; a batch is answered
    when it is done, as before."""

    def __init__(self, nice: int = 10):
        self._nice = nice
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, fn, *args):
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, daemon=True, name="background")
                    self._thread.start()
        done, box = threading.Event(), []
        self._queue.put((fn, args, done, box))
        done.wait()
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def _loop(self) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._nice)
        except (OSError, AttributeError):
            pass                       # no per-thread priority here: the work runs as it is
        while True:
            fn, args, done, box = self._queue.get()
            try:
                box.append(fn(*args))
            except BaseException as exc:   # handed back to the waiting request
                box.append(exc)
            done.set()


class BatchDeleteResource:
    """/blobs/delete: many unconditional deletes in one request (the gateway's deletes of
    replaced and removed objects). GC keeps using the per-id DELETE with ``min_age``."""

    def __init__(self, disk: Disk):
        self.disk = disk
        self._background = BackgroundWork()

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        length = req.content_length
        if length is None or length > MAX_BATCH_BODY:
            resp.set_header("Connection", "close")
            raise falcon.HTTPBadRequest(title="a batch needs a Content-Length up to 1 MiB")
        try:
            doc = json.loads(req.bounded_stream.read(length))
        except ValueError:
            raise falcon.HTTPBadRequest(title="bad JSON")
        ids = doc.get("ids") if isinstance(doc, dict) else None
        if (not isinstance(ids, list) or len(ids) > MAX_BATCH
                or not all(isinstance(b, str) and valid_id(b) for b in ids)):
            raise falcon.HTTPBadRequest(title=f"need {{\"ids\": [up to {MAX_BATCH} blob ids]}}")
        deleted, absent = self._background.run(self._delete_all, ids)
        resp.media = {"deleted": deleted, "absent": absent}

    def _delete_all(self, ids: list[str]) -> tuple[list[str], list[str]]:
        deleted, absent = [], []
        for blob_id in ids:
            (deleted if self.disk.delete(blob_id) else absent).append(blob_id)
        return deleted, absent


class BatchWriteResource:
    """/blobs/write: several small blobs in one request (the gateway's writes of small
    objects, combined while the node is busy with the previous batch). The body is the blobs'
    bytes one after another; ``X-Blobs: <id>:<size>,<id>:<size>,...`` names them, in order,
    and their sizes add up to the Content-Length. Each blob is stored on its own terms (see
    ``Disk.write_many``): the answer gives, in order, ``{"id", "size", "xxh3"}`` for a stored
    blob and ``{"id", "status", "error"}`` (507 no space, 500 other) for one that is not."""

    def __init__(self, disk: Disk):
        self.disk = disk

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        length = req.content_length
        if length is None or length > MAX_WRITE_BATCH_BODY:
            resp.set_header("Connection", "close")
            raise falcon.HTTPBadRequest(
                title=f"a write batch needs a Content-Length up to {MAX_WRITE_BATCH_BODY} bytes")
        items = self._parse(req.get_header("X-Blobs") or "")
        if items is None or sum(size for _, size in items) != length:
            resp.set_header("Connection", "close")
            raise falcon.HTTPBadRequest(
                title=f"need X-Blobs: <id>:<size>,... (up to {MAX_WRITE_BATCH} distinct ids) "
                      "whose sizes add up to the Content-Length")
        try:
            body = b"".join(body_pieces(req.stream, length))
        except Truncated as exc:
            resp.set_header("Connection", "close")
            raise falcon.HTTPBadRequest(title="body truncated", description=str(exc))
        blobs, at = [], 0
        for blob_id, size in items:
            blobs.append((blob_id, body[at:at + size]))
            at += size
        out = []
        for (blob_id, _), result in zip(blobs, self.disk.write_many(blobs)):
            if isinstance(result, tuple):
                out.append(b'{"id": "%s", "size": %d, "xxh3": "%s"}'
                           % (blob_id.encode(), result[0], result[1].encode()))
            else:
                status = 507 if isinstance(result, NoSpace) else 500
                out.append(json.dumps({"id": blob_id, "status": status,
                                       "error": str(result) or type(result).__name__}).encode())
        resp.content_type = falcon.MEDIA_JSON
        resp.data = b'{"blobs": [' + b", ".join(out) + b"]}"

    @staticmethod
    def _parse(header: str) -> list[tuple[str, int]] | None:
        items, seen = [], set()
        for part in header.split(","):
            blob_id, sep, size = part.strip().partition(":")
            if not sep or not valid_id(blob_id) or blob_id in seen or not size.isdigit():
                return None
            seen.add(blob_id)
            items.append((blob_id, int(size)))
        return items if 0 < len(items) <= MAX_WRITE_BATCH else None


class VerifyResource:
    """/blobs/{blob_id}/verify"""

    def __init__(self, disk: Disk):
        self.disk = disk

    def on_post(self, req: falcon.Request, resp: falcon.Response, blob_id: str) -> None:
        _check_id(blob_id)
        try:
            ok, size = self.disk.verify(blob_id)
        except FileNotFoundError:
            raise falcon.HTTPNotFound(title="no such blob")
        resp.media = {"id": blob_id, "ok": ok, "size": size}


class InventoryResource:
    """/blobs"""

    def __init__(self, disk: Disk):
        self.disk = disk

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        after = req.get_param("after") or ""
        if after and not valid_id(after):
            raise falcon.HTTPBadRequest(title="invalid after")
        limit = req.get_param_as_int("limit", min_value=1, max_value=MAX_LIMIT) or 1000
        now = time.time()
        blobs, nxt = list_blobs(self.disk.blobs_dir, after, limit)
        resp.media = {"blobs": blobs, "next": nxt, "now": now}


class HealthResource:
    """/health and /ready"""

    def __init__(self, disk: Disk, node_id: str, filesystem: FsInfo | None = None):
        self.disk = disk
        self.node_id = node_id
        self.filesystem = (filesystem or fsinfo.describe(disk.root)).as_dict()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        space = self.disk.space
        resp.media = {"status": "ok", "node_id": self.node_id,
                      "free_bytes": space.free_bytes(), "used_bytes": space.used_bytes(),
                      "used_bytes_counted": space.counted,
                      "capacity_bytes": space.capacity,
                      "blobs_dir": str(self.disk.blobs_dir), "filesystem": self.filesystem,
                      "recycled": self.disk.recycler.stats()}


class ReadyResource(HealthResource):
    """/ready: the node can serve blobs. 503 when its blobs directory cannot be read (a lost or
    unmounted volume). A full or read-only disk stays ready (reads go on; writes are refused
    with 507 and go to other nodes), so it reports ``writable`` instead of failing."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        super().on_get(req, resp)
        try:
            os.listdir(self.disk.blobs_dir)
        except OSError as exc:
            resp.status = falcon.HTTP_503
            resp.media = {"status": "unavailable", "node_id": self.node_id, "reason": str(exc)}
            return
        resp.media = {**resp.media, "status": "ready",
                      "writable": os.access(self.disk.tmp_dir, os.W_OK) and self.disk.space.free_bytes() > 0}


def _bad_blob_path(req: falcon.Request, resp: falcon.Response, **_) -> None:
    """Any /blobs/... path no route matched (``../x``, extra segments): 400."""
    raise falcon.HTTPBadRequest(title="invalid blob id")


def create_app(settings: NodeSettings, disk: Disk | None = None) -> falcon.App:
    """Build the node's WSGI app. Prepares the data dir (creates it, drops temp files older
    than ``settings.temp_max_age``) and logs a warning if its file system is a poor home for
    blobs (see ``fsinfo``)."""
    disk = disk or Disk(settings)
    disk.prepare()
    filesystem = fsinfo.describe(disk.root)
    for warning in fsinfo.advice(filesystem):
        log.warning("node %s: %s", settings.node_id, warning)
    app = falcon.App()
    app.add_route("/blobs", InventoryResource(disk))
    app.add_route("/blobs/{blob_id}", BlobResource(disk))
    app.add_route("/blobs/delete", BatchDeleteResource(disk))
    app.add_route("/blobs/write", BatchWriteResource(disk))
    app.add_route("/blobs/{blob_id}/verify", VerifyResource(disk))
    app.add_route("/health", HealthResource(disk, settings.node_id, filesystem))
    app.add_route("/ready", ReadyResource(disk, settings.node_id, filesystem))
    app.add_sink(_bad_blob_path, prefix=r"^/blobs/")
    return app
