"""Commands: serve | gateway | storage-node | admin | repair. Argument parsing and process wiring only."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from s3server.config import Settings, format_nodes
from s3server.logs import setup_logging
from s3server.models import account_id
from s3server.service.sse import new_master_key

log = logging.getLogger("s3server")
NODES_IN_SERVE = 3
STATE_FILE = "serve.json"
CREDENTIALS_FILE = "admin-credentials.json"
SSE_KEY_FILE = "sse.key"
SERVE_REPAIR_INTERVAL = 3600.0   # seconds between background repair passes in serve
SERVE_WEBSITE_DOMAIN = "s3-website.localhost"   # serve's website endpoint: http://<bucket>.s3-website.localhost:<port>/


# --------------------------------------------------------------------------- helpers
def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_ports(host: str, count: int, avoid: set[int]) -> list[int]:
    """``count`` distinct free ports, none in ``avoid`` (the gateway's port: a caller that
    picked it free and let it go, as the tests do, may see the kernel hand it out again, and a
    storage node on the gateway's port answers its /health probe). The sockets stay bound
    until all are chosen, so the ports differ from each other."""
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        for _ in range(count + 64):
            if len(ports) == count:
                return ports
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(s)
            s.bind((host, 0))
            port = s.getsockname()[1]
            if port not in avoid:          # an avoided one stays bound (not offered again), unused
                ports.append(port)
        if len(ports) < count:
            raise OSError("no free ports")
        return ports
    finally:
        for s in held:
            s.close()


def _wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    import ssl
    ctx = ssl._create_unverified_context() if url.startswith("https:") else None   # our own cert, on loopback
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1, context=ctx) as r:
                if r.status < 500:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def _bootstrap(settings: Settings):
    """Create the schema and the admin user; return what was newly made."""
    from s3server.meta.store import MetadataStore
    from s3server.service.common import GuardedStore
    from s3server.service.identity import IdentityService

    store = MetadataStore.from_url(settings.db_url, pool_size=2)
    try:
        store.create_schema()
        identity = IdentityService(GuardedStore(store))
        made = identity.ensure_admin(access_key=settings.admin_access_key, secret_key=settings.admin_secret_key,
                                     api_key=settings.admin_api_key)
        _, creds = identity.admin_credentials()
        return made, creds
    finally:
        store.close()


def _gunicorn_cmd() -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", "python:s3server.gunicorn_conf", "s3server.wsgi:app"]


# --------------------------------------------------------------------------- serve
def _serve_sse_key(data_dir: Path) -> str:
    """serve's SSE-S3 master key when S3_SSE_KEY is not set: ``<data>/sse.key``, made on the
    first start (mode 0600). Encrypted objects cannot be read without it."""
    path = data_dir / SSE_KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_master_key() + "\n")
            f.flush()
            os.fsync(f.fileno())
    return path.read_text().strip()


def cmd_serve(args) -> int:
    overrides = {"data_dir": Path(args.data_dir) if args.data_dir else None, "port": args.port,
                 "bind": args.bind, "workers": args.workers, "certfile": args.certfile, "keyfile": args.keyfile}
    settings = Settings.from_env(**overrides)
    data_dir = Path(settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings.with_(data_dir=data_dir)
    if not settings.sse_key:
        settings = settings.with_(sse_key=_serve_sse_key(data_dir))
    if not os.environ.get("S3_REPAIR_INTERVAL"):   # serve repairs itself unless told otherwise
        settings = settings.with_(repair_interval=SERVE_REPAIR_INTERVAL)
    if "S3_WEBSITE_DOMAIN" not in os.environ:     # browsers resolve *.localhost to this machine
        settings = settings.with_(website_domain=SERVE_WEBSITE_DOMAIN)
    if not _port_free(settings.bind, settings.port):
        print(f"error: port {settings.port} on {settings.bind} is in use (use --port or S3_PORT)", file=sys.stderr)
        return 2
    children: list[subprocess.Popen] = []
    stopping = {"flag": False}

    def stop(signum=None, frame=None):
        stopping["flag"] = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        nodes = []
        node_procs = []
        if settings.storage_nodes:
            nodes = list(settings.storage_nodes)
        else:
            planned = {settings.node_base_port + i for i in range(NODES_IN_SERVE)} if settings.node_base_port else set()
            spare = iter(_free_ports("127.0.0.1", NODES_IN_SERVE, avoid={settings.port} | planned))
            for i in range(NODES_IN_SERVE):
                port = settings.node_base_port + i if settings.node_base_port else 0
                if not port or port == settings.port or not _port_free("127.0.0.1", port):
                    port = next(spare)
                node_id = f"node-{i}"
                node_dir = data_dir / node_id
                cmd = [sys.executable, "-m", "storage_node", "--data-dir", str(node_dir), "--port", str(port),
                       "--bind", "127.0.0.1", "--node-id", node_id]
                if not settings.fsync:
                    cmd.append("--no-fsync")
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
                children.append(proc)
                node_procs.append({"id": node_id, "url": f"http://127.0.0.1:{port}", "pid": proc.pid,
                                   "cmd": cmd})
                nodes.append((node_id, f"http://127.0.0.1:{port}"))
            for n, proc in zip(node_procs, children):
                if not _wait_http(n["url"] + "/health", 30, proc):
                    print(f"error: storage node {n['id']} did not start", file=sys.stderr)
                    return 1
        settings = settings.with_(storage_nodes=tuple(nodes))
        made, creds = _bootstrap(settings)
        creds_file = data_dir / CREDENTIALS_FILE
        saved = {}
        if creds_file.exists():
            saved = json.loads(creds_file.read_text())
        if made.api_key or made.access_key:
            saved.update({k: v for k, v in {"access_key": made.access_key, "secret_key": made.secret_key,
                                            "api_key": made.api_key}.items() if v})
            creds_file.write_text(json.dumps(saved, indent=2))
            os.chmod(creds_file, 0o600)
        env = dict(os.environ)
        env.update(settings.to_env())
        gw = subprocess.Popen(_gunicorn_cmd(), env=env, stdin=subprocess.DEVNULL)
        children.append(gw)
        host = "127.0.0.1" if settings.bind in ("0.0.0.0", "") else settings.bind
        scheme = "https" if settings.certfile else "http"
        endpoint = f"{scheme}://{host}:{settings.port}"
        state = {"endpoint": endpoint, "gateway_pid": gw.pid, "serve_pid": os.getpid(), "nodes": node_procs,
                 "storage_nodes": format_nodes(settings.storage_nodes), "database_url": settings.db_url}
        (data_dir / STATE_FILE).write_text(json.dumps(state, indent=2))
        if not _wait_http(endpoint + "/health", 60, gw):
            print("error: the gateway did not start", file=sys.stderr)
            return 1
        access_key = settings.admin_access_key or (creds[0].access_key if creds else "")
        secret_key = settings.admin_secret_key or (creds[0].secret_key if creds else "")
        api_key = settings.admin_api_key or made.api_key or saved.get("api_key", "(see s3server admin rotate-api-key)")
        print(f"s3server is running\n"
              f"  endpoint:   {endpoint}\n"
              f"  access key: {access_key}\n"
              f"  secret key: {secret_key}\n"
              f"  API key:    {api_key}\n"
              + (f"  websites:   {scheme}://<bucket>.{settings.website_domain}:{settings.port}/ (buckets with a website "
                 f"configuration and a public-read policy)\n" if settings.website_domain else "") +
              f"  data:       {data_dir} (metadata: {'PostgreSQL' if settings.db_url.startswith('postgresql') else 'SQLite'};"
              f" storage nodes: {', '.join(u for _, u in nodes)})\n"
              f"Admin API Key: {api_key}\n"
              f"Press Ctrl-C to stop.", flush=True)
        while not stopping["flag"]:
            if gw.poll() is not None:
                print(f"error: the gateway exited with {gw.returncode}", file=sys.stderr)
                return 1
            time.sleep(0.2)
        return 0
    finally:
        _stop_all(children)


def _stop_all(children: list[subprocess.Popen]) -> None:
    """Stop the gateway first, then the nodes. SIGINT is gunicorn's quick shutdown: a graceful one
    (SIGTERM) would wait up to graceful_timeout for idle keep-alive client connections, and whoever
    pressed Ctrl-C wants the processes gone. Whatever was in flight is either committed or garbage
    for repair (the write-order contract), never a half object."""
    for p in reversed(children):
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 15
    for p in reversed(children):
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# --------------------------------------------------------------------------- gateway
def cmd_gateway(args) -> int:
    overrides = {"port": args.port, "bind": args.bind, "workers": args.workers,
                 "certfile": args.certfile, "keyfile": args.keyfile}
    settings = Settings.from_env(**overrides)
    if not settings.storage_nodes:
        print("error: S3_STORAGE_NODES is not set (e.g. node-0=http://storage-node-0:7881,...)", file=sys.stderr)
        return 2
    made, _ = _bootstrap(settings)
    if made.access_key:
        print(f"Admin access key: {made.access_key}\nAdmin secret key: {made.secret_key}", flush=True)
    if made.api_key:
        print(f"Admin API Key: {made.api_key}", flush=True)
    env = dict(os.environ)
    env.update(settings.to_env())
    os.execve(sys.executable, _gunicorn_cmd(), env)
    return 0  # not reached


# --------------------------------------------------------------------------- storage-node
def cmd_storage_node(args, rest: list[str]) -> int:
    from storage_node.__main__ import main as node_main
    return node_main(rest)


# --------------------------------------------------------------------------- admin
def _admin_settings(args) -> Settings:
    overrides = {"data_dir": Path(args.data_dir) if args.data_dir else None}
    settings = Settings.from_env(**overrides)
    key_file = Path(settings.data_dir) / SSE_KEY_FILE
    if not settings.sse_key and key_file.exists():      # a serve data dir's own master key
        settings = settings.with_(sse_key=key_file.read_text().strip())
    return settings


def _rewrap_sse_keys(store, settings: Settings) -> int:
    """Reseal every encrypted blob's data key under the current master key (S3_SSE_KEY, or a
    serve data dir's sse.key), opening it with whichever of S3_SSE_OLD_KEYS sealed it; then
    the old keys can be dropped. Only metadata changes (the data keys, hence the stored bytes,
    stay the same); safe while the system runs. Data keys sealed under a customer's key (SSE-C)
    are the customer's to keep: counted, left alone."""
    from s3server.service.sse import KeyUnavailable, Sealer, customer_sealed

    sealer = Sealer.from_settings(settings.sse_key, settings.sse_old_keys)
    if sealer is None:
        print("error: no master key (S3_SSE_KEY, or --data-dir of a serve that made sse.key)", file=sys.stderr)
        return 1
    counts = {"rewrapped": 0, "current": 0, "unavailable": 0, "changed_meanwhile": 0, "customer_keys": 0}
    for use in store.iter_blob_uses():
        if use.blob.key is None:
            continue
        if customer_sealed(use.blob.key):
            counts["customer_keys"] += 1
            continue
        if sealer.sealed_by(use.blob.key) == sealer.key_id:
            counts["current"] += 1
            continue
        try:
            data_key = sealer.open(use.blob.key)
        except KeyUnavailable as exc:
            counts["unavailable"] += 1
            print(json.dumps({"event": "unavailable", "blob": use.blob.blob_id, "table": use.table,
                              "row": list(use.row), "error": str(exc)}), file=sys.stderr)
            continue
        if store.reseal_blob_key(use, sealer.seal(data_key)):
            counts["rewrapped"] += 1
        else:
            counts["changed_meanwhile"] += 1
    print(json.dumps({"event": "summary", "key_id": sealer.key_id, **counts}))
    return 1 if counts["unavailable"] else 0


def cmd_admin(args) -> int:
    from s3server.meta import errors as meta_errors
    from s3server.meta.store import MetadataStore
    from s3server.service.common import GuardedStore
    from s3server.service.identity import IdentityService, hash_api_key, new_api_key

    settings = _admin_settings(args)
    if not settings.database_url:        # SQLite in the data dir: users may be made before the first serve
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    store = MetadataStore.from_url(settings.db_url, pool_size=2)
    try:
        store.create_schema()
        identity = IdentityService(GuardedStore(store))
        if args.admin_cmd == "create-user":
            made = identity.create_user(args.name, is_admin=args.admin)
            print(json.dumps({"user": made.user.name, "account_id": account_id(made.user.id),
                              "access_key": made.access_key,
                              "secret_key": made.secret_key, "api_key": made.api_key}, indent=2))
        elif args.admin_cmd == "list-users":
            for u in store.list_users():
                keys = [c.access_key for c in store.list_credentials(u.id) if not c.revoked]
                print(f"{account_id(u.id)}\t{u.name}\t{'admin' if u.is_admin else 'user'}\t"
                      f"{'disabled' if u.disabled else 'enabled'}\t{','.join(keys)}")
        elif args.admin_cmd in ("disable-user", "enable-user"):
            store.set_user_disabled(identity.user(args.name).id, args.admin_cmd == "disable-user")
            print(f"{args.name}: {'disabled' if args.admin_cmd == 'disable-user' else 'enabled'}")
        elif args.admin_cmd == "create-key":
            made = identity.create_keys(identity.user(args.name), s3=not args.api_only, api=not args.s3_only)
            print(json.dumps({"user": args.name, "access_key": made.access_key, "secret_key": made.secret_key,
                              "api_key": made.api_key}, indent=2))
        elif args.admin_cmd == "revoke-key":
            if args.key.startswith("s3k_"):
                found = store.get_api_key(hash_api_key(args.key))
                if found is None:
                    print("no such API key", file=sys.stderr)
                    return 1
                store.revoke_api_key(found[0].id)
            else:
                try:
                    store.revoke_credential(args.key)
                except meta_errors.NotFound:
                    print("no such access key", file=sys.stderr)
                    return 1
            print("revoked")
        elif args.admin_cmd == "list-keys":
            user = identity.user(args.name)
            for c in store.list_credentials(user.id):
                print(f"s3\t{c.access_key}\t{'revoked' if c.revoked else 'active'}")
            for k in store.list_api_keys(user.id):
                print(f"api\t{k.prefix}...\t{'revoked' if k.revoked else 'active'}")
        elif args.admin_cmd == "rotate-api-key":
            user = identity.user(args.name or "admin")
            for k in store.list_api_keys(user.id):
                if not k.revoked:
                    store.revoke_api_key(k.id)
            key = new_api_key()
            store.add_api_key(user.id, hash_api_key(key), key[:8])
            creds_file = Path(settings.data_dir) / CREDENTIALS_FILE
            if user.name == "admin" and creds_file.exists():   # what serve prints on its next start
                saved = json.loads(creds_file.read_text())
                saved["api_key"] = key
                creds_file.write_text(json.dumps(saved, indent=2))
            print(f"Admin API Key: {key}" if user.is_admin else f"API Key: {key}")
        elif args.admin_cmd == "rewrap-sse-keys":
            return _rewrap_sse_keys(store, settings)
        elif args.admin_cmd == "show-admin":
            admin, creds = identity.admin_credentials()
            for c in creds:
                print(f"access key: {c.access_key}\nsecret key: {c.secret_key}")
        return 0
    except (ValueError, meta_errors.Unavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


# --------------------------------------------------------------------------- repair
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


# --------------------------------------------------------------------------- bench
def cmd_bench(args) -> int:
    """Benchmark an S3 endpoint, or ours against moto's server (s3server/bench, a client tool)."""
    from s3server.bench.runner import run
    return run(args)


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s3server", description="S3-compatible object store")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("serve", help="all in one: 3 storage nodes + gateway, SQLite by default")
    s.add_argument("--data-dir", help="data directory (S3_DATA_DIR, default ./data)")
    s.add_argument("--port", type=int, help="gateway port (S3_PORT, default 7841)")
    s.add_argument("--bind", help="gateway address (S3_BIND, default 127.0.0.1)")
    s.add_argument("--workers", type=int, help="gunicorn workers (S3_WORKERS, default 2)")
    s.add_argument("--certfile", help="serve HTTPS with this certificate (S3_CERTFILE)")
    s.add_argument("--keyfile", help="the certificate's private key (S3_KEYFILE)")

    g = sub.add_parser("gateway", help="the front end alone, configured by S3_* variables")
    g.add_argument("--port", type=int)
    g.add_argument("--bind")
    g.add_argument("--workers", type=int)
    g.add_argument("--certfile")
    g.add_argument("--keyfile")

    sub.add_parser("storage-node", help="one storage node (--data-dir D --port P ...)", add_help=False)

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

    a = sub.add_parser("admin", help="users and keys")
    a.add_argument("--data-dir", help="the serve data dir whose meta.db to use (or S3_DATABASE_URL)")
    asub = a.add_subparsers(dest="admin_cmd", required=True)
    cu = asub.add_parser("create-user")
    cu.add_argument("name")
    cu.add_argument("--admin", action="store_true")
    asub.add_parser("list-users")
    for name in ("disable-user", "enable-user", "list-keys"):
        asub.add_parser(name).add_argument("name")
    asub.add_parser("rotate-api-key", help="revoke NAME's API keys (default: admin) and print a new one") \
        .add_argument("name", nargs="?", default="admin")
    ck = asub.add_parser("create-key")
    ck.add_argument("name")
    ck.add_argument("--s3-only", action="store_true")
    ck.add_argument("--api-only", action="store_true")
    rk = asub.add_parser("revoke-key")
    rk.add_argument("key", help="an access key id or an API key")
    asub.add_parser("show-admin")
    asub.add_parser("rewrap-sse-keys", help="reseal every encrypted object's data key under S3_SSE_KEY "
                    "(opening it with S3_SSE_OLD_KEYS), after which the old keys can be dropped")

    bn = sub.add_parser("bench", help="benchmark any S3 endpoint, or this system against moto's server")
    bn.add_argument("--endpoint", help="S3 endpoint URL to benchmark")
    bn.add_argument("--access-key")
    bn.add_argument("--secret-key")
    bn.add_argument("--region", default="us-east-1")
    bn.add_argument("--insecure", action="store_true", help="https without certificate verification")
    bn.add_argument("--compare-moto", action="store_true",
                    help="start s3server serve (PostgreSQL if S3_DATABASE_URL is set, else SQLite) and moto's "
                         "server on loopback ports and run every scenario on both, alternating")
    bn.add_argument("--scenarios", help="comma list of machine,small,mixed,list,large,multipart (default: all)")
    bn.add_argument("--duration", type=float, default=5.0, help="seconds per timed scenario (default 5)")
    bn.add_argument("--concurrency", default="1,16", help="small-object concurrency levels (default 1,16)")
    bn.add_argument("--size", default="4KiB", help="small object size (default 4KiB)")
    bn.add_argument("--large-size", default="1GiB", help="large and multipart object size (default 1GiB)")
    bn.add_argument("--list-sizes", default="10k,100k",
                    help="LIST bucket sizes, populated by parallel PUTs of empty objects (default 10k,100k)")
    bn.add_argument("--workers", type=int, help="--compare-moto: gunicorn workers of our gateway (S3_WORKERS)")
    bn.add_argument("--serve-dir", help="data dir of a running `s3server serve` at --endpoint, to watch its memory")
    bn.add_argument("--keep", action="store_true", help="keep the buckets made on --endpoint (default: delete)")
    bn.add_argument("--sse", action="store_true", help="give every bucket SSE-S3 default encryption, so that "
                    "all uploads are encrypted (PutBucketEncryption)")
    bn.add_argument("--json", help="also write the results as JSON to this file")
    bn.add_argument("--quiet", action="store_true", help="no progress display on stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    setup_logging(os.environ.get("S3_LOG_LEVEL", "info"))
    if argv and argv[0] == "storage-node":
        return cmd_storage_node(None, argv[1:])
    args = build_parser().parse_args(argv)
    if args.cmd == "serve":
        return cmd_serve(args)
    if args.cmd == "gateway":
        return cmd_gateway(args)
    if args.cmd == "admin":
        return cmd_admin(args)
    if args.cmd == "repair":
        return cmd_repair(args)
    if args.cmd == "lifecycle":
        return cmd_lifecycle(args)
    if args.cmd == "bench":
        args.argv = argv[1:]
        return cmd_bench(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
