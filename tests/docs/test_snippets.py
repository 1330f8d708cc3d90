"""Every code block of README.md and docs/ runs against a live system (both metadata backends),
as a reader would paste it: python blocks with this environment's Python, bash blocks with bash
(this environment's ``s3server``, ``aws`` and ``curl`` on PATH), js blocks with Node.js and the
AWS SDK for JavaScript v3 that tests/cli/jssdk pins.

What a reader replaces is replaced: the endpoint ``http://127.0.0.1:7841`` (and
``127.0.0.1:7841``) by the test system's, ``YOUR_ACCESS_KEY`` / ``YOUR_SECRET_KEY`` /
``YOUR_API_KEY`` by its admin credentials. A block runs in a fresh directory holding a copy of
README.md (the file the curl example uploads) and ``data``, a link to the system's data
directory (what ``--data-dir ./data`` names); on PostgreSQL ``S3_DATABASE_URL`` is set, as it
would be for the reader's ``serve``; curl fails on an HTTP error status (``--fail-with-body``), as
the reader would notice one. The buckets a block made are removed after it. A block marked
``<!-- snippet: backend sqlite -->`` (or ``postgresql``) runs on that backend's system; on the
other it is reported as skipped, by name.

Blocks marked ``<!-- snippet: not-run (why) -->`` need what the suite does not have (a cluster,
rclone, s3fs...): they are counted here per file, so marking one more is a change to this file.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN_AK, ADMIN_API, ADMIN_SK
from tests.docs.docfiles import CODE, NOT_CODE, ROOT, all_blocks, rel

BLOCKS = all_blocks()
RUN = [b for b in BLOCKS if b.lang in CODE and b.marker != "not-run"]
NOT_RUN = [b for b in BLOCKS if b.lang in CODE and b.marker == "not-run"]

# The blocks that do not run, per file. Mark a block not-run only for what the suite cannot have,
# and count it here.
EXPECTED_NOT_RUN = {
    "README.md": 2,            # the start command (tests/deploy/test_fresh_install.py), the test command (.ci/run)
    "docs/clients.md": 6,      # s3fs install + s3fs/pandas, pyarrow, s3cmd, rclone (x2)
    "docs/operations.md": 4,   # docker/kubectl deploy, scale-out, the two restores (they stop the system)
    "docs/performance.md": 1,  # the 15-30 minute benchmark run
    "docs/testing.md": 3,      # the suite itself, .ci/run latest, .ci/lock
}


def not_run_report() -> str:
    lines = [f"docs snippets: {len(RUN)} run, {len(NOT_RUN)} marked not-run:"]
    lines += [f"  {b.id} ({b.heading}): {b.reason}" for b in NOT_RUN]
    return "\n".join(lines)


def test_every_fence_names_a_known_language():
    unknown = [f"{b.id} ({b.lang or 'no language'})" for b in BLOCKS if b.lang not in CODE | NOT_CODE]
    assert not unknown, f"fenced blocks must be one of {sorted(CODE | NOT_CODE)}: {unknown}"


def test_not_run_blocks_are_few_and_counted():
    counts: dict[str, int] = {}
    for b in NOT_RUN:
        assert len(b.reason) > 5, f"{b.id}: say why it cannot run"
        counts[rel(b.path)] = counts.get(rel(b.path), 0) + 1
    assert counts == EXPECTED_NOT_RUN, not_run_report()
    assert len(RUN) >= 15, f"only {len(RUN)} snippets run"
    print(not_run_report())


def test_markers_stand_only_before_code_blocks():
    wrong = [b.id for b in BLOCKS if b.marker and b.lang not in CODE]
    assert not wrong, f"snippet markers before blocks that are not code: {wrong}"


def _fill(code: str, system) -> str:
    host = system.endpoint.split("://", 1)[1]
    for old, new in (("http://127.0.0.1:7841", system.endpoint), ("127.0.0.1:7841", host),
                     ("YOUR_ACCESS_KEY", ADMIN_AK), ("YOUR_SECRET_KEY", ADMIN_SK), ("YOUR_API_KEY", ADMIN_API)):
        code = code.replace(old, new)
    return code


def _env(system, workdir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "AWS_"))}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["HOME"] = str(workdir)                       # no ~/.aws, ~/.s3cfg of the machine's user
    env["AWS_CONFIG_FILE"] = str(workdir / "aws-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(workdir / "aws-credentials")
    env["AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING"] = "1"
    if system.backend == "postgresql":
        env["S3_DATABASE_URL"] = system.state["database_url"]
    return env


def _remove_new_buckets(s3, before: set[str]) -> None:
    for name in {b["Name"] for b in s3.list_buckets()["Buckets"]} - before:
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=name):
            for u in page.get("Uploads", []):
                s3.abort_multipart_upload(Bucket=name, Key=u["Key"], UploadId=u["UploadId"])
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for o in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=o["Key"])
        s3.delete_bucket(Bucket=name)


@pytest.fixture
def workdir(tmp_path, system):
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    (tmp_path / "data").symlink_to(system.data_dir)
    return tmp_path


@pytest.mark.parametrize("block", RUN, ids=[b.name for b in RUN])
def test_snippet_runs(block, system, s3, workdir, request):
    if block.marker == "backend" and block.reason != system.backend:
        pytest.skip(f"a {block.reason} block; runs on the {block.reason} system")
    before = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    code = _fill(block.program, system)
    env = _env(system, workdir)
    try:
        if block.lang == "python":
            (workdir / "snippet.py").write_text(code)
            cmd, cwd = [sys.executable, "snippet.py"], workdir
        elif block.lang == "bash":
            code = 'curl() { command curl --fail-with-body "$@"; }\n' + code
            cmd, cwd = ["bash", "-e", "-o", "pipefail", "-c", code], workdir
        else:
            jssdk = request.getfixturevalue("jssdk")
            (jssdk / "snippet.mjs").write_text(code)
            cmd, cwd = [shutil.which("node"), "snippet.mjs"], jssdk
        r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=180,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 0, f"{block.id} failed ({r.returncode}):\n{code}\n--- stdout\n{r.stdout[-3000:]}" \
                                  f"\n--- stderr\n{r.stderr[-3000:]}"
    finally:
        _remove_new_buckets(s3, before)
