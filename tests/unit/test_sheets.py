"""Tests of sync.sheets (apply_writes, promise 5) and the memory and .xlsx backends (promise 6)."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import io
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.chart import BarChart, Reference

from sync import agent_sheet
from sync.backends import xlsx as xlsx_backend
from sync.backends.memory import MemoryBackend
from sync.backends.xlsx import XlsxBackend
from sync.cells import CellValue, CellWrite, Grid, cell_text
from sync.errors import LayoutError, SourceError, SourceLocked
from sync.master_layout import master_headers
from sync.sheets import PROTECTED_NOTE, DueHighlight, alias_folder, apply_writes

MASTER = master_headers("Africa/Cairo")

HEADER = ["Customer #", "Name", "Phone", "Notes"]


def base_grid() -> Grid:
    """A small agent tab: a header and four customers."""
    return [
        list(HEADER),
        ["CUS-1", "Ali", "0100", "a"],
        ["CUS-2", "Badr", "0200", "b"],
        ["CUS-3", "Chadi", "0300", ""],
        ["CUS-4", "Dina", "0400", "d"],
    ]


def note(row: int, old: CellValue, new: CellValue, cus: str | None = None) -> CellWrite:
    """A write of the Notes cell of ``row`` anchored on its Customer #."""
    anchor = (("Customer #", cus),) if cus else ()
    return CellWrite("Customers", 0, "Notes", row, old, new, anchor)


def trimmed(grid: Grid) -> Grid:
    """``grid`` without trailing blank cells and rows, as backends return it."""
    rows = [list(r) for r in grid]
    for r in rows:
        while r and cell_text(r[-1]) == "":
            r.pop()
    while rows and not rows[-1]:
        rows.pop()
    return rows


def find_row(grid: Grid, cus: str) -> list[CellValue]:
    """The row of ``grid`` whose first column is ``cus`` (headers as in HEADER)."""
    col = [str(v) for v in grid[0]].index("Customer #")
    return next(r for r in grid[1:] if len(r) > col and r[col] == cus)


def notes_of(grid: Grid, cus: str) -> CellValue:
    col = [str(v) for v in grid[0]].index("Notes")
    row = find_row(grid, cus)
    return row[col] if col < len(row) else None


# ---------------------------------------------------------------------------------------------
# apply_writes: what happened between the read and the write
# ---------------------------------------------------------------------------------------------


def insert_above(grid: Grid) -> None:
    grid.insert(1, ["CUS-9", "New", "0900", ""])
    grid.insert(1, [])


def delete_other(grid: Grid) -> None:
    del grid[1]  # CUS-1


def delete_target(grid: Grid) -> None:
    del grid[2]  # CUS-2


def sort_desc(grid: Grid) -> None:
    grid[1:] = sorted(grid[1:], key=lambda r: str(r[1]), reverse=True)


def reorder_columns(grid: Grid) -> None:
    order = [3, 2, 0, 1]
    grid[:] = [[r[i] if i < len(r) else None for i in order] for r in grid]


def type_in_target(grid: Grid) -> None:
    grid[2][3] = "typed by the agent"


def duplicate_and_move(grid: Grid) -> None:
    grid.append(list(grid[2]))  # a second CUS-2 row
    grid.insert(1, ["CUS-0", "Zed", "0000", ""])  # and CUS-2 is no longer at row 2


def duplicate_in_place(grid: Grid) -> None:
    grid.append(list(grid[2]))  # a second CUS-2 row, the first still at row 2


def add_row_above_header(grid: Grid) -> None:
    grid.insert(0, ["My customers (do not share)"])


def blank_row_above_header(grid: Grid) -> None:
    grid.insert(0, [])


def no_change(grid: Grid) -> None:
    pass


SCENARIOS: list[tuple[str, Callable[[Grid], None], str | None]] = [
    ("nothing changed", no_change, None),
    ("rows inserted above", insert_above, None),
    ("another row deleted", delete_other, None),
    ("rows sorted", sort_desc, None),
    ("columns reordered", reorder_columns, None),
    ("target row deleted", delete_target, "row is gone"),
    ("cell typed meanwhile", type_in_target, "changed since read"),
    ("anchor duplicated and moved", duplicate_and_move, "row is ambiguous"),
    ("anchor duplicated, target in place", duplicate_in_place, None),
    ("title row added above the header", add_row_above_header, "header row moved"),
    ("blank row added above the header", blank_row_above_header, "header row moved"),
]


@pytest.mark.parametrize(
    ("meanwhile", "reason"), [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS]
)
def test_anchored_write_lands_on_its_row_or_is_skipped(
    meanwhile: Callable[[Grid], None], reason: str | None
) -> None:
    grid = base_grid()
    meanwhile(grid)
    before = copy.deepcopy(grid)
    tabs = {"Customers": grid}
    write = note(2, "b", "called back", "CUS-2")

    cells, skipped = apply_writes(tabs, [write])

    if reason is None:
        assert skipped == []
        assert notes_of(grid, "CUS-2") == "called back"
        assert len(cells) == 1
        (tab, row, col, value) = cells[0]
        assert (tab, grid[row][col], value) == ("Customers", "called back", "called back")
        changed = [
            (r, c)
            for r, cells_ in enumerate(grid)
            for c, v in enumerate(cells_)
            if before[r][c] != v
        ]
        assert changed == [(row, col)]
    else:
        assert skipped == [(write, reason)]
        assert cells == []
        assert grid == before


def test_positional_write_ignores_anchors_and_moves() -> None:
    grid = base_grid()
    sort_desc(grid)  # position 2 now holds Chadi, but an empty anchor means position only
    cells, skipped = apply_writes({"Customers": grid}, [note(2, "", "x")])
    assert skipped == []
    assert cells == [("Customers", 2, 3, "x")]
    assert grid[2] == ["CUS-3", "Chadi", "0300", "x"]


def test_positional_col_writes_build_a_sync_owned_tab_from_nothing() -> None:
    tabs: dict[str, Grid] = {"Master": []}
    writes = [
        CellWrite("Master", 0, "", 0, "", "Customer #", col=0),
        CellWrite("Master", 0, "", 0, "", "Name", col=1),
        CellWrite("Master", 0, "", 2, None, "Ali", col=1),
    ]
    cells, skipped = apply_writes(tabs, writes)
    assert skipped == []
    assert tabs["Master"] == [["Customer #", "Name"], [], [None, "Ali"]]
    assert cells == [
        ("Master", 0, 0, "Customer #"),
        ("Master", 0, 1, "Name"),
        ("Master", 2, 1, "Ali"),
    ]


def test_positional_col_write_checks_the_old_value() -> None:
    tabs: dict[str, Grid] = {"Master": [["A", "B"], ["x", "typed"]]}
    write = CellWrite("Master", 0, "", 1, "", "mine", col=1)
    cells, skipped = apply_writes(tabs, [write, CellWrite("Master", 0, "", 1, "x", None, col=0)])
    assert skipped == [(write, "changed since read")]
    assert cells == [("Master", 1, 0, None)]
    assert tabs["Master"] == [["A", "B"], [None, "typed"]]


