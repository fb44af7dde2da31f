"""Spreadsheet backends: the protocol the cycle talks to, and the rules every backend's
writes land by (the backends themselves: :mod:`sync.backends.memory`,
:mod:`sync.backends.xlsx`, :mod:`sync.backends.google`).

A backend reads every tab of a source in one request and applies a batch of
compare-and-set cell writes in one save (DESIGN.md "Data flow", promises 5 and 6).
Where each write lands is decided by the pure function :func:`apply_writes`, against
the source's contents *at write time*, so that a write never overwrites a cell that
someone changed after the cycle read it, and never lands on the wrong row when rows
were inserted, deleted or sorted, or columns reordered, in the meantime.

At this size because the protocol and the landing rules are one contract that every
backend keeps; the backends themselves live in :mod:`sync.backends`.
"""

from __future__ import annotations

import collections
import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from sync.cells import (
    CellValue,
    CellWrite,
    Grid,
    SourceSnapshot,
    WriteResult,
    cell_at,
    cell_text,
    identical_cell,
    is_blank,
    put_cell,
    same_cell,
    trim_grid,
)
from sync.errors import LayoutError
from sync.fields import CHECK_FIELDS, CUSTOMER_FIELDS, FOLLOW_UP_FIELDS, header_key

log = logging.getLogger("sheetsync")

__all__ = [
    "Backend",
    "CellSet",
    "CountedCells",
    "BlankHighlight",
    "DueHighlight",
    "Fold",
    "NO_DROPDOWNS",
    "NO_HIGHLIGHTS",
    "NO_NOTES",
    "NO_WIDTHS",
    "NO_TABS",
    "PROTECTED_NOTE",
    "RowMove",
    "TabHeader",
    "column_width",
    "alias_folder",
    "apply_writes",
    "find_header_row",
    "find_tab",
    "finish_cells",
    "move_rows",
    "row_offsets",
]

CellSet = tuple[str, int, int, CellValue]
"""One cell to set: (tab title, 0-based row, 0-based column, value)."""


@dataclass(frozen=True)
class RowMove:
    """Rows put in or taken out of a tab, the rows below moving with them: ``count`` blank
    rows inserted before the 0-based row ``at`` when positive, ``-count`` rows deleted from
    ``at`` on when negative. A list that shifts (a row gone from the middle of a sorted
    tab) is a move and the cells of the rows that changed, not every row below rewritten.
    """

    tab: str
    at: int
    count: int


def move_rows(grid: Grid, moves: Iterable[RowMove]) -> None:
    """Apply ``moves`` (of this grid's tab, in order) to a grid, in place."""
    for move in moves:
        if move.at > len(grid):
            continue  # past the last row: nothing there to move
        if move.count > 0:
            grid[move.at : move.at] = [[] for _ in range(move.count)]
        else:
            del grid[move.at : move.at - move.count]


def row_offsets(moves: Sequence[RowMove]) -> list[tuple[int, int, int]]:
    """The rows ``moves`` keep, as (first, end, offset): the 0-based rows ``[first, end)``
    of the tab before the moves are ``offset`` rows further after them; a row in no range
    is deleted. What :func:`move_rows` does to a grid, as ranges: one more per move."""
    parts = [(0, 1 << 40, 0)]  # rows [first, end) of the tab before, now from row ``now``
    for move in moves:
        moved: list[tuple[int, int, int]] = []
        low, high = move.at, move.at - move.count  # the rows deleted, when count < 0
        for first, end, now in parts:
            size = end - first
            if move.count > 0:
                if now >= move.at:
                    moved.append((first, end, now + move.count))
                elif now + size <= move.at:
                    moved.append((first, end, now))
                else:
                    cut = move.at - now
                    moved += [(first, first + cut, now), (first + cut, end, move.at + move.count)]
                continue
            if now < low:
                moved.append((first, first + min(size, low - now), now))
            if now + size > high:
                begin = max(now, high)
                moved.append((first + begin - now, end, begin - (high - low)))
        parts = moved
    return sorted((first, end, now - first) for first, end, now in parts if first < end)


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


NO_TABS: Mapping[str, Sequence[str]] = MappingProxyType({})
NO_DROPDOWNS: Mapping[str, Mapping[str, Sequence[str]]] = MappingProxyType({})
NO_NOTES: Mapping[str, Mapping[str, str]] = MappingProxyType({})
NO_WIDTHS: Mapping[str, Mapping[str, int]] = MappingProxyType({})


def column_width(header: str, widths: Mapping[str, int]) -> int:
    """The width, in characters, of a column ``ensure_layout`` makes: what it typically
    holds (``widths``), or else its header's."""
    return widths.get(header) or max(10, len(header) + 4)


@dataclass(frozen=True)
class DueHighlight:
    """A highlight the spreadsheet keeps up to date itself, with no sync: the cells of
    ``column`` that hold a date on or before today, unless ``unless_column`` says one of
    ``unless`` (a follow-up that is due, unless the customer is Completed or Lost).

    Spreadsheets compare texts with ``=`` whatever their case, as sheetsync reads a status.
    """

    column: str
    unless_column: str
    unless: tuple[str, ...]
    color: str = "FCE8B2"  # light amber, RRGGBB
    what: str = "due"  # in what ``init`` says it did: "highlighted due Customers/..."

    def formula(self, column: str, unless_column: str, row: int) -> str:
        """The rule's formula for its first cell: ``column`` and ``unless_column`` are the
        columns' letters where the tab has them, ``row`` the first row under the header
        (1-based); the spreadsheet moves it down the column."""
        date, status = f"${column}{row}", f"${unless_column}{row}"
        done = ",".join(f'{status}="{value}"' for value in self.unless)
        return f"=AND(ISNUMBER({date}),{date}<=TODAY(),NOT(OR({done})))"


