"""The .xlsx part patcher and the calamine reader agree with openpyxl.

A patched workbook must be what openpyxl would have saved after setting the same cells —
in values, styles, data validations, comments and merged cells — while every part the
patch does not touch stays byte for byte. This is the step most able to destroy an
agent's file, so it is held by a property over random workbooks and random patches.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from sync import rezip, xlsx_parts
from sync.backends.xlsx import grid_of, set_cell, xlsx_values
from sync.cells import CellValue, ErrorCell, UncalculatedFormula
from sync.sheets import RowMove
from sync.xlsx_parts import Unpatchable, group_cells, patch_cells, read_values

TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from("\n\t"),
    max_size=20,
) | st.sampled_from(["أحمد", "سارة", "=1+2", "+cmd", "@SUM(A1)", " padded ", "a&b<c>"])
VALUES = st.one_of(
    st.none(),
    TEXT,
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.dates(dt.date(1950, 1, 1), dt.date(2100, 12, 31)),
    st.datetimes(dt.datetime(1950, 1, 1), dt.datetime(2100, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    ),
)


Spec = dict[str, object]
Patch = list[tuple[str, int, int, CellValue]]


@st.composite
def workbook_specs(draw: st.DrawFn) -> Spec:
    """A small random agent workbook, as data (so a failure prints readably)."""
    cells = draw(
        st.dictionaries(
            st.tuples(st.integers(0, 6), st.integers(0, 5)),
            st.tuples(VALUES, st.sampled_from(["plain", "bold red", "grey fill"])),
            max_size=20,
        )
    )
    extras = draw(
        st.sets(
            st.sampled_from(["text column", "dropdown", "comment", "merged", "formula", "frozen"])
        )
    )
    return {"cells": cells, "extras": sorted(extras), "other tab": draw(VALUES)}


def _workbook(spec: Spec) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Customers"
    extras = spec["extras"]
    assert isinstance(extras, list)
    if "text column" in extras:
        ws.column_dimensions["B"].number_format = "@"
        ws.column_dimensions["B"].width = 22
    cells = spec["cells"]
    assert isinstance(cells, dict)
    for (r, c), (value, look) in cells.items():
        set_cell(ws, r, c, value)
        cell = ws.cell(row=r + 1, column=c + 1)
        if look == "bold red":
            cell.font = Font(bold=True, color="FFFF0000")
        elif look == "grey fill":
            cell.fill = PatternFill(fill_type="solid", fgColor="FFDDDDDD")
    if "dropdown" in extras:
        dv = DataValidation(type="list", formula1='"Prospect,Completed,Lost"', allow_blank=True)
        dv.add("C2:C1000")
        ws.add_data_validation(dv)
    if "comment" in extras:
        ws["A1"].comment = Comment("Filled by sheetsync; edits are reverted", "sheetsync")
    if "merged" in extras:
        ws.merge_cells("H1:I1")
    if "formula" in extras:
        ws["J2"] = "=SUM(1,2)"
    if "frozen" in extras:
        ws.freeze_panes = "A2"
    other = wb.create_sheet("Follow-ups")
    other["A1"] = "Follow-up #"
    set_cell(other, 2, 1, spec["other tab"])  # type: ignore[arg-type]
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


PATCHES = st.lists(
    st.tuples(
        st.sampled_from(["Customers", "Customers", "Follow-ups"]),
        st.integers(0, 9),
        st.integers(0, 7),
        VALUES,
    ),
    max_size=10,
    unique_by=lambda c: (c[0], c[1], c[2]),
).map(
    # The cells a merge covers (all but its top-left one) are read-only in openpyxl.
    lambda cells: [c for c in cells if not (c[0] == "Customers" and c[1] == 0 and c[2] == 8)]
)


def _by_openpyxl(data: bytes, cells: Patch) -> bytes:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    for title, row, col, value in cells:
        set_cell(wb[title], row, col, value)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _look(data: bytes) -> dict[str, object]:
    """What a person sees of a workbook: values, styles, validations, comments, merges."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    out: dict[str, object] = {}
    for ws in wb.worksheets:
        cells = {}
        for row in ws.iter_rows():
            for cell in row:
                if cell.value is None and not cell.has_style:
                    continue
                value = cell.value
                if isinstance(value, str):
                    value = value.replace("\r\n", "\n").replace("\r", "\n")
                elif isinstance(value, int | float) and not isinstance(value, bool):
                    value = float(f"{value:.14g}")  # openpyxl writes 16 digits, the patch 17
                cells[cell.coordinate] = (
                    value,
                    cell.number_format,
                    cell.font.b,
                    cell.font.color.rgb if cell.font.color is not None else None,
                    cell.fill.fill_type,
                    cell.comment.text if cell.comment else None,
                )
        out[ws.title] = {
            "cells": {
                k: v
                for k, v in cells.items()
                if v[0] is not None or v[1:] != ("General", False, None, None, None)
            },
            "validations": sorted(
                (dv.type, dv.formula1, str(dv.sqref)) for dv in ws.data_validations.dataValidation
            ),
            "merged": sorted(str(r) for r in ws.merged_cells.ranges),
            "freeze": ws.freeze_panes,
            "B width": ws.column_dimensions["B"].width,
        }
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workbook_specs(), PATCHES)
def test_a_patched_workbook_is_what_openpyxl_would_save(spec: Spec, cells: Patch) -> None:
    data = _workbook(spec)
    patched = patch_cells(data, cells)
    assert _look(patched) == _look(_by_openpyxl(data, cells))
    # The fast reader agrees with openpyxl's on the patched file.
    wb = openpyxl.load_workbook(io.BytesIO(patched), read_only=True)
    expected = {ws.title: grid_of(ws.iter_rows(values_only=True)) for ws in wb.worksheets}
    got = xlsx_values(patched)
    for title, grid in expected.items():
        for r, row in enumerate(grid):
            for c, value in enumerate(row):
                if value == "#VALUE!" and isinstance(got[title][r][c], int | float):
                    # openpyxl shows a date-formatted number past 9999-12-31 as an error;
                    # the fast reader keeps the number the cell holds.
                    row[c] = got[title][r][c]
    assert got == expected


