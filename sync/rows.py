"""Reading one tab: find its header row, then parse every row's cells by field kind.

Pure functions, no I/O (DESIGN.md "Parse"). Headers are matched by name, never by
position; unknown columns are left alone. Cells are parsed tolerantly, and a cell
that cannot be read becomes a :class:`CellIssue` (for the row's *Sync notes*)
instead of being dropped.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from dateutil import parser as date_parser
from openpyxl.utils.cell import get_column_letter

from sync.cells import CellValue, Grid, NotData, cell_text
from sync.errors import LayoutError
from sync.fields import Field, Kind, header_index, header_key
from sync.long_text import MAX_CELL_CHARS, too_long_to_store


@dataclass(frozen=True)
class ParseOptions:
    """How to read headers and cells.

    Attributes:
        day_first: read an ambiguous ``03/04/2026`` as 3 April (True) or March 4 (False).
            A date whose first or second part is above 12 is read the only way it can be.
        extra_aliases: field key -> more header texts, from the configuration. They win
            over the built-in aliases; keys of fields not in the tab are ignored.
        header_scan_rows: look for the header row in this many first rows.
    """

    day_first: bool = True
    extra_aliases: Mapping[str, Sequence[str]] = dataclass_field(default_factory=dict, hash=False)
    header_scan_rows: int = 10


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


# Bidi and zero-width marks: Arabic keyboards and copy-paste from RTL text put them
# around (and inside) values; they are invisible, so they never carry meaning.
_MARKS = (
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2066\u2067\u2068\u2069\u061c\ufeff"
)
_EDGES = re.compile(f"^[\\s{_MARKS}]+|[\\s{_MARKS}]+$")
_DROP_MARKS = dict.fromkeys(map(ord, _MARKS), None)
_ARABIC_NUMERALS = str.maketrans(
    "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫٪،",  # Arabic-Indic, Extended (Persian) digits, decimal sep, %, comma
    "01234567890123456789.%,",
)
# Spellings that differ only by hamza, alef maqsura or ta marbuta count as the same word.
_ARABIC_LETTERS = str.maketrans(
    {"أ": "ا", "إ": "ا", "آ": "ا", "ى": "ي", "ة": "ه"}
    | dict.fromkeys("\u0640\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652")  # tatweel, harakat
)

_SHOWN_MAX = 60


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
        key = index.get(header_key(_strip(cell_text(cell))))
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
        return _strip(cell_text(cells[col]))

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
                text = _strip(value)
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
        return None, str(exc)


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
        if any(col < len(cells) and not _is_empty(cells[col]) for col in cols)
    )


def parse_value(field: Field, raw: CellValue, options: ParseOptions) -> object:
    """Parse one cell by its field's kind.

    A blank cell (None, or only spaces and invisible marks) is None for every kind. A cell
    that shows no value (a formula error, a formula saved without its value) is refused, and
    so is a text longer than sheetsync keeps (:data:`sync.long_text.MAX_CELL_CHARS`).

    * TEXT: the text, ends stripped (spaces, bidi and zero-width marks), inner newlines
      kept; numbers without a trailing ``.0``; booleans as ``TRUE``/``FALSE``; dates ISO.
    * PHONE: the value as read, strings stripped (normalization happens in dedupe).
    * DATE: a :class:`datetime.date`; see :func:`parse_date`.
    * ENUM: the canonical choice; see :func:`parse_choice`.
    * INT: an int (Graduation year: 1900 to 2100).
    * PERCENT: a float from 0 to 100; ``50``, ``"50"``, ``"50%"`` all give 50.0.

    Args:
        field: the cell's field.
        raw: the cell value as read.
        options: parse options.

    Returns:
        The parsed value, or None for a blank cell.

    Raises:
        ValueError: the cell can't be read as its kind; the message says why in plain
            words (the caller adds file, tab, row and column).
    """
    if isinstance(raw, NotData):
        raise ValueError(raw.problem())
    if isinstance(raw, str):  # stripped once: most cells are text
        if len(raw) > MAX_CELL_CHARS:
            raise ValueError(too_long_to_store(raw))
        text = _strip(raw)
        if not text:
            return None
        if field.kind is Kind.TEXT or field.kind is Kind.PHONE:
            return text
    elif raw is None:
        return None
    elif field.kind is Kind.TEXT:
        return _strip(cell_text(raw))
    elif field.kind is Kind.PHONE:
        return raw
    if field.kind is Kind.DATE:
        return parse_date(raw, day_first=options.day_first)
    if field.kind is Kind.ENUM:
        return parse_choice(field, raw)
    if field.kind is Kind.INT:
        return _parse_int(field, raw)
    if field.kind is Kind.PERCENT:
        return _parse_percent(raw)
    raise ValueError(f"unknown field kind {field.kind!r}")


def _is_empty(value: CellValue) -> bool:
    return value is None or (isinstance(value, str) and _strip(value) == "")


def _strip(text: str) -> str:
    if text:  # the common case, no space or mark at either end: no regex (and no call)
        first, last = text[0], text[-1]
        if not (first.isspace() or first in _MARKS or last.isspace() or last in _MARKS):
            return text
    return _EDGES.sub("", text)


def _shown(raw: CellValue) -> str:
    """A cell value as quoted in a message: strings in quotes, cut when long."""
    if not isinstance(raw, str):
        return cell_text(raw)
    text = _strip(raw)
    if len(text) > _SHOWN_MAX:
        text = text[: _SHOWN_MAX - 1] + "…"
    return f"'{text}'"


def _plain(text: str) -> str:
    """Text prepared for reading numbers and dates: ASCII digits, no marks, single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_DROP_MARKS).translate(_ARABIC_NUMERALS)
    return " ".join(text.split())


