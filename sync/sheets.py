"""Spreadsheet backends: the protocol the cycle talks to, and its in-memory and .xlsx versions.

A backend reads every tab of a source in one request and applies a batch of
compare-and-set cell writes in one save (DESIGN.md "Data flow", promises 5 and 6).
Where each write lands is decided by the pure function :func:`apply_writes`, against
the source's contents *at write time*, so that a write never overwrites a cell that
someone changed after the cycle read it, and never lands on the wrong row when rows
were inserted, deleted or sorted, or columns reordered, in the meantime.
"""

from __future__ import annotations

import collections
import copy
import datetime as dt
import functools
import hashlib
import io
import logging
import os
import stat
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import zip_longest
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import filelock
import openpyxl
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.dimensions import ColumnDimension
from openpyxl.worksheet.worksheet import Worksheet

from .cells import (
    CellValue,
    CellWrite,
    ErrorCell,
    Grid,
    SourceSnapshot,
    UncalculatedFormula,
    WriteResult,
    cell_text,
    identical_cell,
    is_blank,
    put_cell,
    same_cell,
    trim_grid,
)
from .errors import LayoutError, SourceError, SourceLocked
from .fields import CUSTOMER_FIELDS, FOLLOW_UP_FIELDS, header_key
from .long_text import XLSX_CELL_CHARS, fit_cells, fit_writes
from .xlsx_parts import Grouped, Unpatchable, Unreadable, group_cells, patch_cells, read_values

log = logging.getLogger("sheetsync")

__all__ = [
    "Backend",
    "CellSet",
    "CountedCells",
    "MemoryBackend",
    "PROTECTED_NOTE",
    "TabHeader",
    "XlsxBackend",
    "alias_folder",
    "apply_writes",
    "find_header_row",
    "find_tab",
    "xlsx_lock_files",
]

CellSet = tuple[str, int, int, CellValue]
"""One cell to set: (tab title, 0-based row, 0-based column, value)."""


class CountedCells:
    """Cells handed over one at a time (a cold master sets millions: never all held in a
    list), counted as they go."""

    def __init__(self, cells: Iterable[CellSet]):
        self._cells = iter(cells)
        self.count = 0

    def __iter__(self) -> CountedCells:
        return self

    def __next__(self) -> CellSet:
        cell = next(self._cells)
        self.count += 1
        return cell


_NO_TABS: Mapping[str, Sequence[str]] = MappingProxyType({})
_NO_DROPDOWNS: Mapping[str, Mapping[str, Sequence[str]]] = MappingProxyType({})
_NO_NOTES: Mapping[str, Mapping[str, str]] = MappingProxyType({})

PROTECTED_NOTE = "Filled by sheetsync; edits are reverted"
"""Comment put on the header cell of a sync/admin-owned column."""

# Reasons a write is skipped (WriteResult.skipped); the next cycle re-reads and retries.
TAB_GONE = "tab is gone"
HEADER_MOVED = "header row moved"
COLUMN_GONE = "column is gone"
ROW_GONE = "row is gone"
ROW_AMBIGUOUS = "row is ambiguous"
CHANGED = "changed since read"


@runtime_checkable
class Backend(Protocol):
    """What the cycle needs from a spreadsheet service."""

    name: str
    cell_limit: int | None
    """The most characters one cell holds (None: no limit). ``write`` shows a longer text
    cut, with a marker (:mod:`sync.long_text`)."""
    sets_cells_atomically: bool
    """Whether ``set_cells`` checks the version and sets the cells in one step (under the
    file's lock), so that cells set by position cannot land on a row someone moved in
    between: then an agent's rows may be set by position too. Google has no such step."""

    def prefetch_fingerprints(self, sources: Sequence[str]) -> None:
        """Learn the fingerprints of many sources at once, before a cycle asks for each.

        Google answers one Drive ``changes.list`` for every spreadsheet; local backends
        have nothing to gain and do nothing.
        """
        ...

    def fingerprint(self, source: str) -> str | None:
        """A cheap change hint for the whole source, without reading cells.

        Returns:
            An opaque string that changes when the source changes, or None when the
            source does not exist.
        """
        ...

    def read(self, source: str) -> SourceSnapshot:
        """Read every tab of the source in one go.

        Raises:
            SourceLocked: the source is open in an editor that holds it (workbooks).
            SourceError: the source is missing or unreadable; the message names it.
        """
        ...

    def write(
        self, source: str, writes: Sequence[CellWrite], *, read_version: str | None = None
    ) -> WriteResult:
        """Apply compare-and-set writes (see :func:`apply_writes`) in one save; a text longer
        than ``cell_limit`` is written cut to fit (:func:`sync.long_text.cut_to_fit`).

        Args:
            read_version: the fingerprint the cycle read; when the source no longer has
                it, the result says ``concurrent`` so the cycle reads it again next time.

        Returns:
            How many writes were applied, which were skipped and why, and the
            source's fingerprint after the write.
        """
        ...

    def set_cells(self, source: str, cells: Iterable[CellSet], *, version: str) -> str | None:
        """Set these cells (tab, 0-based row, 0-based column, value) as they are, without
        reading the source, if it is still at ``version`` (what the caller last wrote).

        For sync-owned tabs whose contents the caller knows (the master): nobody changed
        them since, so there is nothing to compare the cells with. Cells are written RAW.

        Returns:
            The source's fingerprint after the write, or None when the source is no longer
            at ``version`` (nothing is written; the caller reads it and diffs instead).
        """
        ...

    def ensure_layout(
        self,
        source: str,
        tabs: Mapping[str, Sequence[str]],
        *,
        text_columns: Mapping[str, Sequence[str]] = _NO_TABS,
        dropdowns: Mapping[str, Mapping[str, Sequence[str]]] = _NO_DROPDOWNS,
        protected: Mapping[str, Sequence[str]] = _NO_TABS,
        aliases: Mapping[str, Sequence[str]] = _NO_TABS,
        notes: Mapping[str, Mapping[str, str]] = _NO_NOTES,
    ) -> list[str]:
        """Create the source, its missing tabs and missing header columns; never touch data.

        Args:
            source: the source's address.
            tabs: tab title -> header row.
            text_columns: tab -> headers whose column is formatted as plain text.
            dropdowns: tab -> header -> allowed values (a list validation).
            protected: tab -> headers of sync/admin-owned columns.
            aliases: default header -> other spellings that count as that column.
            notes: tab -> header -> a note on that header cell (how to use the column).

        Returns:
            What was changed, in words; empty when the layout was already there.
        """
        ...


