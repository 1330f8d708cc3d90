"""NodeClient's own HTTP/1.1 and BlobStore's small-body write and batched deletes, against
real storage-node processes; a few raw TCP peers stand in for a node that misbehaves on
the wire (garbage, a silent close, no answer), which a real node cannot be made to do."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from s3server.blobs import BlobError, BlobStore, QuorumError
from s3server.blobs.client import NodeClient
from s3server.blobs.deleter import BatchDeleter
from s3server.blobs.placement import nodes_for
from s3server.models import BlobRef
from tests.unit.test_blobs import holders, ids_from
from tests.unit.test_storage_node import NodeProcess, rand_bytes, start_nodes

KiB = 1024


@pytest.fixture
def nodes(tmp_path):
    started = start_nodes(tmp_path, 3, "--no-fsync")
    yield started
    for n in started:
        if n.proc.poll() is None:
            os_kill(n, signal.SIGCONT)
        n.stop()


def os_kill(node, sig):
    """Send ``sig`` to a node's gunicorn arbiter and to its worker."""
    os.kill(node.proc.pid, sig)
    for pid in subprocess.run(["pgrep", "-P", str(node.proc.pid)], capture_output=True,
                              text=True).stdout.split():
        os.kill(int(pid), sig)


@pytest.fixture
def stores():
    made = []

    def make(nodes, **kw) -> BlobStore:
        kw.setdefault("timeout", 5.0)
        made.append(BlobStore({n.node_id: n.url for n in nodes}, **kw))
        return made[-1]

    yield make
    for s in made:
        s.close()


def _first_target(store: BlobStore, prefix: str) -> tuple[str, str]:
    """The id the store's next write gets (``ids_from(prefix)``) and its first target."""
    blob_id = f"{prefix}{0:0{32 - len(prefix)}x}"
    return blob_id, nodes_for(blob_id, store.node_ids, 3)[0]


# -- small-body writes ------------------------------------------------------------------

def test_small_write_reaches_quorum_with_one_node_dead(nodes, stores):
    store = stores(nodes, new_id=ids_from("5e11"), down_seconds=60)
    blob_id, first = _first_target(store, "5e11")
    dead = next(n for n in nodes if n.node_id == first)
    dead.proc.kill()
    dead.proc.wait()
    data = rand_bytes(4 * KiB, 1)
    ref = store.write(iter([data[:1000], data[1000:]]), size=len(data))
    assert ref.blob_id == blob_id and ref.size == len(data)
    assert list(ref.nodes) == [n for n in nodes_for(blob_id, store.node_ids, 3) if n != first]
    assert b"".join(store.open(ref)) == data
    assert store._health.is_down(first)


def test_small_write_does_not_wait_past_the_timeout_for_a_stalled_node(nodes, stores):
    store = stores(nodes, new_id=ids_from("5a11"), timeout=1.5, down_seconds=60)
    blob_id, first = _first_target(store, "5a11")
    stalled = next(n for n in nodes if n.node_id == first)
    store.write(iter([b"warm"]))                 # pooled connections to every node
    store._new_id = lambda: blob_id
    os_kill(stalled, signal.SIGSTOP)
    try:
        started = time.monotonic()
        ref = store.write(iter([b"s" * 4096]), size=4096)
        elapsed = time.monotonic() - started
    finally:
        os_kill(stalled, signal.SIGCONT)
    assert elapsed < 1.5 + 1.0, elapsed
    assert first not in ref.nodes and len(ref.nodes) == 2
    assert b"".join(store.open(ref)) == b"s" * 4096


def test_small_write_below_quorum_keeps_no_copy(nodes, stores):
    store = stores(nodes, new_id=ids_from("5b11"))
    for dead in nodes[:2]:
        dead.proc.kill()
        dead.proc.wait()
    with pytest.raises(QuorumError) as info:
        store.write(iter([b"q" * 100]))
    assert info.value.written == 1 and info.value.needed == 2
    assert holders(store, "5b11" + "0" * 28) == []


def test_small_body_error_sends_nothing(nodes, stores):
    store = stores(nodes, new_id=ids_from("5c11"))

    class Boom(Exception):
        pass

    def body():
        yield b"a" * 1000
        raise Boom()

    with pytest.raises(Boom):
        store.write(body())
    assert holders(store, "5c11" + "0" * 28) == []
    assert all(not list((n.data_dir / "tmp").iterdir()) for n in nodes)


