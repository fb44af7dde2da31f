"""Fast .xlsx I/O at the part level: values read with python-calamine, cells patched into
the sheet XML.

openpyxl parses every cell of a workbook into Python objects and writes every part anew
(about 2 s for 2,000 rows x 30 columns, twice per write-back). A write-back changes a
few cells, so :func:`patch_cells` rewrites only the ``<c>`` elements of the rows it
touches, inside the sheet's XML, and copies every other byte of the file: styles, data
validations, comments, merged cells, formulas, unknown columns and parts openpyxl does
not know stay exactly as they were. What it cannot do safely (a sheet written without
row or cell references, overwriting the master cell of a shared or array formula, a
prefixed SpreadsheetML namespace) raises :class:`Unpatchable`; the caller falls back to
openpyxl.

A sheet of more than a megabyte of XML is deflated in segments of about 64 KB, each
starting at a row (:mod:`sync.rezip`): the next patch inflates and deflates only the
segments that hold its rows, the first (the sheet's head) and the last (where new rows
go), and copies the others' compressed bytes. A master of 135 MB of XML then costs a
few megabytes of work per patch, not the whole sheet twice. A sheet some other program
saved has no table of segments: it is patched whole, and written in segments.

Values follow openpyxl's conventions, so the two readers agree: numbers that are whole
are ints, a date-formatted number is a date (a datetime when it has a time), a formula
cell shows its cached value, or ``=`` and the formula's text when it has none (a file
written by openpyxl), and an error cell shows its error text (``#N/A``); those two are
:class:`~sync.cells.NotData`, never taken as data.

One module at this size because reading and patching work on the same parts of the package
(the sheet map, shared strings, styles) with the same byte-level XML helpers, and the
segment path finds rows with the whole-sheet path's own code: all of it is one file format.
"""

from __future__ import annotations

import bisect
import collections
import datetime as dt
import html
import io
import itertools
import posixpath
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.cell import column_index_from_string, get_column_letter
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, to_excel
from python_calamine import CalamineWorkbook

from sync.cells import CellValue, ErrorCell, Grid, UncalculatedFormula, put_cell, trim_grid
from sync.rezip import (
    CAN_SEGMENT,
    Deflated,
    ZipNotCopied,
    copied_segments,
    deflate,
    deflate_segments,
    inflate_segments,
    join,
    read_member,
    rezip,
    segments_of,
)
from sync.sheets import RowMove, row_offsets

_SHEET = re.compile(rb"<sheet\b[^>]*?/>")
_ATTR = re.compile(rb'([\w:]+)\s*=\s*"([^"]*)"')
_RELATIONSHIP = re.compile(rb"<Relationship\b[^>]*?/>")
_ROW = re.compile(rb"<row\b[^>]*?(?:/>|>.*?</row>)", re.S)
_CELL = re.compile(rb"<c\b[^>]*?(?:/>|>.*?</c>)", re.S)
_START_TAG = re.compile(rb"<[\w:]+\b[^>]*?/?>", re.S)
_FORMULA = re.compile(rb"<f\b([^>]*?)(?:/>|>(.*?)</f>)", re.S)
_VALUE = re.compile(rb"<v\b[^>]*?(?:/>|>(.*?)</v>)", re.S)
_DIMENSION = re.compile(rb"<dimension\b[^>]*?/>")
_COL = re.compile(rb"<col\b[^>]*?/>")
_PREFIXED_SHEET_DATA = re.compile(rb"<\w+:sheetData\b")
_REF = re.compile(r"([A-Z]+)(\d+)")
_CALC_CHAIN_TYPE = b"/calcChain"
_INNER_SPACE = re.compile(r"[\t\n\r]|  ")
# A text written as it is: no character XML refuses (openpyxl's ILLEGAL_CHARACTERS_RE), none
# to escape, no whitespace that needs xml:space="preserve".
_UNPLAIN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f&<>\t\n\r]|^\s|\s$|  ")
_PLAIN_XF = b'<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'


FAST_COMPRESSION_ABOVE = 4 * 1024 * 1024
"""Rewritten parts larger than this (bytes of XML) are deflated at level 1, not 6: about
three times faster, for a file about a quarter larger."""


SEGMENTED_ABOVE = 1024 * 1024
"""Rewritten sheets larger than this (bytes of XML) are deflated in segments of about
:data:`SEGMENT_SIZE` bytes, each starting at a row: the next patch of a few of their rows
inflates and deflates only the segments that hold them (:mod:`sync.rezip`)."""

SEGMENT_SIZE = 64 * 1024
_ROW_AT = re.compile(rb'<row r="(\d+)"')


class Unpatchable(Exception):
    """The workbook has something the patcher does not rewrite safely; use openpyxl."""


class Unreadable(Exception):
    """calamine could not read the workbook's values; use openpyxl."""


# -- reading ---------------------------------------------------------------------------------


def read_values(data: bytes) -> dict[str, Grid]:
    """Every tab's values, trailing empty cells and rows removed (row 0 is the sheet's row 1)."""
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheets = [
            (name, book.get_sheet_by_name(name).to_python(skip_empty_area=False))
            for name in book.sheet_names
        ]
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - a Rust panic (e.g. a date out of range) is a BaseException
        raise Unreadable(f"{type(exc).__name__}: {exc}") from exc
    parts = _sheet_parts(data)
    tabs: dict[str, Grid] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name, rows in sheets:
            grid = [
                [None if v == "" else v if type(v) is str else _from_calamine(v) for v in row]
                for row in rows
            ]
            part = parts.get(name)
            if part is not None:
                xml = archive.read(part)
                if b"<f>" in xml or b"<f " in xml or b't="e"' in xml:
                    try:
                        _fix_special_cells(grid, xml)
                    except Unpatchable as exc:  # a cell reference we do not understand
                        raise Unreadable(str(exc)) from exc
            tabs[name] = trim_grid(grid)
    return tabs


