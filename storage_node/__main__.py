"""``python -m storage_node --data-dir D --port P``: run one storage node.

One process: the WSGI app of ``storage_node.app`` under the small threaded HTTP/1.1 server of
``storage_node.server`` (one thread per connection; file I/O and fsync release the GIL).
Prints ``storage node <id> listening on http://host:port`` once the socket is bound.
SIGTERM stops it gracefully (requests in progress get up to 10 s), SIGINT quickly; both exit
with status 0.
"""
from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
from pathlib import Path

from storage_node.settings import RECYCLE_BYTES, RECYCLE_FILES, NodeSettings

GRACE_SECONDS = 10.0


def parse_args(argv: list[str] | None) -> NodeSettings:
    """Command line -> NodeSettings."""
    p = argparse.ArgumentParser(prog="storage_node", description="s3server storage node")
    p.add_argument("--data-dir", required=True, type=Path)
    p.add_argument("--port", required=True, type=int)
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--node-id", default=None, help="default: <hostname>:<port>")
    p.add_argument("--capacity-bytes", type=int, default=None)
    p.add_argument("--no-fsync", action="store_true")
    p.add_argument("--no-direct-io", action="store_true",
                   help="write every blob through the page cache, even the copies the "
                        "gateway asks to write with O_DIRECT")
    p.add_argument("--max-connections", type=int, default=1024,
                   help="connections served at once, one thread each (default 1024)")
    p.add_argument("--recycle-files", type=int, default=RECYCLE_FILES,
                   help="files of deleted small blobs kept for reuse instead of unlinked "
                        f"(default {RECYCLE_FILES}; 0: unlink every one)")
    p.add_argument("--recycle-bytes", type=int, default=RECYCLE_BYTES,
                   help=f"bytes those files may hold in all (default {RECYCLE_BYTES})")
    a = p.parse_args(argv)
    return NodeSettings(
        data_dir=a.data_dir, node_id=a.node_id or f"{socket.gethostname()}:{a.port}",
        port=a.port, bind=a.bind, capacity_bytes=a.capacity_bytes,
        fsync=not a.no_fsync, direct_io=not a.no_direct_io,
        max_connections=a.max_connections, recycle_files=max(a.recycle_files, 0),
        recycle_bytes=max(a.recycle_bytes, 0))


def main(argv: list[str] | None = None) -> int:
    """Run a node until SIGTERM/SIGINT; return the exit status."""
    from storage_node.app import create_app
    from storage_node.server import Server

    settings = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    server = Server(app, settings.bind, settings.port, max_connections=settings.max_connections)
    try:
        server.start()
    except OSError as exc:
        print(f"storage node {settings.node_id}: cannot listen on {settings.bind}:{settings.port}: {exc}",
              file=sys.stderr, flush=True)
        return 1
    grace = {"seconds": GRACE_SECONDS}

    def on_signal(signum, _frame) -> None:
        if signum == signal.SIGINT:
            grace["seconds"] = 0.5
        server.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"storage node {settings.node_id} listening on http://{settings.bind}:{server.port}", flush=True)
    server.serve()
    server.wait(grace["seconds"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
