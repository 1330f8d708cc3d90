"""PostgreSQL goes away during traffic: 503 ServiceUnavailable fast while it is gone, and
success again without restarting the gateway once it is back.

Two ways: (1) a throwaway database on the shared server, reached through a TCP proxy in this
process; cutting the proxy (every open connection reset, new ones refused) is the outage;
(2) a private PostgreSQL cluster (initdb + pg_ctl on a free port) that is really stopped and
started again under a stream of PUTs."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import PG_ADMIN_URL, PgDatabase, require_pg
from tests.conftest import ServeProcess
from tests.durability.conftest import DURABLE_ENV, wait_for

pytestmark = pytest.mark.slow


class CuttableProxy:
    """127.0.0.1:<port> -> PostgreSQL. ``cut()`` resets every connection and refuses new
    ones (the port is closed); ``restore()`` listens on the same port again."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self.port = ls.getsockname()[1]
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def cut(self) -> None:
        ls, self._listener = self._listener, None
        if ls is not None:
            try:
                ls.shutdown(socket.SHUT_RDWR)   # wakes accept(); close() alone keeps listening
            except OSError:
                pass
            ls.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)   # wakes the pipe threads; close() alone would not
                c.close()
            except OSError:
                pass

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass


def test_postgresql_outage_is_503_then_recovers(tmp_path, ledger):
    require_pg()
    from sqlalchemy.engine import make_url
    admin = make_url(PG_ADMIN_URL)
    db = PgDatabase()
    proxy = CuttableProxy((admin.host or "127.0.0.1", admin.port or 5432))
    url = make_url(db.url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    serve = ServeProcess(tmp_path / "data", env={**DURABLE_ENV, "S3_DATABASE_URL": url}).start()
    try:
        s3 = serve.client()
        bucket = f"pg-{uuid.uuid4().hex[:16]}"
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="before", Body=b"before")
        ledger.writes_attempted += 1
        ledger.writes_acknowledged += 1

        proxy.cut()
        ledger.faults_injected += 1
        for op in (lambda: s3.put_object(Bucket=bucket, Key="during", Body=b"during"),
                   lambda: s3.get_object(Bucket=bucket, Key="before"),
                   lambda: s3.list_objects_v2(Bucket=bucket)):
            started = time.monotonic()
            with pytest.raises(ClientError) as info:
                op()
            assert time.monotonic() - started < 8          # fast, not a hung worker
            err = info.value.response
            assert err["ResponseMetadata"]["HTTPStatusCode"] == 503, err
            assert err["Error"]["Code"] == "ServiceUnavailable"
        ledger.writes_attempted += 1

        proxy.restore()                                    # no gateway restart
        wait_for(lambda: _get(s3, bucket, "before") == b"before", timeout=20, step=0.5)
        s3.put_object(Bucket=bucket, Key="after", Body=b"after")
        ledger.writes_attempted += 1
        ledger.writes_acknowledged += 1
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        assert keys == ["after", "before"]                 # the refused PUT left nothing
        assert _get(s3, bucket, "after") == b"after"
        ledger.writes_verified += 2
    finally:
        serve.stop()
        proxy.cut()
        db.drop()


def _get(s3, bucket, key):
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError:
        return None


# ------------------------------------------------------------------ a real PostgreSQL restart
def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster of our own (initdb + pg_ctl on a free port), so that the
    test can stop and start a real server without touching the shared one."""

    def __init__(self):
        self.bin = _pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="s3pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0          # initdb refuses to run as root
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.dir / "log"), "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", "fast", "stop")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_postgresql_restart_during_traffic(tmp_path, ledger):
    """Stop and start a real PostgreSQL server under a stream of PUTs: 503s while it is down, success
    after without restarting the gateway, and every acknowledged PUT readable with its bytes."""
    if _pg_bin() is None:
        pytest.skip("no PostgreSQL server binaries (initdb/pg_ctl) on this machine")
    pg = PrivatePostgres()
    serve = ServeProcess(tmp_path / "data", env={**DURABLE_ENV, "S3_DATABASE_URL": pg.url}).start()
    try:
        s3 = serve.client()
        bucket = f"pr-{uuid.uuid4().hex[:16]}"
        s3.create_bucket(Bucket=bucket)
        acked: dict[str, bytes] = {}
        codes: list[int] = []
        stop = threading.Event()

        def writer(t: int) -> None:
            c = serve.client()
            n = 0
            while not stop.is_set():
                key, data = f"w{t}-{n}", uuid.uuid4().bytes * 100
                try:
                    c.put_object(Bucket=bucket, Key=key, Body=data)
                    acked[key] = data
                    codes.append(200)
                except ClientError as e:
                    codes.append(e.response["ResponseMetadata"]["HTTPStatusCode"])
                    assert e.response["Error"]["Code"] == "ServiceUnavailable", e.response
                n += 1
                time.sleep(0.01)

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(3)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked) >= 20, timeout=20)
        pg.stop()
        ledger.faults_injected += 1
        before = len(codes)
        wait_for(lambda: codes[before:].count(503) >= 3, timeout=20)
        pg.start()
        mark = len(codes)
        wait_for(lambda: codes[mark:].count(200) >= 20, timeout=30, step=0.2)
        stop.set()
        for t in threads:
            t.join(30)
        assert set(codes) <= {200, 503}
        ledger.writes_attempted += len(codes)
        ledger.writes_acknowledged += len(acked)
        for key, data in acked.items():
            got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            if got != data:
                ledger.bytes_lost += len(data)
            assert got == data
        ledger.writes_verified += len(acked)
        listed = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            listed |= {o["Key"] for o in page.get("Contents", [])}
        assert set(acked) <= listed
    finally:
        serve.stop()
        pg.destroy()
