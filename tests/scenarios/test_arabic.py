"""An agent whose sheet is in Arabic (``language = "ar"``), beside one in English, on every
setup (tests/scenarios/conftest.py)."""

from __future__ import annotations

from typing import Any

import openpyxl
import pytest
from sqlalchemy import select

from sync import service
from sync.cells import cell_text
from sync.model import Tracking
from tests.emulated import GoogleHarness
from tests.world import Harness, MemoryHarness, World, XlsxHarness


@pytest.fixture
def db_kind(setup: tuple[str, str]) -> str:
    return setup[1]


def right_to_left(world: World, harness: Harness, agent: str, tab: str) -> bool:
    """Whether the agent's tab is laid out right to left, as its backend keeps it."""
    source = world.source(agent)
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
    assert world.rows("sara")[0]["المتابعة القادمة"] == "31/31/2026"  # left as typed
