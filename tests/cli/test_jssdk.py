"""The AWS SDK for JavaScript v3 against the real system (both metadata backends): a second SDK
beside boto3, with its own defaults (a CRC32 checksum on every upload, aws-chunked streams,
lib-storage's multipart upload, its own presigner and URL encoding). The SDK is installed from
the npm registry, pinned by ``jssdk/package-lock.json``, once per test run; ``jssdk/flow.mjs``
checks every answer itself and names the step that failed."""
from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import ADMIN_AK, ADMIN_SK

HERE = Path(__file__).parent / "jssdk"


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"the JS SDK test cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def jssdk(tmp_path_factory) -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        _unavailable("node and npm are needed (Node.js 18 or newer)")
    where = tmp_path_factory.mktemp("jssdk")
    for name in ("package.json", "package-lock.json", "flow.mjs"):
        shutil.copy(HERE / name, where / name)
    r = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=where,
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        _unavailable(f"npm ci failed (is the npm registry reachable?): {r.stderr[-2000:]}")
    return where


def test_js_sdk_v3_flow(system, jssdk):
    bucket = f"js-{uuid.uuid4().hex[:12]}"
    env = dict(os.environ, AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING="1")
    r = subprocess.run([shutil.which("node"), "flow.mjs", system.endpoint, ADMIN_AK, ADMIN_SK, bucket],
                       cwd=jssdk, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0 and "all steps passed" in r.stdout, r.stdout + r.stderr
