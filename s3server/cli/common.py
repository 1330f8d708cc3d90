"""What the commands share: the data-dir file names, free ports, waiting for a process's
health endpoint, the first start's schema and admin user, gunicorn's command line."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

from s3server.config import Settings

STATE_FILE = "serve.json"
CREDENTIALS_FILE = "admin-credentials.json"
SSE_KEY_FILE = "sse.key"


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(host: str, count: int, avoid: set[int]) -> list[int]:
    """``count`` distinct free ports, none in ``avoid`` (the gateway's port: a caller that
    picked it free and let it go, as the tests do, may see the kernel hand it out again, and a
    storage node on the gateway's port answers its /health probe). The sockets stay bound
    until all are chosen, so the ports differ from each other."""
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        for _ in range(count + 64):
            if len(ports) == count:
                return ports
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(s)
            s.bind((host, 0))
            port = s.getsockname()[1]
            if port not in avoid:          # an avoided one stays bound (not offered again), unused
                ports.append(port)
        if len(ports) < count:
            raise OSError("no free ports")
        return ports
    finally:
        for s in held:
            s.close()


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    import ssl
    ctx = ssl._create_unverified_context() if url.startswith("https:") else None   # our own cert, on loopback
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1, context=ctx) as r:
                if r.status < 500:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def bootstrap(settings: Settings):
    """Create the schema and the admin user; return what was newly made."""
    from s3server.meta.store import MetadataStore
    from s3server.service.common import GuardedStore
    from s3server.service.identity import IdentityService

    store = MetadataStore.from_url(settings.db_url, pool_size=2)
    try:
        store.create_schema()
        identity = IdentityService(GuardedStore(store))
        made = identity.ensure_admin(access_key=settings.admin_access_key, secret_key=settings.admin_secret_key,
                                     api_key=settings.admin_api_key)
        _, creds = identity.admin_credentials()
        return made, creds
    finally:
        store.close()


def gunicorn_cmd() -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", "python:s3server.gunicorn_conf", "s3server.wsgi:app"]