# --------------------------------------------------------------------------- enums

# Canonical choice -> more ways people type it. Applied only to fields offering that choice.
_CHOICE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "Prospect": ("محتمل",),
    "Contacted": ("تم التواصل",),
    "In progress": ("قيد التنفيذ",),
    "Negotiating": ("تفاوض",),
    "Completed": ("مكتمل",),
    "Lost": ("مفقود",),
    "Male": ("M", "ذكر"),
    "Female": ("F", "أنثى", "انثى"),
    "Low": ("منخفض",),
    "Medium": ("متوسط",),
    "High": ("عالي",),
    "Bachelor": ("Bachelors", "Bachelor's", "بكالوريوس"),
    "Master": ("Masters", "Master's", "ماجستير"),
    "PhD": ("Doctorate", "دكتوراه"),
}


def _fold_choice(text: str) -> str:
    return header_key(text).translate(_ARABIC_LETTERS)


@functools.cache
def _choice_index(choices: tuple[str, ...]) -> dict[str, str]:
    """Folded choice or synonym -> canonical choice; the first choice wins a tie."""
    index: dict[str, str] = {}
    for choice in choices:
        for name in (choice, *_CHOICE_SYNONYMS.get(choice, ())):
            index.setdefault(_fold_choice(name), choice)
    return index


def parse_choice(field: Field, raw: CellValue) -> str:
    """The canonical choice a cell means.

    Case, spaces, ``_``, ``-`` and ``.`` don't matter (``"in_progress"``, ``"IN PROGRESS"``
    -> ``"In progress"``; ``"Ph.D."`` -> ``"PhD"``); Arabic synonyms and ``M``/``F`` for
    Gender are accepted.

    Raises:
        ValueError: the cell names none of the field's choices.
    """
    if isinstance(raw, str):
        choice = _choice_index(field.choices).get(_fold_choice(raw))
        if choice is not None:
            return choice
    raise ValueError(f"{_shown(raw)} is not one of {', '.join(field.choices)}")


# --------------------------------------------------------------------------- numbers

_INT_BOUNDS: dict[str, tuple[int, int]] = {"graduation_year": (1900, 2100)}
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}(?:\.0*)?")
_NUMBER = re.compile(r"[+-]?(?:[0-9]{1,18}(?:\.[0-9]*)?|\.[0-9]+)")


