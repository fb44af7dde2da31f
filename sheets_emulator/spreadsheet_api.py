"""Sheets ``spreadsheets.get/create/batchUpdate`` and ``developerMetadata`` endpoints."""

from __future__ import annotations

import copy
from typing import Any

from sheets_emulator import batch_update, fields, grid, metadata
from sheets_emulator.api import ApiRequest, Options, get_spreadsheet
from sheets_emulator.cells import extended_value, render
from sheets_emulator.errors import bad_request
from sheets_emulator.model import Sheet, Spreadsheet, Store

Reply = tuple[int, dict[str, Any]]

DEFAULT_FORMAT: dict[str, Any] = {
    "backgroundColor": {"red": 1, "green": 1, "blue": 1},
    "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
    "verticalAlignment": "BOTTOM",
    "wrapStrategy": "OVERFLOW_CELL",
    "textFormat": {
        "foregroundColor": {},
        "fontFamily": "arial,sans,sans-serif",
        "fontSize": 10,
        "bold": False,
        "italic": False,
        "strikethrough": False,
        "underline": False,
        "foregroundColorStyle": {"rgbColor": {}},
    },
    "backgroundColorStyle": {"rgbColor": {"red": 1, "green": 1, "blue": 1}},
}


def _theme_color(
    kind: str, r: float | None = None, g: float | None = None, b: float | None = None
) -> dict[str, Any]:
    rgb = {k: v for k, v in (("red", r), ("green", g), ("blue", b)) if v is not None}
    return {"colorType": kind, "color": {"rgbColor": rgb}}


THEME: dict[str, Any] = {
    "primaryFontFamily": "Arial",
    "themeColors": [
        _theme_color("TEXT"),
        _theme_color("BACKGROUND", 1, 1, 1),
        _theme_color("ACCENT1", 0.25882354, 0.52156866, 0.95686275),
        _theme_color("ACCENT2", 0.91764706, 0.2627451, 0.20784314),
        _theme_color("ACCENT3", 0.9843137, 0.7372549, 0.015686275),
        _theme_color("ACCENT4", 0.20392157, 0.65882355, 0.3254902),
        _theme_color("ACCENT5", 1, 0.42745098, 0.003921569),
        _theme_color("ACCENT6", 0.27450982, 0.7411765, 0.7764706),
        _theme_color("LINK", 0.06666667, 0.33333334, 0.8),
    ],
}


def _cell_data(
    sheet: Sheet, r: int, c: int, memo: dict[int, Any], effective: dict[int, Any]
) -> dict[str, Any]:
    """One cell's ``CellData``. ``memo`` (``copy.deepcopy``'s, one per answer) holds the
    copies made of stored formats and rules, and ``effective`` the effective formats, by the
    stored format's id: cells that share a stored format (a column's) share its copies in
    the answer, which is JSON once sent."""
    row = sheet.peek(r)
    if row is None:
        return {}
    out: dict[str, Any] = {}
    value = row.get(c)
    fmt = row.fmt(c)
    if value is not None:
        out["userEnteredValue"] = extended_value(value)
        out["effectiveValue"] = extended_value(value, formula=False)
        out["formattedValue"] = render(value, fmt)
    if fmt:
        out["userEnteredFormat"] = copy.deepcopy(fmt, memo)
        eff = effective.get(id(fmt))
        if eff is None:
            eff = effective[id(fmt)] = copy.deepcopy(DEFAULT_FORMAT)
            eff.update(copy.deepcopy(fmt))
        out["effectiveFormat"] = eff
    rule = row.rule(c)
    if rule:
        out["dataValidation"] = copy.deepcopy(rule, memo)
    note = row.note(c)
    if note:
        out["note"] = note
    return out


