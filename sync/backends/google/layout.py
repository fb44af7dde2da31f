"""Sheet set-up (``init``) and layout drift (``check``) for the Google backend.

Two reads — the tab list with protected ranges, then the first 11 rows of the existing tabs
with their formats and validation — and, when something is missing, ONE atomic
``spreadsheets.batchUpdate``: new tabs (header row bold), missing header columns, a frozen
header row and a filter on every tab, phone columns formatted as plain text, dropdowns (a
list validation that warns, as the .xlsx backend does), header notes, and sync/admin-owned
columns protected (only the service account and the spreadsheet's owner may edit them).
Data is never touched.

One module at this size because ``init`` and ``check`` are one plan (what a spreadsheet
lacks, from the same two reads): one applies it, the other reports it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from openpyxl.utils import get_column_letter

from sync.backends.google.api import SHEETS, GoogleApi, TransientFailure
from sync.backends.google.spec import SourceSpec
from sync.backends.google.values import quote
from sync.cells import CellValue, Grid
from sync.sheets import (
    CellSet,
    DueHighlight,
    TabHeader,
    alias_folder,
    column_width,
    find_header_row,
    find_tab,
)


class Spreadsheets(Protocol):
    """What the layout work needs of the backend: its API and its cache of sheet ids."""

    api: GoogleApi

    def remember_sheets(self, sid: str, sheets: Sequence[Mapping[str, Any]]) -> None: ...

    def forget(self, sid: str) -> None: ...


NEW_TAB_ROWS = 1000
PROBE_ROWS = 11  # header search looks at the first 10 rows, plus the first data row


def protection_key(logical: str, header: str) -> str:
    """The description that marks a protected range as sheetsync's."""
    return f"sheetsync: {logical}/{header} is filled by sheetsync"


@dataclass
class _Tab:
    """What the reads told about one existing tab."""

    sheet_id: int
    title: str
    rows: int
    cols: int
    frozen: int
    filtered: bool = False  # has a basic filter
    right_to_left: bool = False
    cells: list[list[dict[str, Any]]] = field(default_factory=list)
    due: set[str] = field(default_factory=set)  # formulas of its conditional formats

    def grid(self) -> Grid:
        out: Grid = []
        for row in self.cells:
            values: list[CellValue] = [c.get("formattedValue") for c in row]
            out.append(values)
        return out

    def cell(self, row: int, col: int) -> dict[str, Any]:
        if 0 <= row < len(self.cells) and 0 <= col < len(self.cells[row]):
            return self.cells[row][col]
        return {}


@dataclass
class _Plan:
    requests: list[dict[str, Any]] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


def _range(sheet_id: int, first_row: int, col: int) -> dict[str, Any]:
    """A column from ``first_row`` down to the end of the sheet (no end row: unbounded)."""
    return {
        "sheetId": sheet_id,
        "startRowIndex": first_row,
        "startColumnIndex": col,
        "endColumnIndex": col + 1,
    }


def _rgb(color: str) -> dict[str, float]:
    """An RRGGBB colour as the API's ``Color`` (red, green, blue from 0 to 1)."""
    return {k: int(color[i : i + 2], 16) / 255 for k, i in (("red", 0), ("green", 2), ("blue", 4))}


def _header_cells(sheet_id: int, row: int, col: int, names: Sequence[str]) -> dict[str, Any]:
    return {
        "updateCells": {
            "range": {
                "sheetId": sheet_id,
                "startRowIndex": row,
                "endRowIndex": row + 1,
                "startColumnIndex": col,
                "endColumnIndex": col + len(names),
            },
            "rows": [
                {
                    "values": [
                        {
                            "userEnteredValue": {"stringValue": name},
                            "userEnteredFormat": {"textFormat": {"bold": True}},
                        }
                        for name in names
                    ]
                }
            ],
            "fields": "userEnteredValue,userEnteredFormat.textFormat.bold",
        }
    }


