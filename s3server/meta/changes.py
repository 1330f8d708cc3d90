"""Change feeds: how a gateway learns at once that identity or bucket rows changed.

The gateway caches three lookups that every request makes (credential by access key, API
key by hash, bucket by name; see ``LookupCache``). A cached answer is used only while the
feed says nothing changed since it was read, so "a disabled user's keys stop working at
once" still holds, whichever process made the change (a gateway in another pod,
``s3server admin`` on a laptop).

``generation()`` is called on every cached lookup, so it must cost microseconds, not a
round trip. It returns a number that changes whenever a change may have happened, or
``None`` when the feed cannot tell (then nothing is cached and every lookup goes to the
database, as without a cache).

PostgreSQL: ``LISTEN s3server_meta`` on a dedicated connection per process. Writers run
``pg_notify`` inside the transaction that changes the rows, so the notification is sent
exactly when the change commits. ``generation()`` drains the socket without blocking
(libpq's ``PQconsumeInput`` on its non-blocking socket: one ``recv`` syscall) and bumps
the generation on any notification. A lost connection means "cannot tell" until a new
``LISTEN`` is in place (retried at most once a second); reconnecting bumps the generation,
since notifications sent meanwhile were missed.

SQLite (one machine): a sidecar file ``<database>-changes`` beside the database. A writer
appends one byte after its commit; the generation is the file's (inode, size), read with
one ``stat``. Appends make the size grow monotonically, so an old stamp never comes back
(a file made anew starts at a random sparse size, in case it reuses an old inode number).
A writer that crashes between its commit and the append leaves the change unannounced
until ``LookupCache``'s maximum age passes.
"""
from __future__ import annotations

import logging
import os
import secrets
import time
from typing import Any, Callable

log = logging.getLogger(__name__)

CHANNEL = "s3server_meta"
RECONNECT_SECONDS = 1.0


class NoFeed:
    """Cannot tell: nothing is cached."""

    def generation(self) -> None:
        return None

    def announce(self, conn: Any) -> None:
        """Inside the writer's transaction, before commit (PostgreSQL only)."""

    def announced(self) -> None:
        """After the writer's commit (SQLite only)."""

    def close(self) -> None:
        pass


class FileFeed(NoFeed):
    """SQLite: the sidecar file (see the module docstring)."""

    def __init__(self, path: str):
        self.path = path

    def generation(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.announced()            # the first change, or the file was removed: start one
            try:
                st = os.stat(self.path)
            except OSError:
                return None
        except OSError:
            return None
        return st.st_ino, st.st_size

    def announced(self) -> None:
        try:
            fd = self._open()
        except OSError as exc:      # a read-only data dir: readers then cache nothing new
            log.warning("cannot announce a metadata change in %s: %s", self.path, exc)
            return
        try:
            os.write(fd, b".")
        finally:
            os.close(fd)

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:
            pass
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return os.open(self.path, os.O_WRONLY | os.O_APPEND)
        # A new file may get the inode number of one that was removed; a random (sparse)
        # starting size keeps its stamps from repeating the old file's.
        os.ftruncate(fd, secrets.randbelow(1 << 20))
        return fd


class PgFeed(NoFeed):
    """PostgreSQL: LISTEN/NOTIFY (see the module docstring)."""

    def __init__(self, connect: Callable[[], Any], clock: Callable[[], float] = time.monotonic):
        self._connect = connect
        self._clock = clock
        self._conn: Any = None
        self._gen = 0
        self._next_try = 0.0
        self._connecting = False
        self._fatal = False

    def generation(self) -> int | None:
        conn = self._conn
        if conn is None:
            return self._reconnect()
        pg = conn.pgconn
        try:
            for _ in range(2):
                # A server that drops us sends a FATAL message (an idle connection's libpq
                # hands it to the notice handler, below) and then closes: the second read
                # finds the end of the stream once it has arrived.
                pg.consume_input()
                while pg.notifies() is not None:
                    self._gen += 1
        except Exception as exc:   # noqa: BLE001 - any failure means we can no longer tell
            log.warning("metadata change feed lost (%s); lookups go to the database", exc)
            self._drop()
            return None
        if pg.status != 0 or self._fatal:        # 0: CONNECTION_OK
            self._drop()
            return None
        return self._gen

    def _reconnect(self) -> int | None:
        now = self._clock()
        if self._connecting or now < self._next_try:
            return None
        self._connecting = True
        self._next_try = now + RECONNECT_SECONDS
        try:
            conn = self._connect()
            conn.add_notice_handler(self._on_notice)
            conn.execute(f"LISTEN {CHANNEL}")
        except Exception as exc:   # noqa: BLE001
            log.debug("metadata change feed: cannot listen: %s", exc)
            return None
        finally:
            self._connecting = False
        self._conn = conn
        self._fatal = False
        self._gen += 1             # whatever was cached before may have missed a change
        return self._gen

    def _on_notice(self, diag: Any) -> None:
        if getattr(diag, "severity_nonlocalized", None) in ("FATAL", "PANIC"):
            self._fatal = True

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._gen += 1
        if conn is not None:
            try:
                conn.close()
            except Exception:      # noqa: BLE001
                pass

    def announce(self, conn: Any) -> None:
        import sqlalchemy as sa
        conn.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})

    def close(self) -> None:
        self._drop()


