"""Developer metadata and data filters.

Row (column) metadata is stored on the rows (columns) it covers, so it moves with them when
dimensions are inserted or deleted, and disappears when all its rows are deleted. Whether it
follows a ``sortRange`` is an emulator option (``metadata_follows_sort``; default ``False``:
sorting moves cell values, the rows themselves and their metadata stay in place).
"""

from __future__ import annotations

from typing import Any

from sheets_emulator import grid
from sheets_emulator.a1 import Bounds
from sheets_emulator.errors import bad_request
from sheets_emulator.grid import Target
from sheets_emulator.model import Sheet, Spreadsheet

LOCATION_TYPES = ("ROW", "COLUMN", "SHEET", "SPREADSHEET")


def locations(ss: Spreadsheet) -> dict[int, tuple[Sheet | None, int | None, int | None]]:
    """Where each metadata id currently is: ``(sheet, start, end)`` (end exclusive)."""
    out: dict[int, tuple[Sheet | None, int | None, int | None]] = {}
    for mid, md in ss.metadata.items():
        if md["locationType"] == "SPREADSHEET":
            out[mid] = (None, None, None)
        elif md["locationType"] == "SHEET":
            out[mid] = (ss.sheet_by_id(md["sheetId"]), None, None)
    for sheet in ss.sheets:
        for r, row in enumerate(sheet.rows):
            for mid in row.meta or ():
                _extend(out, mid, sheet, r)
        for c in sorted(sheet.col_meta):
            for mid in sheet.col_meta[c]:
                _extend(out, mid, sheet, c)
    return out


def _extend(out: dict[int, Any], mid: int, sheet: Sheet, index: int) -> None:
    if mid in out:
        s, start, end = out[mid]
        out[mid] = (s, min(start, index), max(end, index + 1))
    else:
        out[mid] = (sheet, index, index + 1)


def to_json(
    ss: Spreadsheet, mid: int, locs: dict[int, tuple[Sheet | None, int | None, int | None]]
) -> dict[str, Any]:
    """``DeveloperMetadata`` JSON with its current location."""
    md = ss.metadata[mid]
    loc_type = md["locationType"]
    location: dict[str, Any] = {"locationType": loc_type}
    sheet, start, end = locs.get(mid, (None, None, None))
    if loc_type == "SPREADSHEET":
        location["spreadsheet"] = True
    elif loc_type == "SHEET":
        location["sheetId"] = md["sheetId"]
    else:
        dim: dict[str, Any] = {
            "sheetId": sheet.sheet_id if sheet else md["sheetId"],
            "dimension": "ROWS" if loc_type == "ROW" else "COLUMNS",
            "startIndex": start,
            "endIndex": end,
        }
        if not dim["sheetId"]:
            del dim["sheetId"]
        location["dimensionRange"] = dim
    out: dict[str, Any] = {"metadataId": mid, "metadataKey": md["metadataKey"]}
    if md.get("metadataValue") is not None:
        out["metadataValue"] = md["metadataValue"]
    out["location"] = location
    out["visibility"] = md.get("visibility", "DOCUMENT")
    return out


Location = tuple[Sheet | None, int | None, int | None]


def create(
    ss: Spreadsheet, body: dict[str, Any], taken_id: int, where: str
) -> tuple[int, Location]:
    """Create developer metadata from a ``DeveloperMetadata`` JSON body.

    Returns its id and its location ``(sheet, start, end)``.
    """
    key = body.get("metadataKey")
    if not key:
        raise bad_request(f"{where}Developer metadata must have a key.")
    location = body.get("location") or {}
    mid = int(body.get("metadataId") or taken_id)
    if mid in ss.metadata:
        raise bad_request(f"{where}Developer metadata with id {mid} already exists.")
    md: dict[str, Any] = {
        "metadataKey": key,
        "metadataValue": body.get("metadataValue"),
        "visibility": body.get("visibility", "DOCUMENT"),
    }
    if location.get("spreadsheet"):
        md["locationType"] = "SPREADSHEET"
        loc: Location = (None, None, None)
    elif "sheetId" in location:
        if ss.sheet_by_id(int(location["sheetId"])) is None:
            raise bad_request(f"{where}No grid with id: {location['sheetId']}")
        md["locationType"] = "SHEET"
        md["sheetId"] = int(location["sheetId"])
        loc = (ss.sheet_by_id(md["sheetId"]), None, None)
    elif "dimensionRange" in location:
        dim = location["dimensionRange"]
        sheet = grid.sheet_of(ss, dim, where)
        start, end = int(dim.get("startIndex", 0)), dim.get("endIndex")
        rows = dim.get("dimension") == "ROWS"
        limit = sheet.row_count if rows else sheet.col_count
        end = limit if end is None else int(end)
        if not 0 <= start < end <= limit:
            raise bad_request(f"{where}Invalid dimensionRange for developer metadata.")
        md["locationType"] = "ROW" if rows else "COLUMN"
        md["sheetId"] = sheet.sheet_id
        for i in range(start, end):
            if rows:
                row = sheet.row(i)
                row.meta = (row.meta or []) + [mid]
            else:
                sheet.col_meta.setdefault(i, []).append(mid)
        loc = (sheet, start, end)
    else:
        raise bad_request(f"{where}Developer metadata must have a location.")
    ss.metadata[mid] = md
    return mid, loc


