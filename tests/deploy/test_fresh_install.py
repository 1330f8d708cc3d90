"""The newcomer's path, literally: a fresh virtualenv, `pip install .` (install_requires only, no
test extras), `s3server serve`, and a round trip through the documented REST API with nothing but
the standard library. Catches dependencies that only the development venv happened to have."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_fresh_venv_install_and_serve(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", str(ROOT)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3_")}
    env["S3_NODE_BASE_PORT"] = "0"
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([str(venv / "bin" / "s3server"), "serve", "--data-dir", str(tmp_path / "data"),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=log, env=env, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        printed = {}
        deadline = time.monotonic() + 90
        for line in proc.stdout:
            if ":" in line:
                k, _, v = line.strip().partition(":")
                printed.setdefault(k.strip(), v.strip())
            if line.startswith("Press Ctrl-C") or time.monotonic() > deadline:
                break
        assert "API key" in printed, (printed, (tmp_path / "serve.log").read_text()[-3000:])
        base, key = printed["endpoint"], printed["API key"]

        def call(method, path, body=None, ctype=None):
            req = urllib.request.Request(base + path, data=body, method=method,
                                         headers={"Authorization": "Bearer " + key,
                                                  **({"Content-Type": ctype} if ctype else {})})
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()

        assert call("POST", "/buckets", json.dumps({"bucket_name": "fresh"}).encode(), "application/json")[0] == 201
        assert call("PUT", "/buckets/fresh/objects/hello.txt", b"Hello, S3!\n", "text/plain")[0] == 201
        assert call("GET", "/buckets/fresh/objects/hello.txt") == (200, b"Hello, S3!\n")
        # serve's website endpoint is on by default, at <bucket>.s3-website.localhost
        assert printed["websites"].startswith(f"http://<bucket>.s3-website.localhost:{port}/")
        site = urllib.request.Request(base + "/", headers={"Host": f"fresh.s3-website.localhost:{port}"})
        try:
            urllib.request.urlopen(site, timeout=10)
            raise AssertionError("a bucket without a website configuration was served as a website")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404 and b"NoSuchWebsiteConfiguration" in exc.read()
    finally:
        proc.send_signal(2)
        proc.wait(30)
        log.close()
        proc.stdout.close()
    assert proc.returncode == 0