def _from_calamine(value: object) -> CellValue:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time() else value
    if isinstance(value, dt.time | dt.timedelta):
        # calamine shows a date-formatted number it cannot place (a negative serial) as a
        # time of day too; openpyxl reads those as dates. Time cells are rare in agents'
        # sheets, so such a workbook is read by openpyxl.
        raise Unreadable("a time-formatted cell")
    return value  # type: ignore[return-value]


def _fix_special_cells(grid: Grid, xml: bytes) -> None:
    """Formula cells without a saved value and error cells: calamine shows them empty.

    They read as openpyxl reads them, marked as not data: an error cell as an
    :class:`~sync.cells.ErrorCell` (``#N/A``), a formula saved without its value as an
    :class:`~sync.cells.UncalculatedFormula` (``=`` and the formula's text). A formula whose
    saved value is empty text (``t="str"``) shows an empty cell.
    """
    for row_match in _ROW.finditer(xml):
        chunk = row_match.group(0)
        if b"<f>" not in chunk and b"<f " not in chunk and b't="e"' not in chunk:
            continue
        for cell_match in _CELL.finditer(chunk):
            cell = cell_match.group(0)
            attrs = _attrs(cell)
            if attrs.get("t") != "e" and b"<f" not in cell:
                continue
            ref = attrs.get("r")
            if ref is None:
                continue
            row, col = _split_ref(ref)
            value_match = _VALUE.search(cell)
            cached = _unescape(value_match.group(1)) if value_match and value_match.group(1) else ""
            formula = _FORMULA.search(cell)
            if attrs.get("t") == "e":
                if cached:
                    put_cell(grid, row, col, ErrorCell(cached))
            elif not cached and attrs.get("t") != "str" and formula is not None:
                text = _unescape(formula.group(2)) if formula.group(2) else ""
                put_cell(grid, row, col, UncalculatedFormula("=" + text))


# -- the package ------------------------------------------------------------------------------


def _attrs(element: bytes) -> dict[str, str]:
    start = _START_TAG.match(element)
    head = start.group(0) if start else element
    return {k.decode(): _unescape(v) for k, v in _ATTR.findall(head)}


def _unescape(raw: bytes) -> str:
    text = raw.decode("utf-8")
    return html.unescape(text) if "&" in text else text


def _split_ref(ref: str) -> tuple[int, int]:
    match = _REF.fullmatch(ref.replace("$", ""))
    if match is None:
        raise Unpatchable(f"cell reference {ref!r}")
    return int(match.group(2)) - 1, column_index_from_string(match.group(1)) - 1


