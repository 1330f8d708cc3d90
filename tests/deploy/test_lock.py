"""constraints.txt pins the whole test environment: every distribution installed beside s3server
is pinned there at the version installed, so a release made tomorrow changes nothing in CI."""
from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if m:
            pins[_norm(m.group(1))] = m.group(2)
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_installed_distribution_is_pinned_at_its_version():
    if os.environ.get("S3_TEST_LATEST"):
        pytest.skip(".ci/run latest installs the newest releases on purpose")
    pins = _pins()
    assert {"pip", "setuptools", "moto", "botocore", "boto3", "pytest"} <= set(pins)
    unpinned, differ = [], []
    for dist in metadata.distributions():
        name = _norm(dist.metadata["Name"] or "")
        if not name or name == "s3server":
            continue
        if name not in pins:
            unpinned.append(name)
        elif pins[name] != dist.version:
            differ.append(f"{name} {dist.version} (pinned {pins[name]})")
    assert not unpinned, f"installed but not in constraints.txt (run .ci/lock): {sorted(unpinned)}"
    assert not differ, f"installed at another version than constraints.txt pins: {sorted(differ)}"


def test_readme_and_ci_install_with_the_constraints():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    line = "pip install -e '.[test]' -c constraints.txt"
    assert line in readme and line in ci