def _parse_int(field: Field, raw: CellValue) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"could not read {_shown(raw)} as a whole number")
    if isinstance(raw, int):
        number = raw
    elif isinstance(raw, float):
        if not raw.is_integer():  # also NaN and infinities
            raise ValueError(f"{_shown(raw)} is not a whole number")
        number = int(raw)
    elif isinstance(raw, str):
        text = _plain(raw)
        if not _INTEGER.fullmatch(text):
            if _NUMBER.fullmatch(text):
                raise ValueError(f"{_shown(raw)} is not a whole number")
            raise ValueError(f"could not read {_shown(raw)} as a whole number")
        number = int(text.split(".")[0])
    else:
        raise ValueError(f"could not read {_shown(raw)} as a whole number")
    low, high = _INT_BOUNDS.get(field.key, (None, None))
    if low is not None and high is not None and not low <= number <= high:
        raise ValueError(f"{field.header} must be between {low} and {high}, not {number}")
    return number


def _parse_percent(raw: CellValue) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"could not read {_shown(raw)} as a percentage")
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        text = _plain(raw).replace(" ", "")
        # Arabic writing often puts the sign first: ٪٥٠.
        text = text.removesuffix("%") if text.endswith("%") else text.removeprefix("%")
        if not _NUMBER.fullmatch(text):
            raise ValueError(f"could not read {_shown(raw)} as a percentage")
        value = float(text)
    else:
        raise ValueError(f"could not read {_shown(raw)} as a percentage")
    if not (math.isfinite(value) and 0 <= value <= 100):
        raise ValueError(f"{_shown(raw)} is not a percentage from 0 to 100")
    return value + 0.0  # -0.0 -> 0.0


# --------------------------------------------------------------------------- dates

# Excel and Google Sheets count days from 1899-12-30 (Excel's 1900 leap-year bug shifts
# only serials below 61, i.e. before March 1900, which no customer date is).
_SERIAL_EPOCH = dt.date(1899, 12, 30)
_SERIAL_MAX = 80_000  # 2119-01-10
_YEARS = (1800, 2200)

# fmt: off
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")
# Egyptian/Gulf month names, as typed in Arabic sheets (the Levantine ones are two words).
_ARABIC_MONTH_NAMES = ("يناير", "فبراير", "مارس", "ابريل", "مايو", "يونيو", "يوليو", "اغسطس",
                       "سبتمبر", "اكتوبر", "نوفمبر", "ديسمبر")
# fmt: on
_MONTHS: dict[str, int] = {"sept": 9}
for _number, (_name, _arabic) in enumerate(
    zip(_MONTH_NAMES, _ARABIC_MONTH_NAMES, strict=True), start=1
):
    _MONTHS[_name.casefold()] = _MONTHS[_name[:3].casefold()] = _number
    _MONTHS[_arabic.translate(_ARABIC_LETTERS)] = _number

# An optional time after the date, read and discarded (ISO "T10:30:00Z", "10:30 pm", ...).
_TIME = (
    r"(?:(?:t|\s)(?P<hh>\d{1,2}):(?P<mm>\d{2})(?::(?P<ss>\d{2})(?:[.,]\d{1,9})?)?"
    r"\s?(?:[ap]\.?m\.?)?\s?(?:z|utc|gmt|[+-]\d{2}(?::?\d{2})?)?)?"
)
_YMD = re.compile(r"(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})" + _TIME)
_YMD_COMPACT = re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})")
_NUMERIC = re.compile(
    r"(?P<a>\d{1,2})(?P<sep>[-/. ])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})" + _TIME
)
_DAY = r"(?P<d>\d{1,2})(?:st|nd|rd|th)?"
_MONTH = r"(?P<mon>[^\W\d_]+)\.?"
_YEAR = r"(?P<y>\d{4}|\d{2})"
_DAY_MONTH_YEAR = re.compile(_DAY + r"[ ./-]?" + _MONTH + r"[ ,./-]{0,2}" + _YEAR + _TIME)
# A separator must follow the day here: "March 2026" is no day 20 of year 26.
_MONTH_DAY_YEAR = re.compile(_MONTH + r"[ ./-]?" + _DAY + r"[ ,./-]{1,2}" + _YEAR + _TIME)

