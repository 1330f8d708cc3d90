"""``python -m storage_node --data-dir D --port P``: run one storage node under gunicorn.

gthread worker (file I/O and fsync block; threads release the GIL), one worker process.
Prints ``storage node <id> listening on http://host:port`` once the socket is bound.
SIGTERM (graceful) and SIGINT (quick) stop it with exit status 0.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import signal
import socket
import sys
from pathlib import Path

from gunicorn.app.base import BaseApplication

from storage_node.settings import NodeSettings

_PR_SET_PDEATHSIG = 1


def parse_args(argv: list[str] | None) -> NodeSettings:
    """Command line -> NodeSettings."""
    p = argparse.ArgumentParser(prog="storage_node", description="s3server storage node")
    p.add_argument("--data-dir", required=True, type=Path)
    p.add_argument("--port", required=True, type=int)
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--node-id", default=None, help="default: <hostname>:<port>")
    p.add_argument("--capacity-bytes", type=int, default=None)
    p.add_argument("--no-fsync", action="store_true")
    p.add_argument("--threads", type=int, default=16)
    a = p.parse_args(argv)
    return NodeSettings(
        data_dir=a.data_dir, node_id=a.node_id or f"{socket.gethostname()}:{a.port}",
        port=a.port, bind=a.bind, capacity_bytes=a.capacity_bytes,
        fsync=not a.no_fsync, threads=a.threads)


def _die_with_arbiter(server, worker) -> None:
    """In the worker: ask Linux to SIGKILL us when the arbiter dies (e.g. it is killed
    with SIGKILL or by the OOM killer), so an orphaned worker never keeps serving on the
    node's port. A no-op where prctl is unavailable."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != worker.ppid:  # the arbiter died before prctl took effect
        os._exit(1)


class NodeServer(BaseApplication):
    """gunicorn, configured in code, serving ``create_app(settings)``."""

    def __init__(self, settings: NodeSettings):
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options = {
            "bind": f"{s.bind}:{s.port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": s.threads,
            "timeout": 60,
            "graceful_timeout": 10,
            "keepalive": 30,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "control_socket_disable": True,
            "proc_name": f"storage_node:{s.node_id}",
            "when_ready": self._when_ready,
            "post_fork": _die_with_arbiter,
        }
        for key, value in options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def _when_ready(self, _server) -> None:
        s = self.settings
        print(f"storage node {s.node_id} listening on http://{s.bind}:{s.port}", flush=True)

    def load(self):
        from storage_node.app import create_app
        return create_app(self.settings)


def main(argv: list[str] | None = None) -> int:
    """Run a node until SIGTERM/SIGINT; return the exit status."""
    settings = parse_args(argv)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        NodeServer(settings).run()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
