"""``s3server repair`` and ``s3server lifecycle``: the background passes run once (or ``--loop``),
against a running serve's data dir or the S3_* settings."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from s3server.cli.common import STATE_FILE
from s3server.config import Settings


def _share(text: str) -> tuple[int, int] | str:
    """``I/N`` -> (I, N) with 0 <= I < N; ``auto`` as is."""
    if text == "auto":
        return text
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N, e.g. 0/7, not {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"need 0 <= I < N, not {text!r}")
    return index, count


def _repair_settings(args) -> Settings:
    """``--data-dir`` of a running serve (its serve.json and meta.db), else S3_* settings."""
    overrides: dict = {}
    if args.gc_grace_seconds is not None:
        overrides["gc_grace_seconds"] = args.gc_grace_seconds
    if args.interval is not None:
        overrides["repair_interval"] = args.interval
    if args.data_dir:
        data_dir = Path(args.data_dir).resolve()
        state_file = data_dir / STATE_FILE
        if not state_file.exists():
            raise ValueError(f"{state_file} not found: is `s3server serve --data-dir {args.data_dir}` running?")
        state = json.loads(state_file.read_text())
        from s3server.config import parse_nodes
        overrides.update(data_dir=data_dir, storage_nodes=parse_nodes(state["storage_nodes"]),
                         database_url=state.get("database_url") or "")
    settings = Settings.from_env(**overrides)
    if not settings.storage_nodes:
        raise ValueError("no storage nodes: give --data-dir of a running serve, or set S3_STORAGE_NODES")
    return settings


class _Pass:
    """One background pass: the buckets' lifecycle rules (service/lifecycle.py), then the
    repair; what ``run_forever`` runs under the repair lock."""

    def __init__(self, lifecycle, repairer, emit):
        self.lifecycle, self.repairer, self.emit = lifecycle, repairer, emit

    def run(self):
        if self.lifecycle is not None:
            try:
                self.emit(self.lifecycle.run().summary())
            except Exception as exc:   # the repair still runs; the next pass retries the rules
                self.emit({"event": "lifecycle_failed", "error": f"{type(exc).__name__}: {exc}"})
        return self.repairer.run()


def _parse_now(text: str) -> datetime:
    """``--now``: an ISO 8601 instant (UTC unless it says otherwise)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 date or time, not {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _background_stores(args, pool_size: int):
    """The settings, metadata store and blob store of a background command (repair, lifecycle):
    ``--data-dir`` of a running serve, else S3_* settings; None (after saying why) if neither."""
    from s3server.blobs import BlobStore
    from s3server.meta.store import MetadataStore

    try:
        settings = _repair_settings(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    store = MetadataStore.from_url(settings.db_url, pool_size=pool_size)
    blobs = BlobStore(settings.node_urls, replicas=settings.replicas, write_quorum=settings.write_quorum,
                      timeout=settings.node_timeout, down_seconds=settings.node_down_seconds)
    return settings, store, blobs


def cmd_lifecycle(args) -> int:
    """One lifecycle pass on its own (JSON lines: one per object expired or upload aborted, then
    a summary)."""
    from s3server.service.lifecycle import LifecycleRunner

    args.gc_grace_seconds = args.interval = None
    opened = _background_stores(args, pool_size=2)
    if opened is None:
        return 2
    _, store, blobs = opened

    def emit(event: dict) -> None:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

    now = args.now
    try:
        report = LifecycleRunner(store, blobs, now=(lambda: now) if now else None, dry_run=args.dry_run,
                                 bucket=args.bucket, on_event=emit).run()
        emit(report.summary())
        return 0
    except Exception as exc:   # a metadata outage etc.: say so, exit non-zero
        print(f"error: lifecycle pass failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        blobs.close()
        store.close()


def cmd_repair(args) -> int:
    """One repair pass (JSON lines: one per action, then a summary), or ``--loop``."""
    from s3server.service.lifecycle import LifecycleRunner
    from s3server.service.pace import scrub_share_at
    from s3server.service.repair import Repairer, run_forever

    opened = _background_stores(args, pool_size=4)
    if opened is None:
        return 2
    settings, store, blobs = opened

    import threading
    out_lock = threading.Lock()

    def emit(event: dict) -> None:   # one JSON document per line, even from repair's threads
        with out_lock:
            sys.stdout.write(json.dumps(event) + "\n")
            sys.stdout.flush()

    def make() -> "_Pass":
        share = args.scrub_share
        if args.loop or share == "auto":   # passes take turns: each scrubs its share of the blobs
            share = scrub_share_at(time.time(), settings.repair_interval, settings.scrub_days * 86400)
        events = emit if not args.loop else None
        repairer = Repairer(store, blobs, gc_grace_seconds=settings.gc_grace_seconds, scrub=not args.no_scrub,
                            gc=not args.no_gc, rebalance=not args.no_rebalance, dry_run=args.dry_run,
                            on_event=events, scrub_share=share, scrub_rate=settings.scrub_mb_per_s * 1e6)
        lifecycle = None if args.no_lifecycle else LifecycleRunner(store, blobs, dry_run=args.dry_run,
                                                                   on_event=events)
        return _Pass(lifecycle, repairer, emit)

    if args.scrub_share == "auto" and settings.repair_interval <= 0:
        print("error: --scrub-share auto needs the time between passes: --interval (or "
              "S3_REPAIR_INTERVAL) > 0", file=sys.stderr)
        return 2
    try:
        if args.loop:
            if settings.repair_interval <= 0:
                print("error: --loop needs S3_REPAIR_INTERVAL (or --interval) > 0", file=sys.stderr)
                return 2
            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            run_forever(make, settings.repair_interval, stop, lock=store.try_lock_repair, emit=emit)
            return 0
        report = make().run()
        emit(report.summary())
        c = report.counts
        fixed = not (c["errors"] or c["no_good_copy"] or c["under_replicated"] or report.unreachable)
        return 0 if fixed else 1
    except Exception as exc:   # a metadata outage etc.: say so, exit non-zero
        print(f"error: repair failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        blobs.close()
        store.close()


def add_parser(sub) -> None:
    r = sub.add_parser("repair", help="re-replicate, scrub, garbage-collect and rebalance blobs")
    r.add_argument("--data-dir", help="data dir of a running serve (else S3_DATABASE_URL/S3_STORAGE_NODES)")
    r.add_argument("--no-scrub", action="store_true", help="skip re-verifying every copy's checksums")
    r.add_argument("--no-gc", action="store_true", help="skip deleting unreferenced blobs")
    r.add_argument("--no-rebalance", action="store_true", help="only copy blobs short of S3_REPLICAS copies")
    r.add_argument("--dry-run", action="store_true", help="report what would be done, change nothing")
    r.add_argument("--gc-grace-seconds", type=float, help="orphan age before GC (S3_GC_GRACE_SECONDS)")
    r.add_argument("--loop", action="store_true", help="repeat every S3_REPAIR_INTERVAL seconds")
    r.add_argument("--interval", type=float, help="loop interval (S3_REPAIR_INTERVAL)")
    r.add_argument("--no-lifecycle", action="store_true", help="skip the buckets' lifecycle rules "
                   "(each pass carries them out first)")
    r.add_argument("--scrub-share", type=_share, default=(0, 1), metavar="I/N",
                   help="scrub only slice I (0-based) of N of the blobs (by id); auto: the "
                        "slice whose turn it is, for passes --interval seconds apart that re-read "
                        "every copy once per S3_SCRUB_DAYS (what --loop always does)")

    lc = sub.add_parser("lifecycle", help="carry out the buckets' lifecycle rules now (repair passes do it too)")
    lc.add_argument("--data-dir", help="data dir of a running serve (else S3_DATABASE_URL/S3_STORAGE_NODES)")
    lc.add_argument("--bucket", help="only this bucket's rules")
    lc.add_argument("--now", type=_parse_now, metavar="ISO8601",
                    help="judge the rules as at this instant instead of the clock's (e.g. 2030-01-01)")
    lc.add_argument("--dry-run", action="store_true", help="report what would be expired or aborted, change nothing")
