"""Reports for admins (pure tables, CSV, the PNG chart) and the admin's CLI, run as a process."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from sync.errors import ConfigError
from sync.model import Agent, FollowUp, Tracking
from sync.reports import (
    PIPELINE_COLUMNS,
    commission_by_month,
    commission_rows,
    completion_month,
    pipeline_rows,
    write_commission_chart,
    write_commission_csv,
    write_pipeline_chart,
    write_pipeline_csv,
)
from tests import commands
from tests.cli.test_cli import as_process

TODAY = dt.date(2026, 1, 20)


def agents() -> list[Agent]:
    return [Agent(id=1, key="ali", name="Ali Hassan"), Agent(id=2, key="sara", name="Sara Ahmed")]


def tracking(tid: int, agent: int, customer: int, status: str | None, **kw: object) -> Tracking:
    return Tracking(
        id=tid,
        agent_id=agent,
        customer_id=customer,
        status=status,
        active=kw.pop("active", True),
        lost_to_colleague=kw.pop("lost", False),
        **kw,
    )


def test_completion_month_prefers_the_agents_completed_on():
    seen = dt.datetime(2026, 2, 3, 10, 0)
    assert completion_month(tracking(1, 1, 1, "Completed", completed_at=seen)) == "2026-02"
    assert (
        completion_month(
            tracking(1, 1, 1, "Completed", completed_at=seen, completed_on=dt.date(2026, 1, 30))
        )
        == "2026-01"
    )
    assert completion_month(tracking(1, 1, 1, "Negotiating")) is None


def test_commission_rows_per_agent_and_month():
    jan = dt.datetime(2026, 1, 10)
    trackings = [
        tracking(1, 1, 10, "Completed", completed_at=jan, commission_pct=100.0),
        tracking(2, 2, 10, "Negotiating", commission_pct=0.0, lost=True),
        tracking(3, 1, 11, "Completed", completed_at=jan, commission_pct=70.0),
        tracking(4, 2, 11, "Completed", completed_at=jan, commission_pct=30.0),
        tracking(5, 2, 12, "Completed", completed_on=dt.date(2026, 2, 1), commission_pct=100.0),
        tracking(6, 1, 13, "Completed", completed_at=jan, commission_pct=100.0, active=False),
    ]
    numbers = {10: "CUS-2026-00010", 11: "CUS-2026-00011", 12: "CUS-2026-00012"}
    rows = commission_rows(agents(), numbers, trackings, "2026-01")
    got = [
        (r.agent, r.completed, r.customers, round(r.commission, 2), r.lost_to_colleague)
        for r in rows
    ]
    assert got == [
        ("ali", 2, ["CUS-2026-00010", "CUS-2026-00011"], 1.7, 0),
        ("sara", 1, ["CUS-2026-00011"], 0.3, 1),
    ]
    every = commission_rows(agents(), numbers, trackings)
    assert [(r.month, r.agent) for r in every] == [
        ("2026-02", "sara"),
        ("2026-01", "ali"),
        ("2026-01", "sara"),
    ]
    out = io.StringIO()
    write_commission_csv(rows, out)
    parsed = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert parsed[0] == {
        "month": "2026-01",
        "agent": "ali",
        "name": "Ali Hassan",
        "completed": "2",
        "customers": "CUS-2026-00010 CUS-2026-00011",
        "commission": "1.70",
        "lost_to_colleague": "0",
    }


def test_commission_per_month_and_agent_is_a_table_and_a_chart(tmp_path: Path):
    """The commission chart's table (pandas): a row per month, oldest first, a column per
    agent, 0 where an agent completed nothing that month."""
    jan, feb = dt.datetime(2026, 1, 10), dt.date(2026, 2, 1)
    trackings = [
        tracking(1, 1, 10, "Completed", completed_at=jan, commission_pct=100.0),
        tracking(2, 1, 11, "Completed", completed_at=jan, commission_pct=70.0),
        tracking(3, 2, 11, "Completed", completed_at=jan, commission_pct=30.0),
        tracking(4, 2, 12, "Completed", completed_on=feb, commission_pct=50.0),
    ]
    rows = commission_rows(agents(), {}, trackings)
    table = commission_by_month(rows)
    assert list(table.index) == ["2026-01", "2026-02"]
    assert list(table.columns) == ["Ali Hassan", "Sara Ahmed"]
    assert table.loc["2026-01"].round(2).tolist() == [1.7, 0.3]
    assert table.loc["2026-02"].round(2).tolist() == [0.0, 0.5]
    write_commission_chart(rows, tmp_path / "commission.png")
    write_commission_chart([], tmp_path / "empty.png")
    drawn, empty = (_ink(tmp_path / name) for name in ("commission.png", "empty.png"))
    assert drawn > empty + 0.005


def test_the_commission_chart_without_pandas_names_the_extra_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "pandas", None)  # what an install without it gives
    with pytest.raises(ConfigError, match="the commission chart needs pandas") as refused:
        write_commission_chart([], tmp_path / "commission.png")
    assert "sheetsync[reports]" in str(refused.value.hint)
    assert refused.value.exit_code == 2 and not (tmp_path / "commission.png").exists()


def pipeline() -> list:
    trackings = [
        tracking(1, 1, 1, "Prospect", next_follow_up=TODAY - dt.timedelta(days=1)),
        tracking(2, 1, 2, "Completed", next_follow_up=TODAY - dt.timedelta(days=5)),
        tracking(3, 1, 3, None, next_follow_up=TODAY),
        tracking(4, 1, 4, "Lost", active=False),
        tracking(5, 2, 1, "Negotiating", next_follow_up=TODAY - dt.timedelta(days=2)),
    ]
    created = dt.datetime(2025, 1, 1)
    follow_ups = [
        (FollowUp(id=1, date=TODAY - dt.timedelta(days=3), created_at=created), 1),
        (FollowUp(id=2, date=TODAY - dt.timedelta(days=45), created_at=created), 1),
        (FollowUp(id=3, date=None, created_at=dt.datetime(2026, 1, 19, 9)), 2),
    ]
    return pipeline_rows(agents(), trackings, follow_ups, TODAY)


def test_pipeline_counts_conversion_follow_ups_and_overdue():
    ali, sara = pipeline()
    assert (ali.active, ali.statuses["Prospect"], ali.statuses["Completed"]) == (3, 1, 1)
    assert ali.statuses["No status"] == 1 and ali.statuses["Lost"] == 0
    assert ali.conversion == pytest.approx(33.3)
    assert (ali.follow_ups, ali.recent_follow_ups, ali.overdue) == (2, 1, 1)
    assert (sara.active, sara.conversion, sara.recent_follow_ups, sara.overdue) == (1, 0.0, 1, 1)


def test_pipeline_csv_and_chart(tmp_path: Path):
    rows = pipeline()
    write_pipeline_csv(rows, tmp_path / "pipeline.csv")
    with (tmp_path / "pipeline.csv").open(encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert tuple(table[0]) == PIPELINE_COLUMNS
    assert table[1][:3] == ["ali", "Ali Hassan", "3"]
    write_pipeline_chart(rows, tmp_path / "pipeline.png", "Pipeline")
    write_pipeline_chart([], tmp_path / "empty.png")
    # Both decode as images; the one with agents draws their bars, the empty one does not.
    drawn, empty = (_ink(tmp_path / name) for name in ("pipeline.png", "empty.png"))
    assert drawn > empty + 0.01


def _ink(png: Path) -> float:
    """The share of a PNG's pixels that are not near-white (it must decode as a PNG)."""
    from matplotlib import image

    pixels = image.imread(png)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    return float((pixels[..., :3] < 0.9).any(axis=-1).mean())