def delete(ss: Spreadsheet, mid: int) -> None:
    """Remove metadata ``mid`` and its row/column attachments."""
    ss.metadata.pop(mid, None)
    for sheet in ss.sheets:
        for row in sheet.rows:
            if row.meta and mid in row.meta:
                row.meta = [m for m in row.meta if m != mid] or None
        for c in list(sheet.col_meta):
            if mid in sheet.col_meta[c]:
                sheet.col_meta[c] = [m for m in sheet.col_meta[c] if m != mid]
                if not sheet.col_meta[c]:
                    del sheet.col_meta[c]


def prune(ss: Spreadsheet) -> None:
    """Drop ROW/COLUMN metadata whose rows/columns were all deleted."""
    alive = locations(ss)
    for mid in [m for m in ss.metadata if m not in alive]:
        del ss.metadata[mid]


class Lookups:
    """Per-request caches: metadata locations and a (key, value) index."""

    def __init__(self, ss: Spreadsheet) -> None:
        self.ss = ss
        self._locs: dict[int, tuple[Sheet | None, int | None, int | None]] | None = None
        self._by_key: dict[tuple[str, Any], list[int]] | None = None

    @property
    def locs(self) -> dict[int, tuple[Sheet | None, int | None, int | None]]:
        """Locations of every metadata id (computed once)."""
        if self._locs is None:
            self._locs = locations(self.ss)
        return self._locs

    def candidates(self, lookup: dict[str, Any]) -> list[int]:
        """Ids worth checking for ``lookup`` (all ids unless an index narrows them)."""
        if "metadataId" in lookup:
            mid = int(lookup["metadataId"])
            return [mid] if mid in self.ss.metadata else []
        if "metadataKey" in lookup and "metadataValue" in lookup:
            if self._by_key is None:
                self._by_key = {}
                for mid, md in self.ss.metadata.items():
                    key = (md["metadataKey"], md.get("metadataValue"))
                    self._by_key.setdefault(key, []).append(mid)
            return self._by_key.get((lookup["metadataKey"], lookup["metadataValue"]), [])
        return list(self.ss.metadata)


def matches(
    ss: Spreadsheet,
    lookup: dict[str, Any],
    locs: dict[int, tuple[Sheet | None, int | None, int | None]] | None = None,
    cache: Lookups | None = None,
) -> list[int]:
    """Metadata ids matching a ``DeveloperMetadataLookup``."""
    cache = cache or Lookups(ss)
    found = []
    for mid in cache.candidates(lookup):
        md = ss.metadata[mid]
        if "metadataKey" in lookup and lookup["metadataKey"] != md["metadataKey"]:
            continue
        if "metadataValue" in lookup and lookup["metadataValue"] != md.get("metadataValue"):
            continue
        if "visibility" in lookup and lookup["visibility"] != md.get("visibility", "DOCUMENT"):
            continue
        if "locationType" in lookup and lookup["locationType"] != md["locationType"]:
            continue
        if "metadataLocation" in lookup and not _location_matches(
            md,
            (locs if locs is not None else cache.locs).get(mid),
            lookup["metadataLocation"],
            lookup.get("locationMatchingStrategy", "EXACT_LOCATION"),
        ):
            continue
        found.append(mid)
    return found


def _location_matches(md: dict[str, Any], loc: Any, want: dict[str, Any], strategy: str) -> bool:
    if want.get("spreadsheet"):
        return md["locationType"] == "SPREADSHEET"
    if "sheetId" in want:
        if strategy == "INTERSECTING_LOCATION" and md.get("sheetId") == int(want["sheetId"]):
            return True
        return md["locationType"] == "SHEET" and md["sheetId"] == int(want["sheetId"])
    dim = want.get("dimensionRange")
    if not dim or loc is None or md["locationType"] not in ("ROW", "COLUMN"):
        return False
    sheet, start, end = loc
    if sheet is None or sheet.sheet_id != int(dim.get("sheetId", 0) or 0):
        return False
    if (md["locationType"] == "ROW") != (dim.get("dimension") == "ROWS"):
        return False
    w0, w1 = int(dim.get("startIndex", 0)), dim.get("endIndex")
    w1 = 10**9 if w1 is None else int(w1)
    if strategy == "INTERSECTING_LOCATION":
        return start < w1 and w0 < end
    return (start, end) == (w0, w1)


def resolve_filter(
    ss: Spreadsheet, data_filter: dict[str, Any], where: str = "", cache: Lookups | None = None
) -> list[Target]:
    """The ranges a ``DataFilter`` designates (several for a metadata lookup)."""
    if "a1Range" in data_filter:
        return [grid.resolve(ss, data_filter["a1Range"])]
    if "gridRange" in data_filter:
        gr = data_filter["gridRange"]
        sheet = grid.sheet_of(ss, gr, where)
        return [Target(sheet, grid.bounds_of(gr), "")]
    lookup = data_filter.get("developerMetadataLookup")
    if lookup is None:
        raise bad_request(
            f"{where}A data filter must have a1Range, gridRange or developerMetadataLookup."
        )
    cache = cache or Lookups(ss)
    locs = cache.locs
    out: list[Target] = []

    for mid in matches(ss, lookup, locs, cache):
        found, start, end = locs.get(mid, (None, None, None))
        md = ss.metadata[mid]
        if found is None:
            continue
        sheet = found
        if md["locationType"] == "ROW":
            out.append(Target(sheet, Bounds(start, end, None, None), ""))
        elif md["locationType"] == "COLUMN":
            out.append(Target(sheet, Bounds(None, None, start, end), ""))
        else:
            out.append(Target(sheet, Bounds(None, None, None, None), ""))
    return out
