"""PostgreSQL goes away during traffic: 503 ServiceUnavailable fast while it is gone, and
success again without restarting the gateway once it is back.

The shared PostgreSQL server cannot be stopped, so the system talks to a throwaway
database through a TCP proxy in this process; cutting the proxy (every open connection
reset, new ones refused) is the outage."""
from __future__ import annotations

import socket
import threading
import time
import uuid

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
