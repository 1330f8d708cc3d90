"""BlobStore: replicated blobs over storage nodes (the API the service layer uses).

Writes fan one stream out to ``replicas`` nodes and need ``write_quorum`` confirmations;
reads fail over between replicas, mid-stream, at the exact byte offset reached.
Works with real threads and under gevent monkey-patching (threads become greenlets).
"""
from __future__ import annotations

import contextlib
import itertools
import threading
import time
import uuid
from typing import Callable, Iterable, Iterator

import xxhash

from s3server.blobs.batcher import PendingWrite, WriteBatcher
from s3server.blobs.cache import BlobCache
from s3server.blobs.client import NodeClient
from s3server.blobs.deleter import BatchDeleter
from s3server.blobs.errors import BlobError, BlobNotFound, BlobUnavailable, NodeFull, QuorumError
from s3server.blobs.health import NodeHealth
from s3server.blobs.placement import nodes_for
from s3server.blobs.readrepair import ReadRepairer
from s3server.blobs.wire import Call
from s3server.blobs.writer import NodeUpload
from s3server.models import BlobRef

SMALL_BODY = 256 * 1024      # bodies up to this size are written without upload threads
BATCH_ITEM_MAX = 64 * 1024   # ... and up to this size combined with others per node (batcher.py)


class _QuorumLost(Exception):
    """Too few uploads are still alive to reach the write quorum."""


def _failures(uploads: list[NodeUpload]) -> str:
    """What went wrong with each failed upload, for error messages."""
    return "; ".join(f"{u.node_id}: {u.error!r}" for u in uploads if u.error is not None)


