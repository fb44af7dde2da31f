"""Tests for sync.phones: one E.164 key for every spelling of a phone number.

Expected values were worked out from libphonenumber's metadata (phonenumbers 9.0.x),
not copied from the function: e.g. Egyptian mobiles are 01[0125] + 8 digits, Saudi
and Emirati mobiles 05x + 7 digits, UK mobiles 07xxx + 6 digits, US NPA-NXX-XXXX,
Indian mobiles 10 digits starting 6-9. ``test_expected_values_are_canonical`` checks
each expected value against phonenumbers independently of the code under test.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal
from typing import Any

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from sync import phones
from sync.phones import (
    PhoneResult,
    format_phone,
    normalize_phone,
    normalize_phones,
    parse_phone,
)

RLM, LRM, ZWSP, ZWJ, NBSP, BOM = "\u200f", "\u200e", "\u200b", "\u200d", "\u00a0", "\ufeff"
LRI, RLI, PDI, ALM = "\u2066", "\u2067", "\u2069", "\u061c"

_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
_PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def case(case_id: str, raw: object, region: str, expected: str | None) -> Any:
    return pytest.param(raw, region, expected, id=case_id)


EG_MOBILE = "+201001234567"  # 010 0123 4567: Vodafone Egypt range
SA_MOBILE = "+966501234567"  # 050 123 4567
AE_MOBILE = "+971501234567"  # 050 123 4567
GB_MOBILE = "+447911123456"  # 07911 123456
US_NUMBER = "+14155552671"  # (415) 555-2671
IN_MOBILE = "+919876543210"  # 98765 43210

CASES = [
    # --- Egypt ------------------------------------------------------------------------
    case("eg-national", "01001234567", "EG", EG_MOBILE),
    case("eg-plus-spaced", "+20 100 123 4567", "EG", EG_MOBILE),
    case("eg-00-prefix", "0020 100 123 4567", "EG", EG_MOBILE),
    case("eg-dashes", "0100-123-4567", "EG", EG_MOBILE),
    case("eg-dots-brackets", "(0100) 123.4567", "EG", EG_MOBILE),
    case("eg-slashes", "0100/123/4567", "EG", EG_MOBILE),
    case("eg-plus-with-trunk-zero", "+20 0100 123 4567", "EG", EG_MOBILE),
    case("eg-arabic-indic", "٠١٠٠١٢٣٤٥٦٧", "EG", EG_MOBILE),
    case("eg-persian-digits", "۰۱۱۲۳۴۵۶۷۸۹", "EG", "+201123456789"),
    case("eg-fullwidth", "０１２２３４５６７８９", "EG", "+201223456789"),
    case("eg-arabic-with-plus", "+٢٠ ١٠٠ ١٢٣ ٤٥٦٧", "EG", EG_MOBILE),
    case("eg-int-lost-zero", 1001234567, "EG", EG_MOBILE),
    case("eg-str-lost-zero", "1001234567", "EG", EG_MOBILE),
    case("eg-int-lost-plus", 201001234567, "EG", EG_MOBILE),
    case("eg-float", 201001234567.0, "EG", EG_MOBILE),
    case("eg-float-scientific", 2.01001234567e11, "EG", EG_MOBILE),
    case("eg-str-scientific", "2.01001234567E+11", "EG", EG_MOBILE),
    case("eg-str-float", "201001234567.0", "EG", EG_MOBILE),
    case("eg-str-scientific-comma", "2,01001234567E+11", "EG", EG_MOBILE),
    case("eg-sheet-us-str-float-plus", "+14155552671.0", "EG", US_NUMBER),
    case("eg-decimal", Decimal("201001234567"), "EG", EG_MOBILE),
    case("eg-rlm-marks", f"{RLM}0100 123 4567{RLM}", "EG", EG_MOBILE),
    case("eg-isolates-nbsp", f"{LRI}+20{NBSP}155{NBSP}123{NBSP}4567{PDI}", "EG", "+201551234567"),
    case("eg-zero-width", f"010{ZWSP}0123{ZWJ}4567", "EG", EG_MOBILE),
    case("eg-text-around", "Tel: +20 100 123 4567 (mobile)", "EG", EG_MOBILE),
    case("eg-text-after", "call 0100-123-4567 after 5pm", "EG", EG_MOBILE),
    case("eg-ext-suffix", "0155 123 4567 ext. 12", "EG", "+201551234567"),
    case("eg-two-numbers-slash", "0100 123 4567 / 0111 234 5678", "EG", EG_MOBILE),
    case("eg-two-numbers-comma", "01112345678, 01001234567", "EG", "+201112345678"),
    case("eg-date-before-number", "2024-01-05 call 01001234567", "EG", EG_MOBILE),
    case("eg-arabic-label", "موبايل: ٠١٠٠١٢٣٤٥٦٧", "EG", EG_MOBILE),
    case("eg-cairo-landline", "02 2345 6789", "EG", "+20223456789"),
    case("eg-alex-landline", "(03) 456 7890", "EG", "+2034567890"),
    case("eg-seed-possible-not-valid", "+20 123 456 789", "EG", "+20123456789"),
    case("eg-seed-00-possible-not-valid", "0020123456789", "EG", "+20123456789"),
    case("eg-seed-012-valid", "01234567890", "EG", "+201234567890"),
    case("eg-too-short", "0100123", "EG", None),
    case("eg-too-long", "0100123456789012", "EG", None),
    case("eg-saudi-without-plus", "966501234567", "EG", SA_MOBILE),
    case("eg-float-fraction", 1001234567.5, "EG", None),
    case("eg-scientific-lost-digits", "2.01001E+11", "EG", None),
    case("eg-negative-int", -1001234567, "EG", None),
    # --- Saudi Arabia -----------------------------------------------------------------
    case("sa-national", "0501234567", "SA", SA_MOBILE),
    case("sa-spaced", "050 123 4567", "SA", SA_MOBILE),
    case("sa-plus", "+966 50 123 4567", "SA", SA_MOBILE),
    case("sa-00-prefix", "00966501234567", "SA", SA_MOBILE),
    case("sa-int-lost-plus", 966501234567, "SA", SA_MOBILE),
    case("sa-int-lost-zero", 501234567, "SA", SA_MOBILE),
    case("sa-float", 966501234567.0, "SA", SA_MOBILE),
    case("sa-str-scientific", "9.66501234567E+11", "SA", SA_MOBILE),
    case("sa-arabic-indic", "٠٥٠١٢٣٤٥٦٧", "SA", SA_MOBILE),
    case("sa-persian-digits", "۰۵۵۱۲۳۴۵۶۷", "SA", "+966551234567"),
    case("sa-arabic-label", "جوال: ٠٥٠١٢٣٤٥٦٧", "SA", SA_MOBILE),
    case("sa-riyadh-landline", "011 234 5678", "SA", "+966112345678"),
    case("sa-alm-marks", f"{ALM}050-123-4567{ALM}", "SA", SA_MOBILE),
    case("sa-egyptian-with-00", "0020 100 123 4567", "SA", EG_MOBILE),
    case("sa-too-short", "05012345", "SA", None),
    case("sa-possible-not-valid", "+966 50 123 45678", "SA", "+9665012345678"),
    # --- United Arab Emirates ---------------------------------------------------------
    case("ae-national", "0501234567", "AE", AE_MOBILE),
    case("ae-dashes", "050-123-4567", "AE", AE_MOBILE),
    case("ae-plus", "+971 50 123 4567", "AE", AE_MOBILE),
    case("ae-00-prefix", "00971 50 123 4567", "AE", AE_MOBILE),
    case("ae-int-lost-plus", 971501234567, "AE", AE_MOBILE),
    case("ae-int-lost-zero", 501234567, "AE", AE_MOBILE),
    case("ae-arabic-indic", "٠٥٠١٢٣٤٥٦٧", "AE", AE_MOBILE),
    case("ae-str-scientific-lower-e", "9.71501234567e11", "AE", AE_MOBILE),
    case("ae-dubai-landline", "04 234 5678", "AE", "+97142345678"),
    case("ae-landline-brackets", "(04) 2345678", "AE", "+97142345678"),
    case("ae-text-around", "Mobile: 055 123 4567", "AE", "+971551234567"),
    case("ae-bom", f"{BOM}0561234567", "AE", "+971561234567"),
    case("ae-possible-not-valid", "+971 50 123", "AE", "+97150123"),
    case("ae-garbage", "n/a", "AE", None),
    # --- United Kingdom ---------------------------------------------------------------
    case("gb-national", "07911 123456", "GB", GB_MOBILE),
    case("gb-plus", "+44 7911 123456", "GB", GB_MOBILE),
    case("gb-plus-bracketed-zero", "+44 (0)7911 123456", "GB", GB_MOBILE),
    case("gb-00-prefix", "0044 7911 123456", "GB", GB_MOBILE),
    case("gb-dashes", "07911-123-456", "GB", GB_MOBILE),
    case("gb-int-lost-zero", 7911123456, "GB", GB_MOBILE),
    case("gb-int-lost-plus", 447911123456, "GB", GB_MOBILE),
    case("gb-str-float", "447911123456.0", "GB", GB_MOBILE),
    case("gb-london", "020 7946 0018", "GB", "+442079460018"),
    case("gb-london-brackets", "(020) 7946 0018", "GB", "+442079460018"),
    case("gb-arabic-indic", "٠٧٩١١١٢٣٤٥٦", "GB", GB_MOBILE),
    case("gb-text-with-ext", "Tel. 020 7946 0018 ext 123", "GB", "+442079460018"),
    case("gb-freephone", "0800 123 4567", "GB", "+448001234567"),
    case("gb-too-long", "+44 7911 1234567", "GB", None),
    # --- United States ----------------------------------------------------------------
    case("us-brackets", "(415) 555-2671", "US", US_NUMBER),
    case("us-dashes", "415-555-2671", "US", US_NUMBER),
    case("us-dots", "415.555.2671", "US", US_NUMBER),
    case("us-plus", "+1 415 555 2671", "US", US_NUMBER),
    case("us-trunk-1", "1 (415) 555-2671", "US", US_NUMBER),
    case("us-int", 4155552671, "US", US_NUMBER),
    case("us-int-with-1", 14155552671, "US", US_NUMBER),
    case("us-float", 14155552671.0, "US", US_NUMBER),
    case("us-str-scientific", "1.4155552671E+10", "US", US_NUMBER),
    case("us-extension-x", "(415) 555-2671 x123", "US", US_NUMBER),
    case("us-arabic-indic", "٤١٥٥٥٥٢٦٧١", "US", US_NUMBER),
    case("us-011-idd", "011 44 7911 123456", "US", GB_MOBILE),
    case("us-00-idd", "0044 7911 123456", "US", GB_MOBILE),
    case("us-gb-without-plus", "447911123456", "US", GB_MOBILE),
    case("us-local-only", "555-2671", "US", None),
    case("us-too-short", "+1 415 555 26", "US", None),
    # --- India ------------------------------------------------------------------------
    case("in-spaced", "98765 43210", "IN", IN_MOBILE),
    case("in-plus", "+91 98765 43210", "IN", IN_MOBILE),
    case("in-plus-dashes", "+91-98765-43210", "IN", IN_MOBILE),
    case("in-trunk-zero", "09876543210", "IN", IN_MOBILE),
    case("in-00-prefix", "0091 98765 43210", "IN", IN_MOBILE),
    case("in-int", 9876543210, "IN", IN_MOBILE),
    case("in-int-lost-plus", 919876543210, "IN", IN_MOBILE),
    case("in-float", 919876543210.0, "IN", IN_MOBILE),
    case("in-devanagari", "९८७६५४३२१०", "IN", IN_MOBILE),
    case("in-arabic-indic", "٩٨٧٦٥٤٣٢١٠", "IN", IN_MOBILE),
    case("in-mobile-7", "070123 45678", "IN", "+917012345678"),
    case("in-mumbai-landline", "022 2345 6789", "IN", "+912223456789"),
    case("in-possible-not-valid", "98765 4321", "IN", "+91987654321"),
    case("in-garbage", "abc", "IN", None),
    # --- Other regions ----------------------------------------------------------------
    case("fr-national", "06 12 34 56 78", "FR", "+33612345678"),
    case("fr-plus", "+33 6 12 34 56 78", "FR", "+33612345678"),
    case("fr-int-lost-zero", 612345678, "FR", "+33612345678"),
    case("de-berlin", "030 123456", "DE", "+4930123456"),
    case("de-mobile-plus", "+49 1512 3456789", "DE", "+4915123456789"),
    case("de-mobile-national", "01512 3456789", "DE", "+4915123456789"),
    case("jo-national", "079 123 4567", "JO", "+962791234567"),
    case("jo-plus", "+962 7 9123 4567", "JO", "+962791234567"),
    case("jo-arabic-indic", "٠٧٩١٢٣٤٥٦٧", "JO", "+962791234567"),
    case("kw-mobile", "5001 2345", "KW", "+96550012345"),
    case("kw-mobile-9", "+965 9999 1234", "KW", "+96599991234"),
    case("qa-mobile", "3312 3456", "QA", "+97433123456"),
    case("qa-int", 97455123456, "QA", "+97455123456"),
    case("ma-national", "0612-345678", "MA", "+212612345678"),
    case("ma-plus", "+212 6 12 34 56 78", "MA", "+212612345678"),
    case("tr-national", "0532 123 45 67", "TR", "+905321234567"),
    case("tr-int-lost-zero", 5321234567, "TR", "+905321234567"),
    case("it-rome-keeps-zero", "06 1234 5678", "IT", "+390612345678"),
    case("it-int-lost-zero", 612345678, "IT", "+390612345678"),
    case("lb-mobile", "03 123 456", "LB", "+9613123456"),
    case("pk-mobile", "0300 1234567", "PK", "+923001234567"),
    case("ng-mobile", "0803 123 4567", "NG", "+2348031234567"),
    case("es-from-eg-with-00", "0034 612 34 56 78", "EG", "+34612345678"),
    case("intl-freephone", "+800 1234 5678", "EG", "+80012345678"),
    # --- Garbage ----------------------------------------------------------------------
    case("none", None, "EG", None),
    case("empty", "", "EG", None),
    case("blank", "   ", "EG", None),
    case("only-marks", f"{RLM}{LRM}{ZWSP}", "EG", None),
    case("true", True, "EG", None),
    case("false", False, "EG", None),
    case("letters", "abc", "EG", None),
    case("three-digits", "123", "EG", None),
    case("unknown-country-code", "+999 123", "EG", None),
    case("unknown-country-code-long", "+999 1234 5678", "EG", None),
    case("lone-plus", "+", "EG", None),
    case("dash", "-", "EG", None),
    case("nineteen-digits", "1234567890123456789", "EG", None),
    case("nan", math.nan, "EG", None),
    case("infinity", math.inf, "EG", None),
    case("list", [1001234567], "EG", None),
]


@pytest.mark.parametrize(("raw", "region", "expected"), CASES)
def test_normalize_phone_table(raw: object, region: str, expected: str | None) -> None:
    assert normalize_phone(raw, region) == expected


def test_table_covers_every_region() -> None:
    counts: dict[str, int] = {}
    for param in CASES:
        region = param.values[1]
        counts[region] = counts.get(region, 0) + 1
    assert len(CASES) >= 120
    for region in ("EG", "SA", "AE", "GB", "US", "IN"):
        assert counts[region] >= 12, region


@pytest.mark.parametrize(
    "expected",
    sorted({p.values[2] for p in CASES if p.values[2] is not None}),
)
def test_expected_values_are_canonical(expected: str) -> None:
    # Checked with phonenumbers alone: the table's answers are real E.164 numbers that
    # read back as themselves, so the table cannot encode a wrong expectation silently.
    number = phonenumbers.parse(expected, None)
    assert phonenumbers.format_number(number, PhoneNumberFormat.E164) == expected
    assert phonenumbers.is_possible_number(number)


def test_all_spellings_of_one_egyptian_mobile_agree() -> None:
    spellings: list[object] = [
        "+20 100 123 4567",
        "0020 100 123 4567",
        "01001234567",
        "٠١٠٠١٢٣٤٥٦٧",
        1001234567,  # a numeric cell dropped the leading 0
        201001234567,  # a numeric cell dropped the +
        201001234567.0,
        "2.01001234567E+11",
        2.01001234567e11,
        f"{RLM}+20 100 123 4567{RLM}",
    ]
    assert {normalize_phone(s, "EG") for s in spellings} == {EG_MOBILE}


def test_seed_examples() -> None:
    # The seed's "+20 123 456 789" and "0020123456789" are the same 9-digit national
    # number: possible for Egypt by length but in no assigned range, so both give the
    # same E.164 with a warning. "01234567890" is a different (valid, 012) mobile.
    first = parse_phone("+20 123 456 789", "EG")
    assert first == parse_phone("0020123456789", "EG")
    assert first.e164 == "+20123456789"
    assert not first.valid
    assert parse_phone("01234567890", "EG") == PhoneResult("+201234567890", True, None)


def test_parse_phone_valid_has_no_warning() -> None:
    assert parse_phone("0100 123 4567", "EG") == PhoneResult(EG_MOBILE, True, None)


def test_parse_phone_warns_on_possible_but_invalid() -> None:
    # Two digits short of a mobile: 8-digit national numbers are possible in Egypt
    # (landlines outside Cairo) but no range starts with 10.
    result = parse_phone("0100 123 45", "EG")
    assert result.e164 == "+2010012345"
    assert result.valid is False
    assert result.warning is not None
    assert "+20 10012345" in result.warning
    assert "Egypt" in result.warning
    assert "not a valid number" in result.warning


def test_parse_phone_warning_names_main_country_of_shared_code() -> None:
    result = parse_phone("07911 12345", "GB")
    assert result.e164 == "+44791112345"
    assert result.warning is not None and "United Kingdom" in result.warning


def test_parse_phone_no_number() -> None:
    assert parse_phone("abc", "EG") == PhoneResult(None, False, None)


@pytest.mark.parametrize("region", ["XX", "", "EGY", "001", None, 20])
def test_unknown_region_is_rejected(region: object) -> None:
    with pytest.raises(ValueError, match="region"):
        normalize_phone("01001234567", region)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="region"):
        normalize_phones(["01001234567"], region)  # type: ignore[arg-type]


def test_region_is_case_insensitive() -> None:
    assert normalize_phone("01001234567", "eg") == EG_MOBILE


def test_format_phone() -> None:
    assert format_phone(GB_MOBILE) == "+44 7911 123456"
    assert format_phone(US_NUMBER) == "+1 415-555-2671"
    assert format_phone(SA_MOBILE) == "+966 50 123 4567"
    # libphonenumber's own international layout for Egyptian mobiles.
    expected = phonenumbers.format_number(
        phonenumbers.parse(EG_MOBILE), PhoneNumberFormat.INTERNATIONAL
    )
    assert format_phone(EG_MOBILE) == expected
    assert normalize_phone(format_phone(EG_MOBILE), "US") == EG_MOBILE


def test_format_phone_rejects_non_numbers() -> None:
    with pytest.raises(ValueError, match="E.164"):
        format_phone("not a phone")


def test_normalize_phones_mixed_cell_types() -> None:
    # Values equal across types (True == 1, 1001234567 == 1001234567.0) each get the
    # answer for their own type, whatever order they come in.
    values = [1001234567, True, 1001234567.0, "1001234567", None, False, 1]
    assert normalize_phones(values, "EG") == [normalize_phone(v, "EG") for v in values]
    assert normalize_phones(values, "EG")[:4] == [EG_MOBILE, None, EG_MOBILE, EG_MOBILE]


def test_normalize_phones_accepts_unhashable_and_generators() -> None:
    values = [["01001234567"], "01001234567", {"a": 1}]
    assert normalize_phones(iter(values), "EG") == [None, EG_MOBILE, None]


# --- property tests ---------------------------------------------------------------------

REGIONS = ["EG", "SA", "AE", "GB", "US", "IN", "FR", "DE", "JO", "KW", "QA", "MA", "TR", "IT"]
MORE_REGIONS = [*REGIONS, "ES", "BR", "MX", "AR", "CN", "JP", "RU", "NG", "PK", "AU", "CA", "LB"]
TYPES = [
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.VOIP,
]
FORMATS = [
    PhoneNumberFormat.E164,
    PhoneNumberFormat.INTERNATIONAL,
    PhoneNumberFormat.NATIONAL,
    PhoneNumberFormat.RFC3966,
]

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

phoneish_text = st.builds(
    lambda prefix, digits, seps, arabic: _decorate(prefix + digits, seps, arabic),
    st.sampled_from(["", "+", "00", "0", "+20", "966", "tel: "]),
    st.text(alphabet="0123456789", min_size=0, max_size=16),
    st.lists(st.sampled_from([" ", "-", ".", "/", "(", ")", NBSP, RLM, ZWSP]), max_size=4),
    st.booleans(),
)


def _decorate(text: str, seps: list[str], arabic: bool) -> str:
    for i, sep in enumerate(seps):
        at = (i * 3 + 1) % (len(text) + 1)
        text = text[:at] + sep + text[at:]
    return text.translate(_ARABIC_INDIC) if arabic else text


any_value = st.one_of(
    st.text(max_size=40),
    phoneish_text,
    st.integers(),
    st.integers(min_value=10**6, max_value=10**15),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1e6, max_value=1e15).map(float.__floor__).map(float),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
)


@PROPERTY_SETTINGS
@given(value=any_value, region=st.sampled_from(REGIONS))
def test_normalize_is_idempotent(value: object, region: str) -> None:
    e164 = normalize_phone(value, region)
    if e164 is not None:
        assert e164.startswith("+") and e164[1:].isdigit()
        assert normalize_phone(e164, region) == e164
        # An E.164 key means the same whatever sheet region it is read under.
        assert normalize_phone(e164, "US") == e164
        assert normalize_phone(e164, "EG") == e164


@PROPERTY_SETTINGS
@given(value=any_value, region=st.sampled_from(MORE_REGIONS))
def test_never_raises(value: object, region: str) -> None:
    result = parse_phone(value, region)
    assert isinstance(result, PhoneResult)
    assert result.valid <= (result.e164 is not None)
    assert (result.warning is not None) == (result.e164 is not None and not result.valid)


@st.composite
def valid_numbers(draw: st.DrawFn) -> phonenumbers.PhoneNumber:
    """A valid number of a region: an example number with random trailing digits."""
    region = draw(st.sampled_from(MORE_REGIONS))
    kind = draw(st.sampled_from(TYPES))
    example = phonenumbers.example_number_for_type(region, kind)
    assume(example is not None)
    national = phonenumbers.national_significant_number(example)
    keep = draw(st.integers(min_value=max(1, len(national) - 4), max_value=len(national)))
    tail = draw(st.text(alphabet="0123456789", min_size=len(national) - keep, max_size=8))
    tail = tail[: len(national) - keep]
    candidate = f"+{example.country_code}{national[:keep]}{tail}"
    number = phonenumbers.parse(candidate, None)
    assume(phonenumbers.is_valid_number(number))
    # A number whose area code is optional locally would be rejected as local-only.
    reason = phonenumbers.is_possible_number_with_reason(number)
    assume(reason == phonenumbers.ValidationResult.IS_POSSIBLE)
    return number


def _sprinkle(text: str, rng: random.Random) -> str:
    """Insert spaces and dashes between digits, as people do."""
    out = []
    for i, char in enumerate(text):
        out.append(char)
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if char.isdigit() and nxt.isdigit() and rng.random() < 0.25:
            out.append(rng.choice(" -"))
    return "".join(out)


@PROPERTY_SETTINGS
@given(
    number=valid_numbers(),
    fmt=st.sampled_from(FORMATS),
    sheet_region=st.sampled_from(REGIONS),
    arabic=st.booleans(),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_every_format_of_a_valid_number_agrees(
    number: phonenumbers.PhoneNumber,
    fmt: int,
    sheet_region: str,
    arabic: bool,
    seed: int,
) -> None:
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    text = phonenumbers.format_number(number, fmt)
    # A national format means something only under its own region; the international
    # ones must read the same in a sheet of any region.
    if fmt == PhoneNumberFormat.NATIONAL:
        default = phonenumbers.region_code_for_number(number)
    else:
        default = sheet_region
    text = _sprinkle(text, random.Random(seed))
    if arabic:
        text = text.translate(_ARABIC_INDIC)
    result = parse_phone(text, default)
    assert result.e164 == e164, (text, default)
    assert result.valid


@PROPERTY_SETTINGS
@given(
    values=st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "01001234567",
                    1001234567,
                    True,
                    1,
                    1.0,
                    "٠١٠٠١٢٣٤٥٦٧",
                    "+966 50 123 4567",
                    "abc",
                    None,
                    "",
                    "2.01001234567E+11",
                    201001234567.0,
                ]
            ),
            phoneish_text,
            st.integers(min_value=0, max_value=10**13),
        ),
        max_size=60,
    ).map(lambda xs: xs + xs[::2]),
    region=st.sampled_from(REGIONS),
)
def test_normalize_phones_matches_one_by_one(values: list[object], region: str) -> None:
    assert normalize_phones(values, region) == [normalize_phone(v, region) for v in values]


def test_normalize_phones_on_many_repeats() -> None:
    rng = random.Random(7)
    distinct: list[object] = []
    for i in range(500):
        national = f"1{rng.choice('0125')}{rng.randrange(10**8):08d}"
        distinct.append(
            [
                "0" + national,
                int(national),
                float("20" + national),
                ("0" + national).translate(_PERSIAN),
                f"+20 {national[:3]} {national[3:6]} {national[6:]}",
            ][i % 5]
        )
    values = [rng.choice(distinct) for _ in range(5000)]
    result = normalize_phones(values, "EG")
    assert result == [normalize_phone(v, "EG") for v in values]
    assert all(e is not None and e.startswith("+201") for e in result)


# -- the fast path: the common shapes, read without a full parse ----------------------------


def _spellings(number: phonenumbers.PhoneNumber) -> list[str]:
    """The ways an agent types a number, and a numeric cell keeps it."""
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    nsn = phonenumbers.national_significant_number(number)
    return [
        national,
        national.replace(" ", "-"),
        international,
        e164,
        "00" + e164[1:],
        e164[1:],  # the "+" lost
        nsn,  # the trunk prefix lost
        "0" + nsn,
    ]


def _fast_and_full(text: str, region: str) -> tuple[str | None, phones.PhoneResult]:
    cleaned = phones._clean(text)
    return phones._fast_valid(cleaned, region), phones._full_reading(cleaned, region)


def test_fast_path_agrees_with_the_full_reading_for_every_region_and_type() -> None:
    """Where the fast path answers, it gives the full reading's number, and it is valid."""
    answered = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            for text in _spellings(number):
                for reading_region in (region, "EG", "US"):
                    fast, full = _fast_and_full(text, reading_region)
                    if fast is not None:
                        answered += 1
                        assert (fast, True) == (full.e164, full.valid), (text, reading_region)
    # The check above means something only if the fast path answers often.
    assert answered > 3000


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(text=phoneish_text, region=st.sampled_from(MORE_REGIONS))
def test_fast_path_never_contradicts_the_full_reading(text: str, region: str) -> None:
    fast, full = _fast_and_full(text, region)
    if fast is not None:
        assert (fast, True) == (full.e164, full.valid)