# ---------------------------------------------------------------------------------------------
# apply_writes: where each write lands, decided against the current contents
# ---------------------------------------------------------------------------------------------


def _get(grid: Grid, row: int, col: int) -> CellValue:
    if 0 <= row < len(grid) and 0 <= col < len(grid[row]):
        return grid[row][col]
    return None


def _row_blank(cells: Sequence[CellValue]) -> bool:
    return all(is_blank(v) for v in cells)


def _last_filled_row(grid: Grid) -> int:
    for index in range(len(grid) - 1, -1, -1):
        if not _row_blank(grid[index]):
            return index
    return -1


def find_tab(titles: Iterable[str], title: str) -> str | None:
    """The existing tab title matching ``title``: exactly, else case-insensitively if unique."""
    titles = list(titles)
    if title in titles:
        return title
    folded = [t for t in titles if t.strip().casefold() == title.strip().casefold()]
    return folded[0] if len(folded) == 1 else None


def _tab_finder(tabs: Mapping[str, Grid]) -> Callable[[str], str | None]:
    """:func:`find_tab` over these tabs, each title looked up once (a batch has millions
    of writes to a few tabs)."""
    found: dict[str, str | None] = {}

    def tab_of(wanted: str) -> str | None:
        if wanted not in found:
            found[wanted] = find_tab(tabs, wanted)
        return found[wanted]

    return tab_of


Fold = Callable[[str], str]


def alias_folder(aliases: Mapping[str, Sequence[str]] = _NO_TABS) -> Fold:
    """A header fold under which every alias of a known field equals its default header.

    So that ``ensure_layout`` does not add "Name" to a tab whose header says "الاسم".

    Args:
        aliases: more spellings, default header -> other headers (from the configuration).
    """
    table: dict[str, str] = {}
    for f in (*CUSTOMER_FIELDS, *FOLLOW_UP_FIELDS):
        for name in (f.key, *f.aliases, *aliases.get(f.header, ())):
            table.setdefault(header_key(name), header_key(f.header))

    def fold(text: str) -> str:
        key = header_key(text)
        return table.get(key, key)

    return fold


class TabHeader:
    """Folded header row of one tab: folded header -> first column index holding it."""

    def __init__(self, grid: Grid, row: int, fold: Fold = header_key) -> None:
        self.row = row
        self.fold = fold
        self.cells = grid[row] if row < len(grid) else []
        self.index: dict[str, int] = {}
        for col, value in enumerate(self.cells):
            key = fold(cell_text(value))
            if key:
                self.index.setdefault(key, col)
        self._found: dict[str, int | None] = {}  # a batch names a few columns thousands of times

    def find(self, name: str) -> int | None:
        try:
            return self._found[name]
        except KeyError:
            col = self._found[name] = self.index.get(self.fold(name))
            return col

    def add(self, grid: Grid, name: str, cells: list[CellSet], title: str) -> int:
        """Append ``name`` after the last non-empty header cell; return its column."""
        last = max(self.index.values(), default=-1)
        for col, value in enumerate(self.cells):
            if not is_blank(value):
                last = max(last, col)
        col = last + 1
        put_cell(grid, self.row, col, name)
        self.cells = grid[self.row]
        self.index[self.fold(name)] = col
        self._found.clear()
        cells.append((title, self.row, col, name))
        return col


def _moved_headers(tabs: dict[str, Grid], writes: Sequence[CellWrite]) -> set[tuple[str, int]]:
    """(tab, header row) pairs whose header row no longer looks like the one the writes read.

    A header row has moved when it holds headers but none of the names the writes use
    (target columns and anchor columns), or when it is empty while rows below it are not
    (a row was inserted above the header). An empty header row over an empty tab is a new
    tab whose header the writes will build. (So a batch whose writes all target columns the
    header lacks is refused: ``ensure_layout`` adds those columns first.)
    """
    names: dict[tuple[str, int], set[str]] = collections.defaultdict(set)
    tab_of = _tab_finder(tabs)
    fold = functools.cache(header_key)  # a batch names a few columns thousands of times
    for w in writes:
        title = tab_of(w.tab)
        if title is None:
            continue
        if w.col is not None and not w.anchor:
            continue  # positional: no header involved
        used = names[(title, w.header_row)]
        if w.col is None:
            used.add(fold(w.column))
        used.update(fold(h) for h, _ in w.anchor)
    moved: set[tuple[str, int]] = set()
    for (title, row), used in names.items():
        grid = tabs[title]
        header = TabHeader(grid, row)
        if not header.index:
            if any(not _row_blank(cells) for cells in grid[row + 1 :]):
                moved.add((title, row))
        elif not used & header.index.keys():
            moved.add((title, row))
    return moved


class _AnchorIndex:
    """Rows below one header, keyed by the texts of a tuple of anchor columns (built lazily)."""

    def __init__(self) -> None:
        self._maps: dict[tuple[str, int, tuple[int, ...]], dict[tuple[str, ...], list[int]]] = {}

    def rows(
        self, title: str, grid: Grid, header_row: int, cols: tuple[int, ...], key: tuple[str, ...]
    ) -> list[int]:
        ident = (title, header_row, cols)
        mapping = self._maps.get(ident)
        if mapping is None:
            mapping = collections.defaultdict(list)
            for row in range(header_row + 1, len(grid)):
                mapping[tuple(cell_text(_get(grid, row, c)) for c in cols)].append(row)
            self._maps[ident] = mapping
        return mapping.get(key, [])


