"""The AWS SDK for JavaScript v3 against the real system (both metadata backends): a second SDK
beside boto3, with its own defaults (a CRC32 checksum on every upload, aws-chunked streams,
lib-storage's multipart upload, its own presigner and URL encoding). The SDK is installed from
the npm registry, pinned by ``jssdk/package-lock.json``, once per test run (the ``jssdk`` fixture of
tests/conftest.py, which docs snippets use too); ``jssdk/flow.mjs``
checks every answer itself and names the step that failed."""
from __future__ import annotations

import os
import shutil
import subprocess
import uuid

from tests.conftest import ADMIN_AK, ADMIN_SK


def test_js_sdk_v3_flow(system, jssdk):
    bucket = f"js-{uuid.uuid4().hex[:12]}"
    env = dict(os.environ, AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING="1")
    r = subprocess.run([shutil.which("node"), "flow.mjs", system.endpoint, ADMIN_AK, ADMIN_SK, bucket],
                       cwd=jssdk, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0 and "all steps passed" in r.stdout, r.stdout + r.stderr