def _is_text(cell: Mapping[str, Any]) -> bool:
    fmt = cell.get("userEnteredFormat", {}).get("numberFormat", {})
    return bool(fmt.get("type") == "TEXT")


def _list_of(cell: Mapping[str, Any]) -> list[str] | None:
    condition = cell.get("dataValidation", {}).get("condition", {})
    if condition.get("type") != "ONE_OF_LIST":
        return None
    return [str(v.get("userEnteredValue", "")) for v in condition.get("values", [])]


def _formats(
    plan: _Plan,
    tab: _Tab,
    logical: str,
    header_row: int,
    columns: Mapping[str, int],
    text: Sequence[str],
    dropdowns: Mapping[str, Sequence[str]],
    protected: Sequence[str],
    ranges: Sequence[Mapping[str, Any]],
    editor: str | None = None,
    notes: Mapping[str, str] = MappingProxyType({}),
    highlights: Sequence[DueHighlight] = (),
    colors: Mapping[str, str] = MappingProxyType({}),
) -> None:
    """Plan the text formats, dropdowns, protected ranges, highlights and header colours
    one tab lacks.

    ``editor`` (the service account) is named as the protected ranges' only editor; Google
    adds the spreadsheet's owner, who can always edit. Without it (OAuth user credentials)
    Google's default applies: the account that adds the protection, and the owner.
    """
    probe = header_row + 1
    sid = tab.sheet_id
    for name, color in colors.items():
        col = columns[name]
        wanted = _rgb(color)
        shown = tab.cell(header_row, col).get("userEnteredFormat", {}).get("backgroundColor", {})
        if all(abs(shown.get(k, 0.0) - v) < 1 / 512 for k, v in wanted.items()):
            continue
        plan.requests.append(
            {
                "repeatCell": {
                    "range": {**_range(sid, header_row, col), "endRowIndex": header_row + 1},
                    "cell": {"userEnteredFormat": {"backgroundColor": wanted}},
                    "fields": "userEnteredFormat.backgroundColor",
                }
            }
        )
        plan.changes.append(f"coloured {tab.title}/{name}")
    for name, note in notes.items():
        col = columns[name]
        if tab.cell(header_row, col).get("note") != note:
            plan.requests.append(
                {
                    "updateCells": {
                        "range": {
                            "sheetId": sid,
                            "startRowIndex": header_row,
                            "endRowIndex": header_row + 1,
                            "startColumnIndex": col,
                            "endColumnIndex": col + 1,
                        },
                        "rows": [{"values": [{"note": note}]}],
                        "fields": "note",
                    }
                }
            )
            plan.changes.append(f"noted {tab.title}/{name}")
    for name in text:
        col = columns[name]
        if not _is_text(tab.cell(probe, col)):
            plan.requests.append(
                {
                    "repeatCell": {
                        "range": _range(sid, probe, col),
                        "cell": {"userEnteredFormat": {"numberFormat": {"type": "TEXT"}}},
                        "fields": "userEnteredFormat.numberFormat",
                    }
                }
            )
            plan.changes.append(f"formatted {tab.title}/{name} as text")
    for name, values in dropdowns.items():
        col = columns[name]
        if _list_of(tab.cell(probe, col)) != [str(v) for v in values]:
            rule = {
                "condition": {
                    "type": "ONE_OF_LIST",
                    "values": [{"userEnteredValue": str(v)} for v in values],
                },
                "strict": False,
                "showCustomUi": True,
            }
            plan.requests.append(
                {"setDataValidation": {"range": _range(sid, probe, col), "rule": rule}}
            )
            plan.changes.append(f"set dropdown of {tab.title}/{name}")
    for name in protected:
        col = columns[name]
        key = protection_key(logical, name)
        wanted = _range(sid, header_row, col)
        mine = [r for r in ranges if r.get("description") == key]
        good = [
            r
            for r in mine
            if not r.get("warningOnly")
            and {k: r.get("range", {}).get(k, 0) for k in wanted} == wanted
            and "endRowIndex" not in r.get("range", {})
        ]
        if good:
            continue
        if mine:
            repaired: dict[str, Any] = {
                "protectedRangeId": mine[0]["protectedRangeId"],
                "range": wanted,
                "warningOnly": False,
            }
            if editor:
                repaired["editors"] = {"users": [editor]}
            fields = "range,warningOnly" + (",editors" if editor else "")
            plan.requests.append(
                {"updateProtectedRange": {"protectedRange": repaired, "fields": fields}}
            )
        else:
            protection: dict[str, Any] = {
                "range": wanted,
                "description": key,
                "warningOnly": False,
            }
            if editor:
                protection["editors"] = {"users": [editor]}
            plan.requests.append({"addProtectedRange": {"protectedRange": protection}})
        plan.changes.append(f"protected {tab.title}/{name} (only sheetsync edits it)")
    for due in highlights:
        if due.column not in columns or due.unless_column not in columns:
            continue
        col = columns[due.column]
        letters = get_column_letter(col + 1), get_column_letter(columns[due.unless_column] + 1)
        formula = due.formula(*letters, probe + 1)
        if formula in tab.due:
            continue
        rule = {
            "ranges": [_range(sid, probe, col)],
            "booleanRule": {
                "condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": formula}]},
                "format": {"backgroundColor": _rgb(due.color)},
            },
        }
        plan.requests.append({"addConditionalFormatRule": {"rule": rule, "index": 0}})
        plan.changes.append(f"highlighted {due.what} {tab.title}/{due.column}")


