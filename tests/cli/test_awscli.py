"""aws-cli against the real system: mb, cp up and down, ls, rm, rb."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import ADMIN_AK, ADMIN_SK


def aws_exe() -> str:
    local = Path(sys.executable).parent / "aws"
    found = str(local) if local.exists() else shutil.which("aws")
    if not found:
        pytest.fail("aws-cli is not installed: pip install -e '.[test]' installs it")
    return found


def aws(system, *args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ADMIN_AK, AWS_SECRET_ACCESS_KEY=ADMIN_SK,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "nocfg"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "nocreds"), AWS_MAX_ATTEMPTS="1")
    return subprocess.run([aws_exe(), "--endpoint-url", system.endpoint, *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_mb_cp_ls_rm_rb(system, tmp_path):
    name = f"cli-{uuid.uuid4().hex[:12]}"
    src = tmp_path / "cat.jpg"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 123))
    r = aws(system, "s3", "mb", f"s3://{name}", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    r = aws(system, "s3", "cp", str(src), f"s3://{name}/2024/cat.jpg", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    r = aws(system, "s3", "ls", f"s3://{name}/2024/", tmp_path=tmp_path)
    assert r.returncode == 0 and "cat.jpg" in r.stdout and str(src.stat().st_size) in r.stdout, r.stdout + r.stderr
    r = aws(system, "s3", "ls", tmp_path=tmp_path)
    assert name in r.stdout
    dst = tmp_path / "back.jpg"
    r = aws(system, "s3", "cp", f"s3://{name}/2024/cat.jpg", str(dst), tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert dst.read_bytes() == src.read_bytes()
    r = aws(system, "s3", "rb", f"s3://{name}", tmp_path=tmp_path)
    assert r.returncode != 0            # not empty
    r = aws(system, "s3", "rm", f"s3://{name}/2024/cat.jpg", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    r = aws(system, "s3", "rb", f"s3://{name}", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    r = aws(system, "s3", "ls", tmp_path=tmp_path)
    assert name not in r.stdout
