"""The Check tab, scenario by scenario, on every setup (tests/scenarios/conftest.py): an
agent checks a phone before adding a customer, and adds their tracking with ``yes``."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sync.cells import cell_text
from sync.model import AuditEvent, Conflict, Customer, Tracking
from tests.world import World

AHMED = {
    "Name": "Ahmed Mohamed",
    "Phone": "+20 100 123 4567",
    "Desired university": "Cairo University",
    "Status": "In progress",
    "Notes": "Ali's private note: prefers evening calls",
}
NEW_PHONE = "0102 555 0101"


@pytest.fixture
def db_kind(setup: tuple[str, str]) -> str:
    return setup[1]


def kept(world: World) -> dict[str, int]:
    """What checking must not create: customers, trackings, audit events, conflicts."""
    return {
        "customers": world.count(Customer),
        "trackings": world.count(Tracking),
        "audit": world.count(AuditEvent),
        "conflicts": world.count(Conflict),
    }


def check_rows(world: World, agent: str) -> dict[str, dict[str, str]]:
    """The agent's Check rows by the phone typed."""
    return {row["Phone"] or row["Name"]: row for row in world.rows(agent, "Check")}


def every_cell(world: World, agent: str) -> str:
    """Every cell of every tab of the agent's workbook, as one text."""
    return "\n".join(
        cell_text(value)
        for tab in ("Customers", "Follow-ups", "Check")
        for row in world.grid(agent, tab)
        for value in row
    )


def test_init_gives_every_agent_a_check_tab(world: World):
    for agent in ("ali", "sara"):
        assert world.grid(agent, "Check")[0] == [
            "Phone",
            "Name",
            "Result",
            "Tracked by",
            "Add my tracking",
            "Sync notes",
        ]


def test_checking_answers_and_creates_nothing(world: World):
    world.type_rows("ali", [AHMED])
    world.cycle()
    before = kept(world)
    world.type_rows(
        "sara",
        [
            {"Phone": "01001234567"},  # Ahmed, typed another way
            {"Phone": NEW_PHONE, "Name": "Mona Fathy"},
            {"Phone": "call me"},
            {"Name": "a name without a phone"},
        ],
        tab="Check",
    )
    report = world.cycle()

    assert kept(world) == before  # no customer, tracking, audit event or conflict
    assert report.agent_cells_written > 0
    rows = check_rows(world, "sara")
    with world.session() as s:
        number, since = s.execute(
            select(Customer.number, Tracking.tracked_since).join(
                Tracking, Tracking.customer_id == Customer.id
            )
        ).one()
    ahmed = rows["01001234567"]
    assert ahmed["Result"] == f"Exists: {number} Ahmed Mohamed"
    assert ahmed["Tracked by"] == f"Ali Hassan (since {since.date().isoformat()})"
    assert ahmed["Sync notes"] == ""
    assert rows[NEW_PHONE]["Result"] == "New customer"
    assert rows[NEW_PHONE]["Tracked by"] == ""
    assert rows["call me"]["Result"] == ""
    assert rows["call me"]["Sync notes"] == "'call me' is not a valid phone number"
    assert rows["a name without a phone"]["Sync notes"] == "type the customer's phone to check it"
    # Nothing of Ali's tracking reaches Sara's workbook; her Customers tab is still empty.
    text = every_cell(world, "sara")
    assert "Cairo University" not in text and "evening calls" not in text
    assert "In progress" not in text
    assert world.rows("sara") == []

    idle = world.cycle()
    assert (idle.agent_cells_written, idle.master_cells_written, idle.sources_read) == (0, 0, 0)
    assert kept(world) == before