def apply_writes(
    tabs: dict[str, Grid], writes: Sequence[CellWrite]
) -> tuple[list[CellSet], list[tuple[CellWrite, str]]]:
    """Decide, against the current contents of ``tabs``, where each write lands.

    Rules (DESIGN.md promise 5):

    * Column: the header cell of row ``w.header_row`` whose folded text (``header_key``)
      equals the folded ``w.column``. A missing column is appended after the last non-empty
      header when ``w.old`` is blank (else: "column is gone"). When that header row no
      longer looks like the header that was read (none of the batch's column and anchor
      names is found in it, or it is blank above non-blank rows; or this write's column and
      every one of its anchor columns are missing): "header row moved".
    * Row: ``w.row`` when every anchor (header, value read) still matches there
      (``same_cell``); otherwise the unique row below the header where they all match
      ("row is gone" when none, "row is ambiguous" when several). An empty anchor means
      the position alone identifies the row.
    * Cell: skipped with "changed since read" unless the current value ``same_cell``
      ``w.old``. A new value identical to the current one counts as applied and sets nothing.
    * Positional columns: a write with ``w.col`` set targets that 0-based column and ignores
      ``w.column``; with an empty anchor it targets (``w.row``, ``w.col``) whatever the
      header row holds (sync-owned tabs such as the master sheet, header row included).
    * Appends (``w.row is None``): the writes of one ``group`` (None is a group too) fill one
      new row after the last non-blank row (and after the header), groups in order of
      first appearance. ``old`` and ``anchor`` are ignored for appends.

    Rows are located against the contents before any write of the batch is applied, so a
    write that changes an anchor cell does not lose the other writes of that row.

    Args:
        tabs: tab title -> grid, current contents; ragged rows are fine. Mutated in place to
            hold the result (missing rows and cells are padded with None).
        writes: the batch.

    Returns:
        The cells to set as (tab, row, column, value), in order (added header cells
        included), and the skipped writes with their reasons.
    """
    cells: list[CellSet] = []
    skipped: list[tuple[CellWrite, str]] = []
    moved = _moved_headers(tabs, writes)
    headers: dict[tuple[str, int], TabHeader] = {}
    anchors = _AnchorIndex()

    def header_of(title: str, row: int) -> TabHeader:
        found = headers.get((title, row))
        if found is None:
            found = headers[(title, row)] = TabHeader(tabs[title], row)
        return found

    tab_of = _tab_finder(tabs)

    placed: list[tuple[CellWrite, str, int, int]] = []
    groups: dict[str | None, list[CellWrite]] = {}
    for w in writes:
        if w.row is None:
            groups.setdefault(w.group, []).append(w)
            continue
        title = tab_of(w.tab)
        if title is None:
            skipped.append((w, TAB_GONE))
            continue
        grid = tabs[title]
        if w.col is not None and not w.anchor:
            placed.append((w, title, w.row, w.col))  # position alone (sync-owned tab)
            continue
        if (title, w.header_row) in moved:
            skipped.append((w, HEADER_MOVED))
            continue
        header = header_of(title, w.header_row)
        col = w.col if w.col is not None else header.find(w.column)
        anchor_cols = [header.find(h) for h, _ in w.anchor]
        if col is None and w.anchor and all(c is None for c in anchor_cols):
            skipped.append((w, HEADER_MOVED))
            continue
        if col is None and not is_blank(w.old):
            skipped.append((w, COLUMN_GONE))
            continue
        missing = [h for (h, _), c in zip(w.anchor, anchor_cols, strict=True) if c is None]
        if missing:
            skipped.append((w, f"anchor column {missing[0]!r} is gone"))
            continue
        row = w.row
        if w.anchor:
            cols = tuple(c for c in anchor_cols if c is not None)
            key = tuple(cell_text(v) for _, v in w.anchor)
            here = tuple(cell_text(_get(grid, row, c)) for c in cols)
            if row <= w.header_row or here != key:
                candidates = anchors.rows(title, grid, w.header_row, cols, key)
                if not candidates:
                    skipped.append((w, ROW_GONE))
                    continue
                if len(candidates) > 1:
                    skipped.append((w, ROW_AMBIGUOUS))
                    continue
                row = candidates[0]
        if col is None:
            col = header.add(grid, w.column, cells, title)
        placed.append((w, title, row, col))

    for w, title, row, col in placed:
        grid = tabs[title]
        current = _get(grid, row, col)
        if not same_cell(current, w.old):
            skipped.append((w, CHANGED))
        elif not identical_cell(current, w.new):
            put_cell(grid, row, col, w.new)
            cells.append((title, row, col, w.new))

    for group in groups.values():
        ready: list[tuple[CellWrite, str, TabHeader, int | None]] = []
        for w in group:
            title = tab_of(w.tab)
            if title is None:
                skipped.append((w, TAB_GONE))
                continue
            header = header_of(title, w.header_row)
            if w.col is not None:
                ready.append((w, title, header, w.col))
                continue
            if (title, w.header_row) in moved:
                skipped.append((w, HEADER_MOVED))
                continue
            ready.append((w, title, header, header.find(w.column)))
        rows: dict[str, int] = {}
        for w, title, header, col in ready:
            grid = tabs[title]
            if title not in rows:
                header_rows = [h.row for x, t, h, _ in ready if t == title]
                rows[title] = max(_last_filled_row(grid), *header_rows) + 1
            if col is None:
                col = header.find(w.column)  # an earlier write of the group may have added it
            if col is None:
                col = header.add(grid, w.column, cells, title)
            row = rows[title]
            if not identical_cell(_get(grid, row, col), w.new):
                put_cell(grid, row, col, w.new)
                cells.append((title, row, col, w.new))
    return cells, skipped


