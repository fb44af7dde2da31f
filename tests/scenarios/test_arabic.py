"""An agent whose sheet is in Arabic (``language = "ar"``), beside one in English, on every
setup (tests/scenarios/conftest.py)."""

from __future__ import annotations

from typing import Any

import openpyxl
import pytest
from sqlalchemy import select

from sync import service
from sync.cells import cell_text
from sync.model import Customer, Tracking
from tests.emulated import GoogleHarness
from tests.world import Harness, MemoryHarness, World, XlsxHarness


@pytest.fixture
def db_kind(setup: tuple[str, str]) -> str:
    return setup[1]


def right_to_left(world: World, harness: Harness, agent: str | None, tab: str) -> bool:
    """Whether the agent's tab (None: the master's) is laid out right to left, as its
    backend keeps it."""
    source = world.source(agent) if agent else world.master
    if isinstance(harness, MemoryHarness):
        return bool(world.backend.layouts[source][tab].get("right_to_left"))
    if isinstance(harness, XlsxHarness):
        return bool(openpyxl.load_workbook(source)[tab].sheet_view.rightToLeft)
    assert isinstance(harness, GoogleHarness)
    spreadsheet = world.backend.spec(source).spreadsheet
    sheets: list[dict[str, Any]] = harness.emulator.spreadsheet(spreadsheet)["sheets"]
    (found,) = [s["properties"] for s in sheets if s["properties"]["title"] == tab]
    return bool(found.get("rightToLeft"))


def test_an_arabic_sheet_beside_an_english_one(engine, harness):
    world = World(engine, harness=harness, languages={"sara": "ar"})
    assert world.grid("sara")[0][:3] == ["رقم العميل", "الاسم", "الهاتف"]
    assert world.grid("sara", "Check")[0] == [
        "الهاتف",
        "الاسم",
        "النتيجة",
        "يتابعه",
        "أضف متابعتي",
        "ملاحظات المزامنة",
    ]
    assert world.grid("ali")[0][:3] == ["Customer #", "Name", "Phone"]
    for tab in ("Customers", "Follow-ups", "Check"):
        assert right_to_left(world, harness, "sara", tab)
        assert not right_to_left(world, harness, "ali", tab)
    assert service.init(world.config, world.engine, world.backend).changes == []

    world.type_rows(
        "ali", [{"Name": "Ahmed", "Phone": "+20 100 123 4567", "Gender": "Male", "Status": "Lost"}]
    )
    # Sara types in Arabic, and an English word in an Arabic sheet is read as well.
    world.type_rows("sara", [{"الهاتف": "01001234567", "الحالة": "Completed"}])
    world.type_rows(
        "sara",
        [
            {"الهاتف": "0100 123 4567"},
            {"الهاتف": "0102 555 0101", "الاسم": "منى", "أضف متابعتي": "نعم"},
            {"الهاتف": "123"},
        ],
        "Check",
    )
    world.cycle()

    rows = {row["الاسم"]: row for row in world.rows("sara")}
    ahmed = rows["Ahmed"]
    assert ahmed["الجنس"] == "ذكر"  # Ali's "Male", in Sara's words
    assert ahmed["يتابعه أيضا"].startswith("Ali Hassan (منذ ")
    assert ahmed["الحالة"] == "Completed"  # as she typed it, read as Completed
    assert rows["منى"]["رقم العميل"].startswith("CUS-")
    ali = {row["Name"]: row for row in world.rows("ali")}
    assert ali["Ahmed"]["Gender"] == "Male" and ali["Ahmed"]["Status"] == "Lost"
    assert ali["Ahmed"]["Also tracked by"].startswith("Sara Ahmed (since ")
    check = {row["الهاتف"]: row for row in world.rows("sara", "Check")}
    number = ahmed["رقم العميل"]
    assert check["0100 123 4567"]["النتيجة"] == f"موجود في عملائك: {number} Ahmed"
    assert check["0102 555 0101"]["النتيجة"].startswith("أُضيف إلى عملائك: CUS-")
    assert check["123"]["ملاحظات المزامنة"] == "'123' ليس رقم هاتف صحيحًا"
    with world.session() as s:
        statuses = sorted(cell_text(t) for t in s.execute(select(Tracking.status)).scalars())
    assert "Completed" in statuses

    idle = world.cycle()
    assert (idle.agent_cells_written, idle.master_cells_written, idle.sources_read) == (0, 0, 0)

    # Sync notes in her words: a phone that is not one, a change to a shared value.
    world.type_rows("sara", [{"الهاتف": "abc", "الاسم": "Nobody"}])
    world.edit("sara", {"الاسم": "Ahmed"}, {"الاسم": "Ahmed Ali"})
    world.cycle()
    notes = {row["الاسم"]: row["ملاحظات المزامنة"] for row in world.rows("sara")}
    assert notes["Nobody"] == "'abc' ليس رقم هاتف صحيحًا؛ هذا الصف لا يُزامَن حتى يُصحَّح"
    assert (
        notes["Ahmed Ali"]
        == "الاسم: تغييرك إلى 'Ahmed Ali' ينتظر المشرف (القيمة المشتركة: 'Ahmed')"
    )
    # Ali's row speaks English (Sara completed Ahmed first).
    assert world.rows("ali")[0]["Sync notes"] == (
        "lost to colleague: another agent completed this customer first"
    )
    idle = world.cycle()
    assert (idle.agent_cells_written, idle.master_cells_written, idle.sources_read) == (0, 0, 0)