# -- the admin's commands, as a user runs them ----------------------------------------

CONFIG = """
[database]
url = "sqlite:///sheetsync.db"
[sync]
admin = "boss@company.com"
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


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.code == 0, self.stderr
        return json.loads(self.stdout)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Callable[..., Ran]]:
    """``sheetsync --config <tmp>/sheetsync.toml ARGS`` in this process (most steps: a process
    costs a second of imports), through what the console script runs (tests/commands.py):
    errors are a message and an exit code, tables 200 characters wide."""
    config = str(tmp_path / "sheetsync.toml")

    def run(*args: str) -> Ran:
        ran = commands.run(tmp_path, "--config", config, *args)
        return Ran(ran.code, ran.out, ran.err)

    yield run
    root = logging.getLogger()  # the CLI logs to the stderr of a run that has ended
    for handler in list(root.handlers):
        if getattr(handler, "_sheetsync", False):
            root.removeHandler(handler)


def type_row(book: Path, values: dict[str, object]) -> None:
    wb = openpyxl.load_workbook(book)
    ws = wb["Customers"]
    header = [c.value for c in ws[1]]
    ws.append([values.get(h) for h in header])
    wb.save(book)


def sheet_rows(book: Path, tab: str = "Customers") -> list[dict[str, object]]:
    ws = openpyxl.load_workbook(book)[tab]
    header = [c.value for c in ws[1]]
    return [
        dict(zip(header, row, strict=False)) for row in ws.iter_rows(min_row=2, values_only=True)
    ]


def test_the_admins_week_from_the_command_line(tmp_path: Path, cli: Callable[..., Ran]):
    (tmp_path / "sheetsync.toml").write_text(CONFIG, encoding="utf-8")
    assert cli("init").code == 0
    ali, sara = tmp_path / "agents/ali.xlsx", tmp_path / "agents/sara.xlsx"
    jan = dt.date(2026, 1, 15)
    for row in (
        {"Name": "Ahmed Mohamed", "Phone": "01001234567", "Email": "a@example.com"},
        {"Name": "Fatma", "Phone": "01112223344", "Email": "f@example.com"},
        {"Name": "Omar Hassan", "Phone": "01005556677", "City/Region": "Cairo"},
    ):
        extra = {
            "Ahmed Mohamed": {"Status": "Completed", "Completed on": jan},
            "Fatma": {"Next follow-up": dt.date(2020, 1, 1)},
        }.get(str(row["Name"]), {})
        type_row(ali, {**row, **extra})
    for row in (
        {"Name": "Fatma A.", "Phone": "01223334455", "Email": "f@example.com", "Notes": "sara's"},
        {"Phone": "01001234567", "Email": "b@example.com"},
        {"Name": "Omar H.", "Phone": "01005556677", "City/Region": "Giza"},
        {"Name": "Typo", "Phone": "12345"},
    ):
        type_row(sara, row)
    assert cli("sync").code == 0

    listed = cli("conflicts", "--json").json()
    ids = {(c["kind"], c["field"]): c["id"] for c in listed}
    assert set(ids) == {
        ("shared_field", "email"),
        ("shared_field", "city"),
        ("shared_field", "name"),
        ("possible_duplicate", "email"),
        ("invalid_phone", None),
    }, listed
    only = cli("conflicts", "--kind", "invalid_phone", "--json").json()
    assert [c["id"] for c in only] == [ids["invalid_phone", None]]
    assert "possible_duplicate" in cli("conflicts").stdout

    # One real process: a usage error is one clean message and exit code 2.
    usage = as_process(tmp_path, "conflicts", "resolve", only[0]["id"], "--keep", "--dismiss")
    assert usage.returncode == 2 and "exactly one" in usage.stderr
    assert "Traceback" not in usage.stderr
    # Every way of resolving, from the command line.
    pair = next(c for c in listed if c["kind"] == "possible_duplicate")["details"]["customers"]
    wrong = cli(
        "conflicts", "resolve", ids["possible_duplicate", "email"], "--merge-into", "CUS-1999-00001"
    )
    assert wrong.code == 2 and "not one of them" in wrong.stderr
    steps = [
        (("shared_field", "email"), ["--keep"]),
        (("shared_field", "city"), ["--accept"]),
        (("shared_field", "name"), ["--value", "Omar Hassan Ali"]),
        (("invalid_phone", None), ["--dismiss"]),
        (("possible_duplicate", "email"), ["--merge-into", pair[0]]),
    ]
    for which, flags in steps:
        done = cli("conflicts", "resolve", ids[which], *flags)
        assert done.code == 0, (which, done.stderr)
    assert "merged into" in done.stdout
    again = cli("conflicts", "resolve", ids["shared_field", "email"], "--accept")
    assert again.code == 2 and "already resolved" in again.stderr
    assert cli("sync").code == 0
    assert cli("conflicts", "--json").json() == []

    by_phone = {str(r["Phone"]): r for r in sheet_rows(sara)}
    assert by_phone["01001234567"]["Email"] == "a@example.com"  # kept
    assert by_phone["01223334455"]["Customer #"] == pair[0]  # merged: the number is rewritten
    assert "not a valid phone" in str(by_phone["12345"]["Sync notes"])  # dismissed, still noted
    for book in (ali, sara):
        omar = next(r for r in sheet_rows(book) if str(r["Phone"]) == "01005556677")
        assert (omar["Name"], omar["City/Region"]) == ("Omar Hassan Ali", "Giza")

    # Commission for January, three ways.
    as_json = cli("report", "commission", "--month", "2026-01", "--json").json()
    assert [(r["agent"], r["completed"], r["commission"]) for r in as_json] == [
        ("ali", 1, 1.0),
        ("sara", 0, 0.0),
    ]
    assert as_json[1]["lost_to_colleague"] == 1
    as_csv = list(
        csv.DictReader(
            io.StringIO(cli("report", "commission", "--month", "2026-01", "--csv").stdout)
        )
    )
    assert [(r["agent"], r["completed"], r["commission"]) for r in as_csv] == [
        ("ali", "1", "1.00"),
        ("sara", "0", "0.00"),
    ]
    table = cli("report", "commission", "--month", "2026-01").stdout
    assert "Ali Hassan" in table and "1.00" in table and "2026-01" in table
    assert cli("report", "commission", "--month", "2025-12", "--json").json()[0]["completed"] == 0
    bad = cli("report", "commission", "--month", "Jan")
    assert bad.code == 2 and "not a month" in bad.stderr
    chart = cli("report", "commission", "--chart", str(tmp_path / "commission.png"))
    assert chart.code == 0, chart.stderr
    assert "Ali Hassan" in chart.stdout and "commission.png" in chart.stdout
    assert _ink(tmp_path / "commission.png") > 0.01

    out = tmp_path / "reports"
    pipe = cli("report", "pipeline", "--out", str(out))
    assert pipe.code == 0, pipe.stderr
    assert "Ali Hassan" in pipe.stdout and "pipeline.png" in pipe.stdout
    assert _ink(out / "pipeline.png") > 0.01
    with (out / "pipeline.csv").open(encoding="utf-8") as f:
        figures = {r["agent"]: r for r in csv.DictReader(f)}
    assert (figures["ali"]["active"], figures["ali"]["completed"]) == ("3", "1")
    assert figures["ali"]["overdue_next_follow_ups"] == "1"
    assert figures["sara"]["active"] == "3"  # Typo's row has no customer

    history = cli("history", pair[0], "--json").json()
    merge = next(e for e in history if e["action"] == "merge_customers")
    assert merge["actor"] == "boss@company.com"
    text = cli("history", pair[0]).stdout
    assert "merge_customers" in text and "boss@company.com" in text
    undone = cli("undo", str(merge["id"]))
    assert undone.code == 0 and "separate" in undone.stdout
    # The second real process: an admin error is one message on stderr, exit code 2.
    twice = as_process(tmp_path, "undo", str(merge["id"]))
    assert twice.returncode == 2 and "already undone" in twice.stderr
    assert cli("sync").code == 0
    fatma = next(r for r in sheet_rows(sara) if str(r["Phone"]) == "01223334455")
    assert fatma["Customer #"] == pair[1]
    idle = cli("sync", "--json").json()
    assert idle["cells_written"] == 0 and idle["sources_read"] == 0


def test_the_chart_without_matplotlib_is_one_line_that_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """matplotlib is the ``reports`` extra: without it the chart refuses, saying what to
    install, and writes nothing."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an install without it gives
    with pytest.raises(ConfigError, match=r"sheetsync\[reports\]") as refused:
        write_pipeline_chart(pipeline(), tmp_path / "pipeline.png")
    assert refused.value.exit_code == 2 and not (tmp_path / "pipeline.png").exists()
