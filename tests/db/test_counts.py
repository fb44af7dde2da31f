"""One truth for counts: what a cycle did, as ``sync``, ``sync --json``, ``status``, the
worker's cycle line and the master's Sync log say it (issue 10, item 13).

Each figure is defined once, on :class:`~sync.cycle.CycleReport`; the run keeps the same
figures (``SyncRun.stats``) and every place that shows them reads them from there.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openpyxl

from sync.cycle import SUMMARY_COUNTS, CycleReport
from sync.worker import CycleOutcome
from tests.cli import test_reports
from tests.cli.test_reports import CONFIG, Ran, type_row
from tests.db.test_admin import type_in_master
from tests.world import World

cli = test_reports.cli  # the admin's CLI in this process (a fixture)

AHMED = {"Name": "Ahmed Mohamed", "Phone": "01001234567", "Status": "In progress"}
FATMA = {"Name": "Fatma", "Phone": "01112223344", "Email": "f@example.com"}


def sync_log_row(book: Path, run_id: int) -> dict[str, object]:
    """The master's Sync log row of one run, by header."""
    ws = openpyxl.load_workbook(book)["Sync log"]
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, r, strict=False)) for r in ws.iter_rows(min_row=2, values_only=True)]
    return next(r for r in rows if r["Run"] == run_id)


def test_sync_status_and_the_sync_log_tell_the_same_figures_of_a_run(
    tmp_path: Path, cli: Callable[..., Ran]
) -> None:
    """A run that writes agents' cells and the master's: ``sync --json`` and ``status --json``
    give the same figures, cells written = agents' cells + master's cells, and the master's
    Sync log shows the agents' cells of that run (its own are written after that row)."""
    (tmp_path / "sheetsync.toml").write_text(CONFIG, encoding="utf-8")
    assert cli("init").code == 0
    type_row(tmp_path / "agents/ali.xlsx", AHMED)
    type_row(tmp_path / "agents/sara.xlsx", {**AHMED, "Status": None})
    type_row(tmp_path / "agents/sara.xlsx", FATMA)

    report = cli("sync", "--json").json()
    [run] = [r for r in cli("status", "--json").json()["runs"] if r["id"] == report["run_id"]]
    assert {k: run["stats"][k] for k in SUMMARY_COUNTS} == {k: report[k] for k in SUMMARY_COUNTS}

    agents, master = report["agent_cells_written"], report["master_cells_written"]
    assert agents > 0 and master > 0
    assert report["cells_written"] == agents + master

    logged = sync_log_row(tmp_path / "master.xlsx", report["run_id"])
    assert logged["Agent cells written"] == agents
    assert (logged["Rows read"], logged["Customers created"]) == (
        report["rows_read"],
        report["customers_created"],
    )


def test_sync_and_status_say_cells_written_as_agents_plus_master(
    tmp_path: Path, cli: Callable[..., Ran]
) -> None:
    (tmp_path / "sheetsync.toml").write_text(CONFIG, encoding="utf-8")
    assert cli("init").code == 0
    type_row(tmp_path / "agents/ali.xlsx", AHMED)

    shown = cli("sync")
    stats = cli("status", "--json").json()["runs"][0]["stats"]
    said = (
        f"{stats['cells_written']} (agents {stats['agent_cells_written']} "
        f"+ master {stats['master_cells_written']})"
    )
    assert said in shown.stdout
    assert said in cli("status").stdout


def test_an_admins_edit_in_the_master_counts_as_a_customer_updated_once(engine) -> None:
    world = World(engine, admin="boss@company.com")
    world.type_rows("ali", [AHMED])
    world.cycle()
    number = world.rows("ali")[0]["Customer #"]

    type_in_master(world, "Customers", {"Customer #": number}, {"Name": "Ahmed Mohamed Ali"})
    report = world.cycle()

    assert (report.customers_updated, report.admin_changes) == (1, 1)


def test_every_agent_is_counted_once_synced_or_unchanged(engine) -> None:
    """Sara is renamed: Ali's and Mohamed's sheets did not change, but their 'Also tracked by'
    did, so they are read and written back. Three agents, three counted."""
    world = World(engine, ("ali", "sara", "mohamed"))
    for agent in ("ali", "sara", "mohamed"):
        world.type_rows(agent, [AHMED])
    world.cycle()
    agents = [
        a.model_copy(update={"name": "Sara A. Ahmed"}) if a.key == "sara" else a
        for a in world.config.agents
    ]
    world.config = world.config.model_copy(update={"agents": agents})

    report = world.cycle()

    assert "Sara A. Ahmed" in world.rows("ali")[0]["Also tracked by"]
    assert report.agents_synced + report.agents_unchanged + report.agents_failed == 3


def test_the_workers_cycle_line_never_counts_the_master_as_an_agent() -> None:
    report = CycleReport(agents_synced=1, agents_unchanged=1, sources_read=2)
    outcome = CycleOutcome(1, "ok", 0.0, 0.5, report=report, read=["ali", "master"])

    line = outcome.summary()

    assert "1 agent read (and the master), 1 synced, 1 unchanged" in line
