"""Range resolution, reading and writing cell values on a sheet's grid."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sheets_emulator import a1
from sheets_emulator.cells import Value, parse_raw, parse_user_entered, render
from sheets_emulator.errors import ApiError, bad_request, invalid_value
from sheets_emulator.model import Row, Sheet, Spreadsheet

CELL_CHARS = 50_000
"""The most characters Sheets takes in one cell; a longer value fails the whole request."""


@dataclass(frozen=True)
class Target:
    """A range resolved against a spreadsheet: a sheet and (possibly open) bounds."""

    sheet: Sheet
    bounds: a1.Bounds
    text: str  # the range as the caller wrote it
    anchor: bool = False  # a single cell without ':' (an origin for writes)

    def closed(self) -> tuple[int, int, int, int]:
        """Bounds closed against the sheet's grid."""
        return self.bounds.resolve(self.sheet.row_count, self.sheet.col_count)

    def echo(self) -> str:
        """The range as Google echoes it, clamped to the grid (``Sheet1!A1:Z1000``)."""
        r0, r1, c0, c1 = self.closed()
        return a1.format_range(
            self.sheet.title, r0, min(r1, self.sheet.row_count), c0, min(c1, self.sheet.col_count)
        )


def resolve(ss: Spreadsheet, text: str) -> Target:
    """Resolve an A1 range (``'My Sheet'!A1:B2``, ``Sheet1``, ``A1:B2``) or fail like Google."""
    try:
        title, cells = a1.split_sheet(text.strip())
    except a1.A1Error:
        raise bad_request(f"Unable to parse range: {text}") from None
    if title is None:
        assert cells is not None
        sheet = ss.sheet_by_title(cells)
        if sheet is not None:
            return Target(sheet, a1.WHOLE, text)
        if not ss.sheets:
            raise bad_request(f"Unable to parse range: {text}")
        sheet = ss.sheets[0]
    else:
        found = ss.sheet_by_title(title)
        if found is None:
            raise bad_request(f"Unable to parse range: {text}")
        sheet = found
    if cells is None:
        return Target(sheet, a1.WHOLE, text)
    try:
        bounds = a1.parse_cells(cells)
    except a1.A1Error:
        raise bad_request(f"Unable to parse range: {text}") from None
    return Target(sheet, bounds, text, anchor=":" not in cells)


def grid_error(sheet: Sheet, bounds: a1.Bounds, prefix: str = "") -> ApiError:
    """Google's 'exceeds grid limits' error."""
    return bad_request(
        f"{prefix}Range ({a1.format_open(sheet.title, bounds)}) exceeds grid limits. "
        f"Max rows: {sheet.row_count}, max columns: {sheet.col_count}"
    )


def check_in_grid(sheet: Sheet, bounds: a1.Bounds, prefix: str = "") -> None:
    """Fail when a range starts or ends outside the sheet's grid."""
    b = bounds
    if (
        (b.r0 is not None and b.r0 >= sheet.row_count)
        or (b.c0 is not None and b.c0 >= sheet.col_count)
        or (b.r1 is not None and b.r1 > sheet.row_count)
        or (b.c1 is not None and b.c1 > sheet.col_count)
    ):
        raise grid_error(sheet, bounds, prefix)


def grid_range_json(
    sheet_id: int, r0: int | None, r1: int | None, c0: int | None, c1: int | None
) -> dict[str, Any]:
    """A ``GridRange`` as Google answers it (``sheetId`` 0 omitted, open ends omitted)."""
    out: dict[str, Any] = {}
    if sheet_id:
        out["sheetId"] = sheet_id
    for key, val in (
        ("startRowIndex", r0),
        ("endRowIndex", r1),
        ("startColumnIndex", c0),
        ("endColumnIndex", c1),
    ):
        if val is not None:
            out[key] = val
    return out


def bounds_of(grid_range: dict[str, Any]) -> a1.Bounds:
    """Bounds of a ``GridRange`` JSON object."""
    return a1.Bounds(
        grid_range.get("startRowIndex"),
        grid_range.get("endRowIndex"),
        grid_range.get("startColumnIndex"),
        grid_range.get("endColumnIndex"),
    )


def sheet_of(ss: Spreadsheet, grid_range: dict[str, Any], where: str) -> Sheet:
    """The sheet a ``GridRange`` names (``sheetId`` defaults to 0)."""
    sheet = ss.sheet_by_id(int(grid_range.get("sheetId", 0) or 0))
    if sheet is None:
        raise bad_request(f"{where}No grid with id: {grid_range.get('sheetId', 0)}")
    return sheet


# ------------------------------------------------------------------ reading


