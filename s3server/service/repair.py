"""Repair: re-replicate, scrub, garbage-collect and rebalance blobs. HTTP-free.

One pass (``Repairer.run``) compares the node inventories with the metadata:

1. **Inventory.** List every configured node (``GET /blobs``: id, size, mtime and the
   node's clock). A node that does not answer is *unreachable* for the whole pass: no
   copy there is counted, made, trimmed or collected.
2. **Blobs in use.** Stream every (row, blob) the metadata references. For each blob:
   the *holders* are the reachable nodes whose copy has the right size (a copy missing
   from an inventory but listed in metadata is confirmed with HEAD, since the blob may
   be newer than the listing). With scrub on, every holder re-checks every block
   (``POST /blobs/{id}/verify``); a bad copy is quarantined by its node and stops being
   a holder. A pass may scrub only a share of the blobs (``scrub_share`` = (i, n): the
   blobs whose id falls in slice i of n; background passes take turns, see
   ``scrub_share_at``), and paces its verify reads to ``scrub_rate`` bytes per second.
   Then, from a holder (the source node verifies each block as it streams, and the
   target's xxh3-128 must equal ours of the bytes sent):
   - **re-replicate**: fewer than ``replicas`` holders -> copy to the blob's placement
     nodes (rendezvous over the configured nodes), then to the next-ranked reachable
     nodes if some placement node is unreachable;
   - **rebalance**: a placement node without a copy gets one even when there are enough
     elsewhere (nodes were added); once every placement node holds a verified copy, the
     surplus copies are dropped from the metadata and then deleted from their nodes.
   The row's node list is updated with add/remove edits under a row lock
   (``MetadataStore.update_blob_nodes``), so edits from concurrent repairs compose and
   an object overwritten or deleted meanwhile is left alone (the copy just made becomes
   an orphan for a later GC).
3. **GC.** A node copy whose blob id the scan did not see, and which is at least
   ``gc_grace_seconds`` old by the node's own clock, is a candidate. Candidates are
   re-checked in batches with ``referenced_blob_ids`` (one SQL statement, one snapshot)
   and the rest deleted with ``DELETE /blobs/{id}?min_age=grace``.

Why GC never deletes a blob that a write in flight, or another repair, still needs:

* A blob becomes referenced only by the commit that follows its own upload: PUT and
  UploadPart publish the blob on the nodes, then commit the row (seconds later; bounded
  by the node and database timeouts). CompleteMultipartUpload and repair's node-list
  edits only move or edit references to blobs that are *already* referenced. So a blob
  that nothing references and that was published more than the grace period ago will
  never be referenced again: the grace period must exceed the longest publish-to-commit
  delay (the default, an hour, exceeds it by orders of magnitude).
* The metadata scan is not a snapshot (it pages), so a reference moving between tables
  (Complete moves part blobs into the object row) can be missed: hence the re-check,
  which is a single statement over both tables, made after the candidate's grace period
  has already passed.
* The age is measured on the node (its mtime against its clock: no clock skew between
  hosts), and the node deletes only if the copy is *still* that old, atomically with
  publishing: a copy re-written meanwhile (another repair re-replicating it) is kept.
* A pass whose metadata scan fails (database outage) stops before GC; a node that did
  not answer its inventory is never collected from.
* Node lists only lose a node that was seen (HEAD / verify) not to hold a good copy, or
  a surplus copy once every placement node was just verified to hold one; readers that
  still try a removed copy fail over to the next replica.

So several repairs (several gateway pods, or ``s3server repair`` next to the loop in
``serve``) may run at once: at worst they do some work twice. On PostgreSQL an advisory
lock (``try_lock_repair``) keeps the background loops from overlapping anyway.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator

from s3server.blobs import BlobError, BlobNotFound
from s3server.blobs.placement import nodes_for
from s3server.service.inventory import Inventory, NodeInventory
from s3server.service.pace import Pace, in_share

log = logging.getLogger("s3server.repair")

GC_CHECK_BATCH = 5000    # GC candidates re-checked against the metadata per statement
WORKERS = 4
MAX_EVENTS = 10_000   # kept in a Report (all of them still go to ``on_event``)

COUNTERS = (
    "blobs", "copies_ok", "copies_missing", "copies_bad", "copies_verified",
    "copies_made", "bytes_copied", "copies_trimmed", "metadata_updates", "under_replicated",
    "no_good_copy",
    "orphans_seen", "orphans_young", "orphans_rescued", "orphans_deleted", "errors",
)


@dataclass
class Report:
    """What one pass found and did. ``events`` is one dict per action taken."""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    unreachable: list[str] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    completed: bool = False
    scrub_share: str = "all"
    events_dropped: int = 0       # beyond MAX_EVENTS

    def summary(self) -> dict:
        return {"event": "summary", "completed": self.completed, **self.counts,
                "unreachable_nodes": self.unreachable, "scrub_share": self.scrub_share,
                "seconds": round(self.seconds, 3)}


class Repairer:
    """Runs repair passes over ``store`` (a MetadataStore) and ``blobs`` (a BlobStore)."""

    def __init__(self, store, blobs, *, gc_grace_seconds: float, scrub: bool = True,
                 gc: bool = True, rebalance: bool = True, dry_run: bool = False,
                 on_event: Callable[[dict], None] | None = None, workers: int = WORKERS,
                 scrub_share: tuple[int, int] = (0, 1), scrub_rate: float = 0.0,
                 sleep: Callable[[float], None] = time.sleep):
        index, count = scrub_share
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"bad scrub share {index}/{count}")
        self.store = store
        self.blobs = blobs
        self.grace = float(gc_grace_seconds)
        self.scrub = scrub
        self.scrub_share = (index, count)
        self._pace = Pace(scrub_rate, sleep=sleep)
        self.gc = gc
        self.rebalance = rebalance
        self.dry_run = dry_run
        self.on_event = on_event
        self.workers = workers
        self._lock = threading.Lock()

    # -- bookkeeping --------------------------------------------------------------------
    def _count(self, report: Report, name: str, n: int = 1) -> None:
        with self._lock:
            report.counts[name] += n

    def _event(self, report: Report, **event) -> None:
        with self._lock:
            if len(report.events) < MAX_EVENTS:
                report.events.append(event)
            else:
                report.events_dropped += 1
        if self.on_event is not None:
            self.on_event(event)

    # -- the pass -----------------------------------------------------------------------
    def run(self) -> Report:
        """One full pass. Metadata unavailability propagates (``meta.errors.Unavailable``)
        and the pass stops before GC; node failures are counted and worked around."""
        report = Report()
        if self.scrub:
            index, count = self.scrub_share
            report.scrub_share = "all" if count == 1 else f"{index}/{count}"
        else:
            report.scrub_share = "none"
        started = time.monotonic()
        inventory = self._inventory(report)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="repair") as pool:
            pending: deque[Future] = deque()
            for use in self._uses(inventory):
                pending.append(pool.submit(self._repair_use, use, inventory, report))
                if len(pending) >= self.workers * 4:
                    pending.popleft().result()   # bounded in flight; re-raises
            while pending:
                pending.popleft().result()
        if self.gc:
            self._collect(inventory, report)
        report.completed = True
        report.seconds = time.monotonic() - started
        return report

    def _uses(self, inventory: Inventory) -> Iterator:
        for use in self.store.iter_blob_uses():
            inventory.mark(use.blob.blob_id)
            yield use

    def _inventory(self, report: Report) -> Inventory:
        inv = Inventory()
        for node in self.blobs.node_ids:
            try:
                entries = NodeInventory()
                for e, now in self.blobs.client(node).iter_inventory():
                    entries.add(e["id"], e["size"], now - e["mtime"])
                inv.nodes[node] = entries.finish()
            except BlobError as exc:
                inv.nodes[node] = None
                report.unreachable.append(node)
                self._event(report, event="node_unreachable", node=node, error=str(exc))
        return inv

    # -- one blob reference -------------------------------------------------------------
    def _repair_use(self, use, inventory: Inventory, report: Report) -> None:
        try:
            self._repair_blob(use, inventory, report)
        except BlobError as exc:
            self._count(report, "errors")
            self._event(report, event="error", blob=use.blob.blob_id, error=str(exc))

    def _holds(self, node: str, blob, listed: bool, inventory: Inventory,
               report: Report) -> bool:
        """Whether reachable ``node`` has a copy of the right size (not yet verified)."""
        entry = inventory.nodes[node].get(blob.blob_id)
        if entry is not None:
            if entry[0] == blob.size:
                return True
            # wrong size or unreadable trailer (truncated): let the node quarantine it
            self._count(report, "copies_bad")
            self._event(report, event="bad_copy", blob=blob.blob_id, node=node,
                        reason=f"size {entry[0]} instead of {blob.size}")
            if not self.dry_run:
                try:
                    self.blobs.client(node).verify(blob.blob_id)
                except BlobError:
                    pass
            return False
        if not listed:
            return False
        try:   # listed but not in the inventory: maybe newer than the listing
            return self.blobs.client(node).head(blob.blob_id) == blob.size
        except BlobNotFound:
            return False

    def _verified(self, node: str, blob_id: str, size: int, report: Report) -> bool:
        self._pace.take(size)      # the node reads the whole copy
        try:
            ok = bool(self.blobs.client(node).verify(blob_id).get("ok"))
        except BlobNotFound:
            ok = False
        self._count(report, "copies_verified")
        if not ok:
            self._count(report, "copies_bad")
            self._event(report, event="bad_copy", blob=blob_id, node=node,
                        reason="block checksum (quarantined by the node)")
        return ok

    def _repair_blob(self, use, inventory: Inventory, report: Report) -> None:
        blob = use.blob
        bid = blob.blob_id
        self._count(report, "blobs")
        reachable = inventory.reachable()
        configured = set(self.blobs.node_ids)
        listed = set(blob.nodes)
        holders = [n for n in reachable
                   if self._holds(n, blob, n in listed, inventory, report)]
        missing = [n for n in blob.nodes if n in reachable and n not in holders]
        if missing:
            self._count(report, "copies_missing", len(missing))
        verified: set[str] = set()
        if self.scrub and in_share(bid, self.scrub_share):
            good = [n for n in holders if self._verified(n, bid, blob.size, report)]
            verified = set(good)
            holders = good
        self._count(report, "copies_ok", len(holders))
        if not holders:
            # nothing good left on a reachable node: change nothing (an unreachable node may
            # still have it; bad copies wait in the nodes' quarantine/ for an operator)
            self._count(report, "no_good_copy")
            self._event(report, event="no_good_copy", blob=bid, table=use.table,
                        row=list(use.row), listed=list(blob.nodes))
            return

        replicas = self.blobs.replicas
        placement = self.blobs.placement(bid)
        ranked = nodes_for(bid, self.blobs.node_ids, len(self.blobs.node_ids))
        targets = [n for n in placement if n in reachable and n not in holders]
        if not self.rebalance:
            targets = targets[:max(replicas - len(holders), 0)]
        short = replicas - len(holders) - len(targets)
        if short > 0:
            spare = [n for n in ranked if n in reachable and n not in holders
                     and n not in targets]
            targets += spare[:short]
        made = []
        for target in targets:
            if self._copy(blob, holders + made, target, report):
                made.append(target)
                verified.add(target)
        holders = holders + made
        if len(holders) < replicas:
            self._count(report, "under_replicated")
            self._event(report, event="under_replicated", blob=bid, copies=len(holders),
                        nodes=holders)

        trim: list[str] = []
        if self.rebalance and all(n in holders for n in placement):
            surplus = [n for n in holders if n not in placement]
            if surplus and all(n in verified or self._verified(n, bid, blob.size, report)
                               for n in placement):
                trim = surplus
        keep = [n for n in holders if n not in trim]
        add = tuple(n for n in keep if n not in listed)
        # drop: nodes seen without a good copy, nodes no longer configured (when enough
        # copies exist elsewhere), and the surplus being trimmed
        remove = [n for n in blob.nodes if n in reachable and n not in keep]
        if len(keep) >= replicas:
            remove += [n for n in blob.nodes if n not in configured]
        if add or remove:
            self._update(use, add, tuple(remove), report)
        for node in trim:
            self._event(report, event="trim", blob=bid, node=node)
            if not self.dry_run:
                self.blobs.client(node).delete(bid)
            self._count(report, "copies_trimmed")

    def _copy(self, blob, sources: list[str], target: str, report: Report) -> bool:
        self._event(report, event="copy", blob=blob.blob_id, to=target, size=blob.size)
        if self.dry_run:
            return False
        try:
            src = self.blobs.copy(blob.blob_id, blob.size, sources, target)
        except BlobError as exc:
            self._count(report, "errors")
            self._event(report, event="copy_failed", blob=blob.blob_id, to=target,
                        error=str(exc))
            return False
        self._count(report, "copies_made")
        self._count(report, "bytes_copied", blob.size)
        log.info("repair: copied blob %s from %s to %s", blob.blob_id, src, target)
        return True

    def _update(self, use, add: tuple[str, ...], remove: tuple[str, ...], report: Report) -> None:
        self._event(report, event="nodes", blob=use.blob.blob_id, table=use.table,
                    row=list(use.row), add=list(add), remove=list(remove))
        if self.dry_run:
            return
        if self.store.update_blob_nodes(use, add=add, remove=remove) is not None:
            self._count(report, "metadata_updates")

    # -- garbage collection -------------------------------------------------------------
    def _collect(self, inventory: Inventory, report: Report) -> None:
        """The candidates of every node, each blob id once, re-checked GC_CHECK_BATCH at a
        time (a check is one pass over the metadata tables, whatever its size), then the
        copies still unreferenced deleted node by node."""
        candidates: dict[str, list[str]] = {}      # blob id -> nodes with an old unreferenced copy
        for node, entries in inventory.nodes.items():
            if entries is None:
                continue
            for bid, age in entries.unreferenced():
                self._count(report, "orphans_seen")
                if age < self.grace:
                    self._count(report, "orphans_young")
                else:
                    candidates.setdefault(bid, []).append(node)
        ids = list(candidates)
        for i in range(0, len(ids), GC_CHECK_BATCH):
            batch = ids[i:i + GC_CHECK_BATCH]
            still = self.store.referenced_blob_ids(batch)
            if still:
                self._count(report, "orphans_rescued", sum(len(candidates[b]) for b in still))
            doomed: dict[str, list[str]] = {}
            for bid in batch:
                if bid not in still:
                    for node in candidates[bid]:
                        doomed.setdefault(node, []).append(bid)
            for node, bids in doomed.items():
                self._delete_orphans(node, bids, report)

    def _delete_orphans(self, node: str, bids: list[str], report: Report) -> None:
        client = self.blobs.client(node)
        for bid in bids:
            self._event(report, event="gc", blob=bid, node=node)
            if self.dry_run:
                continue
            try:
                if client.delete(bid, min_age=self.grace):
                    self._count(report, "orphans_deleted")
                else:
                    self._count(report, "orphans_young")
            except BlobError as exc:
                self._count(report, "errors")
                self._event(report, event="error", blob=bid, node=node, error=str(exc))


def run_forever(make_repairer: Callable[[], Repairer], interval: float,
                stop: threading.Event, *, lock: Callable[[], object] | None = None,
                emit: Callable[[dict], None] = lambda d: None,
                jitter: Callable[[], float] = random.random) -> None:
    """The background loop: a pass every ``interval`` seconds (plus up to 10 % random
    jitter, so pods drift apart) until ``stop`` is set. ``lock()`` returns a context
    manager with ``acquired``: a pass runs only when it is held. A failed pass is
    logged and retried at the next interval. ``make_repairer`` is called for every pass (so
    a pass can take its own scrub share)."""
    while not stop.wait(interval * (1 + 0.1 * jitter())):
        try:
            repairer = make_repairer()
            if lock is None:
                emit(repairer.run().summary())
                continue
            with lock() as held:
                if getattr(held, "acquired", True):
                    emit(repairer.run().summary())
                else:
                    emit({"event": "skipped", "reason": "another repair holds the lock"})
        except Exception as exc:   # never let the loop die; the next pass retries
            log.warning("repair pass failed: %s: %s", type(exc).__name__, exc)
            emit({"event": "failed", "error": f"{type(exc).__name__}: {exc}"})