def test_headers_match_folded_and_columns_reordered() -> None:
    grid: Grid = [["customer  #", "NOTES", "phone_number"], ["CUS-1", "", "0100"]]
    cells, skipped = apply_writes(
        {"T": grid}, [CellWrite("T", 0, "Notes", 1, None, "n", (("Customer #", "CUS-1"),))]
    )
    assert skipped == []
    assert cells == [("T", 1, 1, "n")]


def test_missing_column_is_appended_after_the_last_header() -> None:
    grid: Grid = [["Customer #", "Name", None, "Phone", ""], ["CUS-1", "Ali", None, "0100"]]
    write = CellWrite("T", 0, "Sync notes", 1, "", "check phone", (("Customer #", "CUS-1"),))
    cells, skipped = apply_writes({"T": grid}, [write, dataclasses.replace(write)])
    assert skipped == [(write, "changed since read")]  # the duplicate finds it filled
    assert cells == [("T", 0, 4, "Sync notes"), ("T", 1, 4, "check phone")]
    assert grid[0] == ["Customer #", "Name", None, "Phone", "Sync notes"]
    assert grid[1] == ["CUS-1", "Ali", None, "0100", "check phone"]


def test_missing_column_with_a_read_value_is_gone() -> None:
    grid = base_grid()
    write = CellWrite(
        "Customers", 0, "Email", 1, "ali@example.com", "a@b.c", (("Customer #", "CUS-1"),)
    )
    cells, skipped = apply_writes({"Customers": grid}, [write])
    assert (cells, skipped) == ([], [(write, "column is gone")])
    assert grid == base_grid()


def test_missing_anchor_column_is_reported() -> None:
    grid = base_grid()
    write = CellWrite(
        "Customers", 0, "Notes", 1, "a", "x", (("Customer #", "CUS-1"), ("Email", "e"))
    )
    assert apply_writes({"Customers": grid}, [write]) == (
        [],
        [(write, "anchor column 'Email' is gone")],
    )


def test_header_moved_when_neither_column_nor_anchor_is_found() -> None:
    grid = base_grid()
    grid[0] = ["Client", "Full name", "Mobile", "Remarks"]  # renamed beyond recognition
    write = note(2, "b", "x", "CUS-2")
    assert apply_writes({"Customers": grid}, [write]) == ([], [(write, "header row moved")])


def test_missing_tab_is_reported() -> None:
    write = note(1, "a", "x", "CUS-1")
    assert apply_writes({"Other": base_grid()}, [write]) == ([], [(write, "tab is gone")])


def test_tab_title_matches_case_insensitively_when_unique() -> None:
    tabs = {"customers": base_grid()}
    cells, skipped = apply_writes(tabs, [note(1, "a", "x", "CUS-1")])
    assert skipped == [] and cells == [("customers", 1, 3, "x")]


def test_same_value_counts_as_applied_and_sets_nothing() -> None:
    grid = base_grid()
    cells, skipped = apply_writes({"Customers": grid}, [note(1, "a", "a", "CUS-1")])
    assert (cells, skipped) == ([], [])


def test_old_value_compared_as_shown() -> None:
    grid: Grid = [["ID", "Count"], ["A", 5.0]]
    cells, skipped = apply_writes(
        {"T": grid}, [CellWrite("T", 0, "Count", 1, "5", 6, (("ID", "A"),))]
    )
    assert skipped == [] and grid[1] == ["A", 6]


def test_ragged_rows_are_padded() -> None:
    grid: Grid = [["ID", "A", "B", "C"], ["x"]]
    cells, skipped = apply_writes(
        {"T": grid}, [CellWrite("T", 0, "C", 1, None, "c", (("ID", "x"),))]
    )
    assert skipped == []
    assert grid[1] == ["x", None, None, "c"]


def test_anchor_cell_changed_by_the_same_batch_keeps_the_other_writes() -> None:
    grid: Grid = [["Customer #", "Phone", "Sync notes"], ["", "0100", ""]]
    writes = [
        CellWrite("T", 0, "Customer #", 1, "", "CUS-7", (("Customer #", ""), ("Phone", "0100"))),
        CellWrite("T", 0, "Sync notes", 1, "", "bound", (("Customer #", ""), ("Phone", "0100"))),
    ]
    cells, skipped = apply_writes({"T": grid}, writes)
    assert skipped == []
    assert grid[1] == ["CUS-7", "0100", "bound"]


def test_anchor_match_found_when_row_index_points_at_the_header() -> None:
    grid = base_grid()
    cells, skipped = apply_writes({"Customers": grid}, [note(0, "b", "x", "CUS-2")])
    assert skipped == [] and notes_of(grid, "CUS-2") == "x"
    assert grid[0] == HEADER


def test_appends_by_group_after_the_last_non_blank_row() -> None:
    grid = base_grid() + [[], ["", None], []]
    writes = [
        CellWrite("Customers", 0, "Name", None, "", "Eve", group="g1"),
        CellWrite("Customers", 0, "Name", None, "", "Fay", group="g2"),
        CellWrite("Customers", 0, "Phone", None, "", "0500", group="g1"),
        CellWrite("Customers", 0, "Email", None, "", "fay@example.com", group="g2"),
    ]
    cells, skipped = apply_writes({"Customers": grid}, writes)
    assert skipped == []
    assert grid[5] == [None, "Eve", "0500"]
    assert [cell_text(v) for v in grid[6]] == ["", "Fay", "", "", "fay@example.com"]  # was blank
    assert grid[0][4] == "Email"
    assert ("Customers", 0, 4, "Email") in cells
    assert len(cells) == 5


def test_appends_to_a_header_only_tab_and_with_blank_values() -> None:
    grid: Grid = [list(HEADER)]
    writes = [
        CellWrite("Customers", 0, "Name", None, "", None, group="empty"),
        CellWrite("Customers", 0, "Name", None, "", "Eve", group="g"),
    ]
    cells, skipped = apply_writes({"Customers": grid}, writes)
    assert skipped == []
    assert cells == [("Customers", 1, 1, "Eve")]


def test_appends_happen_after_row_writes_and_do_not_match_anchors() -> None:
    grid = base_grid()
    writes = [
        CellWrite("Customers", 0, "Customer #", None, "", "CUS-1", group="dup"),
        note(1, "a", "x", "CUS-1"),
    ]
    cells, skipped = apply_writes({"Customers": grid}, writes)
    assert skipped == []
    assert grid[1][3] == "x" and grid[5] == ["CUS-1"]


