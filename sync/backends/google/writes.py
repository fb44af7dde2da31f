"""How a write is sent and checked: payload chunks, rows that moved, writes that landed.

Pure functions over grids and ``ValueRange`` dicts (no requests), used by
``GoogleBackend.write``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import orjson

from sync.backends.google.values import CellAt, a1, from_api, range_start
from sync.cells import (
    CellValue,
    CellWrite,
    Grid,
    cell_at,
    cell_text,
    copy_tabs,
    is_blank,
    same_cell,
)
from sync.fields import header_key
from sync.sheets import TabHeader, apply_writes, find_tab

MAX_PAYLOAD = 2_000_000
"""Bytes of values per ``values.batchUpdate``: Google recommends at most 2 MB a request (it
sets no hard limit, but what stands between may refuse a big request: its users report
refusals past 10 MB), so a large write is sent in several requests."""

Written = dict[tuple[str, int], dict[int, Any]]
"""(logical tab, row) -> column -> value sent (API form)."""


# ---------------------------------------------------------------------------------------------
# chunks
# ---------------------------------------------------------------------------------------------


def chunks(
    ranges: Sequence[dict[str, Any]], budget: int = MAX_PAYLOAD
) -> list[list[dict[str, Any]]]:
    """ValueRanges packed into requests of at most ``budget`` bytes of values (big ranges
    split between rows; a row bigger than ``budget`` goes alone).

    Sizes are those sent (``orjson``, as ``GoogleApi.call`` sends bodies), measured row by
    row: a whole cold master encoded at once held its 56 MB and several times that in the
    encoder's pieces."""
    pieces: list[tuple[int, dict[str, Any]]] = []
    for vr in ranges:
        rows = vr["values"]
        sizes = [len(orjson.dumps(row)) + 1 for row in rows]  # and a comma or the closing "]"
        size = sum(sizes) + 1
        if size <= budget or len(rows) == 1:
            pieces.append((size, vr))
            continue
        title, top, left = range_start(vr["range"])
        right = left + max(len(r) for r in rows) - 1
        start = 0
        while start < len(rows):
            end, part = start + 1, 1 + sizes[start]
            while end < len(rows) and part + sizes[end] <= budget:
                part += sizes[end]
                end += 1
            pieces.append(
                (
                    part,
                    {
                        "range": a1(title, top + start, left, top + end - 1, right),
                        "majorDimension": "ROWS",
                        "values": rows[start:end],
                    },
                )
            )
            start = end
    out: list[list[dict[str, Any]]] = []
    total = budget + 1
    for size, vr in pieces:
        if total + size > budget:
            out.append([])
            total = 0
        out[-1].append(vr)
        total += size
    return out


def written(data: Sequence[Mapping[str, Any]], logical: Mapping[str, str]) -> Written:
    """The cells a request sets (``null`` holes left out), by logical tab and row."""
    out: Written = defaultdict(dict)
    for vr in data:
        title, top, left = range_start(vr["range"])
        for r, values in enumerate(vr["values"]):
            for c, value in enumerate(values):
                if value is not None:
                    out[(logical.get(title, title), top + r)][left + c] = value
    return out


def rows_after(
    data: Sequence[Mapping[str, Any]], answer: Any, logical: Mapping[str, str]
) -> dict[tuple[str, int], list[Any]]:
    """(logical tab, row) -> the row right after the write, from its answer (whole rows),
    its values as the API gives them (:func:`displaced` reads those of the rows it checks)."""
    after: dict[tuple[str, int], list[Any]] = {}
    responses = (answer or {}).get("responses") or []
    for sent, response in zip(data, responses, strict=False):
        updated = response.get("updatedData")
        if not isinstance(updated, Mapping):
            continue
        title, row, col = range_start(sent["range"])
        if col != 0:
            continue  # not a whole-row range: nothing to check
        rows = updated.get("values") or []
        for offset in range(len(sent["values"])):
            values = rows[offset] if offset < len(rows) else []
            after[(logical.get(title, title), row + offset)] = values
    return after


# ---------------------------------------------------------------------------------------------
# rows that moved between the check and the write
# ---------------------------------------------------------------------------------------------