def _finish_cells(grid: Grid) -> Grid:
    """Strip trailing blank cells of every row and trailing blank rows (a fresh copy)."""
    return trim_grid([list(cells) for cells in grid])


# ---------------------------------------------------------------------------------------------
# MemoryBackend
# ---------------------------------------------------------------------------------------------


class MemoryBackend:
    """Sources held in memory, for tests and the emulator.

    Attributes:
        sources: source -> tab -> grid. Reads and writes copy in and out.
        versions: source -> integer bumped on every change (fingerprint ``v<n>``).
        layouts: source -> tab -> {"text": set of folded headers, "dropdowns": folded header
            -> values, "protected": set of folded headers, "notes": folded header -> note}, as
            set by ``ensure_layout``.
        calls: request counter ("read", "write", "fingerprint", "layout").
        before_write: called with the source inside ``write`` before the writes are
            applied, to simulate someone editing between a cycle's read and its write.
        locked: sources that raise SourceLocked on read and write.
        cell_limit: the most characters a cell holds (None: no limit; tests set one).
    """

    name = "memory"
    sets_cells_atomically = True

    def __init__(
        self,
        sources: Mapping[str, Mapping[str, Grid]] | None = None,
        *,
        cell_limit: int | None = None,
    ) -> None:
        self.cell_limit = cell_limit
        self.sources: dict[str, dict[str, Grid]] = {}
        self.versions: dict[str, int] = {}
        self.layouts: dict[str, dict[str, dict[str, Any]]] = {}
        self.calls: collections.Counter[str] = collections.Counter()
        self.before_write: Callable[[str], None] | None = None
        self.locked: set[str] = set()
        for source, tabs in (sources or {}).items():
            for title, grid in tabs.items():
                self.set_tab(source, title, grid)

    def _bump(self, source: str) -> None:
        self.versions[source] = self.versions.get(source, 0) + 1

    def _existing(self, source: str) -> dict[str, Grid]:
        if source in self.locked:
            raise SourceLocked(f"{source} is locked; skipped this cycle")
        tabs = self.sources.get(source)
        if tabs is None:
            raise SourceError(f"{source} does not exist", hint="run init to create it")
        return tabs

    def set_tab(self, source: str, tab: str, grid: Grid) -> None:
        """Replace (or create) one tab, creating the source if needed; bumps the version."""
        self.sources.setdefault(source, {})[tab] = copy.deepcopy([list(r) for r in grid])
        self._bump(source)

    def get_tab(self, source: str, tab: str) -> Grid:
        """A copy of one tab, trailing blanks stripped. Raises KeyError when missing."""
        return _finish_cells(self.sources[source][tab])

    def delete_tab(self, source: str, tab: str) -> None:
        """Remove one tab; bumps the version."""
        del self.sources[source][tab]
        self._bump(source)

    def prefetch_fingerprints(self, sources: Sequence[str]) -> None:
        """Nothing to prefetch: a fingerprint is a counter in memory."""

    def fingerprint(self, source: str) -> str | None:
        self.calls["fingerprint"] += 1
        if source not in self.sources:
            return None
        return f"v{self.versions.get(source, 0)}"

    def read(self, source: str) -> SourceSnapshot:
        self.calls["read"] += 1
        tabs = self._existing(source)
        return SourceSnapshot(
            source=source,
            version=f"v{self.versions.get(source, 0)}",
            tabs={title: _finish_cells(grid) for title, grid in tabs.items()},
        )

    def write(
        self, source: str, writes: Sequence[CellWrite], *, read_version: str | None = None
    ) -> WriteResult:
        self.calls["write"] += 1
        self._existing(source)
        if self.before_write is not None:
            self.before_write(source)
        tabs = self._existing(source)
        before = f"v{self.versions.get(source, 0)}"
        cells, skipped = apply_writes(tabs, fit_writes(writes, self.cell_limit))
        if cells:
            self.sources[source] = tabs
            self._bump(source)
        return WriteResult(
            applied=len(writes) - len(skipped),
            skipped=skipped,
            version=f"v{self.versions.get(source, 0)}",
            concurrent=read_version is not None and before != read_version,
        )

    def set_cells(self, source: str, cells: Iterable[CellSet], *, version: str) -> str | None:
        self.calls["set_cells"] += 1
        tabs = self._existing(source)
        if self.before_write is not None:
            self.before_write(source)
        if f"v{self.versions.get(source, 0)}" != version:
            return None
        changed = False
        for title, row, col, value in fit_cells(cells, self.cell_limit):
            put_cell(tabs.setdefault(title, []), row, col, value)
            changed = True
        if changed:
            self._bump(source)
        return f"v{self.versions.get(source, 0)}"

    def ensure_layout(
        self,
        source: str,
        tabs: Mapping[str, Sequence[str]],
        *,
        text_columns: Mapping[str, Sequence[str]] = _NO_TABS,
        dropdowns: Mapping[str, Mapping[str, Sequence[str]]] = _NO_DROPDOWNS,
        protected: Mapping[str, Sequence[str]] = _NO_TABS,
        aliases: Mapping[str, Sequence[str]] = _NO_TABS,
        notes: Mapping[str, Mapping[str, str]] = _NO_NOTES,
    ) -> list[str]:
        self.calls["layout"] += 1
        if source in self.locked:
            raise SourceLocked(f"{source} is locked; skipped this cycle")
        changes: list[str] = []
        if source not in self.sources:
            self.sources[source] = {}
            changes.append(f"created {source}")
        store = self.sources[source]
        for wanted, headers in tabs.items():
            title = find_tab(store, wanted)
            formats: list[str] = []  # not reported for a new tab, as XlsxBackend does
            new = title is None
            if title is None:
                title = wanted
                store[title] = [list(headers)]
                changes.append(f"added tab {title}")
            else:
                grid = store[title]
                fold = alias_folder(aliases)
                row = find_header_row(grid, headers, source, title, fold)
                header = TabHeader(grid, row, fold)
                for name in headers:
                    if header.find(name) is None:
                        header.add(grid, name, [], title)
                        changes.append(f"added column {name} to {title}")
            layout = self.layouts.setdefault(source, {}).setdefault(
                title, {"text": set(), "dropdowns": {}, "protected": set(), "notes": {}}
            )
            for name, note in notes.get(wanted, {}).items():
                if layout["notes"].get(header_key(name)) != note:
                    layout["notes"][header_key(name)] = note
                    formats.append(f"noted {title}/{name}")
            for name in text_columns.get(wanted, ()):
                if header_key(name) not in layout["text"]:
                    layout["text"].add(header_key(name))
                    formats.append(f"formatted {title}/{name} as text")
            for name, values in dropdowns.get(wanted, {}).items():
                if layout["dropdowns"].get(header_key(name)) != list(values):
                    layout["dropdowns"][header_key(name)] = list(values)
                    formats.append(f"set dropdown of {title}/{name}")
            for name in protected.get(wanted, ()):
                if header_key(name) not in layout["protected"]:
                    layout["protected"].add(header_key(name))
                    formats.append(f"marked {title}/{name} as filled by sheetsync")
            if not new:
                changes += formats
        if changes:
            self._bump(source)
        return changes