@pytest.mark.parametrize("anchor", [(), (("Phone", ""),)])
def test_appends_to_a_moved_header_are_skipped(anchor: tuple[tuple[str, CellValue], ...]) -> None:
    grid = base_grid()
    grid.insert(0, ["My customers"])
    write = CellWrite("Customers", 0, "Name", None, "", "Eve", anchor, group="g")
    assert apply_writes({"Customers": grid}, [write]) == ([], [(write, "header row moved")])
    assert grid[0] == ["My customers"]


# ---------------------------------------------------------------------------------------------
# The property: every write lands on the row holding its anchor value
# ---------------------------------------------------------------------------------------------


@st.composite
def shuffled_tabs(draw: st.DrawFn) -> tuple[Grid, Grid, list[int]]:
    """A grid with a unique ID column, and the same grid with its rows (and columns) shuffled
    and rows inserted, as an agent could leave it between the read and the write."""
    width = draw(st.integers(2, 5))
    ids = draw(st.lists(st.integers(0, 10_000), min_size=1, max_size=25, unique=True))
    values = st.one_of(st.none(), st.integers(-5, 5), st.text("ab ", max_size=3))
    header: list[CellValue] = ["ID", *(f"F{i}" for i in range(1, width))]
    rows: Grid = [[f"ID-{i}", *(draw(values) for _ in range(width - 1))] for i in ids]
    read: Grid = [header, *rows]
    later: Grid = list(draw(st.permutations([list(r) for r in rows])))
    extra = draw(st.lists(st.integers(20_000, 30_000), max_size=3, unique=True))
    for i in extra:
        later.insert(draw(st.integers(0, len(later))), [f"ID-{i}", "new"])
    order = draw(st.permutations(range(width)))
    current: Grid = [[r[c] if c < len(r) else None for c in order] for r in [header, *later]]
    targets = draw(st.lists(st.integers(1, len(rows)), unique=True))
    return read, current, targets


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shuffled_tabs())
def test_writes_land_on_the_row_with_their_anchor(case: tuple[Grid, Grid, list[int]]) -> None:
    read, current, targets = case
    before = copy.deepcopy(current)
    writes = [
        CellWrite("T", 0, "F1", row, read[row][1], f"new-{read[row][0]}", (("ID", read[row][0]),))
        for row in targets
    ]
    cells, skipped = apply_writes({"T": current}, writes)
    assert skipped == []
    id_col, f1_col = current[0].index("ID"), current[0].index("F1")
    written = {(r, c) for _, r, c, _ in cells}
    for _, r, c, value in cells:
        assert c == f1_col
        assert value == f"new-{current[r][id_col]}"
    for r, row in enumerate(current):
        for c, value in enumerate(row):
            if (r, c) not in written:
                assert value == (before[r][c] if c < len(before[r]) else None)
    assert {current[r][id_col] for r, _ in written} == {read[row][0] for row in targets}


# ---------------------------------------------------------------------------------------------
# MemoryBackend
# ---------------------------------------------------------------------------------------------


def test_memory_copies_in_and_out() -> None:
    grid = base_grid()
    mem = MemoryBackend({"ali": {"Customers": grid}})
    grid[1][1] = "changed by the caller"
    snap = mem.read("ali")
    assert snap.tabs["Customers"] == trimmed(base_grid())
    snap.tabs["Customers"][1][1] = "changed by the reader"
    mem.get_tab("ali", "Customers")[1][1] = "changed again"
    assert mem.read("ali").tabs["Customers"] == trimmed(base_grid())
    assert snap.source == "ali" and snap.version == "v1"


def test_memory_versions_bump_on_every_change_only() -> None:
    mem = MemoryBackend()
    assert mem.fingerprint("ali") is None
    mem.set_tab("ali", "Customers", base_grid())
    assert mem.fingerprint("ali") == "v1"
    result = mem.write("ali", [note(1, "a", "x", "CUS-1")])
    assert (result.applied, result.skipped, result.version) == (1, [], "v2")
    result = mem.write("ali", [note(1, "x", "x", "CUS-1")])
    assert (result.applied, result.version) == (1, "v2")
    result = mem.write("ali", [note(1, "a", "y", "CUS-1")])
    assert (result.applied, [r for _, r in result.skipped], result.version) == (
        0,
        ["changed since read"],
        "v2",
    )
    mem.set_tab("ali", "Follow-ups", [["Follow-up #"]])
    mem.delete_tab("ali", "Follow-ups")
    assert mem.fingerprint("ali") == "v4"
    assert mem.calls == {"fingerprint": 3, "write": 3}


def test_memory_read_strips_trailing_blanks() -> None:
    mem = MemoryBackend({"s": {"T": [["a", None, ""], [None], []]}})
    assert mem.read("s").tabs["T"] == [["a"]]


def test_memory_before_write_hook_simulates_concurrent_edits() -> None:
    mem = MemoryBackend({"ali": {"Customers": base_grid()}})
    snap = mem.read("ali")
    assert snap.tabs["Customers"][2][3] == "b"

    def agent_sorts_and_types(source: str) -> None:
        grid = mem.get_tab(source, "Customers")
        sort_desc(grid)
        find_row(grid, "CUS-4")[3] = "agent's note"
        mem.set_tab(source, "Customers", grid)

    mem.before_write = agent_sorts_and_types
    result = mem.write("ali", [note(2, "b", "sync 2", "CUS-2"), note(4, "d", "sync 4", "CUS-4")])
    grid = mem.get_tab("ali", "Customers")
    assert notes_of(grid, "CUS-2") == "sync 2"
    assert notes_of(grid, "CUS-4") == "agent's note"
    assert result.applied == 1
    assert [reason for _, reason in result.skipped] == ["changed since read"]
    assert result.version == mem.fingerprint("ali") == "v3"


def test_memory_locked_and_missing_sources() -> None:
    mem = MemoryBackend({"ali": {"Customers": base_grid()}})
    mem.locked.add("ali")
    with pytest.raises(SourceLocked, match="ali"):
        mem.read("ali")
    with pytest.raises(SourceLocked):
        mem.write("ali", [])
    with pytest.raises(SourceError, match="nobody"):
        mem.read("nobody")


def test_memory_ensure_layout_is_idempotent() -> None:
    mem = MemoryBackend({"ali": {"Customers": [["Name"], ["Ali"]]}})
    kwargs = {
        "text_columns": {"Customers": ["Phone"]},
        "dropdowns": {"Customers": {"Status": ["A", "B"]}},
        "protected": {"Customers": ["Customer #"]},
    }
    tabs = {"Customers": ["Customer #", "Name", "Phone", "Status"], "Follow-ups": ["Follow-up #"]}
    changes = mem.ensure_layout("ali", tabs, **kwargs)  # type: ignore[arg-type]
    assert "added column Customer # to Customers" in changes and "added tab Follow-ups" in changes
    assert mem.get_tab("ali", "Customers") == [["Name", "Customer #", "Phone", "Status"], ["Ali"]]
    version = mem.fingerprint("ali")
    assert mem.ensure_layout("ali", tabs, **kwargs) == []  # type: ignore[arg-type]
    assert mem.fingerprint("ali") == version
    assert mem.ensure_layout("new", {"T": ["A"]}) == ["created new", "added tab T"]