def test_body_bigger_than_the_small_limit_streams(nodes, stores):
    store = stores(nodes, small_body=10 * KiB)
    data = rand_bytes(40 * KiB, 2)
    ref = store.write(iter([data[i:i + 3000] for i in range(0, len(data), 3000)]))
    assert ref.size == len(data) and len(ref.nodes) == 3
    assert b"".join(store.open(ref)) == data
    with pytest.raises(BlobError):               # unknown size, declared wrong at the end
        store.write(iter([data]), size=len(data) - 1)


# -- batched deletes --------------------------------------------------------------------

def test_delete_later_batches_and_node_batch_endpoint(nodes, stores):
    store = stores(nodes)
    refs = [store.write(iter([b"d" * 100])) for _ in range(30)]
    ghost = BlobRef("e" * 32, 1, tuple(store.node_ids))           # no node has it
    store.delete_later([*refs, ghost])
    deadline = time.monotonic() + 5
    while any(holders(store, r.blob_id) for r in refs):
        assert time.monotonic() < deadline, "background deletes did not happen"
        time.sleep(0.05)
    client = store.client(store.node_ids[0])
    keep = store.write(iter([b"k"]))
    assert client.delete_many([keep.blob_id, "f" * 32]) == {keep.blob_id: True, "f" * 32: False}
    assert store.node_ids[0] not in holders(store, keep.blob_id)


class _CountingClient:
    """A real NodeClient whose batch deletes are counted on the way through."""

    def __init__(self, client):
        self.client = client
        self.batches: list[int] = []

    def begin_delete_many(self, ids):
        self.batches.append(len(ids))
        return self.client.begin_delete_many(ids)

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_deletes_submitted_apart_share_one_batch_per_node(nodes, stores):
    """Refs queued a few ms apart (one DELETE request each, under load) wait for one another
    (the linger), so each node gets one batch rather than one request per ref."""
    store = stores(nodes)
    refs = [store.write(iter([b"b" * 10])) for _ in range(12)]
    clients = {n: _CountingClient(store.client(n)) for n in store.node_ids}
    deleter = BatchDeleter(clients, linger=0.2)
    for ref in refs:
        deleter.submit([ref])
        time.sleep(0.005)
    deleter.stop(5)
    assert all(holders(store, r.blob_id) == [] for r in refs)
    assert [c.batches for c in clients.values()] == [[12]] * 3


def test_a_stopped_deleter_starts_again_on_the_next_submit(nodes, stores):
    store = stores(nodes)
    first, second = (store.write(iter([b"s" * 10])) for _ in range(2))
    deleter = BatchDeleter({n: store.client(n) for n in store.node_ids}, linger=0)
    deleter.submit([first])
    deleter.stop(5)
    assert holders(store, first.blob_id) == [] and not deleter._thread.is_alive()
    deleter.submit([second])                       # a new thread takes it
    deleter.stop(5)
    assert holders(store, second.blob_id) == []


def test_close_finishes_queued_deletes(nodes, stores):
    store = stores(nodes)
    refs = [store.write(iter([b"c" * 10])) for _ in range(5)]
    store.delete_later(refs)
    store.close()
    assert all(holders(store, r.blob_id) == [] for r in refs)


# -- connections ------------------------------------------------------------------------

def test_pooled_connection_to_a_restarted_node_is_replaced(tmp_path, stores):
    nodes = start_nodes(tmp_path, 3, "--no-fsync")
    try:
        store = stores(nodes)
        ref = store.write(iter([b"r" * 4096]))          # one pooled connection per node
        for n in nodes:
            assert store.client(n.node_id).head(ref.blob_id) == 4096
        old = nodes[0]
        assert old.stop() == 0
        nodes[0] = NodeProcess(old.data_dir, old.node_id, "--no-fsync",
                               port=old.port).wait_ready()
        # every kind of request works at once on the restarted node (a streamed PUT first:
        # it cannot be resent, so the stale connection must be noticed before it is used)
        assert len(store.write(iter([b"m" * 300_000])).nodes) == 3
        ref2 = store.write(iter([b"n" * 4096]))
        assert len(ref2.nodes) == 3
        assert store.client(old.node_id).head(ref.blob_id) == 4096
        assert b"".join(store.client(old.node_id).get(ref.blob_id)) == b"r" * 4096
    finally:
        for n in nodes:
            n.stop()


class RawPeer:
    """A TCP listener that runs ``script(index, sock)`` for each accepted connection."""

    def __init__(self, script):
        self.script = script
        self.accepted = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.sock.settimeout(0.2)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            index, self.accepted = self.accepted, self.accepted + 1
            threading.Thread(target=self._run, args=(index, conn), daemon=True).start()

    def _run(self, index, conn):
        with conn:
            try:
                self.script(index, conn)
            except OSError:
                pass

    def close(self):
        self.stopped.set()
        self.thread.join()
        self.sock.close()