def find_header_row(
    grid: Grid, headers: Sequence[str], source: str, title: str, fold: Fold = header_key
) -> int:
    """The row among the first 10 holding any of ``headers``; 0 for an empty tab."""
    wanted = {fold(h) for h in headers}
    for row in range(min(len(grid), 10)):
        if any(fold(cell_text(v)) in wanted for v in grid[row]):
            return row
    if all(_row_blank(cells) for cells in grid):
        return 0
    raise LayoutError(
        f"tab {title!r} has no header row with any of {', '.join(headers)} in its first 10 rows",
        where=source,
        hint="put the header row back, or rename the tab so a new one is created",
    )


# ---------------------------------------------------------------------------------------------
# XlsxBackend
# ---------------------------------------------------------------------------------------------

_GREY = "FFD9D9D9"
_TEXT_FORMAT = "@"
_MAX_ROW = 1_048_576
# Parts of a workbook that openpyxl drops when it saves: writing would destroy them.
_UNKEEPABLE = (
    ("xl/charts/", "charts"),
    ("xl/media/", "images"),
    ("xl/drawings/drawing", "shapes or drawings"),
    ("xl/vbaProject.bin", "macros"),
    ("xl/slicers/", "slicers"),
    ("xl/timelines/", "timelines"),
)


def xlsx_lock_files(path: Path) -> list[Path]:
    """The lock files LibreOffice (``.~lock.<name>#``) and Excel (``~$<name>``) put next to it."""
    name = path.name
    candidates = [f".~lock.{name}#", f"~${name}"]
    if len(name) > 2:
        candidates.append(f"~${name[2:]}")  # Office's owner file for long names
    return [path.with_name(c) for c in candidates]


def _fingerprint_bytes(data: bytes) -> str:
    return f"{len(data)}:{hashlib.sha256(data).hexdigest()[:16]}"