def _sheet_parts(data: bytes) -> dict[str, str]:
    """Tab title -> zip member name of its worksheet XML."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        workbook = archive.read("xl/workbook.xml")
        rels = archive.read("xl/_rels/workbook.xml.rels")
    targets = {}
    for rel in _RELATIONSHIP.findall(rels):
        attrs = _attrs(rel)
        target = attrs.get("Target", "")
        if target.startswith("/"):
            path = target.lstrip("/")
        else:
            path = posixpath.normpath(posixpath.join("xl", target))
        targets[attrs.get("Id", "")] = path
    parts = {}
    for sheet in _SHEET.findall(workbook):
        attrs = _attrs(sheet)
        rid = next((v for k, v in attrs.items() if k.endswith(":id") or k == "id"), None)
        if rid in targets and "name" in attrs:
            parts[attrs["name"]] = targets[rid]
    return parts


# -- patching ---------------------------------------------------------------------------------


@dataclass
class _Styles:
    """The cell formats (``cellXfs``) of styles.xml, extended on demand with date formats."""

    xml: bytes
    xfs: list[bytes] = field(default_factory=list)
    formats: dict[int, str] = field(default_factory=dict)
    added: list[bytes] = field(default_factory=list)
    custom: dict[str, int] = field(default_factory=dict)  # format code -> numFmtId added
    dated: dict[tuple[int, str], int] = field(default_factory=dict)

    @classmethod
    def parse(cls, xml: bytes) -> _Styles:
        styles = cls(xml)
        for fmt in re.findall(rb"<numFmt\b[^>]*?/>", xml):
            attrs = _attrs(fmt)
            styles.formats[int(attrs["numFmtId"])] = attrs.get("formatCode", "")
        block = re.search(rb"<cellXfs\b[^>]*>(.*?)</cellXfs>", xml, re.S)
        if block is not None:
            styles.xfs = re.findall(rb"<xf\b[^>]*?(?:/>|>.*?</xf>)", block.group(1), re.S)
        return styles

    def format_of(self, xf: int) -> str:
        if xf >= len(self.xfs) + len(self.added):
            return "General"
        element = self.xfs[xf] if xf < len(self.xfs) else self.added[xf - len(self.xfs)]
        number = int(_attrs(element).get("numFmtId", "0"))
        return self.formats.get(number) or BUILTIN_FORMATS.get(number, "General")

    def for_date(self, xf: int, code: str) -> int:
        """A cell format like ``xf`` that shows dates (``xf`` itself when it already does)."""
        if is_date_format(self.format_of(xf)):
            return xf
        found = self.dated.get((xf, code))
        if found is not None:
            return found
        number = self.custom.get(code)
        if number is None:
            existing = [n for n, c in self.formats.items() if c == code]
            number = existing[0] if existing else max([163, *self.formats]) + 1
            self.formats[number] = code
            self.custom[code] = number
        known = [*self.xfs, *self.added]
        base = known[xf] if xf < len(known) else _PLAIN_XF
        head = _START_TAG.match(base)
        assert head is not None
        tag = head.group(0)
        tag = re.sub(rb'\s(numFmtId|applyNumberFormat)="[^"]*"', b"", tag)
        tag = tag.replace(b"<xf", f'<xf numFmtId="{number}" applyNumberFormat="1"'.encode(), 1)
        self.added.append(tag + base[head.end() :])
        index = len(self.xfs) + len(self.added) - 1
        self.dated[(xf, code)] = index
        return index

    def serialize(self) -> bytes:
        if not self.added:
            return self.xml
        xml = self.xml
        new_formats = b"".join(
            f'<numFmt numFmtId="{n}" formatCode="{escape(c, {chr(34): "&quot;"})}"/>'.encode()
            for c, n in self.custom.items()
            if not re.search(rf'<numFmt\b[^>]*numFmtId="{n}"'.encode(), xml)
        )
        if new_formats:
            block = re.search(rb"<numFmts\b[^>]*?(/>|>(.*?)</numFmts>)", xml, re.S)
            if block is None:  # no custom formats yet: the list goes first in the sheet
                at = re.search(rb"<styleSheet\b[^>]*>", xml)
                assert at is not None
                start = end = at.end()
                inner = new_formats
            else:
                start, end = block.start(), block.end()
                inner = (block.group(2) or b"") + new_formats
            count = len(re.findall(rb"<numFmt\b", inner))
            xml = (
                xml[:start]
                + f'<numFmts count="{count}">'.encode()
                + inner
                + b"</numFmts>"
                + xml[end:]
            )
        block = re.search(rb"<cellXfs\b[^>]*>(.*?)</cellXfs>", xml, re.S)
        if block is None:
            raise Unpatchable("styles.xml has no cellXfs")
        inner = block.group(1) + b"".join(self.added)
        return (
            xml[: block.start()]
            + f'<cellXfs count="{len(self.xfs) + len(self.added)}">'.encode()
            + inner
            + b"</cellXfs>"
            + xml[block.end() :]
        )


@dataclass
class _Sheet:
    """What a new cell of one worksheet takes from it: its column's style."""

    column_styles: list[tuple[int, int, int]]  # (first col, last col, xf), 1-based columns

    @classmethod
    def of(cls, head: bytes) -> _Sheet:
        """From the sheet's XML before its rows (where ``<cols>`` is)."""
        column_styles = []
        for col in _COL.findall(head):
            attrs = _attrs(col)
            if "style" in attrs:
                column_styles.append((int(attrs["min"]), int(attrs["max"]), int(attrs["style"])))
        return cls(column_styles)

    def column_style(self, col: int) -> int | None:
        for low, high, style in self.column_styles:
            if low <= col + 1 <= high:
                return style
        return None


Grouped = dict[str, dict[int, dict[int, CellValue]]]
"""Cells by tab title, 0-based row and 0-based column."""


def group_cells(cells: Iterable[tuple[str, int, int, CellValue]]) -> Grouped:
    """(tab, row, column, value) cells by tab, row and column (read once: they may be
    made one at a time; a later cell of the same place wins)."""
    by_tab: Grouped = {}
    for title, row, col, value in cells:
        by_tab.setdefault(title, {}).setdefault(row, {})[col] = value
    return by_tab