def displaced(
    before: Mapping[str, Grid],
    cells: Written,
    after: Mapping[tuple[str, int], Sequence[Any]],
) -> tuple[list[CellAt], list[CellAt]]:
    """Cells a write put on a row that had moved since the check before it.

    A written row is checked on the cells the write did not touch: they must be what the
    re-validation read saw. When they are not, the row now there is looked up in that read
    (same untouched cells): its overwritten cells are to be put back as they were; a new
    blank row gets its cells cleared. A row that cannot be told is reported.

    Returns:
        (cells to put back, with their old values; cells on rows that could not be told).
    """
    restores: list[CellAt] = []
    ambiguous: list[CellAt] = []
    index: dict[tuple[str, frozenset[int], int], dict[tuple[str, ...], list[int]]] = {}
    untouched: dict[tuple[frozenset[int], int], tuple[int, ...]] = {}

    def rest(values: Sequence[CellValue], skip: frozenset[int], width: int) -> tuple[str, ...]:
        others = untouched.get((skip, width))
        if others is None:
            others = untouched[(skip, width)] = tuple(c for c in range(width) if c not in skip)
        n = len(values)
        return tuple(cell_text(values[c]) if c < n else "" for c in others)

    widths: dict[str, int] = {}  # a tab's widest row, measured once (not once per row)
    for (tab, row), cols in cells.items():
        answer = after.get((tab, row))
        grid = before.get(tab)
        if answer is None or grid is None:
            continue
        if tab not in widths:
            widths[tab] = max((len(r) for r in grid), default=0)
        width = max(len(answer), max(cols) + 1, widths[tab])
        if len(cols) == width:
            continue  # the write set the whole row: no untouched cell to tell it by
        if row >= len(grid) and all(
            v is None or v == "" for c, v in enumerate(answer) if c not in cols
        ):
            continue  # a new row, blank but for what the write set (a cold master's)
        skip = frozenset(cols)
        now = [from_api(v) for v in answer]
        here = rest(now, skip, width)
        if here == rest(grid[row] if row < len(grid) else (), skip, width):
            continue
        key = (tab, skip, width)
        if key not in index:
            index[key] = defaultdict(list)
            for k, values in enumerate(grid):
                index[key][rest(values, skip, width)].append(k)
        found = [k for k in index[key].get(here, []) if k != row]
        if len(found) == 1:
            restores += [(tab, row, c, cell_at(grid, found[0], c)) for c in sorted(cols)]
        elif all(is_blank(now[c]) for c in range(len(now)) if c not in skip):
            restores += [(tab, row, c, None) for c in sorted(cols)]
        else:
            ambiguous += [(tab, row, c, from_api(v)) for c, v in sorted(cols.items())]
    return restores, ambiguous


# ---------------------------------------------------------------------------------------------
# which writes are in place
# ---------------------------------------------------------------------------------------------


def not_landed(tabs: Mapping[str, Grid], writes: Sequence[CellWrite]) -> list[CellWrite]:
    """The writes whose value is not where it belongs (after a lost answer or a put-back).

    A cell write is in place when, located against the contents now, its cell holds the new
    value: it is applied on a copy with ``old`` set to its new value, and with the anchors
    its own batch changed on that row (a Customer # just written) read as changed. An
    appended row is in place when some row holds all of its values.
    """
    placed = [w for w in writes if w.row is not None]
    new_of: dict[tuple[Any, ...], dict[str, CellValue]] = defaultdict(dict)
    for w in placed:
        new_of[(w.tab, w.header_row, w.row, w.anchor)][header_key(w.column)] = w.new
    probes = [
        replace(
            w,
            old=w.new,
            anchor=tuple(
                (h, new_of[(w.tab, w.header_row, w.row, w.anchor)].get(header_key(h), v))
                for h, v in w.anchor
            ),
        )
        for w in placed
    ]
    origin = {id(p): w for p, w in zip(probes, placed, strict=True)}
    _, missed = apply_writes(copy_tabs(tabs), probes)
    redo = [origin[id(p)] for p, _ in missed]
    groups: dict[tuple[str, str | None], list[CellWrite]] = {}
    for w in writes:
        if w.row is None:
            groups.setdefault((w.tab, w.group), []).append(w)
    for (tab, _), group in groups.items():
        title = find_tab(tabs, tab)
        grid = tabs.get(title) if title is not None else None
        if grid is None or not _row_with(grid, group):
            redo += group
    return redo


def _row_with(grid: Grid, group: Sequence[CellWrite]) -> bool:
    """Whether a row below the header holds every value of an appended row."""
    header = TabHeader(grid, group[0].header_row)
    cols = [w.col if w.col is not None else header.find(w.column) for w in group]
    for row in grid[group[0].header_row + 1 :]:
        if all(
            c is not None and same_cell(cell_at([row], 0, c), w.new)
            for w, c in zip(group, cols, strict=True)
        ):
            return True
    return False