def _from_xlsx(value: object) -> CellValue:
    """A value openpyxl read, as a CellValue (midnight datetimes are dates)."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None and value.time() == dt.time():
            return value.date()
        return value
    if isinstance(value, dt.date):
        return value
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    text = getattr(value, "text", None)  # ArrayFormula, DataTableFormula
    return text if isinstance(text, str) else str(value)


def xlsx_values(data: bytes) -> dict[str, Grid]:
    """Every tab's values of an .xlsx file: python-calamine, or openpyxl where calamine fails.

    A cell reads as what it shows: a formula's saved value; an error value, or a formula
    saved without its value, as :class:`~sync.cells.NotData` (never taken as data).
    """
    try:
        return read_values(data)
    except Unreadable:
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        formulas = openpyxl.load_workbook(io.BytesIO(data), read_only=True, keep_links=True)
        shown = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, keep_links=True, data_only=True
        )
    try:
        tabs: dict[str, Grid] = {}
        for ws, values in zip(formulas.worksheets, shown.worksheets, strict=True):
            ws.reset_dimensions()  # some writers store a wrong <dimension>
            values.reset_dimensions()
            tabs[ws.title] = trim_grid(
                [
                    [_shown_cell(cell, saved) for cell, saved in zip_longest(row, saved_row)]
                    for row, saved_row in zip_longest(
                        ws.iter_rows(), values.iter_rows(), fillvalue=()
                    )
                ]
            )
        return tabs
    finally:
        formulas.close()
        shown.close()


def _shown_cell(cell: Any, saved: Any) -> CellValue:
    """What an openpyxl cell shows, given the same cell read with its saved values."""
    kind = getattr(cell, "data_type", None)
    value = getattr(saved, "value", None)
    if kind == "e" or getattr(saved, "data_type", None) == "e":
        return ErrorCell(str(value if value is not None else cell.value))
    if kind == "f" and value is None:
        text = cell.value if isinstance(cell.value, str) else getattr(cell.value, "text", "")
        return UncalculatedFormula(text if text.startswith("=") else "=" + text)
    return _from_xlsx(value if kind == "f" else getattr(cell, "value", None))


def _copy_tabs(tabs: Mapping[str, Grid]) -> dict[str, Grid]:
    return {title: [list(row) for row in grid] for title, grid in tabs.items()}


def _grid_of(rows: Iterable[Sequence[object]]) -> Grid:
    return trim_grid([[_from_xlsx(v) for v in cells] for cells in rows])


def _covering(ws: Worksheet, col: int) -> ColumnDimension | None:
    """The column definition (``<col min max>``) covering 1-based column ``col``, if any."""
    for dim in ws.column_dimensions.values():
        dim.reindex()
        if dim.min is not None and dim.max is not None and dim.min <= col <= dim.max:
            return dim
    return None


def _own_dimension(ws: Worksheet, col: int) -> ColumnDimension:
    """The definition of column ``col`` alone, split out of a range definition if needed.

    openpyxl keys a ``<col min=3 max=5>`` under "C" only; touching "D" directly would
    write overlapping ranges, which Excel reports as a damaged file.
    """
    letter = get_column_letter(col)
    dim = _covering(ws, col)
    if dim is None:
        return ws.column_dimensions[letter]
    if dim.min == dim.max:
        return dim
    del ws.column_dimensions[dim.index]
    for low, high in ((dim.min, col - 1), (col, col), (col + 1, dim.max)):
        if low > high:
            continue
        piece = ColumnDimension(
            ws,
            index=get_column_letter(low),
            width=dim.width,
            bestFit=dim.bestFit,
            hidden=dim.hidden,
            outlineLevel=dim.outlineLevel,
            collapsed=dim.collapsed,
            min=low,
            max=high,
        )
        piece._style = copy.copy(dim._style)
        ws.column_dimensions[piece.index] = piece
    return ws.column_dimensions[letter]


def _cells_not_text(ws: Worksheet, col: int, first: int, last: int) -> list[Cell]:
    """The cells of column ``col`` in rows ``first..last`` (1-based) that are not text.

    A cell with no value and no style of its own is left out: the file has no such cell
    (openpyxl makes it while reading the grid and never saves it), and a cell typed there
    in Excel or LibreOffice takes the column's text format. Counting it re-formatted and
    re-saved every workbook the sync had appended rows to (a row without Other phone).
    """
    cells = (ws.cell(row=r, column=col) for r in range(first, last + 1))
    return [
        c for c in cells if (c.value is not None or c.has_style) and c.number_format != _TEXT_FORMAT
    ]


def _set_cell(ws: Worksheet, row: int, col: int, value: CellValue) -> None:
    """Set one cell; strings always stay text (promise 6), dates get a date format.

    A cell created here takes its column's style (e.g. the text format of a phone column),
    as a cell typed there in Excel or LibreOffice would.
    """
    new = (row + 1, col + 1) not in ws._cells
    cell = ws.cell(row=row + 1, column=col + 1)
    if new:
        dim = _covering(ws, col + 1)
        if dim is not None and dim.has_style:
            cell._style = copy.copy(dim._style)
    if isinstance(value, str):
        text = ILLEGAL_CHARACTERS_RE.sub("", value)
        if text == "":
            cell.value = None
            return
        cell.value = text
        cell.data_type = "s"  # openpyxl would store "=..." as a formula
    elif isinstance(value, dt.datetime) and value.tzinfo is not None:
        cell.value = value.replace(tzinfo=None)
    else:
        cell.value = value  # dates get "yyyy-mm-dd" unless the cell already has a date format


def _list_formula(values: Sequence[str], where: str) -> str:
    items = [str(v) for v in values]
    if any("," in v or '"' in v for v in items):
        raise LayoutError(f"dropdown values cannot contain commas or quotes: {items}", where=where)
    formula = '"' + ",".join(items) + '"'
    if len(formula) > 257:
        raise LayoutError("dropdown values are longer than Excel's 255 characters", where=where)
    return formula


class XlsxBackend:
    """Workbooks on disk (.xlsx), read and written with openpyxl.

    Sources are paths; relative ones resolve against ``root`` and messages show them as
    given. A workbook open in LibreOffice or Excel (their lock file exists) is skipped.

    Args:
        root: directory relative sources resolve against (default: the working directory).
        lock_timeout: seconds to wait for another sheetsync process writing the same file.
    """

    name = "xlsx"
    cell_limit: int | None = XLSX_CELL_CHARS
    sets_cells_atomically = True

    def __init__(self, root: str | os.PathLike[str] | None = None, lock_timeout: float = 5.0):
        self.root = Path(root) if root is not None else None
        self.lock_timeout = lock_timeout
        # path -> (fingerprint, values) of the last read, reused by the next write
        self._read_cache: dict[str, tuple[str, dict[str, Grid]]] = {}

    # -- helpers ------------------------------------------------------------------------------

    def path(self, source: str) -> Path:
        """The file a source names."""
        path = Path(source).expanduser()
        if self.root is not None and not path.is_absolute():
            path = self.root / path
        return path

    def _check_open(self, source: str, path: Path) -> None:
        for lock in xlsx_lock_files(path):
            if lock.exists():
                holder = f"open in LibreOffice or Excel (lock file {lock.name})"
                raise SourceLocked(
                    f"{source} is {holder}; skipped this cycle, close it to sync",
                    holder=holder,
                    hint=f"if nobody has it open, delete the stale lock file {lock}",
                )

    def _bytes(self, source: str, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise SourceError(f"{source} does not exist", hint="run init to create it") from None
        except OSError as exc:
            raise SourceError(f"cannot read {source}: {exc.strerror or exc}") from exc

    def _load(self, source: str, data: bytes, *, read_only: bool) -> Workbook:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return openpyxl.load_workbook(
                    io.BytesIO(data), read_only=read_only, data_only=False, keep_links=True
                )
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise SourceError(
                f"{source} is not a readable .xlsx workbook ({type(exc).__name__}: {exc})",
                hint="open it in Excel or LibreOffice and save it as .xlsx",
            ) from exc

    @contextmanager
    def _exclusive(self, source: str, path: Path) -> Iterator[None]:
        """Keep other sheetsync processes out of this file's read-modify-write."""
        lock = filelock.FileLock(str(path) + ".sheetsync.lock", timeout=self.lock_timeout)
        try:
            lock.acquire()
        except filelock.Timeout:
            holder = "being written by another sheetsync process"
            raise SourceLocked(f"{source} is {holder}; skipped this cycle", holder=holder) from None
        try:
            yield
        finally:
            lock.release()

    def _refuse_unkeepable(self, source: str, data: bytes) -> None:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile as exc:
            raise SourceError(f"{source} is not a readable .xlsx workbook ({exc})") from exc
        found = sorted(
            {what for prefix, what in _UNKEEPABLE for n in names if n.startswith(prefix)}
        )
        if found:
            raise SourceError(
                f"{source} contains {', '.join(found)}, which the .xlsx writer cannot keep; "
                "sheetsync did not write to it",
                hint="move them to another workbook",
            )

    def _save(self, source: str, path: Path, wb: Workbook, before: bytes | None) -> bytes | None:
        """Save atomically (temp file + os.replace). Returns the bytes written, or None when
        the file changed since ``before`` was read (the caller redoes its work)."""
        buffer = io.BytesIO()
        wb.save(buffer)
        return self._save_bytes(source, path, buffer.getvalue(), before)

    def _save_bytes(
        self, source: str, path: Path, out: bytes, before: bytes | None
    ) -> bytes | None:
        """Write ``out`` atomically in place of the file, unless it changed since ``before``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(out)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                mode = stat.S_IMODE(path.stat().st_mode)
            except FileNotFoundError:
                umask = os.umask(0)
                os.umask(umask)
                mode = 0o666 & ~umask
            os.chmod(tmp, mode)
            self._check_open(source, path)
            current = path.read_bytes() if path.exists() else None
            if current != before:
                os.unlink(tmp)
                return None
            os.replace(tmp, path)
        except BaseException as exc:
            if os.path.exists(tmp):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise SourceError(
                    f"cannot save {source}: {exc.strerror or exc}; it was left as it was"
                ) from exc
            raise
        return out

    # -- the protocol -------------------------------------------------------------------------

    def prefetch_fingerprints(self, sources: Sequence[str]) -> None:
        """Nothing to prefetch: a fingerprint reads the file, which is as cheap."""

    def fingerprint(self, source: str) -> str | None:
        """``<size>:<sha256[:16]>`` of the file's bytes (a copy keeps it); None when missing."""
        try:
            return _fingerprint_bytes(self.path(source).read_bytes())
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SourceError(f"cannot read {source}: {exc.strerror or exc}") from exc

    def read(self, source: str) -> SourceSnapshot:
        path = self.path(source)
        self._check_open(source, path)
        data = self._bytes(source, path)
        tabs = self._values(source, data)
        version = _fingerprint_bytes(data)
        # The write-back of this cycle starts from the same bytes: it reuses these values
        # instead of parsing the workbook again.
        self._read_cache[str(path)] = (version, tabs)
        return SourceSnapshot(source=source, version=version, tabs=tabs)

    def _values(self, source: str, data: bytes) -> dict[str, Grid]:
        try:
            return xlsx_values(data)
        except Exception as exc:  # calamine and zipfile raise many kinds for a damaged file
            raise SourceError(
                f"{source} is not a readable .xlsx workbook ({type(exc).__name__}: {exc})",
                hint="open it in Excel or LibreOffice and save it as .xlsx",
            ) from exc

    def write(
        self, source: str, writes: Sequence[CellWrite], *, read_version: str | None = None
    ) -> WriteResult:
        path = self.path(source)
        writes = fit_writes(writes, self.cell_limit)
        if not path.exists():
            raise SourceError(f"{source} does not exist", hint="run init to create it")
        with self._exclusive(source, path):
            for _attempt in range(3):
                self._check_open(source, path)
                data = self._bytes(source, path)
                version = _fingerprint_bytes(data)
                cached = self._read_cache.pop(str(path), None)
                tabs = (
                    _copy_tabs(cached[1])
                    if cached and cached[0] == version
                    else self._values(source, data)
                )
                cells, skipped = apply_writes(tabs, writes)
                result = WriteResult(
                    applied=len(writes) - len(skipped),
                    skipped=skipped,
                    concurrent=read_version is not None and version != read_version,
                )
                if not cells:
                    result.version = version
                    return result
                self._refuse_unkeepable(source, data)
                out = self._save_bytes(source, path, self._patched(source, data, cells), data)
                if out is not None:
                    result.version = _fingerprint_bytes(out)
                    return result
        raise SourceError(
            f"{source} kept changing while sheetsync was writing to it; skipped this cycle"
        )

    def set_cells(self, source: str, cells: Iterable[CellSet], *, version: str) -> str | None:
        path = self.path(source)
        if not path.exists():
            raise SourceError(f"{source} does not exist", hint="run init to create it")
        with self._exclusive(source, path):
            self._check_open(source, path)
            data = self._bytes(source, path)
            if _fingerprint_bytes(data) != version:
                return None
            grouped = group_cells(fit_cells(cells, self.cell_limit))  # the cells, read once
            if not grouped:
                return version
            self._refuse_unkeepable(source, data)
            self._read_cache.pop(str(path), None)
            patched = self._patched(source, data, grouped)
            del grouped
            out = self._save_bytes(source, path, patched, data)
            return None if out is None else _fingerprint_bytes(out)

    def _patched(self, source: str, data: bytes, cells: Sequence[CellSet] | Grouped) -> bytes:
        """The workbook with ``cells`` set: patched in its sheet XML, or through openpyxl
        when the patch would not be safe (see :mod:`sync.xlsx_parts`)."""
        grouped = cells if isinstance(cells, dict) else group_cells(cells)
        try:
            return patch_cells(data, grouped)
        except Unpatchable as why:
            log.info("%s: written through openpyxl (%s)", source, why)
        wb = self._load(source, data, read_only=False)
        for title, rows in grouped.items():
            for row, values in rows.items():
                for col, value in values.items():
                    _set_cell(wb[title], row, col, value)
        buffer = io.BytesIO()
        wb.save(buffer)
        return buffer.getvalue()

    def ensure_layout(
        self,
        source: str,
        tabs: Mapping[str, Sequence[str]],
        *,
        text_columns: Mapping[str, Sequence[str]] = _NO_TABS,
        dropdowns: Mapping[str, Mapping[str, Sequence[str]]] = _NO_DROPDOWNS,
        protected: Mapping[str, Sequence[str]] = _NO_TABS,
        aliases: Mapping[str, Sequence[str]] = _NO_TABS,
        notes: Mapping[str, Mapping[str, str]] = _NO_NOTES,
    ) -> list[str]:
        path = self.path(source)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._exclusive(source, path):
            for _attempt in range(3):
                self._check_open(source, path)
                changes: list[str] = []
                data: bytes | None = None
                if path.exists():
                    data = self._bytes(source, path)
                    wb = self._load(source, data, read_only=False)
                else:
                    wb = openpyxl.Workbook()
                    changes.append(f"created {source}")
                default = wb.worksheets[0] if data is None else None
                for wanted, headers in tabs.items():
                    changes += _layout_tab(
                        wb,
                        source,
                        wanted,
                        headers,
                        text_columns.get(wanted, ()),
                        dropdowns.get(wanted, {}),
                        protected.get(wanted, ()),
                        alias_folder(aliases),
                        notes.get(wanted, {}),
                    )
                if default is not None and len(wb.worksheets) > 1:
                    wb.remove(default)
                if not changes:
                    return []
                if data is not None:
                    self._refuse_unkeepable(source, data)
                if self._save(source, path, wb, data) is not None:
                    return changes
        raise SourceError(
            f"{source} kept changing while sheetsync was setting it up; skipped this cycle"
        )


