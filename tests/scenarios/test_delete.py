"""An admin's soft delete of a customer and its restore, on every setup
(tests/scenarios/conftest.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sync import service
from sync.admin import commands
from sync.admin.core import AdminError
from sync.cells import cell_text
from sync.model import AuditEvent, Conflict, Customer, SheetState, Tracking, utcnow
from sync.reports import commission_report
from tests.world import World

AHMED_ALI = {
    "Name": "Ahmed Mohamed",
    "Phone": "+20 100 123 4567",
    "Status": "Completed",
    "Completed on": "2026-11-02",
    "Notes": "ali's notes",
}
FATIMA = {"Name": "Fatima Ali", "Phone": "0111 222 3344", "Status": "Prospect"}
AHMED_SARA = {"Name": "Ahmed Mohamed", "Phone": "01001234567", "Notes": "sara's notes"}


@pytest.fixture
def db_kind(setup: tuple[str, str]) -> str:
    return setup[1]


def master_numbers(world: World, tab: str) -> list[str]:
    return [cell_text(row[0]) for row in world.backend.get_tab(world.master, tab)[1:] if row]


def notes_of(world: World, agent: str, name: str) -> str:
    return next(r["Sync notes"] for r in world.rows(agent) if r["Name"] == name)


def completed(world: World) -> list[str]:
    """The customers the commission report counts as completed."""
    with world.session() as s:
        return [number for row in commission_report(s) for number in row.customers]


def assert_idle(world: World) -> None:
    idle = world.cycle()
    assert (idle.agent_cells_written, idle.master_cells_written, idle.sources_read) == (0, 0, 0)


def test_delete_keeps_everything_and_restore_undoes_it(engine, harness):
    world = World(engine, agents=("ali", "sara", "nour"), harness=harness)
    world.type_rows("ali", [AHMED_ALI, FATIMA])
    world.type_rows("sara", [AHMED_SARA])
    world.cycle()
    with world.session() as s:
        number = s.execute(select(Customer.number).where(Customer.name == "Ahmed Mohamed")).scalar()
    assert number in master_numbers(world, "Customers")
    assert completed(world) == [number]
    counts = world.table_counts()

    with pytest.raises(AdminError, match="say why"):
        commands.delete(world.config, world.engine, number, "  ")
    said = commands.delete(world.config, world.engine, number, "entered by mistake")
    assert f"{number} deleted" in said
    world.cycle()

    # Every record is kept; the master shows it in the Deleted tab alone.
    with world.session() as s:
        assert s.query(Tracking).count() == counts["trackings"]
        customer = s.execute(select(Customer).where(Customer.number == number)).scalar_one()
        assert customer.delete_reason == "entered by mistake"
    assert number not in master_numbers(world, "Customers")
    tracking_tab = world.backend.get_tab(world.master, "Tracking")
    assert all(cell_text(row[0]) != number for row in tracking_tab[1:])
    deleted = world.backend.get_tab(world.master, "Deleted")
    assert [cell_text(c) for c in deleted[1]][:2] == [number, "Ahmed Mohamed"]
    assert cell_text(deleted[1][-1]) == "entered by mistake"
    assert world.master_differences() == {}
    # Each agent's row says so and is no longer synced; commission leaves it out.
    today = utcnow().date().isoformat()
    note = f"removed by the admin on {today}: entered by mistake; no longer synced"
    assert notes_of(world, "ali", "Ahmed Mohamed") == note
    assert notes_of(world, "sara", "Ahmed Mohamed") == note
    with world.session() as s:
        assert commission_report(s) == []
    assert_idle(world)

    world.edit("ali", {"Name": "Ahmed Mohamed"}, {"Notes": "edited after the delete"})
    world.cycle()
    with world.session() as s:
        notes = {t.notes for t in s.execute(select(Tracking)).scalars()}
    assert "edited after the delete" not in notes

    # Typed again by a colleague: not a new customer, a conflict for the admin.
    world.type_rows("nour", [{"Name": "Ahmed Mohamed", "Phone": "0100 123 4567"}])
    world.type_rows("nour", [{"Phone": "0100-123-4567"}], "Check")
    report = world.cycle()
    assert report.customers_created == 0 and report.trackings_added == 0
    [row] = world.rows("nour")
    assert row["Customer #"] == ""
    assert row["Sync notes"] == (
        f"{number} was deleted by the admin; not synced: ask an admin to restore it"
    )
    with world.session() as s:
        conflict = s.execute(
            select(Conflict).where(Conflict.kind == "deleted_customer")
        ).scalar_one()
        assert conflict.status == "open"
    [check] = world.rows("nour", "Check")
    assert check["Result"] == f"Deleted by the admin: {number} Ahmed Mohamed"
    assert check["Sync notes"] == f"removed by the admin on {today}: entered by mistake"
    found = service.lookup(world.engine, "01001234567", "EG")
    assert found.deleted == f"removed by the admin on {today}: entered by mistake"
    assert_idle(world)

    with pytest.raises(AdminError, match="deleted already"):
        commands.delete(world.config, world.engine, number, "again")
    said = commands.restore(world.config, world.engine, number)
    assert f"{number} restored" in said
    world.cycle()

    assert number in master_numbers(world, "Customers")
    assert len(world.backend.get_tab(world.master, "Deleted")) <= 1
    assert world.master_differences() == {}
    assert notes_of(world, "ali", "Ahmed Mohamed") == ""
    assert completed(world) == [number]
    # Nour's row is synced now, and her conflict closed by itself.
    [row] = world.rows("nour")
    assert row["Customer #"] == number and row["Sync notes"] == ""
    with world.session() as s:
        assert (
            s.execute(select(Conflict.status).where(Conflict.kind == "deleted_customer")).scalar()
            != "open"
        )
        actions = [
            e.action
            for e in s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()
            if e.action in ("delete_customer", "restore_customer")
        ]
    assert actions == ["delete_customer", "restore_customer"]
    history = [e.action for e in commands.history(world.engine, number)]
    assert "delete_customer" in history and "restore_customer" in history
    assert world.rows("nour", "Check")[0]["Result"] == (
        f"Already in your Customers: {number} Ahmed Mohamed"
    )
    assert_idle(world)


def test_a_master_from_before_the_deleted_tab_keeps_the_admins_edits(engine, harness):
    """An upgrade adds the Deleted tab: a master without it (nor its state) still has what
    the admin typed read and applied before the tab is set up."""
    world = World(engine, harness=harness)
    world.type_rows("ali", [AHMED_ALI, FATIMA])
    world.cycle()
    with world.session() as s:
        s.query(SheetState).filter(SheetState.tab == "Deleted").delete()
        s.commit()
    world.backend.delete_tab(world.master, "Deleted")
    grid = world.backend.get_tab(world.master, "Customers")
    header = [cell_text(h) for h in grid[0]]
    row = next(r for r in grid[1:] if cell_text(r[header.index("Name")]) == "Fatima Ali")
    row[header.index("Email")] = "fatima@example.com"
    world.backend.set_tab(world.master, "Customers", grid)

    report = world.cycle()
    assert report.admin_changes == 1
    with world.session() as s:
        emails = set(s.execute(select(Customer.email)).scalars())
    assert "fatima@example.com" in emails
    assert world.backend.get_tab(world.master, "Deleted")[0][0] == "Customer #"
    assert world.master_differences() == {}


def type_action(world: World, tab: str, number: str, text: str) -> None:
    """The admin types in the Admin action column of a master tab."""
    grid = world.backend.get_tab(world.master, tab)
    header = [cell_text(h) for h in grid[0]]
    row = next(r for r in grid[1:] if cell_text(r[0]) == number)
    at = header.index("Admin action")
    row.extend([None] * (at + 1 - len(row)))
    row[at] = text
    world.backend.set_tab(world.master, tab, grid)


def test_the_admin_deletes_and_restores_in_the_master(engine, harness):
    world = World(engine, harness=harness)
    world.type_rows("ali", [AHMED_ALI, FATIMA])
    world.cycle()
    with world.session() as s:
        number = s.execute(select(Customer.number).where(Customer.name == "Fatima Ali")).scalar()

    type_action(world, "Customers", number, "remove it")
    report = world.cycle()
    assert any(
        w.startswith(f"master Customers, {number}, Admin action: 'remove it' is not an admin")
        for w in report.warnings
    )
    assert number in master_numbers(world, "Customers")
    assert world.master_differences() == {}  # the cell is cleared
    # The admin, who typed it in the master, reads why there: in that run's Sync log row.
    log = world.backend.get_tab(world.master, "Sync log")
    newest = dict(zip([cell_text(h) for h in log[0]], map(cell_text, log[1]), strict=False))
    assert newest["Run"] == str(report.run_id) and newest["Status"] == "ok"
    assert newest["Errors"] == (
        f"master Customers, {number}, Admin action: 'remove it' is not an admin action (type  "
        "delete: REASON  or  restore); the cell is cleared"
    )

    type_action(world, "Customers", number, "Delete: a test entry")
    report = world.cycle()
    assert report.admin_changes == 1
    assert number not in master_numbers(world, "Customers")
    assert master_numbers(world, "Deleted") == [number]
    assert notes_of(world, "ali", "Fatima Ali").endswith(": a test entry; no longer synced")
    assert world.master_differences() == {}
    assert_idle(world)

    type_action(world, "Deleted", number, "restore")
    world.cycle()
    assert number in master_numbers(world, "Customers")
    assert master_numbers(world, "Deleted") == []
    assert notes_of(world, "ali", "Fatima Ali") == ""
    assert world.master_differences() == {}
    with world.session() as s:
        by = s.execute(
            select(AuditEvent.actor).where(AuditEvent.action == "delete_customer")
        ).scalar_one()
    assert by == world.config.sync.admin
    assert_idle(world)
