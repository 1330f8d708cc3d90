"""The documentation as data: its files, their fenced code blocks and their links.

A fenced block's language says what it is: ``python``, ``bash`` and ``js`` blocks are code and run
in tests/docs/test_snippets.py; ``text``, ``json``, ``xml``, ``yaml``, ``ini`` and ``http`` blocks
are output, pictures or configuration and do not. Every fence must name its language.

An HTML comment on the line(s) before a fence (blank lines allowed) changes how a code block runs:

- ``<!-- snippet: not-run (why) -->``: not run; the reason is required, and
  test_snippets.py counts these per file, so a new one is a visible change to the tests.
- ``<!-- snippet: continues -->``: runs after the file's previous code block of the same
  language, in one program (a narrative that builds on its client or bucket).
- ``<!-- snippet: backend sqlite -->`` (or ``postgresql``): the block is about one metadata
  backend (a backup of meta.db, a pg_dump) and runs against that backend's system only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = {"python", "bash", "js"}
NOT_CODE = {"text", "json", "xml", "yaml", "ini", "http"}
MARKER = re.compile(r"^<!--\s*snippet:\s*(.*?)\s*-->$")
NOT_RUN = re.compile(r"^not-run\s*\((.+)\)$")
FENCE = re.compile(r"^( *)(`{3,})(.*)$")
BACKEND = re.compile(r"^backend (sqlite|postgresql)$")


def doc_files() -> list[Path]:
    """README.md, CHANGELOG.md and every page in docs/."""
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@dataclass
class Block:
    path: Path
    line: int            # 1-based line of the opening fence
    lang: str
    code: str
    marker: str          # "" | "continues" | "not-run" | "backend"
    reason: str          # not-run's reason; backend's backend
    heading: str         # the nearest heading above
    prelude: str = ""    # the code of the blocks it continues
    name: str = ""       # a test id that survives edits elsewhere: file#heading[-n]

    @property
    def id(self) -> str:
        return f"{rel(self.path)}:{self.line}:{self.lang}"

    @property
    def program(self) -> str:
        return self.prelude + self.code


def blocks(path: Path) -> list[Block]:
    lines = path.read_text().split("\n")
    out: list[Block] = []
    heading = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        m = FENCE.match(line)
        if not m:
            if line.startswith("#"):
                heading = line.lstrip("#").strip()
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3).strip()
        start = i
        i += 1
        body = []
        while i < len(lines) and lines[i].strip() != fence:
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        if i == len(lines):
            raise AssertionError(f"{rel(path)}:{start + 1}: fence never closed")
        i += 1
        marker = reason = ""
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        mm = MARKER.match(lines[j].strip()) if j >= 0 else None
        if mm:
            text = mm.group(1)
            nr = NOT_RUN.match(text)
            if nr:
                marker, reason = "not-run", nr.group(1).strip()
            elif text == "continues":
                marker = "continues"
            elif BACKEND.match(text):
                marker, reason = "backend", BACKEND.match(text).group(1)
            else:
                raise AssertionError(f"{rel(path)}:{start + 1}: unknown snippet marker {text!r}")
        out.append(Block(path, start + 1, lang, "\n".join(body) + "\n", marker, reason, heading))
    seen: dict[str, int] = {}
    for b in out:
        base = f"{rel(path)}#{slug(b.heading) or 'top'}"
        n = seen.get(base, 0)
        seen[base] = n + 1
        b.name = base if n == 0 else f"{base}-{n}"
    # chains: a "continues" block runs after the previous code block of its language in the file
    last: dict[str, Block] = {}
    for b in out:
        if b.lang not in CODE:
            continue
        if b.marker == "continues":
            prev = last.get(b.lang)
            if prev is None or prev.marker == "not-run":
                raise AssertionError(f"{b.id}: 'continues' needs a run block of {b.lang} before it")
            b.prelude = prev.program
        last[b.lang] = b
    return out


def all_blocks() -> list[Block]:
    return [b for p in doc_files() for b in blocks(p)]


# --------------------------------------------------------------------------- links and anchors
LINK = re.compile(r"(?<!!)\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped (hyphens and
    underscores kept), spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)       # a link's text only
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    in_fence = None
    for line in path.read_text().split("\n"):
        m = FENCE.match(line)
        if m:
            if in_fence is None:
                in_fence = m.group(2)
            elif line.strip() == in_fence:
                in_fence = None
            continue
        if in_fence is None and re.match(r"^#{1,6} ", line):
            s = slug(line.lstrip("#"))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
    return out


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every Markdown link outside code blocks and inline code."""
    out = []
    in_fence = None
    for n, line in enumerate(path.read_text().split("\n"), 1):
        m = FENCE.match(line)
        if m:
            if in_fence is None:
                in_fence = m.group(2)
            elif line.strip() == in_fence:
                in_fence = None
            continue
        if in_fence is not None:
            continue
        prose = re.sub(r"`[^`]*`", "", line)
        out.extend((n, t) for _, t in LINK.findall(prose))
    return out
