"""Plain data exchanged between the backends and the cycle: grids, snapshots, cell writes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from sync.words import Problem

CellValue = str | int | float | bool | dt.date | dt.datetime | None
Grid = list[list[CellValue]]


@dataclass
class SourceSnapshot:
    """Every tab of one spreadsheet as read in one request.

    Attributes:
        source: the source's address (a workbook path, a spreadsheet id, a memory key).
        version: an opaque fingerprint of the whole source at read time.
        tabs: tab title -> rows as read (row 0 is the sheet's first row). Trailing empty
            cells and rows may be missing; readers treat a missing cell as empty.
    """

    source: str
    version: str
    tabs: dict[str, Grid]


@dataclass(frozen=True)
class CellWrite:
    """One cell the cycle wants to change, with what it read there.

    The backend applies it only if, at write time, the row is still the one the
    cycle meant (every ``anchor`` pair matches) and the cell still holds ``old``.
    Otherwise the write is skipped and reported; the next cycle re-reads.

    Attributes:
        tab: tab title.
        header_row: 0-based index of the tab's header row as read.
        column: header text of the target column (matched case/space-insensitively).
            A column missing from the header row is added at its end.
        row: 0-based index of the row as read, or None to append a new row.
        old: the value read there ("" or None for a new row or a new column).
        new: the value to write. Strings are always written as text (RAW).
        anchor: (column header, value read) pairs identifying the row. An empty
            anchor means the position alone identifies it (sync-owned tabs).
        group: for appended rows, cells with the same group land on the same new row.
        col: 0-based column index for positional writes to sync-owned tabs (then
            ``column`` is ignored and the anchor must be empty).
    """

    tab: str
    header_row: int
    column: str
    row: int | None
    old: CellValue
    new: CellValue
    anchor: tuple[tuple[str, CellValue], ...] = ()
    group: str | None = None
    col: int | None = None


@dataclass
class WriteResult:
    """What a write did.

    Attributes:
        applied: cells set (or already holding the new value).
        skipped: writes not applied, with the reason.
        version: the source's fingerprint after the write.
        concurrent: the source changed between the cycle's read and this write; the
            next cycle must read it again even if nothing else changes.
    """

    applied: int = 0
    skipped: list[tuple[CellWrite, str]] = field(default_factory=list)
    version: str | None = None
    concurrent: bool = False


FORMULA_ERRORS = frozenset(
    {
        "#NULL!",
        "#DIV/0!",
        "#VALUE!",
        "#REF!",
        "#NAME?",
        "#NUM!",
        "#N/A",
        "#GETTING_DATA",
        "#SPILL!",
        "#CALC!",
        "#FIELD!",
        "#BLOCKED!",
        "#CONNECT!",
        "#BUSY!",
        "#UNKNOWN!",
        "#ERROR!",  # Google Sheets: a formula it cannot parse
    }
)
"""The error values a spreadsheet cell can show (Excel, LibreOffice, Google Sheets)."""


class NotData(str):
    """A cell whose text is not a value anyone typed: what a formula shows when it has
    nothing to show. It is a ``str``, so it compares, anchors and is written back as its
    text; parsing refuses it (:func:`sync.values.parse_value`), so it never becomes data."""

    def problem(self) -> str:
        """What is wrong with the cell and what to do, in plain words."""
        raise NotImplementedError


class ErrorCell(NotData):
    """An error value (``#N/A``, ``#REF!``, ...), shown by a formula or typed."""

    def problem(self) -> str:
        return Problem("formula_error", value=str(self))


class UncalculatedFormula(NotData):
    """A formula saved without its value (a file written by a program that does not
    calculate); the text is the formula, ``=`` included."""

    def problem(self) -> str:
        shown = str(self) if len(self) <= 40 else self[:39] + "…"
        return Problem("formula_unsaved", formula=shown)


def shown_value(text: str) -> str:
    """A text as read from a cell: an :class:`ErrorCell` when it is an error value."""
    return ErrorCell(text) if text in FORMULA_ERRORS else text


def is_blank(value: CellValue) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def cell_text(value: CellValue) -> str:
    """A cell's value as the text a person sees, for comparisons and anchors."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def same_cell(a: CellValue, b: CellValue) -> bool:
    """Whether two cell values show the same thing (None and "" are the same, 5 and 5.0 too)."""
    return cell_text(a) == cell_text(b)


def identical_cell(a: CellValue, b: CellValue) -> bool:
    """Whether writing ``b`` over ``a`` would change nothing at all (type included)."""
    if is_blank(a) and is_blank(b):
        return True
    return type(a) is type(b) and a == b


def cell_at(grid: Grid, row: int, col: int) -> CellValue:
    """One cell of a grid; None past its rows or cells."""
    if 0 <= row < len(grid) and 0 <= col < len(grid[row]):
        return grid[row][col]
    return None


def copy_tabs(tabs: Mapping[str, Grid]) -> dict[str, Grid]:
    """A copy of tabs' grids whose rows can be changed without changing the original's."""
    return {title: [list(row) for row in grid] for title, grid in tabs.items()}


def put_cell(grid: Grid, row: int, col: int, value: CellValue) -> None:
    """Set one cell of a grid, padding missing rows and cells with None."""
    while len(grid) <= row:
        grid.append([])
    cells = grid[row]
    if len(cells) <= col:
        cells.extend([None] * (col + 1 - len(cells)))
    cells[col] = value


def trim_grid(grid: Grid) -> Grid:
    """Strip, in place, the trailing blank cells of every row and the trailing empty rows."""
    for cells in grid:
        while cells and is_blank(cells[-1]):
            cells.pop()
    while grid and not grid[-1]:
        grid.pop()
    return grid
