"""spreadsheets.batchUpdate: the request kinds the emulator applies (atomically).

Applied: addSheet, deleteSheet, updateSheetProperties, updateSpreadsheetProperties,
insertDimension, deleteDimension, appendDimension, sortRange, updateCells, repeatCell,
setDataValidation, addProtectedRange, updateProtectedRange, deleteProtectedRange,
addConditionalFormatRule, setBasicFilter, clearBasicFilter, updateDimensionProperties
(a column's pixelSize), createDeveloperMetadata, updateDeveloperMetadata,
deleteDeveloperMetadata. Accepted and ignored (cosmetic only): autoResizeDimensions,
updateBorders. Anything else answers 501 UNIMPLEMENTED.

At this size because it holds one handler per request kind listed above.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from sheets_emulator import a1, fields, grid, metadata, structure
from sheets_emulator.cells import from_extended
from sheets_emulator.errors import ApiError, bad_request
from sheets_emulator.model import Row, Sheet, Spreadsheet, Store

IGNORED = {"autoResizeDimensions", "updateBorders"}


class Context:
    """State passed to each request handler."""

    def __init__(self, store: Store, ss: Spreadsheet, cell_limit: int, follows_sort: bool):
        self.store = store
        self.ss = ss
        self.cell_limit = cell_limit
        self.follows_sort = follows_sort
        self.where = ""
        self.kind = ""

    def check_limit(self) -> None:
        """Google's 10,000,000-cell limit on the whole spreadsheet."""
        if self.ss.cell_total() > self.cell_limit:
            raise bad_request(
                f"{self.where}This action would increase the number of cells in the workbook "
                f"above the limit of {self.cell_limit} cells."
            )

    def sheet(self, sheet_id: Any) -> Sheet:
        """The sheet with ``sheet_id`` or Google's 'No grid with id' error."""
        sheet = self.ss.sheet_by_id(int(sheet_id or 0))
        if sheet is None:
            raise bad_request(f"{self.where}No grid with id: {sheet_id or 0}")
        return sheet

    def range_cells(self, gr: dict[str, Any]) -> tuple[Sheet, int, int, int, int]:
        """A GridRange checked against the grid and closed."""
        sheet = grid.sheet_of(self.ss, gr, self.where)
        bounds = grid.bounds_of(gr)
        grid.check_in_grid(sheet, bounds, self.where)
        r0, r1, c0, c1 = bounds.resolve(sheet.row_count, sheet.col_count)
        return sheet, r0, r1, c0, c1


def apply_batch(
    store: Store,
    ss: Spreadsheet,
    requests: Any,
    *,
    cell_limit: int,
    follows_sort: bool,
) -> tuple[Spreadsheet, list[dict[str, Any]]]:
    """Apply ``requests`` to a copy of ``ss``; return the new spreadsheet and the replies."""
    if not isinstance(requests, list) or not requests:
        raise bad_request("Must specify at least one request.")
    work = ss.clone()
    ctx = Context(store, work, cell_limit, follows_sort)
    replies: list[dict[str, Any]] = []
    for i, req in enumerate(requests):
        if not isinstance(req, dict) or len(req) != 1:
            raise bad_request(f"Invalid requests[{i}]: exactly one request kind is required.")
        kind, body = next(iter(req.items()))
        ctx.where = f"Invalid requests[{i}].{kind}: "
        ctx.kind = kind
        handler = HANDLERS.get(kind)
        if handler is None:
            if kind in IGNORED:
                replies.append({})
                continue
            raise ApiError(
                501, f"requests[{i}].{kind} is not implemented by the sheetsync emulator."
            )
        replies.append(handler(ctx, body or {}))
    return work, replies


# ------------------------------------------------------------------ sheets


def _unique_title(ss: Spreadsheet) -> str:
    n = len(ss.sheets) + 1
    while ss.sheet_by_title(f"Sheet{n}") is not None:
        n += 1
    return f"Sheet{n}"


