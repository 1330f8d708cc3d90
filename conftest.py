"""Fixtures shared by every test folder.

PostgreSQL: tests use the server at S3_TEST_PG (default
``postgresql://postgres@127.0.0.1:5432/postgres``) and create throwaway databases
there. If it is unreachable the PostgreSQL tests skip loudly, except under CI
(``CI`` set), where they fail.
"""
from __future__ import annotations

import os
import uuid

import pytest

PG_ADMIN_URL = os.environ.get("S3_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")


def _pg_connect(dbname: str | None = None):
    import psycopg

    url = PG_ADMIN_URL
    if dbname:
        url = url.rsplit("/", 1)[0] + "/" + dbname
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        with _pg_connect() as conn:
            conn.execute("select 1")
        return None
    except Exception as exc:  # any failure to connect means "not available"
        return f"{type(exc).__name__}: {exc}"


def require_pg() -> None:
    reason = pg_available()
    if reason is None:
        return
    msg = f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({reason})"
    if os.environ.get("CI"):
        pytest.fail(msg + " -- under CI the PostgreSQL tests must run", pytrace=False)
    pytest.skip("SKIPPING POSTGRESQL TESTS: " + msg)


class PgDatabase:
    """A throwaway database on the test PostgreSQL server."""

    def __init__(self, prefix: str = "s3test"):
        self.name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with _pg_connect() as conn:
            conn.execute(f'create database "{self.name}"')
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        self.url = base.replace("postgresql://", "postgresql+psycopg://", 1) + "/" + self.name
        self.plain_url = base + "/" + self.name

    def drop(self) -> None:
        with _pg_connect() as conn:
            conn.execute(f'drop database if exists "{self.name}" with (force)')


@pytest.fixture
def pg_database():
    """A fresh PostgreSQL database for one test; dropped afterwards."""
    require_pg()
    db = PgDatabase()
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture(scope="session")
def pg_session_database():
    """A PostgreSQL database shared by a whole test run; dropped at the end."""
    require_pg()
    db = PgDatabase()
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """A SQLAlchemy URL for an empty metadata database, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        require_pg()
        db = PgDatabase()
        try:
            yield db.url
        finally:
            db.drop()


# Long tests (whole systems of their own, subprocess clients) go first: with the suite spread over
# pytest-xdist workers (setup.cfg), a long test handed out at the end would leave the other worker
# idle while it runs.
LONG_FIRST = ("tests/durability/", "tests/bench/", "tests/deploy/", "tests/cli/", "tests/docs/")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: not item.nodeid.startswith(LONG_FIRST))      # stable: order kept within