def read(
    sheet: Sheet,
    r0: int,
    r1: int,
    c0: int,
    c1: int,
    *,
    option: str = "FORMATTED_VALUE",
    date_option: str = "SERIAL_NUMBER",
    major: str = "ROWS",
) -> list[list[Any]]:
    """Render a closed rectangle, dropping trailing empty cells and rows as Google does."""
    r1 = min(r1, len(sheet.rows), sheet.row_count)
    c1 = min(c1, sheet.col_count)
    while r1 > r0 and all(v is None for v in sheet.rows[r1 - 1].values[c0:c1]):
        r1 -= 1  # empty rows at the end are not answered
    if major == "COLUMNS":
        grid: list[list[Value]] = []
        fmts: list[list[dict[str, Any] | None]] = []
        for r in range(r0, r1):
            row = sheet.rows[r]
            vals = row.values[c0:c1]
            grid.append(vals)
            fmts.append([row.fmt(c) for c in range(c0, c0 + len(vals))] if row.formats else [])
        width = max((len(v) for v in grid), default=0)
        out: list[list[Any]] = []
        for j in range(width):
            col = [grid[i][j] if j < len(grid[i]) else None for i in range(len(grid))]
            col_fmt = [fmts[i][j] if j < len(fmts[i]) else None for i in range(len(grid))]
            out.append(_render_line(col, col_fmt.__getitem__, option, date_option))
    else:
        # Row by row, looking up a format only for the cells that hold a value (a sheet's
        # rows carry the formats and rules of whole columns, most of them past its data).
        def fmt_at(row: Row) -> Callable[[int], dict[str, Any] | None]:
            return lambda i: row.fmt(c0 + i)

        out = [
            _render_line(row.values[c0:c1], fmt_at(row), option, date_option)
            for row in sheet.rows[r0:r1]
        ]
    while out and not out[-1]:
        out.pop()
    return out


def _render_line(
    vals: list[Value],
    fmt_at: Callable[[int], dict[str, Any] | None],
    option: str,
    date_option: str,
) -> list[Any]:
    """A row's or column's values as answered, trailing empty cells dropped (``fmt_at``: the
    format of the value at an index, asked only for the cells kept)."""
    end = len(vals)
    while end and vals[end - 1] is None:
        end -= 1
    return [render(vals[i], fmt_at(i), option, date_option) for i in range(end)]


def value_range(target: Target, query: dict[str, Any]) -> dict[str, Any]:
    """A ``ValueRange`` response for ``target`` with the render options of ``query``."""
    sheet = target.sheet
    check_in_grid(sheet, target.bounds)
    r0, r1, c0, c1 = target.closed()
    major = query.get("majorDimension") or "ROWS"
    out: dict[str, Any] = {"range": target.echo(), "majorDimension": major}
    values = read(
        sheet,
        r0,
        r1,
        c0,
        c1,
        option=query.get("valueRenderOption") or "FORMATTED_VALUE",
        date_option=query.get("dateTimeRenderOption") or "SERIAL_NUMBER",
        major=major,
    )
    if values:
        out["values"] = values
    return out


# ------------------------------------------------------------------ writing


def normalize_values(values: Any, major: str | None, field: str = "data.values") -> list[list[Any]]:
    """Validate a ``values`` payload (list of lists) and transpose COLUMNS input."""
    if values is None:
        return []
    if not isinstance(values, list):
        raise invalid_value(field, values, "type.googleapis.com/google.protobuf.ListValue")
    rows: list[list[Any]] = []
    for i, line in enumerate(values):
        if not isinstance(line, list):
            raise invalid_value(
                f"{field}[{i}]", line, "type.googleapis.com/google.protobuf.ListValue"
            )
        rows.append(line)
    if major == "COLUMNS":
        width = max((len(r) for r in rows), default=0)
        rows = [[c[i] if i < len(c) else None for c in rows] for i in range(width)]
    return rows


def write(sheet: Sheet, r0: int, c0: int, rows: list[list[Any]], input_option: str) -> None:
    """Store ``rows`` from ``(r0, c0)``: ``None`` leaves a cell unchanged, ``""`` clears it."""
    user = input_option == "USER_ENTERED"
    for i, line in enumerate(rows):
        if not line:
            continue
        row = sheet.row(r0 + i)
        for j, raw in enumerate(line):
            if raw is None:
                continue
            c = c0 + j
            if isinstance(raw, (dict, list)):
                raise invalid_value("data.values", raw, "type.googleapis.com/google.protobuf.Value")
            if isinstance(raw, str) and len(raw) > CELL_CHARS:
                raise bad_request(
                    f"Your input contains more than the maximum of {CELL_CHARS} characters "
                    "in a single cell."
                )
            if user:
                value, auto = parse_user_entered(raw, row.fmt(c))
                if auto is not None:
                    current = dict(row.fmt(c) or {})
                    if "numberFormat" not in current:
                        current["numberFormat"] = auto
                        row.set_fmt(c, current)
            else:
                value = parse_raw(raw)
            row.set(c, value)


