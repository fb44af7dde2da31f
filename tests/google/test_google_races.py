"""Promise 5 through the Google backend at more of the worst moments, and the write's retries.

tests/google/test_google.py edits Ali's sheet right before the write's re-validation and while the
write is sent. Here: typing in another cell of a row being written at that very instant,
the same edits with ``revalidate = false`` (the Drive version decides whether to re-read),
edits between a failed write and its check, and the write's own retries (``Retry-After``
honoured, bounded). Every test ends by comparing each row with what its agent typed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from sheets_emulator import Emulator
from sync.backends.google import GoogleError
from sync.backends.google.values import quote
from sync.cells import CellWrite, cell_text
from sync.cycle import base as cycle_base
from sync.model import Customer, Tracking
from tests.google import test_google
from tests.google.test_google import (
    AHMED,
    EDITS,
    FATIMA,
    OMAR,
    FakeTime,
    edit_cells,
    google_world,
    sid,
)
from tests.scenarios.test_cycle import AHMED_SARA
from tests.world import World

# the fixtures of tests/google/test_google.py: a fresh emulator, a fake clock, a World on them
db_kind, emu, fake, world = (
    test_google.db_kind,
    test_google.emu,
    test_google.fake,
    test_google.world,
)

TYPED = {"Fatima Ali": FATIMA, "Omar Hassan": OMAR, "Ahmed Mohamed": AHMED}


def three_rows_then_sara(world: World) -> None:
    """Ali has three customers, synced; Sara then types Ahmed with his email, so the next
    cycle writes Email and Also tracked by into Ali's Ahmed row."""
    world.type_rows("ali", [FATIMA, OMAR, AHMED])
    world.cycle()
    world.type_rows("sara", [{**AHMED_SARA, "Email": "ahmed@example.com"}])  # type: ignore[dict-item]


def assert_rows_are_their_own(
    world: World, gone: str | None = None, typed_by_name: dict[str, Any] | None = None
) -> dict[str, dict[str, str]]:
    """Every row of Ali's sheet keeps what Ali typed and the Customer # of its own phone."""
    expected = typed_by_name or TYPED
    rows = {r["Name"]: r for r in world.rows("ali")}
    assert set(rows) == set(expected) - {gone}
    with world.session() as s:
        phones = dict(s.execute(select(Customer.number, Customer.phone)).all())
    for name, row in rows.items():
        typed = expected[name]
        assert (row["Phone"], row["Notes"]) == (typed["Phone"], typed["Notes"])
        assert phones[row["Customer #"]].endswith(typed["Phone"].replace(" ", "")[1:])
    for name in set(rows) - {"Ahmed Mohamed"}:
        assert rows[name]["Also tracked by"] == "" and rows[name]["Email"] == ""
    return rows


def once_on(emu: Emulator, spreadsheet: str, kind: str, action: Callable[[], Any]) -> list[int]:
    """Run ``action`` right before the first ``kind`` request to ``spreadsheet``."""
    fired: list[int] = []

    def hook(_kind: str, request: Any) -> None:
        if request.params.get("id") == spreadsheet and not fired:
            fired.append(1)
            action()

    emu.before_request(hook, kind=kind)
    return fired


def test_typing_in_another_cell_of_a_row_as_it_is_written_keeps_both(
    world: World, emu: Emulator
) -> None:
    """Ali types a note into the very row the write is filling, while Google processes it:
    the write sends ``null`` for the cells it leaves alone, so the note survives, and the
    written cells are on the right row."""
    three_rows_then_sara(world)
    ali = sid(world, "ali")
    header = world.grid("ali")[0]
    notes = header.index("Notes")
    ahmed = 1 + [r["Name"] for r in world.rows("ali")].index("Ahmed Mohamed")
    cell = f"{quote('Customers')}!{chr(65 + notes)}{ahmed + 1}"
    fired = once_on(
        emu,
        ali,
        "sheets.values.batchUpdate",
        lambda: emu.set_values(ali, cell, [["typed during the write"]], "RAW"),
    )
    report = world.cycle()
    # The row cannot be told from one moved there: its cells (which did land) are reported
    # as "row moved while writing", and the next cycle reads the sheet again.
    assert fired and report.writes_skipped >= 1
    world.cycle()
    world.cycle()
    rows = {r["Name"]: r for r in world.rows("ali")}
    assert rows["Ahmed Mohamed"]["Notes"] == "typed during the write"
    assert rows["Ahmed Mohamed"]["Email"] == "ahmed@example.com"
    assert rows["Ahmed Mohamed"]["Also tracked by"].startswith("Sara Ahmed (since ")
    assert_rows_are_their_own(
        world,
        typed_by_name={**TYPED, "Ahmed Mohamed": {**AHMED, "Notes": "typed during the write"}},
    )
    with world.session() as s:  # and the note reached the database
        notes_now = {t.notes for t in s.execute(select(Tracking)).scalars()}
    assert "typed during the write" in notes_now