def patch_cells(
    data: bytes,
    cells: Iterable[tuple[str, int, int, CellValue]] | Grouped,
    moves: Sequence[RowMove] = (),
) -> bytes:
    """The workbook with these cells set, every other byte of every part kept.

    Args:
        data: the .xlsx file.
        cells: (tab title, 0-based row, 0-based column, value), or those grouped by
            :func:`group_cells`. Strings are written as text (inline strings, never
            formulas); "" and None clear the value and keep the style; dates and datetimes
            get a date format unless the cell already shows dates.
        moves: rows inserted or deleted first (:func:`move_sheet_rows`); the cells' rows
            are where rows are after them.

    Raises:
        Unpatchable: the sheet cannot be patched safely (see the module's docstring).
    """
    by_tab = cells if isinstance(cells, dict) else group_cells(cells)
    moved = {m.tab: [n for n in moves if n.tab == m.tab] for m in moves}
    for title in moved:
        by_tab.setdefault(title, {})
    if not by_tab:
        return data
    parts = _sheet_parts(data)
    source = zipfile.ZipFile(io.BytesIO(data))
    replaced: dict[str, list[bytes | memoryview] | Deflated] = {}
    workbook = source.read("xl/workbook.xml")
    epoch = (
        CALENDAR_MAC_1904 if re.search(rb'date1904="(1|true)"', workbook) else CALENDAR_WINDOWS_1900
    )
    styles = (
        _Styles.parse(source.read("xl/styles.xml"))
        if "xl/styles.xml" in source.namelist()
        else None
    )
    dropped_formula = False
    for title, rows in by_tab.items():
        part = parts.get(title)
        if part is None:
            raise Unpatchable(f"no worksheet part for tab {title!r}")
        # One tab alone may give up its rows' cells as they are written: with several, a
        # later one found unpatchable leaves the caller (falling back to openpyxl) the cells.
        consume = len(by_tab) == 1 and not moved
        if title in moved:  # rows move: the whole sheet is rewritten
            xml = move_sheet_rows(_read(data, source, part), moved[title])
            pieces, dropped = (
                _patch_sheet(xml, rows, styles, epoch) if rows else (iter([xml]), False)
            )
            replaced[part] = _deflated(pieces)
            dropped_formula = dropped_formula or dropped
            continue
        info = source.getinfo(part)
        by_segments = _patch_segments(data, info, rows, styles, epoch, consume)
        if by_segments is not None:
            replaced[part], dropped = by_segments
        else:
            pieces, dropped = _patch_sheet(_read(data, source, part), rows, styles, epoch, consume)
            replaced[part] = _deflated(pieces)
        dropped_formula = dropped_formula or dropped
    if styles is not None and styles.added:
        replaced["xl/styles.xml"] = [styles.serialize()]
    drop: set[str] = set()
    if dropped_formula and "xl/calcChain.xml" in source.namelist():
        # The calculation chain lists formula cells; one that lists a cell no longer holding
        # a formula makes Excel "repair" the file. Excel rebuilds a missing chain silently.
        drop.add("xl/calcChain.xml")
        replaced["xl/_rels/workbook.xml.rels"] = [
            _without_calc_chain_rel(source.read("xl/_rels/workbook.xml.rels"))
        ]
        replaced["[Content_Types].xml"] = [
            re.sub(
                rb'<Override\b[^>]*PartName="/xl/calcChain.xml"[^>]*/>',
                b"",
                source.read("[Content_Types].xml"),
            )
        ]
    source.close()
    try:
        return rezip(data, replaced, drop, _compression_level)
    except ZipNotCopied:
        whole = {
            name: content.inflated() if isinstance(content, Deflated) else b"".join(content)
            for name, content in replaced.items()
        }
        return _rezip_inflating(data, whole, drop)


def _read(data: bytes, source: zipfile.ZipFile, name: str) -> bytes:
    """A part's content: inflated by ISA-L where it can be (a sheet can be 100 MB)."""
    try:
        return read_member(data, source.getinfo(name))
    except ZipNotCopied:
        return source.read(name)


def _compression_level(size: int) -> int:
    """A big sheet is compressed fast: a cycle rewrites it for a few cells."""
    return 1 if size > FAST_COMPRESSION_ABOVE else 6


def _deflated(pieces: Iterable[bytes | memoryview]) -> Deflated:
    """A sheet's XML deflated as its pieces are made, at the level its size asks for (the
    pieces up to the size that makes a sheet big are held to know it)."""
    made = iter(pieces)
    first: list[bytes | memoryview] = []
    size = 0
    for piece in made:
        first.append(piece)
        size += len(piece)
        if size > max(FAST_COMPRESSION_ABOVE, SEGMENTED_ABOVE):
            break
    level = _compression_level(size)
    if size > SEGMENTED_ABOVE and CAN_SEGMENT:
        return deflate_segments(_segmented(itertools.chain(first, made)), level)
    return deflate(itertools.chain(first, made), level)


def _segmented(
    pieces: Iterable[bytes | memoryview],
) -> Iterator[tuple[int, list[bytes | memoryview]]]:
    """A sheet's XML pieces cut into segments of at least :data:`SEGMENT_SIZE` bytes, each
    after the first starting at a ``<row r="...">``, labelled with that row's number (the
    first: 0, or its first row's number when it starts at one). Pieces are cut as views,
    never copied; a row start split between two pieces is not seen (the segment goes on)."""
    segment: list[bytes | memoryview] = []
    size = 0
    label = -1
    for whole in pieces:
        piece = memoryview(whole)  # cut without copying: a piece may be 100 MB of rows
        if label < 0 and len(piece):
            at = _ROW_AT.match(piece)
            label = int(at.group(1)) if at else 0
        while True:
            need = SEGMENT_SIZE - size
            if len(piece) <= need:
                segment.append(piece)
                size += len(piece)
                break
            at = _ROW_AT.search(piece, max(need, 0))
            if at is None:
                segment.append(piece)
                size += len(piece)
                break
            if at.start():
                segment.append(piece[: at.start()])
            yield label, segment
            segment, size, label = [], 0, int(at.group(1))
            piece = piece[at.start() :]
    yield max(label, 0), segment


