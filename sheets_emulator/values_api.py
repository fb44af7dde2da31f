"""Sheets ``spreadsheets.values.*`` endpoints."""

from __future__ import annotations

from typing import Any

from sheets_emulator import a1, grid, metadata, structure
from sheets_emulator.api import ApiRequest, Options, get_spreadsheet
from sheets_emulator.errors import bad_request
from sheets_emulator.grid import Target
from sheets_emulator.model import Spreadsheet, Store

Reply = tuple[int, dict[str, Any]]

INPUT_OPTIONS = ("RAW", "USER_ENTERED")


def _input_option(value: str | None) -> str:
    if value not in INPUT_OPTIONS:
        raise bad_request(
            "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED"
            if not value
            else f"Invalid value at 'value_input_option', \"{value}\""
        )
    return value


def _render_query(source: dict[str, Any] | ApiRequest) -> dict[str, Any]:
    names = ("valueRenderOption", "dateTimeRenderOption", "majorDimension")
    if isinstance(source, ApiRequest):
        return {n: source.q(n) for n in names}
    return {n: source.get(n) for n in names}


def values_get(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """GET values/{range}."""
    ss = get_spreadsheet(store, req.spreadsheet_id)
    target = grid.resolve(ss, req.params["range"])
    return 200, grid.value_range(target, _render_query(req))


def values_batch_get(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """GET values:batchGet?ranges=..."""
    ss = get_spreadsheet(store, req.spreadsheet_id)
    query = _render_query(req)
    out = []
    for i, text in enumerate(req.query.get("ranges", [])):
        target = grid.resolve(ss, text)
        grid.check_in_grid(target.sheet, target.bounds, f"Invalid ranges[{i}]: ")
        out.append(grid.value_range(target, query))
    return 200, {"spreadsheetId": ss.spreadsheet_id, "valueRanges": out}


def _updated_data(target_sheet: Any, reply: dict[str, Any], req_query: dict[str, Any]) -> Any:
    rng = reply.get("updatedRange")
    if not rng:
        return None
    ss_sheet = target_sheet
    _, cells = a1.split_sheet(rng)
    b = a1.parse_cells(cells or "A1")
    t = Target(ss_sheet, b, rng)
    return grid.value_range(t, req_query)


def _response_query(source: dict[str, Any] | ApiRequest) -> dict[str, Any]:
    get = source.q if isinstance(source, ApiRequest) else source.get
    return {
        "valueRenderOption": get("responseValueRenderOption"),
        "dateTimeRenderOption": get("responseDateTimeRenderOption"),
    }


def values_update(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """PUT values/{range}?valueInputOption=..."""
    ss = get_spreadsheet(store, req.spreadsheet_id)
    option = _input_option(req.q("valueInputOption"))
    body = req.json_body()
    target = grid.resolve(ss, req.params["range"])
    rows = grid.normalize_values(body.get("values"), body.get("majorDimension"))
    reply = grid.update_target(target, rows, option)
    out = {"spreadsheetId": ss.spreadsheet_id, **reply}
    if req.flag("includeValuesInResponse"):
        data = _updated_data(target.sheet, reply, _response_query(req))
        if data is not None:
            out["updatedData"] = data
    store.touch(ss.spreadsheet_id)
    return 200, out


def _batch_totals(
    ss: Spreadsheet, writes: list[tuple[int, int, int, int, int, int]]
) -> dict[str, Any]:
    rows: set[tuple[int, int]] = set()
    cols: set[tuple[int, int]] = set()
    sheets: set[int] = set()
    cells = 0
    for sheet_id, r0, r1, c0, c1, n in writes:
        rows.update((sheet_id, r) for r in range(r0, r1))
        cols.update((sheet_id, c) for c in range(c0, c1))
        sheets.add(sheet_id)
        cells += n
    if not writes:
        return {"spreadsheetId": ss.spreadsheet_id}
    return {
        "spreadsheetId": ss.spreadsheet_id,
        "totalUpdatedRows": len(rows),
        "totalUpdatedColumns": len(cols),
        "totalUpdatedCells": cells,
        "totalUpdatedSheets": len(sheets),
    }


def _write_one(
    ss: Spreadsheet,
    target: Target,
    item: dict[str, Any],
    option: str,
    prefix: str,
    writes: list[tuple[int, int, int, int, int, int]],
) -> dict[str, Any]:
    rows = grid.normalize_values(item.get("values"), item.get("majorDimension"))
    reply = grid.update_target(target, rows, option, prefix)
    if reply:
        r0, c0 = target.bounds.r0 or 0, target.bounds.c0 or 0
        _, _, _, end_r, end_c = grid.write_stats(r0, c0, rows)
        writes.append((target.sheet.sheet_id, r0, end_r, c0, end_c, reply["updatedCells"]))
    return {"spreadsheetId": ss.spreadsheet_id, **reply}


def _commit(
    store: Store,
    work: Spreadsheet,
    writes: list[tuple[int, int, int, int, int, int]],
    responses: list[dict[str, Any]],
) -> Reply:
    """Put a batch's written copy in place of the spreadsheet and answer with its totals."""
    store.spreadsheets[work.spreadsheet_id] = work
    out = _batch_totals(work, writes)
    if responses:
        out["responses"] = responses
    if writes:
        store.touch(work.spreadsheet_id)
    return 200, out


def values_batch_update(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """POST values:batchUpdate."""
    ss = get_spreadsheet(store, req.spreadsheet_id)
    body = req.json_body()
    option = _input_option(body.get("valueInputOption"))
    data = body.get("data") or []
    targets = [grid.resolve(ss, item.get("range", "")) for item in data]
    work = ss.clone()
    writes: list[tuple[int, int, int, int, int, int]] = []
    responses = []
    for i, (item, target) in enumerate(zip(data, targets, strict=True)):
        work_sheet = work.sheet_by_id(target.sheet.sheet_id)
        assert work_sheet is not None
        t = Target(work_sheet, target.bounds, target.text, target.anchor)
        resp = _write_one(work, t, item, option, f"Invalid data[{i}]: ", writes)
        if body.get("includeValuesInResponse") and resp.get("updatedRange"):
            resp["updatedData"] = _updated_data(t.sheet, resp, _response_query(body))
        responses.append(resp)
    return _commit(store, work, writes, responses)


def values_append(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """POST values/{range}:append (grows the grid as needed)."""
    ss = get_spreadsheet(store, req.spreadsheet_id)
    option = _input_option(req.q("valueInputOption"))
    body = req.json_body()
    target = grid.resolve(ss, req.params["range"])
    sheet = target.sheet
    grid.check_in_grid(sheet, target.bounds)
    rows = grid.normalize_values(body.get("values"), body.get("majorDimension"))
    r0, r1, c0, c1 = target.closed()
    table = grid.find_table(sheet, r0, r1, c0, c1)
    out: dict[str, Any] = {"spreadsheetId": ss.spreadsheet_id}
    if table is None:
        start_r, start_c = r0, c0
    else:
        top, bottom, left, right = table
        out["tableRange"] = a1.format_range(sheet.title, top, bottom, left, right)
        start_r, start_c = bottom, left
    n_rows, n_cols, cells, end_r, end_c = grid.write_stats(start_r, start_c, rows)
    if req.q("insertDataOption") == "INSERT_ROWS" and end_r > start_r:
        structure.insert_rows(sheet, start_r, end_r - start_r, False)
    grow_rows = max(0, end_r - sheet.row_count)
    grow_cols = max(0, end_c - sheet.col_count)
    if grow_rows or grow_cols:
        total = (
            ss.cell_total()
            + grow_rows * sheet.col_count
            + grow_cols * (sheet.row_count + grow_rows)
        )
        if total > opts.cell_limit:
            raise bad_request(
                "This action would increase the number of cells in the workbook "
                f"above the limit of {opts.cell_limit} cells."
            )
        sheet.row_count += grow_rows
        sheet.col_count += grow_cols
    grid.write(sheet, start_r, start_c, rows, option)
    updates: dict[str, Any] = {"spreadsheetId": ss.spreadsheet_id}
    if end_r > start_r and end_c > start_c:
        updates.update(
            {
                "updatedRange": a1.format_range(sheet.title, start_r, end_r, start_c, end_c),
                "updatedRows": n_rows,
                "updatedColumns": n_cols,
                "updatedCells": cells,
            }
        )
        if req.flag("includeValuesInResponse"):
            data = _updated_data(sheet, updates, _response_query(req))
            if data is not None:
                updates["updatedData"] = data
    out["updates"] = updates
    store.touch(ss.spreadsheet_id)
    return 200, out


def values_clear(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """POST values/{range}:clear."""
    ss = get_spreadsheet(store, req.spreadsheet_id)
    target = grid.resolve(ss, req.params["range"])
    grid.check_in_grid(target.sheet, target.bounds)
    grid.clear(target.sheet, *target.closed())
    store.touch(ss.spreadsheet_id)
    return 200, {"spreadsheetId": ss.spreadsheet_id, "clearedRange": target.echo()}


def values_batch_clear(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """POST values:batchClear."""
    ss = get_spreadsheet(store, req.spreadsheet_id)
    ranges = req.json_body().get("ranges") or []
    targets = []
    for i, text in enumerate(ranges):
        target = grid.resolve(ss, text)
        grid.check_in_grid(target.sheet, target.bounds, f"Invalid range[{i}]: ")
        targets.append(target)
    for target in targets:
        grid.clear(target.sheet, *target.closed())
    store.touch(ss.spreadsheet_id)
    return 200, {"spreadsheetId": ss.spreadsheet_id, "clearedRanges": [t.echo() for t in targets]}


def values_batch_get_by_data_filter(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """POST values:batchGetByDataFilter: one matched value range per range a filter finds."""
    ss = get_spreadsheet(store, req.spreadsheet_id)
    body = req.json_body()
    query = _render_query(body)
    out = []
    cache = metadata.Lookups(ss)
    for i, f in enumerate(body.get("dataFilters") or []):
        for target in metadata.resolve_filter(ss, f, f"Invalid dataFilters[{i}]: ", cache):
            out.append({"valueRange": grid.value_range(target, query), "dataFilters": [f]})
    result: dict[str, Any] = {"spreadsheetId": ss.spreadsheet_id}
    if out:
        result["valueRanges"] = out
    return 200, result


def values_batch_update_by_data_filter(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """POST values:batchUpdateByDataFilter: writes to every range each filter matches.

    A filter that matches nothing writes nothing and answers a response holding only its
    ``dataFilter`` (no ``updatedRange``).
    """
    ss = get_spreadsheet(store, req.spreadsheet_id)
    body = req.json_body()
    option = _input_option(body.get("valueInputOption"))
    work = ss.clone()
    writes: list[tuple[int, int, int, int, int, int]] = []
    responses = []
    cache = metadata.Lookups(work)  # value writes do not move metadata
    for i, item in enumerate(body.get("data") or []):
        f = item.get("dataFilter") or {}
        targets = metadata.resolve_filter(work, f, f"Invalid data[{i}]: ", cache)
        if not targets:
            responses.append({"dataFilter": f})
        for target in targets:
            resp = _write_one(work, target, item, option, f"Invalid data[{i}]: ", writes)
            resp.pop("spreadsheetId", None)
            resp["dataFilter"] = f
            if body.get("includeValuesInResponse") and resp.get("updatedRange"):
                resp["updatedData"] = _updated_data(target.sheet, resp, _response_query(body))
            responses.append(resp)
    return _commit(store, work, writes, responses)