DUE = DueHighlight("Next follow-up", "Status", ("Completed", "Lost"))


def test_memory_keeps_a_due_highlight_once_and_only_where_both_columns_are() -> None:
    mem = MemoryBackend({"ali": {"Customers": [["Name", "Next follow-up"]]}})
    tabs = {"Customers": ["Name", "Next follow-up", "Status"], "Plain": ["Name"]}
    due = {"Customers": [DUE], "Plain": [DUE]}
    changes = mem.ensure_layout("ali", tabs, highlights=due)
    assert "highlighted due Customers/Next follow-up" in changes
    assert not any("Plain/" in change for change in changes)  # a tab without the columns
    assert mem.layouts["ali"]["Customers"]["due"] == {DUE}
    assert mem.ensure_layout("ali", tabs, highlights=due) == []


# ---------------------------------------------------------------------------------------------
# XlsxBackend
# ---------------------------------------------------------------------------------------------

LAYOUT = {"Customers": ["Customer #", "Name", "Phone", "Status", "Notes"], "Follow-ups": ["Date"]}
FORMATS = {
    "text_columns": {"Customers": ["Phone"]},
    "dropdowns": {"Customers": {"Status": ["Prospect", "Completed", "Lost"]}},
    "protected": {"Customers": ["Customer #"]},
}


@pytest.fixture
def xlsx(tmp_path: Path) -> XlsxBackend:
    return XlsxBackend(tmp_path)


def make_workbook(backend: XlsxBackend, source: str = "agents/ali.xlsx") -> Path:
    backend.ensure_layout(source, LAYOUT, **FORMATS)  # type: ignore[arg-type]
    rows = [("CUS-1", "Ali", "0100", "Prospect"), ("CUS-2", "Badr", "0200", "Lost")]
    writes = [
        CellWrite("Customers", 0, header, None, "", value, group=row[0])
        for row in rows
        for header, value in zip(LAYOUT["Customers"], row, strict=False)
    ]
    result = backend.write(source, writes)
    assert result.skipped == []
    return backend.path(source)


def sheet_xml(path: Path, index: int = 1) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read(f"xl/worksheets/sheet{index}.xml").decode()


def test_xlsx_ensure_layout_creates_and_is_idempotent(xlsx: XlsxBackend, tmp_path: Path) -> None:
    changes = xlsx.ensure_layout("agents/ali.xlsx", LAYOUT, **FORMATS)  # type: ignore[arg-type]
    assert changes == ["created agents/ali.xlsx", "added tab Customers", "added tab Follow-ups"]
    path = tmp_path / "agents" / "ali.xlsx"
    data = path.read_bytes()
    assert xlsx.ensure_layout("agents/ali.xlsx", LAYOUT, **FORMATS) == []  # type: ignore[arg-type]
    assert path.read_bytes() == data

    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Customers", "Follow-ups"]
    ws = wb["Customers"]
    assert [c.value for c in ws[1]] == LAYOUT["Customers"]
    assert ws.freeze_panes == "A2"
    assert ws["C1"].number_format == "@" and ws.column_dimensions["C"].number_format == "@"
    assert ws["A1"].comment.text == PROTECTED_NOTE
    assert ws["A1"].fill.fgColor.rgb == "FFD9D9D9"
    (dv,) = ws.data_validations.dataValidation
    assert dv.type == "list" and dv.formula1 == '"Prospect,Completed,Lost"'
    assert "D2" in dv.sqref and "D5000" in dv.sqref and "D1" not in dv.sqref


