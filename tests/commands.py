"""``sheetsync ARGS`` run in this process, as its console script runs it.

A command run as a real process costs the interpreter's start and every import again
(seconds on a busy machine); the tests that are about the process itself (the console
script, ``--help``'s imports, a terminal's progress bar, signals) start one, the others
run here.
"""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from sync import cli


@dataclass
class Ran:
    code: int
    out: str
    err: str


def run(cwd: Path, *args: str) -> Ran:
    """``sheetsync ARGS`` in ``cwd`` through ``sync.cli.main`` (what the ``sheetsync``
    script runs): its exit code and what it printed."""
    out, err = io.StringIO(), io.StringIO()
    old_argv = sys.argv
    sys.argv = ["sheetsync", *args]
    try:
        with pytest.MonkeyPatch.context() as mp, redirect_stdout(out), redirect_stderr(err):
            mp.chdir(cwd)
            mp.setenv("COLUMNS", "200")
            for console in (cli.out, cli.err):  # made at import, with the width of then
                mp.setattr(console, "width", 200)
            # click names the program after __main__'s package when run with -m (here:
            # pytest); the console script is named by its file, "sheetsync"
            mp.setattr(sys.modules["__main__"], "__package__", None, raising=False)
            with pytest.raises(SystemExit) as done:
                cli.main()
    finally:
        sys.argv = old_argv
    code = done.value.code
    return Ran(code if isinstance(code, int) else 0, out.getvalue(), err.getvalue())