class PodFeed(NoFeed):
    """PostgreSQL plus a pod-local sidecar file (``FileFeed`` in the gateway's run directory,
    shared by its workers). A notification reaches the other processes a moment after the
    commit, and on a busy machine that moment can outlast a client's next request: the answer
    to a write goes out, the client's next request reaches another worker of the same gateway,
    and that worker's cache has not heard yet (a fresh bucket policy not yet in force there).
    The writer also appends to the pod's file after its commit, before it answers, so every
    worker of its pod sees the change at its next lookup; other pods (and ``s3server admin``)
    are told by PostgreSQL, as before."""

    def __init__(self, pg: PgFeed, local: FileFeed):
        self.pg = pg
        self.local = local

    def generation(self) -> tuple[int, Any] | None:
        gen = self.pg.generation()
        if gen is None:
            return None
        stamp = self.local.generation()
        return None if stamp is None else (gen, stamp)

    def announce(self, conn: Any) -> None:
        self.pg.announce(conn)

    def announced(self) -> None:
        self.local.announced()

    def close(self) -> None:
        self.pg.close()


def feed_for(engine: Any, local_dir: str = "") -> NoFeed:
    """The change feed matching ``engine``'s database; ``local_dir``: a directory shared by
    the processes of one gateway pod (PostgreSQL: see ``PodFeed``)."""
    name = engine.dialect.name
    if name == "postgresql":
        import psycopg
        args, kwargs = engine.dialect.create_connect_args(engine.url)
        kwargs = {**kwargs, "autocommit": True, "application_name": "s3server-changes"}
        pg = PgFeed(lambda: psycopg.connect(*args, **kwargs))
        if local_dir:
            return PodFeed(pg, FileFeed(os.path.join(local_dir, "meta-changes")))
        return pg
    if name == "sqlite" and engine.url.database:
        return FileFeed(os.path.abspath(engine.url.database) + "-changes")
    return NoFeed()


class LookupCache:
    """Answers of hot lookups, valid while the feed's generation is unchanged and for at most
    ``max_age`` seconds. Negative answers (None: no such key or bucket) are not cached: a
    name created a moment ago elsewhere must be found, and unknown names are the error path.
    Per process; under gevent the check-then-use needs no lock (no yield between them)."""

    def __init__(self, feed: NoFeed, *, max_age: float = 30.0, max_entries: int = 10000,
                 clock: Callable[[], float] = time.monotonic):
        self.feed = feed
        self.max_age = max_age
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[Any, tuple[Any, Any, float]] = {}
        self._gen: Any = None

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        gen = self.feed.generation()
        if gen is None:
            self._entries.clear()
            return load()
        if gen != self._gen:
            self._entries.clear()
            self._gen = gen
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None and hit[1] == gen and now - hit[2] < self.max_age:
            return hit[0]
        value = load()                  # read after taking ``gen``: a change meanwhile bumps it
        if value is None:
            return None
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (value, gen, now)
        return value

    def clear(self) -> None:
        self._entries.clear()