def add_sheet(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """addSheet."""
    props = body.get("properties") or {}
    ss = ctx.ss
    title = props.get("title") or _unique_title(ss)
    if ss.sheet_by_title(title) is not None:
        raise bad_request(
            f'{ctx.where}A sheet with the name "{title}" already exists. Please enter another name.'
        )
    taken = {s.sheet_id for s in ss.sheets}
    sheet_id = props.get("sheetId")
    if sheet_id is not None and int(sheet_id) in taken:
        raise bad_request(f"{ctx.where}A sheet with the id {sheet_id} already exists.")
    gp = props.get("gridProperties") or {}
    sheet = Sheet(
        int(sheet_id) if sheet_id is not None else ctx.store.new_int_id(taken),
        title,
        row_count=int(gp.get("rowCount", 1000)),
        col_count=int(gp.get("columnCount", 26)),
        hidden=bool(props.get("hidden", False)),
        frozen_rows=int(gp.get("frozenRowCount", 0)),
        frozen_cols=int(gp.get("frozenColumnCount", 0)),
    )
    for key in ("tabColor", "tabColorStyle", "rightToLeft"):
        if key in props:
            sheet.extra[key] = props[key]
    index = props.get("index")
    if index is None or int(index) >= len(ss.sheets):
        ss.sheets.append(sheet)
    else:
        ss.sheets.insert(max(0, int(index)), sheet)
    ctx.check_limit()
    return {"addSheet": {"properties": sheet.properties(ss.sheets.index(sheet))}}


def delete_sheet(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """deleteSheet."""
    sheet = ctx.sheet(body.get("sheetId"))
    if len(ctx.ss.sheets) == 1:
        raise bad_request(f"{ctx.where}You can't remove all the sheets in a document.")
    ctx.ss.sheets.remove(sheet)
    for mid in [m for m, md in ctx.ss.metadata.items() if md.get("sheetId") == sheet.sheet_id]:
        del ctx.ss.metadata[mid]
    return {}


def update_sheet_properties(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """updateSheetProperties (title, index, hidden, grid size, frozen counts, tab colour...)."""
    props = body.get("properties") or {}
    sheet = ctx.sheet(props.get("sheetId"))
    ss = ctx.ss
    current = sheet.properties(ss.sheets.index(sheet))
    mask = body.get("fields")
    if not mask:
        raise bad_request(f"{ctx.where}At least one field must be updated, but 'fields' is empty.")
    paths = [["*"]] if mask.strip() == "*" else fields.update_paths(mask)
    for path in paths:
        if path == ["*"]:
            current.update(copy.deepcopy(props))
            continue
        present, value = fields.get_path(props, path)
        fields.set_path(current, path, copy.deepcopy(value), present)
    title = current.get("title") or sheet.title
    if title != sheet.title:
        other = ss.sheet_by_title(title)
        if other is not None and other is not sheet:
            raise bad_request(
                f'{ctx.where}A sheet with the name "{title}" already exists. '
                "Please enter another name."
            )
        sheet.title = title
    hidden = bool(current.get("hidden", False))
    if hidden and all(s.hidden or s is sheet for s in ss.sheets):
        raise bad_request(f"{ctx.where}You can't hide all the sheets in a document.")
    sheet.hidden = hidden
    gp = current.get("gridProperties") or {}
    structure.resize(
        sheet, int(gp.get("rowCount", sheet.row_count)), int(gp.get("columnCount", sheet.col_count))
    )
    sheet.frozen_rows = int(gp.get("frozenRowCount", 0) or 0)
    sheet.frozen_cols = int(gp.get("frozenColumnCount", 0) or 0)
    sheet.grid_extra = {
        k: v
        for k, v in gp.items()
        if k not in ("rowCount", "columnCount", "frozenRowCount", "frozenColumnCount")
    }
    metadata.prune(ss)
    for key in ("tabColor", "tabColorStyle", "rightToLeft"):
        if key in current:
            sheet.extra[key] = current[key]
        else:
            sheet.extra.pop(key, None)
    new_index = current.get("index")
    old_index = ss.sheets.index(sheet)
    if new_index is not None and int(new_index) != old_index:
        ss.sheets.remove(sheet)
        target = int(new_index) - (1 if int(new_index) > old_index else 0)
        ss.sheets.insert(max(0, min(target, len(ss.sheets))), sheet)
    ctx.check_limit()
    return {}


def update_spreadsheet_properties(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """updateSpreadsheetProperties (title, locale, timeZone, autoRecalc)."""
    props = body.get("properties") or {}
    mask = body.get("fields") or ""
    names = {p[0] for p in fields.update_paths(mask)} if mask.strip() != "*" else set(props)
    ss = ctx.ss
    if "title" in names and props.get("title"):
        ss.title = props["title"]
    if "locale" in names and props.get("locale"):
        ss.locale = props["locale"]
    if "timeZone" in names and props.get("timeZone"):
        ss.time_zone = props["timeZone"]
    if "autoRecalc" in names and props.get("autoRecalc"):
        ss.auto_recalc = props["autoRecalc"]
    return {}


# ------------------------------------------------------------------ dimensions


def _dimension(ctx: Context, rng: dict[str, Any]) -> tuple[Sheet, bool, int, int]:
    sheet = ctx.sheet(rng.get("sheetId"))
    rows = rng.get("dimension") == "ROWS"
    if rng.get("dimension") not in ("ROWS", "COLUMNS"):
        raise bad_request(f"{ctx.where}range.dimension must be ROWS or COLUMNS.")
    start = int(rng.get("startIndex", 0))
    end = rng.get("endIndex")
    limit = sheet.row_count if rows else sheet.col_count
    end = limit if end is None else int(end)
    if start < 0 or end <= start:
        raise bad_request(f"{ctx.where}range.endIndex must be greater than range.startIndex.")
    return sheet, rows, start, end


def insert_dimension(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """insertDimension: rows/columns move down/right, with their metadata."""
    sheet, rows, start, end = _dimension(ctx, body.get("range") or {})
    limit = sheet.row_count if rows else sheet.col_count
    if start > limit:
        raise bad_request(
            f"{ctx.where}range.startIndex ({start}) is after the last "
            f"{'row' if rows else 'column'} ({limit})."
        )
    inherit = bool(body.get("inheritFromBefore", False))
    if inherit and start == 0:
        raise bad_request(f"{ctx.where}Cannot inherit from before when inserting at index 0.")
    if rows:
        structure.insert_rows(sheet, start, end - start, inherit)
    else:
        structure.insert_columns(sheet, start, end - start, inherit)
    ctx.check_limit()
    return {}


def delete_dimension(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """deleteDimension: metadata on the deleted rows/columns is deleted with them."""
    sheet, rows, start, end = _dimension(ctx, body.get("range") or {})
    limit = sheet.row_count if rows else sheet.col_count
    end = min(end, limit)
    if start == 0 and end >= limit:
        raise bad_request(
            f"{ctx.where}You can't delete all the {'rows' if rows else 'columns'} on the sheet."
        )
    if start >= limit:
        raise bad_request(f"{ctx.where}Range ({a1.quote_title(sheet.title)}) exceeds grid limits.")
    if rows:
        structure.delete_rows(sheet, start, end)
    else:
        structure.delete_columns(sheet, start, end)
    metadata.prune(ctx.ss)
    return {}


def append_dimension(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """appendDimension: grow the grid."""
    sheet = ctx.sheet(body.get("sheetId"))
    length = int(body.get("length", 0))
    if length <= 0:
        raise bad_request(f"{ctx.where}length must be positive.")
    if body.get("dimension") == "ROWS":
        sheet.row_count += length
    else:
        sheet.col_count += length
    ctx.check_limit()
    return {}


def sort_range(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """sortRange (stable, blanks last)."""
    sheet, r0, r1, c0, c1 = ctx.range_cells(body.get("range") or {})
    specs = body.get("sortSpecs") or [{"dimensionIndex": c0, "sortOrder": "ASCENDING"}]
    structure.sort_rows(sheet, r0, r1, c0, c1, specs, move_metadata=ctx.follows_sort)
    return {}


# ------------------------------------------------------------------ cells


def _with_styles(fmt: dict[str, Any]) -> dict[str, Any]:
    """Add the ``*Style`` twins Google derives from plain colours."""
    if "backgroundColor" in fmt and "backgroundColorStyle" not in fmt:
        fmt["backgroundColorStyle"] = {"rgbColor": fmt["backgroundColor"]}
    tf = fmt.get("textFormat")
    if isinstance(tf, dict) and "foregroundColor" in tf and "foregroundColorStyle" not in tf:
        tf["foregroundColorStyle"] = {"rgbColor": tf["foregroundColor"]}
    return fmt


def _format_after(
    before: dict[str, Any] | None, cell: dict[str, Any], paths: list[list[str]]
) -> tuple[bool, dict[str, Any] | None]:
    """(whether ``paths`` set the format, the cell's format after) for a cell formatted
    ``before`` that takes ``cell`` (CellData). ``before`` is not changed."""
    fmt: dict[str, Any] | None = None
    changed = False
    for path in paths:
        if path[0] == "*" or path == ["userEnteredFormat"]:
            fmt = copy.deepcopy(cell.get("userEnteredFormat") or {})
            changed = True
        elif path[0] == "userEnteredFormat":
            if fmt is None:
                fmt = copy.deepcopy(before or {})
            present, value = fields.get_path(cell.get("userEnteredFormat") or {}, path[1:])
            fields.set_path(fmt, path[1:], copy.deepcopy(value), present)
            changed = True
    if not changed:
        return False, before
    return True, _with_styles(fmt) if fmt else None


def _apply_cell(
    row: Row,
    col: int,
    cell: dict[str, Any],
    paths: list[list[str]],
    made: dict[int, tuple[Any, bool, Any]] | None = None,
) -> None:
    """Set one cell's parts named by ``paths`` from ``cell`` (CellData).

    ``made`` (repeatCell) maps the id of a format met before to (that format, whether it
    changed, the format it became), so that cells sharing a format share the result:
    stored formats are replaced whole, never changed in place. The format itself is kept
    in the entry so that its id cannot be taken by another.
    """
    for path in paths:
        head = path[0]
        if head == "*":
            row.set(col, from_extended(cell.get("userEnteredValue")))
            row.set_rule(col, copy.deepcopy(cell.get("dataValidation")))
            row.set_note(col, cell.get("note"))
        elif head == "note":
            row.set_note(col, cell.get("note"))
        elif head == "userEnteredValue":
            row.set(col, from_extended(cell.get("userEnteredValue")))
        elif head == "dataValidation":
            row.set_rule(col, copy.deepcopy(cell.get("dataValidation")))
    before = row.fmt(col)
    hit = made.get(id(before)) if made is not None else None
    if hit is not None and hit[0] is before:
        changed, after = hit[1], hit[2]
    else:
        changed, after = _format_after(before, cell, paths)
        if made is not None:
            made[id(before)] = (before, changed, after)
    if changed:
        row.set_fmt(col, after)


def repeat_cell(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """repeatCell: the same CellData (under ``fields``) on every cell of the range."""
    sheet, r0, r1, c0, c1 = ctx.range_cells(body.get("range") or {})
    paths = fields.update_paths(body.get("fields") or "*")
    cell = body.get("cell") or {}
    made: dict[int, tuple[Any, bool, Any]] = {}
    for row in sheet.rows_between(r0, r1):
        for c in range(c0, c1):
            _apply_cell(row, c, cell, paths, made)
    return {}


def update_cells(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """updateCells with ``start`` or ``range``."""
    paths = fields.update_paths(body.get("fields") or "*")
    data = body.get("rows") or []
    if "range" in body:
        sheet, r0, r1, c0, c1 = ctx.range_cells(body["range"])
    else:
        start = body.get("start") or {}
        sheet = ctx.sheet(start.get("sheetId"))
        r0, c0 = int(start.get("rowIndex", 0)), int(start.get("columnIndex", 0))
        r1 = r0 + len(data)
        c1 = c0 + max((len(rd.get("values") or []) for rd in data), default=0)
        grid.check_in_grid(sheet, a1.Bounds(r0, max(r1, r0 + 1), c0, max(c1, c0 + 1)), ctx.where)
    for i, r in enumerate(range(r0, r1)):
        values = (data[i].get("values") or []) if i < len(data) else []
        row = sheet.row(r)
        for j, c in enumerate(range(c0, c1)):
            if "range" not in body and j >= len(values):
                continue
            _apply_cell(row, c, values[j] if j < len(values) else {}, paths)
    return {}


def set_data_validation(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """setDataValidation (no ``rule``: clear)."""
    sheet, r0, r1, c0, c1 = ctx.range_cells(body.get("range") or {})
    # One copy shared by every cell of the range: stored rules are never changed in place
    # (a cell's rule is replaced whole, and answers copy it out).
    rule = copy.deepcopy(body.get("rule")) or None
    cols = range(c0, c1)
    for row in sheet.rows_between(r0, r1):
        if rule is None:
            for c in cols:
                row.set_rule(c, None)
        elif row.rules is None:
            row.rules = dict.fromkeys(cols, rule)
        else:
            row.rules.update(dict.fromkeys(cols, rule))
    return {}


# ------------------------------------------------------------------ protection


def protected_json(pr: dict[str, Any], owner: str | None = None) -> dict[str, Any]:
    """``ProtectedRange`` JSON the way Google answers it.

    ``spreadsheets.get`` lists the requesting account (``owner``) among the editors; the
    ``addProtectedRange`` reply does not.
    """
    gr = pr["range"]
    out: dict[str, Any] = {
        "protectedRangeId": pr["protectedRangeId"],
        "range": grid.grid_range_json(
            gr.get("sheetId", 0),
            gr.get("startRowIndex"),
            gr.get("endRowIndex"),
            gr.get("startColumnIndex"),
            gr.get("endColumnIndex"),
        ),
    }
    if pr.get("description"):
        out["description"] = pr["description"]
    if pr.get("warningOnly"):
        out["warningOnly"] = True
    out["requestingUserCanEdit"] = True
    editors = copy.deepcopy(pr.get("editors") or {})
    if owner is not None:
        editors["users"] = [owner] + [u for u in editors.get("users") or [] if u != owner]
    out["editors"] = {k: v for k, v in editors.items() if v}
    if pr.get("unprotectedRanges"):
        out["unprotectedRanges"] = pr["unprotectedRanges"]
    return out


def add_protected_range(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """addProtectedRange."""
    pr = copy.deepcopy(body.get("protectedRange") or {})
    gr = pr.get("range") or {}
    sheet = grid.sheet_of(ctx.ss, gr, ctx.where)
    grid.check_in_grid(sheet, grid.bounds_of(gr), ctx.where)
    gr["sheetId"] = sheet.sheet_id
    pr["range"] = gr
    taken = {p["protectedRangeId"] for s in ctx.ss.sheets for p in s.protected}
    pr["protectedRangeId"] = int(pr.get("protectedRangeId") or ctx.store.new_int_id(taken))
    sheet.protected.append(pr)
    return {"addProtectedRange": {"protectedRange": protected_json(pr)}}


def update_dimension_properties(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """updateDimensionProperties: a column's ``pixelSize`` is kept (and answered in
    ``columnMetadata``); other properties, and rows, are accepted and not kept."""
    span = body.get("range") or {}
    sheet = ctx.sheet(span.get("sheetId"))
    size = (body.get("properties") or {}).get("pixelSize")
    wanted = fields.update_paths(body.get("fields") or "*")
    if span.get("dimension") != "COLUMNS" or not any(p[0] in ("*", "pixelSize") for p in wanted):
        return {}
    start = int(span.get("startIndex", 0))
    end = int(span.get("endIndex", sheet.col_count))
    grid.check_in_grid(sheet, a1.Bounds(None, None, start, end), ctx.where)
    for col in range(start, end):
        if size is None:
            sheet.col_sizes.pop(col, None)
        else:
            sheet.col_sizes[col] = int(size)
    return {}


def set_basic_filter(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """setBasicFilter: the sheet's one basic filter, replaced (its range as given)."""
    given = (body.get("filter") or {}).get("range") or {}
    sheet, *_ = ctx.range_cells(given)
    b = grid.bounds_of(given)
    wanted = grid.grid_range_json(sheet.sheet_id, b.r0, b.r1, b.c0, b.c1)
    sheet.basic_filter = {**copy.deepcopy(body.get("filter") or {}), "range": wanted}
    return {}


def clear_basic_filter(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """clearBasicFilter: the sheet has no basic filter any more."""
    ctx.sheet(body.get("sheetId")).basic_filter = None
    return {}


def add_conditional_format_rule(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """addConditionalFormatRule: the rule's ranges on one sheet, inserted at ``index``."""
    rule = copy.deepcopy(body.get("rule") or {})
    ranges = rule.get("ranges") or []
    if not ranges:
        raise bad_request(f"{ctx.where}Invalid requests[0].addConditionalFormatRule: no ranges")
    if ("booleanRule" in rule) == ("gradientRule" in rule):
        raise bad_request(
            f"{ctx.where}Invalid requests[0].addConditionalFormatRule: "
            "exactly one of booleanRule or gradientRule"
        )
    sheets = {grid.sheet_of(ctx.ss, gr, ctx.where).sheet_id for gr in ranges}
    if len(sheets) != 1:
        raise bad_request(f"{ctx.where}All ranges of a conditional format must be on one sheet")
    sheet = grid.sheet_of(ctx.ss, ranges[0], ctx.where)
    for gr in ranges:
        grid.check_in_grid(sheet, grid.bounds_of(gr), ctx.where)
        gr["sheetId"] = sheet.sheet_id
    index = int(body.get("index") or 0)
    if not 0 <= index <= len(sheet.conditional):
        raise bad_request(f"{ctx.where}Invalid index {index} for a conditional format rule")
    sheet.conditional.insert(index, rule)
    return {}


def _find_protected(ctx: Context, pid: Any) -> tuple[Sheet, dict[str, Any]]:
    for sheet in ctx.ss.sheets:
        for pr in sheet.protected:
            if pr["protectedRangeId"] == int(pid or 0):
                return sheet, pr
    raise bad_request(f"{ctx.where}No protected range with id: {pid}")


def update_protected_range(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """updateProtectedRange."""
    new = body.get("protectedRange") or {}
    sheet, pr = _find_protected(ctx, new.get("protectedRangeId"))
    for path in fields.update_paths(body.get("fields") or "*"):
        if path == ["*"]:
            pr.update(copy.deepcopy(new))
            continue
        present, value = fields.get_path(new, path)
        fields.set_path(pr, path, copy.deepcopy(value), present)
    return {}


def delete_protected_range(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """deleteProtectedRange."""
    sheet, pr = _find_protected(ctx, body.get("protectedRangeId"))
    sheet.protected.remove(pr)
    return {}


# ------------------------------------------------------------------ developer metadata


def create_developer_metadata(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """createDeveloperMetadata."""
    md = body.get("developerMetadata") or {}
    new_id = ctx.store.new_int_id(set(ctx.ss.metadata))
    mid, loc = metadata.create(ctx.ss, md, new_id, ctx.where)
    locs = {mid: loc}
    return {"createDeveloperMetadata": {"developerMetadata": metadata.to_json(ctx.ss, mid, locs)}}


def update_developer_metadata(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """updateDeveloperMetadata (key, value, visibility; location moves re-attach)."""
    new = body.get("developerMetadata") or {}
    names = {p[0] for p in fields.update_paths(body.get("fields") or "*")}
    locs = metadata.locations(ctx.ss)
    ids: list[int] = []
    for f in body.get("dataFilters") or []:
        ids.extend(metadata.matches(ctx.ss, f.get("developerMetadataLookup") or {}, locs))
    updated = []
    for mid in dict.fromkeys(ids):
        md = ctx.ss.metadata[mid]
        for name in ("metadataKey", "metadataValue", "visibility"):
            if name in names or "*" in names:
                md[name] = new.get(name)
        if "location" in names and new.get("location"):
            old = metadata.to_json(ctx.ss, mid, locs)
            metadata.delete(ctx.ss, mid)
            metadata.create(
                ctx.ss,
                {
                    **old,
                    **{k: md[k] for k in ("metadataKey", "metadataValue", "visibility")},
                    "location": new["location"],
                    "metadataId": mid,
                },
                mid,
                ctx.where,
            )
        updated.append(mid)
    locs = metadata.locations(ctx.ss)
    return {
        "updateDeveloperMetadata": {
            "developerMetadata": [metadata.to_json(ctx.ss, m, locs) for m in updated]
        }
    }


def delete_developer_metadata(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """deleteDeveloperMetadata."""
    f = body.get("dataFilter") or {}
    locs = metadata.locations(ctx.ss)
    ids = metadata.matches(ctx.ss, f.get("developerMetadataLookup") or {}, locs)
    deleted = [metadata.to_json(ctx.ss, m, locs) for m in ids]
    for mid in ids:
        metadata.delete(ctx.ss, mid)
    return {"deleteDeveloperMetadata": {"deletedDeveloperMetadata": deleted}}


HANDLERS: dict[str, Callable[[Context, dict[str, Any]], dict[str, Any]]] = {
    "addSheet": add_sheet,
    "deleteSheet": delete_sheet,
    "updateSheetProperties": update_sheet_properties,
    "updateSpreadsheetProperties": update_spreadsheet_properties,
    "insertDimension": insert_dimension,
    "deleteDimension": delete_dimension,
    "appendDimension": append_dimension,
    "sortRange": sort_range,
    "repeatCell": repeat_cell,
    "updateCells": update_cells,
    "setDataValidation": set_data_validation,
    "addProtectedRange": add_protected_range,
    "updateProtectedRange": update_protected_range,
    "deleteProtectedRange": delete_protected_range,
    "addConditionalFormatRule": add_conditional_format_rule,
    "setBasicFilter": set_basic_filter,
    "updateDimensionProperties": update_dimension_properties,
    "clearBasicFilter": clear_basic_filter,
    "createDeveloperMetadata": create_developer_metadata,
    "updateDeveloperMetadata": update_developer_metadata,
    "deleteDeveloperMetadata": delete_developer_metadata,
}