def _patch_segments(
    data: bytes,
    info: zipfile.ZipInfo,
    rows: dict[int, dict[int, CellValue]],
    styles: _Styles | None,
    epoch: dt.datetime,
    consume: bool,
) -> tuple[Deflated, bool] | None:
    """The sheet patched in the segments that hold the wanted rows (and the first and last:
    the head and where new rows go), every other segment copied compressed; whether a
    formula was overwritten. None when the sheet was not deflated in segments, or a
    wanted row is not where its segment's label says (the whole sheet is patched)."""
    found = segments_of(data, info)
    if found is None or len(found[1]) < 2:
        return None
    payload, table = found
    starts = [segment.label for segment in table]
    if min(starts[1:]) <= 0 or starts[1:] != sorted(starts[1:]):
        return None
    home = {n: max(0, bisect.bisect_right(starts, n + 1, 1) - 1) for n in rows}
    runs = _runs(sorted({0, len(table) - 1, *home.values()}))
    texts = [inflate_segments(payload, table, first, last) for first, last in runs]

    head_text, tail_text = texts[0], texts[-1]
    try:
        data_start, open_end, empty = _sheet_data(head_text)
    except Unpatchable:
        return None
    close = tail_text.rfind(b"</sheetData>")
    tail_from = open_end if len(runs) == 1 else 0
    last = _last_row(tail_text, (tail_from, close)) if close >= tail_from else None
    if empty or last is None or last < 0:
        return None
    head = head_text[:data_start]
    sheet = _Sheet.of(head)

    run_of = {i: k for k, (first, end) in enumerate(runs) for i in range(first, end + 1)}
    in_run: list[list[int]] = [[] for _ in runs]
    for n in sorted(rows):
        if n <= last:
            in_run[run_of[home[n]]].append(n)
    bodies: list[list[bytes | memoryview]] = []
    dropped = False
    for k, (text, numbers) in enumerate(zip(texts, in_run, strict=True)):
        window = (open_end if k == 0 else 0, close if k == len(runs) - 1 else len(text))
        located = _locate_rows(text, numbers, window)
        if located is None or len(located[0]) != len(numbers):
            return None
        body, run_dropped, _ = _patch_located(text, located, rows, sheet, styles, epoch)
        dropped = dropped or run_dropped
        bodies.append(body)

    max_col = max(max(cols) for cols in rows.values())
    level = _compression_level(info.file_size)
    parts: list[Deflated] = []
    done = 0
    for k, ((first, end), text, body) in enumerate(zip(runs, texts, bodies, strict=True)):
        if done < first:
            parts.append(copied_segments(payload, table, done, first - 1))
        view = memoryview(text)
        pieces: list[Iterable[bytes | memoryview]] = [body]
        if k == 0:
            dimension = _with_dimension(head, max(last, max(rows)), max_col)
            pieces.insert(0, [dimension, view[data_start:open_end]])
        if k == len(runs) - 1:
            added = [n for n in sorted(rows) if n > last]
            pieces += [_new_rows(added, rows, sheet, styles, epoch, consume), [view[close:]]]
        segments = _segmented(itertools.chain.from_iterable(pieces))
        parts.append(deflate_segments(segments, level, final=k == len(runs) - 1))
        done = end + 1
    return join(parts), dropped


