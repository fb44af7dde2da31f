"""The command line on .xlsx workbooks and SQLite: run in this process through what the
``sheetsync`` script runs (tests/commands.py), and as a real process where the process is
what is tested (the demo, a user's first command; ``--help``'s imports)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.commands import run

CONFIG = """
[database]
url = "sqlite:///sheetsync.db"
[master]
workbook = "master.xlsx"
[[agents]]
key = "ali"
name = "Ali Hassan"
workbook = "agents/ali.xlsx"
[[agents]]
key = "sara"
name = "Sara Ahmed"
workbook = "agents/sara.xlsx"
"""


def as_process(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m sync ARGS`` as a real process."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "sync", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture
def deployment(tmp_path: Path) -> Path:
    (tmp_path / "sheetsync.toml").write_text(CONFIG, encoding="utf-8")
    assert run(tmp_path, "init").code == 0
    return tmp_path


def type_row(book: Path, values: dict[str, object]) -> None:
    wb = openpyxl.load_workbook(book)
    ws = wb["Customers"]
    header = [c.value for c in ws[1]]
    ws.append([values.get(h) for h in header])
    wb.save(book)


def test_init_is_idempotent_and_creates_the_layout(deployment: Path):
    again = run(deployment, "init")
    assert again.code == 0
    assert "init: 0 change(s)" in again.out
    wb = openpyxl.load_workbook(deployment / "agents/ali.xlsx")
    assert wb.sheetnames == ["Customers", "Follow-ups", "Check"]
    assert [c.value for c in wb["Customers"][1]][:3] == ["Customer #", "Name", "Phone"]
    master = openpyxl.load_workbook(deployment / "master.xlsx")
    assert master.sheetnames == [
        "Customers",
        "Tracking",
        "Follow-ups",
        "Conflicts",
        "Commission",
        "Sync log",
        "Deleted",
        "Due follow-ups",
        "Due by agent",
    ]


def test_sync_json_status_conflicts_and_lookup(deployment: Path):
    type_row(
        deployment / "agents/ali.xlsx",
        {
            "Name": "Ahmed Mohamed",
            "Phone": "+20 100 123 4567",
            "Status": "In progress",
            "Notes": "ali private",
        },
    )
    type_row(
        deployment / "agents/sara.xlsx",
        {
            "Name": "Ahmed Mohamed",
            "Phone": "01001234567",
            "Email": "a@example.com",
            "Notes": "sara private",
        },
    )
    type_row(deployment / "agents/sara.xlsx", {"Name": "Typo", "Phone": "12"})

    ran = run(deployment, "sync", "--json")
    assert ran.code == 0, ran.err
    report = json.loads(ran.out)
    for key in (
        "customers_created",
        "trackings_added",
        "rows_read",
        "cells_written",
        "conflicts_opened",
        "agents_failed",
    ):
        assert key in report
    assert (report["customers_created"], report["trackings_added"], report["rows_read"]) == (
        1,
        2,
        3,
    )
    assert report["conflicts_opened"] == 1 and report["agents_failed"] == 0

    idle = json.loads(run(deployment, "sync", "--json").out)
    assert idle["cells_written"] == 0 and idle["sources_read"] == 0

    status = json.loads(run(deployment, "status", "--json").out)
    assert status["customers"] == 1 and status["open_conflicts"] == {"invalid_phone": 1}
    assert status["last_success"] is not None
    assert status["lag_seconds"] is not None and status["lag_seconds"] < 600

    conflicts = json.loads(run(deployment, "conflicts", "--json").out)
    assert [(c["kind"], c["agent"], c["proposed"]) for c in conflicts] == [
        ("invalid_phone", "sara", "12")
    ]

    found = json.loads(run(deployment, "lookup", "0020 100 123 4567", "--json").out)
    assert found["exists"] and found["customer"]["Email"] == "a@example.com"
    assert [t["agent"] for t in found["tracked_by"]] == ["Ali Hassan", "Sara Ahmed"]
    assert "private" not in json.dumps(found)


def test_check_names_a_missing_workbook_and_exits_1_then_0_after_init(deployment: Path):
    """``check`` on local workbooks: every source's access, the same JSON as on Google."""
    fine = run(deployment, "check", "--json")
    assert fine.code == 0, fine.err
    report = json.loads(fine.out)
    assert report["problems"] == 0 and report["backend"] == "xlsx"
    assert [(s["source"], s["access"]) for s in report["sources"]] == [
        ("agent ali", "ok"),
        ("agent sara", "ok"),
        ("master", "ok"),
    ]
    (deployment / "agents/sara.xlsx").unlink()
    missing = run(deployment, "check")
    assert missing.code == 1
    assert "missing (run init)" in missing.out and "1 problem(s)" in missing.err
    assert run(deployment, "init").code == 0
    assert run(deployment, "check").code == 0


