"""``s3server serve``: all in one (three storage nodes and the gateway on this machine,
SQLite by default), with its own SSE-S3 master key and background repair."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from s3server.cli.common import (CREDENTIALS_FILE, SSE_KEY_FILE, STATE_FILE, bootstrap, free_ports, gunicorn_cmd,
                                 port_free, wait_http)
from s3server.config import Settings, format_nodes
from s3server.service.sse import new_master_key

NODES_IN_SERVE = 3
SERVE_REPAIR_INTERVAL = 3600.0   # seconds between background repair passes in serve
SERVE_WEBSITE_DOMAIN = "s3-website.localhost"   # serve's website endpoint: http://<bucket>.s3-website.localhost:<port>/


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
    if not port_free(settings.bind, settings.port):
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
            spare = iter(free_ports("127.0.0.1", NODES_IN_SERVE, avoid={settings.port} | planned))
            for i in range(NODES_IN_SERVE):
                port = settings.node_base_port + i if settings.node_base_port else 0
                if not port or port == settings.port or not port_free("127.0.0.1", port):
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
                if not wait_http(n["url"] + "/health", 30, proc):
                    print(f"error: storage node {n['id']} did not start", file=sys.stderr)
                    return 1
        settings = settings.with_(storage_nodes=tuple(nodes))
        made, creds = bootstrap(settings)
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
        gw = subprocess.Popen(gunicorn_cmd(), env=env, stdin=subprocess.DEVNULL)
        children.append(gw)
        host = "127.0.0.1" if settings.bind in ("0.0.0.0", "") else settings.bind
        scheme = "https" if settings.certfile else "http"
        endpoint = f"{scheme}://{host}:{settings.port}"
        state = {"endpoint": endpoint, "gateway_pid": gw.pid, "serve_pid": os.getpid(), "nodes": node_procs,
                 "storage_nodes": format_nodes(settings.storage_nodes), "database_url": settings.db_url}
        (data_dir / STATE_FILE).write_text(json.dumps(state, indent=2))
        if not wait_http(endpoint + "/health", 60, gw):
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


def add_parser(sub) -> None:
    s = sub.add_parser("serve", help="all in one: 3 storage nodes + gateway, SQLite by default")
    s.add_argument("--data-dir", help="data directory (S3_DATA_DIR, default ./data)")
    s.add_argument("--port", type=int, help="gateway port (S3_PORT, default 7841)")
    s.add_argument("--bind", help="gateway address (S3_BIND, default 127.0.0.1)")
    s.add_argument("--workers", type=int, help="gunicorn workers (S3_WORKERS, default 2)")
    s.add_argument("--certfile", help="serve HTTPS with this certificate (S3_CERTFILE)")
    s.add_argument("--keyfile", help="the certificate's private key (S3_KEYFILE)")