# Words the dateutil fallback may meet besides one month name; any other word means the
# cell is not a date ("tomorrow", "next week"), whatever dateutil would make of it.
# fmt: off
_DATE_NOISE = frozenset((
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun",
    "of", "at", "on", "the", "st", "nd", "rd", "th", "am", "pm", "utc", "gmt", "z",
))
_ARABIC_DATE_NOISE = frozenset(word.translate(_ARABIC_LETTERS) for word in (
    "الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد", "يوم", "في",
))
# fmt: on
_TIME_OF_DAY = re.compile(
    r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s?(?:[ap]\.?m\.?)?\s?(?:[+-]\d{2}:?\d{2})?"
)
_TOKEN = re.compile(r"[^\W\d_]+|\d+")
# Two fallback defaults differing in year, month and day: a part dateutil filled in
# from a default (it silently uses today's) shows up as a difference between them.
_DEFAULT_A = dt.datetime(2001, 1, 1)
_DEFAULT_B = dt.datetime(2002, 2, 2)


def parse_date(raw: CellValue, *, day_first: bool = True) -> dt.date:
    """The date a cell means.

    Accepts date and datetime values; spreadsheet serial numbers from 1 to 80000
    (days since 1899-12-30; a fraction is a time of day and is dropped); and text such
    as ``2026-01-15``, ``2026/1/15``, ``15/01/2026``, ``15-01-2026``, ``15.01.2026``,
    ``Jan 15, 2026``, ``15 January 2026``, ``15 Jan 26``, ``١٥/٠١/٢٠٢٦`` and ISO date-times
    (the date as written is kept). Two-digit years are 20xx up to 69, else 19xx.

    Args:
        raw: the cell value.
        day_first: read ``03/04/2026`` as 3 April (True) or March 4 (False). When one of
            the first two numbers is above 12, the date is read the only way it can be.

    Raises:
        ValueError: the cell is not a whole date (day, month and year), or no such day exists.
    """
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, bool):
        raise ValueError(f"could not read {_shown(raw)} as a date")
    if isinstance(raw, int | float):
        if not 1 <= raw < _SERIAL_MAX + 1:  # also rejects NaN
            raise ValueError(
                f"could not read {_shown(raw)} as a date: numbers are read as spreadsheet "
                f"date serials, from 1 to {_SERIAL_MAX}"
            )
        return _SERIAL_EPOCH + dt.timedelta(days=math.floor(raw))
    if not isinstance(raw, str):
        raise ValueError(f"could not read {_shown(raw)} as a date")
    return _parse_date_text(raw, day_first=day_first)


def _parse_date_text(raw: str, *, day_first: bool) -> dt.date:
    plain = _plain(raw)
    text = plain.casefold()
    if match := _YMD.fullmatch(text) or _YMD_COMPACT.fullmatch(text):
        _check_time(raw, match)
        return _make_date(raw, int(match["y"]), int(match["m"]), int(match["d"]))
    if match := _NUMERIC.fullmatch(text):
        _check_time(raw, match)
        first, second = int(match["a"]), int(match["b"])
        if first > 12 and second > 12:
            raise ValueError(
                f"could not read {_shown(raw)} as a date: neither {first} nor "
                f"{second} can be a month"
            )
        if first > 12 or (day_first and second <= 12):
            day, month = first, second
        else:
            day, month = second, first
        return _make_date(raw, _full_year(match["y"]), month, day)
    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
        match = pattern.fullmatch(text)
        named = _MONTHS.get(match["mon"].translate(_ARABIC_LETTERS)) if match else None
        if match and named:
            _check_time(raw, match)
            return _make_date(raw, _full_year(match["y"]), named, int(match["d"]))
    return _parse_date_fallback(raw, plain, day_first=day_first)


