"""The systems ``--compare-moto`` starts (ours via ``s3server serve``, moto's server), and the
resident-memory sampler that watches their processes during the large scenarios."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.1)
    return False


class System:
    """A started system: endpoint, credentials, and the pids whose memory we watch."""
    name = ""
    endpoint = ""
    access_key = ""
    secret_key = ""
    description = ""

    def pids(self) -> dict[str, int]:
        return {}

    def node_urls(self) -> list[str]:
        """The storage nodes' URLs, when known (ours: from ``serve.json``)."""
        return []

    def stop(self) -> None:
        pass


class OurSystem(System):
    """``s3server serve`` in a temporary data dir: 3 storage nodes, 3 replicas, write quorum 2,
    fsync on; PostgreSQL when ``S3_DATABASE_URL`` is set, else SQLite."""
    name = "s3server"

    def __init__(self, workers: int | None = None, keep_dir: bool = False):
        self.tmp = tempfile.mkdtemp(prefix="s3bench-ours-")
        self.data_dir = Path(self.tmp) / "data"
        self.keep_dir = keep_dir
        self.access_key = "AKBENCH" + secrets.token_hex(6).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.port = free_port()
        env = dict(os.environ)
        env.update({"S3_FSYNC": "1", "S3_REPLICAS": "3", "S3_WRITE_QUORUM": "2", "S3_NODE_BASE_PORT": "0",
                    "S3_LOG_LEVEL": env.get("S3_LOG_LEVEL", "warning"), "S3_RATE_LIMIT_PER_MIN": "0",
                    "S3_ADMIN_ACCESS_KEY": self.access_key, "S3_ADMIN_SECRET_KEY": self.secret_key,
                    "S3_ADMIN_API_KEY": "s3k_" + secrets.token_urlsafe(24)})
        if workers:
            env["S3_WORKERS"] = str(workers)
        for k in ("S3_STORAGE_NODES", "S3_DATA_DIR", "S3_PORT"):
            env.pop(k, None)
        db = env.get("S3_DATABASE_URL", "")
        self.backend = "PostgreSQL" if db.startswith("postgres") else "SQLite"
        self.log = open(Path(self.tmp) / "serve.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "s3server", "serve", "--data-dir", str(self.data_dir), "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL, env=env, text=True,
            start_new_session=True)
        ready = threading.Event()
        self.lines: list[str] = []

        def reader():
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if line.startswith("Press Ctrl-C"):
                    ready.set()
            ready.set()

        threading.Thread(target=reader, daemon=True).start()
        if not ready.wait(120) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError(f"s3server serve did not start (see {self.log.name}): {self.lines[-5:]}")
        self.state = json.loads((self.data_dir / "serve.json").read_text())
        self.endpoint = self.state["endpoint"]
        self.description = (f"s3server serve ({self.backend}, 3 nodes, 3 replicas, quorum 2, fsync on, "
                            f"{env.get('S3_WORKERS', 'default')} workers)")

    def node_urls(self) -> list[str]:
        return [n["url"] for n in self.state["nodes"]]

    def pids(self) -> dict[str, int]:
        out = {"gateway": self.state["gateway_pid"]}
        for n in self.state["nodes"]:
            out[n["id"]] = n["pid"]
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        if not self.keep_dir:
            shutil.rmtree(self.tmp, ignore_errors=True)


class MotoSystem(System):
    """moto's standalone server (``python -m moto.server``): everything in memory."""
    name = "moto"

    def __init__(self):
        import importlib.util
        missing = [m for m in ("moto", "flask", "werkzeug") if importlib.util.find_spec(m) is None]
        if missing:   # flask/werkzeug come with moto[server]
            raise RuntimeError("--compare-moto needs moto's server: pip install -e '.[bench]' "
                               f"(or 'moto[server]'); missing: {', '.join(missing)}")
        self.access_key, self.secret_key = "testing", "testing"
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        if not _wait_http(self.endpoint + "/moto-api/", self.proc, 60):
            self.stop()
            raise RuntimeError("moto's server did not start")
        import moto as m
        self.description = f"moto {getattr(m, '__version__', '?')} server (python -m moto.server, in memory)"

    def pids(self) -> dict[str, int]:
        return {"moto": self.proc.pid}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class ExternalSystem(System):
    name = "endpoint"

    def __init__(self, endpoint: str, access_key: str, secret_key: str, data_dir: str | None = None):
        self.endpoint, self.access_key, self.secret_key = endpoint, access_key, secret_key
        self.description = endpoint
        self._pids: dict[str, int] = {}
        self._node_urls: list[str] = []
        if data_dir:   # a running `s3server serve --data-dir D`: watch its processes' memory
            state = json.loads((Path(data_dir) / "serve.json").read_text())
            self._pids = {"gateway": state["gateway_pid"], **{n["id"]: n["pid"] for n in state.get("nodes", [])}}
            self._node_urls = [n["url"] for n in state.get("nodes", []) if n.get("url")]

    def node_urls(self) -> list[str]:
        return self._node_urls

    def pids(self) -> dict[str, int]:
        return self._pids


def node_filesystems(urls: list[str], timeout: float = 5.0) -> str:
    """What the nodes' ``/health`` say of their data directories' file systems, as one line
    ("/dev/vda (ext4, no journal)"; several distinct ones joined by "; "), "" if none said."""
    seen: list[str] = []
    for url in urls:
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout) as r:
                fs = json.loads(r.read()).get("filesystem") or {}
        except (OSError, ValueError):
            continue
        if not fs.get("type"):
            continue
        journal = {True: ", journal", False: ", no journal"}.get(fs.get("journal"), "")
        text = f"{fs.get('source') or fs.get('mount_point')} ({fs['type']}{journal})"
        if text not in seen:
            seen.append(text)
    return "; ".join(seen)


# --------------------------------------------------------------------------- memory
def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return out


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """Samples VmRSS of each watched process and its children (gunicorn's master and workers are
    one 'gateway': reported per process, the largest growth counts) every ``interval`` seconds."""

    def __init__(self, pids: dict[str, int], interval: float = 0.05):
        self.roots = pids
        self.interval = interval
        self.before: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _procs(self) -> dict[str, int]:
        out = {}
        for name, pid in self.roots.items():
            out[name] = pid
            for i, c in enumerate(_children(pid)):
                out[f"{name}.worker{i}"] = c
        return out

    def _sample(self) -> None:
        for name, pid in self._procs().items():
            kib = _rss_kib(pid)
            if kib:
                self.before.setdefault(name, kib)
                self.peak[name] = max(self.peak.get(name, 0), kib)

    def __enter__(self) -> "RssSampler":
        if self.roots:
            self._sample()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
            self._sample()

    def result(self) -> dict:
        procs = {n: {"before_mib": round(self.before[n] / 1024, 1), "peak_mib": round(self.peak[n] / 1024, 1),
                     "growth_mib": round((self.peak[n] - self.before[n]) / 1024, 1)} for n in self.peak}
        gw = [v["growth_mib"] for n, v in procs.items() if n.startswith(("gateway", "moto"))]
        nodes = [v["growth_mib"] for n, v in procs.items() if n.startswith("node")]
        peak = [v["peak_mib"] for n, v in procs.items() if n.startswith(("gateway", "moto"))]
        return {"processes": procs, "max_gateway_growth_mib": max(gw, default=None),
                "max_node_growth_mib": max(nodes, default=None), "max_gateway_peak_mib": max(peak, default=None)}
