"""Reports for admins (pure tables, CSV, the PNG chart) and the admin's CLI, run as a process."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from sync.model import Agent, FollowUp, Tracking
from sync.reports import (
    PIPELINE_COLUMNS,
    commission_rows,
    completion_month,
    pipeline_rows,
    write_commission_csv,
    write_pipeline_chart,
    write_pipeline_csv,
)

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
    for name in ("pipeline.png", "empty.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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


def sheetsync(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "sync", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


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


def test_the_admins_week_from_the_command_line(tmp_path: Path):
    (tmp_path / "sheetsync.toml").write_text(CONFIG, encoding="utf-8")
    assert sheetsync(tmp_path, "init").returncode == 0
    type_row(
        tmp_path / "agents/ali.xlsx",
        {
            "Name": "Ahmed Mohamed",
            "Phone": "01001234567",
            "Email": "a@example.com",
            "Status": "Completed",
        },
    )
    type_row(
        tmp_path / "agents/ali.xlsx",
        {
            "Name": "Fatma",
            "Phone": "01112223344",
            "Email": "f@example.com",
            "Next follow-up": "01/01/2020",
        },
    )
    type_row(
        tmp_path / "agents/sara.xlsx",
        {"Name": "Fatma A.", "Phone": "01223334455", "Email": "f@example.com", "Notes": "sara's"},
    )
    type_row(tmp_path / "agents/sara.xlsx", {"Phone": "01001234567", "Email": "b@example.com"})
    assert sheetsync(tmp_path, "sync").returncode == 0

    listed = json.loads(sheetsync(tmp_path, "conflicts", "--json").stdout)
    kinds = {c["kind"]: c["id"] for c in listed}
    assert set(kinds) == {"shared_field", "possible_duplicate"}
    only = json.loads(sheetsync(tmp_path, "conflicts", "--kind", "shared_field", "--json").stdout)
    assert [c["id"] for c in only] == [kinds["shared_field"]]

    usage = sheetsync(
        tmp_path, "conflicts", "resolve", kinds["shared_field"], "--keep", "--dismiss"
    )
    assert usage.returncode == 2 and "exactly one" in usage.stderr
    kept = sheetsync(tmp_path, "conflicts", "resolve", kinds["shared_field"], "--keep")
    assert kept.returncode == 0, kept.stderr
    pair = next(c for c in listed if c["kind"] == "possible_duplicate")["details"]["customers"]
    merged = sheetsync(
        tmp_path, "conflicts", "resolve", kinds["possible_duplicate"], "--merge-into", pair[0]
    )
    assert merged.returncode == 0 and "merged into" in merged.stdout
    assert sheetsync(tmp_path, "sync").returncode == 0
    assert json.loads(sheetsync(tmp_path, "conflicts", "--json").stdout) == []
    sara = sheet_rows(tmp_path / "agents/sara.xlsx")
    assert [r["Customer #"] for r in sara] == [pair[0], "CUS-" + pair[0][4:8] + "-00001"]
    assert sara[1]["Email"] == "a@example.com"

    month = dt.date.today().strftime("%Y-%m")
    as_json = json.loads(
        sheetsync(tmp_path, "report", "commission", "--month", month, "--json").stdout
    )
    assert [(r["agent"], r["completed"], r["commission"]) for r in as_json] == [
        ("ali", 1, 1.0),
        ("sara", 0, 0.0),
    ]
    as_csv = sheetsync(tmp_path, "report", "commission", "--month", month, "--csv").stdout
    assert as_csv.splitlines()[0].startswith("month,agent,name,completed")
    bad = sheetsync(tmp_path, "report", "commission", "--month", "Jan")
    assert bad.returncode == 2 and "not a month" in bad.stderr

    out = tmp_path / "reports"
    pipe = sheetsync(tmp_path, "report", "pipeline", "--out", str(out))
    assert pipe.returncode == 0, pipe.stderr
    assert (out / "pipeline.png").read_bytes()[:4] == b"\x89PNG"
    with (out / "pipeline.csv").open(encoding="utf-8") as f:
        ali = next(csv.DictReader(f))
    assert (ali["agent"], ali["active"], ali["overdue_next_follow_ups"]) == ("ali", "2", "1")

    history = json.loads(sheetsync(tmp_path, "history", pair[0], "--json").stdout)
    merge = next(e for e in history if e["action"] == "merge_customers")
    assert merge["actor"] == "boss@company.com"
    text = sheetsync(tmp_path, "history", pair[0]).stdout
    assert "merge_customers" in text and "boss@company.com" in text
    undone = sheetsync(tmp_path, "undo", str(merge["id"]))
    assert undone.returncode == 0 and "separate" in undone.stdout
    again = sheetsync(tmp_path, "undo", str(merge["id"]))
    assert again.returncode == 2 and "already undone" in again.stderr
    assert sheetsync(tmp_path, "sync").returncode == 0
    assert [r["Customer #"] for r in sheet_rows(tmp_path / "agents/sara.xlsx")][0] == pair[1]
    idle = json.loads(sheetsync(tmp_path, "sync", "--json").stdout)
    assert idle["cells_written"] == 0 and idle["sources_read"] == 0