@pytest.mark.parametrize("how", EDITS)
def test_without_revalidation_an_edit_before_the_write_is_still_never_overwritten(
    engine: Any, emu: Emulator, fake: FakeTime, how: str
) -> None:
    """``revalidate = false`` trusts the tabs read earlier only while Drive says the
    spreadsheet did not change; an edit moves the version, so the tabs are read again."""
    world = google_world(engine, emu, fake, revalidate=False)
    three_rows_then_sara(world)

    def before_write(source: str) -> None:
        if source == world.source("ali"):
            world.backend.before_write = None
            edit_cells(world, emu, how)

    world.backend.before_write = before_write
    world.cycle()
    world.cycle()
    world.cycle()
    rows = assert_rows_are_their_own(world, {"delete a row above": "Fatima Ali"}.get(how))
    ahmed = rows["Ahmed Mohamed"]
    assert ahmed["Also tracked by"].startswith("Sara Ahmed (since ")
    if how == "type in a target cell":
        assert ahmed["Email"] == "ali.typed@example.com"
        assert "awaits an admin" in ahmed["Sync notes"]
    else:
        assert ahmed["Email"] == "ahmed@example.com"


@pytest.mark.parametrize("how", EDITS[:3])
@pytest.mark.parametrize("fault", ["lost answer", "refused"])
def test_rows_moving_between_a_failed_write_and_its_check(
    world: World, emu: Emulator, how: str, fault: str
) -> None:
    """The write's answer is lost (it landed) or refused (it did not); before the backend
    looks at the sheet again, Ali inserts, deletes or sorts rows. What landed is not
    written twice, what did not lands where its rows now are."""
    three_rows_then_sara(world)
    ali = sid(world, "ali")
    when = "after" if fault == "lost answer" else "before"
    failure = emu.faults.add(
        "sheets.values.batchUpdate",
        500,
        times=1,
        when=when,
        match=lambda r: r.params.get("id") == ali,
    )
    armed: list[int] = []

    def arm(_kind: str, request: Any) -> None:
        if request.params.get("id") == ali and failure.hits and not armed:
            armed.append(1)
            edit_cells(world, emu, how)

    emu.before_request(arm, kind="sheets.values.batchGet")  # the check after the failure
    sent: list[int] = []
    emu.before_request(
        lambda _k, r: sent.append(1) if r.params.get("id") == ali else None,
        kind="sheets.values.batchUpdate",
    )
    world.cycle()
    assert failure.hits == 1 and armed
    # within this very cycle: landed once (a lost answer is not resent), or redone once
    assert len(sent) == (1 if fault == "lost answer" else 2)
    now = {r["Name"]: r for r in world.rows("ali")}
    assert now["Ahmed Mohamed"]["Email"] == "ahmed@example.com"
    assert now["Ahmed Mohamed"]["Also tracked by"].startswith("Sara Ahmed (since ")
    world.cycle()
    world.cycle()
    rows = assert_rows_are_their_own(world, {"delete a row above": "Fatima Ali"}.get(how))
    assert rows["Ahmed Mohamed"]["Email"] == "ahmed@example.com"
    assert rows["Ahmed Mohamed"]["Sync notes"] == ""


def test_a_write_refused_with_429_waits_retry_after_and_lands_once(
    world: World, emu: Emulator, fake: FakeTime
) -> None:
    source = world.source("ali")
    world.type_rows("ali", [{"Name": "Ahmed", "Phone": "0100 123 4567"}])
    snapshot = world.backend.read(source)
    emu.faults.add("values.batchUpdate", 429, retry_after=7, times=2)
    fake.slept.clear()
    emu.reset_counts()
    writes = [CellWrite("Customers", 0, "Name", None, "", "Appended", group="g")]
    result = world.backend.write(source, writes, read_version=snapshot.version)
    assert result.applied == 1 and result.skipped == []
    assert fake.slept == [7.0, 7.0]  # Retry-After, not the backoff
    assert emu.counts["sheets.values.batchUpdate"] == 3
    assert [r["Name"] for r in world.rows("ali")] == ["Ahmed", "Appended"]


