"""The .xlsx backend: agents' workbooks and the master as local files.

Values are read with python-calamine and cells written by patching the sheet's XML in
place (:mod:`sync.xlsx_parts`), openpyxl only where a patch would not be safe and for
``init``'s layout work; every save is an atomic replace under the workbook's lock file,
and a workbook open in Excel or LibreOffice is skipped (:class:`~sync.errors.SourceLocked`).

One module at this size because the protocol's operations on one kind of file (read,
write, set_cells, fingerprint, layout) share the workbook's lock file, its atomic save and
the read cache; the XML patching itself is :mod:`sync.xlsx_parts`.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import logging
import os
import stat
import tempfile
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import zip_longest
from pathlib import Path
from types import MappingProxyType
from typing import Any

import filelock
import openpyxl
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.comments import Comment
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.dimensions import ColumnDimension
from openpyxl.worksheet.worksheet import Worksheet

from sync.cells import (
    CellValue,
    CellWrite,
    ErrorCell,
    Grid,
    SourceSnapshot,
    UncalculatedFormula,
    WriteResult,
    copy_tabs,
    trim_grid,
)
from sync.errors import LayoutError, SourceError, SourceLocked
from sync.fields import header_key
from sync.long_text import XLSX_CELL_CHARS, fit_cells, fit_writes
from sync.sheets import (
    NO_DROPDOWNS,
    NO_HIGHLIGHTS,
    NO_NOTES,
    NO_TABS,
    NO_WIDTHS,
    PROTECTED_NOTE,
    CellSet,
    DueHighlight,
    Fold,
    RowMove,
    TabHeader,
    alias_folder,
    apply_writes,
    column_width,
    find_header_row,
    find_tab,
)
from sync.xlsx_parts import Grouped, Unpatchable, Unreadable, group_cells, patch_cells, read_values

log = logging.getLogger("sheetsync")


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


SAVE_ROUNDS = 3
"""Compare-and-set rounds of a write: a save that finds the file changed since it was read
reads it again and decides again. Not a retry of a failure (those go through tenacity, in
:mod:`sync.limits` and :mod:`sync.db`): each round starts from what the file now holds."""


def xlsx_lock_files(path: Path) -> list[Path]:
    """The lock files LibreOffice (``.~lock.<name>#``) and Excel (``~$<name>``) put next to it."""
    name = path.name
    candidates = [f".~lock.{name}#", f"~${name}"]
    if len(name) > 2:
        candidates.append(f"~${name[2:]}")  # Office's owner file for long names
    return [path.with_name(c) for c in candidates]


REMEMBER_FROM = 1 << 20
"""A workbook this big (bytes) or bigger is not hashed again while its bytes stay the same
(:meth:`XlsxBackend._fingerprint`)."""


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


def grid_of(rows: Iterable[Sequence[object]]) -> Grid:
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


def set_cell(ws: Worksheet, row: int, col: int, value: CellValue) -> None:
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
        # path -> (bytes, fingerprint) last seen of a big workbook: not hashed again
        self._seen: dict[str, tuple[bytes, str]] = {}
        self.remember_from = REMEMBER_FROM

    # -- helpers ------------------------------------------------------------------------------

    def _fingerprint(self, path: Path, data: bytes) -> str:
        """:func:`_fingerprint_bytes` of a file's bytes, remembered with them when they are
        :attr:`remember_from` bytes or more: a cycle looks at a workbook, reads it and
        writes it (a big master is 20 MB: hashing it three times cost more than patching
        it), and a loop's next cycle looks at what the last one wrote. The same bytes
        (compared whole: any change shows) give the same fingerprint. An agent's workbook
        is hashed each time: kept, 50 of them would add to the cold cycle's peak memory
        what hashing them saves in time."""
        seen = self._seen.get(str(path))
        if seen is not None and seen[0] == data:
            return seen[1]
        version = _fingerprint_bytes(data)
        if len(data) >= self.remember_from:
            self._seen[str(path)] = (data, version)
        else:
            self._seen.pop(str(path), None)
        return version

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
            path = self.path(source)
            return self._fingerprint(path, path.read_bytes())
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SourceError(f"cannot read {source}: {exc.strerror or exc}") from exc

    def read(self, source: str) -> SourceSnapshot:
        path = self.path(source)
        self._check_open(source, path)
        data = self._bytes(source, path)
        tabs = self._values(source, data)
        version = self._fingerprint(path, data)
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
            for _round in range(SAVE_ROUNDS):
                self._check_open(source, path)
                data = self._bytes(source, path)
                version = self._fingerprint(path, data)
                cached = self._read_cache.pop(str(path), None)
                tabs = (
                    copy_tabs(cached[1])
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
                    result.version = self._fingerprint(path, out)
                    return result
        raise SourceError(
            f"{source} kept changing while sheetsync was writing to it; skipped this cycle"
        )

    def set_cells(
        self,
        source: str,
        cells: Iterable[CellSet],
        *,
        version: str,
        moves: Sequence[RowMove] = (),
    ) -> str | None:
        path = self.path(source)
        if not path.exists():
            raise SourceError(f"{source} does not exist", hint="run init to create it")
        with self._exclusive(source, path):
            self._check_open(source, path)
            data = self._bytes(source, path)
            if self._fingerprint(path, data) != version:
                return None
            grouped = group_cells(fit_cells(cells, self.cell_limit))  # the cells, read once
            if not grouped and not moves:
                return version
            self._refuse_unkeepable(source, data)
            self._read_cache.pop(str(path), None)
            patched = self._patched(source, data, grouped, moves)
            del grouped
            out = self._save_bytes(source, path, patched, data)
            return None if out is None else self._fingerprint(path, out)

    def _patched(
        self,
        source: str,
        data: bytes,
        cells: Sequence[CellSet] | Grouped,
        moves: Sequence[RowMove] = (),
    ) -> bytes:
        """The workbook with ``moves`` made and ``cells`` set: patched in its sheet XML, or
        through openpyxl when the patch would not be safe (see :mod:`sync.xlsx_parts`)."""
        grouped = cells if isinstance(cells, dict) else group_cells(cells)
        try:
            return patch_cells(data, grouped, moves)
        except Unpatchable as why:
            log.info("%s: written through openpyxl (%s)", source, why)
        wb = self._load(source, data, read_only=False)
        for move in moves:
            if move.count > 0:
                wb[move.tab].insert_rows(move.at + 1, move.count)
            else:
                wb[move.tab].delete_rows(move.at + 1, -move.count)
        for title, rows in grouped.items():
            for row, values in rows.items():
                for col, value in values.items():
                    set_cell(wb[title], row, col, value)
        buffer = io.BytesIO()
        wb.save(buffer)
        return buffer.getvalue()

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
        path = self.path(source)
        path.parent.mkdir(parents=True, exist_ok=True)
        layout = repr(
            (tabs, text_columns, dropdowns, protected, aliases, notes, highlights, widths)
            + (header_colors, right_to_left)
        )
        with self._exclusive(source, path):
            for _round in range(SAVE_ROUNDS):
                self._check_open(source, path)
                changes: list[str] = []
                data: bytes | None = None
                if path.exists():
                    data = self._bytes(source, path)
                    wb = self._load(source, data, read_only=False)
                elif (made := _NEW_WORKBOOKS.get(layout)) is not None:
                    if self._save_bytes(source, path, made[0], None) is not None:
                        return [f"created {source}", *made[1]]
                    continue  # made meanwhile: set up what is there
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
                        highlights.get(wanted, ()),
                        widths.get(wanted, {}),
                        header_colors.get(wanted, {}),
                        right_to_left,
                    )
                if default is not None and len(wb.worksheets) > 1:
                    wb.remove(default)
                if not changes:
                    return []
                if data is not None:
                    self._refuse_unkeepable(source, data)
                if (out := self._save(source, path, wb, data)) is not None:
                    if data is None:
                        _keep_new_workbook(layout, out, changes[1:])
                    return changes
        raise SourceError(
            f"{source} kept changing while sheetsync was setting it up; skipped this cycle"
        )


_NEW_WORKBOOKS: dict[str, tuple[bytes, list[str]]] = {}
"""A layout (the repr of ``ensure_layout``'s arguments) -> a new workbook made to it: its
bytes and what was set up. ``init`` gives every agent of a team a workbook of one layout:
openpyxl makes it once (13–18 ms a workbook here), each agent's is a copy of its bytes."""

_NEW_WORKBOOKS_KEPT = 8


def _keep_new_workbook(layout: str, data: bytes, changes: list[str]) -> None:
    if len(_NEW_WORKBOOKS) >= _NEW_WORKBOOKS_KEPT:
        del _NEW_WORKBOOKS[next(iter(_NEW_WORKBOOKS))]  # the oldest
    _NEW_WORKBOOKS[layout] = (data, changes)


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
    highlights: Sequence[DueHighlight] = (),
    widths: Mapping[str, int] = MappingProxyType({}),
    colors: Mapping[str, str] = MappingProxyType({}),
    right_to_left: bool = False,
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
        grid = grid_of(ws.iter_rows(values_only=True))
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
        # sized to what the column typically holds; a column that was there keeps its width
        _own_dimension(ws, c + 1).width = column_width(str(value), widths)
    if new:
        ws.freeze_panes = f"A{row + 2}"
    elif ws.freeze_panes is None:  # an agent's own freeze (more rows, a column) is kept
        ws.freeze_panes = f"A{row + 2}"
        changes.append(f"froze the header row of {title}")
    if not ws.auto_filter.ref:  # an agent's own filter is kept
        width = max(len(grid[row]) if row < len(grid) else 0, len(headers), 1)
        ws.auto_filter.ref = f"A{row + 1}:{get_column_letter(width)}{_MAX_ROW}"
        changes.append(f"added a filter to {title}")
    if right_to_left and not ws.sheet_view.rightToLeft:  # an Arabic sheet
        ws.sheet_view.rightToLeft = True
        if not new:
            changes.append(f"set right-to-left on {title}")
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
        own_note = notes.get(name, PROTECTED_NOTE)  # e.g. who sets an admin's column
        noted = cell.comment is not None and cell.comment.text == own_note
        if grey and noted:
            continue
        cell.fill = PatternFill(fill_type="solid", fgColor=_GREY)
        cell.comment = Comment(own_note, "sheetsync")
        changes.append(f"marked {title}/{name} as filled by sheetsync")
    for name, color in colors.items():
        cell = ws.cell(row=row + 1, column=column_of(name))
        fill = cell.fill
        if fill is not None and fill.fill_type == "solid" and fill.fgColor.rgb == f"FF{color}":
            continue
        cell.fill = PatternFill(fill_type="solid", fgColor=f"FF{color}")
        changes.append(f"coloured {title}/{name}")
    for name, note in notes.items():
        if name in protected:
            continue
        cell = ws.cell(row=row + 1, column=column_of(name))
        if cell.comment is not None and cell.comment.text == note:
            continue
        cell.comment = Comment(note, "sheetsync", height=160, width=320)
        changes.append(f"noted {title}/{name}")
    for due in highlights:
        at, unless_at = header.find(due.column), header.find(due.unless_column)
        if at is None or unless_at is None:
            continue
        letter = get_column_letter(at + 1)
        cells = f"{letter}{first}:{letter}{_MAX_ROW}"
        formula = due.formula(letter, get_column_letter(unless_at + 1), first)[1:]  # no "="
        if any(
            str(format_.sqref) == cells and any(rule.formula == [formula] for rule in format_.rules)
            for format_ in ws.conditional_formatting
        ):
            continue
        amber = PatternFill(fill_type="solid", start_color=due.color, end_color=due.color)
        ws.conditional_formatting.add(cells, FormulaRule(formula=[formula], fill=amber))
        changes.append(f"highlighted {due.what} {title}/{due.column}")
    return changes if not new else changes[:1]