def test_fast_path_reads_the_common_egyptian_shapes() -> None:
    """The bench's formats, one by one: each is decided by the fast path."""
    national = "1001234567"
    for text in [
        "0" + national,
        "0100 123 4567",
        "0100-123-4567",
        "+20 100 123 4567",
        "0020" + national,
        "0020 100 123 4567",
        national,  # a numeric cell that lost its "0"
        "20" + national,  # a numeric cell typed with the country code
        ("0" + national).translate(_ARABIC_INDIC),
    ]:
        fast, full = _fast_and_full(text, "EG")
        assert fast == full.e164 == EG_MOBILE, text


def test_fast_path_leaves_what_it_cannot_tell_to_the_full_reading() -> None:
    # Regions sharing a country code, carrier-code prefixes, text around the number,
    # float-shaped text, invalid numbers: no fast answer.
    for text, region in [
        ("(202) 555-0123", "US"),
        ("0 11 2345-6789", "AR"),
        ("Tel: 0100 123 4567", "EG"),
        ("201001234567.0", "EG"),
        ("0100 123 456", "EG"),
        ("+44 7911 123456", "EG"),
    ]:
        assert phones._fast_valid(phones._clean(text), region) is None, (text, region)


@settings(max_examples=300)
@given(
    digits=st.text(alphabet="0123456789", min_size=1, max_size=18),
    lead=st.one_of(
        st.sampled_from(["", "1", "20", "44", "39", "966", "7", "55", "54"]),
        st.sampled_from(sorted(map(str, phonenumbers.COUNTRY_CODE_TO_REGION_CODE))),
    ),
)
def test_format_phone_without_a_parse_formats_as_libphonenumber_does(
    digits: str, lead: str
) -> None:
    e164 = "+" + lead + digits
    number = phones._from_e164(e164)
    if number is None:
        return
    parsed = phonenumbers.parse(e164, None)
    shown = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    assert shown == phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL)
    assert format_phone(e164) == shown


def test_format_phone_without_a_parse_for_every_example_number() -> None:
    built = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
            number = phones._from_e164(e164)
            if number is not None:
                built += 1
                shown = phonenumbers.format_number(example, PhoneNumberFormat.INTERNATIONAL)
                assert phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL) == shown
                assert format_phone(e164) == shown, e164
    assert built > 500  # the check above means something only if the fast way is common
