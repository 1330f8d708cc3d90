"""docs/api-coverage.md's table names every operation the router knows, with `501` exactly for
those that have no handler, so a new operation (or a new handler) shows up as a doc change."""
from __future__ import annotations

import re

from s3server.api.routing import OPERATIONS
from s3server.app import S3_HANDLERS
from tests.docs.docfiles import ROOT

ROW = re.compile(r"^\| \[(\w+)\]\(#[\w-]+\) \| (supported|partial|501) \| .* \|$", re.M)


def _table() -> dict[str, str]:
    text = (ROOT / "docs" / "api-coverage.md").read_text()
    rows = ROW.findall(text)
    table = dict(rows)
    assert len(table) == len(rows), "an operation is listed twice"
    return table


def test_table_lists_every_routed_operation():
    ops = {r.operation for r in OPERATIONS} | set(S3_HANDLERS)
    table = _table()
    assert set(table) == ops, f"missing: {sorted(ops - set(table))}; not an operation: {sorted(set(table) - ops)}"


def test_501_exactly_for_operations_without_a_handler():
    table = _table()
    wrong = sorted(op for op, status in table.items() if (status == "501") != (op not in S3_HANDLERS))
    assert not wrong, f"status 501 must mean 'no handler': {wrong}"
