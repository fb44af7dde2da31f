"""What an admin types in the master costs what it changed, on every setup
(tests/scenarios/conftest.py): the rows the admin typed over are set again, the rest of the
master is left as it is, and what was not applied is put back."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from sync.cells import CellValue, Grid, cell_text
from sync.cycle import to_master
from sync.master_layout import MASTER_HEADERS
from sync.model import Conflict, Customer
from tests.scenarios.test_cycle import AHMED_ALI
from tests.world import World

CONFLICTS = 25  # more rows below the one resolved than a row move is made for


@pytest.fixture
def db_kind(setup: tuple[str, str]) -> str:
    return setup[1]


def shared_rows(city: str) -> list[dict[str, CellValue]]:
    """The team's customers; the first ones are due for a follow-up."""
    return [
        {
            "Name": f"Customer {i}",
            "Phone": f"0100 000 {i:04d}",
            "City/Region": city,
            "Next follow-up": dt.date(2026, 1, 1) if i < 3 else None,
        }
        for i in range(CONFLICTS)
    ]


def typed(world: World, tab: str, key: str, column: str, value: CellValue) -> None:
    """The admin types ``value`` in ``column`` of the row of ``tab`` whose first cell is
    ``key`` (a column past the tab's own is typed by its number: ``#14``)."""
    grid: Grid = world.backend.get_tab(world.master, tab)
    header = [cell_text(h) for h in grid[0]]
    col = int(column[1:]) if column.startswith("#") else header.index(column)
    row = next(r for r in grid[1:] if cell_text(r[0]) == key)
    row.extend([None] * (col + 1 - len(row)))
    row[col] = value
    world.backend.set_tab(world.master, tab, grid)


def cell(world: World, tab: str, key: str, column: str) -> str:
    grid = world.backend.get_tab(world.master, tab)
    col = [cell_text(h) for h in grid[0]].index(column)
    row = next(r for r in grid[1:] if cell_text(r[0]) == key)
    return cell_text(row[col]) if col < len(row) else ""


@pytest.fixture
def team(world: World) -> World:
    """Ali and Sara typed the same customers with another city: one conflict each."""
    world.type_rows("ali", shared_rows("Cairo"))
    world.cycle()
    world.type_rows("sara", shared_rows("Giza"))
    world.cycle()
    with world.session() as s:
        assert s.query(Conflict).filter_by(status="open").count() == CONFLICTS
    return world


def test_a_resolution_typed_in_the_master_sets_that_row_alone(team: World):
    first = cell_text(team.backend.get_tab(team.master, "Conflicts")[1][0])
    typed(team, "Conflicts", first, "Resolution", "keep")
    report = team.cycle()

    with team.session() as s:
        conflict = s.get(Conflict, int(first.removeprefix("C")))
        assert conflict is not None and conflict.status == "resolved"
    # The resolved row is taken out of the Conflicts tab and the 24 rows below move up with
    # it, none set again: the rows set are the customer's and the run's. (The whole render
    # would set again the cells of each row below that differ from the row above: over 90.)
    assert 0 < report.master_cells_written < 2 * (CONFLICTS - 1)
    assert team.master_differences() == {}
    idle = team.cycle()
    assert (idle.cells_written, idle.sources_read) == (0, 0)


def test_what_the_admin_typed_and_was_not_applied_is_put_back_row_by_row(team: World):
    with team.session() as s:
        first, second = s.execute(select(Customer.number).order_by(Customer.id)).scalars().all()[:2]
    conflict = cell_text(team.backend.get_tab(team.master, "Conflicts")[1][0])
    kind = cell(team, "Conflicts", conflict, "Kind")
    typed(team, "Customers", first, "Phone", "123")  # not a phone number: put back
    typed(team, "Customers", second, "Email", "admin@example.com")  # applied
    typed(team, "Conflicts", conflict, "Kind", "looked at")  # not read by sheetsync
    report = team.cycle()

    assert cell(team, "Customers", second, "Email") == "admin@example.com"
    assert cell(team, "Customers", first, "Phone") not in ("123", "")
    assert cell(team, "Conflicts", conflict, "Kind") == kind
    assert list(report.refused) == [f"master Customers, {first}, Phone"]
    assert team.master_differences() == {}


