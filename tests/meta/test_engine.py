"""The store's engines on real SQLite and PostgreSQL: pragmas and session settings, URL normalisation,
unreachable and restarted databases, the direct-statement route, several writer processes on one file."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from s3server.meta.errors import NotFound, PreconditionFailed, Unavailable
from s3server.meta.store import MetadataStore
from tests.meta.storeutil import obj


def test_sqlite_pragmas(tmp_path):
    st = MetadataStore.from_url(f"sqlite:///{tmp_path / 'p.db'}")
    with st.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2   # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    st.close()


def test_plain_postgresql_url_is_normalised(pg_database):
    st = MetadataStore.from_url(pg_database.plain_url)
    assert st.engine.dialect.driver == "psycopg"
    st.create_schema()
    assert st.ping()
    st.close()


def test_unreachable_database_is_unavailable_not_a_hang():
    st = MetadataStore.from_url("postgresql://postgres@127.0.0.1:1/nothing")
    assert st.ping() is False
    with pytest.raises(Unavailable):
        st.get_bucket("x")
    st.close()


def test_postgresql_restart_recovers_without_a_new_store(pg_database):
    """Server-side disconnects (restart, failover) are healed by pool_pre_ping."""
    import psycopg

    st = MetadataStore.from_url(pg_database.url, pool_size=3)
    st.create_schema()
    st.create_bucket("b", 1, "r")
    with psycopg.connect(pg_database.plain_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s AND pid <> pg_backend_pid()", (pg_database.name,))
    assert st.get_bucket("b") is not None
    assert st.ping()
    st.close()


def test_postgresql_direct_statements_after_terminated_connections(pg_database):
    """The hot statements (object lookup, one-statement PUT and DELETE) run on the pooled
    psycopg connection directly (meta/direct.py): after every connection was killed, a read
    is re-run on a fresh connection, a write answers Unavailable (its outcome is unknown) and
    the next one succeeds; a vanished bucket is NotFound as on the SQLAlchemy route."""
    import psycopg

    st = MetadataStore.from_url(pg_database.url, pool_size=3, cache=True)
    assert st._direct, "PostgreSQL stores use the direct statements"
    st.create_schema()
    user = st.create_user("owner")
    st.create_bucket("b", user.id, "r")
    st.put_object(obj("b", "k", 1))
    assert st.get_bucket_and_object("b", "k")[1].etag == obj("b", "k", 1).etag

    def kill_all() -> None:
        with psycopg.connect(pg_database.plain_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (pg_database.name,))

    kill_all()
    _, found = st.get_bucket_and_object("b", "k")          # read: retried, succeeds
    assert found is not None and found.etag == obj("b", "k", 1).etag
    kill_all()
    with pytest.raises(Unavailable):
        st.put_object(obj("b", "k", 2))                      # write on a dead connection
    replaced = st.put_object(obj("b", "k", 3))               # the pool healed
    assert replaced is not None and replaced.key == "k"
    kill_all()
    with pytest.raises(Unavailable):
        st.delete_object("b", "k")
    removed = st.delete_object("b", "k")
    assert removed is not None and removed.segments == obj("b", "k", 3).segments
    assert st.delete_object("b", "k") is None
    with pytest.raises(NotFound):
        st.put_object(obj("nope", "k", 1))                   # FK violation -> NotFound
    st.close()


def _process_writer(url: str, worker: int, keys: int, out) -> None:
    st = MetadataStore.from_url(url, pool_size=2)
    won = 0
    try:
        for i in range(keys):
            try:
                st.put_object(obj("b", f"k{i}", worker), if_none_match=True)
                won += 1
            except PreconditionFailed:
                pass
            st.put_object(obj("b", f"w{worker}-{i}", worker))
        out.put(("ok", won))
    except Exception as e:  # noqa: BLE001 - reported to the parent
        out.put(("error", repr(e)))
    finally:
        st.close()


def test_sqlite_writers_in_several_processes(tmp_path):
    """The gateway runs several gunicorn workers on one SQLite file: BEGIN IMMEDIATE
    plus the busy timeout must make them queue, never fail with 'database is locked'."""
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    st = MetadataStore.from_url(url)
    st.create_schema()
    st.create_bucket("b", 1, "r")
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_process_writer, args=(url, w, 20, out)) for w in range(3)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    assert all(r[0] == "ok" for r in results), results
    assert sum(r[1] for r in results) == 20          # each contended key won exactly once
    assert st.count_objects("b") == 20 + 3 * 20
    st.close()


def test_postgresql_sessions_load_times_as_utc_whatever_the_server_zone(pg_database):
    """Sessions run with TimeZone=UTC, so psycopg loads timestamptz values as timezone.utc
    datetimes (the listing's and lookups' fast path) even where the server's or database's own
    zone is another: the instants and their ISO text are the same."""
    admin = sa.create_engine(pg_database.url,
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        db = conn.exec_driver_sql("SELECT current_database()").scalar_one()
        conn.exec_driver_sql(f'ALTER DATABASE "{db}" SET TimeZone = \'Asia/Kathmandu\'')
    admin.dispose()
    st = MetadataStore.from_url(pg_database.url, pool_size=2)
    try:
        st.create_schema()
        user = st.create_user("owner")
        st.create_bucket("tz", user.id, "r")
        when = datetime(2025, 6, 30, 23, 59, 58, 123456, tzinfo=timezone.utc)
        st.put_object(obj("tz", "k", last_modified=when))
        listed = st.list_objects("tz").objects[0].last_modified
        got = st.get_object("tz", "k").last_modified
        assert listed == got == when
        assert listed.tzinfo is timezone.utc and got.tzinfo is timezone.utc
        for engine in (st.read_engine, st.engine):
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SHOW TimeZone").scalar_one() == "UTC"
    finally:
        st.close()
