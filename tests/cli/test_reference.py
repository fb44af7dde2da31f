"""docs/cli.md is what the commands' own help says."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync import cli
from sync.cli.reference import command_paths, help_text, reference
from tests.commands import run

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_the_reference_in_docs_is_made_from_the_commands_as_they_are_now():
    assert REFERENCE.read_text(encoding="utf-8") == reference(cli.app), (
        "docs/cli.md is out of date: run `python -m sync.cli.reference > docs/cli.md`"
    )


@pytest.mark.parametrize("path", [(), *command_paths(cli.app)], ids=" ".join)
def test_each_help_in_the_reference_is_what_the_command_prints(path, tmp_path):
    printed = run(tmp_path, *path, "-h")  # COLUMNS=200: click's help is at most 100 wide
    assert printed.code == 0
    assert printed.out == help_text(cli.app, path) + "\n"