PIXELS_PER_CHARACTER = 7
"""About the width of a character of Sheets' default font (Arial 10), in pixels."""


def _widths(
    sheet_id: int, columns: Sequence[tuple[int, str]], widths: Mapping[str, int]
) -> list[dict[str, Any]]:
    """Size the columns ``columns`` (index, header) made now to fit what they typically hold
    (``widths``: header -> characters; the header itself otherwise)."""
    requests = []
    for col, header in columns:
        size = {"pixelSize": column_width(header, widths) * PIXELS_PER_CHARACTER + 10}
        span = {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": col, "endIndex": col + 1}
        body = {"range": span, "properties": size, "fields": "pixelSize"}
        requests.append({"updateDimensionProperties": body})
    return requests


def _filter(sheet_id: int, header_row: int) -> dict[str, Any]:
    """A basic filter on every column, from the header row down."""
    grid_range = {"sheetId": sheet_id, "startRowIndex": header_row}
    return {"setBasicFilter": {"filter": {"range": grid_range}}}


def ensure_layout(
    backend: Spreadsheets,
    spec: SourceSpec,
    tabs: Mapping[str, Sequence[str]],
    *,
    text_columns: Mapping[str, Sequence[str]],
    dropdowns: Mapping[str, Mapping[str, Sequence[str]]],
    protected: Mapping[str, Sequence[str]],
    aliases: Mapping[str, Sequence[str]],
    notes: Mapping[str, Mapping[str, str]] = MappingProxyType({}),
    highlights: Mapping[str, Sequence[DueHighlight]] = MappingProxyType({}),
    widths: Mapping[str, Mapping[str, int]] = MappingProxyType({}),
    header_colors: Mapping[str, Mapping[str, str]] = MappingProxyType({}),
    right_to_left: bool = False,
    dry_run: bool = False,
) -> list[str]:
    """See :meth:`GoogleBackend.ensure_layout`.

    The set-up request is not blindly resent when its answer is lost (adding a tab twice
    fails): the spreadsheet is looked at again and what is still missing is planned anew.
    """
    attempt = 0  # rounds re-planned from a fresh read (not tenacity's resend of one request)
    first: list[str] | None = None  # what this call set out to change
    while True:
        plan = _plan(
            backend,
            spec,
            tabs,
            text_columns,
            dropdowns,
            protected,
            aliases,
            notes,
            highlights,
            widths,
            header_colors,
            right_to_left,
        )
        if dry_run:
            return plan.changes
        if first is None:
            first = plan.changes
        if not plan.requests:
            return first
        try:
            backend.api.call(
                "sheets.spreadsheets.batchUpdate",
                "POST",
                f"{SHEETS}/{spec.spreadsheet}:batchUpdate",
                body={"requests": plan.requests},
                where=spec.where,
                retry=False,
            )
        except TransientFailure as failure:
            if attempt >= backend.api.retry.max_retries:
                raise failure.error from None
            backend.api.retry.wait(attempt, failure.transient.retry_after)
            attempt += 1
            continue
        finally:
            backend.forget(spec.spreadsheet)
        return first


def _plan(
    backend: Spreadsheets,
    spec: SourceSpec,
    tabs: Mapping[str, Sequence[str]],
    text_columns: Mapping[str, Sequence[str]],
    dropdowns: Mapping[str, Mapping[str, Sequence[str]]],
    protected: Mapping[str, Sequence[str]],
    aliases: Mapping[str, Sequence[str]],
    notes: Mapping[str, Mapping[str, str]],
    highlights: Mapping[str, Sequence[DueHighlight]],
    widths: Mapping[str, Mapping[str, int]],
    header_colors: Mapping[str, Mapping[str, str]],
    right_to_left: bool = False,
) -> _Plan:
    """Read the spreadsheet (two reads) and plan what its layout lacks."""
    api = backend.api
    sid = spec.spreadsheet
    meta = api.call(
        "sheets.spreadsheets.get",
        "GET",
        f"{SHEETS}/{sid}",
        params={
            "fields": "sheets(properties(sheetId,title,gridProperties,rightToLeft),"
            "protectedRanges(protectedRangeId,description,warningOnly,range),"
            "conditionalFormats(booleanRule(condition(values))),basicFilter(range))"
        },
        where=spec.where,
    )
    sheets = meta.get("sheets", [])
    backend.remember_sheets(sid, sheets)
    known: dict[str, _Tab] = {}
    protections: dict[int, list[Mapping[str, Any]]] = {}
    for sheet in sheets:
        props = sheet["properties"]
        grid = props.get("gridProperties", {})
        tab = _Tab(
            int(props.get("sheetId", 0)),
            props["title"],
            int(grid.get("rowCount", 0)),
            int(grid.get("columnCount", 0)),
            int(grid.get("frozenRowCount", 0)),
        )
        tab.filtered = "basicFilter" in sheet
        tab.right_to_left = bool(props.get("rightToLeft"))
        known[tab.title] = tab
        protections[tab.sheet_id] = list(sheet.get("protectedRanges", []))
        for rule in sheet.get("conditionalFormats", []):
            condition = rule.get("booleanRule", {}).get("condition", {})
            tab.due.update(v.get("userEnteredValue", "") for v in condition.get("values", []))
    found = {logical: find_tab(known, spec.title(logical)) for logical in tabs}
    probes = [
        f"{quote(t)}!1:{min(PROBE_ROWS, known[t].rows)}"
        for t in found.values()
        if t is not None and known[t].rows
    ]
    if probes:
        data = api.call(
            "sheets.spreadsheets.get",
            "GET",
            f"{SHEETS}/{sid}",
            params={
                "ranges": probes,
                "includeGridData": "true",
                "fields": "sheets(properties(title),data(rowData(values("
                "formattedValue,note,userEnteredFormat(numberFormat,backgroundColor),"
                "dataValidation))))",
            },
            where=spec.where,
        )
        for sheet in data.get("sheets", []):
            title = sheet.get("properties", {}).get("title", "")
            if title in known:
                rows = (sheet.get("data") or [{}])[0].get("rowData", [])
                known[title].cells = [list(r.get("values", [])) for r in rows]

    plan = _Plan()
    fold = alias_folder(aliases)
    taken = {t.sheet_id for t in known.values()}
    rng = random.Random()
    for logical, headers in tabs.items():
        title = found[logical]
        text = text_columns.get(logical, ())
        lists = dropdowns.get(logical, {})
        owned = protected.get(logical, ())
        noted = notes.get(logical, {})
        due = highlights.get(logical, ())
        sized = widths.get(logical, {})
        colored = header_colors.get(logical, {})
        if title is None:
            sheet_id = rng.randrange(1, 2**31 - 1)
            while sheet_id in taken:
                sheet_id = rng.randrange(1, 2**31 - 1)
            taken.add(sheet_id)
            new = _Tab(sheet_id, spec.title(logical), NEW_TAB_ROWS, max(26, len(headers)), 1)
            plan.requests.append(
                {
                    "addSheet": {
                        "properties": {
                            "sheetId": sheet_id,
                            "title": new.title,
                            "gridProperties": {
                                "rowCount": new.rows,
                                "columnCount": new.cols,
                                "frozenRowCount": 1,
                            },
                            **({"rightToLeft": True} if right_to_left else {}),
                        }
                    }
                }
            )
            plan.requests.append(_header_cells(sheet_id, 0, 0, list(headers)))
            plan.requests.append(_filter(sheet_id, 0))
            plan.requests += _widths(sheet_id, [(c, str(h)) for c, h in enumerate(headers)], sized)
            columns = {name: i for i, name in enumerate(headers)}
            quiet = _Plan()
            _formats(
                quiet,
                new,
                logical,
                0,
                columns,
                text,
                lists,
                owned,
                [],
                api.identity,
                noted,
                due,
                colored,
            )
            plan.requests += quiet.requests
            plan.changes.append(f"added tab {new.title}")
            continue
        tab = known[title]
        grid = tab.grid()
        row = find_header_row(grid, headers, spec.where, title, fold)
        header = TabHeader(grid, row, fold)
        added: list[CellSet] = []
        for name in headers:
            if header.find(name) is None:
                header.add(grid, name, added, title)
                plan.changes.append(f"added column {name} to {title}")
        if added:
            width = max(c for _, _, c, _ in added) + 1
            if width > tab.cols:
                plan.requests.append(
                    {
                        "appendDimension": {
                            "sheetId": tab.sheet_id,
                            "dimension": "COLUMNS",
                            "length": width - tab.cols,
                        }
                    }
                )
            for _, r, c, value in added:
                plan.requests.append(_header_cells(tab.sheet_id, r, c, [str(value)]))
            made = [(c, str(value)) for _, _, c, value in added]
            plan.requests += _widths(tab.sheet_id, made, sized)
        if tab.frozen < row + 1:
            plan.requests.append(
                {
                    "updateSheetProperties": {
                        "properties": {
                            "sheetId": tab.sheet_id,
                            "gridProperties": {"frozenRowCount": row + 1},
                        },
                        "fields": "gridProperties.frozenRowCount",
                    }
                }
            )
            plan.changes.append(f"froze the header row of {title}")
        if not tab.filtered:  # an agent's own filter is kept
            plan.requests.append(_filter(tab.sheet_id, row))
            plan.changes.append(f"added a filter to {title}")
        if right_to_left and not tab.right_to_left:  # an Arabic sheet
            plan.requests.append(
                {
                    "updateSheetProperties": {
                        "properties": {"sheetId": tab.sheet_id, "rightToLeft": True},
                        "fields": "rightToLeft",
                    }
                }
            )
            plan.changes.append(f"set right-to-left on {title}")
        columns = {}
        wanted = {*text, *lists, *owned, *noted, *colored}
        wanted |= {name for d in due for name in (d.column, d.unless_column)}
        for name in wanted:
            col = header.find(name)
            if col is None:  # not in ``headers``: a layout without that column
                continue
            columns[name] = col
        _formats(
            plan,
            tab,
            logical,
            row,
            columns,
            [n for n in text if n in columns],
            {n: v for n, v in lists.items() if n in columns},
            [n for n in owned if n in columns],
            protections.get(tab.sheet_id, []),
            api.identity,
            {n: v for n, v in noted.items() if n in columns},
            due,
            {n: v for n, v in colored.items() if n in columns},
        )
    return plan
