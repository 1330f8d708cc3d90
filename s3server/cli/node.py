"""``s3server storage-node``: one storage node (its own argument parser: storage_node/__main__.py)."""
from __future__ import annotations


def cmd_storage_node(args, rest: list[str]) -> int:
    from storage_node.__main__ import main as node_main
    return node_main(rest)


def add_parser(sub) -> None:
    sub.add_parser("storage-node", help="one storage node (--data-dir D --port P ...)", add_help=False)