@settings(max_examples=20, deadline=None)
@given(workbook_specs(), PATCHES)
def test_parts_a_patch_does_not_touch_stay_byte_for_byte(spec: Spec, cells: Patch) -> None:
    data = _workbook(spec)
    patched = patch_cells(data, cells)
    touched = {"xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml", "xl/styles.xml"}
    with zipfile.ZipFile(io.BytesIO(data)) as before, zipfile.ZipFile(io.BytesIO(patched)) as after:
        assert before.namelist() == after.namelist()
        for name in before.namelist():
            if name not in touched:
                assert before.read(name) == after.read(name), name


def test_a_big_sheet_is_compressed_fast_and_reads_back_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _plain_workbook()
    cells = [("Customers", 1, 2, "new notes"), ("Customers", 5, 0, "Mona")]
    slow = patch_cells(data, cells)
    monkeypatch.setattr(xlsx_parts, "FAST_COMPRESSION_ABOVE", 0)
    fast = patch_cells(data, cells)
    assert fast != slow  # deflated differently...
    assert read_values(fast) == read_values(slow)  # ...the same cells
    assert _look(fast) == _look(slow)


def test_text_is_never_written_as_a_formula() -> None:
    data = _plain_workbook()
    patched = patch_cells(
        data, [("Customers", 1, 0, '=HYPERLINK("http://x")'), ("Customers", 1, 1, "@SUM(A1)")]
    )
    with zipfile.ZipFile(io.BytesIO(patched)) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in xml and b"inlineStr" in xml
    assert read_values(patched)["Customers"][1][:2] == ['=HYPERLINK("http://x")', "@SUM(A1)"]


def test_overwriting_a_formula_drops_the_calculation_chain() -> None:
    wb = openpyxl.Workbook()
    wb.active.title = "Customers"
    wb.active["A1"] = "=1+2"
    buffer = io.BytesIO()
    wb.save(buffer)
    data = _with_calc_chain(buffer.getvalue())
    patched = patch_cells(data, [("Customers", 0, 0, "typed")])
    with zipfile.ZipFile(io.BytesIO(patched)) as archive:
        assert "xl/calcChain.xml" not in archive.namelist()
        assert b"calcChain" not in archive.read("[Content_Types].xml")
        assert b"calcChain" not in archive.read("xl/_rels/workbook.xml.rels")
    assert read_values(patched)["Customers"] == [["typed"]]