def test_xlsx_workbooks_of_one_layout_are_made_once_and_each_is_whole(
    xlsx: XlsxBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``init`` gives a team's agents one layout: openpyxl makes it once, and each agent's
    workbook is that workbook, in its own file; another layout is made to its own."""
    monkeypatch.setattr(xlsx_backend, "_NEW_WORKBOOKS", {})
    made: list[object] = []
    workbook = openpyxl.Workbook
    monkeypatch.setattr(openpyxl, "Workbook", lambda: made.append(1) or workbook())
    other = {**FORMATS, "dropdowns": {"Customers": {"Status": ["Prospect", "Lost"]}}}

    assert xlsx.ensure_layout("agents/ali.xlsx", LAYOUT, **FORMATS) == [  # type: ignore[arg-type]
        "created agents/ali.xlsx",
        "added tab Customers",
        "added tab Follow-ups",
    ]
    assert xlsx.ensure_layout("agents/sara.xlsx", LAYOUT, **FORMATS) == [  # type: ignore[arg-type]
        "created agents/sara.xlsx",
        "added tab Customers",
        "added tab Follow-ups",
    ]
    xlsx.ensure_layout("agents/omar.xlsx", LAYOUT, **other)  # type: ignore[arg-type]
    assert len(made) == 2  # ali's layout once, omar's once

    ali, sara = (tmp_path / "agents" / f"{k}.xlsx" for k in ("ali", "sara"))
    assert sara.read_bytes() == ali.read_bytes()
    assert xlsx.ensure_layout("agents/sara.xlsx", LAYOUT, **FORMATS) == []  # type: ignore[arg-type]
    for key, choices in (("sara", '"Prospect,Completed,Lost"'), ("omar", '"Prospect,Lost"')):
        ws = openpyxl.load_workbook(tmp_path / "agents" / f"{key}.xlsx")["Customers"]
        assert [c.value for c in ws[1]] == LAYOUT["Customers"]
        assert ws["A1"].comment.text == PROTECTED_NOTE
        (dv,) = ws.data_validations.dataValidation
        assert dv.formula1 == choices


def test_xlsx_ensure_layout_adds_missing_parts_without_touching_data(
    xlsx: XlsxBackend, tmp_path: Path
) -> None:
    path = tmp_path / "ali.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Customers"
    ws.append(["My customers"])
    ws.append(["Name", "Mobile", "Status"])
    ws.append(["Ali", 100, "Lost"])
    wb.save(path)
    tabs = {"Customers": ["Name", "Mobile", "Status", "Notes"], "Follow-ups": ["Date"]}
    changes = xlsx.ensure_layout(
        "ali.xlsx",
        tabs,
        text_columns={"Customers": ["Mobile"]},
        dropdowns={"Customers": {"Status": ["Lost", "Won"]}},
    )
    assert changes == [
        "added column Notes to Customers",
        "froze the header row of Customers",
        "added a filter to Customers",
        "formatted Customers/Mobile as text",
        "set dropdown of Customers/Status",
        "added tab Follow-ups",
    ]
    snap = xlsx.read("ali.xlsx")
    assert snap.tabs["Customers"] == [
        ["My customers"],
        ["Name", "Mobile", "Status", "Notes"],
        ["Ali", 100, "Lost"],
    ]
    ws = openpyxl.load_workbook(path)["Customers"]
    assert ws["B3"].number_format == "@"
    # The header (row 2 here) frozen and filtered, down to the last row a sheet can have.
    assert ws.freeze_panes == "A3" and ws.auto_filter.ref == "A2:D1048576"
    assert (
        xlsx.ensure_layout(
            "ali.xlsx",
            tabs,
            text_columns={"Customers": ["Mobile"]},
            dropdowns={"Customers": {"Status": ["Lost", "Won"]}},
        )
        == []
    )
    changed = xlsx.ensure_layout(
        "ali.xlsx", tabs, dropdowns={"Customers": {"Status": ["Lost", "Won", "New"]}}
    )
    assert changed == ["set dropdown of Customers/Status"]
    (dv,) = openpyxl.load_workbook(path)["Customers"].data_validations.dataValidation
    assert dv.formula1 == '"Lost,Won,New"'


@pytest.mark.parametrize("made_by", ["init", "the agent"])
def test_xlsx_agent_tabs_get_a_frozen_header_a_filter_and_header_notes_once(
    xlsx: XlsxBackend, tmp_path: Path, made_by: str
) -> None:
    """Every tab init manages, whether it made it or the agent did: the header frozen and
    filtered, shared columns noted as shared, Commission % as the admin's; a second set-up
    changes nothing (the admin's note is not traded for the protected one and back)."""
    from sync import service

    layout = service.agent_layout()
    args = {k: v for k, v in layout.items() if k != "tabs"}
    if made_by == "the agent":
        wb = openpyxl.Workbook()
        wb.active.title = "Customers"
        wb.active.append(list(layout["tabs"]["Customers"]))
        wb.save(tmp_path / "ali.xlsx")
    changes = xlsx.ensure_layout("ali.xlsx", layout["tabs"], **args)
    if made_by == "the agent":
        assert "froze the header row of Customers" in changes
        assert "added a filter to Customers" in changes
        assert "noted Customers/Email" in changes
    ws = openpyxl.load_workbook(tmp_path / "ali.xlsx")["Customers"]
    header = [c.value for c in ws[1]]

    def note(name: str) -> str | None:
        comment = ws.cell(row=1, column=header.index(name) + 1).comment
        return comment.text if comment is not None else None

    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(header))}1048576"
    assert note("Email") == note("Phone") == agent_sheet.SHARED_NOTE
    assert note("Commission %") == agent_sheet.ADMIN_NOTE
    assert note("Customer #") == PROTECTED_NOTE and note("Notes") is None

    def width(name: str) -> float | None:
        letter = openpyxl.utils.get_column_letter(header.index(name) + 1)
        return ws.column_dimensions[letter].width if letter in ws.column_dimensions else None

    if made_by == "init":  # the columns it makes are sized to what they typically hold
        assert width("Notes") == agent_sheet.COLUMN_WIDTHS["Notes"] == 40
        assert width("Status") == len("Status") + 4 and width("Degree") == 10
    else:  # the agent's columns keep their widths
        assert width("Notes") is None
    data = (tmp_path / "ali.xlsx").read_bytes()
    assert xlsx.ensure_layout("ali.xlsx", layout["tabs"], **args) == []
    assert (tmp_path / "ali.xlsx").read_bytes() == data


def test_xlsx_due_highlight_is_a_rule_on_the_agents_own_columns_that_writes_keep(
    xlsx: XlsxBackend, tmp_path: Path
) -> None:
    """The workbook evaluates it (no sync): the agent's columns, under the header wherever
    it is; set once; a cycle's write (patched XML) keeps it."""
    path = tmp_path / "ali.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Customers"
    ws.append(["My customers"])
    ws.append(["Status", "Name", "Phone", "Next follow-up"])
    ws.append(["Lost", "Ali", "0100", dt.date(2026, 1, 5)])
    wb.save(path)
    tabs = {"Customers": ["Name", "Phone", "Status", "Next follow-up"]}
    due = {"Customers": [DUE]}
    assert xlsx.ensure_layout("ali.xlsx", tabs, highlights=due) == [
        "froze the header row of Customers",
        "added a filter to Customers",
        "highlighted due Customers/Next follow-up",
    ]
    data = path.read_bytes()
    assert xlsx.ensure_layout("ali.xlsx", tabs, highlights=due) == []
    assert path.read_bytes() == data

    def rules() -> list[tuple[str, list[str], str]]:
        ws = openpyxl.load_workbook(path)["Customers"]
        return [
            (str(cf.sqref), rule.formula, rule.dxf.fill.fgColor.rgb)
            for cf in ws.conditional_formatting
            for rule in cf.rules
        ]

    formula = 'AND(ISNUMBER($D3),$D3<=TODAY(),NOT(OR($A3="Completed",$A3="Lost")))'
    assert rules() == [("D3:D1048576", [formula], "00FCE8B2")]
    write = CellWrite("Customers", 1, "Name", 2, "Ali", "Ali Hassan", anchor=(("Phone", "0100"),))
    assert xlsx.write("ali.xlsx", [write]).skipped == []
    assert xlsx.read("ali.xlsx").tabs["Customers"][2][1] == "Ali Hassan"
    assert rules() == [("D3:D1048576", [formula], "00FCE8B2")]


@pytest.mark.office
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_a_real_spreadsheet_finds_exactly_the_due_follow_ups_with_the_highlights_formula(
    tmp_path: Path,
) -> None:
    """LibreOffice evaluates the rule's formula (put in a cell of each row): today or
    earlier is due, unless the status is Completed or Lost in any case or in Arabic; a
    blank or a text is never due."""
    from tests.unit.test_xlsx_parts import as_csv_by_libreoffice

    today = dt.date.today()
    day = dt.timedelta(days=1)
    rows = [  # (Next follow-up, Status, due?)
        (today - day, "Prospect", True),
        (today, "In progress", True),
        (today + day, "Prospect", False),
        (today - day, "Completed", False),
        (today - day, "completed", False),
        (today - day, "مفقود", False),
        (None, "Prospect", False),
        ("soon", "Prospect", False),
    ]
    due = DueHighlight("Next follow-up", "Status", ("Completed", "مكتمل", "Lost", "مفقود"))
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Customers"
    ws.append(["Status", "Name", "Next follow-up", "Due?"])
    for r, (when, status, _) in enumerate(rows, start=2):
        ws.append([status, f"row {r}", when, due.formula("C", "A", r)])
    buffer = io.BytesIO()
    wb.save(buffer)
    evaluated = as_csv_by_libreoffice(buffer.getvalue(), tmp_path).splitlines()[1:]
    assert [line.rsplit(",", 1)[1] for line in evaluated] == [
        "TRUE" if expected else "FALSE" for *_, expected in rows
    ]