def read_request(conn) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return data
        data += piece
    return data


HEALTH = json.dumps({"status": "ok"}).encode()
OK = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(HEALTH), HEALTH)


@pytest.fixture
def peer():
    made = []

    def make(script):
        made.append(RawPeer(script))
        return made[-1]

    yield make
    for p in made:
        p.close()


def test_request_retried_once_when_a_pooled_connection_dies_unanswered(peer):
    def script(index, conn):
        read_request(conn)
        conn.sendall(OK)                  # the first request on each connection: answered
        if read_request(conn):            # the next one: read, then closed without a word
            time.sleep(0.05)

    p = peer(script)
    client = NodeClient("raw", p.url, timeout=2.0)
    assert client.health() == {"status": "ok"}
    time.sleep(0.01)
    assert client.health() == {"status": "ok"}        # resent on a new connection
    assert p.accepted == 2
    # a streamed PUT is never sent twice: the same situation is an error for it
    with pytest.raises(BlobError):
        client.put("a" * 32, iter([b"x" * 10]))
    client.close()


@pytest.mark.parametrize("answer", [
    b"garbage\r\n\r\n",
    b"HTTP/1.1 2OO OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nnot{}",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"",
])
def test_node_answering_garbage_is_a_blob_error(peer, answer):
    def script(index, conn):
        read_request(conn)
        conn.sendall(answer)

    p = peer(script)
    client = NodeClient("raw", p.url, timeout=2.0)
    with pytest.raises(BlobError) as info:
        client.health()
    assert info.value.node_id == "raw"
    with pytest.raises(BlobError):
        client.put("a" * 32, b"x" * 10)
    if not answer.endswith(b"not{}"):         # five bytes are a fine body for a GET
        with pytest.raises(BlobError):
            b"".join(client.get("a" * 32))


def test_silent_node_times_out(peer):
    def script(index, conn):
        read_request(conn)
        time.sleep(3)

    client = NodeClient("raw", peer(script).url, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(BlobError):
        client.head("a" * 32)
    assert time.monotonic() - started < 2


def test_chunked_answer_is_decoded(peer):
    body = HEALTH

    def script(index, conn):
        while read_request(conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n"
                         % (3, body[:3], len(body) - 3, body[3:]))

    p = peer(script)
    client = NodeClient("raw", p.url, timeout=2.0)
    assert client.health() == {"status": "ok"}
    assert client.health() == {"status": "ok"}
    assert p.accepted == 1                            # the connection was kept


def test_get_closed_early_drops_its_connection_only(nodes, stores):
    store = stores(nodes)
    data = rand_bytes(1024 * 1024 + 5, 3)
    ref = store.write(iter([data]))
    client = store.client(ref.nodes[0])
    body = client.get(ref.blob_id)
    assert len(next(body)) > 0
    body.close()
    assert b"".join(client.get(ref.blob_id, 10, 20)) == data[10:20]
    assert b"".join(client.get(ref.blob_id)) == data
    unstarted = client.get(ref.blob_id)
    unstarted.close()
    assert client.head(ref.blob_id) == len(data)


@pytest.mark.parametrize("pieces, size, stored", [
    ([b"a" * 300_000, b"b" * 300_000], 600_000, True),        # Content-Length framed, exact
    ([b"a" * 300_000, b"b" * 300_000], None, True),           # unknown size: chunked
    ([b"a" * 300_000], 600_000, False),                        # ends early
    ([b"a" * 300_000, b"b" * 300_001], 600_000, False),        # runs long
])
def test_streamed_put_with_a_declared_size_is_exact_or_nothing(nodes, pieces, size, stored):
    client = NodeClient(nodes[0].node_id, nodes[0].url, timeout=5.0)
    blob_id = "c" * 32
    try:
        if stored:
            got = client.put(blob_id, iter(pieces), size)
            assert got["size"] == sum(map(len, pieces))
            assert b"".join(client.get(blob_id)) == b"".join(pieces)
        else:
            with pytest.raises(BlobError):
                client.put(blob_id, iter(pieces), size)
            time.sleep(0.2)
            assert blob_id not in {b["id"] for b in client.inventory()["blobs"]}
            # the connection it broke is gone; the next request works
            assert client.put("d" * 32, iter([b"x" * 10]), 10)["size"] == 10
    finally:
        client.close()