def test_a_shared_formula_master_falls_back_to_openpyxl() -> None:
    data = _plain_workbook()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"].replace(
        b'<c r="A1" t="inlineStr">',
        b'<c r="A1"><f t="shared" ref="A1:A3" si="0">1+1</f><v>2</v></c><c r="Z1" t="inlineStr">',
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in parts.items():
            archive.writestr(name, body)
    with pytest.raises(Unpatchable):
        patch_cells(out.getvalue(), [("Customers", 0, 0, "x")])


def test_formula_and_error_cells_read_as_openpyxl_reads_them() -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Customers"
    ws["A1"] = "=1+2"
    ws["B1"] = "#N/A"
    ws["B1"].data_type = "e"
    buffer = io.BytesIO()
    wb.save(buffer)
    assert read_values(buffer.getvalue())["Customers"] == [["=1+2", "#N/A"]]


@pytest.mark.office
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_opens_a_patched_workbook(tmp_path: Path) -> None:
    data = _plain_workbook()
    patched = patch_cells(
        data,
        [
            ("Customers", 1, 0, "أحمد"),
            ("Customers", 5, 3, dt.date(2026, 1, 15)),
            ("Customers", 1, 1, 12.5),
            ("Customers", 1, 2, None),
        ],
    )
    text = as_csv_by_libreoffice(patched, tmp_path)
    assert "أحمد" in text and "2026-01-15" in text and "12.5" in text


