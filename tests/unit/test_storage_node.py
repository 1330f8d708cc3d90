"""The storage node over HTTP, as a real process (``python -m storage_node``)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import urllib3

MiB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NodeProcess:
    """One storage node process on a free port with its own data dir."""

    def __init__(self, data_dir: Path, node_id: str, *extra: str, port: int | None = None):
        self.data_dir = Path(data_dir)
        self.node_id = node_id
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(self.data_dir.parent / f"{node_id}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "storage_node", "--data-dir", str(self.data_dir),
             "--port", str(self.port), "--node-id", node_id, *extra],
            stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 15.0) -> "NodeProcess":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_text()
            try:
                with urllib3.PoolManager(retries=False, timeout=1.0) as http:
                    if http.request("GET", self.url + "/health").status == 200:
                        return self
            except urllib3.exceptions.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"node {self.node_id} did not start: {self.log_text()}")

    def log_text(self) -> str:
        self.log.flush()
        return (self.data_dir.parent / f"{self.node_id}.log").read_text(errors="replace")

    def blob_path(self, blob_id: str) -> Path:
        return self.data_dir / "blobs" / blob_id[:2] / blob_id[2:4] / blob_id

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def start_nodes(tmp: Path, count: int, *extra: str) -> list[NodeProcess]:
    """Start ``count`` nodes in parallel and wait for all of them."""
    nodes = []
    for i in range(count):
        (tmp / f"node-{i}").mkdir(parents=True, exist_ok=True)
        nodes.append(NodeProcess(tmp / f"node-{i}", f"node-{i}", *extra))
    return [n.wait_ready() for n in nodes]


def rand_bytes(n: int, seed: int = 0) -> bytes:
    import random
    return random.Random(seed).randbytes(n)


def blob_id(i: int) -> str:
    return f"{i:032x}"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = start_nodes(tmp_path_factory.mktemp("sn"), 1)[0]
    yield n
    assert n.stop() == 0


@pytest.fixture(scope="module")
def http():
    return urllib3.PoolManager(retries=False, timeout=10.0)


def put(http, node, bid, data, **headers):
    return http.request("PUT", f"{node.url}/blobs/{bid}", body=data, headers=headers)


def raw_request(node, payload: bytes, read: bool = True) -> bytes:
    """Send raw bytes on a fresh connection; return what comes back (until close/timeout)."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=5) as s:
        s.sendall(payload)
        if not read:
            return b""
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def test_health_and_ready(node, http):
    for path, status in (("/health", "ok"), ("/ready", "ready")):
        r = http.request("GET", node.url + path)
        doc = json.loads(r.data)
        assert r.status == 200 and doc["status"] == status and doc["node_id"] == node.node_id
        assert doc["free_bytes"] > 0 and doc["blobs_dir"].endswith("blobs")
    assert json.loads(http.request("GET", node.url + "/ready").data)["writable"] is True


def test_not_ready_without_its_blobs_dir(tmp_path, http):
    """A lost volume (the blobs dir is gone) makes /ready 503 while /health stays 200."""
    n = start_nodes(tmp_path, 1)[0]
    try:
        blobs = Path(json.loads(http.request("GET", n.url + "/health").data)["blobs_dir"])
        blobs.rename(blobs.with_name("blobs-away"))
        r = http.request("GET", n.url + "/ready")
        assert r.status == 503 and json.loads(r.data)["status"] == "unavailable"
        assert http.request("GET", n.url + "/health").status == 200
        blobs.with_name("blobs-away").rename(blobs)
        assert http.request("GET", n.url + "/ready").status == 200
    finally:
        n.stop()