def _runs(indexes: list[int]) -> list[tuple[int, int]]:
    """Sorted indexes as runs of consecutive ones: (first, last)."""
    runs: list[tuple[int, int]] = []
    for i in indexes:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _rezip_inflating(data: bytes, replaced: dict[str, bytes], drop: set[str]) -> bytes:
    """:func:`~sync.rezip.rezip` through ``zipfile``, which inflates and deflates again
    every member it copies (for a zip that writer does not copy)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            if info.filename in drop:
                continue
            if info.filename in replaced:
                fresh = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                fresh.compress_type = zipfile.ZIP_DEFLATED
                fresh.external_attr = info.external_attr
                content = replaced[info.filename]
                level = _compression_level(len(content))
                target.writestr(fresh, content, compresslevel=level)
            else:
                with source.open(info) as raw:
                    target.writestr(info, raw.read())
    return out.getvalue()


def _without_calc_chain_rel(rels: bytes) -> bytes:
    def keep(match: re.Match[bytes]) -> bytes:
        return b"" if _CALC_CHAIN_TYPE in match.group(0) else match.group(0)

    return _RELATIONSHIP.sub(keep, rels)


_ROW_NUMBER = re.compile(rb'(\sr=")(\d+)"')
_ROW_OR_CELL_REF = re.compile(rb'(<(?:row|c)\b[^>]*?\sr="[A-Z]{0,3})(\d+)"')
_UNMOVABLE = re.compile(rb"<mergeCell\b|<hyperlink\b")


def move_sheet_rows(xml: bytes, moves: Sequence[RowMove]) -> bytes:
    """A sheet's XML with rows inserted and deleted (:class:`~sync.sheets.RowMove`, in
    order): the rows below renumbered, the deleted ones dropped, and an inserted row there
    as an empty ``<row>`` (so that the cells set in it are found by its number, not by a
    walk through every row). The rows above the first move are copied; each row below is
    renumbered by byte replacement when its number shows only in its references, else by
    a regex over its tag and cells.

    Raises:
        Unpatchable: merged cells or hyperlinks (their references would not move), or a
            formula at or below the first move (its references would not either).
    """
    if not moves:
        return xml
    if _UNMOVABLE.search(xml):
        raise Unpatchable("merged cells or hyperlinks would not move with their rows")
    _, open_end, empty = _sheet_data(xml)
    if empty:
        return xml
    close = xml.rfind(b"</sheetData>")
    span = _row_span(xml, min(m.at for m in moves) + 1, (open_end, close))
    start = span[0] if span is not None else open_end
    if _FORMULA.search(xml, start, close):
        raise Unpatchable("a formula in a row that may move")
    ranges = row_offsets(moves)
    firsts = [first for first, _, _ in ranges]
    blanks = _put_in(ranges)
    rows = xml[start:close].split(b"<row ")
    if xml.count(b"<row", start, close) != len(rows) - 1:
        raise Unpatchable("a row tag this patcher does not read")
    pieces: list[bytes | memoryview] = [memoryview(xml)[:start], rows[0]]
    blank = 0
    for row in rows[1:]:
        quote = row.find(b'"', 3)
        if not row.startswith(b'r="') or quote < 0 or not row[3:quote].isdigit():
            ref = _ROW_NUMBER.search(row[: row.find(b">") + 1])
            if ref is None:
                raise Unpatchable("a row without its row number")
            number = int(ref.group(2)) - 1
        else:
            number = int(row[3:quote]) - 1
        at = bisect.bisect_right(firsts, number) - 1
        if at < 0 or number >= ranges[at][1]:
            continue  # deleted
        now = number + ranges[at][2]
        while blank < len(blanks) and blanks[blank] < now:
            pieces.append(b'<row r="%d"/>' % (blanks[blank] + 1))
            blank += 1
        pieces.append(b"<row ")
        pieces.append(row if now == number else _renumbered(row, number + 1, now + 1))
    pieces.append(memoryview(xml)[close:])
    return b"".join(pieces)


def _put_in(ranges: Sequence[tuple[int, int, int]]) -> list[int]:
    """The 0-based rows that moves put in, from what they keep (:func:`row_offsets`): the
    rows between one kept range's end and the next one's start, once moved."""
    put: list[int] = []
    end = 0
    for first, last, offset in ranges:
        put += range(end, first + offset)
        end = last + offset
    return put


def _renumbered(row: bytes, number: int, now: int) -> bytes:
    """A row's XML (after ``<row ``) renumbered from the 1-based ``number`` to ``now``.

    Byte replacement when ``number"`` shows exactly once in the row's tag and once in each
    cell's reference (every cell's ``r`` comes first, and no other attribute or text holds
    it: a ``<`` in text is always escaped, so ``<c r="`` is a cell); else a regex over the
    references alone."""
    old = b'%d"' % number
    cells = row.count(b'<c r="')
    if row.startswith(b'r="' + old) and row.count(b"<c ") == cells and row.count(old) == cells + 1:
        return row.replace(old, b'%d"' % now)
    offset = now - number

    def renumbered(found: re.Match[bytes]) -> bytes:
        return found.group(1) + b'%d"' % (int(found.group(2)) + offset)

    return _ROW_OR_CELL_REF.sub(renumbered, b"<row " + row)[len(b"<row ") :]


def _patch_sheet(
    xml: bytes,
    rows: dict[int, dict[int, CellValue]],
    styles: _Styles | None,
    epoch: dt.datetime,
    consume: bool = False,
) -> tuple[Iterator[bytes | memoryview], bool]:
    """The sheet's XML with these cells set, as pieces to be written one after another,
    and whether a formula was overwritten.

    A sheet of 100,000 rows is over 100 MB of XML: it is searched with ``find`` (not a
    regex) and copied once, into the result, from slices of the original. The rows added
    past its last are made as the pieces are asked for (deflated one after another, they
    are never all held at once); the rows found in it are patched before this returns.
    """
    data_start, open_end, empty = _sheet_data(xml)
    close = open_end if empty else xml.rfind(b"</sheetData>")
    if close < open_end:
        raise Unpatchable("worksheet without a closed sheetData")
    head = xml[:data_start]  # everything before the rows: small
    sheet = _Sheet.of(head)

    wanted_row, max_col = max(rows), 0
    for cols in rows.values():
        max_col = max(max_col, *cols)
    # ``consume``: the cells of the rows added past the sheet's last are let go from
    # ``rows`` once their XML is made (a cold master tab's are not held beside its XML);
    # nothing finds a sheet unpatchable once its rows found in it are patched.
    body: list[bytes | memoryview]
    located = _locate_rows(xml, sorted(rows), (open_end, close))
    if located is not None:
        body, dropped, last = _patch_located(xml, located, rows, sheet, styles, epoch)
    else:
        body, dropped, last = _patch_every_row(xml[open_end:close], rows, sheet, styles, epoch)
    added = _new_rows([n for n in sorted(rows) if n > last], rows, sheet, styles, epoch, consume)
    view = memoryview(xml)
    rest: Iterable[bytes | memoryview]
    if empty:
        rest = itertools.chain([b"<sheetData>"], body, added, [b"</sheetData>", view[open_end:]])
    else:
        rest = itertools.chain([view[data_start:open_end]], body, added, [view[close:]])
    dimension = _with_dimension(head, max(last, wanted_row), max_col)
    return itertools.chain([dimension], rest), dropped


def _sheet_data(xml: bytes) -> tuple[int, int, bool]:
    """Where a sheet's ``<sheetData>`` starts and its opening tag ends, and whether it is
    empty (``<sheetData/>``).

    Raises:
        Unpatchable: a prefixed SpreadsheetML namespace, or no sheetData.
    """
    if xml.find(b":sheetData") >= 0 and _PREFIXED_SHEET_DATA.search(xml):
        raise Unpatchable("prefixed SpreadsheetML namespace")
    data_start = xml.find(b"<sheetData")
    if data_start < 0 or xml[data_start + 10 : data_start + 11] not in (b">", b"/", b" "):
        raise Unpatchable("worksheet without sheetData")
    open_end = xml.find(b">", data_start) + 1
    return data_start, open_end, xml[open_end - 2 : open_end] == b"/>"


def _last_row(xml: bytes, within: tuple[int, int]) -> int | None:
    """The 0-based number of the last ``<row>`` in ``xml[within]``: -1 when there is none,
    None when it has no number."""
    start, end = within
    tail = xml.rfind(b"<row", start, end)
    if tail < 0:
        return -1
    head = _START_TAG.match(xml, tail, end)
    ref = _attrs(head.group(0)).get("r") if head else None
    return int(ref) - 1 if ref is not None and ref.isdigit() else None


def _locate_rows(
    xml: bytes, numbers: list[int], within: tuple[int, int]
) -> tuple[list[tuple[int, int]], int, tuple[int, int]] | None:
    """The spans of the ``<row>`` elements of these 0-based rows in ``xml[within]`` (the
    sheet's rows), found by their numbers (a search in C, not a walk through every row),
    and the last row number the sheet has; None when a wanted row is missing among existing
    ones (the walk inserts it in place)."""
    start, end = within
    last = _last_row(xml, within)
    if last is None:
        return None
    found: list[tuple[int, int]] = []
    position = start
    for number in numbers:
        if number > last:
            break
        span = _row_span(xml, number + 1, (position, end))
        if span is None:
            return None
        found.append(span)
        position = span[1]
    return found, last, within


def _row_span(xml: bytes, ref: int, within: tuple[int, int]) -> tuple[int, int] | None:
    """Where the ``<row>`` element numbered ``ref`` (1-based) is in ``xml[within]``.

    A plain byte search when ``r`` is the row's first attribute (every writer we know puts
    it there: a search of a 100 MB sheet costs milliseconds), else a regex.
    """
    start, end = within
    head = b'<row r="%d"' % ref
    at = xml.find(head, start, end)
    if at >= 0 and xml[at + len(head) : at + len(head) + 1] in (b" ", b">", b"/"):
        close = xml.find(b">", at + len(head), end)
        if close >= 0 and xml[close - 1 : close] == b"/":
            return at, close + 1
        finish = xml.find(b"</row>", close, end) if close >= 0 else -1
        if finish >= 0:
            return at, finish + len(b"</row>")
    pattern = re.compile(rb'<row\b[^>]*?\sr="%d"[^>]*?(?:/>|>.*?</row>)' % ref, re.S)
    match = pattern.search(xml, start, end)
    return match.span() if match is not None else None


def _patch_located(
    xml: bytes,
    located: tuple[list[tuple[int, int]], int, tuple[int, int]],
    rows: dict[int, dict[int, CellValue]],
    sheet: _Sheet,
    styles: _Styles | None,
    epoch: dt.datetime,
) -> tuple[list[bytes | memoryview], bool, int]:
    """The sheet's rows as pieces (unchanged stretches are views of ``xml``, not copies),
    the rows found by :func:`_locate_rows` patched; whether a formula was overwritten; the
    index of the sheet's last row."""
    spans, last, (position, end) = located
    view = memoryview(xml)
    pieces: list[bytes | memoryview] = []
    dropped = False
    for start, finish in spans:
        element = xml[start:finish]
        number = int(_attrs(element)["r"]) - 1
        pieces.append(view[position:start])
        patched, row_dropped = _patch_row(element, number, rows[number], sheet, styles, epoch)
        dropped = dropped or row_dropped
        pieces.append(patched)
        position = finish
    pieces.append(view[position:end])
    return pieces, dropped, last


