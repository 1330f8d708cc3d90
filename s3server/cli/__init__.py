"""Commands: serve | gateway | storage-node | admin | repair | lifecycle | bench, one module each.
Argument parsing and process wiring only."""
from __future__ import annotations

import argparse
import os
import sys

from s3server.cli import admin, bench, gateway, node, repair, serve
from s3server.logs import setup_logging

COMMANDS = (serve, gateway, node, repair, admin, bench)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s3server", description="S3-compatible object store")
    sub = p.add_subparsers(dest="cmd", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    setup_logging(os.environ.get("S3_LOG_LEVEL", "info"))
    if argv and argv[0] == "storage-node":
        return node.cmd_storage_node(None, argv[1:])
    args = build_parser().parse_args(argv)
    if args.cmd == "serve":
        return serve.cmd_serve(args)
    if args.cmd == "gateway":
        return gateway.cmd_gateway(args)
    if args.cmd == "admin":
        return admin.cmd_admin(args)
    if args.cmd == "repair":
        return repair.cmd_repair(args)
    if args.cmd == "lifecycle":
        return repair.cmd_lifecycle(args)
    if args.cmd == "bench":
        args.argv = argv[1:]
        return bench.cmd_bench(args)
    return 2
