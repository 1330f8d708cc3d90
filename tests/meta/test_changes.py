"""The gateway's lookup cache and the change feeds that keep it honest (meta/changes.py),
against real SQLite files and a real PostgreSQL: one store caches (a gateway worker), another
(``s3server admin``, another pod) changes rows; the first must see every change at once."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from s3server.meta.changes import FileFeed, LookupCache, NoFeed, PgFeed, PodFeed
from s3server.meta.errors import AlreadyExists
from s3server.meta.store import MetadataStore
from s3server.models import CorsRule


class Counter:
    """Counts statements a store sends that touch ``needle``."""

    def __init__(self, store: MetadataStore, needle: str):
        self.engine, self.needle, self.count = store.read_engine, needle, 0

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._on)

    def _on(self, conn, cursor, statement, *args):
        if self.needle in statement:
            self.count += 1


@pytest.fixture
def stores(db_url):
    """(cached reader, plain writer) on one database."""
    writer = MetadataStore.from_url(db_url, pool_size=2)
    writer.create_schema()
    reader = MetadataStore.from_url(db_url, pool_size=2, cache=True)
    try:
        yield reader, writer
    finally:
        reader.close()
        writer.close()


def warm(reader: MetadataStore, what: str, fn):
    """Call ``fn`` until it is answered from memory (the PostgreSQL feed connects lazily)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        fn()
        with Counter(reader, what) as c:
            value = fn()
        if c.count == 0:
            return value
        time.sleep(0.05)
    pytest.fail(f"{what} lookups were never cached")


def seen(check, within: float = 0.5) -> bool:
    """PostgreSQL delivers a notification to listeners just after the writer's COMMIT
    returns (SQLite's announcement is synchronous): allow that delivery, nothing more."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def test_lookups_are_cached_and_every_change_is_seen_at_once(stores):
    reader, writer = stores
    user = writer.create_user("dana")
    writer.add_credential(user.id, "AKDANA", "s1")
    writer.add_api_key(user.id, "hash-dana", "s3k_dana")

    cred, u = warm(reader, "credentials", lambda: reader.get_credential("AKDANA"))
    assert cred.secret_key == "s1" and not cred.revoked and not u.disabled
    with Counter(reader, "buckets") as c:                   # unknown names are never cached
        assert reader.get_bucket("dana-b") is None and reader.get_bucket("dana-b") is None
    assert c.count == 2
    assert warm(reader, "api_keys", lambda: reader.get_api_key("hash-dana"))[1].name == "dana"

    writer.set_user_disabled(user.id, True)
    assert seen(lambda: reader.get_credential("AKDANA")[1].disabled)
    assert reader.get_api_key("hash-dana")[1].disabled
    writer.set_user_disabled(user.id, False)
    assert seen(lambda: not reader.get_credential("AKDANA")[1].disabled)

    warm(reader, "credentials", lambda: reader.get_credential("AKDANA"))
    writer.revoke_credential("AKDANA")
    assert seen(lambda: reader.get_credential("AKDANA")[0].revoked)

    writer.create_bucket("dana-b", user.id, "us-east-1")
    assert reader.get_bucket("dana-b") is not None          # at once: misses were not cached
    found, obj = reader.get_bucket_and_object("dana-b", "k")
    assert found.name == "dana-b" and found.owner_id == user.id and obj is None
    warm(reader, "buckets", lambda: reader.get_bucket("dana-b"))
    rules = (CorsRule(("GET",), ("*",)),)                   # a bucket's CORS rules ride in its row
    writer.set_bucket_cors("dana-b", rules)
    assert seen(lambda: reader.get_bucket("dana-b").cors == rules)
    warm(reader, "buckets", lambda: reader.get_bucket("dana-b"))
    writer.set_bucket_cors("dana-b", None)
    assert seen(lambda: reader.get_bucket("dana-b").cors is None)
    warm(reader, "buckets", lambda: reader.get_bucket("dana-b"))
    writer.delete_bucket("dana-b")
    assert reader.get_bucket_and_object("dana-b", "k") == (None, None)   # at once: a miss re-checks
    assert seen(lambda: reader.get_bucket("dana-b") is None)


def test_fresh_bucket_reads_go_to_the_database(stores):
    """The reads of a bucket's settings (GetBucketPolicy, -Lifecycle, -Cors...) skip the cache: a
    read right after a change on another worker must not beat the change feed's notification."""
    reader, writer = stores
    user = writer.create_user("fay")
    writer.create_bucket("fay-b", user.id, "us-east-1")
    warm(reader, "buckets", lambda: reader.get_bucket("fay-b"))
    with Counter(reader, "buckets") as c:
        assert reader.get_bucket("fay-b", fresh=True).name == "fay-b"
        assert reader.get_bucket("fay-b").name == "fay-b"
    assert c.count == 1


def test_a_failed_change_is_not_cached_as_made(stores):
    reader, writer = stores
    user = writer.create_user("erin")
    writer.create_bucket("erin-b", user.id, "us-east-1")
    assert warm(reader, "buckets", lambda: reader.get_bucket("erin-b")).name == "erin-b"
    other = writer.create_user("other")
    with pytest.raises(AlreadyExists):
        writer.create_bucket("erin-b", other.id, "us-east-1")       # rolled back
    time.sleep(0.05)
    assert reader.get_bucket("erin-b").owner_id == user.id