class BlobStore:
    """Blobs replicated over the nodes ``{node_id: url}``."""

    def __init__(self, nodes: dict[str, str], *, replicas: int = 3, write_quorum: int = 2,
                 timeout: float = 10.0, down_seconds: float = 5.0,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
                 clock: Callable[[], float] = time.monotonic, queue_depth: int = 4,
                 small_body: int = SMALL_BODY, cache_bytes: int = 0,
                 batch_item_max: int = BATCH_ITEM_MAX):
        if not nodes:
            raise ValueError("BlobStore needs at least one node")
        if not 1 <= write_quorum <= replicas:
            raise ValueError("need 1 <= write_quorum <= replicas")
        self.replicas = replicas
        self.write_quorum = write_quorum
        self.timeout = timeout
        self._clients = {n: NodeClient(n, url, timeout=timeout) for n, url in nodes.items()}
        self._health = NodeHealth(down_seconds, clock)
        self._new_id = new_id
        self._queue_depth = queue_depth
        self._small_body = small_body
        self._deleter = BatchDeleter(self._clients)
        # in-memory bodies up to ``batch_item_max`` bytes go to the nodes in batches
        self._batch_item_max = batch_item_max
        self._batchers = {n: WriteBatcher(c) for n, c in self._clients.items()}
        self.read_repair = ReadRepairer(self)
        # blobs up to ``small_body`` bytes that were read are kept in memory (see cache.py)
        self.cache = BlobCache(cache_bytes, small_body) if cache_bytes > 0 else None

    @property
    def node_ids(self) -> list[str]:
        return list(self._clients)

    def client(self, node_id: str) -> NodeClient:
        """The NodeClient for one configured node (for repair and tests)."""
        return self._clients[node_id]

    def close(self) -> None:
        """Finish the queued background deletes (waiting at most the timeout), then close
        every pooled connection."""
        self._deleter.stop(self.timeout)
        for c in self._clients.values():
            c.close()

    # -- write --------------------------------------------------------------------------
    def write_targets(self, blob_id: str) -> list[str]:
        """The ``replicas`` nodes a new blob goes to: rendezvous order, nodes known to be
        down moved behind the others (so more nodes than replicas absorb an outage)."""
        ranked = nodes_for(blob_id, self.node_ids, len(self._clients))
        return self._health.writable_first(ranked)[:self.replicas]

    def placement(self, blob_id: str) -> list[str]:
        """Where the blob belongs when every node is well: its ``replicas`` top nodes by
        rendezvous hashing over the configured nodes (repair rebalances towards it)."""
        return nodes_for(blob_id, self.node_ids, self.replicas)

    def write(self, chunks: Iterable[bytes], size: int | None = None) -> BlobRef:
        """Stream ``chunks`` once to the target nodes concurrently; return the BlobRef of
        the confirmed copies (placement order). QuorumError (copies deleted) if fewer than
        ``write_quorum`` confirm. If iterating ``chunks`` raises, every upload is broken
        off, completed copies deleted, and that same exception re-raised.

        A body that turns out to end within ``small_body`` bytes is read whole first and
        sent to every node from this thread (``_write_small``); a bigger one (or one whose
        declared ``size`` is bigger) streams through one NodeUpload per node."""
        if size is None or size <= self._small_body:
            it = iter(chunks)
            head, total = [], 0
            for chunk in it:
                if chunk:
                    head.append(chunk)
                    total += len(chunk)
                    if total > self._small_body:
                        break
            else:
                return self._write_small(b"".join(head), size)
            chunks = itertools.chain(head, it)
        return self._write_streamed(chunks, size)

    def _write_small(self, data: bytes, size: int | None) -> BlobRef:
        """Write an in-memory body: send a Content-Length PUT to every target node, then
        read their answers (each bounded by the client timeout, so a stalled node delays
        the write by at most that and never loses the other nodes' answers). A body up to
        ``batch_item_max`` bytes goes to each node through its WriteBatcher instead, in one
        request with the other writes waiting for that node (a stalled node then delays
        the write by at most twice the timeout: the batch before, then its own)."""
        if size is not None and len(data) != size:
            raise BlobError(f"expected {size} bytes, the stream gave {len(data)}")
        digest = xxhash.xxh3_128_hexdigest(data)
        blob_id = self._new_id()
        targets = self.write_targets(blob_id)
        calls: dict[str, Call | PendingWrite] = {}
        errors: dict[str, BlobError] = {}
        confirmed: list[str] = []
        batchers = self._batchers if len(data) <= self._batch_item_max else None
        try:
            for n in targets:
                try:
                    # a node that just failed gets single PUTs, each on its own clock,
                    # rather than writes queued behind a batch that may be stuck
                    if batchers is not None and batchers[n].batching and not self._health.is_down(n):
                        calls[n] = batchers[n].submit(blob_id, data)
                    else:
                        calls[n] = self._clients[n].begin_put(blob_id, data)
                except BlobError as exc:
                    errors[n] = exc
            for n in targets:
                call = calls.get(n)
                if call is None:
                    continue
                try:
                    if isinstance(call, PendingWrite):
                        # behind at most the batch in flight on that node, then in its own
                        result = call.wait(2 * self.timeout + 1)
                    else:
                        result = self._clients[n].end_put(call)
                except BlobError as exc:
                    del calls[n]
                    errors[n] = exc
                    continue
                del calls[n]
                if (result.get("size"), result.get("xxh3")) == (len(data), digest):
                    confirmed.append(n)
                    self._health.mark_up(n)
                else:  # the node stored something else: never count it
                    self._delete_copies(blob_id, [n])
        except BaseException:
            for n, call in calls.items():
                if isinstance(call, PendingWrite):   # cannot be called back: let it land, then go
                    self._deleter.submit([BlobRef(blob_id, len(data), (n,))])
                else:
                    call.abandon()
            self._delete_copies(blob_id, confirmed)
            raise
        for n, exc in errors.items():
            self._mark_failed(n, exc)
        if len(confirmed) < self.write_quorum:
            self._delete_copies(blob_id, confirmed)
            raise QuorumError(len(confirmed), self.write_quorum,
                              "; ".join(f"{n}: {e!r}" for n, e in errors.items()))
        return BlobRef(blob_id, len(data), tuple(confirmed))

    def _write_streamed(self, chunks: Iterable[bytes], size: int | None) -> BlobRef:
        """The streaming write: one NodeUpload (thread/greenlet, bounded queue) per node.
        Only the first target, the node reads go to, keeps its copy in its page cache; the
        others write theirs with O_DIRECT (their copies are read only on failover)."""
        blob_id = self._new_id()
        uploads = [NodeUpload(self._clients[n], blob_id, size, depth=self._queue_depth,
                              timeout=self.timeout, cache=i == 0)
                   for i, n in enumerate(self.write_targets(blob_id))]
        for u in uploads:
            u.start()
        try:
            total, digest = self._pump(chunks, uploads)
            if size is not None and total != size:
                raise BlobError(f"expected {size} bytes, the stream gave {total}")
        except _QuorumLost:
            self._abort(uploads, blob_id)
            self._note_failures(uploads)
            raise QuorumError(sum(not u.failed for u in uploads), self.write_quorum,
                              _failures(uploads)) from None
        except BaseException:
            self._abort(uploads, blob_id)
            raise
        confirmed = self._complete(uploads, total, digest)
        if len(confirmed) < self.write_quorum:
            self._delete_copies(blob_id, confirmed)
            raise QuorumError(len(confirmed), self.write_quorum, _failures(uploads))
        return BlobRef(blob_id, total, tuple(confirmed))

    def _pump(self, chunks: Iterable[bytes], uploads: list[NodeUpload]) -> tuple[int, str]:
        """Feed every chunk to every live upload; return (bytes, xxh3-128 hex)."""
        hasher, total = xxhash.xxh3_128(), 0
        for chunk in chunks:
            if not chunk:
                continue
            hasher.update(chunk)
            total += len(chunk)
            live = sum(u.feed(chunk) for u in uploads if not u.failed)
            if live < self.write_quorum:
                raise _QuorumLost()
        return total, hasher.hexdigest()

    def _complete(self, uploads: list[NodeUpload], total: int, digest: str) -> list[str]:
        """End every body, wait for the nodes; the node ids whose copy matches."""
        for u in uploads:
            if not u.failed:
                u.finish()
        confirmed = []
        for u in uploads:
            ok = u.wait(self.timeout * 3)
            if ok and (u.result.get("size"), u.result.get("xxh3")) == (total, digest):
                confirmed.append(u.node_id)
                self._health.mark_up(u.node_id)
            elif ok:  # the node stored something else: never count it
                self._delete_copies(u.blob_id, [u.node_id])
            else:
                self._mark_failed(u.node_id, u.error)
        return confirmed

    def _mark_failed(self, node_id: str, error: BaseException | None) -> None:
        """A node whose upload failed: full (507) or down, for the back-off period."""
        if isinstance(error, NodeFull):
            self._health.mark_full(node_id)
        else:
            self._health.mark_down(node_id)

    def _abort(self, uploads: list[NodeUpload], blob_id: str) -> None:
        """Break off every upload and remove any copy that completed anyway."""
        for u in uploads:
            u.abort()
        done = [u.node_id for u in uploads if u.wait(self.timeout) or u.result is not None]
        self._delete_copies(blob_id, done)

    def _note_failures(self, uploads: list[NodeUpload]) -> None:
        for u in uploads:
            if u.error is not None:
                self._mark_failed(u.node_id, u.error)

    def _delete_copies(self, blob_id: str, node_ids: Iterable[str]) -> None:
        for n in node_ids:
            with contextlib.suppress(BlobError):
                self._clients[n].delete(blob_id)

    # -- read ---------------------------------------------------------------------------
    def open(self, ref: BlobRef, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield bytes [start, end) of the blob (``end`` None or past the size: to the end),
        failing over between replicas at the exact offset reached. BlobUnavailable when no
        replica can continue; BlobNotFound if every replica said 404."""
        end = ref.size if end is None else min(end, ref.size)
        if start < 0 or start > end:
            raise ValueError(f"bad range [{start}, {end}) for a {ref.size}-byte blob")
        cache = self.cache
        if cache is not None and 0 < ref.size <= cache.max_blob:
            data = cache.get(ref.blob_id)
            if data is not None:
                return iter((data[start:end],) if start < end else ())
            return self._read_whole(ref, start, end)
        return self._read(ref, start, end)

    def _read_whole(self, ref: BlobRef, start: int, end: int) -> Iterator[bytes]:
        """A small blob: read all of it (with failover), keep it in the cache, yield the range."""
        data = b"".join(self._read(ref, 0, ref.size))
        if len(data) == ref.size:
            self.cache.put(ref.blob_id, data)
        if start < end:
            yield data[start:end]

    def _read(self, ref: BlobRef, start: int, end: int) -> Iterator[bytes]:
        pos, not_found, errors, failed = start, 0, [], []
        if pos == end:
            return
        order = self._health.up_first(list(ref.nodes))
        for node in order:
            client = self._clients.get(node)
            if client is None:
                errors.append(f"{node}: not configured")
                continue
            try:
                with contextlib.closing(client.get(ref.blob_id, pos, end)) as pieces:
                    for piece in pieces:
                        pos += len(piece)
                        yield piece
            except BlobNotFound as exc:
                not_found += 1
                errors.append(str(exc))
                failed.append(node)
                continue
            except BlobError as exc:
                self._health.mark_down(node)
                errors.append(str(exc))
                failed.append(node)
                continue
            self._health.mark_up(node)
            for bad in failed:         # its copy may be gone or quarantined: put it back
                self.read_repair.submit(ref, bad, (node,))
            return
        if not_found == len(order) and pos == start:
            raise BlobNotFound(f"blob {ref.blob_id}: no replica has it")
        raise BlobUnavailable(f"blob {ref.blob_id}: stopped at byte {pos} of [{start}, {end}): "
                              + "; ".join(errors))

    # -- repair -------------------------------------------------------------------------
    def copy(self, blob_id: str, size: int, sources: Iterable[str], target: str) -> str:
        """Stream the blob from the first of ``sources`` that can serve all of it to
        ``target``; return the source used. The source node checks every block as it
        sends (a bad block breaks the stream, nothing is published on the target), the
        copy must have ``size`` bytes, and the target's xxh3-128 of what it stored must
        equal ours of what we sent (otherwise the target copy is deleted). BlobError
        (``node_id`` = target) when the target fails; BlobUnavailable when no source can."""
        if target not in self._clients:
            raise BlobError(f"node {target} is not configured", node_id=target)
        dest = self._clients[target]
        errors = []
        for src in sources:
            client = self._clients.get(src)
            if client is None or src == target:
                continue
            hasher = xxhash.xxh3_128()

            def pieces(it: Iterator[bytes]) -> Iterator[bytes]:
                for piece in it:
                    hasher.update(piece)
                    yield piece

            try:
                if client.head(blob_id) != size:
                    raise BlobError(f"node {src}: copy of {blob_id} has the wrong size",
                                    node_id=src)
                body = client.get(blob_id)
                try:
                    result = dest.put(blob_id, pieces(body), size)
                finally:
                    body.close()
            except BlobError as exc:
                if exc.node_id == target:
                    (self._health.mark_full if isinstance(exc, NodeFull)
                     else self._health.mark_down)(target)
                    raise
                errors.append(str(exc))
                continue
            if (result.get("size"), result.get("xxh3")) != (size, hasher.hexdigest()):
                self._delete_copies(blob_id, [target])
                raise BlobError(f"node {target}: stored copy of {blob_id} differs from "
                                f"what {src} sent", node_id=target)
            return src
        raise BlobUnavailable(f"blob {blob_id}: no source could be copied to {target}: "
                              + "; ".join(errors or ["no source"]))

    # -- delete -------------------------------------------------------------------------
    def delete(self, ref: BlobRef) -> None:
        """Delete every copy in ``ref.nodes``; best effort (failures are left to repair)."""
        if self.cache is not None:
            self.cache.discard(ref.blob_id)
        self._delete_copies(ref.blob_id, [n for n in ref.nodes if n in self._clients])

    def delete_later(self, refs: Iterable[BlobRef]) -> None:
        """Delete every copy of each ref in the background (one long-lived thread/greenlet,
        one batch request per node for whatever is queued); returns at once. Best effort:
        what fails or is lost in a crash is left to repair's garbage collection."""
        if self.cache is not None:
            refs = list(refs)
            for ref in refs:
                self.cache.discard(ref.blob_id)
        self._deleter.submit(refs)

    # -- health -------------------------------------------------------------------------
    def node_health(self, timeout: float = 2.0) -> dict[str, bool]:
        """Probe every node's /health concurrently; {node_id: answered}. Updates the
        up/down marks used for placement and read order."""
        result: dict[str, bool] = {}

        def probe(node_id: str) -> None:
            try:
                self._clients[node_id].health(timeout=min(timeout, self.timeout))
                ok = True
            except BlobError:
                ok = False
            (self._health.mark_up if ok else self._health.mark_down)(node_id)
            result[node_id] = ok

        threads = [threading.Thread(target=probe, args=(n,), daemon=True) for n in self._clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 1)
        return {n: result.get(n, False) for n in self._clients}

    def healthy_nodes(self) -> int:
        """How many nodes answer /health now."""
        return sum(self.node_health().values())