def write_stats(r0: int, c0: int, rows: list[list[Any]]) -> tuple[int, int, int, int, int]:
    """(rows, columns, cells, end_row, end_col) of a write of ``rows`` at ``(r0, c0)``.

    The end is the extent of the values array; the counts, as Google reports them, only
    include cells that were not ``null`` (``null`` leaves a cell unchanged).
    """
    height = len(rows)
    width = max((len(r) for r in rows), default=0)
    used_rows = sum(1 for r in rows if any(v is not None for v in r))
    used_cols = sum(1 for j in range(width) if any(j < len(r) and r[j] is not None for r in rows))
    cells = sum(1 for r in rows for v in r if v is not None)
    return used_rows, used_cols, cells, r0 + height, c0 + width


def update_target(
    target: Target, rows: list[list[Any]], input_option: str, prefix: str = ""
) -> dict[str, Any]:
    """values.update semantics: bound checks, grid checks, then the write. Returns the reply."""
    sheet = target.sheet
    b = target.bounds
    r0, c0 = b.r0 or 0, b.c0 or 0
    n_rows, n_cols, cells, end_r, end_c = write_stats(r0, c0, rows)
    if not target.anchor and b != a1.WHOLE:
        if b.r1 is not None and end_r > b.r1:
            raise bad_request(
                f"{prefix}Requested writing within range [{target.text}], "
                f"but tried writing to row [{end_r}]"
            )
        if b.c1 is not None and end_c > b.c1:
            raise bad_request(
                f"{prefix}Requested writing within range [{target.text}], "
                f"but tried writing to column [{a1.col_letters(end_c - 1)}]"
            )
    check_in_grid(sheet, a1.Bounds(r0, max(end_r, r0 + 1), c0, max(end_c, c0 + 1)), prefix)
    write(sheet, r0, c0, rows, input_option)
    reply: dict[str, Any] = {}
    if end_r > r0 and end_c > c0:
        reply = {
            "updatedRange": a1.format_range(sheet.title, r0, end_r, c0, end_c),
            "updatedRows": n_rows,
            "updatedColumns": n_cols,
            "updatedCells": cells,
        }
    return reply


def clear(sheet: Sheet, r0: int, r1: int, c0: int, c1: int) -> None:
    """Clear values (not formats) in a closed rectangle."""
    for r in range(r0, min(r1, len(sheet.rows))):
        row = sheet.rows[r]
        if len(row.values) <= c0:
            continue
        if c1 >= len(row.values):
            del row.values[c0:]
        else:
            for c in range(c0, c1):
                row.values[c] = None
        while row.values and row.values[-1] is None:
            row.values.pop()


# ------------------------------------------------------------------ append


def _nonempty(sheet: Sheet, r: int, c: int) -> bool:
    return 0 <= r < len(sheet.rows) and c >= 0 and sheet.rows[r].get(c) is not None


def find_table(
    sheet: Sheet, r0: int, r1: int, c0: int, c1: int
) -> tuple[int, int, int, int] | None:
    """Find the 'table' values.append appends to.

    The last non-empty row inside the range, its last run of adjacent non-empty cells, grown
    to the whole contiguous region around it (as Sheets' table detection does).
    """
    last = None
    for r in range(min(r1, len(sheet.rows)) - 1, r0 - 1, -1):
        vals = sheet.rows[r].values
        if any(vals[c] is not None for c in range(c0, min(c1, len(vals)))):
            last = r
            break
    if last is None:
        return None
    vals = sheet.rows[last].values
    end = max(c for c in range(c0, min(c1, len(vals))) if vals[c] is not None)
    start = end
    while start - 1 >= c0 and vals[start - 1] is not None:
        start -= 1
    top, bottom, left, right = last, last + 1, start, end + 1
    changed = True
    while changed:
        changed = False
        if top > 0 and any(_nonempty(sheet, top - 1, c) for c in range(left - 1, right + 1)):
            top -= 1
            changed = True
        if any(_nonempty(sheet, bottom, c) for c in range(left - 1, right + 1)):
            bottom += 1
            changed = True
        if left > 0 and any(_nonempty(sheet, r, left - 1) for r in range(top - 1, bottom + 1)):
            left -= 1
            changed = True
        if right < sheet.col_count and any(
            _nonempty(sheet, r, right) for r in range(top - 1, bottom + 1)
        ):
            right += 1
            changed = True
    return top, bottom, left, right
