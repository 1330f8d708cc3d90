"""``s3server admin`` on SQLite (--data-dir) and PostgreSQL (S3_DATABASE_URL); the printed
``Admin API Key`` line; rotating the admin key on a running system."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from unittest import mock

import pytest
import requests

from conftest import PgDatabase, require_pg
from s3server import cli
from tests.adminutil import admin_env
from tests.conftest import ServeProcess


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """(extra args, env) for running admin against a fresh metadata DB."""
    if request.param == "sqlite":
        yield ["--data-dir", str(tmp_path / "data")], admin_env()
        return
    require_pg()
    pg = PgDatabase()
    yield [], admin_env(pg.url)
    pg.drop()


def admin(db, *args, ok=True):
    """``s3server admin ARGS`` as a subprocess: the command a user types."""
    extra, env = db
    p = subprocess.run([sys.executable, "-m", "s3server", "admin", *extra, *args], capture_output=True, text=True,
                       env=env, timeout=60)
    assert (p.returncode == 0) is ok, (args, p.stdout, p.stderr)
    return p


def admin_here(db, *args, ok=True):
    """The same command through the CLI's own parser and handler in this process (a subprocess
    pays Python's imports, about a second, per step)."""
    extra, env = db
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, env, clear=True), redirect_stdout(out), redirect_stderr(err):
        try:
            code = cli.admin.cmd_admin(cli.build_parser().parse_args(["admin", *extra, *args]))
        except SystemExit as exc:
            code = exc.code
    p = subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
    assert (p.returncode == 0) is ok, (args, p.stdout, p.stderr)
    return p


def test_users_and_keys(db):
    made = json.loads(admin(db, "create-user", "dora").stdout)          # one real subprocess
    assert "\tdora\tuser\tenabled\t" in admin(db, "list-users").stdout
    assert made["user"] == "dora" and made["access_key"] and made["secret_key"] and made["api_key"].startswith("s3k_")
    boss = json.loads(admin_here(db, "create-user", "boss", "--admin").stdout)
    assert admin_here(db, "create-user", "dora", ok=False).stderr.startswith("error:")
    listing = admin_here(db, "list-users").stdout
    assert "\tdora\tuser\tenabled\t" + made["access_key"] in listing and "\tboss\tadmin\t" in listing
    admin_here(db, "disable-user", "dora")
    assert "\tdora\tuser\tdisabled\t" in admin_here(db, "list-users").stdout
    admin_here(db, "enable-user", "dora")
    assert "\tdora\tuser\tenabled\t" in admin_here(db, "list-users").stdout
    more = json.loads(admin_here(db, "create-key", "dora", "--s3-only").stdout)
    assert more["access_key"] and more["api_key"] is None
    api_only = json.loads(admin_here(db, "create-key", "dora", "--api-only").stdout)
    assert api_only["access_key"] is None and api_only["api_key"]
    keys = admin_here(db, "list-keys", "dora").stdout
    assert f"s3\t{more['access_key']}\tactive" in keys and keys.count("api\t") == 2
    assert api_only["api_key"] not in keys and made["secret_key"] not in keys     # secrets are never listed
    admin_here(db, "revoke-key", made["access_key"])
    admin_here(db, "revoke-key", made["api_key"])
    keys = admin_here(db, "list-keys", "dora").stdout
    assert f"s3\t{made['access_key']}\trevoked" in keys and "revoked" in keys.split("api\t", 1)[1]
    admin_here(db, "revoke-key", "AKNOSUCHKEY", ok=False)
    admin_here(db, "revoke-key", "s3k_nosuchkey", ok=False)
    out = admin_here(db, "rotate-api-key", "boss").stdout
    assert out.startswith("Admin API Key: s3k_") and boss["api_key"] not in out
    assert admin_here(db, "disable-user", "nobody", ok=False).returncode == 1


def test_admin_key_printed_and_rotated(tmp_path):
    """No fixed credentials: serve prints a generated admin API key on the `Admin API Key:` line
    (what `kubectl logs | grep "Admin API Key"` finds); rotating it revokes the old one at once."""
    sp = ServeProcess(tmp_path / "data", fixed_credentials=False).start()
    try:
        line = next(ln for ln in sp.lines if ln.startswith("Admin API Key: "))
        key = line.split(": ", 1)[1]
        assert key.startswith("s3k_")
        r = requests.get(sp.endpoint + "/buckets", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200
        out = subprocess.run([sys.executable, "-m", "s3server", "admin", "--data-dir", str(sp.data_dir),
                              "rotate-api-key"], capture_output=True, text=True, env=admin_env(), timeout=60)
        assert out.returncode == 0, out.stderr
        new = out.stdout.strip().split("Admin API Key: ", 1)[1]
        assert requests.get(sp.endpoint + "/buckets", headers={"Authorization": f"Bearer {key}"}).status_code == 401
        assert requests.get(sp.endpoint + "/buckets", headers={"Authorization": f"Bearer {new}"}).status_code == 200
        assert json.loads((sp.data_dir / "admin-credentials.json").read_text())["api_key"] == new
    finally:
        sp.stop()


def test_fixed_admin_api_key_is_printed(system):
    from tests.conftest import ADMIN_API
    assert f"Admin API Key: {ADMIN_API}" in system.lines