def as_csv_by_libreoffice(data: bytes, folder: Path) -> str:
    """The workbook's first sheet as LibreOffice reads it, in CSV (UTF-8)."""
    source = folder / "opened.xlsx"
    source.write_bytes(data)
    done = subprocess.run(
        [
            "soffice",
            "--headless",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76",
            "--outdir",
            str(folder),
            str(source),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return (folder / "opened.csv").read_text(encoding="utf-8")


def _plain_workbook() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Customers"
    ws.append(["Name", "Phone", "Notes", "Next follow-up"])
    ws.append(["Ali", "01001234567", "old"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return patch_cells(buffer.getvalue(), [("Customers", 0, 0, "Name")])


def _with_calc_chain(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    parts["xl/calcChain.xml"] = (
        b'<calcChain xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<c r="A1" i="1"/></calcChain>'
    )
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>",
        b'<Override PartName="/xl/calcChain.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.spreadsheetml.calcChain+xml"/></Types>',
    )
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        b'<Relationship Id="rId99" Type="http://schemas.openxmlformats.org/officeDocument/'
        b'2006/relationships/calcChain" Target="calcChain.xml"/></Relationships>',
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in parts.items():
            archive.writestr(name, body)
    return out.getvalue()


@pytest.mark.office
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_a_workbook_libreoffice_saved_is_patched_and_reads_back(tmp_path: Path) -> None:
    """Shared strings, row attributes and namespaces as a spreadsheet program writes them."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Customers"
    ws.append(["Customer #", "Name", "Phone", "Status", "Next follow-up"])
    ws.append(["CUS-1", "أحمد", "01001234567", "Prospect", dt.date(2026, 1, 5)])
    ws.append(["CUS-2", "Sara", "01101234567", "Lost"])
    wb.save(tmp_path / "typed.xlsx")
    saved = subprocess.run(
        [
            "soffice",
            "--headless",
            "--convert-to",
            "xlsx:Calc MS Excel 2007 XML",
            "--outdir",
            str(tmp_path / "saved"),
            str(tmp_path / "typed.xlsx"),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert saved.returncode == 0, saved.stderr
    data = (tmp_path / "saved" / "typed.xlsx").read_bytes()
    patched = patch_cells(
        data,
        [
            ("Customers", 1, 3, "Completed"),
            ("Customers", 2, 4, dt.date(2026, 2, 1)),
            ("Customers", 3, 1, "New"),
        ],
    )
    assert read_values(patched)["Customers"] == [
        ["Customer #", "Name", "Phone", "Status", "Next follow-up"],
        ["CUS-1", "أحمد", "01001234567", "Completed", dt.date(2026, 1, 5)],
        ["CUS-2", "Sara", "01101234567", "Lost", dt.date(2026, 2, 1)],
        [None, "New"],
    ]
    reread = openpyxl.load_workbook(io.BytesIO(patched))["Customers"]
    assert reread["E3"].value == dt.datetime(2026, 2, 1) and reread["E3"].is_date


def test_formula_cells_read_as_what_they_show_and_errors_are_not_data() -> None:
    data = _plain_workbook()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    parts["xl/worksheets/sheet1.xml"] = re.sub(
        rb'<c r="A2".*</row>',
        b'<c r="A2" t="str"><f>"0100"&amp;"5559999"</f><v>01005559999</v></c>'
        b'<c r="B2"><f>"0100"&amp;"5559999"</f><v /></c>'  # openpyxl: no saved value
        b'<c r="C2" t="e"><f>VLOOKUP(A2,X!A:B,2)</f><v>#N/A</v></c>'
        b'<c r="D2" t="str"><f>IF(A2="","",A2)</f><v></v></c>'  # saved value: empty text
        b'<c r="E2" t="e"><v>#REF!</v></c></row>',
        parts["xl/worksheets/sheet1.xml"],
        flags=re.S,
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in parts.items():
            archive.writestr(name, body)
    row = read_values(out.getvalue())["Customers"][1]
    assert row == ["01005559999", '="0100"&"5559999"', "#N/A", None, "#REF!"]
    assert type(row[0]) is str
    assert isinstance(row[1], UncalculatedFormula)
    assert isinstance(row[2], ErrorCell) and isinstance(row[4], ErrorCell)


def test_cells_of_several_tabs_are_all_left_when_a_later_tab_is_unpatchable() -> None:
    """A patch of several tabs that gives up on one (then the backend writes through
    openpyxl) leaves every cell it was given, the appended rows of the tabs before too."""
    wb = openpyxl.Workbook()
    wb.active.title = "Customers"
    wb.active.append(["Name"])
    wb.create_sheet("Follow-ups").append(["Note"])
    buffer = io.BytesIO()
    wb.save(buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    sheet = "xl/worksheets/sheet2.xml"  # Follow-ups: a shared formula's master cell in A1
    parts[sheet] = re.sub(
        rb'<c r="A1"[^>]*>.*?</c>',
        b'<c r="A1"><f t="shared" ref="A1:A3" si="0">1+1</f><v>2</v></c>',
        parts[sheet],
        flags=re.S,
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in parts.items():
            archive.writestr(name, body)
    cells = group_cells(
        [("Customers", 1, 0, "Ahmed"), ("Customers", 2, 0, "Sara"), ("Follow-ups", 0, 0, "x")]
    )
    kept = {tab: {row: dict(values) for row, values in rows.items()} for tab, rows in cells.items()}
    with pytest.raises(Unpatchable):
        patch_cells(out.getvalue(), cells)
    assert cells == kept


# -- a big sheet deflated in segments --------------------------------------------------------------

SHEET = "xl/worksheets/sheet1.xml"


def _segmented_workbook(monkeypatch: pytest.MonkeyPatch, rows: int) -> bytes:
    """A workbook whose Customers sheet is deflated in segments of a few rows each."""
    monkeypatch.setattr(xlsx_parts, "SEGMENTED_ABOVE", 0)
    monkeypatch.setattr(xlsx_parts, "SEGMENT_SIZE", 300)
    cells = [("Customers", r, c, f"r{r}c{c}") for r in range(2, rows) for c in range(3)]
    return patch_cells(_plain_workbook(), cells)


def _table(data: bytes) -> tuple[rezip.Segment, ...] | None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        found = rezip.segments_of(data, archive.getinfo(SHEET))
    return None if found is None else found[1]


def _without_table(data: bytes) -> bytes:
    """The same workbook written by zipfile: no member has a table of segments."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info), zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _sheet_xml(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(SHEET)  # CRC checked


SEGMENT_PATCHES = st.lists(
    st.lists(
        st.tuples(st.integers(0, 70), st.integers(0, 5), VALUES),
        min_size=1,
        max_size=6,
        unique_by=lambda c: (c[0], c[1]),
    ),
    min_size=1,
    max_size=3,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(3, 40), SEGMENT_PATCHES)
# A date, then a number, in one cell: the cell keeps its date format and shows a serial
# calamine cannot place (read_values refuses it; the backend reads it through openpyxl).
@example(rows=3, patches=[[(0, 0, dt.date(2000, 1, 1))], [(0, 0, 0)]])
def test_a_sheet_patched_segment_by_segment_is_the_sheet_patched_whole(
    monkeypatch: pytest.MonkeyPatch, rows: int, patches: list[list[tuple[int, int, CellValue]]]
) -> None:
    """Patches of rows anywhere (and past the end) of a sheet deflated in segments give,
    byte for byte, the XML the whole-sheet patch gives, and keep a table that matches."""
    segmented = _segmented_workbook(monkeypatch, rows)
    whole = _without_table(segmented)
    assert _table(segmented) and _table(whole) is None
    for patch in patches:
        cells = [("Customers", r, c, value) for r, c, value in patch]
        segmented = patch_cells(segmented, cells)
        whole = _without_table(patch_cells(whole, cells))
        assert _sheet_xml(segmented) == _sheet_xml(whole)
        assert _table(segmented) is not None
    assert xlsx_values(segmented) == xlsx_values(whole)


def test_a_patch_of_one_row_rewrites_only_its_segment_and_the_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _segmented_workbook(monkeypatch, 200)
    before = _segments(data)
    assert len(before) > 20
    mid = len(before) // 2
    row = before[mid][0].label - 1  # the first row of the middle segment, 0-based
    patched = patch_cells(data, [("Customers", row, 1, "changed")])
    after = _segments(patched)
    assert len(after) == len(before)
    changed = {i for i, (old, new) in enumerate(zip(before, after, strict=True)) if old != new}
    # Only the sheet's head, its end (where new rows go) and the patched row's segment are
    # deflated again; every other segment's compressed bytes are copied as they were.
    assert mid in changed and changed <= {0, mid, len(before) - 1}
    assert read_values(patched)["Customers"][row][1] == "changed"


def _segments(data: bytes) -> list[tuple[rezip.Segment, bytes]]:
    """The sheet's segments with their compressed bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        found = rezip.segments_of(data, archive.getinfo(SHEET))
    assert found is not None
    payload, table = found
    out, at = [], 0
    for segment in table:
        out.append((segment, payload[at : at + segment.packed]))
        at += segment.packed
    return out


def test_a_table_that_does_not_match_its_member_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A member another program rewrote but whose extra field it kept is patched whole."""
    data = _segmented_workbook(monkeypatch, 60)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == SHEET:
                content = content.replace(b"r5c1", b"R5C1")
            fresh = zipfile.ZipInfo(info.filename, info.date_time)
            fresh.extra = info.extra  # the stale table, kept
            target.writestr(fresh, content, zipfile.ZIP_DEFLATED)
    rewritten = out.getvalue()
    assert _table(rewritten) is None
    patched = patch_cells(rewritten, [("Customers", 30, 0, "x")])
    values = read_values(patched)["Customers"]
    assert values[5][1] == "R5C1" and values[30][0] == "x"
    assert _table(patched) is not None  # written anew in segments


def test_openpyxl_and_calamine_read_a_segmented_sheet(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _segmented_workbook(monkeypatch, 80)
    data = patch_cells(data, [("Customers", 40, 1, "أحمد"), ("Customers", 85, 0, "new")])
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    grid = grid_of(wb["Customers"].iter_rows(values_only=True))
    assert grid == read_values(data)["Customers"]
    assert grid[40][1] == "أحمد" and grid[85][0] == "new" and grid[79][2] == "r79c2"


@pytest.mark.office
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_opens_a_sheet_patched_segment_by_segment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = _segmented_workbook(monkeypatch, 120)
    data = patch_cells(data, [("Customers", 60, 1, "أحمد"), ("Customers", 130, 0, "added")])
    assert _table(data) is not None
    lines = as_csv_by_libreoffice(data, tmp_path).splitlines()
    assert lines[60].split(",")[:3] == ["r60c0", "أحمد", "r60c2"]
    assert lines[119].startswith("r119c0") and lines[130].startswith("added")


MOVES = st.lists(
    st.builds(
        RowMove,
        st.just("Customers"),
        st.integers(1, 8),
        st.integers(-3, 3).filter(bool),
    ),
    max_size=3,
)


def _moved_by_openpyxl(data: bytes, moves: list[RowMove], cells: Patch) -> bytes:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    for move in moves:
        if move.count > 0:
            wb[move.tab].insert_rows(move.at + 1, move.count)
        else:
            wb[move.tab].delete_rows(move.at + 1, -move.count)
    for ws in wb.worksheets:
        # openpyxl's moves leave an empty, unstyled cell in every column of a row they move
        # through: cells a file does not have (and that a value typed later would not find)
        for place in [p for p, c in ws._cells.items() if c.value is None and not c.has_style]:
            del ws._cells[place]
    for title, row, col, value in cells:
        set_cell(wb[title], row, col, value)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    workbook_specs().filter(lambda spec: "merged" not in spec["extras"]),  # type: ignore[operator]
    MOVES,
    PATCHES,
)
def test_rows_moved_in_the_xml_are_what_openpyxl_inserts_and_deletes(
    spec: Spec, moves: list[RowMove], cells: Patch
) -> None:
    """Rows inserted and deleted, then cells set: values and styles as openpyxl's own
    insert_rows/delete_rows leave them (neither moves validation ranges); a formula in a
    row that moves is refused, for openpyxl to write."""
    data = _workbook(spec)
    try:
        patched = patch_cells(data, cells, moves)
    except Unpatchable as why:
        assert "formula" in str(why) and "formula" in spec["extras"]  # type: ignore[operator]
        return
    assert _look(patched) == _look(_moved_by_openpyxl(data, moves, cells))


def test_a_row_whose_number_shows_in_its_text_or_styles_is_renumbered_by_its_references():
    """A row is renumbered by replacing its number's bytes only when they show nowhere
    but in its references: text (inline, with a quote after the number) and a style index
    equal to the row number are left as they were, the cells put in land where they go."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Customers"
    for r in range(1, 16):
        ws.append([f"row {r}", r])
    ws.cell(row=13, column=2).font = Font(bold=True)  # some style index in row 13
    buffer = io.BytesIO()
    wb.save(buffer)
    data = patch_cells(buffer.getvalue(), [("Customers", 11, 0, 'Screen 12" wide 12"')])
    moves = [RowMove("Customers", 2, -1), RowMove("Customers", 6, 2)]
    patched = patch_cells(data, [("Customers", 6, 0, "new A"), ("Customers", 7, 0, "new B")], moves)
    got = [list(row) for row in openpyxl.load_workbook(io.BytesIO(patched))["Customers"].values]
    expected = [[f"row {r}", r] for r in range(1, 16)]
    expected[11][0] = 'Screen 12" wide 12"'
    del expected[2]
    expected[6:6] = [["new A", None], ["new B", None]]
    assert got == expected
    assert _look(patched) == _look(
        _moved_by_openpyxl(
            data, moves, [("Customers", 6, 0, "new A"), ("Customers", 7, 0, "new B")]
        )
    )


def test_merged_cells_are_not_moved_in_the_xml() -> None:
    data = _workbook({"cells": {}, "extras": ["merged"], "other tab": None})
    with pytest.raises(Unpatchable, match="merged"):
        patch_cells(data, [], [RowMove("Customers", 1, 1)])


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_opens_a_workbook_whose_rows_moved(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Customers"
    for r in range(1, 8):
        ws.append([f"row {r}", r])
    buffer = io.BytesIO()
    wb.save(buffer)
    moves = [RowMove("Customers", 1, -2), RowMove("Customers", 3, 1)]
    patched = patch_cells(buffer.getvalue(), [("Customers", 3, 0, "new")], moves)
    lines = as_csv_by_libreoffice(patched, tmp_path).splitlines()
    assert lines == ["row 1,1", "row 4,4", "row 5,5", "new,", "row 6,6", "row 7,7"]