def _patch_every_row(
    body: bytes,
    rows: dict[int, dict[int, CellValue]],
    sheet: _Sheet,
    styles: _Styles | None,
    epoch: dt.datetime,
) -> tuple[list[bytes | memoryview], bool, int]:
    """Walk every row of the sheet, patching the wanted ones and inserting missing ones
    before its last; whether a formula was overwritten; the index of its last row (-1:
    none)."""
    pieces: list[bytes | memoryview] = []
    position = 0
    pending = collections.deque(sorted(rows))
    dropped = False
    max_row = -1
    for row_match in _ROW.finditer(body):
        head = _START_TAG.match(row_match.group(0))
        assert head is not None
        attrs = _attrs(head.group(0))
        if "r" not in attrs:
            raise Unpatchable("a row without its row number")
        number = int(attrs["r"]) - 1
        max_row = max(max_row, number)
        while pending and pending[0] < number:
            new_row = pending.popleft()
            pieces.append(body[position : row_match.start()])
            position = row_match.start()
            pieces.append(_new_row(new_row, rows[new_row], sheet, styles, epoch))
        if pending and pending[0] == number:
            pending.popleft()
            pieces.append(body[position : row_match.start()])
            patched, row_dropped = _patch_row(
                row_match.group(0), number, rows[number], sheet, styles, epoch
            )
            dropped = dropped or row_dropped
            pieces.append(patched)
            position = row_match.end()
    pieces.append(body[position:])
    return pieces, dropped, max_row


def _new_rows(
    numbers: list[int],
    rows: dict[int, dict[int, CellValue]],
    sheet: _Sheet,
    styles: _Styles | None,
    epoch: dt.datetime,
    consume: bool,
) -> Iterator[bytes]:
    """The XML of the rows added past a sheet's last, made as it is asked for (with
    ``consume``, each row's cells are let go from ``rows`` once made)."""
    for number in numbers:
        cells = rows.pop(number) if consume else rows[number]
        yield _new_row(number, cells, sheet, styles, epoch)


