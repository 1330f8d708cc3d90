"""README.md is the short front door: at most 300 lines, the two commands near the top, a table of
contents that names every section."""
from __future__ import annotations

import re

from tests.docs.docfiles import ROOT, anchors, links, slug

README = ROOT / "README.md"


def test_readme_is_short():
    n = len(README.read_text().splitlines())
    assert n <= 300, f"README.md has {n} lines; move detail into docs/"


def test_the_start_and_test_commands_come_first():
    text = README.read_text()
    start = text.index("pip install -e . && s3server serve")
    test = text.index("pip install -e '.[test]' -c constraints.txt\npytest\n")
    first_use = text.index("## Use it")
    assert start < test < first_use


def test_table_of_contents_lists_every_section():
    text = README.read_text()
    sections = [slug(m.group(1)) for m in re.finditer(r"^## (.+)$", text, re.M) if m.group(1) != "Contents"]
    toc = {t[1:] for _, t in links(README) if t.startswith("#")}
    assert set(sections) <= toc, f"sections missing from the contents: {sorted(set(sections) - toc)}"
    assert toc <= anchors(README)
