"""Structural edits of a sheet: inserting/deleting rows and columns, resizing, sorting."""

from __future__ import annotations

import functools
from typing import Any

from sheets_emulator.cells import CellError, Formula, Value
from sheets_emulator.model import Row, Sheet


def _moved(index: int, start: int, delta: int) -> int:
    """Where a range boundary lands after deleting ``-delta`` lines from ``start``."""
    end = start - delta
    if index <= start:
        return index
    return start if index <= end else index + delta


def _shift_ranges(sheet: Sheet, rows: bool, start: int, delta: int) -> None:
    """Shift protected ranges and conditional formats after inserting (delta > 0) or
    deleting (delta < 0) lines; a range whose lines were all deleted goes (and a
    conditional format left without ranges)."""
    keys = ("startRowIndex", "endRowIndex") if rows else ("startColumnIndex", "endColumnIndex")
    sheet.protected = [pr for pr in sheet.protected if _shifted(pr["range"], keys, start, delta)]
    kept = []
    for rule in sheet.conditional:
        rule["ranges"] = [gr for gr in rule["ranges"] if _shifted(gr, keys, start, delta)]
        if rule["ranges"]:
            kept.append(rule)
    sheet.conditional = kept


def _shifted(gr: dict[str, Any], keys: tuple[str, str], start: int, delta: int) -> bool:
    """Shift one grid range in place; False when it lost all its lines."""
    lo_key, hi_key = keys
    lo, hi = gr.get(lo_key), gr.get(hi_key)
    if delta > 0:
        if lo is not None and lo >= start:
            gr[lo_key] = lo + delta
        if hi is not None and hi > start:
            gr[hi_key] = hi + delta
        return True
    if lo is not None:
        gr[lo_key] = _moved(lo, start, delta)
    if hi is not None:
        gr[hi_key] = _moved(hi, start, delta)
    return not (lo is not None and hi is not None and gr[lo_key] >= gr[hi_key])


def insert_rows(sheet: Sheet, start: int, count: int, inherit_before: bool) -> None:
    """Insert ``count`` empty rows before row ``start``."""
    if start < len(sheet.rows):
        new_rows = [Row() for _ in range(count)]
        source = sheet.rows[start - 1] if inherit_before and start > 0 else sheet.rows[start]
        if source.formats:
            for r in new_rows:
                r.formats = dict(source.formats)
        sheet.rows[start:start] = new_rows
    sheet.row_count += count
    _shift_ranges(sheet, True, start, count)


def delete_rows(sheet: Sheet, start: int, end: int) -> None:
    """Delete rows ``[start, end)``; metadata on them goes with them."""
    del sheet.rows[start:end]
    sheet.row_count -= end - start
    _shift_ranges(sheet, True, start, -(end - start))


def insert_columns(sheet: Sheet, start: int, count: int, inherit_before: bool) -> None:
    """Insert ``count`` empty columns before column ``start``."""
    for row in sheet.rows:
        if len(row.values) > start:
            row.values[start:start] = [None] * count
        for attr in ("formats", "rules", "notes"):
            cells: dict[int, Any] | None = getattr(row, attr)
            if cells:
                moved = {(c + count if c >= start else c): v for c, v in cells.items()}
                src = start - 1 if inherit_before else start
                if attr == "formats" and src in cells:
                    for c in range(start, start + count):
                        moved[c] = cells[src]
                setattr(row, attr, moved)
    sheet.col_meta = {(c + count if c >= start else c): v for c, v in sheet.col_meta.items()}
    sheet.col_sizes = {(c + count if c >= start else c): v for c, v in sheet.col_sizes.items()}
    sheet.col_count += count
    _shift_ranges(sheet, False, start, count)


def delete_columns(sheet: Sheet, start: int, end: int) -> None:
    """Delete columns ``[start, end)``."""
    n = end - start
    for row in sheet.rows:
        del row.values[start:end]
        while row.values and row.values[-1] is None:
            row.values.pop()
        for attr in ("formats", "rules", "notes"):
            cells = getattr(row, attr)
            if cells:
                moved = {
                    (c - n if c >= end else c): v for c, v in cells.items() if not start <= c < end
                }
                setattr(row, attr, moved or None)
    sheet.col_meta = {
        (c - n if c >= end else c): v for c, v in sheet.col_meta.items() if not start <= c < end
    }
    sheet.col_sizes = {
        (c - n if c >= end else c): v for c, v in sheet.col_sizes.items() if not start <= c < end
    }
    sheet.col_count -= n
    _shift_ranges(sheet, False, start, -n)


def resize(sheet: Sheet, rows: int | None, cols: int | None) -> None:
    """Set the grid size, dropping what falls outside (like updateSheetProperties)."""
    if rows is not None and rows < sheet.row_count:
        del sheet.rows[rows:]
        sheet.row_count = rows
    elif rows is not None:
        sheet.row_count = rows
    if cols is not None and cols < sheet.col_count:
        for row in sheet.rows:
            del row.values[cols:]
            while row.values and row.values[-1] is None:
                row.values.pop()
            for attr in ("formats", "rules", "notes"):
                cells = getattr(row, attr)
                if cells:
                    setattr(row, attr, {c: v for c, v in cells.items() if c < cols} or None)
        sheet.col_meta = {c: v for c, v in sheet.col_meta.items() if c < cols}
        sheet.col_count = cols
    elif cols is not None:
        sheet.col_count = cols


def _sort_key(value: Value) -> tuple[int, Any]:
    if isinstance(value, Formula):
        value = value.value
    if isinstance(value, CellError):
        return (3, str(value))
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value).lower())


def sort_rows(
    sheet: Sheet,
    r0: int,
    r1: int,
    c0: int,
    c1: int,
    specs: list[dict[str, Any]],
    *,
    move_metadata: bool = False,
) -> None:
    """sortRange: reorder the cells of rows ``[r0, r1)`` within columns ``[c0, c1)``.

    Blank keys sort last in either order; the sort is stable. Row metadata stays with the row
    position unless ``move_metadata`` is set.
    """
    r1 = min(r1, sheet.row_count)
    lines = []
    for r in range(r0, r1):
        row = sheet.row(r)
        vals = [row.get(c) for c in range(c0, c1)]
        fmts = [row.fmt(c) for c in range(c0, c1)]
        rules = [row.rule(c) for c in range(c0, c1)]
        notes = [row.note(c) for c in range(c0, c1)]
        lines.append((vals, fmts, rules, notes, row.meta))

    def compare(a: tuple[Any, ...], b: tuple[Any, ...]) -> int:
        for spec in specs:
            idx = int(spec.get("dimensionIndex", 0)) - c0
            va = a[0][idx] if 0 <= idx < len(a[0]) else None
            vb = b[0][idx] if 0 <= idx < len(b[0]) else None
            if va is None and vb is None:
                continue
            if va is None:
                return 1
            if vb is None:
                return -1
            ka, kb = _sort_key(va), _sort_key(vb)
            if ka == kb:
                continue
            result = -1 if ka < kb else 1
            return -result if spec.get("sortOrder") == "DESCENDING" else result
        return 0

    ordered = sorted(lines, key=functools.cmp_to_key(compare))
    for i, (vals, fmts, rules, notes, meta) in enumerate(ordered):
        row = sheet.row(r0 + i)
        for j, c in enumerate(range(c0, c1)):
            row.set(c, vals[j])
            row.set_fmt(c, fmts[j])
            row.set_rule(c, rules[j])
            row.set_note(c, notes[j])
        if move_metadata:
            row.meta = meta