@pytest.mark.parametrize("where", ["past the columns", "a Due follow-ups row"])
def test_what_the_rows_alone_cannot_put_back_is_put_back_by_the_whole_render(
    team: World, where: str
):
    if where == "past the columns":  # the row path sets a tab's own columns alone
        with team.session() as s:
            number = s.execute(select(Customer.number).order_by(Customer.id)).scalars().first()
        assert number is not None
        typed(team, "Customers", number, f"#{len(MASTER_HEADERS['Customers']) + 2}", "a note")
    else:  # a tab kept row by row by key: only the rows of changed customers are rendered
        grid = team.backend.get_tab(team.master, "Due follow-ups")
        assert len(grid) > 1, "the team has due follow-ups"
        typed(team, "Due follow-ups", cell_text(grid[1][0]), "Phone", "a note")
    team.cycle()
    assert team.master_differences() == {}
    for tab, width in MASTER_HEADERS.items():
        grid = team.backend.get_tab(team.master, tab)
        assert all(not any(cell_text(c) for c in row[len(width) :]) for row in grid), tab


@pytest.mark.parametrize(
    ("column", "value"),
    [("Email", "admin@example.com"), ("City/Region", "Alexandria")],
    ids=["a cell the cycle leaves", "a cell the cycle sets"],
)
def test_what_the_admin_types_while_a_cycle_runs_is_applied_never_overwritten(
    world: World, column: str, value: str
):
    """Promise 5 in the master: the admin types after the cycle looked at the master and
    before it writes its rows (Ali's new City/Region). The cycle finds the master changed,
    applies what the admin typed, as at the start of a cycle, then writes: the master shows
    the admin's value, never the render's over it."""
    world.type_rows("ali", [AHMED_ALI])
    world.cycle()
    with world.session() as s:
        number = s.execute(select(Customer.number)).scalar_one()
    world.edit("ali", {"Name": AHMED_ALI["Name"]}, {"City/Region": "Giza"})
    fired: list[str] = []

    def admin_types(source: str) -> None:
        if source == world.master and not fired:
            fired.append(source)
            typed(world, "Customers", number, column, value)

    world.backend.before_write = admin_types
    report = world.cycle()
    world.backend.before_write = None

    assert fired and report.admin_changes == 1
    with world.session() as s:
        ahmed = s.execute(select(Customer)).scalar_one()
        assert (ahmed.email, ahmed.city) == (
            (value, "Giza") if column == "Email" else ("ahmed@example.com", value)
        )
    assert cell(world, "Customers", number, column) == value
    assert world.master_differences() == {}
    world.cycle()  # Ali's sheet was written back before the admin typed: now it shows it
    assert world.rows("ali")[0][column] == value
    idle = world.cycle()
    assert (idle.cells_written, idle.sources_read) == (0, 0)


def test_what_the_admin_types_as_a_whole_render_reads_the_master_is_applied(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    """The master rendered whole (here forced) is read after the cycle looked at it; the
    admin types just before that read. What the read shows is applied before the render
    is written over it (a Google snapshot bears the version of the cycle's look, so the
    version cannot tell that the master changed)."""
    world.type_rows("ali", [AHMED_ALI])
    world.cycle()
    with world.session() as s:
        number = s.execute(select(Customer.number)).scalar_one()
    world.edit("ali", {"Name": AHMED_ALI["Name"]}, {"City/Region": "Giza"})
    monkeypatch.setattr(to_master, "plan_update", lambda *args, **kwargs: None)
    fired: list[str] = []
    read = world.backend.read

    def admin_types_then_read(source: str) -> Any:
        if source == world.master and not fired:
            fired.append(source)
            typed(world, "Customers", number, "Email", "admin@example.com")
        return read(source)

    monkeypatch.setattr(world.backend, "read", admin_types_then_read)
    report = world.cycle()

    assert fired and report.admin_changes == 1
    with world.session() as s:
        assert s.execute(select(Customer.email)).scalar_one() == "admin@example.com"
    assert cell(world, "Customers", number, "Email") == "admin@example.com"
    assert cell(world, "Customers", number, "City/Region") == "Giza"
