"""Turn results into the comparison table, the targets check (issue 7) and JSON."""
from __future__ import annotations

# (result key, label, metric key, unit, higher is better)
SMALL_OPS = ("put", "get", "head", "delete")


def _fmt(v, unit: str) -> str:
    if v is None:
        return "-"
    if unit in ("ops/s", "MB/s", "keys/s"):
        return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def rows(results: dict[str, dict], concurrencies: list[int]) -> list[dict]:
    """One row per scenario: the primary figure per system (+ latency detail) and ours/moto ratio
    oriented so that > 1 means s3server is better."""
    systems = list(results)
    out: list[dict] = []

    def add(scenario: str, key: str, metric: str, unit: str, higher: bool, detail=None, sub: str | None = None):
        vals, details = {}, {}
        for s in systems:
            r = results[s].get(key)
            if r is None or "skipped" in r:
                continue
            rr = r[sub] if sub else r
            if rr is None or metric not in rr:
                continue
            vals[s] = rr[metric]
            if detail:
                details[s] = detail(rr)
        if not vals:
            return
        row = {"scenario": scenario, "key": key, "metric": metric, "unit": unit, "higher_is_better": higher,
               "values": vals, "details": details}
        if "s3server" in vals and "moto" in vals and vals["s3server"] and vals["moto"]:
            row["ratio"] = round(vals["s3server"] / vals["moto"] if higher else vals["moto"] / vals["s3server"], 2)
        out.append(row)

    lat = lambda r: f"p50 {_fmt(r['p50_ms'], 'ms')} / p99 {_fmt(r['p99_ms'], 'ms')} ms"  # noqa: E731
    for op in SMALL_OPS:
        for c in concurrencies:
            add(f"small {op.upper()} 4 KiB, c={c}", f"small_{op}_c{c}", "ops_s", "ops/s", True, lat)
    add("mixed 70/25/5 GET/PUT/LIST", f"mixed_c{max(concurrencies)}", "ops_s", "ops/s", True, lat)
    list_keys = sorted((k for s in systems for k in results[s] if k.startswith("list_") and k != "list_10"),
                       key=lambda k: int(k.split("_")[1]))
    for k in dict.fromkeys(list_keys):
        n = int(k.split("_")[1])
        add(f"LIST page of 1000, {n:,} keys", k, "page_ms", "ms/page", False)
        add(f"LIST delimiter page (10 prefixes), {n:,} keys", k, "delimiter_page_ms", "ms/page", False)
        add(f"LIST in-prefix delimiter page, {n:,} keys", k, "prefix_delimiter_page_ms", "ms/page", False)
        add(f"  (populating {n:,} empty objects, c=16)", k, "puts_per_s", "keys/s", True, sub="populate")
    add("LIST delimiter page, 10 keys (baseline)", "list_10", "delimiter_page_ms", "ms/page", False)
    mem = lambda r: _mem(r.get("memory") or {})  # noqa: E731
    add("large PUT, single stream", "large_put", "mb_s", "MB/s", True, mem)
    add("large GET, single stream", "large_get", "mb_s", "MB/s", True, mem)
    add("multipart upload (boto3 defaults)", "multipart", "mb_s", "MB/s", True, mem)
    return out


def _mem(m: dict) -> str:
    if m.get("max_gateway_growth_mib") is None:
        return ""
    if m.get("max_node_growth_mib") is None:   # one server process (moto)
        return f"RSS +{m['max_gateway_growth_mib']:.0f} MiB"
    return f"RSS +{m['max_gateway_growth_mib']:.0f} MiB gateway, +{m['max_node_growth_mib']:.0f} MiB node"


def format_table(table: list[dict], systems: list[str]) -> str:
    head = ["scenario", "unit"] + systems + (["ratio"] if len(systems) > 1 else []) + ["detail"]
    lines = []
    for r in table:
        cells = [r["scenario"], r["unit"]] + [_fmt(r["values"].get(s), r["unit"]) for s in systems]
        if len(systems) > 1:
            cells.append(f"{r['ratio']:.1f}x" if "ratio" in r else "-")
        cells.append("; ".join(f"{s}: {d}" for s, d in r["details"].items() if d) if r["details"] else "")
        lines.append(cells)
    widths = [max(len(str(x[i])) for x in [head] + lines) for i in range(len(head))]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for cells in lines:
        out.append("| " + " | ".join(c.ljust(w) if i in (0, 1, len(cells) - 1) else c.rjust(w)
                                     for i, (c, w) in enumerate(zip(cells, widths))) + " |")
    return "\n".join(out)


