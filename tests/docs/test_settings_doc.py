"""docs/settings.md is generated from the Settings object (s3server/config.py) and cannot drift:
every S3_* field has a description and a working example, from_env reads every documented
variable, and the page equals what ``python -m s3server.config --markdown`` prints."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

from s3server.config import Settings, setting_fields, settings_markdown
from tests.docs.docfiles import ROOT

REGENERATE = "python -m s3server.config --markdown > docs/settings.md"


def test_every_settings_field_is_described():
    names = {f.name for f in fields(Settings)} - {"extra"}
    described = {f.name for f in setting_fields() if f.metadata.get("doc") and f.metadata.get("example")
                 and f.metadata.get("group")}
    assert names == described, f"Settings fields without setting(doc=..., example=..., group=...): " \
                               f"{sorted(names - described)}"


def test_every_example_is_read_by_from_env_and_valid():
    """All the examples at once: each one parses, the result validates, and each changes its field
    (so from_env really reads that variable, and the example is not the default)."""
    env = {"S3_" + f.name.upper(): f.metadata["example"] for f in setting_fields()}
    s, default = Settings.from_env(env), Settings()
    same = [name for name in env if getattr(s, name[3:].lower()) == getattr(default, name[3:].lower())]
    assert not same, f"from_env ignores these, or their example is the default: {same}"
    # and the other way: to_env names exactly the documented variables
    assert set(s.to_env()) == set(env)


def test_docs_settings_md_is_the_generated_page():
    page = (ROOT / "docs" / "settings.md").read_text()
    assert page == settings_markdown(), f"docs/settings.md differs from the code: run `{REGENERATE}`"


def test_the_generator_command_prints_the_page():
    r = subprocess.run([sys.executable, "-m", "s3server.config", "--markdown"], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (ROOT / "docs" / "settings.md").read_text()


def test_every_setting_appears_with_its_default():
    page = (ROOT / "docs" / "settings.md").read_text()
    for f in setting_fields():
        assert f"| `S3_{f.name.upper()}` |" in page
    assert "| `S3_BIND` | string | `127.0.0.1` |" in page       # what serve and gateway bind
    assert "| `S3_WORKER_CONNECTIONS` | integer | `1000` |" in page