def grid_data(ss: Spreadsheet, sheet: Sheet, bounds: Any, locs: dict[int, Any]) -> dict[str, Any]:
    """``GridData`` for a (closed) part of a sheet, with row/column metadata."""
    r0, r1, c0, c1 = bounds
    out: dict[str, Any] = {}
    if r0:
        out["startRow"] = r0
    if c0:
        out["startColumn"] = c0
    last = min(r1, len(sheet.rows))
    row_data = []
    memo: dict[int, Any] = {}
    effective: dict[int, Any] = {}
    for r in range(r0, last):
        values = [_cell_data(sheet, r, c, memo, effective) for c in range(c0, c1)]
        while values and not values[-1]:
            values.pop()
        row_data.append({"values": values} if values else {})
    while row_data and not row_data[-1]:
        row_data.pop()
    if row_data:
        out["rowData"] = row_data
    row_meta = []
    for r in range(r0, r1):
        entry: dict[str, Any] = {"pixelSize": 21}
        row = sheet.peek(r)
        if row is not None and row.meta:
            entry["developerMetadata"] = [metadata.to_json(ss, m, locs) for m in row.meta]
        row_meta.append(entry)
    col_meta = []
    for c in range(c0, c1):
        entry = {"pixelSize": sheet.col_sizes.get(c, 100)}
        if c in sheet.col_meta:
            entry["developerMetadata"] = [metadata.to_json(ss, m, locs) for m in sheet.col_meta[c]]
        col_meta.append(entry)
    out["rowMetadata"] = row_meta
    out["columnMetadata"] = col_meta
    return out


def spreadsheet_json(
    ss: Spreadsheet,
    *,
    owner: str | None = None,
    with_data: bool = False,
    ranges: list[str] | None = None,
) -> dict[str, Any]:
    """The ``Spreadsheet`` resource: properties, sheets (+ protected ranges, conditional
    formats, metadata)."""
    locs = metadata.locations(ss)
    wanted: dict[int, list[Any]] | None = None
    if ranges:
        wanted = {}
        for text in ranges:
            target = grid.resolve(ss, text)
            grid.check_in_grid(target.sheet, target.bounds)
            wanted.setdefault(target.sheet.sheet_id, []).append(target.closed())
    sheets = []
    for index, sheet in enumerate(ss.sheets):
        if wanted is not None and sheet.sheet_id not in wanted:
            continue
        entry: dict[str, Any] = {"properties": sheet.properties(index)}
        if with_data:
            parts = (
                wanted[sheet.sheet_id]
                if wanted is not None
                else [(0, sheet.row_count, 0, sheet.col_count)]
            )
            entry["data"] = [grid_data(ss, sheet, p, locs) for p in parts]
        if sheet.protected:
            entry["protectedRanges"] = [
                batch_update.protected_json(p, owner) for p in sheet.protected
            ]
        if sheet.conditional:
            entry["conditionalFormats"] = copy.deepcopy(sheet.conditional)
        if sheet.basic_filter is not None:
            entry["basicFilter"] = copy.deepcopy(sheet.basic_filter)
        sheet_md = [
            m
            for m, md in ss.metadata.items()
            if md["locationType"] == "SHEET" and md["sheetId"] == sheet.sheet_id
        ]
        if sheet_md:
            entry["developerMetadata"] = [metadata.to_json(ss, m, locs) for m in sheet_md]
        sheets.append(entry)
    out: dict[str, Any] = {
        "spreadsheetId": ss.spreadsheet_id,
        "properties": {
            "title": ss.title,
            "locale": ss.locale,
            "autoRecalc": ss.auto_recalc,
            "timeZone": ss.time_zone,
            "defaultFormat": copy.deepcopy(DEFAULT_FORMAT),
            "spreadsheetTheme": copy.deepcopy(THEME),
        },
        "sheets": sheets,
    }
    ss_md = [m for m, md in ss.metadata.items() if md["locationType"] == "SPREADSHEET"]
    if ss_md:
        out["developerMetadata"] = [metadata.to_json(ss, m, locs) for m in ss_md]
    out["spreadsheetUrl"] = f"https://docs.google.com/spreadsheets/d/{ss.spreadsheet_id}/edit"
    return out


