"""Seeding spreadsheets from .xlsx workbooks and dumping them back (openpyxl)."""

from __future__ import annotations

import datetime as dt
from os import PathLike
from pathlib import Path
from typing import Any

from sheets_emulator.cells import (
    EPOCH,
    Formula,
    evaluate_formula,
    is_date_format,
    normalize_number,
    to_serial,
)
from sheets_emulator.model import DEFAULT_COLUMNS, DEFAULT_ROWS, Sheet, Store


def _format_of(number_format: str, is_date: bool) -> dict[str, Any] | None:
    if number_format == "@":
        return {"numberFormat": {"type": "TEXT", "pattern": "@"}}
    if is_date:
        return {"numberFormat": {"type": "DATE", "pattern": "yyyy-mm-dd"}}
    if number_format and number_format != "General":
        return {"numberFormat": {"type": "NUMBER", "pattern": number_format}}
    return None


def seed_from_xlsx(
    store: Store,
    path: str | PathLike[str],
    title: str | None = None,
    spreadsheet_id: str | None = None,
) -> str:
    """Create a spreadsheet holding every worksheet of the workbook at ``path``.

    Args:
        spreadsheet_id: the new spreadsheet's id (default: a fresh one); it must be free.
    """
    import openpyxl  # loaded when a workbook is seeded: the server starts without it

    wb = openpyxl.load_workbook(path, data_only=False)
    with store.lock:
        taken: set[int] = set()
        sheets = []
        for i, ws in enumerate(wb.worksheets):
            sheet_id = 0 if i == 0 else store.new_int_id(taken)
            taken.add(sheet_id)
            sheet = Sheet(
                sheet_id,
                ws.title,
                max(ws.max_row, DEFAULT_ROWS),
                max(ws.max_column, DEFAULT_COLUMNS),
            )
            for row in ws.iter_rows():
                for cell in row:
                    value: Any = cell.value
                    is_date = isinstance(value, (dt.datetime, dt.date))
                    fmt = _format_of(cell.number_format or "", is_date)
                    if value is None and fmt is None:
                        continue
                    target = sheet.row(cell.row - 1)
                    col = cell.column - 1
                    if isinstance(value, dt.datetime):
                        value = to_serial(value)
                    elif isinstance(value, dt.date):
                        value = to_serial(dt.datetime(value.year, value.month, value.day))
                    elif isinstance(value, str) and cell.data_type == "f":
                        value = Formula(value, evaluate_formula(value))
                    elif isinstance(value, (int, float)) and not isinstance(value, bool):
                        value = normalize_number(value)
                    elif isinstance(value, str) and value == "":
                        value = None
                    target.set(col, value)
                    target.set_fmt(col, fmt)
            sheets.append(sheet)
        if spreadsheet_id is not None and spreadsheet_id in store.files:
            raise ValueError(f"spreadsheet {spreadsheet_id} already exists")
        ss = store.create_spreadsheet(
            title or Path(path).stem, sheets=sheets or None, file_id=spreadsheet_id
        )
        store.touch(ss.spreadsheet_id)
        return ss.spreadsheet_id


def dump_to_xlsx(store: Store, spreadsheet_id: str, path: str | PathLike[str]) -> None:
    """Write every sheet of a spreadsheet to an .xlsx workbook at ``path``."""
    import openpyxl

    with store.lock:
        ss = store.spreadsheets[spreadsheet_id]
        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        for sheet in ss.sheets:
            ws = wb.create_sheet(sheet.title[:31])
            for r, row in enumerate(sheet.rows):
                for c in range(len(row.values)):
                    value = row.values[c]
                    fmt = row.fmt(c)
                    if value is None:
                        continue
                    cell = ws.cell(row=r + 1, column=c + 1)
                    if isinstance(value, Formula):
                        cell.value = value.text
                    elif is_date_format(fmt) and isinstance(value, (int, float)):
                        cell.value = EPOCH + dt.timedelta(days=float(value))
                        cell.number_format = "yyyy-mm-dd"
                    else:
                        cell.value = (
                            str(value) if not isinstance(value, (int, float, bool)) else value
                        )
                    nf = (fmt or {}).get("numberFormat") or {}
                    if nf.get("type") == "TEXT":
                        cell.number_format = "@"
        if not wb.worksheets:
            wb.create_sheet("Sheet1")
    wb.save(path)