def test_why_a_value_is_refused_is_said_in_the_sheets_language(engine, harness):
    """A date or a status the sync cannot read: the Sync note says why in the sheet's
    language (the same refusal in English in Ali's sheet), and the cell is left as typed."""
    world = World(engine, harness=harness, languages={"sara": "ar"})
    world.type_rows(
        "sara",
        [
            {"الاسم": "Mona", "الهاتف": "01001234567", "المتابعة القادمة": "31/31/2026"},
            {"الاسم": "Omar", "الهاتف": "01001234568", "الحالة": "maybe"},
            {"الاسم": "Hind", "الهاتف": "01001234569", "المتابعة القادمة": "30/02/2026"},
            {"الاسم": "Sam", "الهاتف": "+1 200 555 0199"},  # possible, not valid
        ],
    )
    world.type_rows(
        "ali", [{"Name": "Mona", "Phone": "01001234567", "Next follow-up": "31/31/2026"}]
    )
    world.cycle()
    notes = {row["الاسم"]: row["ملاحظات المزامنة"] for row in world.rows("sara")}
    assert notes["Mona"] == (
        "المتابعة القادمة: تعذرت قراءة '31/31/2026' تاريخًا: لا 31 ولا 31 يصلح شهرًا؛ لم تُزامَن"
    )
    assert notes["Omar"].startswith("الحالة: 'maybe' ليست من الخيارات: محتمل، ")
    assert notes["Hind"] == (
        "المتابعة القادمة: تعذرت قراءة '30/02/2026' تاريخًا: ليس في الشهر 2/2026 يوم 30؛ لم تُزامَن"
    )
    assert world.rows("ali")[0]["Sync notes"] == (
        "Next follow-up: could not read '31/31/2026' as a date: neither 31 nor 31 can be a "
        "month; not synced"
    )
    assert notes["Sam"] == "+1 200-555-0199 رقم ممكن لكنه ليس رقمًا صحيحًا في United States"
    assert world.rows("sara")[0]["المتابعة القادمة"] == "31/31/2026"  # left as typed


def type_in_master(world: World, tab: str, key: str, column: str, text: str) -> None:
    """The admin types ``text`` in the master's ``tab``, in the row whose first cell is
    ``key``, under the header ``column``."""
    grid = world.backend.get_tab(world.master, tab)
    header = [cell_text(h) for h in grid[0]]
    row = next(r for r in grid[1:] if cell_text(r[0]) == key)
    at = header.index(column)
    row.extend([None] * (at + 1 - len(row)))
    row[at] = text
    world.backend.set_tab(world.master, tab, grid)


def test_an_arabic_master(engine, harness):
    """``[master] language = "ar"``: headers, notes' columns, the words it offers and the
    choices it shows in Arabic, right to left; the admin's Arabic words are applied; the
    master kept up to date row by row is the one rendered whole; idle cycles stay idle."""
    world = World(engine, harness=harness, master_language="ar")
    world.type_rows(
        "ali",
        [
            {
                "Name": "Ahmed",
                "Phone": "01001234567",
                "Email": "a@x.com",
                "Status": "Contacted",
                "Next follow-up": "2020-01-05",
            },
            {"Name": "Mona", "Phone": "01001234568"},
        ],
    )
    world.type_rows("sara", [{"Name": "Ahmed", "Phone": "01001234567", "Email": "b@x.com"}])
    world.cycle()
    tab = world.backend.get_tab(world.master, "Customers")
    assert [cell_text(h) for h in tab[0][:3]] == ["رقم العميل", "الاسم", "الهاتف"]
    assert right_to_left(world, harness, None, "Conflicts")
    number = {cell_text(r[1]): cell_text(r[0]) for r in tab[1:]}
    tracking = world.backend.get_tab(world.master, "Tracking")
    status = [cell_text(h) for h in tracking[0]].index("الحالة")
    assert {cell_text(r[status]) for r in tracking[1:]} == {"تم التواصل", ""}
    (due,) = world.backend.get_tab(world.master, "Due follow-ups")[1:]
    assert [cell_text(v) for v in due[:5]] == [
        "Ali Hassan",
        number["Ahmed"],
        "Ahmed",
        "+20 10 01234567",
        "تم التواصل",
    ]
    conflicts = world.backend.get_tab(world.master, "Conflicts")
    header = [cell_text(h) for h in conflicts[0]]
    (conflict,) = conflicts[1:]
    assert cell_text(conflict[header.index("طريقة الحل")]) == "أبقِ | اقبل | قيمة: … | تجاهل"
    assert world.master_differences() == {}
    idle = world.cycle()
    assert (idle.cells_written, idle.sources_read) == (0, 0)

    # The admin accepts Sara's email and deletes Mona, in Arabic.
    type_in_master(world, "Conflicts", cell_text(conflict[0]), "القرار", "اقبل")
    type_in_master(world, "Customers", number["Mona"], "إجراء المشرف", "حذف: تجربة")
    report = world.cycle()
    assert report.warnings == []
    with world.session() as s:
        ahmed = s.execute(select(Customer).where(Customer.name == "Ahmed")).scalar_one()
        mona = s.execute(select(Customer).where(Customer.name == "Mona")).scalar_one()
        assert (ahmed.email, mona.deleted_at is not None) == ("b@x.com", True)
    assert world.backend.get_tab(world.master, "Conflicts")[1:] == []
    deleted = world.backend.get_tab(world.master, "Deleted")
    assert [cell_text(v) for v in deleted[1][:2]] == [number["Mona"], "Mona"]
    assert world.master_differences() == {}
    # Row by row: an agent's edit reaches the Arabic master without a whole render.
    world.edit("ali", {"Name": "Ahmed"}, {"Status": "Negotiating"})
    world.cycle()
    (due,) = world.backend.get_tab(world.master, "Due follow-ups")[1:]
    assert cell_text(due[4]) == "تفاوض"
    assert world.master_differences() == {}
    idle = world.cycle()
    assert (idle.cells_written, idle.sources_read) == (0, 0)
