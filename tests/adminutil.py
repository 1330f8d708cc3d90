"""Run ``s3server admin ...`` against a running test system's metadata DB (SQLite or PostgreSQL)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid


def admin_env(database_url: str | None = None) -> dict:
    env = dict(os.environ)
    env.pop("S3_DATABASE_URL", None)
    if database_url:
        env["S3_DATABASE_URL"] = database_url
    return env


def run_admin(system, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``s3server admin --data-dir <system's dir> ARGS`` (S3_DATABASE_URL set for PostgreSQL)."""
    url = system.state["database_url"] if getattr(system, "backend", "sqlite") == "postgresql" else None
    proc = subprocess.run([sys.executable, "-m", "s3server", "admin", "--data-dir", str(system.data_dir), *args],
                          capture_output=True, text=True, env=admin_env(url), timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"admin {args} failed: {proc.stdout} {proc.stderr}")
    return proc


def new_user(system, prefix: str = "u") -> dict:
    """A fresh user with an S3 key pair and an API key: {"user", "access_key", "secret_key", "api_key"}."""
    return json.loads(run_admin(system, "create-user", f"{prefix}-{uuid.uuid4().hex[:8]}").stdout)