def test_yes_adds_my_tracking_once(world: World):
    world.type_rows("ali", [AHMED])
    world.cycle()
    world.type_rows(
        "sara",
        [
            {"Phone": NEW_PHONE, "Name": "Mona Fathy", "Add my tracking": "yes"},
            {"Phone": "01001234567", "Add my tracking": "نعم"},
        ],
        tab="Check",
    )
    report = world.cycle()
    assert (report.customers_created, report.trackings_added) == (1, 2)

    customers = {row["Phone"]: row for row in world.rows("sara")}
    assert set(customers) == {"+20 10 25550101", "+20 10 01234567"}
    mona = customers["+20 10 25550101"]
    ahmed = customers["+20 10 01234567"]
    assert mona["Name"] == "Mona Fathy" and mona["Customer #"].startswith("CUS-")
    assert ahmed["Name"] == "Ahmed Mohamed" and ahmed["Also tracked by"].startswith("Ali Hassan")
    assert ahmed["Desired university"] == "" and ahmed["Notes"] == ""  # Ali's stay Ali's
    rows = check_rows(world, "sara")
    assert rows[NEW_PHONE]["Result"] == f"Added to your Customers: {mona['Customer #']} Mona Fathy"
    assert rows["01001234567"]["Result"] == (
        f"Added to your Customers: {ahmed['Customer #']} Ahmed Mohamed"
    )
    assert rows["01001234567"]["Tracked by"].startswith("Ali Hassan (since ")
    # Ali sees Sara as a colleague of Ahmed, and nothing else of hers.
    assert world.rows("ali")[0]["Also tracked by"].startswith("Sara Ahmed (since ")

    idle = world.cycle()
    assert (idle.agent_cells_written, idle.master_cells_written, idle.sources_read) == (0, 0, 0)

    # Sara removes Mona from her Customers: the same yes does not add her back.
    world.delete_rows("sara", {"Name": "Mona Fathy"})
    report = world.cycle()
    assert report.trackings_archived == 1
    assert report.trackings_added == 0
    assert [row["Name"] for row in world.rows("sara")] == ["Ahmed Mohamed"]
    again = check_rows(world, "sara")[NEW_PHONE]
    assert again["Result"] == f"Exists: {mona['Customer #']} Mona Fathy"
    assert "removed from your Customers since it was added" in again["Sync notes"]

    # Clearing the yes and typing it again asks again.
    world.edit("sara", {"Phone": NEW_PHONE}, {"Add my tracking": None}, tab="Check")
    world.cycle()
    world.edit("sara", {"Phone": NEW_PHONE}, {"Add my tracking": "Yes"}, tab="Check")
    world.cycle()
    assert sorted(row["Name"] for row in world.rows("sara")) == ["Ahmed Mohamed", "Mona Fathy"]
    assert check_rows(world, "sara")[NEW_PHONE]["Result"].startswith("Added to your Customers")
    with world.session() as s:
        assert s.query(Tracking).filter(Tracking.active.is_(False)).count() == 0


def test_answers_follow_changes_made_elsewhere(world: World):
    world.type_rows("sara", [{"Phone": NEW_PHONE}], tab="Check")
    world.cycle()
    assert check_rows(world, "sara")[NEW_PHONE]["Result"] == "New customer"

    # Ali adds the customer; Sara's sheet is not touched, her answer follows.
    world.type_rows("ali", [AHMED, {"Name": "Mona Fathy", "Phone": "01025550101"}])
    world.cycle()
    row = check_rows(world, "sara")[NEW_PHONE]
    assert row["Result"].startswith("Exists: CUS-") and row["Result"].endswith(" Mona Fathy")
    assert row["Tracked by"].startswith("Ali Hassan (since ")
    idle = world.cycle()
    assert (idle.agent_cells_written, idle.master_cells_written, idle.sources_read) == (0, 0, 0)

    # Ali removes his row (not all of them: an emptied tab is quarantined): nobody tracks
    # her any more.
    world.delete_rows("ali", {"Name": "Mona Fathy"})
    world.cycle()
    row = check_rows(world, "sara")[NEW_PHONE]
    assert row["Result"].startswith("Exists: CUS-") and row["Tracked by"] == ""


def test_an_unreadable_yes_is_noted(world: World):
    world.type_rows("sara", [{"Phone": NEW_PHONE, "Add my tracking": "maybe"}], tab="Check")
    report = world.cycle()
    assert report.trackings_added == 0
    row = check_rows(world, "sara")[NEW_PHONE]
    assert row["Result"] == "New customer"
    assert row["Sync notes"] == "Add my tracking: 'maybe' is not one of yes (type yes or نعم)"


def test_a_check_tab_in_the_agents_own_column_order(world: World):
    """Columns moved (Phone after Name), rows of a name alone: answered all the same."""
    world.backend.set_tab(
        world.source("sara"),
        "Check",
        [
            ["Name", "Result", "Phone", "Sync notes", "Tracked by", "Add my tracking"],
            ["Only a name"],
            ["Mona", None, NEW_PHONE],
        ],
    )
    world.cycle()
    rows = {row["Name"]: row for row in world.rows("sara", "Check")}
    assert rows["Only a name"]["Sync notes"] == "type the customer's phone to check it"
    assert rows["Mona"]["Result"] == "New customer"
    idle = world.cycle()
    assert (idle.agent_cells_written, idle.sources_read) == (0, 0)