def test_a_write_that_keeps_failing_gives_up_after_the_bound(
    world: World, emu: Emulator, fake: FakeTime
) -> None:
    source = world.source("ali")
    world.type_rows("ali", [{"Name": "Ahmed", "Phone": "0100 123 4567"}])
    snapshot = world.backend.read(source)
    emu.faults.add("values.batchUpdate", 503, times=None, message="Backend Error")
    fake.slept.clear()
    emu.reset_counts()
    writes = [CellWrite("Customers", 0, "Name", None, "", "Never", group="g")]
    with pytest.raises(GoogleError) as info:
        world.backend.write(source, writes, read_version=snapshot.version)
    assert info.value.status == 503 and "Backend Error" in str(info.value)
    retries = world.backend.api.retry.max_retries
    assert emu.counts["sheets.values.batchUpdate"] == 1 + retries
    assert len(fake.slept) == retries
    assert [r["Name"] for r in world.rows("ali")] == ["Ahmed"]


def fail_once_on_master(
    world: World, emu: Emulator, kind: str, fault: str
) -> tuple[Any, list[int]]:
    """The next request of this kind to the master fails once with a 500: its answer is
    lost (it landed) or it is refused (it did not); and every such request sent is counted."""
    master = world.backend.spec(world.master).spreadsheet
    failure = emu.faults.add(
        kind,
        500,
        times=1,
        when="after" if fault == "lost answer" else "before",
        match=lambda r: r.params.get("id") == master,
    )
    sent: list[int] = []
    emu.before_request(
        lambda _k, r: sent.append(1) if r.params.get("id") == master else None, kind=kind
    )
    return failure, sent


@pytest.mark.parametrize("fault", ["lost answer", "refused"])
def test_a_master_write_whose_answer_is_lost_or_refused_lands_once(
    world: World, emu: Emulator, fault: str
) -> None:
    """The master's cells go in one write, placed on the master as read (no compare-and-set
    write is made per cell unless it is needed again). Its answer lost (it landed): the
    master is read again and nothing is sent twice; refused: it is sent once more. Either
    way the master shows the database within the cycle."""
    world.type_rows("ali", [FATIMA, OMAR, AHMED])
    world.type_rows("sara", [AHMED_SARA])
    failure, sent = fail_once_on_master(world, emu, "sheets.values.batchUpdate", fault)
    world.cycle()
    assert failure.hits == 1
    assert len(sent) == (1 if fault == "lost answer" else 2)
    assert world.master_differences() == {}


@pytest.mark.parametrize("fault", ["lost answer", "refused"])
def test_rows_moved_in_the_master_are_never_moved_twice(
    world: World, emu: Emulator, fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A follow-up done near the top of a long Due follow-ups list is a row deleted in the
    master: when the answer to that request is lost (the row is gone) or it is refused
    (it is not), the request is not sent again; the master is read and brought up to date
    cell by cell instead, and ends as a whole render makes it."""
    today = dt.date(2026, 3, 10)
    monkeypatch.setattr(cycle_base, "today_in", lambda _zone: today)
    world.type_rows(
        "ali",
        [
            {
                "Name": f"C{i}",
                "Phone": f"0100123{i:04d}",
                "Next follow-up": today - dt.timedelta(days=60 - 2 * i),
            }
            for i in range(30)
        ],
    )
    world.cycle()
    failure, sent = fail_once_on_master(world, emu, "sheets.spreadsheets.batchUpdate", fault)
    world.edit("ali", {"Name": "C1"}, {"Status": "Completed"})
    world.cycle()
    assert failure.hits == 1 and len(sent) == 1  # not resent
    due = world.backend.get_tab(world.master, "Due follow-ups")
    assert [cell_text(row[2]) for row in due[1:]] == ["C0", *(f"C{i}" for i in range(2, 30))]
    assert world.master_differences() == {}
    idle = world.cycle()
    assert (idle.cells_written, idle.sources_read) == (0, 0)
