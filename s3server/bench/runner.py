"""``s3server bench``: orchestration. Starts the systems (``--compare-moto``) or uses the given
endpoint, runs each scenario on every system in turn (alternating, so both see the same machine
conditions), prints progress to stderr, the table and targets to stdout, and writes JSON."""
from __future__ import annotations

import json
import os
import platform
import secrets
import sys
import tempfile
from datetime import datetime, timezone

from s3server.bench import harness, large, report
from s3server.bench import machine as machine_mod
from s3server.bench import scenarios as sc
from s3server.bench.client import BenchError, Endpoint
from s3server.bench.systems import ExternalSystem, MotoSystem, OurSystem, node_filesystems

ALL_SCENARIOS = ("machine", "small", "mixed", "list", "large", "multipart")
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 10**6, "mb": 10**6, "mib": 1024**2,
          "g": 10**9, "gb": 10**9, "gib": 1024**3}


def parse_size(text: str) -> int:
    t = text.strip().lower().replace("_", "")
    num = t.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = t[len(num):]
    if unit not in _UNITS or not num:
        raise ValueError(f"bad size {text!r} (e.g. 4KiB, 256MiB, 1GiB, 10k)")
    return int(float(num) * _UNITS[unit])


def _disk_info(path: str) -> str:
    try:
        st = os.statvfs(path)
        dev = ""
        with open("/proc/mounts") as f:
            best = ""
            for line in f:
                parts = line.split()
                if path.startswith(parts[1]) and len(parts[1]) > len(best):
                    best, dev = parts[1], f"{parts[0]} ({parts[2]})"
        return f"{dev} {st.f_blocks * st.f_frsize / 1e9:.0f} GB"
    except OSError:
        return "?"