def test_put_get_head_delete(node, http):
    data = rand_bytes(300_000, 1)
    r = put(http, node, blob_id(1), data)
    assert r.status == 201
    doc = json.loads(r.data)
    import xxhash
    assert doc == {"id": blob_id(1), "size": len(data), "xxh3": xxhash.xxh3_128_hexdigest(data)}
    assert node.blob_path(blob_id(1)).exists()
    r = http.request("GET", f"{node.url}/blobs/{blob_id(1)}")
    assert r.status == 200 and r.data == data and r.headers["Content-Length"] == str(len(data))
    r = http.request("HEAD", f"{node.url}/blobs/{blob_id(1)}")
    assert r.status == 200 and r.headers["Content-Length"] == str(len(data))
    assert http.request("DELETE", f"{node.url}/blobs/{blob_id(1)}").status == 204
    assert http.request("DELETE", f"{node.url}/blobs/{blob_id(1)}").status == 204
    assert http.request("GET", f"{node.url}/blobs/{blob_id(1)}").status == 404
    assert http.request("HEAD", f"{node.url}/blobs/{blob_id(1)}").status == 404


def test_empty_blob(node, http):
    assert put(http, node, blob_id(2), b"").status == 201
    r = http.request("GET", f"{node.url}/blobs/{blob_id(2)}")
    assert r.status == 200 and r.data == b""


def test_ranges(node, http):
    data = rand_bytes(3 * MiB + 5, 2)
    assert put(http, node, blob_id(3), data).status == 201
    url = f"{node.url}/blobs/{blob_id(3)}"
    for a, b in [(0, 0), (10, 19), (MiB - 3, MiB + 2), (2 * MiB, 3 * MiB + 4), (5, 10**9)]:
        r = http.request("GET", url, headers={"Range": f"bytes={a}-{b}"})
        assert r.status == 206
        assert r.data == data[a:b + 1]
        assert r.headers["Content-Range"] == f"bytes {a}-{min(b, len(data) - 1)}/{len(data)}"
    r = http.request("GET", url, headers={"Range": f"bytes={MiB}-"})
    assert r.status == 206 and r.data == data[MiB:]
    r = http.request("GET", url, headers={"Range": f"bytes={len(data)}-"})
    assert r.status == 416


def test_chunked_upload(node, http):
    data = rand_bytes(2 * MiB + 77, 3)
    pieces = (data[i:i + 100_000] for i in range(0, len(data), 100_000))
    r = http.request("PUT", f"{node.url}/blobs/{blob_id(4)}", body=pieces, chunked=True,
                     headers={"X-Blob-Size": str(len(data))})
    assert r.status == 201 and json.loads(r.data)["size"] == len(data)
    assert http.request("GET", f"{node.url}/blobs/{blob_id(4)}").data == data


def test_five_mib_round_trip(node, http):
    data = rand_bytes(5 * MiB, 4)
    assert put(http, node, blob_id(5), data).status == 201
    r = http.request("GET", f"{node.url}/blobs/{blob_id(5)}", preload_content=False)
    got = b"".join(r.stream(256 * 1024))
    assert got == data


@pytest.mark.parametrize("path", ["/blobs/..%2Fx", "/blobs/../x", "/blobs/" + "A" * 32,
                                  "/blobs/" + "a" * 33, "/blobs/" + "a" * 31, "/blobs/xyz/verify",
                                  "/blobs/" + "g" * 32])
def test_bad_ids_are_400(node, path):
    for method in ("POST",) if path.endswith("/verify") else ("GET", "PUT", "DELETE", "HEAD"):
        reply = raw_request(node, f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                                  f"Connection: close\r\n\r\n".encode())
        assert reply.startswith(b"HTTP/1.1 400"), (method, path, reply[:100])
    assert not list((node.data_dir / "blobs").glob("*/*/*x*"))


def test_size_mismatch_is_400_and_nothing_kept(node, http):
    r = put(http, node, blob_id(6), b"x" * 1000, **{"X-Blob-Size": "999"})
    assert r.status == 400
    r = http.request("PUT", f"{node.url}/blobs/{blob_id(6)}", body=iter([b"x" * 1000]),
                     chunked=True, headers={"X-Blob-Size": "1001"})
    assert r.status == 400
    assert http.request("HEAD", f"{node.url}/blobs/{blob_id(6)}").status == 404
    assert not node.blob_path(blob_id(6)).exists()


def _tmp_files(node):
    return list((node.data_dir / "tmp").iterdir())


