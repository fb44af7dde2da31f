"""Reading one cell by its field's kind: texts, choices (with their Arabic and other
spellings), whole numbers, percents and dates, from what a spreadsheet cell holds.

Pure functions, no I/O. A cell that cannot be read raises ``ValueError`` with what it
showed; :func:`sync.rows.parse_rows` makes that the row's :class:`~sync.rows.CellIssue`.

One module at this size because it is the one table of what a typed cell means, kind by
kind; the date reader (numeric, named-month and Arabic forms, checked against dateutil)
is half of it.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from dateutil import parser as date_parser

from sync.cells import CellValue, NotData, cell_text
from sync.fields import Field, Kind, header_key
from sync.long_text import MAX_CELL_CHARS, too_long_to_store
from sync.words import Language, Problem


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
        text = strip_edges(raw)
        if not text:
            return None
        if field.kind is Kind.TEXT or field.kind is Kind.PHONE:
            return text
    elif raw is None:
        return None
    elif field.kind is Kind.TEXT:
        return strip_edges(cell_text(raw))
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


def is_blank(value: CellValue) -> bool:
    """An empty cell: None, or only spaces and invisible marks."""
    return value is None or (isinstance(value, str) and strip_edges(value) == "")


def strip_edges(text: str) -> str:
    """The text without spaces and invisible marks at either end."""
    if text:  # the common case, no space or mark at either end: no regex (and no call)
        first, last = text[0], text[-1]
        if not (first.isspace() or first in _MARKS or last.isspace() or last in _MARKS):
            return text
    return _EDGES.sub("", text)


def _shown(raw: CellValue) -> str:
    """A cell value as quoted in a message: strings in quotes, cut when long."""
    if not isinstance(raw, str):
        return cell_text(raw)
    text = strip_edges(raw)
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
    "Other": ("أخرى", "اخرى"),
    "Call": ("مكالمة",),
    "Meeting": ("اجتماع",),
    "Email": ("بريد إلكتروني",),
    "WhatsApp": ("واتساب",),
    "Visit": ("زيارة",),
    "Low": ("منخفض",),
    "Medium": ("متوسط",),
    "High": ("عالي",),
    "Bachelor": ("Bachelors", "Bachelor's", "بكالوريوس"),
    "Master": ("Masters", "Master's", "ماجستير"),
    "PhD": ("Doctorate", "دكتوراه"),
    "yes": ("y", "true", "add", "نعم", "أجل"),
}


def spellings(choice: str) -> tuple[str, ...]:
    """A choice and the other ways it is read (``"Completed"``, ``"مكتمل"``)."""
    return (choice, *_CHOICE_SYNONYMS.get(choice, ()))


def _fold_choice(text: str) -> str:
    return header_key(text).translate(_ARABIC_LETTERS)


@functools.cache
def _choice_index(choices: tuple[str, ...]) -> dict[str, str]:
    """Folded choice or synonym -> canonical choice; the first choice wins a tie."""
    index: dict[str, str] = {}
    for choice in choices:
        for name in spellings(choice):
            index.setdefault(_fold_choice(name), choice)
    return index


_ARABIC = re.compile("[\u0600-\u06ff]")


def choice(value: str, language: Language = "en") -> str:
    """A canonical choice (``Completed``) as written in ``language`` (``مكتمل``)."""
    if language != "ar":
        return value
    return next((s for s in spellings(value) if _ARABIC.search(s)), value)


def parse_choice(field: Field, raw: CellValue) -> str:
    """The canonical choice a cell means.

    Case, spaces, ``_``, ``-`` and ``.`` don't matter (``"in_progress"``, ``"IN PROGRESS"``
    -> ``"In progress"``; ``"Ph.D."`` -> ``"PhD"``); Arabic synonyms and ``M``/``F`` for
    Gender are accepted.

    Raises:
        ValueError: the cell names none of the field's choices.
    """
    if isinstance(raw, str):
        found = _choice_index(field.choices).get(_fold_choice(raw))
        if found is not None:
            return found
    raise ValueError(
        Problem(
            "not_a_choice",
            shown=_shown(raw),
            choices=", ".join(field.choices),
            choices_ar="، ".join(choice(c, "ar") for c in field.choices),
        )
    )


# --------------------------------------------------------------------------- numbers

_INT_BOUNDS: dict[str, tuple[int, int]] = {"graduation_year": (1900, 2100)}
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}(?:\.0*)?")
_NUMBER = re.compile(r"[+-]?(?:[0-9]{1,18}(?:\.[0-9]*)?|\.[0-9]+)")


def _parse_int(field: Field, raw: CellValue) -> int:
    if isinstance(raw, bool):
        raise ValueError(Problem("not_a_number", shown=_shown(raw)))
    if isinstance(raw, int):
        number = raw
    elif isinstance(raw, float):
        if not raw.is_integer():  # also NaN and infinities
            raise ValueError(Problem("not_whole", shown=_shown(raw)))
        number = int(raw)
    elif isinstance(raw, str):
        text = _plain(raw)
        if not _INTEGER.fullmatch(text):
            if _NUMBER.fullmatch(text):
                raise ValueError(Problem("not_whole", shown=_shown(raw)))
            raise ValueError(Problem("not_a_number", shown=_shown(raw)))
        number = int(text.split(".")[0])
    else:
        raise ValueError(Problem("not_a_number", shown=_shown(raw)))
    low, high = _INT_BOUNDS.get(field.key, (None, None))
    if low is not None and high is not None and not low <= number <= high:
        raise ValueError(
            Problem(
                "out_of_range",
                header=field.header,
                header_ar=field.arabic,
                low=low,
                high=high,
                number=number,
            )
        )
    return number


def _parse_percent(raw: CellValue) -> float:
    if isinstance(raw, bool):
        raise ValueError(Problem("not_a_percentage", shown=_shown(raw)))
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        text = _plain(raw).replace(" ", "")
        # Arabic writing often puts the sign first: ٪٥٠.
        text = text.removesuffix("%") if text.endswith("%") else text.removeprefix("%")
        if not _NUMBER.fullmatch(text):
            raise ValueError(Problem("not_a_percentage", shown=_shown(raw)))
        value = float(text)
    else:
        raise ValueError(Problem("not_a_percentage", shown=_shown(raw)))
    if not (math.isfinite(value) and 0 <= value <= 100):
        raise ValueError(Problem("percentage_range", shown=_shown(raw)))
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
        raise ValueError(Problem("not_a_date", shown=_shown(raw)))
    if isinstance(raw, int | float):
        if not 1 <= raw < _SERIAL_MAX + 1:  # also rejects NaN
            raise ValueError(_not_a_date(raw, Problem("date_serial", top=_SERIAL_MAX)))
        return _SERIAL_EPOCH + dt.timedelta(days=math.floor(raw))
    if not isinstance(raw, str):
        raise ValueError(Problem("not_a_date", shown=_shown(raw)))
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
                _not_a_date(raw, Problem("date_no_month_in", first=first, second=second))
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
    unreadable = ValueError(Problem("not_a_date", shown=_shown(raw)))
    incomplete = ValueError(_not_a_date(raw, Problem("date_incomplete")))

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
        raise ValueError(_not_a_date(raw, Problem("date_time")))


def _not_a_date(raw: CellValue, why: Problem) -> Problem:
    return Problem("not_a_date_because", shown=_shown(raw), why=why)


def _full_year(digits: str) -> int:
    year = int(digits)
    if len(digits) <= 2:
        year += 2000 if year <= 69 else 1900
    return year


def _make_date(raw: str, year: int, month: int, day: int) -> dt.date:
    if not _YEARS[0] <= year <= _YEARS[1]:
        raise ValueError(
            _not_a_date(raw, Problem("date_year", year=year, low=_YEARS[0], high=_YEARS[1]))
        )
    if not 1 <= month <= 12:
        raise ValueError(_not_a_date(raw, Problem("date_month", month=month)))
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValueError(
            _not_a_date(
                raw,
                Problem(
                    "date_day", month_name=_MONTH_NAMES[month - 1], month=month, year=year, day=day
                ),
            )
        ) from None