def targets(results: dict[str, dict], machine: dict | None, concurrencies: list[int]) -> list[dict]:
    """Issue 7's targets, each PASS / MISS, or n/a when this run lacks what it needs. Never fatal."""
    ours = results.get("s3server") or next(iter(results.values()), {})
    moto = results.get("moto", {})
    c = max(concurrencies)
    out: list[dict] = []

    def t(name: str, ok, measured: str):
        out.append({"target": name, "measured": measured,
                    "status": "n/a" if ok is None else ("PASS" if ok else "MISS")})

    def ratio(key, metric="ops_s"):
        a, b = ours.get(key, {}).get(metric), moto.get(key, {}).get(metric)
        return (a / b) if a and b else None

    for op, p99 in (("put", 50), ("get", 30), ("head", 30), ("delete", 30)):
        key = f"small_{op}_c{c}"
        r = ours.get(key)
        if not r:
            continue
        x = ratio(key)
        t(f"small {op.upper()} c={c}: >= 5x moto ops/s", None if x is None else x >= 5,
          f"{x:.1f}x" if x is not None else "no moto figure")
        t(f"small {op.upper()} c={c}: p99 <= {p99} ms", r["p99_ms"] <= p99, f"{r['p99_ms']:.1f} ms")
        if op == "put":
            t(f"small PUT c={c}: ~1000 uploads/s with p99 < 100 ms (design headline)",
              r["ops_s"] >= 1000 and r["p99_ms"] < 100, f"{r['ops_s']:.0f}/s, p99 {r['p99_ms']:.1f} ms")
    lists = sorted((int(k.split("_")[1]), v) for k, v in ours.items() if k.startswith("list_") and k != "list_10")
    if len(lists) >= 2:
        (n0, r0), (n1, r1) = lists[0], lists[-1]
        g = r1["page_ms"] / r0["page_ms"] if r0["page_ms"] else None
        what = "at 1M keys <= 1.5x its time at 10k" if (n0, n1) == (10_000, 1_000_000) else \
            f"<= 1.5x growth (target: 1M vs 10k; this run: {n1:,} vs {n0:,} keys)"
        t(f"LIST page {what}", None if g is None else g <= 1.5, f"{g:.2f}x" if g else "-")
    if lists:
        n, r = (next(((n, r) for n, r in lists if n == 100_000), None) or lists[-1])
        x = ratio(f"list_{n}", "page_ms")
        x = 1 / x if x else None   # lower is better
        t(f"LIST page at {n:,} keys >= 10x faster than moto" + ("" if n == 100_000 else " (target: at 100k)"),
          None if x is None else x >= 10, f"{x:.1f}x" if x else "no moto figure")
        base = ours.get("list_10", {}).get("delimiter_page_ms")
        n, r = lists[-1]
        if base:
            k = r["delimiter_page_ms"] / base
            t(f"LIST delimiter page, 10 prefixes x {n // 10:,} keys ~ same as 10 keys (<= 2x)", k <= 2,
              f"{r['delimiter_page_ms']:.1f} vs {base:.1f} ms ({k:.1f}x)")
    if machine:
        ceil = machine.get("durable_3_replica_write_mb_s")
        r = ours.get("large_put")
        if r and ceil:
            t("large PUT >= 80% of min(MD5, write+fsync / 3)", r["mb_s"] >= 0.8 * ceil,
              f"{r['mb_s']:.0f} MB/s = {r['mb_s'] / ceil * 100:.0f}% of {ceil:.0f} MB/s")
        r = ours.get("large_get")
        tcp = machine.get("loopback_tcp_mb_s")
        if r and tcp:
            t("large GET >= 40% of loopback TCP", r["mb_s"] >= 0.4 * tcp,
              f"{r['mb_s']:.0f} MB/s = {r['mb_s'] / tcp * 100:.0f}% of {tcp:.0f} MB/s")
    if ours.get("large_get") and moto.get("large_get"):
        x = ratio("large_get", "mb_s")
        t("large GET not slower than moto", x >= 1, f"{x:.2f}x")
    for key, label in (("large_put", "large PUT"), ("large_get", "large GET"), ("multipart", "multipart upload")):
        m = (ours.get(key) or {}).get("memory") or {}
        if m.get("max_gateway_growth_mib") is None:
            continue
        worst = max(m["max_gateway_growth_mib"], m.get("max_node_growth_mib") or 0)
        size = ours[key]["bytes"] / 2**20
        t(f"memory: gateway and node RSS grow < 64 MiB during {label} ({size:,.0f} MiB"
          + ("; target: 5 GiB)" if key == "multipart" else ")"), worst < 64, f"max +{worst:.0f} MiB")
    key = f"mixed_c{c}"
    if ours.get(key):
        x = ratio(key)
        t("mixed 70/25/5 >= 5x moto ops/s", None if x is None else x >= 5, f"{x:.1f}x" if x else "no moto figure")
    return out


def format_targets(ts: list[dict]) -> str:
    w = max((len(x["target"]) for x in ts), default=10)
    return "\n".join(f"  {x['status']:<4}  {x['target']:<{w}}  {x['measured']}" for x in ts)


def format_machine(m: dict) -> str:
    return (f"machine: {m.get('nproc')} cores, {m.get('mem_total_mib', 0) / 1024:.1f} GiB RAM; ceilings measured "
            f"in this run: MD5 {m['md5_mb_s']:.0f} MB/s, write+fsync {m['write_fsync_mb_s']:.0f} MB/s "
            f"(/3 = {m['write_fsync_mb_s'] / 3:.0f}), durable 3-replica write ceiling "
            f"{m['durable_3_replica_write_mb_s']:.0f} MB/s, loopback TCP {m['loopback_tcp_mb_s']:.0f} MB/s, "
            f"4 KiB write+fsync+rename {m['small_write_fsync_rename_ms']:.2f} ms")


def client_cpu_summary(results: dict[str, dict]) -> str:
    parts = []
    for s, res in results.items():
        shares = [r["client_cpu_share"] for k, r in res.items()
                  if isinstance(r, dict) and "client_cpu_share" in r and k.startswith(("small_", "mixed"))]
        if shares:
            parts.append(f"{s}: mean {sum(shares) / len(shares) * 100:.0f}%, max {max(shares) * 100:.0f}% of one core")
    return ("load generator CPU during the small-object loops (" + "; ".join(parts) + ")") if parts else ""
