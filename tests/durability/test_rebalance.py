"""Scale-out: 3 nodes, 1,000 objects, add a 4th and 5th node, rebalance. Every object
stays readable, every blob ends on exactly its 3 placement nodes, new writes spread
over all 5."""
from __future__ import annotations

import random
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from s3server.blobs.placement import nodes_for
from tests.conftest import ServeProcess, node_blob_ids
from tests.durability.conftest import DURABLE_ENV, blob_uses, run_repair
from tests.unit.test_storage_node import start_nodes

pytestmark = pytest.mark.slow

OBJECTS = 1000


def body(i: int) -> bytes:
    return random.Random(i).randbytes(200 + i % 1500)


def test_add_two_nodes_and_rebalance(tmp_path, ledger):
    nodes = start_nodes(tmp_path / "nodes", 5, "--no-fsync")
    spec = lambda ns: ",".join(f"{n.node_id}={n.url}" for n in ns)   # noqa: E731
    data_dir = tmp_path / "data"
    serve = ServeProcess(data_dir, env={**DURABLE_ENV, "S3_STORAGE_NODES": spec(nodes[:3])}).start()
    try:
        s3 = serve.client()
        bucket = f"r-{uuid.uuid4().hex[:16]}"
        s3.create_bucket(Bucket=bucket)

        def put(i: int) -> None:
            s3.put_object(Bucket=bucket, Key=f"o-{i:05d}", Body=body(i))

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, range(OBJECTS)))
        ledger.writes_attempted += OBJECTS
        ledger.writes_acknowledged += OBJECTS
        serve.stop()

        # the operator adds node-3 and node-4 to S3_STORAGE_NODES and rolls the gateway
        serve = ServeProcess(data_dir, env={**DURABLE_ENV, "S3_STORAGE_NODES": spec(nodes)}).start()
        s3 = serve.client()
        code, lines = run_repair(serve, "--no-scrub", timeout=180)
        summary = lines[-1]
        assert code == 0 and summary["errors"] == 0 and summary["under_replicated"] == 0, summary
        assert summary["copies_made"] > 0 and summary["copies_trimmed"] == summary["copies_made"]

        ids = [n.node_id for n in nodes]
        on_node = {n.node_id: node_blob_ids(n.data_dir) for n in nodes}
        uses = [u for u in blob_uses(serve) if u.row[0] == bucket]
        assert len(uses) == OBJECTS
        for use in uses:
            holders = sorted(n for n, held in on_node.items() if use.blob.blob_id in held)
            assert holders == sorted(nodes_for(use.blob.blob_id, ids, 3)), use
            assert sorted(use.blob.nodes) == holders, use
        assert all(on_node[n] for n in ("node-3", "node-4"))

        def check(i: int) -> bool:
            return s3.get_object(Bucket=bucket, Key=f"o-{i:05d}")["Body"].read() == body(i)

        with ThreadPoolExecutor(8) as pool:
            ok = list(pool.map(check, range(OBJECTS)))
        assert all(ok)
        ledger.writes_verified += OBJECTS

        # new writes land on all five nodes
        for i in range(60):
            s3.put_object(Bucket=bucket, Key=f"new-{i}", Body=b"n" * 100)
        placed = Counter(n for u in blob_uses(serve) if u.row[1].startswith("new-") for n in u.blob.nodes)
        assert set(placed) == set(ids) and all(len(u.blob.nodes) == 3 for u in blob_uses(serve))
        code, lines = run_repair(serve, "--no-scrub")
        assert lines[-1]["copies_made"] == 0 and lines[-1]["copies_trimmed"] == 0
    finally:
        serve.stop()
        for n in nodes:
            n.stop()