def _with_dimension(xml: bytes, max_row: int, max_col: int) -> bytes:
    match = _DIMENSION.search(xml)
    if match is None:
        return xml
    ref = _attrs(match.group(0)).get("ref", "A1")
    first, _, last = ref.partition(":")
    last = last or first
    try:
        last_row, last_col = _split_ref(last)
    except Unpatchable:
        return xml
    row, col = max(last_row, max_row), max(last_col, max_col)
    if (row, col) == (last_row, last_col):
        return xml
    new_ref = f"{first}:{get_column_letter(col + 1)}{row + 1}"
    return xml[: match.start()] + f'<dimension ref="{new_ref}"/>'.encode() + xml[match.end() :]


def _new_row(
    row: int, cells: dict[int, CellValue], sheet: _Sheet, styles: _Styles | None, epoch: dt.datetime
) -> bytes:
    body = b"".join(
        _cell_xml(row, col, value, sheet.column_style(col), styles, epoch)
        for col, value in sorted(cells.items())
    )
    return f'<row r="{row + 1}">'.encode() + body + b"</row>"


def _patch_row(
    element: bytes,
    row: int,
    cells: dict[int, CellValue],
    sheet: _Sheet,
    styles: _Styles | None,
    epoch: dt.datetime,
) -> tuple[bytes, bool]:
    head = _START_TAG.match(element)
    assert head is not None
    tag = re.sub(rb'\sspans="[^"]*"', b"", head.group(0))
    if tag.endswith(b"/>"):
        tag, inner, tail = tag[:-2] + b">", b"", b"</row>"
    else:
        inner, tail = element[head.end() : -len(b"</row>")], b"</row>"
    pieces: list[bytes] = []
    position = 0
    pending = sorted(cells)
    dropped = False
    for cell_match in _CELL.finditer(inner):
        attrs = _attrs(cell_match.group(0))
        if "r" not in attrs:
            raise Unpatchable("a cell without its reference")
        _, col = _split_ref(attrs["r"])
        while pending and pending[0] < col:
            new_col = pending.pop(0)
            pieces.append(inner[position : cell_match.start()])
            position = cell_match.start()
            pieces.append(
                _cell_xml(row, new_col, cells[new_col], sheet.column_style(new_col), styles, epoch)
            )
        if pending and pending[0] == col:
            pending.pop(0)
            old = cell_match.group(0)
            formula = _FORMULA.search(old)
            if formula is not None:
                kind = _attrs(b"<f" + formula.group(1) + b">").get("t")
                if kind in ("shared", "array", "dataTable") and "ref" in _attrs(
                    b"<f" + formula.group(1) + b">"
                ):
                    raise Unpatchable("overwriting the master cell of a shared or array formula")
                dropped = True
            style = attrs.get("s")
            pieces.append(inner[position : cell_match.start()])
            pieces.append(
                _cell_xml(row, col, cells[col], int(style) if style else None, styles, epoch)
            )
            position = cell_match.end()
    rest = inner[position:]
    extension = rest.find(b"<extLst")
    if extension >= 0:
        pieces.append(rest[:extension])
        rest = rest[extension:]
    else:
        pieces.append(rest)
        rest = b""
    for new_col in pending:
        pieces.append(
            _cell_xml(row, new_col, cells[new_col], sheet.column_style(new_col), styles, epoch)
        )
    return tag + b"".join(pieces) + rest + tail, dropped


def _cell_xml(
    row: int,
    col: int,
    value: CellValue,
    style: int | None,
    styles: _Styles | None,
    epoch: dt.datetime,
) -> bytes:
    ref = f"{get_column_letter(col + 1)}{row + 1}"
    if type(value) is str and value and _UNPLAIN.search(value) is None:
        # Most cells: text with nothing to drop, escape or keep the whitespace of.
        return f'<c r="{ref}"{_style(style)} t="inlineStr"><is><t>{value}</t></is></c>'.encode()
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if value is None or value == "":
        return f'<c r="{ref}"{_style(style)}/>'.encode()
    if isinstance(value, bool):
        return f'<c r="{ref}"{_style(style)} t="b"><v>{int(value)}</v></c>'.encode()
    if isinstance(value, int | float):
        return f'<c r="{ref}"{_style(style)}><v>{_number(value)}</v></c>'.encode()
    if isinstance(value, dt.datetime | dt.date):
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            value = value.replace(tzinfo=None)
        code = "yyyy-mm-dd h:mm:ss" if isinstance(value, dt.datetime) else "yyyy-mm-dd"
        if styles is not None:
            style = styles.for_date(style or 0, code)
        serial = to_excel(value, epoch)
        return f'<c r="{ref}"{_style(style)}><v>{_number(serial)}</v></c>'.encode()
    raw = str(value)
    text = escape(raw).replace("\r", "&#13;")
    # Whitespace at the ends, or tabs and line breaks, is kept only where the text says
    # so; elsewhere the attribute would be a fifth of a big sheet's bytes.
    space = ' xml:space="preserve"' if raw != raw.strip() or _INNER_SPACE.search(raw) else ""
    return f'<c r="{ref}"{_style(style)} t="inlineStr"><is><t{space}>{text}</t></is></c>'.encode()


def _style(style: int | None) -> str:
    return f' s="{style}"' if style else ""


def _number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)