def test_a_locked_workbook_is_skipped_with_a_message_and_exit_code_1(deployment: Path):
    type_row(deployment / "agents/sara.xlsx", {"Name": "Ahmed Mohamed", "Phone": "01001234567"})
    (deployment / "agents/.~lock.ali.xlsx#").write_text("user,host", encoding="utf-8")
    ran = run(deployment, "sync")
    assert ran.code == 1
    assert "ali.xlsx is open in LibreOffice or Excel" in ran.err
    assert json.loads(run(deployment, "status", "--json").out)["customers"] == 1


def test_bad_config_exits_2_naming_the_key(tmp_path: Path):
    (tmp_path / "sheetsync.toml").write_text(
        CONFIG.replace('key = "sara"', 'key = "Sara!"'), encoding="utf-8"
    )
    ran = run(tmp_path, "sync")
    assert ran.code == 2
    assert "agents[1]" in ran.err and ".key" in ran.err
    missing = run(tmp_path, "--config", "nowhere.toml", "status")
    assert missing.code == 2 and "configuration file not found" in missing.err


def test_usage_errors_exit_2_with_a_message(tmp_path: Path):
    unknown = run(tmp_path, "--bogus")
    assert unknown.code == 2 and "No such option" in unknown.err
    missing = run(tmp_path, "lookup")
    assert missing.code == 2 and "Missing argument" in missing.err


