"""The catalogue of what sheetsync says in a sheet: both languages, the same blanks, and
refusals that keep their words through pickling and say themselves in Arabic."""

from __future__ import annotations

import pickle
import string

import pytest

from sync.cells import ErrorCell, Grid, UncalculatedFormula
from sync.check import read_rows
from sync.fields import CHECK_FIELDS, FIELDS_BY_KEY
from sync.long_text import MAX_CELL_CHARS
from sync.rows import find_header
from sync.values import ParseOptions, parse_value
from sync.words import LANGUAGES, TEXTS, Problem, said_in, say


def blanks(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_every_text_is_in_every_language_with_blanks_both_can_fill(key: str):
    texts = TEXTS[key]
    assert set(texts) == set(LANGUAGES), key
    english, arabic = blanks(texts["en"]), blanks(texts["ar"])
    # Arabic may leave out a blank English needs (a month's English name) or take its
    # Arabic twin (``header_ar``), never another one, but for the month's number.
    also = {"month"} if key == "date_day" else set()
    assert arabic <= english | {b + "_ar" for b in english} | also, key


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("next_follow_up", "31/31/2026"),
        ("next_follow_up", "30/02/2026"),
        ("next_follow_up", "15 March"),
        ("next_follow_up", 10**9),
        ("status", "maybe"),
        ("graduation_year", "1800"),
        ("commission_pct", "150"),
        ("commission_pct", "lots"),
        ("notes", "x" * (MAX_CELL_CHARS + 1)),
        ("notes", ErrorCell("#N/A")),
        ("notes", UncalculatedFormula("=SUM(A1:A2)")),
    ],
)
def test_a_refusal_says_itself_in_both_languages(key: str, raw: object):
    with pytest.raises(ValueError) as refused:
        parse_value(FIELDS_BY_KEY[key], raw, ParseOptions())
    (problem,) = refused.value.args
    assert isinstance(problem, Problem)
    assert str(refused.value) == problem == say(problem.key, "en", **problem.values)
    arabic = said_in(problem, "ar")
    assert arabic != problem and not any(c in arabic for c in "{}"), arabic
    assert said_in(problem, "en") == problem
    again = pickle.loads(pickle.dumps(problem))
    assert (again, again.key, said_in(again, "ar")) == (problem, problem.key, arabic)


def test_other_text_is_left_as_it_is():
    assert said_in("a note", "ar") == "a note"


def test_the_check_tab_says_why_a_phone_is_refused_in_the_sheets_language():
    grid: Grid = [
        ["الهاتف", "الاسم", "النتيجة", "يتابعه", "أضف متابعتي", "ملاحظات المزامنة"],
        [ErrorCell("#N/A"), "Mona"],
        ["+1 200 555 0199", "Sam"],  # possible, not valid: no US area code 200
    ]
    options = ParseOptions()
    header = find_header(grid, CHECK_FIELDS, required=("phone",), options=options, where="")
    formula, possible = read_rows(grid, header, options, "EG", "ar")
    assert formula.notes == ("الهاتف: تعرض خطأ الصيغة #N/A: صحّح الصيغة أو اكتب القيمة",)
    assert possible.notes == ("+1 200-555-0199 رقم ممكن لكنه ليس رقمًا صحيحًا في United States",)
    english = read_rows(grid, header, options, "EG", "en")
    assert english[0].notes == (
        "Phone: shows the formula error #N/A: fix the formula or type the value",
    )
