"""The repository explains itself (issue 14): every reference to ``docs/`` in code, SQL, tests
and docs resolves to a section that exists, and the generated tables reference is current."""

from __future__ import annotations

import re
from pathlib import Path

from orders_pipeline.config import PROJECT_ROOT
from orders_pipeline.dictionary import tables_reference

DOCS = PROJECT_ROOT / "docs"

# `docs/semantics.md §3`, `docs/pitfalls.md`, `docs/operating.md#backfills`; a bare `§1.4`
# in a file cites docs/semantics.md, the only document with numbered sections
_CITATION = re.compile(
    r"(?:docs/(?P<doc>[a-z_]+\.md)(?:#(?P<anchor>[a-z0-9-]+))?)?"
    r"(?:\s*§\s*(?P<section>\d+(?:\.\d+)*))?"
)
# a relative link inside docs/: `[operating guide](operating.md#backfills)`
_RELATIVE_LINK = re.compile(r"\]\((?P<doc>[a-z_]+\.md)(?:#(?P<anchor>[a-z0-9-]+))?\)")


def _cited_files() -> list[Path]:
    roots = ("orders_pipeline", "sql", "tests", "docs")
    files = [p for root in roots for p in (PROJECT_ROOT / root).rglob("*") if p.is_file()]
    files = [p for p in files if p.suffix in (".py", ".sql", ".md") and "corpus" not in p.parts]
    return [*files, PROJECT_ROOT / "README.md"]


def _sections(doc: Path) -> set[str]:
    """Numbered sections (``## 1. Sources``, ``### 1.2 ...``, a ``**4.1**`` paragraph)."""
    text = doc.read_text(encoding="utf-8")
    headings = re.findall(r"^#+\s+(\d+(?:\.\d+)*)\.?\s", text, re.M)
    paragraphs = re.findall(r"\*\*(\d+(?:\.\d+)+)\*\*", text)
    return {*headings, *paragraphs}


def _anchors(doc: Path) -> set[str]:
    """GitHub's anchors of the headings: lower case, punctuation dropped, spaces to '-'."""
    anchors = set()
    for heading in re.findall(r"^#+\s+(.+?)\s*$", doc.read_text(encoding="utf-8"), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def _unresolved(path: Path, doc: str, anchor: str | None, section: str | None) -> str | None:
    target = DOCS / doc
    if not target.exists():
        return f"{path}: docs/{doc} does not exist"
    if anchor and anchor not in _anchors(target):
        return f"{path}: docs/{doc}#{anchor} is no heading of it"
    if section and section not in _sections(target):
        return f"{path}: docs/{doc} §{section} is no section of it"
    return None


def test_every_docs_reference_resolves():
    problems = []
    cited = 0
    for path in _cited_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        relative = path.relative_to(PROJECT_ROOT)
        for match in _CITATION.finditer(text):
            doc, anchor, section = match.group("doc", "anchor", "section")
            if not doc and not section:
                continue
            cited += 1
            problem = _unresolved(relative, doc or "semantics.md", anchor, section)
            if problem:
                problems.append(problem)
        if path.parent == DOCS:
            for match in _RELATIVE_LINK.finditer(text):
                cited += 1
                problem = _unresolved(relative, *match.group("doc", "anchor"), None)
                if problem:
                    problems.append(problem)
    assert problems == []
    assert cited > 200  # the scan found the citations


def test_the_tables_reference_is_generated_from_the_column_dictionary():
    written = (DOCS / "tables.md").read_text(encoding="utf-8")
    assert written == tables_reference(), (
        "docs/tables.md is stale: run `python -m orders_pipeline.dictionary docs/tables.md`"
    )