def run(args, out=sys.stdout, err=sys.stderr) -> int:
    try:
        scen = [s.strip() for s in (args.scenarios or ",".join(ALL_SCENARIOS)).split(",") if s.strip()]
        bad = [s for s in scen if s not in ALL_SCENARIOS]
        if bad:
            raise ValueError(f"unknown scenario(s) {bad}; choose from {', '.join(ALL_SCENARIOS)}")
        conc = sorted({int(x) for x in str(args.concurrency).split(",")})
        small_size = parse_size(args.size)
        large_size = parse_size(args.large_size)
        list_sizes = [parse_size(x) for x in args.list_sizes.split(",") if x.strip()]
        if not args.compare_moto and not (args.endpoint and args.access_key and args.secret_key):
            raise ValueError("give --endpoint, --access-key and --secret-key, or --compare-moto")
    except ValueError as exc:
        print(f"error: {exc}", file=err)
        return 2
    progress = harness.Progress(err, enabled=not args.quiet)
    run_id = secrets.token_hex(3)
    systems = []
    results: dict[str, dict] = {}
    doc: dict = {"command": "s3server bench " + " ".join(getattr(args, "argv", []) or []),
                 "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "settings": {"scenarios": scen, "duration_s": args.duration, "concurrency": conc,
                              "small_size": small_size, "large_size": large_size, "list_sizes": list_sizes,
                              "sse": bool(getattr(args, "sse", False))},
                 "host": {"python": platform.python_version(), "platform": platform.platform()}}
    ctxs: list[harness.Ctx] = []
    try:
        if args.compare_moto:
            progress.note("starting s3server serve (3 storage nodes, 3 replicas, quorum 2, fsync on) ...")
            try:
                systems.append(OurSystem(workers=args.workers))
                progress.note("starting moto's server ...")
                systems.append(MotoSystem())
            except RuntimeError as exc:
                print(f"error: {exc}", file=err)
                return 2
        else:
            systems.append(ExternalSystem(args.endpoint, args.access_key, args.secret_key, args.serve_dir))
        for s in systems:
            ep = Endpoint(s.endpoint, s.access_key, s.secret_key, region=args.region, insecure=args.insecure)
            harness.preflight(ep)
            ctxs.append(harness.Ctx(name=s.name, endpoint=ep, pids=s.pids(), progress=progress,
                               duration=args.duration, run_id=run_id, small_size=small_size,
                               sse=bool(getattr(args, "sse", False))))
            results[s.name] = {}
        doc["systems"] = {s.name: {"endpoint": s.endpoint, "description": s.description} for s in systems}
        for s in systems:
            if s.node_urls():
                doc["systems"][s.name]["node_filesystem"] = node_filesystems(s.node_urls())
        probe_dir = str(getattr(systems[0], "data_dir", "") or tempfile.gettempdir())
        doc["host"]["disk"] = _disk_info(os.path.realpath(probe_dir))
        mach = None
        if "machine" in scen:
            progress.phase("measuring this machine's ceilings (MD5, write+fsync, loopback TCP)")
            mach = machine_mod.measure(probe_dir, large_size=large_size)
            progress.done(report.format_machine(mach).split("ceilings measured in this run: ")[-1])
            doc["machine"] = mach

        def step(key: str, label: str, fn) -> None:
            for ctx in ctxs:
                if label:
                    progress.phase(f"[{ctx.name}] {label}")
                try:
                    results[ctx.name][key] = fn(ctx)
                except BenchError as exc:
                    if exc.code in ("InvalidAccessKeyId", "SignatureDoesNotMatch"):
                        raise
                    progress.note(f"  ! {key} on {ctx.name} failed: {exc}")
                    results[ctx.name][key] = {"skipped": f"failed: {exc}"}

        if "small" in scen:
            for c in conc:
                step(f"small_put_c{c}", f"small PUT c={c}", lambda ctx, c=c: sc.small_put(ctx, c))
            for method in ("GET", "HEAD"):
                for c in conc:
                    step(f"small_{method.lower()}_c{c}", f"small {method} c={c}",
                         lambda ctx, c=c, m=method: sc.small_read(ctx, m, c))
            for i, c in enumerate(conc):
                share = 1.0 / (len(conc) - i)
                step(f"small_delete_c{c}", f"small DELETE c={c}", lambda ctx, c=c, s=share: sc.small_delete(ctx, c, s))
        if "mixed" in scen:
            step(f"mixed_c{max(conc)}", "", lambda ctx: sc.mixed(ctx, max(conc)))
        if "list" in scen:
            budget = max(1.0, min(args.duration, 10.0))
            step("list_10", "", sc.list_tiny)
            for n in list_sizes:
                step(f"list_{n}", "", lambda ctx, n=n: sc.list_scenario(ctx, n, budget=budget))
        if "large" in scen or "multipart" in scen:
            block = os.urandom(harness.MiB)
            lb = f"bench-{run_id}-large"
            step("_large_bucket", "", lambda ctx: harness.create_bucket(ctx, lb))
            if "large" in scen:
                step("large_put", "", lambda ctx: large.large_put(ctx, lb, "large.bin", large_size, block))
                step("large_get", "", lambda ctx: large.large_get(ctx, lb, "large.bin", large_size))
                step("_large_delete", "", lambda ctx: harness.delete_object(ctx, lb, "large.bin"))
            if "multipart" in scen:
                step("multipart", "", lambda ctx: large.multipart(ctx, lb, "multipart.bin", large_size, block))
                step("_multipart_delete", "", lambda ctx: harness.delete_object(ctx, lb, "multipart.bin"))
        for r in results.values():
            for k in [k for k in r if k.startswith("_")]:
                del r[k]
    except BenchError as exc:
        print(f"error: {exc}", file=err)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return 130
    finally:
        if not args.compare_moto and not args.keep and ctxs:
            for ctx in ctxs:
                for b in ctx.buckets:
                    try:
                        harness.empty_and_delete_bucket(ctx, b)
                    except Exception as exc:   # cleanup must not hide the results
                        progress.note(f"  ! could not delete bucket {b}: {exc}")
        for s in systems:
            s.stop()
    names = [s.name for s in systems]
    table = report.rows(results, conc)
    tgts = report.targets(results, doc.get("machine"), conc)
    doc.update({"finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "results": results,
                "table": table, "targets": tgts, "client_cpu": report.client_cpu_summary(results)})
    print("", file=out)
    for s in systems:
        print(f"{s.name}: {s.description}", file=out)
        node_fs = doc.get("systems", {}).get(s.name, {}).get("node_filesystem")
        if node_fs:
            warn = ": see docs/performance.md, Reading it" if "no journal" in node_fs else ""
            print(f"  storage nodes' data on {node_fs}{warn}", file=out)
    if doc.get("machine"):
        print(report.format_machine(doc["machine"]) + f"; disk {doc['host'].get('disk')}", file=out)
    if doc["settings"]["sse"]:
        print("every bucket encrypts its uploads (--sse: SSE-S3 default encryption)", file=out)
    print("", file=out)
    print(report.format_table(table, names), file=out)
    if len(names) > 1:
        print("ratio > 1 means s3server is better (ops/s and MB/s: ours / moto; ms: moto / ours)", file=out)
    if doc["client_cpu"]:
        print(doc["client_cpu"], file=out)
    if tgts:
        print("\ntargets (issue 7; informational, never fatal):", file=out)
        print(report.format_targets(tgts), file=out)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
        print(f"\nJSON written to {args.json}", file=out)
    out.flush()
    return 0
