"""The documentation is one small book: every relative link between README.md, CHANGELOG.md and
docs/*.md (and to files of the repository) resolves, #anchors included, and no page is an orphan."""
from __future__ import annotations

from pathlib import Path

from tests.docs.docfiles import ROOT, anchors, doc_files, links, rel, slug


def test_slug_is_githubs():
    assert slug("Start it (one command)") == "start-it-one-command"
    assert slug("`S3_BIND` and friends") == "s3_bind-and-friends"
    assert slug("PUT, GET & DELETE") == "put-get--delete"


def test_every_link_resolves():
    broken = []
    checked = 0
    for page in doc_files():
        for line, target in links(page):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path_part, _, anchor = target.partition("#")
            dest = page if not path_part else (page.parent / path_part).resolve()
            checked += 1
            if not dest.exists():
                broken.append(f"{rel(page)}:{line}: {target} (no such file)")
            elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
                broken.append(f"{rel(page)}:{line}: {target} (no heading #{anchor} in {rel(Path(dest))})")
    assert not broken, "\n".join(broken)
    assert checked > 40


def test_every_docs_page_is_linked_from_the_readme():
    readme_targets = {t.partition("#")[0] for _, t in links(ROOT / "README.md")}
    pages = {rel(p) for p in doc_files()} - {"README.md"}
    assert pages <= readme_targets, f"not linked from README.md: {sorted(pages - readme_targets)}"
