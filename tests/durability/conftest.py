"""Helpers for the fault-injection suite: each module starts its own system (never the
shared session ``system``), breaks real processes, and records what it wrote and what
it verified afterwards in the ledger printed at the end of the run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from s3server.meta.store import MetadataStore
from tests.conftest import ServeProcess

# Durability systems: no fsync (a kill -9 loses nothing from the page cache; only power
# loss would), the background loop off (tests run repair themselves), quick back-off.
DURABLE_ENV = {"S3_FSYNC": "0", "S3_REPAIR_INTERVAL": "0", "S3_NODE_DOWN_SECONDS": "1",
               "S3_NODE_TIMEOUT": "5"}


@dataclass
class Ledger:
    writes_attempted: int = 0
    writes_acknowledged: int = 0
    writes_verified: int = 0
    faults_injected: int = 0
    bytes_lost: int = 0

    def line(self) -> str:
        return "durability: " + ", ".join(f"{f.name.replace('_', ' ')} {getattr(self, f.name)}"
                                          for f in fields(self))


LEDGER = Ledger()


@pytest.fixture(scope="session")
def ledger() -> Ledger:
    return LEDGER


def pytest_terminal_summary(terminalreporter):
    if LEDGER.writes_attempted or LEDGER.faults_injected:
        terminalreporter.write_sep("=", LEDGER.line())


def start_system(tmp_path: Path, **env) -> ServeProcess:
    return ServeProcess(tmp_path / "data", env={**DURABLE_ENV, **env}).start()


def run_repair(serve: ServeProcess, *args: str, timeout: float = 120,
               env: dict[str, str] | None = None) -> tuple[int, list[dict]]:
    """``s3server repair --data-dir`` against the running system: (exit code, JSON lines)."""
    r = subprocess.run([sys.executable, "-m", "s3server", "repair", "--data-dir", str(serve.data_dir), *args],
                       capture_output=True, text=True, timeout=timeout, env={**serve.env, **(env or {})})
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert lines and lines[-1]["event"] == "summary", (r.stdout, r.stderr)
    return r.returncode, lines


def blob_uses(serve: ServeProcess) -> list:
    """Every (row, blob) the system's metadata references, with the node lists."""
    store = MetadataStore.from_url(serve.state["database_url"], pool_size=1)
    try:
        return list(store.iter_blob_uses())
    finally:
        store.close()


def kill_gateway(serve: ServeProcess) -> None:
    """kill -9 the gunicorn master and all its workers (not serve, not the nodes)."""
    master = serve.state["gateway_pid"]
    kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True,
                          text=True).stdout.split()
    for pid in [int(k) for k in kids] + [master]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_for(check, timeout: float = 10.0, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(step)


def node_down(serve: ServeProcess, i: int) -> None:
    """kill -9 node ``i``, whether serve started it or a test restarted it."""
    restarted = getattr(serve, "restarted", {})
    proc = restarted.pop(i, None)
    if proc is None:
        serve.stop_node(i)
        return
    proc.kill()
    proc.wait()


def node_up(serve: ServeProcess, i: int, *extra: str) -> subprocess.Popen:
    """Restart node ``i`` with serve's command (plus ``extra`` arguments)."""
    node = serve.state["nodes"][i]
    proc = subprocess.Popen(node["cmd"] + list(extra), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not hasattr(serve, "restarted"):
        serve.restarted = {}
    serve.restarted[i] = proc
    import urllib.request
    def answers():
        try:
            urllib.request.urlopen(node["url"] + "/health", timeout=1)
            return True
        except OSError:
            return proc.poll() is not None and (_ for _ in ()).throw(RuntimeError("node exited"))
    wait_for(answers, timeout=30)
    return proc


def stop_restarted_nodes(serve: ServeProcess) -> None:
    for proc in getattr(serve, "restarted", {}).values():
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
