"""A1 ranges, cell values to and from the Sheets API, and grouping cells into few ranges."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from openpyxl.utils.cell import column_index_from_string

from sync.cells import CellValue, Grid, shown_value
from sync.rows import column_letter

_CELL = re.compile(r"^\$?([A-Za-z]+)\$?(\d+)$")


def column_index(letters: str) -> int:
    """Letters -> 0-based column index (A -> 0)."""
    return column_index_from_string(letters) - 1


def quote(title: str) -> str:
    """A tab title as an A1 sheet reference (always quoted, quotes doubled)."""
    return "'" + title.replace("'", "''") + "'"


def a1(
    title: str, row: int, col: int, last_row: int | None = None, last_col: int | None = None
) -> str:
    """``'Title'!B3`` or ``'Title'!B3:D5`` from 0-based, inclusive coordinates."""
    start = f"{column_letter(col)}{row + 1}"
    if last_row is None or last_col is None or (last_row, last_col) == (row, col):
        return f"{quote(title)}!{start}"
    return f"{quote(title)}!{start}:{column_letter(last_col)}{last_row + 1}"


def split_range(text: str) -> tuple[str, str]:
    """``'My tab'!A1:Z1000`` -> (``My tab``, ``A1:Z1000``)."""
    if text.startswith("'"):
        end = 1
        while True:
            end = text.index("'", end)
            if text[end + 1 : end + 2] == "'":
                end += 2
                continue
            break
        title = text[1:end].replace("''", "'")
        rest = text[end + 1 :]
    else:
        title, _, rest = text.partition("!")
        rest = "!" + rest if rest else ""
    return title, rest.removeprefix("!")


def range_start(text: str) -> tuple[str, int, int]:
    """``'Tab'!C5:D9`` -> (``Tab``, 4, 2): the title and the 0-based top-left cell."""
    title, cells = split_range(text)
    match = _CELL.match(cells.split(":")[0]) if cells else None
    if not match:
        return title, 0, 0
    return title, int(match.group(2)) - 1, column_index(match.group(1))


def grid_size(echo: str) -> tuple[int, int] | None:
    """(rows, columns) of a whole-sheet range echo like ``Tab!A1:AC1000``; None if unknown."""
    _, cells = split_range(echo)
    last = cells.split(":")[-1] if cells else ""
    match = _CELL.match(last)
    if not match:
        return None
    return int(match.group(2)), column_index(match.group(1)) + 1


# ---------------------------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------------------------


def from_api(value: Any) -> CellValue:
    """A cell as read with UNFORMATTED_VALUE / SERIAL_NUMBER ("" is an empty cell).

    An error value (``#N/A``: Sheets answers what a formula shows, errors as their text)
    reads as an :class:`~sync.cells.ErrorCell`, which is never taken as data.
    """
    if value == "" or value is None:
        return None
    if isinstance(value, str):
        return shown_value(value)
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    return str(value)


def grid_from_api(rows: Sequence[Sequence[Any]] | None) -> Grid:
    """Rows of a ValueRange as a grid (trailing empty cells and rows already dropped)."""
    return [[from_api(v) for v in row] for row in rows or []]


def to_api(value: CellValue) -> Any:
    """A value for a RAW write: strings stay text (``=x`` is not a formula), "" clears a cell.

    Dates are written as ISO text (``2026-01-15``), which reads back unambiguously whatever
    the sheet's locale and the column's format.
    """
    if value is None:
        return ""
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0, tzinfo=None).isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def serial(day: dt.date) -> int:
    """A date as a spreadsheet serial number (1899-12-30 is day 0), as Sheets stores it."""
    return (day - dt.date(1899, 12, 30)).days


# ---------------------------------------------------------------------------------------------
# grouping cells into ranges
# ---------------------------------------------------------------------------------------------

CellAt = tuple[str, int, int, CellValue]


def value_ranges(
    cells: Iterable[CellAt], *, gap: int = 3, widths: Mapping[str, int] | None = None
) -> list[dict[str, Any]]:
    """Group cells into few ``ValueRange``s for one ``values.batchUpdate``.

    Per tab and row, cells at most ``gap`` columns apart share one span (``null`` fills
    the holes: Sheets leaves a cell alone for ``null``); consecutive rows whose spans cover
    the same columns merge into one rectangle. The last value given for a cell wins.

    Args:
        widths: tab -> width; the rows of those tabs are sent whole (columns 0 to the
            width, ``null`` where nothing is written), so that a write asked to return
            its values shows each row entirely (see ``GoogleBackend.write``).
    """
    # A row is a list (``null`` where nothing is written): a cold master's 2.9 million
    # cells in dicts by column took several times the memory.
    by_tab: dict[str, dict[int, list[Any]]] = defaultdict(dict)
    for title, row, col, value in cells:
        rows = by_tab[title]
        line = rows.get(row)
        if line is None:
            line = rows[row] = []
        if col >= len(line):
            line.extend([None] * (col + 1 - len(line)))
        line[col] = to_api(value)
    out: list[dict[str, Any]] = []
    for title, rows in by_tab.items():
        spans: list[tuple[int, int, int, list[Any]]] = []  # (row, first col, last col, values)
        width = (widths or {}).get(title)
        for row in sorted(rows):
            line = rows[row]
            if width is not None:
                line.extend([None] * (width - len(line)))
                spans.append((row, 0, len(line) - 1, line))
                continue
            cols = [c for c, value in enumerate(line) if value is not None]
            start = prev = cols[0]
            following: list[int | None] = [*cols[1:], None]
            for nxt in following:
                if nxt is not None and nxt - prev <= gap:
                    prev = nxt
                    continue
                spans.append((row, start, prev, line[start : prev + 1]))
                if nxt is not None:
                    start = prev = nxt
        block: list[tuple[int, int, int, list[Any]]] = []
        for span in [*spans, None]:
            if (
                span is not None
                and block
                and span[0] == block[-1][0] + 1
                and span[1:3] == block[-1][1:3]
            ):
                block.append(span)
                continue
            if block:
                first, last = block[0], block[-1]
                out.append(
                    {
                        "range": a1(title, first[0], first[1], last[0], last[2]),
                        "majorDimension": "ROWS",
                        "values": [b[3] for b in block],
                    }
                )
            block = [span] if span is not None else []
    return out
