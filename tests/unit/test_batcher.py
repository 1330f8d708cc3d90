"""WriteBatcher: small copies for one node combined into ``POST /blobs/write`` requests, against
real storage-node processes, plus a scripted node of an older version (no batch endpoint) and
one that drops the connection mid-batch."""
from __future__ import annotations

import http.server
import json
import signal
import threading

import pytest
import xxhash

from s3server.blobs import BlobError, BlobStore
from s3server.blobs.batcher import RETRY_BATCH_AFTER, WriteBatcher
from s3server.blobs.client import NodeClient
from tests.unit.test_blobs import eventually
from tests.unit.test_storage_node import rand_bytes, start_nodes


def _id(i: int) -> str:
    return f"{0xb0000 + i:032x}"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = start_nodes(tmp_path_factory.mktemp("batch"), 1, "--no-fsync")[0]
    yield n
    n.stop()


def test_writes_queued_behind_a_busy_node_go_in_one_batch(node):
    client = NodeClient(node.node_id, node.url, timeout=10.0)
    batcher = WriteBatcher(client)
    datas = [rand_bytes(100 + i, i) for i in range(21)]
    node.proc.send_signal(signal.SIGSTOP)              # the first batch stalls at the node
    try:
        first = batcher.submit(_id(0), datas[0])
        eventually(lambda: batcher.batches == 1)      # the sender took it alone
        rest = [batcher.submit(_id(i), datas[i]) for i in range(1, 21)]
    finally:
        node.proc.send_signal(signal.SIGCONT)
    results = [p.wait(10) for p in [first, *rest]]
    assert [(r["id"], r["size"], r["xxh3"]) for r in results] == \
        [(_id(i), len(d), xxhash.xxh3_128_hexdigest(d)) for i, d in enumerate(datas)]
    assert (batcher.batches, batcher.blobs) == (2, 21)  # the twenty queued ones went together
    for i, d in enumerate(datas):
        assert b"".join(client.get(_id(i))) == d


def test_store_writes_small_objects_through_batches_and_large_ones_alone(node, tmp_path):
    nodes = [node, *start_nodes(tmp_path, 2, "--no-fsync")]
    store = BlobStore({f"n{i}": n.url for i, n in enumerate(nodes)}, replicas=3, write_quorum=2,
                      batch_item_max=1000)
    try:
        small = [rand_bytes(500, i) for i in range(40)]
        refs: list = [None] * len(small)

        def write(i):
            refs[i] = store.write(iter([small[i]]))
        threads = [threading.Thread(target=write, args=(i,)) for i in range(len(small))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        big = store.write(iter([rand_bytes(5000, 99)]))      # over batch_item_max: a plain PUT
        assert all(len(r.nodes) == 3 for r in refs) and len(big.nodes) == 3
        for ref, data in zip(refs, small):
            assert b"".join(store.open(ref)) == data
        batchers = store._batchers.values()
        assert sum(b.blobs for b in batchers) == 3 * len(small)    # every small copy, no big one
        assert sum(b.batches for b in batchers) <= 3 * len(small)
    finally:
        store.close()
        for n in nodes[1:]:
            n.stop()


class _OldNode(http.server.ThreadingHTTPServer):
    """A node of an older version: PUT /blobs/<id> works, POST /blobs/write is 405. With
    ``drop_batches`` it reads a batch and closes the connection without an answer."""
    daemon_threads = True

    def __init__(self, drop_batches: bool = False):
        self.posts = 0
        self.puts = 0
        self.stored: dict[str, bytes] = {}
        self.drop_batches = drop_batches
        super().__init__(("127.0.0.1", 0), _OldNodeHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _OldNodeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        data = self.rfile.read(int(self.headers["Content-Length"]))
        blob_id = self.path.rsplit("/", 1)[1]
        self.server.puts += 1
        self.server.stored[blob_id] = data
        self._answer(201, json.dumps({"id": blob_id, "size": len(data),
                                      "xxh3": xxhash.xxh3_128_hexdigest(data)}).encode())

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts += 1
        if self.server.drop_batches:
            self.close_connection = True
            return
        self._answer(405, b'{"title": "405 Method Not Allowed"}')


def test_node_without_the_batch_endpoint_gets_single_puts_then_is_tried_again():
    old = _OldNode()
    now = [1000.0]
    client = NodeClient("old", old.url, timeout=5.0)
    batcher = WriteBatcher(client, clock=lambda: now[0])
    try:
        r = batcher.submit(_id(100), b"first").wait(5)
        assert r["size"] == 5 and old.stored[_id(100)] == b"first"
        assert (old.posts, old.puts) == (1, 1)         # the batch was refused, then a PUT
        assert batcher.batching is False
        now[0] += RETRY_BATCH_AFTER - 1
        assert batcher.batching is False
        now[0] += 2                                    # a minute later it asks again
        assert batcher.batching is True
        assert batcher.submit(_id(101), b"second").wait(5)["size"] == 6
        assert (old.posts, old.puts) == (2, 2) and old.stored[_id(101)] == b"second"
    finally:
        old.shutdown()


def test_store_falls_back_to_single_puts_for_an_old_node(tmp_path):
    old = _OldNode()
    nodes = start_nodes(tmp_path, 2, "--no-fsync")
    store = BlobStore({"old": old.url, **{n.node_id: n.url for n in nodes}}, replicas=3, write_quorum=3)
    try:
        refs = [store.write(iter([rand_bytes(300, i)])) for i in range(5)]
        assert all(set(r.nodes) == {"old", "node-0", "node-1"} for r in refs)
        assert old.posts == 1 and old.puts == 5        # asked once, then PUTs while it said no
        for i, r in enumerate(refs):
            assert old.stored[r.blob_id] == rand_bytes(300, i)
    finally:
        store.close()
        old.shutdown()
        for n in nodes:
            n.stop()


def test_a_batch_cut_off_fails_each_of_its_writes_and_the_sender_goes_on():
    flaky = _OldNode(drop_batches=True)
    client = NodeClient("flaky", flaky.url, timeout=5.0)
    batcher = WriteBatcher(client)
    try:
        for i in range(2):
            with pytest.raises(BlobError, match="flaky"):
                batcher.submit(_id(200 + i), b"x").wait(5)
        assert flaky.posts >= 2 and not flaky.stored   # (sent once more on a fresh connection)
    finally:
        flaky.shutdown()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")   # the death
def test_a_sender_that_dies_is_replaced_by_the_next_submit(node):
    client = NodeClient(node.node_id, node.url, timeout=10.0)
    batcher = WriteBatcher(client)
    assert batcher.submit(_id(300), b"one").wait(10)["size"] == 3
    (sender,) = batcher._threads
    batcher._queue.put(None)                       # not a write: the sender's loop raises and ends
    sender.join(10)
    assert not sender.is_alive() and batcher._running == 0
    assert batcher.submit(_id(301), b"two!").wait(10)["size"] == 4     # a new sender took it
    assert len(batcher._threads) == 1 and batcher._threads[0] is not sender and batcher._running == 1
    assert b"".join(client.get(_id(301))) == b"two!"
