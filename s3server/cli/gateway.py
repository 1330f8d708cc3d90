"""``s3server gateway``: the front end alone (gunicorn), configured by S3_* variables."""
from __future__ import annotations

import os
import sys

from s3server.cli.common import bootstrap, gunicorn_cmd
from s3server.config import Settings


def cmd_gateway(args) -> int:
    overrides = {"port": args.port, "bind": args.bind, "workers": args.workers,
                 "certfile": args.certfile, "keyfile": args.keyfile}
    settings = Settings.from_env(**overrides)
    if not settings.storage_nodes:
        print("error: S3_STORAGE_NODES is not set (e.g. node-0=http://storage-node-0:7881,...)", file=sys.stderr)
        return 2
    made, _ = bootstrap(settings)
    if made.access_key:
        print(f"Admin access key: {made.access_key}\nAdmin secret key: {made.secret_key}", flush=True)
    if made.api_key:
        print(f"Admin API Key: {made.api_key}", flush=True)
    env = dict(os.environ)
    env.update(settings.to_env())
    os.execve(sys.executable, gunicorn_cmd(), env)
    return 0  # not reached


def add_parser(sub) -> None:
    g = sub.add_parser("gateway", help="the front end alone, configured by S3_* variables")
    g.add_argument("--port", type=int)
    g.add_argument("--bind")
    g.add_argument("--workers", type=int)
    g.add_argument("--certfile")
    g.add_argument("--keyfile")
