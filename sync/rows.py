"""Reading one tab: find its header row, then parse every row's cells by field kind.

Pure functions, no I/O (DESIGN.md "Parse"). Headers are matched by name, never by
position; unknown columns are left alone. Cells are parsed tolerantly, and a cell
that cannot be read becomes a :class:`CellIssue` (for the row's *Sync notes*)
instead of being dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from openpyxl.utils.cell import get_column_letter

from sync.cells import CellValue, Grid, NotData, cell_text
from sync.errors import LayoutError
from sync.fields import Field, Kind, header_index, header_key
from sync.long_text import MAX_CELL_CHARS
from sync.values import ParseOptions, is_blank, parse_value, strip_edges
from sync.words import Problem


@dataclass(frozen=True)
class Header:
    """Where a tab's header row is and what its columns mean.

    Attributes:
        row: 0-based index of the header row in the grid.
        columns: field key -> 0-based column index, in column order.
        titles: field key -> header text as found in the sheet.
        unknown: header texts that name no known field, in column order (left alone).
    """

    row: int
    columns: dict[str, int]
    titles: dict[str, str]
    unknown: tuple[str, ...]


@dataclass
class CellIssue:
    """A cell that could not be parsed; the caller adds file, tab and row.

    Attributes:
        field: the field key.
        column: the header text as found in the sheet.
        raw: the cell value as read.
        message: what is wrong, in plain words.
    """

    field: str
    column: str
    raw: CellValue
    message: str


@dataclass
class ParsedRow:
    """One row below the header.

    Attributes:
        index: 0-based row index in the grid.
        values: field key -> parsed value, for the fields whose column exists; blank -> None.
            A cell that could not be parsed has no key here (see ``issues``).
        raw: field key -> the cell value as read (None for a missing cell).
        issues: the cells that could not be parsed.
        blank: every known cell of the row is blank (callers skip such rows).
    """

    index: int
    values: dict[str, object]
    raw: dict[str, CellValue]
    issues: list[CellIssue]
    blank: bool


def column_letter(index: int) -> str:
    """The spreadsheet letter of a 0-based column index.

    >>> column_letter(0), column_letter(25), column_letter(27)
    ('A', 'Z', 'AB')

    Raises:
        ValueError: for a negative index.
    """
    if index < 0:
        raise ValueError(f"column index must be 0 or more, not {index}")
    return get_column_letter(index + 1)


# --------------------------------------------------------------------------- header


def find_header(
    grid: Grid,
    fields: tuple[Field, ...],
    *,
    required: Sequence[str],
    options: ParseOptions,
    where: str,
) -> Header:
    """Find the header row and map its columns to fields.

    The header row is the first of the first ``options.header_scan_rows`` rows whose
    cells name at least ``max(2, len(required))`` known fields, every ``required``
    one among them. Headers match case-, space-, ``_``- and ``-``-insensitively, by
    a field's header, key, built-in aliases or ``options.extra_aliases``.

    Args:
        grid: the tab as read.
        fields: the fields of this tab (e.g. ``CUSTOMER_FIELDS``).
        required: keys of the fields that must have a column (e.g. ``["name", "phone"]``).
        options: parse options.
        where: the place, for error messages (e.g. ``"agents/ali.xlsx, tab Customers"``).

    Returns:
        The header row and its column mapping.

    Raises:
        LayoutError: no such row (the message lists the missing required headers), or
            two columns of the header row mean the same field.
        ValueError: a ``required`` key is not a key of ``fields`` (a programming error).
    """
    by_key = {f.key: f for f in fields}
    strangers = [key for key in required if key not in by_key]
    if strangers:
        raise ValueError(f"required keys not among the fields: {', '.join(strangers)}")
    index = _alias_index(fields, options.extra_aliases)
    need = max(2, len(required))
    scanned = grid[: max(options.header_scan_rows, 0)]

    best: tuple[tuple[int, int], int, dict[str, list[int]]] | None = None
    for row, cells in enumerate(scanned):
        matches = _match_row(cells, index)
        if len(matches) >= need and all(key in matches for key in required):
            return _build_header(row, cells, matches, by_key, where)
        score = (sum(key in matches for key in required), len(matches))
        if matches and (best is None or score > best[0]):
            best = (score, row, matches)
    raise _header_not_found(scanned, best, by_key, required, need, where)


def _alias_index(fields: tuple[Field, ...], extra: Mapping[str, Sequence[str]]) -> dict[str, str]:
    index = header_index(fields)
    keys = {f.key for f in fields}
    for key, names in extra.items():
        if key not in keys:
            continue  # the configuration's aliases cover every tab; this one is for another tab
        for name in (names,) if isinstance(names, str) else names:
            folded = header_key(name)
            if folded:
                index[folded] = key  # the configuration knows this deployment's sheets best
    return index


def _match_row(cells: Sequence[CellValue], index: Mapping[str, str]) -> dict[str, list[int]]:
    matches: dict[str, list[int]] = {}
    for col, cell in enumerate(cells):
        key = index.get(header_key(strip_edges(cell_text(cell))))
        if key is not None:
            matches.setdefault(key, []).append(col)
    return matches


def _build_header(
    row: int,
    cells: Sequence[CellValue],
    matches: dict[str, list[int]],
    by_key: Mapping[str, Field],
    where: str,
) -> Header:
    def title(col: int) -> str:
        return strip_edges(cell_text(cells[col]))

    clashes = []
    for key, cols in matches.items():
        if len(cols) > 1:
            named = [f"{column_letter(c)} ({title(c)})" for c in cols]
            both = "both" if len(cols) == 2 else "all"
            clashes.append(f"columns {_and_join(named)} {both} mean {by_key[key].header}")
    if clashes:
        raise LayoutError(
            f"header row {row + 1}: " + "; ".join(clashes),
            where=where,
            hint="rename or remove all but one of each",
        )
    order = sorted(matches, key=lambda key: matches[key][0])
    mapped = {cols[0] for cols in matches.values()}
    unknown = tuple(
        title(col) for col in range(len(cells)) if col not in mapped and title(col) != ""
    )
    return Header(
        row=row,
        columns={key: matches[key][0] for key in order},
        titles={key: title(matches[key][0]) for key in order},
        unknown=unknown,
    )


def _header_not_found(
    scanned: Grid,
    best: tuple[tuple[int, int], int, dict[str, list[int]]] | None,
    by_key: Mapping[str, Field],
    required: Sequence[str],
    need: int,
    where: str,
) -> LayoutError:
    if not scanned:
        looked = " (the tab is empty)"
    else:
        looked = " in the first row" if len(scanned) == 1 else f" in the first {len(scanned)} rows"
    if best is None:
        missing = [by_key[key].header for key in required]
        closest = ""
    else:
        _, row, matches = best
        missing = [by_key[key].header for key in required if key not in matches]
        found = [by_key[key].header for key in matches]
        closest = f"row {row + 1} has {_and_join(found)}"
    if missing:
        message = f"header row not found{looked}: missing {_and_join(missing)}"
        hint = (closest + "; " if closest else "") + (
            "name the columns as in the default layout or add aliases in the configuration"
        )
    else:
        message = (
            f"header row not found{looked}: {closest}, "
            f"but a header row needs at least {need} known headers"
        )
        hint = "name the columns as in the default layout or add aliases in the configuration"
    return LayoutError(message, where=where, hint=hint)


def _and_join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# --------------------------------------------------------------------------- rows


def parse_rows(
    grid: Grid,
    header: Header,
    fields: tuple[Field, ...],
    options: ParseOptions,
    only: Iterable[int] | None = None,
) -> list[ParsedRow]:
    """Parse every row below the header (or the rows ``only`` names).

    Fully blank rows are returned too, with ``blank=True``; callers skip them. A
    missing cell (a short row) reads as blank.

    Args:
        grid: the tab as read.
        header: the tab's header, from :func:`find_header`.
        fields: the fields the header was found with.
        options: parse options.
        only: 0-based grid indexes of the rows to parse (those below the header); all
            when None.

    Returns:
        One :class:`ParsedRow` per grid row after the header row, in grid order.

    Raises:
        ValueError: the header names a field not in ``fields`` (a programming error).
    """
    by_key = {f.key: f for f in fields}
    strangers = [key for key in header.columns if key not in by_key]
    if strangers:
        raise ValueError(f"header columns not among the fields: {', '.join(strangers)}")
    rows = []
    indexes = (
        range(header.row + 1, len(grid))
        if only is None
        else sorted(i for i in set(only) if header.row < i < len(grid))
    )
    # Choices, dates and numbers repeat down a column: each distinct cell is parsed once.
    memo: dict[tuple[str, type, CellValue], tuple[object, str | None]] = {}
    memoized = {key for key, f in by_key.items() if f.kind in _MEMOIZED}
    # A text or phone cell holding text is its text stripped (what parse_value gives), made
    # here with the blank check's strip: most cells are such, and stripped once.
    plain = {key for key, f in by_key.items() if f.kind in (Kind.TEXT, Kind.PHONE)}
    for index in indexes:
        cells = grid[index]
        values: dict[str, object] = {}
        raw: dict[str, CellValue] = {}
        issues: list[CellIssue] = []
        blank = True
        for key, col in header.columns.items():
            value = cells[col] if col < len(cells) else None
            raw[key] = value
            if isinstance(value, str):
                text = strip_edges(value)
                if not text:
                    values[key] = None
                    continue
                blank = False
                if key in plain and type(value) is str and len(value) <= MAX_CELL_CHARS:
                    values[key] = text
                    continue
            elif value is None:
                values[key] = None
                continue
            else:
                blank = False
            if key in memoized and not isinstance(value, NotData):
                known = memo.get((key, type(value), value))
                if known is None:
                    known = memo[(key, type(value), value)] = _parsed(by_key[key], value, options)
                parsed, problem = known
            else:
                parsed, problem = _parsed(by_key[key], value, options)
            if problem is None:
                values[key] = parsed
            else:
                issues.append(CellIssue(key, header.titles[key], value, problem))
        rows.append(ParsedRow(index=index, values=values, raw=raw, issues=issues, blank=blank))
    return rows


_MEMOIZED = frozenset({Kind.DATE, Kind.ENUM, Kind.INT, Kind.PERCENT})


def _parsed(field: Field, raw: CellValue, options: ParseOptions) -> tuple[object, str | None]:
    """:func:`parse_value`, with its refusal as a message instead of an exception."""
    try:
        return parse_value(field, raw, options), None
    except ValueError as exc:
        why = exc.args[0] if exc.args else None
        return None, why if isinstance(why, Problem) else str(exc)


def count_rows(grid: Grid, fields: tuple[Field, ...], options: ParseOptions) -> int | None:
    """How many rows below its header row a tab holds with a cell in a known column; None
    when it has no header row with a Phone column."""
    try:
        header = find_header(grid, fields, required=("phone",), options=options, where="")
    except LayoutError:
        return None
    cols = list(header.columns.values())
    return sum(
        1
        for cells in grid[header.row + 1 :]
        if any(col < len(cells) and not is_blank(cells[col]) for col in cols)
    )