def _eventually(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


@pytest.mark.parametrize("chunked", [False, True])
def test_aborted_upload_leaves_nothing(node, http, chunked):
    bid = blob_id(7 + chunked)
    if chunked:
        head = (f"PUT /blobs/{bid} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                f"{50000:x}\r\n").encode() + b"y" * 50000 + b"\r\n"
    else:
        head = (f"PUT /blobs/{bid} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
                ).encode() + b"y" * 50000
    raw_request(node, head, read=False)
    _eventually(lambda: not _tmp_files(node))
    assert http.request("HEAD", f"{node.url}/blobs/{bid}").status == 404
    assert not node.blob_path(bid).exists()


def test_inventory_paging(node, http):
    ids = [f"{i:02x}" + "ab" * 15 for i in range(200, 215)]
    for i, bid in enumerate(ids):
        assert put(http, node, bid, b"z" * i).status == 201
    seen, after = [], ""
    while True:
        r = http.request("GET", f"{node.url}/blobs", fields={"after": after, "limit": "4"})
        doc = json.loads(r.data)
        assert len(doc["blobs"]) <= 4
        seen += doc["blobs"]
        if doc["next"] is None:
            break
        assert doc["next"] == doc["blobs"][-1]["id"]
        after = doc["next"]
    listed = [b["id"] for b in seen]
    assert listed == sorted(listed) and set(ids) <= set(listed)
    sizes = {b["id"]: b["size"] for b in seen}
    assert [sizes[b] for b in ids] == list(range(15))
    assert all(isinstance(b["mtime"], float) for b in seen)
    r = http.request("GET", f"{node.url}/blobs", fields={"after": ids[-2], "limit": "1"})
    assert json.loads(r.data)["blobs"][0]["id"] == ids[-1]
    assert http.request("GET", f"{node.url}/blobs", fields={"limit": "10001"}).status == 400
    assert http.request("GET", f"{node.url}/blobs", fields={"after": "../"}).status == 400


def corrupt(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_verify(node, http):
    data = rand_bytes(2 * MiB + 10, 5)
    bid = blob_id(20)
    assert put(http, node, bid, data).status == 201
    r = http.request("POST", f"{node.url}/blobs/{bid}/verify")
    assert json.loads(r.data) == {"id": bid, "ok": True, "size": len(data)}
    corrupt(node.blob_path(bid), 2 * MiB + 3)
    r = http.request("POST", f"{node.url}/blobs/{bid}/verify")
    assert json.loads(r.data)["ok"] is False
    assert http.request("GET", f"{node.url}/blobs/{bid}").status == 404
    assert any(p.name.startswith(bid) for p in (node.data_dir / "quarantine").iterdir())
    assert http.request("POST", f"{node.url}/blobs/{blob_id(21)}/verify").status == 404


def test_corrupt_block_breaks_stream_and_quarantines(node, http):
    data = rand_bytes(4 * MiB, 6)
    bid = blob_id(22)
    assert put(http, node, bid, data).status == 201
    corrupt(node.blob_path(bid), 2 * MiB + 12345)          # block 2 of 0..3
    r = http.request("GET", f"{node.url}/blobs/{bid}", preload_content=False)
    assert r.status == 200
    got = b""
    with pytest.raises(urllib3.exceptions.HTTPError):
        for piece in r.stream(64 * 1024):
            got += piece
    assert got == data[:len(got)] and len(got) <= 2 * MiB
    assert http.request("GET", f"{node.url}/blobs/{bid}").status == 404
    assert any(p.name.startswith(bid) for p in (node.data_dir / "quarantine").iterdir())


def test_corrupt_first_block_is_an_error_status(node, http):
    data = rand_bytes(MiB + 1, 7)
    bid = blob_id(23)
    assert put(http, node, bid, data).status == 201
    corrupt(node.blob_path(bid), 5)
    assert http.request("GET", f"{node.url}/blobs/{bid}").status == 500
    assert http.request("GET", f"{node.url}/blobs/{bid}").status == 404


def test_capacity_limit_507(tmp_path, http):
    n = start_nodes(tmp_path, 1, "--capacity-bytes", str(MiB), "--no-fsync")[0]
    try:
        assert put(http, n, blob_id(30), b"a" * 500_000).status == 201
        r = put(http, n, blob_id(31), b"a" * 600_000)
        assert r.status == 507 and json.loads(r.data)["title"]
        r = http.request("PUT", f"{n.url}/blobs/{blob_id(32)}", chunked=True,
                         body=(b"b" * 100_000 for _ in range(7)))
        assert r.status == 507
        assert json.loads(http.request("GET", n.url + "/health").data)["free_bytes"] < MiB - 500_000
        assert not n.blob_path(blob_id(31)).exists() and not n.blob_path(blob_id(32)).exists()
        assert not list((n.data_dir / "tmp").iterdir())
    finally:
        http.clear()
        assert n.stop() == 0


def test_old_temp_files_cleaned_at_start(tmp_path):
    d = tmp_path / "node-0" / "tmp"
    d.mkdir(parents=True)
    (d / "old.tmp").write_bytes(b"x")
    (d / "new.tmp").write_bytes(b"x")
    os.utime(d / "old.tmp", (time.time() - 7200, time.time() - 7200))
    n = start_nodes(tmp_path, 1)[0]
    try:
        assert sorted(p.name for p in d.iterdir()) == ["new.tmp"]
        assert "listening on http://127.0.0.1:" in n.log_text()
    finally:
        assert n.stop() == 0


def test_conditional_delete_by_age(node, http):
    bid = blob_id(40)
    assert put(http, node, bid, b"young").status == 201
    r = http.request("DELETE", f"{node.url}/blobs/{bid}?min_age=60")
    assert r.status == 412 and node.blob_path(bid).exists()
    old = time.time() - 120
    os.utime(node.blob_path(bid), (old, old))
    assert http.request("DELETE", f"{node.url}/blobs/{bid}?min_age=60").status == 204
    assert not node.blob_path(bid).exists()
    assert http.request("DELETE", f"{node.url}/blobs/{bid}?min_age=60").status == 204   # idempotent
    assert http.request("DELETE", f"{node.url}/blobs/{bid}?min_age=abc").status == 400


def test_inventory_reports_node_clock_and_health_reports_space(node, http):
    before = time.time()
    doc = json.loads(http.request("GET", f"{node.url}/blobs?limit=1").data)
    assert before - 1 <= doc["now"] <= time.time() + 1
    health = json.loads(http.request("GET", f"{node.url}/health").data)
    assert health["capacity_bytes"] is None and health["used_bytes"] >= 0


def test_restarted_node_counts_what_it_holds_in_the_background(tmp_path, http):
    """A node starts answering at once and counts the bytes already stored in a background
    thread (at a million blobs the count takes longer than a start-up wait: `serve` gave up
    on such nodes); writes made meanwhile are counted once, not twice."""
    first = start_nodes(tmp_path, 1, "--no-fsync")[0]
    sizes = [1000, 200_000, 3 * MiB + 7]
    for i, n in enumerate(sizes):
        assert put(http, first, blob_id(70 + i), b"s" * n).status == 201
    stored = sum(os.path.getsize(first.blob_path(blob_id(70 + i))) for i in range(len(sizes)))
    http.clear()
    assert first.stop() == 0
    again = NodeProcess(tmp_path / "node-0", "node-0", "--no-fsync").wait_ready()
    try:
        assert put(http, again, blob_id(80), b"n" * 5000).status == 201
        newer = os.path.getsize(again.blob_path(blob_id(80)))

        def health():
            return json.loads(http.request("GET", f"{again.url}/health").data)
        deadline = time.monotonic() + 10
        while not health()["used_bytes_counted"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert health()["used_bytes"] == stored + newer
    finally:
        http.clear()
        again.stop()


def test_batch_delete(node, http):
    ids = [blob_id(50 + i) for i in range(3)]
    for bid in ids[:2]:
        assert put(http, node, bid, b"b").status == 201
    r = http.request("POST", f"{node.url}/blobs/delete", body=json.dumps({"ids": ids}),
                     headers={"Content-Type": "application/json"})
    assert r.status == 200
    assert json.loads(r.data) == {"deleted": ids[:2], "absent": ids[2:]}
    assert not any(node.blob_path(bid).exists() for bid in ids)
    # a bad document or id deletes nothing
    assert put(http, node, blob_id(60), b"k").status == 201
    for doc in ({"ids": [blob_id(60), "../x"]}, {"ids": blob_id(60)}, [blob_id(60)],
                {"ids": [blob_id(60)] * 1001}):
        r = http.request("POST", f"{node.url}/blobs/delete", body=json.dumps(doc))
        assert r.status == 400, doc
    assert http.request("POST", f"{node.url}/blobs/delete", body=b"{not json").status == 400
    assert node.blob_path(blob_id(60)).exists()


def _thread_nice_values(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        out.append(int(fields[16]))          # field 19 of proc(5): nice
    return out


def test_batch_deletes_run_on_a_low_priority_thread(node, http):
    """A batch delete's unlinks run on one thread at nice +10 (the request waits for it), so
    bursts of deletes give way to the requests clients wait for; the node's other threads
    keep their priority."""
    bid = blob_id(70)
    assert put(http, node, bid, b"n").status == 201
    r = http.request("POST", f"{node.url}/blobs/delete", body=json.dumps({"ids": [bid]}))
    assert r.status == 200 and json.loads(r.data)["deleted"] == [bid]
    nice = _thread_nice_values(node.proc.pid)
    base = os.getpriority(os.PRIO_PROCESS, node.proc.pid)
    assert nice.count(min(base + 10, 19)) == 1 and nice.count(base) == len(nice) - 1, nice


def test_new_fan_out_directories_are_made_durable(tmp_path, monkeypatch):
    """A blob in a fan-out directory that did not exist: the new directories' entries (ab in
    blobs/, cd in ab/) are fsynced as well as the blob's own rename; later blobs in the same
    directory fsync only that directory. (Disk in-process, every fsync of a directory logged.)"""
    import storage_node.disk as disk_mod
    from storage_node.settings import NodeSettings

    synced: list[str] = []
    real = disk_mod.fsync_dir
    monkeypatch.setattr(disk_mod, "fsync_dir", lambda p: (synced.append(str(p)), real(p)))
    d = disk_mod.Disk(NodeSettings(data_dir=tmp_path / "n", node_id="n", fsync=True))
    d.prepare()
    blobs = str(d.blobs_dir)
    first = "ab" + "cd" + "0" * 28
    d.write(first, [b"one"])
    assert synced == [blobs, f"{blobs}/ab", f"{blobs}/ab/cd"]
    synced.clear()
    d.write("abcd" + "1" * 28, [b"two"])
    assert synced == [f"{blobs}/ab/cd"]
    synced.clear()
    d.write("ab" + "ef" + "2" * 28, [b"three"])             # ab exists, ef is new
    assert synced == [f"{blobs}/ab", f"{blobs}/ab/ef"]


# -- POST /blobs/write ------------------------------------------------------------------

def write_batch(http, node, blobs, *, names=None, **headers):
    body = b"".join(data for _, data in blobs)
    names = names if names is not None else ",".join(f"{b}:{len(d)}" for b, d in blobs)
    return http.request("POST", f"{node.url}/blobs/write", body=body,
                        headers={"X-Blobs": names, "Content-Type": "application/octet-stream", **headers})


def test_batch_write_stores_each_blob(node, http):
    import xxhash
    blobs = [(blob_id(0x500 + i), rand_bytes(n, i)) for i, n in enumerate((0, 1, 4096, 70_000))]
    r = write_batch(http, node, blobs)
    assert r.status == 200, r.data
    answers = json.loads(r.data)["blobs"]
    assert answers == [{"id": b, "size": len(d), "xxh3": xxhash.xxh3_128_hexdigest(d)} for b, d in blobs]
    for b, d in blobs:
        got = http.request("GET", f"{node.url}/blobs/{b}")
        assert got.status == 200 and got.data == d
    assert not _tmp_files(node)
    # the same ids again: replaced, like a PUT of an existing id
    r = write_batch(http, node, [(blobs[2][0], b"new bytes")])
    assert r.status == 200 and http.request("GET", f"{node.url}/blobs/{blobs[2][0]}").data == b"new bytes"


@pytest.mark.parametrize("names, body, why", [
    (None, b"abc", "no X-Blobs"),
    ("", b"abc", "empty X-Blobs"),
    (f"{blob_id(0x601)}:2", b"abc", "sizes short of the body"),
    (f"{blob_id(0x601)}:4", b"abc", "sizes past the body"),
    (f"{blob_id(0x601)}:1,{blob_id(0x601)}:2", b"abc", "an id twice"),
    ("../../etc:3", b"abc", "a bad id"),
    (f"{blob_id(0x601)}:x", b"abc", "a bad size"),
    (f"{blob_id(0x601)}", b"abc", "no size"),
    (",".join(f"{blob_id(0x700 + i)}:0" for i in range(129)), b"", "too many blobs"),
])
def test_batch_write_refuses_bad_requests_whole(node, http, names, body, why):
    headers = {} if names is None else {"X-Blobs": names}
    r = http.request("POST", f"{node.url}/blobs/write", body=body, headers=headers)
    assert r.status == 400, (why, r.status, r.data)
    assert json.loads(r.data)["title"]
    assert not node.blob_path(blob_id(0x601)).exists() and not node.blob_path(blob_id(0x700)).exists()


def test_batch_write_of_a_truncated_body_stores_nothing(node):
    names = f"{blob_id(0x610)}:3,{blob_id(0x611)}:100"
    out = raw_request(node, b"POST /blobs/write HTTP/1.1\r\nHost: x\r\nContent-Length: 103\r\n"
                            b"X-Blobs: " + names.encode() + b"\r\n\r\nabc" + b"y" * 50)
    assert out.startswith(b"HTTP/1.1 400"), out[:200]
    assert not node.blob_path(blob_id(0x610)).exists() and not node.blob_path(blob_id(0x611)).exists()
    assert not _tmp_files(node)


def test_batch_write_over_the_body_limit_is_refused(node, http):
    from storage_node.app import MAX_WRITE_BATCH_BODY
    n = MAX_WRITE_BATCH_BODY + 1
    out = raw_request(node, b"POST /blobs/write HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                            b"X-Blobs: %s:%d\r\n\r\n" % (n, blob_id(0x620).encode(), n))
    assert out.startswith(b"HTTP/1.1 400"), out[:200]
    assert not node.blob_path(blob_id(0x620)).exists()


def test_batch_write_answers_each_blob_that_does_not_fit(tmp_path, http):
    """A node near its capacity stores the blobs of a batch that fit and answers 507 for the
    others, each in its place; nothing partial is left."""
    n = start_nodes(tmp_path, 1, "--no-fsync", "--capacity-bytes", str(300_000))[0]
    try:
        blobs = [(blob_id(0x630), rand_bytes(100_000, 1)), (blob_id(0x631), rand_bytes(250_000, 2)),
                 (blob_id(0x632), rand_bytes(50_000, 3))]
        r = write_batch(http, n, blobs)
        assert r.status == 200, r.data
        answers = json.loads(r.data)["blobs"]
        assert [a["id"] for a in answers] == [b for b, _ in blobs]
        assert answers[0]["size"] == 100_000 and answers[2]["size"] == 50_000
        assert answers[1]["status"] == 507 and "capacity" in answers[1]["error"]
        assert http.request("GET", f"{n.url}/blobs/{blob_id(0x630)}").data == blobs[0][1]
        assert http.request("GET", f"{n.url}/blobs/{blob_id(0x632)}").data == blobs[2][1]
        assert not n.blob_path(blob_id(0x631)).exists() and not _tmp_files(n)
        used = json.loads(http.request("GET", n.url + "/health").data)["used_bytes"]
        assert 150_000 <= used < 160_000          # both stored blobs and their footers, no more
    finally:
        assert n.stop() == 0