def test_postgresql_feed_lost_means_no_cache_until_it_is_back(pg_database):
    db_url = pg_database.url
    writer = MetadataStore.from_url(db_url, pool_size=2)
    writer.create_schema()
    reader = MetadataStore.from_url(db_url, pool_size=2, cache=True)
    try:
        user = writer.create_user("finn")
        writer.add_credential(user.id, "AKFINN", "s1")
        warm(reader, "credentials", lambda: reader.get_credential("AKFINN"))
        # The database drops the listener (restart, failover, idle kill): until a new LISTEN is
        # in place nothing may be served from memory, and a change made meanwhile is seen.
        with writer.engine.connect() as conn:
            killed = conn.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 's3server-changes' AND datname = current_database()")).scalar()
        assert killed == 1
        time.sleep(0.2)
        writer.revoke_credential("AKFINN")
        with Counter(reader, "credentials") as c:
            assert reader.get_credential("AKFINN")[0].revoked
        assert c.count == 1
        # it listens again (at most a second later) and caches again
        time.sleep(1.1)
        assert warm(reader, "credentials", lambda: reader.get_credential("AKFINN"))[0].revoked
    finally:
        reader.close()
        writer.close()


def test_pod_feed_tells_the_workers_of_one_pod_before_postgresql_does(pg_database, tmp_path):
    """A write's answer goes out after its commit; the client's next request may reach another
    worker of the same gateway before PostgreSQL's notification reaches that worker. The pod's
    sidecar file is appended before the writer answers: its workers see the change at once."""
    writer = MetadataStore.from_url(pg_database.url, pool_size=2, pod_dir=str(tmp_path))
    writer.create_schema()
    reader = MetadataStore.from_url(pg_database.url, pool_size=2, cache=True, pod_dir=str(tmp_path))
    try:
        assert isinstance(reader._feed, PodFeed)
        user = writer.create_user("gus")
        writer.add_credential(user.id, "AKGUS", "s1")
        warm(reader, "credentials", lambda: reader.get_credential("AKGUS"))
        # the notification is held back: the reader's listening connection reads nothing new
        reader._feed.pg.generation = lambda gen=reader._feed.pg.generation(): gen
        writer.revoke_credential("AKGUS")
        with Counter(reader, "credentials") as c:
            assert reader.get_credential("AKGUS")[0].revoked
        assert c.count == 1
        # a process outside the pod (no shared file) hears only PostgreSQL: with the notification
        # held back it still answers from memory (what the pod's file spares its workers)
        other = MetadataStore.from_url(pg_database.url, pool_size=2, cache=True)
        try:
            writer.add_credential(user.id, "AKGUS2", "s2")
            warm(other, "credentials", lambda: other.get_credential("AKGUS2"))
            other._feed.generation = lambda gen=other._feed.generation(): gen
            writer.revoke_credential("AKGUS2")
            assert not other.get_credential("AKGUS2")[0].revoked
        finally:
            other.close()
    finally:
        reader.close()
        writer.close()


def test_file_feed_generation_moves_on_every_announcement(tmp_path):
    feed = FileFeed(str(tmp_path / "meta.db-changes"))
    g0 = feed.generation()
    assert g0 is not None and feed.generation() == g0
    feed.announced()
    g1 = feed.generation()
    assert g1 != g0
    (tmp_path / "meta.db-changes").unlink()        # removed: a new file, a new generation
    assert feed.generation() not in (g0, g1, None)


def test_file_feed_that_cannot_be_written_caches_nothing(tmp_path):
    feed = FileFeed(str(tmp_path / "gone" / "meta.db-changes"))     # its directory is missing
    assert feed.generation() is None
    cache = LookupCache(feed)
    calls = []
    assert cache.get("k", lambda: calls.append(1) or "v") == "v"
    assert cache.get("k", lambda: calls.append(1) or "v") == "v"
    assert len(calls) == 2


def test_lookup_cache_max_age_and_no_feed():
    class Feed(NoFeed):
        gen = 1

        def generation(self):
            return self.gen

    now = [100.0]
    feed = Feed()
    cache = LookupCache(feed, max_age=30, clock=lambda: now[0])
    loads = []

    def load():
        loads.append(1)
        return len(loads)

    assert cache.get("a", load) == 1
    assert cache.get("a", load) == 1                # cached
    now[0] += 31
    assert cache.get("a", load) == 2                # too old
    feed.gen = 2
    assert cache.get("a", load) == 3                # changed
    assert cache.get("a", load) == 3
    nothing = LookupCache(NoFeed())
    assert nothing.get("a", load) == 4 and nothing.get("a", load) == 5   # cannot tell: never cached
    assert cache.get("none", lambda: loads.append(1)) is None
    assert cache.get("none", lambda: loads.append(1)) is None
    assert len(loads) == 7                                              # misses are not cached


def test_pg_feed_reconnects_at_most_once_a_second():
    attempts = []

    def connect():
        attempts.append(1)
        raise OSError("refused")

    now = [0.0]
    feed = PgFeed(connect, clock=lambda: now[0])
    assert feed.generation() is None and feed.generation() is None
    assert len(attempts) == 1
    now[0] += 1.01
    assert feed.generation() is None and len(attempts) == 2
