"""The admin's side, scenario by scenario, on SQLite and PostgreSQL.

Conflicts resolved from the master's Conflicts tab and from the CLI's functions,
admin edits of shared data, merging customers (and undoing it), the three
commission rules, and the audit trail.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from sync import service
from sync.admin import commands
from sync.admin.core import AdminError
from sync.admin.resolve import Decision, parse_resolution
from sync.cells import cell_text
from sync.dedupe import format_phone
from sync.model import AuditEvent, Conflict, Customer, FollowUp, Tracking
from tests.world import World

AHMED = {"Name": "Ahmed Mohamed", "Phone": "+20 100 123 4567", "Email": "ahmed@example.com"}
ALI_ROW = {**AHMED, "Desired university": "Cairo University", "Status": "In progress"}
SARA_ROW = {"Name": "Ahmed Mohamed", "Phone": "01001234567", "Desired university": "Alex U"}
PROPOSED = "ahmed.m@example.com"


@pytest.fixture
def world(engine):
    return World(engine, admin="boss@company.com")


# -- helpers ------------------------------------------------------------------------------------


def master_rows(world: World, tab: str) -> list[dict[str, str]]:
    grid = world.backend.get_tab(world.master, tab)
    header = [cell_text(h) for h in grid[0]]
    return [
        {h: cell_text(row[i]) if i < len(row) else "" for i, h in enumerate(header)}
        for row in grid[1:]
    ]


def type_in_master(world: World, tab: str, match: dict[str, str], changes: dict) -> None:
    """The admin types in the master workbook."""
    grid = world.backend.get_tab(world.master, tab)
    header = [cell_text(h) for h in grid[0]]
    hit = 0
    for row in grid[1:]:
        if all(cell_text(row[header.index(k)]) == v for k, v in match.items()):
            for key, value in changes.items():
                i = header.index(key)
                row.extend([None] * (i + 1 - len(row)))
                row[i] = value
            hit += 1
    assert hit, f"no row of master/{tab} matches {match}"
    world.backend.set_tab(world.master, tab, grid)


def open_conflicts(world: World, kind: str | None = None) -> list[Conflict]:
    with world.session() as s:
        stmt = select(Conflict).where(Conflict.status == "open").order_by(Conflict.id)
        if kind:
            stmt = stmt.where(Conflict.kind == kind)
        return list(s.execute(stmt).scalars())


def conflict(world: World, cid: int) -> Conflict:
    with world.session() as s:
        found = s.get(Conflict, cid)
        assert found is not None
        return found


def resolve(world: World, via: str, cid: int, words: str) -> None:
    """Resolve as the admin would: typed in the master (then a cycle), or from the CLI."""
    if via == "master":
        type_in_master(world, "Conflicts", {"ID": f"C{cid}"}, {"Resolution": words})
    else:
        commands.resolve_conflict(world.config, world.engine, f"C{cid}", parse_resolution(words))
    world.cycle()


def assert_idle(world: World) -> None:
    counts, audits = world.table_counts(), world.audit_count()
    again = world.cycle()
    assert again.cells_written == 0 and again.sources_read == 0
    assert world.table_counts() == counts and world.audit_count() == audits


def email_proposal(world: World) -> Conflict:
    world.type_rows("ali", [ALI_ROW])
    world.cycle()
    world.type_rows("sara", [{**SARA_ROW, "Email": PROPOSED}])
    world.cycle()
    [found] = open_conflicts(world, "shared_field")
    return found


def canonical(world: World, key: str = "email") -> object:
    with world.session() as s:
        return getattr(s.execute(select(Customer)).scalars().first(), key)


def admin_events(world: World, action: str) -> list[AuditEvent]:
    with world.session() as s:
        return list(
            s.execute(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            ).scalars()
        )


# -- resolving shared-field proposals --------------------------------------------------------


@pytest.mark.parametrize("via", ["master", "cli"])
@pytest.mark.parametrize(
    ("words", "email", "status"),
    [
        ("keep", "ahmed@example.com", "resolved"),
        ("Accept", PROPOSED, "resolved"),
        ("value: a.mohamed@example.com", "a.mohamed@example.com", "resolved"),
        ("dismiss", "ahmed@example.com", "dismissed"),
    ],
)
def test_each_resolution_word_settles_a_shared_field_proposal(world, via, words, email, status):
    proposal = email_proposal(world)
    assert "awaits an admin" in world.rows("sara")[0]["Sync notes"]
    assert any(r["ID"] == f"C{proposal.id}" for r in master_rows(world, "Conflicts"))

    resolve(world, via, proposal.id, words)

    closed = conflict(world, proposal.id)
    assert (closed.status, closed.resolved_by) == (status, "boss@company.com")
    assert canonical(world) == email
    # Both agents' sheets show the decided value; the proposal's note is gone.
    assert world.rows("ali")[0]["Email"] == email
    assert world.rows("sara")[0]["Email"] == email
    assert "awaits" not in world.rows("sara")[0]["Sync notes"]
    assert all(r["ID"] != f"C{proposal.id}" for r in master_rows(world, "Conflicts"))
    [event] = admin_events(world, "resolve_conflict")
    assert event.actor == "boss@company.com" and event.after["status"] == status
    if email != "ahmed@example.com":
        [change] = admin_events(world, "admin_update_customer")
        assert (change.before, change.after) == ({"email": "ahmed@example.com"}, {"email": email})
    assert open_conflicts(world) == []
    assert_idle(world)


def test_accepting_one_proposal_settles_the_others_on_the_same_field(engine):
    world = World(engine, agents=("ali", "sara", "nour"))
    world.type_rows("ali", [ALI_ROW])
    world.cycle()
    world.type_rows("sara", [{**SARA_ROW, "Email": PROPOSED}])
    world.type_rows("nour", [{"Phone": "01001234567", "Email": "other@example.com"}])
    world.cycle()
    by_value = {c.proposed_value: c for c in open_conflicts(world, "shared_field")}
    sara, nour = by_value[PROPOSED], by_value["other@example.com"]

    resolve(world, "master", sara.id, "accept")

    assert conflict(world, nour.id).status == "resolved"
    assert conflict(world, nour.id).proposed_value == "other@example.com"  # kept on record
    assert {world.rows(a)[0]["Email"] for a in ("ali", "sara", "nour")} == {PROPOSED}
    assert_idle(world)


@pytest.mark.parametrize("via", ["master", "cli"])
def test_a_resolution_that_cannot_be_applied_stays_open_with_the_reason(world, via):
    proposal = email_proposal(world)
    world.type_rows("sara", [{"Name": "Fatima", "Phone": "0111 222 3344", "Gender": "Female"}])
    world.cycle()
    world.edit("sara", {"Name": "Fatima"}, {"Gender": "Male"})
    world.type_rows("ali", [{"Name": "Fatima", "Phone": "01112223344"}])
    world.cycle()
    gender = open_conflicts(world, "shared_field")[-1]
    assert gender.field == "gender"

    if via == "cli":
        with pytest.raises(AdminError, match="not a valid Gender"):
            commands.resolve_conflict(
                world.config, world.engine, f"C{gender.id}", Decision("value", "banana", "")
            )
        with pytest.raises(AdminError, match="not understood"):
            parse_resolution("maybe later")
        return
    type_in_master(world, "Conflicts", {"ID": f"C{proposal.id}"}, {"Resolution": "maybe later"})
    type_in_master(world, "Conflicts", {"ID": f"C{gender.id}"}, {"Resolution": "value: banana"})
    world.cycle()

    rows = {r["ID"]: r for r in master_rows(world, "Conflicts")}
    assert "not understood" in rows[f"C{proposal.id}"]["Resolution note"]
    assert rows[f"C{proposal.id}"]["Resolution"] == "maybe later"
    assert "not a valid Gender" in rows[f"C{gender.id}"]["Resolution note"]
    assert {c.id for c in open_conflicts(world, "shared_field")} == {proposal.id, gender.id}
    assert_idle(world)
    # Fixing the words applies it.
    type_in_master(world, "Conflicts", {"ID": f"C{gender.id}"}, {"Resolution": "accept"})
    world.cycle()
    assert conflict(world, gender.id).status == "resolved"
    assert "Male" in {r["Gender"] for r in world.rows("ali")}


def test_master_hints_the_words_for_each_kind(world):
    proposal = email_proposal(world)
    row = next(r for r in master_rows(world, "Conflicts") if r["ID"] == f"C{proposal.id}")
    assert row["How to resolve"] == "keep | accept | value: … | dismiss"


def test_dismissed_row_conflicts_stay_dismissed_while_nothing_changes(world):
    world.type_rows("ali", [{"Name": "Typo", "Phone": "12345"}])
    world.cycle()
    [bad] = open_conflicts(world, "invalid_phone")
    with pytest.raises(AdminError, match="fix the agent's row"):
        commands.resolve_conflict(world.config, world.engine, f"C{bad.id}", Decision("keep"))
    resolve(world, "cli", bad.id, "dismiss")
    world.edit("ali", {"Name": "Typo"}, {"Notes": "still a typo"})
    world.cycle()
    assert conflict(world, bad.id).status == "dismissed"
    assert "not a valid phone number" in world.rows("ali")[0]["Sync notes"]


# -- admin edits in the master ----------------------------------------------------------------


def test_admin_edit_of_a_shared_field_reaches_every_tracking_agent(world):
    world.type_rows("ali", [ALI_ROW])
    world.type_rows("sara", [{**SARA_ROW, "Name": "Ahmed M."}])  # a proposal for Name
    world.cycle()
    [name_proposal] = open_conflicts(world, "shared_field")
    number = world.rows("ali")[0]["Customer #"]

    type_in_master(
        world,
        "Customers",
        {"Customer #": number},
        {"Name": "Ahmed Mohamed Ali", "City/Region": "Giza"},
    )
    report = world.cycle()

    assert report.admin_changes >= 2
    assert canonical(world, "name") == "Ahmed Mohamed Ali" and canonical(world, "city") == "Giza"
    for agent in ("ali", "sara"):
        row = world.rows(agent)[0]
        assert (row["Name"], row["City/Region"]) == ("Ahmed Mohamed Ali", "Giza")
    assert conflict(world, name_proposal.id).status == "resolved"
    edits = admin_events(world, "admin_update_customer")
    assert {e.actor for e in edits} == {"boss@company.com"}
    assert ({"name": "Ahmed Mohamed"}, {"name": "Ahmed Mohamed Ali"}) in [
        (e.before, e.after) for e in edits
    ]
    assert_idle(world)
    # An agent's next edit of that field is a proposal against the admin's value.
    world.edit("ali", {"Phone": "+20 100 123 4567"}, {"Name": "A. Mohamed"})
    world.cycle()
    assert [c.current_value for c in open_conflicts(world, "shared_field")] == ["Ahmed Mohamed Ali"]


def test_admin_edit_that_cannot_be_read_is_put_back_with_a_warning(world):
    world.type_rows("ali", [ALI_ROW])
    world.cycle()
    number = world.rows("ali")[0]["Customer #"]
    type_in_master(world, "Customers", {"Customer #": number}, {"Date of birth": "31/31/1990"})
    report = world.cycle()
    assert any("Date of birth" in w for w in report.warnings)
    assert master_rows(world, "Customers")[0]["Date of birth"] == ""
    assert_idle(world)


def test_undo_an_admin_edit(world):
    world.type_rows("ali", [ALI_ROW])
    world.cycle()
    number = world.rows("ali")[0]["Customer #"]
    type_in_master(world, "Customers", {"Customer #": number}, {"Email": "new@example.com"})
    world.cycle()
    [edit] = admin_events(world, "admin_update_customer")
    commands.undo_event(world.config, world.engine, edit.id)
    world.cycle()
    assert world.rows("ali")[0]["Email"] == "ahmed@example.com"
    with pytest.raises(AdminError, match="already undone"):
        commands.undo_event(world.config, world.engine, edit.id)


# -- merging customers ---------------------------------------------------------------------------

FATMA_1 = {"Name": "Fatma Ali", "Phone": "0111 222 3344", "Email": "fatma@example.com"}
FATMA_2 = {"Name": "Fatma A.", "Phone": "0122 333 4455", "Email": "fatma@example.com"}


def duplicate_world(world: World) -> tuple[Conflict, str, str]:
    """Ali tracks both numbers of Fatma (with follow-ups); Sara only the second."""
    world.type_rows(
        "ali",
        [
            {**FATMA_1, "Desired university": "Cairo", "Status": "Contacted", "Notes": "ali one"},
            {**FATMA_2, "Desired university": "Ain Shams", "Notes": "ali two", "Grade": "A"},
        ],
    )
    world.type_rows(
        "ali", [{"Phone": "01223334455", "Date": "02/01/2026", "Notes": "called"}], "Follow-ups"
    )
    world.type_rows("sara", [{**FATMA_2, "Desired university": "Alex", "Notes": "sara's"}])
    world.cycle()
    [duplicate] = open_conflicts(world, "possible_duplicate")
    first, second = duplicate.details["customers"]
    return duplicate, first, second


@pytest.mark.parametrize("via", ["master", "cli"])
def test_merge_keeps_every_tracking_and_is_reversible(world, via):
    duplicate, first, second = duplicate_world(world)
    before = {a: world.rows(a) for a in ("ali", "sara")}

    resolve(world, via, duplicate.id, f"merge into {first}")

    with world.session() as s:
        one = s.execute(select(Customer).where(Customer.number == first)).scalar_one()
        two = s.execute(select(Customer).where(Customer.number == second)).scalar_one()
        assert two.merged_into_id == one.id
        assert one.other_phone == format_phone("+201223334455")
        trackings = {
            (t.agent.key, t.customer.number): t for t in s.execute(select(Tracking)).scalars()
        }
        ali = trackings[("ali", first)]
        # A's value wins, an empty one is filled, the rest is appended: nothing dropped.
        assert ali.desired_university == "Cairo" and ali.grade == "A"
        assert ali.notes == f"ali one\nali two\nfrom {second}: Desired university: Ain Shams"
        assert not trackings[("ali", second)].active
        assert trackings[("sara", first)].notes == "sara's"
        follow_up = s.execute(select(FollowUp)).scalar_one()
        assert follow_up.tracking_id == ali.id
    assert conflict(world, duplicate.id).status == "resolved"
    # Sara's row now shows the kept customer's number and shared data, and nothing is proposed.
    [sara] = world.rows("sara")
    assert (sara["Customer #"], sara["Name"], sara["Notes"]) == (first, "Fatma Ali", "sara's")
    assert sara["Phone"] == "0122 333 4455" and sara["Sync notes"] == ""
    assert world.rows("ali", "Follow-ups")[0]["Customer #"] == first
    ali_rows = world.rows("ali")
    assert "an admin merged them" in ali_rows[1]["Sync notes"]
    assert "ali two" in ali_rows[0]["Notes"] and ali_rows[1]["Notes"] == "ali two"
    assert open_conflicts(world, "shared_field") == []
    assert [r["Customer #"] for r in master_rows(world, "Customers")] == [first]
    assert_idle(world)

    [merge] = admin_events(world, "merge_customers")
    assert merge.actor == "boss@company.com"
    assert merge.id in {e.id for e in commands.history(world.engine, first)}
    assert merge.id in {e.id for e in commands.history(world.engine, second)}
    commands.undo_event(world.config, world.engine, merge.id)
    world.cycle()

    with world.session() as s:
        got = {
            (t.agent.key, t.customer.number): (t.active, t.notes, t.grade)
            for t in s.execute(select(Tracking)).scalars()
        }
        assert s.execute(select(FollowUp.tracking_id)).scalar_one() == next(
            t.id
            for t in s.execute(select(Tracking)).scalars()
            if (t.agent.key, t.customer.number) == ("ali", second)
        )
    assert got == {
        ("ali", first): (True, "ali one", None),
        ("ali", second): (True, "ali two", "A"),
        ("sara", second): (True, "sara's", None),
    }
    assert world.rows("sara")[0]["Customer #"] == second
    assert world.rows("sara")[0]["Name"] == "Fatma A."
    assert world.rows("ali", "Follow-ups")[0]["Customer #"] == second
    for agent in ("ali", "sara"):
        for row, was in zip(world.rows(agent), before[agent], strict=True):
            assert {k: row[k] for k in ("Customer #", "Name", "Notes", "Sync notes")} == {
                k: was[k] for k in ("Customer #", "Name", "Notes", "Sync notes")
            }
    assert open_conflicts(world, "identity_mismatch") == []
    assert [c.id for c in open_conflicts(world, "possible_duplicate")] == [duplicate.id]
    # The kept customer's rows in the master show it as before the merge too.
    assert world.master_differences() == {}
    assert_idle(world)


def test_merged_phone_typed_again_binds_to_the_kept_customer(engine):
    world = World(engine, agents=("ali", "sara", "nour"))
    duplicate, first, second = duplicate_world(world)
    resolve(world, "cli", duplicate.id, f"merge into {first}")
    # Checking the merged phone (Check tab, lookup) names the kept customer too.
    world.type_rows("nour", [{"Phone": "+201223334455"}], "Check")
    world.cycle()
    assert world.rows("nour", "Check")[0]["Result"] == f"Exists: {first} Fatma Ali"
    assert service.lookup(world.engine, "+201223334455", "EG").customer["Customer #"] == first
    world.type_rows("nour", [{"Phone": "+201223334455", "Notes": "nour's"}])
    world.cycle()
    [nour] = world.rows("nour")
    assert (nour["Customer #"], nour["Name"], nour["Notes"]) == (first, "Fatma Ali", "nour's")
    with world.session() as s:
        assert s.query(Customer).count() == 2
        assert {t.customer.number for t in s.execute(select(Tracking)).scalars()} == {
            first,
            second,  # ali's archived tracking of the merged customer
        }
    assert_idle(world)


def test_merge_errors(world):
    duplicate, first, second = duplicate_world(world)
    with pytest.raises(AdminError, match="not one of them"):
        commands.resolve_conflict(
            world.config,
            world.engine,
            f"C{duplicate.id}",
            parse_resolution("merge into CUS-2000-00009"),
        )
    commands.merge(world.config, world.engine, second, first)
    with pytest.raises(AdminError, match="already merged"):
        commands.merge(world.config, world.engine, second, first)
    with world.session() as s:  # written by a cycle
        first_event = s.execute(select(func.min(AuditEvent.id))).scalar_one()
    with pytest.raises(AdminError, match="cannot be undone"):
        commands.undo_event(world.config, world.engine, first_event)


@pytest.mark.parametrize("via", ["master", "cli"])
def test_identity_mismatch_accepted_changes_the_phone(world, via):
    world.type_rows("ali", [ALI_ROW])
    world.type_rows("sara", [SARA_ROW])
    world.cycle()
    number = world.rows("ali")[0]["Customer #"]
    world.edit("ali", {"Customer #": number}, {"Phone": "0100 999 8888"})
    world.cycle()
    [mismatch] = open_conflicts(world, "identity_mismatch")

    resolve(world, via, mismatch.id, "accept")

    with world.session() as s:
        assert s.execute(select(Customer.phone)).scalar_one() == "+201009998888"
        assert s.query(Customer).count() == 1
    assert world.rows("ali")[0]["Sync notes"] == ""
    assert world.rows("sara")[0]["Customer #"] == number  # the old phone still binds
    assert open_conflicts(world) == []
    assert_idle(world)


# -- commission ---------------------------------------------------------------------------------


def complete(world: World, agent: str) -> None:
    world.edit(agent, {"Name": "Ahmed Mohamed"}, {"Status": "Completed"})


def commission(world: World) -> dict[str, tuple[float | None, bool]]:
    with world.session() as s:
        return {
            t.agent.key: (t.commission_pct, t.lost_to_colleague)
            for t in s.execute(select(Tracking)).scalars()
        }


def month() -> str:
    return dt.date.today().strftime("%Y-%m")


def test_first_to_complete_marks_the_other_lost_without_revealing_their_tracking(world):
    world.type_rows("ali", [ALI_ROW])
    world.type_rows("sara", [{**SARA_ROW, "Notes": "sara's secret"}])
    world.cycle()
    complete(world, "ali")
    world.cycle()

    assert commission(world) == {"ali": (100.0, False), "sara": (0.0, True)}
    sara = world.rows("sara")[0]
    assert "lost to colleague" in sara["Sync notes"]
    # ... naming nobody: only "Also tracked by" names colleagues, as it did before.
    assert "Ali" not in sara["Sync notes"] and "Hassan" not in sara["Sync notes"]
    assert sara["Commission %"] == "0" and world.rows("ali")[0]["Commission %"] == "100"
    assert "Cairo" not in str(world.grid("sara")) and "In progress" not in str(world.grid("sara"))
    assert "sara's secret" not in str(world.grid("ali"))
    [ali, sara_row] = commands.commission_table(world.engine, month())
    assert (ali.agent, ali.completed, ali.commission, ali.customers) == (
        "ali",
        1,
        1.0,
        [world.rows("ali")[0]["Customer #"]],
    )
    assert (sara_row.completed, sara_row.commission, sara_row.lost_to_colleague) == (0, 0.0, 1)
    tab = master_rows(world, "Commission")
    assert [(r["Agent"], r["Completed"], r["Commission (customers)"]) for r in tab] == [
        ("Ali Hassan", "1", "1"),
        ("Sara Ahmed", "0", "0"),
    ]


@pytest.mark.parametrize("via", ["master", "cli"])
def test_completion_race_is_decided_by_the_admin(world, via):
    world.type_rows("ali", [{**ALI_ROW, "Status": "Completed"}])
    world.type_rows("sara", [{**SARA_ROW, "Status": "Completed"}])
    world.cycle()
    [race] = open_conflicts(world, "completion_race")
    assert "same cycle" in world.rows("ali")[0]["Sync notes"]
    assert commission(world) == {"ali": (None, False), "sara": (None, False)}

    resolve(world, via, race.id, "value: Sara Ahmed")

    assert commission(world) == {"ali": (0.0, True), "sara": (100.0, False)}
    assert "lost to colleague" in world.rows("ali")[0]["Sync notes"]
    assert world.rows("sara")[0]["Commission %"] == "100"
    report = {
        r.agent: (r.completed, r.commission, r.lost_to_colleague)
        for r in commands.commission_table(world.engine, month())
    }
    assert report == {"ali": (1, 0.0, 1), "sara": (1, 1.0, 0)}
    assert_idle(world)


def test_completion_race_dismissed_counts_each_completion(world):
    world.type_rows("ali", [{**ALI_ROW, "Status": "Completed"}])
    world.type_rows("sara", [{**SARA_ROW, "Status": "Completed"}])
    world.cycle()
    [race] = open_conflicts(world, "completion_race")
    with pytest.raises(AdminError, match="not one of the agents"):
        commands.resolve_conflict(
            world.config, world.engine, f"C{race.id}", parse_resolution("value: nour")
        )
    resolve(world, "cli", race.id, "dismiss")
    assert commission(world) == {"ali": (100.0, False), "sara": (100.0, False)}


def test_split_takes_the_admins_percentages_and_flags_over_100(engine):
    world = World(engine, commission_rule="split")
    world.type_rows("ali", [ALI_ROW])
    world.type_rows("sara", [SARA_ROW])
    world.cycle()
    ids = {r["Agent"]: r["Tracking ID"] for r in master_rows(world, "Tracking")}
    type_in_master(world, "Tracking", {"Tracking ID": ids["Ali Hassan"]}, {"Commission %": 70})
    type_in_master(world, "Tracking", {"Tracking ID": ids["Sara Ahmed"]}, {"Commission %": "40%"})
    world.cycle()

    assert commission(world) == {"ali": (70.0, False), "sara": (40.0, False)}
    assert world.rows("ali")[0]["Commission %"] == "70"
    assert "40" not in world.rows("ali")[0].values()
    [over] = open_conflicts(world, "split_over_100")
    assert {e.actor for e in admin_events(world, "admin_commission")} == {"admin"}

    type_in_master(world, "Tracking", {"Tracking ID": ids["Sara Ahmed"]}, {"Commission %": 30})
    world.cycle()
    assert conflict(world, over.id).status == "resolved"
    complete(world, "ali")
    complete(world, "sara")
    world.cycle()
    rows = {r.agent: r for r in commands.commission_table(world.engine, month())}
    assert (rows["ali"].commission, rows["sara"].commission) == (0.7, 0.3)
    assert_idle(world)


def test_commission_percentages_are_not_typed_by_hand_under_other_rules(world):
    world.type_rows("ali", [ALI_ROW])
    world.cycle()
    tid = master_rows(world, "Tracking")[0]["Tracking ID"]
    type_in_master(world, "Tracking", {"Tracking ID": tid}, {"Commission %": 50})
    report = world.cycle()
    assert any("first_to_complete rule" in w for w in report.warnings)
    assert commission(world) == {"ali": (None, False)}
    assert master_rows(world, "Tracking")[0]["Commission %"] == ""


def test_separate_opportunities_counts_every_completion(engine):
    world = World(engine, commission_rule="separate_opportunities")
    world.type_rows("ali", [{**ALI_ROW, "Status": "Completed", "Completed on": "15/01/2026"}])
    world.type_rows("sara", [{**SARA_ROW, "Status": "Completed", "Completed on": "20/02/2026"}])
    world.cycle()
    assert commission(world) == {"ali": (100.0, False), "sara": (100.0, False)}
    assert open_conflicts(world, "completion_race") == []
    jan = {r.agent: r.completed for r in commands.commission_table(world.engine, "2026-01")}
    assert jan == {"ali": 1, "sara": 0}
    every = [(r.month, r.agent) for r in commands.commission_table(world.engine, None)]
    assert every == [("2026-02", "sara"), ("2026-01", "ali")]
    with pytest.raises(AdminError, match="not a month"):
        commands.commission_table(world.engine, "January")


# -- quarantine, history -----------------------------------------------------------------------


@pytest.mark.parametrize("via", ["master", "cli"])
def test_accepting_a_mass_removal_archives_the_rows(engine, via):
    world = World(engine, mass_removal_threshold=0.5, mass_removal_min_rows=3)
    world.type_rows("ali", [{"Name": f"C{i}", "Phone": f"0100123450{i}"} for i in range(6)])
    world.cycle()
    grid = world.grid("ali")
    world.backend.set_tab(world.source("ali"), "Customers", grid[:2])
    world.cycle()
    [quarantine] = open_conflicts(world, "quarantine")

    resolve(world, via, quarantine.id, "accept")

    with world.session() as s:
        assert sorted(t.active for t in s.execute(select(Tracking)).scalars()) == [
            False,
            False,
            False,
            False,
            False,
            True,
        ]
    assert open_conflicts(world) == []
    assert_idle(world)


def test_a_mass_removal_is_not_dismissed_and_stays_held(engine):
    """Dismissed, the tab would be held with nothing to say so: the agent's sheet without
    customers the agent still tracks, from then on."""
    world = World(engine, mass_removal_threshold=0.5, mass_removal_min_rows=3)
    world.type_rows("ali", [{"Name": f"C{i}", "Phone": f"0100123450{i}"} for i in range(6)])
    world.cycle()
    world.backend.set_tab(world.source("ali"), "Customers", world.grid("ali")[:2])
    world.cycle()
    [quarantine] = open_conflicts(world, "quarantine")

    with pytest.raises(AdminError, match="a mass removal is not dismissed"):
        resolve(world, "cli", quarantine.id, "dismiss")
    resolve(world, "master", quarantine.id, "dismiss")

    assert [c.id for c in open_conflicts(world, "quarantine")] == [quarantine.id]
    rows = {r["ID"]: r for r in master_rows(world, "Conflicts")}
    assert "not dismissed" in rows[f"C{quarantine.id}"]["Resolution note"]
    with world.session() as s:
        assert all(t.active for t in s.execute(select(Tracking)).scalars())


def test_history_shows_every_change_with_who_and_when(world):
    world.type_rows("ali", [ALI_ROW])
    world.type_rows("sara", [SARA_ROW])
    world.cycle()
    complete(world, "sara")
    world.cycle()
    number = world.rows("ali")[0]["Customer #"]
    type_in_master(world, "Customers", {"Customer #": number}, {"Country": "Egypt"})
    world.cycle()

    events = commands.history(world.engine, number)
    got = [(e.actor, e.action, e.agent) for e in events]
    assert ("agent:ali", "create_customer", None) in got
    assert ("agent:sara", "update_tracking", "sara") in got
    assert ("boss@company.com", "admin_update_customer", None) in got
    status = [e for e in events if e.action == "update_tracking" and e.agent == "sara"][-1]
    assert {"field": "status", "before": "", "after": "Completed"} in status.changes
    with pytest.raises(AdminError, match="no customer"):
        commands.history(world.engine, "CUS-1999-00001")


# -- added: phone changes, three-way admin edits, who is closest -----------------------------


def test_admin_changes_a_phone_in_the_master_and_can_undo_it(world):
    world.type_rows("ali", [ALI_ROW])
    world.type_rows("sara", [SARA_ROW])
    world.cycle()
    number = world.rows("ali")[0]["Customer #"]

    type_in_master(world, "Customers", {"Customer #": number}, {"Phone": "0100 999 8888"})
    world.cycle()

    with world.session() as s:
        assert s.execute(select(Customer.phone)).scalar_one() == "+201009998888"
    [change] = admin_events(world, "change_phone")
    assert change.actor == "boss@company.com"
    assert (change.before, change.after) == ({"phone": "+201001234567"}, {"phone": "+201009998888"})
    # The master shows the new phone; agents' rows keep the phone they typed, which still
    # binds to the customer (no second customer, nothing proposed), and so does the new one.
    assert master_rows(world, "Customers")[0]["Phone"] == format_phone("+201009998888")
    assert [world.rows(a)[0]["Customer #"] for a in ("ali", "sara")] == [number, number]
    assert open_conflicts(world) == []
    assert_idle(world)

    # A phone that is another customer's is not taken: merge them instead.
    world.type_rows("ali", [{"Name": "Fatma", "Phone": "0111 222 3344"}])
    world.cycle()
    type_in_master(world, "Customers", {"Customer #": number}, {"Phone": "01112223344"})
    report = world.cycle()
    assert any("merge the two customers instead" in w for w in report.warnings)
    assert master_rows(world, "Customers")[0]["Phone"] == format_phone("+201009998888")

    commands.undo_event(world.config, world.engine, change.id)
    world.cycle()
    with world.session() as s:
        phones = {c.number: c.phone for c in s.execute(select(Customer)).scalars()}
    assert phones[number] == "+201001234567"
    assert master_rows(world, "Customers")[0]["Phone"] == format_phone("+201001234567")
    assert_idle(world)


def test_admin_and_agents_edit_the_same_customer_in_one_cycle(world):
    """Three-way: only cells the admin changed since the last write count as admin edits."""
    world.type_rows("ali", [ALI_ROW])
    world.type_rows("sara", [SARA_ROW])
    world.cycle()
    number = world.rows("ali")[0]["Customer #"]

    # The master still shows the old (empty) City when Ali fills it: that is no admin edit.
    world.edit("ali", {"Customer #": number}, {"City/Region": "Alexandria"})
    world.edit("sara", {"Customer #": number}, {"Name": "Ahmed M."})
    type_in_master(world, "Customers", {"Customer #": number}, {"Name": "Ahmed Mohamed Ali"})
    world.cycle()

    assert canonical(world, "city") == "Alexandria"
    assert canonical(world, "name") == "Ahmed Mohamed Ali"
    # Sara's concurrent rename is a proposal against the admin's value, kept for the admin.
    [proposal] = open_conflicts(world, "shared_field")
    assert (proposal.current_value, proposal.proposed_value) == ("Ahmed Mohamed Ali", "Ahmed M.")
    assert world.rows("ali")[0]["Name"] == "Ahmed Mohamed Ali"
    assert world.rows("sara")[0]["City/Region"] == "Alexandria"
    row = master_rows(world, "Customers")[0]
    assert (row["Name"], row["City/Region"]) == ("Ahmed Mohamed Ali", "Alexandria")
    [edit] = admin_events(world, "admin_update_customer")
    assert edit.after == {"name": "Ahmed Mohamed Ali"}
    assert_idle(world)


def test_master_customers_show_who_is_closest_to_completion(engine):
    world = World(engine, agents=("ali", "sara", "nour"))
    world.type_rows("ali", [{**ALI_ROW, "Status": "Contacted"}])
    world.type_rows("sara", [{**SARA_ROW, "Status": "Negotiating"}])
    world.type_rows("nour", [{"Phone": "01001234567", "Status": "Lost"}])
    world.type_rows("nour", [{"Name": "Fatma", "Phone": "0111 222 3344"}])
    world.cycle()
    rows = {r["Name"]: r for r in master_rows(world, "Customers")}
    assert rows["Ahmed Mohamed"]["Closest to completion"] == "Sara Ahmed (Negotiating)"
    assert rows["Ahmed Mohamed"]["Tracked by"] == "Ali Hassan, Sara Ahmed, Nour Adel"
    assert rows["Fatma"]["Closest to completion"] == "Nour Adel (no status)"

    complete(world, "ali")
    world.cycle()
    rows = {r["Name"]: r for r in master_rows(world, "Customers")}
    assert rows["Ahmed Mohamed"]["Closest to completion"] == "Ali Hassan (Completed)"


def test_closest_to_completion_is_who_won_a_completion_race(world):
    world.type_rows("ali", [{**ALI_ROW, "Status": "Completed"}])
    world.type_rows("sara", [{**SARA_ROW, "Status": "Completed"}])
    world.cycle()
    [race] = open_conflicts(world, "completion_race")
    resolve(world, "master", race.id, "value: Sara Ahmed")
    [row] = master_rows(world, "Customers")
    assert row["Closest to completion"] == "Sara Ahmed (Completed)"