def _parse_date_fallback(raw: str, text: str, *, day_first: bool) -> dt.date:
    """Anything else naming a month ("Thu, 15 Jan 2026 10:00 GMT"), read by dateutil.

    dateutil guesses freely ("8 8 t t March" is a date to it), so the text must first
    hold exactly one month name, one day, one year, an optional time and only harmless
    words (weekdays, "of", "at", ...); dateutil's reading must then agree with those parts.
    """
    unreadable = ValueError(f"could not read {_shown(raw)} as a date")
    incomplete = ValueError(
        f"could not read {_shown(raw)} as a date: it needs a day, a month and a year"
    )

    def fold(token: str) -> str:
        return token.casefold().translate(_ARABIC_LETTERS)

    months: list[tuple[int, int]] = []  # (token position, month)
    numbers: list[tuple[int, str]] = []  # (token position, digits)
    for position, token in enumerate(map(fold, _TOKEN.findall(_TIME_OF_DAY.sub(" ", text)))):
        if token.isdigit():
            numbers.append((position, token))
        elif token in _MONTHS:
            months.append((position, _MONTHS[token]))
        elif token not in _DATE_NOISE and token not in _ARABIC_DATE_NOISE:
            raise unreadable
    days = [digits for _, digits in numbers if len(digits) <= 2]
    years = [digits for _, digits in numbers if len(digits) == 4]
    # "Thu, 15 Jan 26": a two-digit year only as the last number, after day and month.
    if (
        not years
        and len(days) == 2
        and len(months) == 1
        and len(numbers[-1][1]) == 2
        and months[0][0] < numbers[-1][0]
    ):
        years = [days.pop()]
    if len(months) > 1 or len(days) > 1 or len(years) > 1 or len(days) + len(years) < len(numbers):
        raise unreadable
    if not (months and days and years):
        raise incomplete
    year, month, day = _full_year(years[0]), months[0][1], int(days[0])

    def for_dateutil(match: re.Match[str]) -> str:
        token = fold(match[0])
        if token in _MONTHS:
            return _MONTH_NAMES[_MONTHS[token] - 1]  # it knows English month names only
        if token in _ARABIC_DATE_NOISE:
            return ""
        return token.upper() if token in ("utc", "gmt", "z") else match[0]

    english = _TOKEN.sub(for_dateutil, text)
    try:
        first = date_parser.parse(english, default=_DEFAULT_A, dayfirst=day_first, ignoretz=True)
        second = date_parser.parse(english, default=_DEFAULT_B, dayfirst=day_first, ignoretz=True)
    except (ValueError, OverflowError):
        # dateutil refuses impossible days too: say which, if that is the reason.
        _make_date(raw, year, month, day)
        raise unreadable from None
    # dateutil has its own window for two-digit years: only the last two digits must agree.
    if first != second or (first.year % 100, first.month, first.day) != (year % 100, month, day):
        raise unreadable
    return _make_date(raw, year, month, day)


def _check_time(raw: str, match: re.Match[str]) -> None:
    groups = match.groupdict()
    if groups.get("hh") is None:
        return
    hour, minute, second = int(groups["hh"]), int(groups["mm"]), int(groups["ss"] or 0)
    if hour > 24 or minute > 59 or second > 60:
        raise ValueError(f"could not read {_shown(raw)} as a date: the time is not a time")


def _full_year(digits: str) -> int:
    year = int(digits)
    if len(digits) <= 2:
        year += 2000 if year <= 69 else 1900
    return year


def _make_date(raw: str, year: int, month: int, day: int) -> dt.date:
    if not _YEARS[0] <= year <= _YEARS[1]:
        raise ValueError(
            f"could not read {_shown(raw)} as a date: the year {year} is not between "
            f"{_YEARS[0]} and {_YEARS[1]}"
        )
    if not 1 <= month <= 12:
        raise ValueError(f"could not read {_shown(raw)} as a date: there is no month {month}")
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValueError(
            f"could not read {_shown(raw)} as a date: "
            f"{_MONTH_NAMES[month - 1]} {year} has no day {day}"
        ) from None
