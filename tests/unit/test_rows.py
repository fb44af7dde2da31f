"""Specification of sync.rows: finding the header row and reading cells by field kind."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sync.cells import CellValue, ErrorCell, Grid
from sync.dedupe import value_text
from sync.errors import LayoutError
from sync.fields import (
    CUSTOMER_FIELDS,
    FIELDS_BY_KEY,
    FOLLOW_UP_FIELDS,
    FOLLOW_UP_FIELDS_BY_KEY,
    STATUSES,
)
from sync.ingest import RowAsRead
from sync.long_text import MAX_CELL_CHARS
from sync.rows import CellIssue, Header, ParseOptions, column_letter, find_header, parse_rows
from sync.values import parse_value

DAY_FIRST = ParseOptions(day_first=True)
MONTH_FIRST = ParseOptions(day_first=False)

NAME = FIELDS_BY_KEY["name"]
PHONE = FIELDS_BY_KEY["phone"]
NOTES = FIELDS_BY_KEY["notes"]
DATE_OF_BIRTH = FIELDS_BY_KEY["date_of_birth"]
STATUS = FIELDS_BY_KEY["status"]
GENDER = FIELDS_BY_KEY["gender"]
DEGREE = FIELDS_BY_KEY["degree"]
INTEREST = FIELDS_BY_KEY["interest"]
GRADUATION_YEAR = FIELDS_BY_KEY["graduation_year"]
COMMISSION = FIELDS_BY_KEY["commission_pct"]
FOLLOW_UP_TYPE = FOLLOW_UP_FIELDS_BY_KEY["type"]

WHERE = "agents/ali.xlsx, tab Customers"
REQUIRED = ("name", "phone")
DEFAULT_HEADERS = [f.header for f in CUSTOMER_FIELDS]


def header_of(grid: Grid, options: ParseOptions = DAY_FIRST, required=REQUIRED) -> Header:
    return find_header(grid, CUSTOMER_FIELDS, required=required, options=options, where=WHERE)


# --------------------------------------------------------------------------- dates

JAN_15 = dt.date(2026, 1, 15)

DATES = [
    pytest.param("2026-01-15", True, JAN_15, id="iso"),
    pytest.param("2026-01-15", False, JAN_15, id="iso-month-first"),
    pytest.param("2026/1/15", True, JAN_15, id="ymd-slashes-unpadded"),
    pytest.param("2026.01.15", False, JAN_15, id="ymd-dots"),
    pytest.param("20260115", True, JAN_15, id="iso-basic"),
    pytest.param("15/01/2026", True, JAN_15, id="dmy-slashes"),
    pytest.param("15-01-2026", True, JAN_15, id="dmy-dashes"),
    pytest.param("15.01.2026", True, JAN_15, id="dmy-dots"),
    pytest.param("15/01/2026", False, JAN_15, id="day-above-12-wins-over-month-first"),
    pytest.param("01/15/2026", True, JAN_15, id="second-above-12-wins-over-day-first"),
    pytest.param("03/04/2026", True, dt.date(2026, 4, 3), id="ambiguous-day-first"),
    pytest.param("03/04/2026", False, dt.date(2026, 3, 4), id="ambiguous-month-first"),
    pytest.param("3/4/26", True, dt.date(2026, 4, 3), id="two-digit-year-20xx"),
    pytest.param("15/01/69", True, dt.date(2069, 1, 15), id="two-digit-year-69-is-2069"),
    pytest.param("15/01/70", True, dt.date(1970, 1, 15), id="two-digit-year-70-is-1970"),
    pytest.param("Jan 15, 2026", True, JAN_15, id="mon-d-y"),
    pytest.param("January 15th, 2026", False, JAN_15, id="month-dth-y"),
    pytest.param("15 January 2026", True, JAN_15, id="d-month-y"),
    pytest.param("15 Jan 26", True, JAN_15, id="d-mon-yy"),
    pytest.param("15-JAN-2026", True, JAN_15, id="d-mon-y-dashes-upper"),
    pytest.param("Sept 3 2026", True, dt.date(2026, 9, 3), id="sept"),
    pytest.param("Thu, 15 Jan 2026 10:00:00 GMT", True, JAN_15, id="rfc-2822-via-dateutil"),
    pytest.param("Thu, 15 Jan 26", False, JAN_15, id="weekday-and-two-digit-year"),
    pytest.param("Thursday, January 15, 2026 at 10:30 AM", True, JAN_15, id="long-english"),
    pytest.param("15th of January 2026", True, JAN_15, id="dth-of-month"),
    pytest.param("2026 January 15", True, JAN_15, id="y-month-d"),
    pytest.param("الخميس ١٥ يناير ٢٠٢٦", True, JAN_15, id="arabic-weekday-and-month"),
    pytest.param("١٥/٠١/٢٠٢٦", True, JAN_15, id="arabic-indic-digits"),
    pytest.param("۱۵/۰۱/۲۰۲۶", True, JAN_15, id="persian-digits"),
    pytest.param("١٥ يناير ٢٠٢٦", True, JAN_15, id="arabic-month-name"),
    pytest.param("\u200f15/01/2026\u200f ", True, JAN_15, id="rtl-marks-and-spaces"),
    pytest.param("2026-01-15T10:30:00Z", True, JAN_15, id="iso-datetime-utc"),
    pytest.param("2026-01-15T23:30:00+05:00", True, JAN_15, id="iso-datetime-keeps-written-date"),
    pytest.param("2026-01-15 08:00", True, JAN_15, id="iso-datetime-space"),
    pytest.param("15/1/2026 10:30 PM", True, JAN_15, id="dmy-with-12h-time"),
    pytest.param(45306, True, dt.date(2024, 1, 15), id="serial-int"),
    pytest.param(45306.75, True, dt.date(2024, 1, 15), id="serial-with-time-fraction"),
    pytest.param(1, True, dt.date(1899, 12, 31), id="serial-1"),
    pytest.param(80000, True, dt.date(2119, 1, 11), id="serial-80000"),
    pytest.param(dt.date(2026, 1, 15), True, JAN_15, id="date-object"),
    pytest.param(dt.datetime(2026, 1, 15, 9, 45), True, JAN_15, id="datetime-object"),
    pytest.param("   ", True, None, id="blank-is-none"),
    pytest.param(None, True, None, id="none-is-none"),
]


@pytest.mark.parametrize(("raw", "day_first", "expected"), DATES)
def test_dates_are_read(raw: CellValue, day_first: bool, expected: dt.date | None) -> None:
    assert parse_value(DATE_OF_BIRTH, raw, ParseOptions(day_first=day_first)) == expected


DATE_REJECTS = [
    pytest.param("31/31/2026", "could not read '31/31/2026' as a date", id="no-month"),
    pytest.param("31/02/2026", "February 2026 has no day 31", id="no-such-day"),
    pytest.param("2026-13-01", "there is no month 13", id="iso-month-13"),
    pytest.param("tomorrow", "could not read 'tomorrow' as a date", id="tomorrow"),
    pytest.param("15", "could not read '15' as a date", id="day-alone"),
    pytest.param("March", "needs a day, a month and a year", id="month-alone"),
    pytest.param("15 March", "needs a day, a month and a year", id="no-year"),
    pytest.param("March 2026", "needs a day, a month and a year", id="no-day"),
    pytest.param("Monday", "needs a day, a month and a year", id="weekday"),
    pytest.param("1 2 3", "could not read '1 2 3' as a date", id="digits-only"),
    pytest.param("45306", "could not read '45306' as a date", id="serial-as-text"),
    pytest.param("0202-01-15", "the year 202 is not between", id="typo-year"),
    pytest.param("2026-01-15T25:00", "the time is not a time", id="bad-time"),
    pytest.param("15 Janvier 2026", "could not read '15 Janvier 2026'", id="unknown-month"),
    pytest.param("next Monday", "could not read 'next Monday' as a date", id="next-monday"),
    pytest.param("8 8 t t March", "could not read '8 8 t t March' as a date", id="dateutil-bait"),
    pytest.param("15 15 Jan", "could not read '15 15 Jan' as a date", id="two-days-no-year"),
    pytest.param("Jan 15 2026 Feb", "could not read 'Jan 15 2026 Feb'", id="two-months"),
    pytest.param("March 15 5", "could not read 'March 15 5' as a date", id="one-digit-year"),
    pytest.param("Thu, 31 Feb 2026", "February 2026 has no day 31", id="fallback-no-such-day"),
    pytest.param(0, "date serials, from 1 to 80000", id="serial-0"),
    pytest.param(80001, "date serials, from 1 to 80000", id="serial-too-big"),
    pytest.param(-3.5, "date serials", id="serial-negative"),
    pytest.param(float("nan"), "date serials", id="serial-nan"),
    pytest.param(True, "could not read TRUE as a date", id="boolean"),
]


@pytest.mark.parametrize(("raw", "message"), DATE_REJECTS)
@pytest.mark.parametrize("options", [DAY_FIRST, MONTH_FIRST], ids=["day-first", "month-first"])
def test_dates_that_are_not_dates_are_refused(
    raw: CellValue, message: str, options: ParseOptions
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_value(DATE_OF_BIRTH, raw, options)


# --------------------------------------------------------------------------- enums

ENUMS = [
    pytest.param(STATUS, "Prospect", "Prospect", id="status-canonical"),
    pytest.param(STATUS, "in_progress", "In progress", id="status-snake"),
    pytest.param(STATUS, "IN PROGRESS", "In progress", id="status-upper"),
    pytest.param(STATUS, "In-Progress", "In progress", id="status-dashed"),
    pytest.param(STATUS, "  inprogress ", "In progress", id="status-squashed"),
    pytest.param(STATUS, "completed", "Completed", id="status-lower"),
    pytest.param(STATUS, "محتمل", "Prospect", id="status-ar-prospect"),
    pytest.param(STATUS, "تم التواصل", "Contacted", id="status-ar-contacted"),
    pytest.param(STATUS, "قيد التنفيذ", "In progress", id="status-ar-in-progress"),
    pytest.param(STATUS, "تفاوض", "Negotiating", id="status-ar-negotiating"),
    pytest.param(STATUS, "مكتمل", "Completed", id="status-ar-completed"),
    pytest.param(STATUS, "\u200fمفقود\u200f", "Lost", id="status-ar-lost-with-rtl-marks"),
    pytest.param(GENDER, "ذكر", "Male", id="gender-ar-male"),
    pytest.param(GENDER, "أنثى", "Female", id="gender-ar-female-hamza"),
    pytest.param(GENDER, "انثى", "Female", id="gender-ar-female"),
    pytest.param(GENDER, "انثي", "Female", id="gender-ar-female-ya"),
    pytest.param(GENDER, "M", "Male", id="gender-m"),
    pytest.param(GENDER, "f", "Female", id="gender-f"),
    pytest.param(GENDER, "other", "Other", id="gender-other"),
    pytest.param(DEGREE, "phd", "PhD", id="degree-phd"),
    pytest.param(DEGREE, "Ph.D.", "PhD", id="degree-ph-d"),
    pytest.param(DEGREE, "masters", "Master", id="degree-masters"),
    pytest.param(INTEREST, "منخفض", "Low", id="interest-ar-low"),
    pytest.param(INTEREST, "متوسط", "Medium", id="interest-ar-medium"),
    pytest.param(INTEREST, "عالي", "High", id="interest-ar-high"),
    pytest.param(INTEREST, "HIGH", "High", id="interest-upper"),
    pytest.param(FOLLOW_UP_TYPE, "whats-app", "WhatsApp", id="follow-up-type"),
]


@pytest.mark.parametrize(("field", "raw", "expected"), ENUMS)
def test_choices_are_read_loosely(field, raw: CellValue, expected: str) -> None:
    assert parse_value(field, raw, DAY_FIRST) == expected


ENUM_REJECTS = [
    pytest.param(STATUS, "Maybe", "'Maybe' is not one of " + ", ".join(STATUSES), id="unknown"),
    pytest.param(STATUS, "In progres", "'In progres' is not one of", id="typo"),
    pytest.param(STATUS, 3, "3 is not one of", id="number"),
    pytest.param(GENDER, "X", "'X' is not one of Male, Female, Other", id="gender-x"),
    pytest.param(STATUS, "M", "'M' is not one of", id="gender-synonym-not-a-status"),
    pytest.param(DEGREE, True, "TRUE is not one of Bachelor, Master, PhD", id="boolean"),
]


@pytest.mark.parametrize(("field", "raw", "message"), ENUM_REJECTS)
def test_unknown_choices_are_refused(field, raw: CellValue, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_value(field, raw, DAY_FIRST)
    assert str(caught.value).startswith(message)


# --------------------------------------------------------------------------- numbers

INTS = [
    pytest.param(2024, 2024, id="int"),
    pytest.param(2024.0, 2024, id="integral-float"),
    pytest.param("2024", 2024, id="digits"),
    pytest.param(" 2024.0 ", 2024, id="digits-point-zero"),
    pytest.param("٢٠٢٤", 2024, id="arabic-digits"),
    pytest.param(1900, 1900, id="lowest"),
    pytest.param(2100, 2100, id="highest"),
    pytest.param("", None, id="blank"),
]


@pytest.mark.parametrize(("raw", "expected"), INTS)
def test_graduation_years_are_read(raw: CellValue, expected: int | None) -> None:
    value = parse_value(GRADUATION_YEAR, raw, DAY_FIRST)
    assert value == expected
    assert value is None or type(value) is int


INT_REJECTS = [
    pytest.param(1899, "Graduation year must be between 1900 and 2100, not 1899", id="too-early"),
    pytest.param("2101", "Graduation year must be between 1900 and 2100, not 2101", id="too-late"),
    pytest.param(2024.5, "2024.5 is not a whole number", id="fraction"),
    pytest.param("2024.5", "'2024.5' is not a whole number", id="fraction-text"),
    pytest.param("twenty", "could not read 'twenty' as a whole number", id="words"),
    pytest.param("2,024", "could not read '2,024' as a whole number", id="thousands-comma"),
    pytest.param(True, "could not read TRUE as a whole number", id="boolean"),
    pytest.param(float("inf"), "is not a whole number", id="infinity"),
]


@pytest.mark.parametrize(("raw", "message"), INT_REJECTS)
def test_bad_graduation_years_are_refused(raw: CellValue, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_value(GRADUATION_YEAR, raw, DAY_FIRST)
    assert str(caught.value) == message or message in str(caught.value)


PERCENTS = [
    pytest.param(50, 50.0, id="int"),
    pytest.param(50.0, 50.0, id="float"),
    pytest.param(12.5, 12.5, id="fraction"),
    pytest.param("50", 50.0, id="text"),
    pytest.param("50%", 50.0, id="percent-sign"),
    pytest.param(" 12.5 % ", 12.5, id="spaced-percent-sign"),
    pytest.param("٥٠٪", 50.0, id="arabic-digits-and-sign"),
    pytest.param("٪٥٠", 50.0, id="arabic-sign-first"),
    pytest.param(0, 0.0, id="zero"),
    pytest.param(100, 100.0, id="hundred"),
    pytest.param(0.5, 0.5, id="small-number-is-not-a-fraction"),
]


@pytest.mark.parametrize(("raw", "expected"), PERCENTS)
def test_percentages_are_read(raw: CellValue, expected: float) -> None:
    value = parse_value(COMMISSION, raw, DAY_FIRST)
    assert value == expected
    assert type(value) is float


PERCENT_REJECTS = [
    pytest.param(150, "150 is not a percentage from 0 to 100", id="above-100"),
    pytest.param("-5%", "'-5%' is not a percentage from 0 to 100", id="negative"),
    pytest.param("half", "could not read 'half' as a percentage", id="words"),
    pytest.param("50%%", "could not read '50%%' as a percentage", id="double-sign"),
    pytest.param(False, "could not read FALSE as a percentage", id="boolean"),
    pytest.param(float("nan"), "nan is not a percentage", id="nan"),
]


@pytest.mark.parametrize(("raw", "message"), PERCENT_REJECTS)
def test_bad_percentages_are_refused(raw: CellValue, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_value(COMMISSION, raw, DAY_FIRST)


# --------------------------------------------------------------------------- text and phones

TEXTS = [
    pytest.param("  Ahmed Ali  ", "Ahmed Ali", id="stripped"),
    pytest.param("\u200fأحمد علي\u200e", "أحمد علي", id="rtl-marks-stripped"),
    pytest.param("\ufeff\u200bSara", "Sara", id="bom-and-zero-width-stripped"),
    pytest.param("line one\nline two\n", "line one\nline two", id="inner-newlines-kept"),
    pytest.param("a\u200fb", "a\u200fb", id="inner-marks-kept"),
    pytest.param(42, "42", id="int"),
    pytest.param(42.0, "42", id="integral-float"),
    pytest.param(3.25, "3.25", id="float"),
    pytest.param(True, "TRUE", id="true"),
    pytest.param(False, "FALSE", id="false"),
    pytest.param(dt.date(2026, 1, 15), "2026-01-15", id="date"),
    pytest.param(dt.datetime(2026, 1, 15, 9, 30), "2026-01-15 09:30:00", id="datetime"),
    pytest.param("", None, id="empty"),
    pytest.param(" \u200f ", None, id="only-marks"),
    pytest.param(None, None, id="none"),
]


@pytest.mark.parametrize(("raw", "expected"), TEXTS)
def test_text_is_read(raw: CellValue, expected: str | None) -> None:
    assert parse_value(NOTES, raw, DAY_FIRST) == expected


PHONES = [
    pytest.param(" +20 123 456 789 ", "+20 123 456 789", id="string-stripped"),
    pytest.param("٠١٢٣٤٥٦٧٨٩٠", "٠١٢٣٤٥٦٧٨٩٠", id="arabic-digits-kept"),
    pytest.param(1234567890, 1234567890, id="int-kept"),
    pytest.param(2.01234567890e11, 2.01234567890e11, id="float-kept"),
    pytest.param("", None, id="blank"),
]


@pytest.mark.parametrize(("raw", "expected"), PHONES)
def test_phones_are_kept_as_read(raw: CellValue, expected: CellValue) -> None:
    value = parse_value(PHONE, raw, DAY_FIRST)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("index", "letter"),
    [
        (0, "A"),
        (2, "C"),
        (25, "Z"),
        (26, "AA"),
        (27, "AB"),
        (51, "AZ"),
        (52, "BA"),
        (701, "ZZ"),
        (702, "AAA"),
    ],
    ids=str,
)
def test_column_letters(index: int, letter: str) -> None:
    assert column_letter(index) == letter


def test_column_letter_refuses_negative_index() -> None:
    with pytest.raises(ValueError):
        column_letter(-1)


# --------------------------------------------------------------------------- header


def test_header_on_the_first_row_maps_every_default_column() -> None:
    header = header_of([DEFAULT_HEADERS, ["CUS-2026-00001", "Ahmed", "+201001234567"]])
    assert header.row == 0
    assert header.columns == {f.key: i for i, f in enumerate(CUSTOMER_FIELDS)}
    assert header.titles["phone"] == "Phone"
    assert header.unknown == ()


def test_header_after_title_rows_is_found() -> None:
    grid: Grid = [
        ["Ali's customers"],
        [],
        ["Updated", "2026-01-15"],
        ["Name", "Phone", "Status", "Notes"],
        ["Ahmed", "01001234567", "Prospect", ""],
    ]
    header = header_of(grid)
    assert header.row == 3
    assert header.columns == {"name": 0, "phone": 1, "status": 2, "notes": 3}


def test_a_title_row_naming_one_field_is_not_the_header() -> None:
    grid: Grid = [["Name"], ["Name", "Phone"]]
    assert header_of(grid).row == 1


def test_arabic_headers_are_understood() -> None:
    grid: Grid = [["الاسم", "\u200fالهاتف\u200f", "الحالة", "ملاحظات", "تاريخ الميلاد"]]
    header = header_of(grid)
    assert header.columns == {
        "name": 0,
        "phone": 1,
        "status": 2,
        "notes": 3,
        "date_of_birth": 4,
    }
    assert header.titles["phone"] == "الهاتف"


def test_headers_match_whatever_the_case_spaces_and_underscores() -> None:
    grid: Grid = [["  NAME ", "phone_number", "Date-of-Birth", "next follow up", "commission_pct"]]
    header = header_of(grid)
    assert header.columns == {
        "name": 0,
        "phone": 1,
        "date_of_birth": 2,
        "next_follow_up": 3,
        "commission_pct": 4,
    }
    assert header.titles["name"] == "NAME"


def test_config_aliases_add_headers() -> None:
    options = ParseOptions(
        extra_aliases={"name": ["Client"], "phone": ("Tel.",), "desired_university": ["Uni"]}
    )
    header = header_of([["Client", "TEL", "Uni", "Budget"]], options)
    assert header.columns == {"name": 0, "phone": 1, "desired_university": 2}
    assert header.titles == {"name": "Client", "phone": "TEL", "desired_university": "Uni"}
    assert header.unknown == ("Budget",)


def test_a_config_alias_may_be_a_single_string() -> None:
    options = ParseOptions(extra_aliases={"name": "Client"})  # type: ignore[dict-item]
    assert header_of([["Client", "Phone"]], options).columns == {"name": 0, "phone": 1}


def test_config_aliases_win_over_built_in_ones_and_ignore_other_tabs() -> None:
    options = ParseOptions(extra_aliases={"other_phone": ["Mobile"], "next_action": ["Next"]})
    header = header_of([["Name", "Phone", "Mobile", "Next"]], options)
    assert header.columns == {"name": 0, "phone": 1, "other_phone": 2}
    assert header.unknown == ("Next",)


def test_reordered_columns_are_mapped_by_name() -> None:
    headers = list(reversed(DEFAULT_HEADERS))
    header = header_of([headers])
    assert all(headers[header.columns[f.key]] == f.header for f in CUSTOMER_FIELDS)


@given(st.permutations(DEFAULT_HEADERS))
def test_any_column_order_maps_every_field(headers: list[str]) -> None:
    header = header_of([headers])
    assert {key: headers[col] for key, col in header.columns.items()} == {
        f.key: f.header for f in CUSTOMER_FIELDS
    }


def test_unknown_columns_are_reported_and_left_alone() -> None:
    header = header_of([["Name", "Lead source", "", "Phone", "Budget ($)", None, 2026]])
    assert header.columns == {"name": 0, "phone": 3}
    assert header.unknown == ("Lead source", "Budget ($)", "2026")


def test_missing_phone_names_the_place_and_the_header() -> None:
    with pytest.raises(LayoutError) as caught:
        header_of([["Name", "Email", "Status"], ["Ahmed", "a@example.com", "Prospect"]])
    error = caught.value
    assert error.where == WHERE
    assert "missing Phone" in error.message
    assert str(error).startswith("agents/ali.xlsx, tab Customers: header row not found")
    assert "row 1 has Name, Email and Status" in str(error)


def test_header_beyond_the_scanned_rows_is_not_found() -> None:
    grid: Grid = [["Ali's customers"]] * 3 + [["Name", "Phone"]]
    assert header_of(grid).row == 3
    with pytest.raises(
        LayoutError, match="header row not found in the first 3 rows: missing Name and Phone"
    ):
        header_of(grid, ParseOptions(header_scan_rows=3))


def test_an_empty_tab_has_no_header() -> None:
    with pytest.raises(LayoutError, match="the tab is empty"):
        header_of([])


def test_one_known_header_is_not_a_header_row() -> None:
    with pytest.raises(LayoutError, match="row 1 has Phone, but a header row needs at least 2"):
        header_of([["Phone", "whatever"]], required=["phone"])


def test_two_columns_meaning_phone_are_refused_naming_both() -> None:
    grid: Grid = [["Customer #", "Name", "Phone", "Email", "Notes", "Mobile"]]
    with pytest.raises(LayoutError) as caught:
        header_of(grid)
    assert caught.value.where == WHERE
    assert "columns C (Phone) and F (Mobile) both mean Phone" in caught.value.message


def test_three_columns_meaning_one_field_are_all_named() -> None:
    grid: Grid = [["Name", "Phone", "Mobile", "الهاتف"]]
    with pytest.raises(
        LayoutError, match=r"columns B \(Phone\), C \(Mobile\) and D \(الهاتف\) all"
    ):
        header_of(grid)


def test_required_keys_must_be_fields() -> None:
    with pytest.raises(ValueError, match="phone_number"):
        header_of([["Name", "Phone"]], required=["phone_number"])


def test_follow_up_headers() -> None:
    grid: Grid = [["Follow-up #", "Customer #", "Phone", "Date", "Type", "Notes"]]
    header = find_header(
        grid, FOLLOW_UP_FIELDS, required=["phone", "date"], options=DAY_FIRST, where=WHERE
    )
    assert list(header.columns) == [
        "follow_up_number",
        "customer_number",
        "phone",
        "date",
        "type",
        "notes",
    ]


# --------------------------------------------------------------------------- rows


def test_rows_are_parsed_with_blanks_flagged_and_issues_recorded() -> None:
    grid: Grid = [
        ["Ali's customers"],
        ["Name", "Phone", "Status", "Date of birth", "Unknown column", "Graduation year"],
        ["Ahmed", "01001234567", "in_progress", "15/01/2000", "x", 2020],
        ["", None, "  ", None, "only in an unknown column"],
        ["Sara", 1001234567, "Maybe", "31/31/2026"],
        [],
        ["\u200f", "", "", ""],
    ]
    header = header_of(grid)
    rows = parse_rows(grid, header, CUSTOMER_FIELDS, DAY_FIRST)
    assert [row.index for row in rows] == [2, 3, 4, 5, 6]
    assert [row.blank for row in rows] == [False, True, False, True, True]

    ahmed = rows[0]
    assert ahmed.values == {
        "name": "Ahmed",
        "phone": "01001234567",
        "status": "In progress",
        "date_of_birth": dt.date(2000, 1, 15),
        "graduation_year": 2020,
    }
    assert ahmed.issues == []

    assert rows[1].values == dict.fromkeys(header.columns)

    sara = rows[2]
    assert sara.values == {"name": "Sara", "phone": 1001234567, "graduation_year": None}
    assert sara.raw == {
        "name": "Sara",
        "phone": 1001234567,
        "status": "Maybe",
        "date_of_birth": "31/31/2026",
        "graduation_year": None,
    }
    assert sara.issues == [
        CellIssue("status", "Status", "Maybe", f"'Maybe' is not one of {', '.join(STATUSES)}"),
        CellIssue(
            "date_of_birth",
            "Date of birth",
            "31/31/2026",
            "could not read '31/31/2026' as a date: neither 31 nor 31 can be a month",
        ),
    ]


def test_issues_name_the_column_as_written_in_the_sheet() -> None:
    grid: Grid = [["الاسم", "الهاتف", "الحالة"], ["أحمد", "0100", "ربما"]]
    header = header_of(grid)
    (row,) = parse_rows(grid, header, CUSTOMER_FIELDS, DAY_FIRST)
    assert [(i.field, i.column, i.raw) for i in row.issues] == [("status", "الحالة", "ربما")]
    assert "status" not in row.values


def test_day_first_setting_reaches_the_cells() -> None:
    grid: Grid = [["Name", "Phone", "Next follow-up"], ["Sara", "0100", "03/04/2026"]]
    header = header_of(grid)
    (day_first,) = parse_rows(grid, header, CUSTOMER_FIELDS, DAY_FIRST)
    (month_first,) = parse_rows(grid, header, CUSTOMER_FIELDS, MONTH_FIRST)
    assert day_first.values["next_follow_up"] == dt.date(2026, 4, 3)
    assert month_first.values["next_follow_up"] == dt.date(2026, 3, 4)


def test_rows_above_the_header_are_not_parsed() -> None:
    grid: Grid = [["note"], ["Name", "Phone"]]
    assert parse_rows(grid, header_of(grid), CUSTOMER_FIELDS, DAY_FIRST) == []


# --------------------------------------------------------------------------- properties

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def _serial(d: dt.date) -> int:
    return (d - dt.date(1899, 12, 30)).days


# name -> (formatter, day_first settings it is meant for, needs a year in 1970..2069)
DATE_FORMATS = {
    "iso": (lambda d: d.isoformat(), (True, False), False),
    "ymd-slash": (lambda d: f"{d.year}/{d.month}/{d.day}", (True, False), False),
    "dmy-slash": (lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}", (True,), False),
    "mdy-slash": (lambda d: f"{d.month}/{d.day}/{d.year}", (False,), False),
    "dmy-dash": (lambda d: f"{d.day}-{d.month}-{d.year}", (True,), False),
    "dmy-dot": (lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}", (True,), False),
    "dmy-2-digit-year": (lambda d: f"{d.day}/{d.month}/{d.year % 100:02d}", (True,), True),
    "mon-d-y": (lambda d: f"{MONTHS[d.month - 1][:3]} {d.day}, {d.year}", (True, False), False),
    "d-month-y": (lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}", (True, False), False),
    "d-mon-yy": (
        lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year % 100:02d}",
        (True, False),
        True,
    ),
    "arabic-dmy": (
        lambda d: f"{d.day}/{d.month}/{d.year}".translate(ARABIC_DIGITS),
        (True,),
        False,
    ),
    "iso-datetime": (lambda d: f"{d.isoformat()}T13:45:10Z", (True, False), False),
    "serial": (_serial, (True, False), False),
    "serial-float": (lambda d: _serial(d) + 0.5, (True, False), False),
    "datetime": (lambda d: dt.datetime(d.year, d.month, d.day, 8), (True, False), False),
}


@settings(max_examples=300)
@given(
    day=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2118, 12, 31)),
    format_name=st.sampled_from(sorted(DATE_FORMATS)),
    data=st.data(),
)
def test_a_date_written_in_any_supported_format_reads_back(
    day: dt.date, format_name: str, data: st.DataObject
) -> None:
    formatter, settings_meant, two_digit_year = DATE_FORMATS[format_name]
    if two_digit_year and not 1970 <= day.year <= 2069:
        day = day.replace(year=1970 + day.year % 100, day=min(day.day, 28))
    day_first = data.draw(st.sampled_from(settings_meant), label="day_first")
    raw = formatter(day)
    assert parse_value(DATE_OF_BIRTH, raw, ParseOptions(day_first=day_first)) == day


@given(day=st.dates(min_value=dt.date(1900, 1, 13), max_value=dt.date(2199, 12, 31)))
def test_a_day_above_12_reads_the_same_whatever_the_setting(day: dt.date) -> None:
    if day.day <= 12:
        day = day.replace(day=13)
    for raw in (f"{day.day}/{day.month}/{day.year}", f"{day.month}/{day.day}/{day.year}"):
        assert parse_value(DATE_OF_BIRTH, raw, DAY_FIRST) == day
        assert parse_value(DATE_OF_BIRTH, raw, MONTH_FIRST) == day


ALL_FIELDS = CUSTOMER_FIELDS + FOLLOW_UP_FIELDS
CELL_VALUES = st.one_of(
    st.none(),
    st.text(),
    st.text(alphabet="0123456789/-.: ٠١٢٣٤٥٦٧٨٩%٪TZtzJanMrchيناير,"),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.dates(),
    st.datetimes(),
)


@settings(max_examples=500)
@given(field=st.sampled_from(ALL_FIELDS), raw=CELL_VALUES, day_first=st.booleans())
def test_parse_value_only_ever_raises_value_error(field, raw: CellValue, day_first: bool) -> None:
    try:
        parse_value(field, raw, ParseOptions(day_first=day_first))
    except ValueError as exc:
        assert str(exc)


@given(rows=st.lists(st.lists(CELL_VALUES, max_size=8), max_size=6))
def test_parse_rows_keeps_every_cell_as_a_value_or_an_issue(rows: list[list[CellValue]]) -> None:
    headers = ["Name", "Phone", "Status", "Date of birth", "Graduation year", "Commission %"]
    grid: Grid = [headers, *rows]
    header = header_of(grid)
    parsed = parse_rows(grid, header, CUSTOMER_FIELDS, DAY_FIRST)
    assert len(parsed) == len(rows)
    for row, cells in zip(parsed, rows, strict=True):
        assert set(row.raw) == set(header.columns)
        assert set(row.values).isdisjoint(i.field for i in row.issues)
        assert set(row.values) | {i.field for i in row.issues} == set(header.columns)
        for key, col in header.columns.items():
            assert row.raw[key] == (cells[col] if col < len(cells) else None) or (
                row.raw[key] != row.raw[key]  # NaN
            )


@given(rows=st.lists(st.lists(CELL_VALUES, max_size=8), max_size=6))
def test_a_row_held_for_its_write_back_reads_as_its_parse(rows: list[list[CellValue]]) -> None:
    """What an ingested sheet keeps of a row until its write-back (RowAsRead) gives the
    cells and the canonical texts of the row as parsed: a short row, a cell that did not
    parse (no text) and a blank one ("") alike."""
    headers = ["Name", "Phone", "Status", "Date of birth", "Graduation year", "Commission %"]
    grid: Grid = [headers, *rows]
    header = header_of(grid)
    for row in parse_rows(grid, header, CUSTOMER_FIELDS, DAY_FIRST):
        held = RowAsRead(row, grid[row.index], header.columns)
        assert held.index == row.index
        assert repr(held.raw) == repr(row.raw)  # repr: NaN is a NaN in both
        assert held.texts() == {key: value_text(value) for key, value in row.values.items()}


@given(
    column=st.lists(CELL_VALUES, min_size=1, max_size=6),
    picks=st.lists(st.integers(0, 5), min_size=1, max_size=20),
    day_first=st.booleans(),
)
@example(column=[True, 1, 1.0, "1"], picks=[0, 1, 2, 3, 0], day_first=True)
@example(column=[dt.date(2024, 3, 1), dt.datetime(2024, 3, 1, 9)], picks=[0, 1], day_first=True)
@example(  # text cells parsed on their own path: a formula's error, a text too long, marks
    column=[ErrorCell("#N/A"), "x" * (MAX_CELL_CHARS + 1), " \u200fSara\u200f ", " \u200f "],
    picks=[0, 1, 2, 3],
    day_first=True,
)
def test_parse_rows_gives_each_cell_what_parse_value_gives_it(
    column: list[CellValue], picks: list[int], day_first: bool
) -> None:
    """Repeated cells (parsed once per column) read exactly as cell by cell."""
    headers = ["Name", "Phone", "Status", "Date of birth", "Graduation year", "Commission %"]
    keys = ["name", "phone", "status", "date_of_birth", "graduation_year", "commission_pct"]
    options = ParseOptions(day_first=day_first)
    rows = [[column[p % len(column)] for _ in headers] for p in picks]
    grid: Grid = [headers, *rows]
    for row in parse_rows(grid, header_of(grid), CUSTOMER_FIELDS, options):
        problems = {i.field: i.message for i in row.issues}
        for key in keys:
            raw = row.raw[key]
            if raw is None or raw != raw:  # blank, or NaN (never equal, never memoized)
                continue
            try:
                expected: tuple[object, str | None] = (
                    parse_value(FIELDS_BY_KEY[key], raw, options),
                    None,
                )
            except ValueError as exc:
                expected = (None, str(exc))
            got = (row.values.get(key), problems.get(key))
            assert got == expected, (key, raw)


def test_shuffled_rows_parse_to_the_same_values() -> None:
    rng = random.Random(20260115)
    body = [["Ahmed", "0100", "Lost"], ["Sara", "0101", "محتمل"], ["Ali", "0102", "bad"]]
    shuffled = body[:]
    rng.shuffle(shuffled)
    grid_a: Grid = [["Name", "Phone", "Status"], *body]
    grid_b: Grid = [["Name", "Phone", "Status"], *shuffled]
    rows_a = parse_rows(grid_a, header_of(grid_a), CUSTOMER_FIELDS, DAY_FIRST)
    rows_b = parse_rows(grid_b, header_of(grid_b), CUSTOMER_FIELDS, DAY_FIRST)

    def by_name(rows):
        return {r.values["name"]: (r.values, r.issues) for r in rows}

    assert by_name(rows_a) == by_name(rows_b)