def test_every_command_has_help_with_an_example():
    import typer
    from typer.testing import CliRunner

    from sync.cli import app

    def paths(command: Any, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
        found = [prefix] if prefix else []
        for name, sub in getattr(command, "commands", {}).items():
            found += paths(sub, (*prefix, name))
        return found

    every = paths(typer.main.get_command(app), ())
    assert {("init",), ("sync",), ("conflicts", "resolve"), ("lookup",), ("demo",)} <= set(every)
    runner = CliRunner()
    for path in every:
        shown = runner.invoke(app, [*path, "-h"], env={"COLUMNS": "200"})
        assert shown.exit_code == 0, shown.output
        assert "Example: sheetsync" in shown.output, f"{' '.join(path)} help lacks an example"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """`sheetsync demo`, run once for the tests of what it shows and writes."""
    cwd = tmp_path_factory.mktemp("demo")
    return cwd, as_process(cwd, "demo", "--dir", "d")


def test_demo_shows_the_seeds_split(demo_run: tuple[Path, Any]):
    cwd, run = demo_run
    assert run.returncode == 0, run.stderr
    assert "sync again (no edits): 0 cells written" in run.stdout
    # The suggested next command works as typed: here, run as `python -m sync`.
    assert f"try: {sys.executable} -m sync --config d/sheetsync.toml conflicts" in run.stdout
    demo = cwd / "d"
    ali = _rows(demo / "agents/ali.xlsx")
    ahmed = next(r for r in ali if r.get("Name") == "Ahmed Mohamed")
    assert ahmed["Desired university"] == "Cairo University"
    # A due follow-up: a past date under a rule that shades it (evaluated by the sheet).
    assert "shaded amber" in run.stdout
    assert ahmed["Next follow-up"].date() <= dt.date.today()
    customers = openpyxl.load_workbook(demo / "agents/ali.xlsx")["Customers"]
    (rule,) = [r for cf in customers.conditional_formatting for r in cf.rules]
    assert "TODAY()" in rule.formula[0]
    assert ahmed["Also tracked by"].startswith("Sara Ahmed (since ")
    assert "Alexandria" not in json.dumps(ali, default=str)
    sara = _rows(demo / "agents/sara.xlsx")
    ahmed_sara = next(r for r in sara if r.get("الاسم") == "Ahmed Mohamed")
    # Sara works in Arabic: right to left, what the sync writes in her words.
    assert ahmed_sara["يتابعه أيضا"].startswith("Ali Hassan (منذ ")
    assert openpyxl.load_workbook(demo / "agents/sara.xlsx")["Customers"].sheet_view.rightToLeft
    assert "Cairo" not in json.dumps(sara, default=str)
    # Mohamed checked two phones: Ahmed exists (who tracks him), the new one he added.
    checked = {r["Phone"]: r for r in _rows(demo / "agents/mohamed.xlsx", "Check")}
    assert str(checked["0100 123 4567"]["Result"]).startswith("Exists: CUS-")
    assert "Ali Hassan (since " in str(checked["0100 123 4567"]["Tracked by"])
    assert str(checked["0155 000 1111"]["Result"]).startswith("Added to your Customers: CUS-")
    mohamed = _rows(demo / "agents/mohamed.xlsx")
    assert any(r["Name"] == "Laila Nabil" and r["Customer #"] for r in mohamed)
    ali_follow_ups = _rows(demo / "agents/ali.xlsx", "Follow-ups")
    assert len(ali_follow_ups) == 2 and "Sent medical" not in json.dumps(
        ali_follow_ups, default=str
    )


@pytest.mark.office
@pytest.mark.skipif(
    (shutil.which("soffice") or shutil.which("libreoffice")) is None,
    reason="LibreOffice is not installed: the csv conversion check needs `soffice`",
)
def test_the_demo_workbooks_open_in_libreoffice(demo_run: tuple[Path, Any], tmp_path: Path):
    cwd, run = demo_run
    assert run.returncode == 0, run.stderr
    office = shutil.which("soffice") or shutil.which("libreoffice")
    assert office is not None
    out = tmp_path / "csv"
    conv = subprocess.run(
        [
            office,
            "--headless",
            "--convert-to",
            "csv",
            "--outdir",
            str(out),
            str(cwd / "d" / "agents/ali.xlsx"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert conv.returncode == 0, conv.stderr
    text = (out / "ali.csv").read_text(encoding="utf-8", errors="replace")
    assert "Cairo University" in text and "Sara Ahmed (since" in text
    assert "Alexandria" not in text


def _rows(book: Path, tab: str = "Customers") -> list[dict[str, object]]:
    ws = openpyxl.load_workbook(book)[tab]
    header = [c.value for c in ws[1]]
    return [
        dict(zip(header, (c.value for c in row), strict=False)) for row in ws.iter_rows(min_row=2)
    ]


def test_help_does_not_load_the_database_and_spreadsheet_stacks():
    """`sheetsync --help` imports what it shows, not what commands run (a start in about the
    time of importing SQLAlchemy: bench figures in docs/performance.md)."""
    probe = (
        "import sys, contextlib, io\n"
        "from sync import cli\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    cli.app(['--help'], prog_name='sheetsync')\n"
        "heavy = ['openpyxl', 'python_calamine', 'gspread', 'matplotlib', 'alembic',\n"
        "         'sqlalchemy.orm', 'pydantic', 'phonenumbers']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


# -- `init` beside a running team -------------------------------------------------------------


def _books(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every workbook's bytes and modification time."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*.xlsx"))
    }


def test_init_skips_a_workbook_open_in_excel_sets_up_the_rest_and_exits_0(deployment: Path):
    (deployment / "agents/.~lock.ali.xlsx#").write_text("user,host", encoding="utf-8")
    (deployment / "agents/sara.xlsx").unlink()  # a workbook init must still rebuild
    again = run(deployment, "init")
    assert again.code == 0, again.err
    assert "Traceback" not in again.err
    (warning,) = [line for line in again.err.splitlines() if line.strip()]
    assert warning.startswith("warning: ") and "agents/ali.xlsx" in warning
    assert "open in LibreOffice or Excel" in warning and "run `sheetsync init` again" in warning
    assert "agents/sara.xlsx\n  added tab Customers" in again.out
    assert "1 workbook skipped" in again.out
    assert openpyxl.load_workbook(deployment / "agents/sara.xlsx").sheetnames == [
        "Customers",
        "Follow-ups",
        "Check",
    ]


def test_a_second_init_leaves_every_workbook_untouched_after_the_sync_appended_rows(
    deployment: Path,
):
    # Day one: the team's sheet is imported, and the sync appends each agent's rows.
    (deployment / "team.csv").write_text(
        "Name,Phone,Agent\nOmar,01001234570,ali\nMona,01001234571,sara\n", encoding="utf-8"
    )
    assert run(deployment, "import", "team.csv").code == 0
    assert run(deployment, "sync").code == 0
    assert len(_rows(deployment / "agents/ali.xlsx")) == 1
    before = _books(deployment)
    again = run(deployment, "init")  # what the systemd unit runs at every start
    assert again.code == 0, again.err
    assert "init: 0 change(s)" in again.out, again.out
    assert _books(deployment) == before


def test_the_progress_bar_shows_on_a_terminal_and_nowhere_else():
    import io

    from rich.console import Console

    from sync.cli.progress import progress_bar

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)
    with progress_bar(terminal, "sync", 3) as bar:
        assert bar is not None
        bar.step("read ali")
        bar.say("write ali")
        bar.at(2, 3, "write the master")
        terminal.file.flush()
    assert "write the master" in screen.getvalue() and "2/3" in screen.getvalue()
    piped = Console(file=io.StringIO(), force_terminal=False)
    with progress_bar(piped, "sync", 3) as none:
        assert none is None
    with progress_bar(terminal, "sync", 3, quiet=True) as none:
        assert none is None  # --json
