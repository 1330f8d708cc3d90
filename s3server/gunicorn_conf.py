"""gunicorn settings for the gateway: gevent workers. With gunicorn_worker, the only modules
that know gevent.

Used as ``gunicorn -c python:s3server.gunicorn_conf s3server.wsgi:app`` (the container
command) and by ``s3server gateway`` / ``s3server serve``, which run the same thing.
"""
import os
import shutil
import tempfile

_port = os.environ.get("S3_PORT", "7841")
_bind_host = os.environ.get("S3_BIND", "0.0.0.0")

bind = [f"{_bind_host}:{_port}"]
workers = int(os.environ.get("S3_WORKERS", "2"))
worker_class = "s3server.gunicorn_worker.GatewayWorker"   # gevent, closing idle connections on stop
worker_connections = int(os.environ.get("S3_WORKER_CONNECTIONS", "1000"))
timeout = 120            # heartbeat; gevent workers stay responsive during long transfers
graceful_timeout = 30
keepalive = 75           # behind load balancers that keep connections for 60 s
accesslog = None         # the app logs one line per request with its request id
errorlog = "-"
loglevel = os.environ.get("S3_LOG_LEVEL", "info")
proc_name = "s3server-gateway"
forwarded_allow_ips = os.environ.get("S3_TRUSTED_PROXIES", "127.0.0.1")
if os.environ.get("S3_CERTFILE") and os.environ.get("S3_KEYFILE"):
    certfile = os.environ["S3_CERTFILE"]
    keyfile = os.environ["S3_KEYFILE"]
# gunicorn writes its own ``Server: gunicorn`` on every response (before the app's headers, which
# then duplicate it); answer as s3server instead, once.
import gunicorn.http.wsgi as _gunicorn_wsgi  # noqa: E402

_gunicorn_wsgi.SERVER = "s3server"

# A small body goes out in the same send() as the head, so a worker killed mid-response never
# leaves a client a "200 OK" without its body (s3server/gunicorn_http.py).
# A client that stops reading an answer is cut off after S3_BODY_IDLE_TIMEOUT seconds, as one
# that stops sending a body (api/middleware.py).
from s3server import gunicorn_http  # noqa: E402
from s3server.config import Settings  # noqa: E402

gunicorn_http.install(send_idle_timeout=Settings.from_env().body_idle_timeout)

# gunicorn >= 24 opens a control socket at one fixed path per user; several gateways on
# one machine (tests, side-by-side serves) would fight over it. We do not use it.
control_socket_disable = True


# One pod-local directory shared by this master's workers, made before they fork: the
# rate-limit table (s3server/auth/ratelimit.py) and prometheus-client's multiprocess files
# (s3server/api/metrics.py). S3_RUN_DIR may name it (an emptyDir in k8s); it is emptied here.
_own_run_dir = not os.environ.get("S3_RUN_DIR")
_run_dir = os.environ.get("S3_RUN_DIR") or tempfile.mkdtemp(prefix="s3server-run-")
shutil.rmtree(os.path.join(_run_dir, "metrics"), ignore_errors=True)
if os.path.exists(os.path.join(_run_dir, "ratelimit.bin")):
    os.unlink(os.path.join(_run_dir, "ratelimit.bin"))
os.makedirs(os.path.join(_run_dir, "metrics"), exist_ok=True)
os.environ["S3_RUN_DIR"] = _run_dir
os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(_run_dir, "metrics")


def child_exit(server, worker):
    """A worker is gone: drop its live gauges from the multiprocess metrics."""
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid, os.environ["PROMETHEUS_MULTIPROC_DIR"])


def on_exit(server):
    _stop_repair_loop()
    if _own_run_dir:
        shutil.rmtree(_run_dir, ignore_errors=True)


# The background repair loop (S3_REPAIR_INTERVAL > 0): one ``s3server repair --loop``
# child per gateway master (not per worker), asked by Linux to die with the master even
# if the master is SIGKILLed. Several pods each run one; that is safe (see
# s3server/service/repair.py) and on PostgreSQL an advisory lock makes them take turns.
_repair_proc = None


def _repair_interval() -> float:
    try:
        return float(os.environ.get("S3_REPAIR_INTERVAL") or 0)
    except ValueError:
        return 0.0


def _die_with_parent():
    import ctypes
    import signal
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def when_ready(server):
    global _repair_proc
    if _repair_interval() > 0 and _repair_proc is None:
        import subprocess
        import sys
        _repair_proc = subprocess.Popen([sys.executable, "-m", "s3server", "repair", "--loop"],
                                        stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)


def _stop_repair_loop():
    if _repair_proc is not None and _repair_proc.poll() is None:
        _repair_proc.terminate()
        try:
            _repair_proc.wait(10)
        except Exception:
            _repair_proc.kill()


def post_worker_init(worker):
    """In each gevent worker, once gevent has patched it: let psycopg wait for PostgreSQL on the
    gevent hub's own I/O watchers. psycopg detects gevent and falls back to ``select.poll``, which
    gevent emulates in Python (watcher objects built on every wait, several per query); waiting
    on the hub directly costs ~0.1 ms less CPU per metadata query (measured on 4 KiB HEADs)."""
    try:
        import psycopg.waiting
    except ImportError:         # SQLite-only install
        return
    psycopg.waiting.wait = _hub_wait()


def _hub_wait():
    """A psycopg ``WaitFunc`` (the contract of psycopg.waiting.wait_poll): drive ``gen``, sending
    it which of read/write became ready, or READY_NONE every ``interval`` seconds; raise
    ``_WaitTimeout`` after ``timeout``."""
    from time import monotonic

    from gevent.socket import wait_read, wait_readwrite, wait_write
    from psycopg import errors
    from psycopg.waiting import READY_NONE, READY_R, READY_RW, READY_W, Wait

    class Expired(Exception):
        pass

    expired = Expired()
    wait_r, wait_w = Wait.R, Wait.W

    def wait(gen, fileno, interval=0.0, timeout=None):
        deadline = monotonic() + timeout if timeout is not None else None
        try:
            s = next(gen)
            while True:
                t = interval if deadline is None else max(0.0, min(interval, deadline - monotonic()))
                try:
                    if s == wait_r:
                        wait_read(fileno, t, expired)
                        ready = READY_R
                    elif s == wait_w:
                        wait_write(fileno, t, expired)
                        ready = READY_W
                    else:                       # a spurious "ready" is harmless: libpq
                        wait_readwrite(fileno, t, expired)   # reads/flushes non-blocking
                        ready = READY_RW
                except Expired:
                    ready = READY_NONE
                s = gen.send(ready)
                if ready == READY_NONE and deadline is not None and monotonic() >= deadline:
                    raise errors._WaitTimeout("wait timeout expired")
        except StopIteration as stop:
            return stop.value

    return wait