@dataclass(frozen=True)
class BlankHighlight(DueHighlight):
    """The cells of ``column`` still blank on a row whose ``unless_column`` is filled: what
    awaits someone (the Resolution of a conflict the admin has not decided). Set, kept and
    reported as a :class:`DueHighlight` is."""

    unless: tuple[str, ...] = ()
    color: str = "F4CCCC"  # light red
    what: str = "open"

    def formula(self, column: str, unless_column: str, row: int) -> str:
        return f"=AND(LEN(${unless_column}{row})>0,LEN(TRIM(${column}{row}))=0)"


NO_HIGHLIGHTS: Mapping[str, Sequence[DueHighlight]] = MappingProxyType({})
"""The empty defaults of :meth:`Backend.ensure_layout`'s mappings."""

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

    def set_cells(
        self,
        source: str,
        cells: Iterable[CellSet],
        *,
        version: str,
        moves: Sequence[RowMove] = (),
    ) -> str | None:
        """Set these cells (tab, 0-based row, 0-based column, value) as they are, without
        reading the source, if it is still at ``version`` (what the caller last wrote).

        For sync-owned tabs whose contents the caller knows (the master): nobody changed
        them since, so there is nothing to compare the cells with. Cells are written RAW.
        ``moves`` are applied first, in order; the cells' rows are where rows are after
        them. (Merged cells, comments and the ranges of validations and conditional
        formats are not moved: the tabs moved are the master's, which have none below
        the header but whole-column ones.)

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
        text_columns: Mapping[str, Sequence[str]] = NO_TABS,
        dropdowns: Mapping[str, Mapping[str, Sequence[str]]] = NO_DROPDOWNS,
        protected: Mapping[str, Sequence[str]] = NO_TABS,
        aliases: Mapping[str, Sequence[str]] = NO_TABS,
        notes: Mapping[str, Mapping[str, str]] = NO_NOTES,
        highlights: Mapping[str, Sequence[DueHighlight]] = NO_HIGHLIGHTS,
        widths: Mapping[str, Mapping[str, int]] = NO_WIDTHS,
        header_colors: Mapping[str, Mapping[str, str]] = NO_NOTES,
        right_to_left: bool = False,
    ) -> list[str]:
        """Create the source, its missing tabs and missing header columns; never touch data.

        Every tab it is given gets its header row frozen and a filter on it, unless the tab
        has a freeze or a filter already.

        Args:
            source: the source's address.
            tabs: tab title -> header row.
            text_columns: tab -> headers whose column is formatted as plain text.
            dropdowns: tab -> header -> allowed values (a list validation).
            protected: tab -> headers of sync/admin-owned columns.
            aliases: default header -> other spellings that count as that column.
            notes: tab -> header -> a note on that header cell (how to use the column).
            highlights: tab -> conditional formats the spreadsheet evaluates (due dates);
                one is set where the tab has both its columns.
            widths: tab -> header -> the column's width in characters, for the columns it
                creates (a column that was there keeps the width it has).
            header_colors: tab -> header -> the fill (RRGGBB) of that header cell: the
                columns the sheet's reader may edit (the admin's, in the master).
            right_to_left: lay every tab it is given out right to left (an Arabic sheet).

        Returns:
            What was changed, in words; empty when the layout was already there.
        """
        ...


# ---------------------------------------------------------------------------------------------
# apply_writes: where each write lands, decided against the current contents
# ---------------------------------------------------------------------------------------------


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


@functools.lru_cache(maxsize=64)
def _alias_table(aliases: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, str]:
    """Folded spelling -> folded default header (one table per set of aliases: ``init``
    folds every tab's headers with the same few)."""
    more = dict(aliases)
    table: dict[str, str] = {}
    for f in (*CUSTOMER_FIELDS, *FOLLOW_UP_FIELDS, *CHECK_FIELDS):
        for name in (f.key, *f.aliases, *more.get(f.header, ())):
            table.setdefault(header_key(name), header_key(f.header))
    for header, names in aliases:
        for name in names:
            table.setdefault(header_key(name), header_key(header))
    return table


def alias_folder(aliases: Mapping[str, Sequence[str]] = NO_TABS) -> Fold:
    """A header fold under which every alias of a known field equals its default header.

    So that ``ensure_layout`` does not add "Name" to a tab whose header says "الاسم".

    Args:
        aliases: more spellings, default header -> other headers (from the configuration;
            for the master, the names its time columns had).
    """
    table = _alias_table(tuple((header, tuple(names)) for header, names in aliases.items()))

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
                mapping[tuple(cell_text(cell_at(grid, row, c)) for c in cols)].append(row)
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
            here = tuple(cell_text(cell_at(grid, row, c)) for c in cols)
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
        current = cell_at(grid, row, col)
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
            if not identical_cell(cell_at(grid, row, col), w.new):
                put_cell(grid, row, col, w.new)
                cells.append((title, row, col, w.new))
    return cells, skipped


def finish_cells(grid: Grid) -> Grid:
    """Strip trailing blank cells of every row and trailing blank rows (a fresh copy)."""
    return trim_grid([list(cells) for cells in grid])


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