def spreadsheets_get(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """GET /v4/spreadsheets/{id}?includeGridData=&ranges=&fields="""
    ss = get_spreadsheet(store, req.spreadsheet_id)
    mask = fields.parse(req.q("fields") or "") if req.q("fields") else None
    with_data = req.flag("includeGridData") or (
        mask is not None and fields.mentions(mask, "sheets", "data")
    )
    body = spreadsheet_json(
        ss, with_data=with_data, ranges=req.query.get("ranges"), owner=store.owner_email
    )
    return 200, fields.apply(body, mask)


def spreadsheets_create(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """POST /v4/spreadsheets (body: a Spreadsheet with properties and sheets)."""
    body = req.json_body()
    props = body.get("properties") or {}
    ss = store.create_spreadsheet(props.get("title") or "Untitled spreadsheet")
    ss.locale = props.get("locale", ss.locale)
    ss.time_zone = props.get("timeZone", ss.time_zone)
    requested = body.get("sheets") or []
    if requested:
        reqs = [{"addSheet": {"properties": s.get("properties") or {}}} for s in requested]
        reqs.append({"deleteSheet": {"sheetId": 0}})
        if any((s.get("properties") or {}).get("sheetId") == 0 for s in requested):
            reqs.pop()
            ss.sheets[0].sheet_id = -1
            reqs.append({"deleteSheet": {"sheetId": -1}})
        work, _ = batch_update.apply_batch(
            store, ss, reqs, cell_limit=opts.cell_limit, follows_sort=opts.metadata_follows_sort
        )
        store.spreadsheets[ss.spreadsheet_id] = work
        ss = work
    return 200, spreadsheet_json(ss, owner=store.owner_email)


def spreadsheets_batch_update(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """POST /v4/spreadsheets/{id}:batchUpdate (atomic)."""
    ss = get_spreadsheet(store, req.spreadsheet_id)
    body = req.json_body()
    work, replies = batch_update.apply_batch(
        store,
        ss,
        body.get("requests"),
        cell_limit=opts.cell_limit,
        follows_sort=opts.metadata_follows_sort,
    )
    store.spreadsheets[ss.spreadsheet_id] = work
    f = store.files.get(ss.spreadsheet_id)
    if f is not None:
        f.name = work.title
    store.touch(ss.spreadsheet_id)
    out: dict[str, Any] = {"spreadsheetId": ss.spreadsheet_id, "replies": replies}
    if body.get("includeSpreadsheetInResponse"):
        out["updatedSpreadsheet"] = spreadsheet_json(
            work,
            owner=store.owner_email,
            with_data=bool(body.get("responseIncludeGridData")),
            ranges=body.get("responseRanges"),
        )
    return 200, out


def metadata_get(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """GET /v4/spreadsheets/{id}/developerMetadata/{metadataId}."""
    ss = get_spreadsheet(store, req.spreadsheet_id)
    try:
        mid = int(req.params["metadataId"])
    except ValueError:
        raise bad_request(
            f"Invalid value at 'metadata_id' (TYPE_INT32), \"{req.params['metadataId']}\""
        ) from None
    if mid not in ss.metadata:
        return 404, {
            "error": {
                "code": 404,
                "message": "Requested entity was not found.",
                "status": "NOT_FOUND",
            }
        }
    return 200, metadata.to_json(ss, mid, metadata.locations(ss))


def metadata_search(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """POST /v4/spreadsheets/{id}/developerMetadata:search."""
    ss = get_spreadsheet(store, req.spreadsheet_id)
    locs = metadata.locations(ss)
    found: dict[int, list[dict[str, Any]]] = {}
    for f in req.json_body().get("dataFilters") or []:
        lookup = f.get("developerMetadataLookup")
        if lookup is not None:
            ids = metadata.matches(ss, lookup, locs)
        else:
            targets = metadata.resolve_filter(ss, f)
            ids = [
                m
                for m, (s, a, b) in locs.items()
                if s is not None and any(t.sheet is s for t in targets)
            ]
        for mid in ids:
            found.setdefault(mid, []).append(f)
    out: dict[str, Any] = {}
    if found:
        out["matchedDeveloperMetadata"] = [
            {"developerMetadata": metadata.to_json(ss, m, locs), "dataFilters": fs}
            for m, fs in found.items()
        ]
    return 200, out
