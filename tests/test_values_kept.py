"""Nothing lost at the edges: every value kept exactly (issue 10, items 1 to 3).

* Formula cells are read by what they show: an error value, or a formula saved without its
  value, is never taken as data; the row (or cell) is noted and left as it is.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from sync import sheets
from sync.cells import FORMULA_ERRORS, ErrorCell, NotData, UncalculatedFormula
from sync.model import Conflict, Customer, Tracking
from sync.xlsx_parts import Unreadable
from tests.world import World, XlsxHarness

PLACEHOLDER = "@@formula@@"


def with_formula(
    path: Path, formula: str, *, saved: str | None = None, error: bool = False
) -> None:
    """Put a formula in the cell of the workbook that holds PLACEHOLDER, as a spreadsheet
    program saves it: with its value (``saved``), as an error value, or (a file written by
    openpyxl) without any value."""
    escaped = formula.replace("&", "&amp;").replace('"', "&quot;")
    if error:
        body = f' t="e"><f>{escaped}</f><v>{saved}</v></c>'
    elif saved is not None:
        body = f' t="str"><f>{escaped}</f><v>{saved}</v></c>'
    else:
        body = f"><f>{escaped}</f><v /></c>"
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    cell = re.compile(
        rb'<c r="([A-Z]+\d+)"([^>]*?) t="inlineStr"><is><t[^>]*>'
        + PLACEHOLDER.encode()
        + rb"</t></is></c>"
    )
    for name, xml in parts.items():
        if name.startswith("xl/worksheets/") and PLACEHOLDER.encode() in xml:
            parts[name] = cell.sub(
                lambda m: b'<c r="' + m.group(1) + b'"' + m.group(2) + body.encode(), xml, count=1
            )
            break
    else:
        raise AssertionError("no placeholder cell")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body_ in parts.items():
            archive.writestr(name, body_)
    path.write_bytes(out.getvalue())


@pytest.fixture(params=["calamine", "openpyxl"])
def xlsx_world(request: pytest.FixtureRequest, engine, tmp_path: Path, monkeypatch) -> World:  # type: ignore[no-untyped-def]
    """A World of .xlsx workbooks, read by python-calamine or by the openpyxl fallback."""
    if request.param == "openpyxl":

        def unreadable(_data: bytes) -> None:
            raise Unreadable("forced: the fallback is under test")

        monkeypatch.setattr(sheets, "read_values", unreadable)
    return World(engine, harness=XlsxHarness(tmp_path))


def workbook(world: World, agent: str) -> Path:
    return Path(world.source(agent))


def customers(world: World) -> dict[str, Customer]:
    with world.session() as s:
        return {c.phone: c for c in s.execute(select(Customer)).scalars()}


# -- item 2: formula cells are read by what they show --------------------------------------


def test_a_formula_phone_is_read_by_its_saved_value_and_never_by_its_text(xlsx_world):
    world = xlsx_world
    world.type_rows(
        "ali",
        [
            {"Name": "Omar Unsaved", "Phone": PLACEHOLDER, "Notes": "typed by ali"},
            {"Name": "Mona Saved", "Phone": "01112223344"},
        ],
    )
    with_formula(workbook(world, "ali"), '"0100"&"5559999"')  # openpyxl wrote it: no value
    world.edit("ali", {"Name": "Mona Saved"}, {"Phone": PLACEHOLDER})
    with_formula(workbook(world, "ali"), '"0100"&"5559999"', saved="01005559999")

    report = world.cycle()

    assert set(customers(world)) == {"+201005559999"}  # Mona's, by what Excel shows
    assert report.customers_created == 1
    omar, mona = world.rows("ali")
    assert omar["Customer #"] == "" and mona["Customer #"] != ""
    assert "Phone: is a formula saved without its value" in omar["Sync notes"]
    assert "not synced" in omar["Sync notes"]
    grid = world.grid("ali")
    phone = grid[0].index("Phone")
    assert isinstance(grid[1][phone], UncalculatedFormula)  # the cell is left as it is
    assert grid[1][phone] == '="0100"&"5559999"'
    with world.session() as s:
        assert s.execute(select(Conflict).where(Conflict.kind == "invalid_phone")).first() is None
    assert world.cycle().cells_written == 0


def test_an_error_value_never_replaces_what_is_stored(xlsx_world):
    world = xlsx_world
    world.type_rows(
        "ali",
        [
            {
                "Name": "Ahmed Mohamed",
                "Phone": "01001234567",
                "Email": "ahmed@example.com",
                "Notes": "keep me",
            }
        ],
    )
    world.cycle()
    world.edit("ali", {"Name": "Ahmed Mohamed"}, {"Notes": PLACEHOLDER})
    with_formula(workbook(world, "ali"), "VLOOKUP(A2,Old!A:B,2,FALSE)", saved="#N/A", error=True)
    world.edit("ali", {"Name": "Ahmed Mohamed"}, {"Email": PLACEHOLDER})
    with_formula(workbook(world, "ali"), "Old!C7", saved="#REF!", error=True)
    world.type_rows("ali", [{"Name": PLACEHOLDER, "Phone": "01112223344"}])
    with_formula(workbook(world, "ali"), "1/0", saved="#DIV/0!", error=True)

    world.cycle()

    found = customers(world)
    assert found["+201001234567"].email == "ahmed@example.com"
    assert found["+201112223344"].name is None  # an error is never shared data
    with world.session() as s:
        notes = {t.customer.phone: t.notes for t in s.execute(select(Tracking)).scalars()}
        assert s.execute(select(Conflict).where(Conflict.kind == "shared_field")).first() is None
    assert notes["+201001234567"] == "keep me"
    ahmed, new = world.rows("ali")
    assert "Notes: shows the formula error #N/A" in ahmed["Sync notes"]
    assert "Email: shows the formula error #REF!" in ahmed["Sync notes"]
    assert "Name: shows the formula error #DIV/0!" in new["Sync notes"]
    grid = world.grid("ali")
    header = grid[0]
    assert isinstance(grid[1][header.index("Notes")], ErrorCell)  # left as it is
    assert grid[1][header.index("Email")] == "#REF!"
    assert new["Customer #"] != ""  # the rest of the row is synced
    assert world.cycle().cells_written == 0


def test_an_error_typed_in_the_master_is_not_an_admin_edit(engine):
    world = World(engine)
    world.type_rows("ali", [{"Name": "Ahmed Mohamed", "Phone": "01001234567", "Email": "a@x.eg"}])
    world.cycle()
    grid = world.backend.get_tab(world.master, "Customers")
    grid[1][grid[0].index("Email")] = ErrorCell("#NAME?")
    world.backend.set_tab(world.master, "Customers", grid)

    report = world.cycle()

    assert customers(world)["+201001234567"].email == "a@x.eg"
    assert any("shows the formula error #NAME?" in w for w in report.warnings)
    grid = world.backend.get_tab(world.master, "Customers")
    assert grid[1][grid[0].index("Email")] == "a@x.eg"  # put back
    assert not isinstance(grid[1][grid[0].index("Email")], NotData)


TYPED = {
    "Name": "Ahmed Mohamed",
    "Email": "ahmed@example.com",
    "Nationality": "Egyptian",
    "Desired university": "Cairo University",
    "Status": "Negotiating",
    "Notes": "keep me",
    "Next follow-up": "2026-02-01",
    "Graduation year": 2020,
    "Counselor notes": "call after exams",
}
SHOWN = st.sampled_from(sorted(FORMULA_ERRORS)).map(ErrorCell) | st.sampled_from(
    ["=A1+1", '="0100"&"5559999"', "=VLOOKUP(A2,Old!A:B,2,FALSE)", "="]
).map(UncalculatedFormula)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cells=st.dictionaries(st.sampled_from(sorted(TYPED)), SHOWN, min_size=1, max_size=4))
def test_no_field_ever_takes_what_a_formula_shows_when_it_has_no_value(engine_factory, cells):
    """Promise 3: the value typed before stays in the database; the cell stays in the sheet
    with a note; and the cycle after writes nothing (promise 4)."""
    world = World(engine_factory())
    world.type_rows("ali", [{**TYPED, "Phone": "01001234567"}])
    world.cycle()
    with world.session() as s:
        before = s.execute(select(Customer)).scalar_one(), s.execute(select(Tracking)).scalar_one()
        stored = [{k: getattr(o, k) for k in vars(o) if not k.startswith("_")} for o in before]

    world.edit("ali", {"Name": "Ahmed Mohamed"}, dict(cells))
    world.cycle()

    with world.session() as s:
        after = s.execute(select(Customer)).scalar_one(), s.execute(select(Tracking)).scalar_one()
        now = [{k: getattr(o, k) for k in vars(o) if not k.startswith("_")} for o in after]
        assert s.execute(select(Conflict).where(Conflict.status == "open")).first() is None
    assert now == stored
    (row,) = world.rows("ali")
    for header, value in cells.items():
        assert f"{header}: {value.problem()}" in row["Sync notes"]
        assert row[header] == value  # left as the agent has it
    assert world.cycle().cells_written == 0
