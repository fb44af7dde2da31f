"""The master's Due by agent tab: per agent, the follow-ups that are due, on every setup
(tests/scenarios/conftest.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from sync import master, master_update
from sync.cells import cell_text
from sync.cycle import base
from sync.sheets import RowMove
from tests.world import World

TODAY = dt.date(2026, 3, 10)


@pytest.fixture
def db_kind(setup: tuple[str, str]) -> str:
    return setup[1]


@pytest.fixture
def day(monkeypatch: pytest.MonkeyPatch) -> list[dt.date]:
    """The day the cycles see (today, in sync.timezone): change ``day[0]`` to move it."""
    pinned = [TODAY]
    monkeypatch.setattr(base, "today_in", lambda _zone: pinned[0])
    return pinned


def due_tab(world: World) -> list[list[str]]:
    return [
        [cell_text(v) for v in row] for row in world.backend.get_tab(world.master, "Due by agent")
    ]


def test_due_follow_ups_per_agent_follow_the_day(engine, harness, day):
    world = World(engine, harness=harness)
    world.type_rows(
        "ali",
        [
            {"Name": "A", "Phone": "01001234561", "Next follow-up": TODAY - dt.timedelta(days=3)},
            {"Name": "B", "Phone": "01001234562", "Next follow-up": TODAY},
            {"Name": "C", "Phone": "01001234563", "Next follow-up": TODAY + dt.timedelta(days=1)},
            {
                "Name": "D",
                "Phone": "01001234564",
                "Next follow-up": TODAY - dt.timedelta(days=9),
                "Status": "Completed",
            },
        ],
    )
    world.type_rows(
        "sara",
        [{"Name": "E", "Phone": "01001234565", "Next follow-up": TODAY - dt.timedelta(days=5)}],
    )
    world.cycle()
    assert due_tab(world) == [
        ["Agent", "Overdue", "Due today", "Oldest due", "Most days overdue"],
        ["Sara Ahmed", "1", "0", "2026-03-05", "5"],
        ["Ali Hassan", "1", "1", "2026-03-07", "3"],
    ]
    assert world.master_differences() == {}
    idle = world.cycle()
    assert (idle.cells_written, idle.sources_read) == (0, 0)

    # Sara moves hers; Ali's C comes due the next day, unedited: the master follows.
    world.edit("sara", {"Name": "E"}, {"Next follow-up": TODAY + dt.timedelta(days=7)})
    world.cycle()
    assert [row[0] for row in due_tab(world)[1:]] == ["Ali Hassan"]
    day[0] = TODAY + dt.timedelta(days=1)
    report = world.cycle()
    assert report.agent_cells_written == 0
    assert due_tab(world)[1:] == [["Ali Hassan", "2", "1", "2026-03-07", "4"]]
    assert world.master_differences() == {}
    idle = world.cycle()
    assert (idle.cells_written, idle.sources_read) == (0, 0)


def test_a_new_day_with_nothing_due_is_taken_once(engine, harness, day):
    """A new day moves what is due: the first cycle brings the master up to date (row by
    row; nothing due here), and the cycles after it are idle again, the master not
    rendered."""
    world = World(engine, harness=harness)
    world.type_rows("ali", [{"Name": "A", "Phone": "01001234561"}])
    world.cycle()
    day[0] = TODAY + dt.timedelta(days=1)
    first = world.cycle()  # recorded as a run: the master's Sync log shows it
    assert (first.agent_cells_written, first.sources_read) == (0, 0)
    again = world.cycle()
    assert (again.master_rendered, again.cells_written, again.sources_read) == (0, 0, 0)


def due_list(world: World) -> list[list[str]]:
    return [
        [cell_text(v) for v in row]
        for row in world.backend.get_tab(world.master, "Due follow-ups")[1:]
    ]


def test_the_due_follow_ups_list_the_most_overdue_first(engine, harness, day):
    """A row per due tracking (not Completed or Lost, not a deleted customer's), the most
    overdue first; brought up to date row by row as agents act and the days pass."""
    world = World(engine, harness=harness)
    world.type_rows(
        "ali",
        [
            {"Name": "A", "Phone": "01001234561", "Next follow-up": TODAY - dt.timedelta(days=3)},
            {"Name": "B", "Phone": "01001234562", "Next follow-up": TODAY, "Status": "Contacted"},
            {"Name": "C", "Phone": "01001234563", "Next follow-up": TODAY + dt.timedelta(days=1)},
            {
                "Name": "D",
                "Phone": "01001234564",
                "Next follow-up": TODAY - dt.timedelta(days=9),
                "Status": "Lost",
            },
            {"Name": "F", "Phone": "01001234566"},
        ],
    )
    world.type_rows(
        "sara",
        [
            {"Name": "E", "Phone": "01001234565", "Next follow-up": TODAY - dt.timedelta(days=5)},
            {"Name": "A", "Phone": "01001234561", "Next follow-up": TODAY - dt.timedelta(days=3)},
        ],
    )
    world.cycle()
    number = {r["Name"]: r["Customer #"] for r in world.rows("ali") + world.rows("sara")}
    header = world.backend.get_tab(world.master, "Due follow-ups")[0]
    assert " | ".join(map(cell_text, header)) == (
        "Agent | Customer # | Name | Phone | Status | Next follow-up | Days overdue"
    )
    assert due_list(world) == [
        ["Sara Ahmed", number["E"], "E", "+20 10 01234565", "", "2026-03-05", "5"],
        ["Ali Hassan", number["A"], "A", "+20 10 01234561", "", "2026-03-07", "3"],
        ["Sara Ahmed", number["A"], "A", "+20 10 01234561", "", "2026-03-07", "3"],
        ["Ali Hassan", number["B"], "B", "+20 10 01234562", "Contacted", "2026-03-10", "0"],
    ]
    assert world.master_differences() == {}
    idle = world.cycle()
    assert (idle.cells_written, idle.sources_read) == (0, 0)

    # Sara is done with E; Ali moves A's follow-up to tomorrow, and B is in progress.
    world.edit("sara", {"Name": "E"}, {"Status": "Completed"})
    world.edit("ali", {"Name": "A"}, {"Next follow-up": TODAY + dt.timedelta(days=1)})
    world.edit("ali", {"Name": "B"}, {"Status": "In progress"})
    world.cycle()
    assert [row[:5] for row in due_list(world)] == [
        ["Sara Ahmed", number["A"], "A", "+20 10 01234561", ""],
        ["Ali Hassan", number["B"], "B", "+20 10 01234562", "In progress"],
    ]
    assert world.master_differences() == {}

    # The next day: A (Ali's) and C come due, and every row is a day more overdue.
    day[0] = TODAY + dt.timedelta(days=1)
    report = world.cycle()
    assert report.agent_cells_written == 0
    assert [(row[0], row[2], row[6]) for row in due_list(world)] == [
        ("Sara Ahmed", "A", "4"),
        ("Ali Hassan", "B", "1"),
        ("Ali Hassan", "A", "0"),
        ("Ali Hassan", "C", "0"),
    ]
    assert world.master_differences() == {}
    idle = world.cycle()
    assert (idle.cells_written, idle.sources_read) == (0, 0)


def test_an_edit_with_nothing_due_leaves_the_due_list_unread(engine, harness, day, monkeypatch):
    """The Due follow-ups list is read again only when the day moved or a changed customer
    has a due tracking or a row there: an edit elsewhere costs nothing of it."""
    world = World(engine, harness=harness)
    world.type_rows(
        "ali",
        [
            {"Name": "A", "Phone": "01001234561", "Next follow-up": TODAY - dt.timedelta(days=3)},
            {"Name": "F", "Phone": "01001234566"},
        ],
    )
    world.cycle()
    loaded: list[str] = []  # whose due trackings were read: "all", or the customers'
    due_trackings = master.due_trackings

    def read(s, today, only=None):
        loaded.append("all" if only is None else f"{len(only)} customer(s)")
        return due_trackings(s, today, only)

    monkeypatch.setattr(master, "due_trackings", read)
    monkeypatch.setattr(master_update, "due_trackings", read)
    world.edit("ali", {"Name": "F"}, {"Notes": "call back"})
    report = world.cycle()
    assert report.master_cells_written > 0  # the master was brought up to date...
    assert loaded == []  # ...without the due list
    world.edit("ali", {"Name": "A"}, {"Status": "Completed"})
    world.cycle()
    assert loaded == ["1 customer(s)"]  # A's alone: the others are as stored
    assert due_list(world) == []
    assert world.master_differences() == {}


def test_a_long_due_list_shifts_by_moving_rows_not_rewriting_them(engine, harness, day):
    """A follow-up done near the top of a long list, and one come due in its middle: the
    rows below are moved (a deletion, an insertion), not rewritten; the master is what a
    whole render gives, and the next cycle is idle."""
    world = World(engine, harness=harness)
    rows = [
        {
            "Name": f"C{i}",
            "Phone": f"0100123{i:04d}",
            "Next follow-up": TODAY - dt.timedelta(days=60 - 2 * i),
        }
        for i in range(30)
    ]
    world.type_rows("ali", rows)
    world.cycle()
    assert [row[2] for row in due_list(world)] == [f"C{i}" for i in range(30)]
    sent: list[tuple[int, list[RowMove]]] = []
    set_cells = world.backend.set_cells

    def recorded(source, cells, *, version, moves=()):
        cells = list(cells)
        sent.append((sum(1 for c in cells if c[0] == "Due follow-ups"), list(moves)))
        return set_cells(source, cells, version=version, moves=moves)

    world.backend.set_cells = recorded
    world.edit("ali", {"Name": "C1"}, {"Status": "Completed"})
    world.edit("ali", {"Name": "C28"}, {"Next follow-up": TODAY - dt.timedelta(days=31)})
    world.cycle()
    assert [row[2] for row in due_list(world)] == [
        "C0",
        *(f"C{i}" for i in range(2, 15)),
        "C28",
        *(f"C{i}" for i in range(15, 28)),
        "C29",
    ]
    ((cells, moves),) = sent
    assert [m.count for m in moves] == [-1, 1, -1]
    assert cells <= 7  # C28's row, where it now is (the others are where they were)
    assert world.master_differences() == {}
    idle = world.cycle()
    assert (idle.cells_written, idle.sources_read) == (0, 0)