def test_xlsx_ensure_layout_refuses_a_tab_without_header(xlsx: XlsxBackend, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active.title = "Customers"
    wb.active.append(["just", "data"])
    wb.save(tmp_path / "ali.xlsx")
    with pytest.raises(LayoutError, match="ali.xlsx.*Customers"):
        xlsx.ensure_layout("ali.xlsx", {"Customers": ["Name", "Phone"]})


def test_xlsx_text_column_inside_a_column_range_does_not_overlap(
    xlsx: XlsxBackend, tmp_path: Path
) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "T"
    ws.append(["A", "B", "Phone", "D", "E"])
    dim = ws.column_dimensions["A"]
    dim.min, dim.max, dim.width = 1, 5, 20  # one <col min=1 max=5>, as LibreOffice writes
    wb.save(tmp_path / "r.xlsx")
    assert xlsx.ensure_layout("r.xlsx", {"T": ["Phone"]}, text_columns={"T": ["Phone"]}) == [
        "froze the header row of T",
        "added a filter to T",
        "formatted T/Phone as text",
    ]
    cols = [
        (int(a), int(b))
        for a, b in re.findall(
            r'<col [^>]*?min="(\d+)" max="(\d+)"', sheet_xml(tmp_path / "r.xlsx")
        )
    ]
    if not cols:
        cols = [
            (int(a), int(b))
            for b, a in re.findall(
                r'<col [^>]*?max="(\d+)" min="(\d+)"', sheet_xml(tmp_path / "r.xlsx")
            )
        ]
    covered = [c for low, high in cols for c in range(low, high + 1)]
    assert sorted(covered) == [1, 2, 3, 4, 5]
    ws = openpyxl.load_workbook(tmp_path / "r.xlsx")["T"]
    assert ws.column_dimensions["C"].number_format == "@" and ws.column_dimensions["C"].width == 20
    assert xlsx.ensure_layout("r.xlsx", {"T": ["Phone"]}, text_columns={"T": ["Phone"]}) == []


def test_xlsx_round_trip_of_values(xlsx: XlsxBackend) -> None:
    path = make_workbook(xlsx)
    snap = xlsx.read("agents/ali.xlsx")
    assert snap.version == xlsx.fingerprint("agents/ali.xlsx")
    assert snap.tabs == {
        "Customers": [
            LAYOUT["Customers"],
            ["CUS-1", "Ali", "0100", "Prospect"],
            ["CUS-2", "Badr", "0200", "Lost"],
        ],
        "Follow-ups": [["Date"]],
    }
    values: list[CellValue] = [
        7,
        2.5,
        True,
        dt.date(2026, 1, 15),
        dt.datetime(2026, 1, 15, 9, 30),
        "x",
    ]
    writes = [CellWrite("Follow-ups", 0, "Date", i + 1, None, v) for i, v in enumerate(values)]
    result = xlsx.write("agents/ali.xlsx", writes)
    assert result.applied == len(values) and result.version == xlsx.fingerprint("agents/ali.xlsx")
    assert xlsx.read("agents/ali.xlsx").tabs["Follow-ups"] == [["Date"]] + [[v] for v in values]
    ws = openpyxl.load_workbook(path)["Follow-ups"]
    assert ws["A5"].number_format == "yyyy-mm-dd"
    assert isinstance(ws["A5"].value, dt.datetime) and ws["A5"].value.date() == dt.date(2026, 1, 15)


def test_xlsx_write_keeps_rows_straight_when_the_agent_sorted(xlsx: XlsxBackend) -> None:
    path = make_workbook(xlsx)
    snap = xlsx.read("agents/ali.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["Customers"]
    ws.insert_rows(2)
    ws["A2"], ws["B2"] = "CUS-9", "Zed"  # the agent adds a row on top, meanwhile
    ws["E4"] = "agent typed"  # and a note for Badr
    wb.save(path)
    grid = snap.tabs["Customers"]
    writes = [
        CellWrite("Customers", 0, "Notes", 1, None, "to Ali", (("Customer #", grid[1][0]),)),
        CellWrite("Customers", 0, "Notes", 2, None, "to Badr", (("Customer #", grid[2][0]),)),
        CellWrite("Customers", 0, "Sync notes", 2, None, "check", (("Customer #", grid[2][0]),)),
    ]
    result = xlsx.write("agents/ali.xlsx", writes)
    assert [(w.new, reason) for w, reason in result.skipped] == [("to Badr", "changed since read")]
    assert xlsx.read("agents/ali.xlsx").tabs["Customers"] == [
        LAYOUT["Customers"] + ["Sync notes"],
        ["CUS-9", "Zed"],
        ["CUS-1", "Ali", "0100", "Prospect", "to Ali"],
        ["CUS-2", "Badr", "0200", "Lost", "agent typed", "check"],
    ]


def test_xlsx_new_cells_take_the_column_text_format(xlsx: XlsxBackend) -> None:
    path = make_workbook(xlsx)
    ws = openpyxl.load_workbook(path)["Customers"]
    assert ws["C3"].number_format == "@"  # appended by make_workbook after the layout
    assert ws["B3"].number_format == "General"


def test_xlsx_formula_injection_stays_text(xlsx: XlsxBackend) -> None:
    path = make_workbook(xlsx)
    evil = ['=IMPORTXML("http://x","//a")', "+cmd|' /C calc'!A0", "@SUM(1)", "=1+1", "-2+3"]
    writes = [
        CellWrite("Customers", 0, "Notes", None, "", text, group=str(i))
        for i, text in enumerate(evil)
    ]
    assert xlsx.write("agents/ali.xlsx", writes).applied == len(evil)
    # and a later save (another cell) must keep them as text too
    xlsx.write(
        "agents/ali.xlsx",
        [CellWrite("Customers", 0, "Name", 1, "Ali", "Ali B", (("Customer #", "CUS-1"),))],
    )

    ws = openpyxl.load_workbook(path)["Customers"]
    stored = [ws.cell(row=r, column=5) for r in range(4, 4 + len(evil))]
    assert [c.value for c in stored] == evil
    assert all(c.data_type == "s" for c in stored)
    xml = sheet_xml(path)
    assert "<f>" not in xml and "<f " not in xml
    assert [r[4] for r in xlsx.read("agents/ali.xlsx").tabs["Customers"][3:]] == evil


def test_xlsx_illegal_control_characters_are_dropped(xlsx: XlsxBackend) -> None:
    make_workbook(xlsx)
    xlsx.write(
        "agents/ali.xlsx", [CellWrite("Customers", 0, "Notes", None, "", "a\x00b\x07c", group="g")]
    )
    assert xlsx.read("agents/ali.xlsx").tabs["Customers"][3] == [None, None, None, None, "abc"]


def test_xlsx_atomic_save_leaves_no_temp_files(xlsx: XlsxBackend, tmp_path: Path) -> None:
    path = make_workbook(xlsx)
    os.chmod(path, 0o640)
    xlsx.write("agents/ali.xlsx", [CellWrite("Customers", 0, "Notes", None, "", "n", group="g")])
    assert sorted(os.listdir(path.parent)) == ["ali.xlsx", "ali.xlsx.sheetsync.lock"]
    assert (path.stat().st_mode & 0o777) == 0o640


def test_xlsx_failed_save_keeps_the_original(
    xlsx: XlsxBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_workbook(xlsx)
    data = path.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(SourceError, match="cannot save agents/ali.xlsx: disk full"):
        xlsx.write(
            "agents/ali.xlsx", [CellWrite("Customers", 0, "Notes", None, "", "n", group="g")]
        )
    assert path.read_bytes() == data
    assert sorted(os.listdir(path.parent)) == ["ali.xlsx", "ali.xlsx.sheetsync.lock"]


def test_xlsx_write_retries_when_the_file_changes_under_it(
    xlsx: XlsxBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_workbook(xlsx)
    load = XlsxBackend._values
    calls: list[int] = []

    def load_then_agent_saves(self: XlsxBackend, source: str, data: bytes) -> dict:
        values = load(self, source, data)
        if not calls:
            other = openpyxl.load_workbook(path)
            other["Customers"]["E2"] = "agent saved meanwhile"
            other.save(path)
        calls.append(1)
        return values

    monkeypatch.setattr(XlsxBackend, "_values", load_then_agent_saves)
    result = xlsx.write(
        "agents/ali.xlsx",
        [
            CellWrite("Customers", 0, "Notes", 1, None, "sync", (("Customer #", "CUS-1"),)),
            CellWrite("Customers", 0, "Notes", 2, None, "sync", (("Customer #", "CUS-2"),)),
        ],
    )
    assert len(calls) == 2
    assert result.applied == 1 and [r for _, r in result.skipped] == ["changed since read"]
    rows = xlsx.read("agents/ali.xlsx").tabs["Customers"]
    assert rows[1][4] == "agent saved meanwhile" and rows[2][4] == "sync"


def test_xlsx_noop_write_does_not_save(xlsx: XlsxBackend) -> None:
    path = make_workbook(xlsx)
    data, mtime = path.read_bytes(), path.stat().st_mtime_ns
    result = xlsx.write(
        "agents/ali.xlsx",
        [CellWrite("Customers", 0, "Name", 1, "Ali", "Ali", (("Customer #", "CUS-1"),))],
    )
    assert result.applied == 1 and result.version == xlsx.fingerprint("agents/ali.xlsx")
    assert path.read_bytes() == data and path.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("lock_name", [".~lock.ali.xlsx#", "~$ali.xlsx"])
def test_xlsx_lock_files_skip_the_source(xlsx: XlsxBackend, lock_name: str) -> None:
    path = make_workbook(xlsx)
    (path.parent / lock_name).write_text("someone,host,0;")
    data = path.read_bytes()
    with pytest.raises(SourceLocked) as raised:
        xlsx.read("agents/ali.xlsx")
    assert raised.value.message == (
        f"agents/ali.xlsx is open in LibreOffice or Excel (lock file {lock_name}); "
        "skipped this cycle, close it to sync"
    )
    with pytest.raises(SourceLocked):
        xlsx.write(
            "agents/ali.xlsx", [CellWrite("Customers", 0, "Notes", None, "", "n", group="g")]
        )
    with pytest.raises(SourceLocked):
        xlsx.ensure_layout("agents/ali.xlsx", {"Extra": ["A"]})
    assert path.read_bytes() == data
    assert xlsx.fingerprint("agents/ali.xlsx") is not None  # a hint only, never blocked


@pytest.mark.parametrize("content", [b"not a workbook at all", b"PK\x03\x04broken zip"])
def test_xlsx_corrupt_file_names_the_file(
    xlsx: XlsxBackend, tmp_path: Path, content: bytes
) -> None:
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "bad.xlsx").write_bytes(content)
    with pytest.raises(SourceError, match=r"agents/bad\.xlsx is not a readable \.xlsx workbook"):
        xlsx.read("agents/bad.xlsx")
    with pytest.raises(SourceError, match=r"agents/bad\.xlsx"):
        xlsx.write("agents/bad.xlsx", [CellWrite("T", 0, "A", None, "", "x")])


def test_xlsx_zip_that_is_not_a_workbook(xlsx: XlsxBackend, tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "odd.xlsx", "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(SourceError, match=r"odd\.xlsx"):
        xlsx.read("odd.xlsx")


def test_xlsx_missing_file(xlsx: XlsxBackend) -> None:
    assert xlsx.fingerprint("agents/none.xlsx") is None
    with pytest.raises(SourceError, match="agents/none.xlsx does not exist"):
        xlsx.read("agents/none.xlsx")
    with pytest.raises(SourceError, match="agents/none.xlsx does not exist"):
        xlsx.write("agents/none.xlsx", [])


def test_xlsx_refuses_to_write_what_it_would_destroy(xlsx: XlsxBackend, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Customers"
    ws.append(["Name", "Count"])
    ws.append(["Ali", 3])
    chart = BarChart()
    chart.add_data(Reference(ws, min_col=2, min_row=1, max_row=2), titles_from_data=True)
    ws.add_chart(chart, "D2")
    wb.save(tmp_path / "chart.xlsx")
    data = (tmp_path / "chart.xlsx").read_bytes()
    assert xlsx.read("chart.xlsx").tabs["Customers"] == [["Name", "Count"], ["Ali", 3]]
    with pytest.raises(SourceError, match="chart.xlsx contains charts"):
        xlsx.write("chart.xlsx", [CellWrite("Customers", 0, "Count", 1, 3, 4, (("Name", "Ali"),))])
    assert (tmp_path / "chart.xlsx").read_bytes() == data
    result = xlsx.write(
        "chart.xlsx", [CellWrite("Customers", 0, "Count", 1, 3, 3, (("Name", "Ali"),))]
    )
    assert result.applied == 1  # nothing to save, nothing refused


def test_xlsx_fingerprint_changes_iff_content_changes(xlsx: XlsxBackend, tmp_path: Path) -> None:
    path = make_workbook(xlsx)
    first = xlsx.fingerprint("agents/ali.xlsx")
    os.utime(path, ns=(1, 1))
    assert xlsx.fingerprint("agents/ali.xlsx") == first
    shutil.copy(path, tmp_path / "copy.xlsx")
    assert xlsx.fingerprint("copy.xlsx") == first
    xlsx.write(
        "agents/ali.xlsx",
        [CellWrite("Customers", 0, "Notes", 1, None, "n", (("Customer #", "CUS-1"),))],
    )
    second = xlsx.fingerprint("agents/ali.xlsx")
    assert second != first
    xlsx.write(
        "agents/ali.xlsx",
        [CellWrite("Customers", 0, "Notes", 1, "n", "n", (("Customer #", "CUS-1"),))],
    )
    assert xlsx.fingerprint("agents/ali.xlsx") == second


def test_xlsx_hashes_the_same_bytes_once(
    xlsx: XlsxBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle looks at a workbook, reads it and writes it, and a loop's next cycle looks
    at what it wrote: the same bytes of a big workbook are hashed once (a master is 20 MB
    at 50 agents), and any change to them, of the same size too, gives another
    fingerprint."""
    path = make_workbook(xlsx)
    hashed: list[int] = []
    fingerprint_bytes = xlsx_backend._fingerprint_bytes
    assert len(path.read_bytes()) < xlsx.remember_from  # a small workbook: hashed each time
    xlsx.fingerprint("agents/ali.xlsx")
    assert xlsx._seen == {}
    xlsx.remember_from = 0  # as big workbooks are

    def counted(data: bytes) -> str:
        hashed.append(len(data))
        return fingerprint_bytes(data)

    monkeypatch.setattr(xlsx_backend, "_fingerprint_bytes", counted)
    first = xlsx.fingerprint("agents/ali.xlsx")
    assert xlsx.read("agents/ali.xlsx").version == first
    assert xlsx.fingerprint("agents/ali.xlsx") == first
    assert len(hashed) <= 1  # (0: the bytes its layout wrote)
    written = xlsx.write(
        "agents/ali.xlsx",
        [CellWrite("Customers", 0, "Notes", 1, None, "n", (("Customer #", "CUS-1"),))],
    ).version
    count = len(hashed)
    assert xlsx.fingerprint("agents/ali.xlsx") == written != first
    assert len(hashed) == count
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # another program's change of the same size
    path.write_bytes(bytes(data))
    changed = xlsx.fingerprint("agents/ali.xlsx")
    assert changed not in (first, written) and changed == fingerprint_bytes(bytes(data))


def test_xlsx_read_copes_with_a_wrong_dimension_and_gaps(xlsx: XlsxBackend, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "T"
    ws["A1"], ws["C1"] = "ID", "Name"
    ws["A4"], ws["C4"] = "X", "far"
    ws["B7"] = None
    ws["D9"].number_format = "@"  # a styled empty cell: a trailing empty row
    wb.save(tmp_path / "g.xlsx")
    path = tmp_path / "g.xlsx"
    with zipfile.ZipFile(path) as src:
        parts = {name: src.read(name) for name in src.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    parts["xl/worksheets/sheet1.xml"] = re.sub(
        r'<dimension ref="[^"]*"', '<dimension ref="A1"', sheet
    ).encode()
    with zipfile.ZipFile(path, "w") as dst:
        for name, body in parts.items():
            dst.writestr(name, body)
    assert xlsx.read("g.xlsx").tabs["T"] == [["ID", None, "Name"], [], [], ["X", None, "far"]]


def test_xlsx_master_conflicts_header_note_documents_the_resolution_words(
    xlsx: XlsxBackend, tmp_path: Path
) -> None:
    from sync.master_layout import (
        COMMISSION_NOTE,
        EDIT_NOTE,
        EDITABLE_COLOR,
        RESOLUTION,
        master_layout,
    )

    source = "master.xlsx"
    assert xlsx.ensure_layout(source, MASTER) != []  # an older master: no note yet
    changes = xlsx.ensure_layout(**master_layout("Africa/Cairo"), source=source)
    assert {
        f"noted Conflicts/{RESOLUTION}",
        "noted Customers/Email",
        "noted Tracking/Commission %",
        f"set dropdown of Conflicts/{RESOLUTION}",
        f"highlighted open Conflicts/{RESOLUTION}",
        f"coloured Conflicts/{RESOLUTION}",
        "coloured Tracking/Commission %",
    } <= set(changes)
    assert not [c for c in changes if "Notes" in c or "Follow-ups" in c]
    assert xlsx.ensure_layout(**master_layout("Africa/Cairo"), source=source) == []
    wb = openpyxl.load_workbook(tmp_path / source)
    ws = wb["Conflicts"]
    header = [c.value for c in ws[1]]
    letter = openpyxl.utils.get_column_letter(header.index(RESOLUTION) + 1)
    note = ws[f"{letter}1"].comment.text
    for word in ("keep", "accept", "value: TEXT", "merge into CUS-", "dismiss"):
        assert word in note
    (dv,) = ws.data_validations.dataValidation
    assert dv.formula1 == '"keep,accept,dismiss,merge"' and dv.errorStyle == "warning"
    (rule,) = [r for cf in ws.conditional_formatting for r in cf.rules]
    assert rule.formula == [f"AND(LEN($A2)>0,LEN(TRIM(${letter}2))=0)"]  # an ID, no word yet
    customers = wb["Customers"]
    notes = {c.value: c.comment.text if c.comment else None for c in customers[1]}
    assert notes["Email"] == notes["Phone"] == EDIT_NOTE and notes["Customer #"] is None
    # the headers of the columns the admin may edit are coloured (and only those)
    fills = {c.value: c.fill.fgColor.rgb for c in customers[1] if c.fill.fill_type == "solid"}
    assert fills["Email"] == fills["Phone"] == f"FF{EDITABLE_COLOR}" and "Customer #" not in fills
    assert ws[f"{letter}1"].fill.fgColor.rgb == f"FF{EDITABLE_COLOR}"
    assert wb["Tracking"]["A1"].fill.fill_type is None
    tracking = {c.value: c.comment.text if c.comment else None for c in wb["Tracking"][1]}
    assert tracking["Commission %"] == COMMISSION_NOTE


def test_memory_header_notes_are_set_once() -> None:
    from sync.master_layout import MASTER_NOTES

    backend = MemoryBackend()
    backend.ensure_layout("m", MASTER)
    notes = {"Conflicts": MASTER_NOTES["Conflicts"]}
    assert backend.ensure_layout("m", MASTER, notes=notes) == ["noted Conflicts/Resolution"]
    assert backend.ensure_layout("m", MASTER, notes=notes) == []


def test_each_set_of_aliases_folds_headers_its_own_way() -> None:
    """The alias table is made once per set of aliases: a set seen before gives the same
    folding, another set its own (a cache keyed wrongly would mix them up)."""
    plain, arabic = alias_folder(), alias_folder({"Phone": ["رقم الجوال"]})
    client = alias_folder({"Name": ["Client"], "Phone": ["Tel."]})
    assert arabic("رقم الجوال") == plain("Phone") == client("Tel.") == "phone"
    assert plain("رقم الجوال") != "phone" and client("رقم الجوال") != "phone"
    assert client("Client") == "name" and arabic("Client") == plain("Client") == "client"
    assert alias_folder({"Phone": ["رقم الجوال"]})("رقم الجوال") == "phone"  # the same set again
    assert plain("الاسم") == client("الاسم") == "name"  # a built-in spelling, in every set