def _layout_tab(
    wb: Workbook,
    source: str,
    wanted: str,
    headers: Sequence[str],
    text: Sequence[str],
    dropdowns: Mapping[str, Sequence[str]],
    protected: Sequence[str],
    fold: Fold = header_key,
    notes: Mapping[str, str] = MappingProxyType({}),
) -> list[str]:
    """Bring one tab of a workbook to the layout; returns what changed (quiet for a new tab)."""
    changes: list[str] = []
    title = find_tab(wb.sheetnames, wanted)
    new = title is None
    if title is None:
        try:
            ws = wb.create_sheet(wanted)
        except ValueError as exc:
            raise LayoutError(f"cannot create tab {wanted!r}: {exc}", where=source) from exc
        title = wanted
        changes.append(f"added tab {title}")
        grid: Grid = []
    else:
        ws = wb[title]
        grid = _grid_of(ws.iter_rows(values_only=True))
    row = find_header_row(grid, headers, source, title, fold)
    header = TabHeader(grid, row, fold)
    added: list[CellSet] = []
    for name in headers:
        if header.find(name) is None:
            header.add(grid, name, added, title)
            if not new:
                changes.append(f"added column {name} to {title}")
    for _, r, c, value in added:
        cell = ws.cell(row=r + 1, column=c + 1, value=value)
        cell.data_type = "s"
        cell.font = Font(bold=True)
    if new:
        ws.freeze_panes = f"A{row + 2}"
        for _, _, c, value in added:
            _own_dimension(ws, c + 1).width = max(10, len(str(value)) + 4)
    first, last = row + 2, ws.max_row

    def column_of(name: str) -> int:
        col = header.find(name)
        if col is None:
            raise LayoutError(f"tab {title!r} has no column {name!r} to format", where=source)
        return col + 1

    for name in text:
        col = column_of(name)
        dimension = _covering(ws, col)
        untyped = _cells_not_text(ws, col, row + 1, last)
        if dimension is None or dimension.number_format != _TEXT_FORMAT or untyped:
            _own_dimension(ws, col).number_format = _TEXT_FORMAT
            for cell in untyped:
                cell.number_format = _TEXT_FORMAT
            changes.append(f"formatted {title}/{name} as text")
    for name, values in dropdowns.items():
        col = column_of(name)
        letter = get_column_letter(col)
        formula = _list_formula(values, source)
        probe = f"{letter}{first}"
        existing = [
            dv
            for dv in ws.data_validations.dataValidation
            if dv.type == "list" and probe in dv.sqref
        ]
        if any(dv.formula1 == formula for dv in existing):
            continue
        if existing:
            existing[0].formula1 = formula
        else:
            dv = DataValidation(
                type="list",
                formula1=formula,
                allow_blank=True,
                showErrorMessage=True,
                errorStyle="warning",
                errorTitle=name,
                error=f"Pick one of: {', '.join(values)}",
            )
            dv.add(f"{letter}{first}:{letter}{_MAX_ROW}")
            ws.add_data_validation(dv)
        changes.append(f"set dropdown of {title}/{name}")
    for name in protected:
        cell = ws.cell(row=row + 1, column=column_of(name))
        fill = cell.fill
        grey = fill is not None and fill.fill_type == "solid" and fill.fgColor.rgb == _GREY
        noted = cell.comment is not None and cell.comment.text == PROTECTED_NOTE
        if grey and noted:
            continue
        cell.fill = PatternFill(fill_type="solid", fgColor=_GREY)
        cell.comment = Comment(PROTECTED_NOTE, "sheetsync")
        changes.append(f"marked {title}/{name} as filled by sheetsync")
    for name, note in notes.items():
        cell = ws.cell(row=row + 1, column=column_of(name))
        if cell.comment is not None and cell.comment.text == note:
            continue
        cell.comment = Comment(note, "sheetsync", height=160, width=320)
        changes.append(f"noted {title}/{name}")
    return changes if not new else changes[:1]


if TYPE_CHECKING:  # mypy holds the in-memory backend to the protocol (XlsxBackend: make_backend)
    _memory: Backend = MemoryBackend()
