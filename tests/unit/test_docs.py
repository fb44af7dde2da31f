"""The docs point at what exists: every local link resolves, every path named is there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
PATH = re.compile(r"`((?:sync|sheets_emulator|tests|bench|migrations)/[\w./]*)`")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_local_link_resolves(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    missing = [
        target
        for target in LINK.findall(text)
        if "://" not in target and not (page.parent / target).exists()
    ]
    assert not missing, f"{page.relative_to(ROOT)} links to {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_path_named_exists(page: Path) -> None:
    """A module moved or renamed leaves no page naming where it was."""
    text = page.read_text(encoding="utf-8")
    missing = sorted(
        {path for path in PATH.findall(text) if not (ROOT / path.rstrip("/.")).exists()}
    )
    assert not missing, f"{page.relative_to(ROOT)} names {missing}"
