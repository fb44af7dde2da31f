"""Phone numbers as typed into agents' spreadsheets, reduced to one E.164 key.

A customer is identified by phone number, so every spelling of the same number
must produce the same key: ``+20 100 123 4567``, ``0020 100 123 4567``,
``01001234567``, Arabic-Indic digits, a cell Excel turned into the number
``1001234567`` or ``2.01001234567E+11``, or ``Tel: 0100-123-4567 (mobile)``.

Everything here is pure and deterministic; the only state is a cache.

One module at this size because it is one subject, a typed phone to one E.164 key: the
fast path for the common shapes is checked against the full reading it shortcuts.
"""

from __future__ import annotations

import functools
import math
import numbers
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import phonenumbers
from phonenumbers import Leniency, NumberParseException, PhoneNumber, PhoneNumberFormat
from phonenumbers import ValidationResult as _Reason

from sync.words import Problem

__all__ = [
    "PhoneResult",
    "clear_caches",
    "format_phone",
    "normalize_phone",
    "normalize_phones",
    "parse_phone",
]


@dataclass(frozen=True)
class PhoneResult:
    """What one raw cell value means as a phone number.

    Attributes:
        e164: the number in E.164 form (``"+201001234567"``), or None when the value
            holds no number that libphonenumber considers possible.
        valid: whether libphonenumber's metadata knows the number as assigned
            (``phonenumbers.is_valid_number``). Always False when ``e164`` is None.
        warning: human-readable text when the number is possible but not valid,
            e.g. ``"+20 10012345 is possible but not a valid number for Egypt"``;
            None otherwise.
    """

    e164: str | None
    valid: bool
    warning: str | None


_NO_NUMBER = PhoneResult(e164=None, valid=False, warning=None)

# Bidi marks, zero-width characters and the soft hyphen are invisible in a sheet but
# would split a number into pieces, so they are deleted.
_TRANSLATE: dict[int, int | None] = {
    **dict.fromkeys(
        [0x00AD, 0x061C, 0x180E, 0xFEFF, *range(0x200B, 0x2010), *range(0x202A, 0x202F)]
        + [*range(0x2060, 0x2065), *range(0x2066, 0x206A)]
    ),
    # Dash look-alikes become "-" so the "plain number" test below recognizes them.
    **dict.fromkeys([*range(0x2010, 0x2016), 0x2212, 0x2043, 0xFE58, 0xFE63], ord("-")),
}

# Any Unicode decimal digit: Arabic-Indic (٠١٢), Persian (۰۱۲), Devanagari (०१२)...
# NFKC leaves these alone (only full-width digits become ASCII), so map them explicitly.
_UNICODE_DIGIT = re.compile(r"\d")

_SPACES = re.compile(r"\s+")

# Separators people type inside one number. Anything else (letters, commas, colons...)
# means there is text around the number.
_SEPARATORS = str.maketrans("", "", " -./()[]~")

# A cell Excel or a CSV export rendered as a float: "201001234567.0", "2.01001234567E+11".
_FLOAT_TEXT = re.compile(r"(\+?[0-9]{6,})\.0+")
_SCIENTIFIC_TEXT = re.compile(r"\+?([0-9])(?:[.,]([0-9]+))?[eE]\+?([0-9]{1,2})")

# Characters after which a matcher's hit is an extension or a comment, not the number.
_AFTER_NUMBER = re.compile(r"[^0-9+ \-./()\[\]~]")

# Digit runs in free text. PhoneNumberMatcher alone would miss what only our extra
# readings make possible (e.g. "966501234567" under region EG: Saudi, "+" lost).
_DIGIT_RUN = re.compile(r"[+(\[]*[0-9](?:[0-9 \-./()\[\]~]*[0-9])?")

_CACHE_SIZE = 65536
_MAX_NUMBER = 10**17

# A reading of some text: the number, and whether it is valid (computed once).
_Reading = tuple[PhoneNumber, bool]


def parse_phone(raw: object, default_region: str = "EG") -> PhoneResult:
    """Read one spreadsheet value as a phone number.

    Accepted inputs: text in any common national or international format (spaces,
    dashes, dots, brackets, slashes, ``+``/``00`` prefixes, a trunk ``0``), Arabic-Indic,
    Persian and any other Unicode digits, full-width digits, invisible bidi and
    zero-width marks, text around the number (the first valid number found wins, else
    the first possible one; a piece of a longer digit run counts only if valid), and
    integers or integral floats from a numeric cell, including ones that lost their
    leading ``0`` or ``+``, also as CSV text (``"2.01001234567E+11"``).

    When several readings are plausible, a valid one is preferred over a merely
    possible one: the digits as given with ``default_region``, then after ``00`` or
    with ``+`` in front (an international number stored without its ``+``), then with
    a ``0`` in front (a national number whose leading ``0`` a spreadsheet dropped).

    Args:
        raw: a cell value: ``str``, ``int``, ``float`` or ``Decimal``. Other types
            (bool, dates, None) hold no phone number.
        default_region: ISO 3166 alpha-2 code for numbers written without a country
            code. Case-insensitive.

    Returns:
        The E.164 key, its validity, and a warning for possible-but-invalid numbers.
        Numbers whose area code is missing (possible only for local dialling) are
        rejected: their "E.164" form would not identify one line.

    Raises:
        ValueError: ``default_region`` is not a region libphonenumber knows.
    """
    region = _check_region(default_region)
    text = _cell_text(raw)
    if not text:
        return _NO_NUMBER
    return _parse_cached(text, region)


def normalize_phone(raw: object, default_region: str = "EG") -> str | None:
    """Return the E.164 key of a spreadsheet value, or None if it holds no possible number.

    Same as ``parse_phone(raw, default_region).e164``. Idempotent: an E.164 result
    normalizes to itself.

    Raises:
        ValueError: ``default_region`` is not a region libphonenumber knows.
    """
    return parse_phone(raw, default_region).e164


def normalize_phones(values: Iterable[object], default_region: str = "EG") -> list[str | None]:
    """Normalize a column of values; equal to ``[normalize_phone(v) for v in values]``.

    Sheets repeat the same numbers a lot, so results are memoized per call (keyed by
    type and value, so ``True`` and ``1`` stay apart): the memo grows with the column,
    where the module's cache is bounded. The common shapes (``0100 123 4567``,
    ``+20 100 123 4567``, ``0020…``, a numeric cell) are read by a fast path that
    checks the number against libphonenumber's metadata without a full parse.

    Raises:
        ValueError: ``default_region`` is not a region libphonenumber knows.
    """
    region = _check_region(default_region)
    memo: dict[tuple[type, object], str | None] = {}
    out: list[str | None] = []
    append = out.append
    for value in values:
        try:
            key = (type(value), value)
            e164 = memo[key]
        except KeyError:
            e164 = memo[key] = _e164(_cell_text(value), region)
        except TypeError:  # unhashable values are not phone numbers, but don't choke
            e164 = _e164(_cell_text(value), region)
        append(e164)
    return out


# A cycle formats each customer's phone for the agents' views and again for the master: the
# memo holds a big team's customers (50 x 2,000 rows: 83,000 phones), so the master's are
# found, not formatted again (at most ~30 MB).
@functools.lru_cache(maxsize=1 << 17)
def format_phone(e164: str) -> str:
    """Format an E.164 number for display in libphonenumber's international layout.

    E.g. ``"+447911123456"`` -> ``"+44 7911 123456"``. Egyptian mobiles come out as
    ``"+20 10 01234567"``: that is the grouping in libphonenumber's metadata.

    Args:
        e164: a number as returned by ``normalize_phone``.

    Raises:
        ValueError: ``e164`` is not a ``+``-prefixed phone number.
    """
    parts = _e164_parts(e164)
    if parts is not None and (formats := _international_formats(parts[0])) is not None:
        return f"+{parts[0]} {_formatted(parts[1], formats)}"
    number = _from_e164(e164)  # (a code without formats of its own: rare)
    if number is None:
        try:
            number = phonenumbers.parse(e164, None)
        except NumberParseException as exc:
            raise ValueError(f"not an E.164 phone number: {e164!r} ({exc})") from None
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


_Format = tuple["re.Pattern[str] | None", "re.Pattern[str]", str]


@functools.cache
def _international_formats(country_code: int) -> tuple[_Format, ...] | None:
    """A country code's international formats as libphonenumber chooses among them
    (``_format_nsn``: the international ones when it has any, else the national ones):
    (the last leading-digits pattern, the number's pattern, the format), compiled once.
    libphonenumber compiles them again for every number it formats (through re's cache),
    which is most of its time. None: a code without formats of its own."""
    region = phonenumbers.region_code_for_country_code(country_code)
    if region == phonenumbers.UNKNOWN_REGION:
        return None
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
        country_code, region.upper()
    )
    if metadata is None:
        return None
    available = metadata.intl_number_format or metadata.number_format
    return tuple(
        (
            re.compile(f.leading_digits_pattern[-1]) if f.leading_digits_pattern else None,
            re.compile(f.pattern),
            f.format,
        )
        for f in available
        if f.pattern is not None and f.format is not None
    )


def _formatted(national: str, formats: tuple[_Format, ...]) -> str:
    """A national significant number in the first format whose leading digits and pattern
    it matches (``_choose_formatting_pattern_for_number``), as libphonenumber substitutes
    it; as it is when none does."""
    for leading, pattern, rule in formats:
        if (leading is None or leading.match(national)) and pattern.fullmatch(national):
            return pattern.sub(rule, national)
    return national


def _from_e164(e164: str) -> PhoneNumber | None:
    """The number an E.164 text names, built without a parse (twice as slow as the
    formatting): None unless it is what ``phonenumbers.parse`` would give, i.e. a known
    country code and a national number that has nothing libphonenumber would strip."""
    parts = _e164_parts(e164)
    if parts is None:
        return None
    return PhoneNumber(country_code=parts[0], national_number=int(parts[1]))


def _e164_parts(e164: str) -> tuple[int, str] | None:
    """The country code and national number of :func:`_from_e164`'s number, or None."""
    digits = e164[1:]
    if not (e164.startswith("+") and digits.isdigit() and digits.isascii()):
        return None
    code = _first_country_code(digits)
    if code is None:
        return None
    national = digits[len(code) :]
    if not 2 <= len(national) <= 17 or national.startswith("0"):
        return None
    prefix = _national_prefix(int(code))
    if prefix is not None and prefix.match(national):
        return None
    return int(code), national


def clear_caches() -> None:
    """Forget every memoized reading (for benchmarks and tests that measure cold work)."""
    _parse_cached.cache_clear()
    format_phone.cache_clear()


# --- internals ---------------------------------------------------------------------------


def _check_region(region: object) -> str:
    code = region.upper() if isinstance(region, str) else ""
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"unknown default phone region {region!r}: expected an ISO 3166 alpha-2 "
            "country code that libphonenumber knows, such as 'EG', 'SA' or 'GB'"
        )
    return code


def _cell_text(raw: object) -> str:
    """Cheap step before the cache: a cell value as text, "" when it can't be a number."""
    if isinstance(raw, str):
        return raw
    # bool is an int subclass; a checkbox cell is never a phone number.
    if isinstance(raw, bool) or raw is None:
        return ""
    # Only non-negative integral values under 10**17 can be phone numbers (E.164 has
    # at most 15 digits, plus an international prefix). Negative values come from
    # formulas such as =010-123-4567; 1001234.5 is a measurement; larger values are IDs.
    # Floats hold integers of up to 15 digits exactly, so 201001234567.0 is safe.
    if isinstance(raw, numbers.Integral):
        value = int(raw)
    elif isinstance(raw, float):
        if not (math.isfinite(raw) and raw.is_integer() and 0 <= raw < _MAX_NUMBER):
            return ""
        value = int(raw)
    elif isinstance(raw, Decimal):
        if not (raw.is_finite() and raw == raw.to_integral_value() and 0 <= raw < _MAX_NUMBER):
            return ""
        value = int(raw)
    else:
        return ""
    return str(value) if 0 <= value < _MAX_NUMBER else ""


def _e164(text: str, region: str) -> str | None:
    """``_parse_cached(text, region).e164``, without the cache for the common shapes."""
    if not text:
        return None
    fast = _fast_valid(_clean(text), region)
    return fast if fast is not None else _parse_cached(text, region).e164


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _parse_cached(text: str, region: str) -> PhoneResult:
    """The whole interpretation of one text; cached because sheets repeat numbers."""
    text = _clean(text)
    if not text:
        return _NO_NUMBER
    e164 = _fast_valid(text, region)
    if e164 is not None:
        return PhoneResult(e164=e164, valid=True, warning=None)
    return _full_reading(text, region)


def _full_reading(text: str, region: str) -> PhoneResult:
    """Every reading of a cleaned text, through libphonenumber."""
    digits = _float_digits(text)
    if digits is not None:
        reading = _from_plain(digits, region) if digits else None
    else:
        reading = _from_plain(text, region) or _from_free_text(text, region)
    if reading is not None:
        reading = _fixed_point(reading)
    if reading is None:
        return _NO_NUMBER
    number, valid = reading
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if valid:
        return PhoneResult(e164=e164, valid=True, warning=None)
    shown = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    where = _country_name(number.country_code)
    return PhoneResult(
        e164=e164,
        valid=False,
        warning=Problem("possible_phone", shown=shown, where=where),
    )


# --- the fast path: the shapes nearly every cell has, read without a full parse -----------

# A number made only of digits, spaces and dashes, with an optional leading "+".
_PLAIN_DELETE = str.maketrans("", "", " -")

# Every country calling code libphonenumber knows, as text ("1", "20", "966"...).
_COUNTRY_CODES = frozenset(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


@dataclass(frozen=True)
class _Rules:
    """What the fast path needs of one region's metadata, when its rules are simple."""

    country_code: str
    national_prefix: str  # "" when the region has none
    international_prefix: str  # "" unless the region's prefix is one literal digit string
    dials_out: re.Pattern[str] | None  # the region's international prefix, as a pattern
    general: re.Pattern[str]
    # By length of a national number: one pattern matching the numbers of every type
    # (mobile, fixed line, toll free...) that allows that length.
    kinds: dict[int, re.Pattern[str]]

    def is_valid(self, national: str) -> bool:
        """``phonenumbers.is_valid_number`` for a national number of this region."""
        kinds = self.kinds.get(len(national))
        return (
            kinds is not None
            and self.general.fullmatch(national) is not None
            and kinds.fullmatch(national) is not None
        )


@functools.cache
def _rules(region: str) -> _Rules | None:
    """The region's rules, or None when they are not simple enough for the fast path.

    Simple means: the country code belongs to this region alone, the national prefix
    for parsing is a literal digit string with no transform rule (no carrier codes),
    and the region has patterns for its numbers.
    """
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.country_code is None:
        return None
    if phonenumbers.region_codes_for_country_code(meta.country_code) != (region,):
        return None
    prefix = meta.national_prefix_for_parsing or ""
    if meta.national_prefix_transform_rule is not None or not (prefix == "" or prefix.isdigit()):
        return None
    descs = [
        meta.premium_rate,
        meta.toll_free,
        meta.shared_cost,
        meta.voip,
        meta.personal_number,
        meta.pager,
        meta.uan,
        meta.voicemail,
        meta.fixed_line,
        meta.mobile,
    ]
    general = meta.general_desc
    if general is None or not general.national_number_pattern:
        return None
    # libphonenumber checks a type's lengths before its pattern, and skips the lengths
    # when a type lists none; an empty pattern never matches. A general description
    # listing no lengths (none does today) leaves the region to the full reading.
    kinds: dict[int, re.Pattern[str]] = {}
    for length in general.possible_length:
        patterns = [
            d.national_number_pattern
            for d in descs
            if d is not None
            and d.national_number_pattern
            and (not d.possible_length or length in d.possible_length)
        ]
        if patterns:
            kinds[length] = re.compile("|".join(f"(?:{p})" for p in patterns))
    idd = meta.international_prefix or ""
    return _Rules(
        country_code=str(meta.country_code),
        national_prefix=prefix,
        international_prefix=idd if idd.isdigit() else "",
        dials_out=re.compile(idd) if idd else None,
        general=re.compile(general.national_number_pattern),
        kinds=kinds,
    )


def _fast_valid(text: str, region: str) -> str | None:
    """The E.164 form of a valid number of ``region`` written in a common way, else None.

    Reads ``0100 123 4567``, ``0100-123-4567``, ``1001234567`` (the trunk ``0`` lost),
    ``+20 100 123 4567`` and ``0020 100 123 4567``. None means "not sure": the full
    reading decides. Every answer given equals the full reading's (a property test
    holds that), so this only decides when the full reading's first attempt would be a
    valid number, with nothing for libphonenumber to strip or extract beyond the
    region's own prefixes.
    """
    rules = _rules(region)
    if rules is None:
        return None
    digits = text.translate(_PLAIN_DELETE)
    plus = digits.startswith("+")
    if plus:
        digits = digits[1:]
    if not (digits.isdigit() and digits.isascii()):
        return None
    code = rules.country_code
    idd = rules.international_prefix
    if plus or (idd and digits.startswith(idd)):
        rest = digits if plus else digits[len(idd) :]
        if _first_country_code(rest) != code:
            return None
        national = rest[len(code) :]
    elif rules.dials_out is not None and rules.dials_out.match(digits):
        return None  # an international prefix such as Israel's "019": a number abroad
    elif digits.startswith(code):
        return _without_plus(digits, rules)
    elif rules.national_prefix and digits.startswith(rules.national_prefix):
        national = digits[len(rules.national_prefix) :]
    else:
        national = digits
    if not national or national.startswith("0"):
        return None  # an Italian-style leading zero, or a second trunk prefix
    if rules.national_prefix and national.startswith(rules.national_prefix):
        return None
    return "+" + code + national if rules.is_valid(national) else None


def _without_plus(digits: str, rules: _Rules) -> str | None:
    """Digits starting with the region's own country code, as a numeric cell keeps them.

    Valid as a national number: that reading wins (libphonenumber extracts a country
    code only when the whole does not fit the region). Else valid once the code is
    taken off: that is what both the region's reading and the "+ lost" reading give.
    """
    code = rules.country_code
    prefix = rules.national_prefix
    if (not prefix or not digits.startswith(prefix)) and rules.is_valid(digits):
        return "+" + code + digits
    national = digits[len(code) :]
    if not national or national.startswith("0") or (prefix and national.startswith(prefix)):
        return None
    if _first_country_code(digits) != code or not rules.is_valid(national):
        return None
    return "+" + code + national


def _first_country_code(digits: str) -> str | None:
    """The country code libphonenumber reads at the start of international digits."""
    for size in (1, 2, 3):
        if digits[:size] in _COUNTRY_CODES:
            return digits[:size]
    return None


def _clean(text: str) -> str:
    if text.isascii():  # the common case; everything below is for non-ASCII text
        return _SPACES.sub(" ", text).strip()
    # NFKC turns full-width digits and "＋" into ASCII and no-break spaces into spaces.
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE)
    text = _UNICODE_DIGIT.sub(_ascii_digit, text)
    return _SPACES.sub(" ", text).strip()


def _ascii_digit(match: re.Match[str]) -> str:
    return str(unicodedata.digit(match.group()))


def _float_digits(text: str) -> str | None:
    """Digits of a number a CSV export wrote as a float; None if not float-shaped.

    Returns "" for ``"2.01001E+11"``-style text: such a display has lost digits, and
    padding them with zeros would merge different customers, so it is no number at all.
    ``"2.01001234567E+11"`` is read because its mantissa carries every digit.
    """
    match = _FLOAT_TEXT.fullmatch(text)
    if match:
        return match.group(1)
    match = _SCIENTIFIC_TEXT.fullmatch(text)
    if match:
        lead, fraction, exponent = match.group(1), match.group(2) or "", int(match.group(3))
        return lead + fraction if len(fraction) == exponent else ""
    return None


def _from_plain(text: str, region: str) -> _Reading | None:
    """Read text made only of digits, separators and one leading ``+``.

    Returns None when the text has other characters (letters, commas...) or no
    reading of it is a possible number.
    """
    rest = text.translate(_SEPARATORS)
    has_plus = rest.startswith("+")
    digits = rest[1:] if has_plus else rest
    if not digits.isdigit() or not digits.isascii():
        return None
    if has_plus:
        # An explicit "+" is trusted: no other reading is attempted.
        return _pick([("+" + digits, None)])
    # Order matters: the first valid reading wins, else the first possible one.
    attempts: list[tuple[str, str | None]] = [(digits, region)]
    if digits.startswith("00"):
        # "00" is the international prefix nearly everywhere, even where the region's
        # own (e.g. "011" in the US) differs: no national number starts with "00".
        attempts.append(("+" + digits[2:], None))
    elif not digits.startswith("0"):
        attempts.append(("+" + digits, None))  # international, "+" lost
        attempts.append(("0" + digits, region))  # national, leading "0" lost
    return _pick(attempts)


def _from_free_text(text: str, region: str) -> _Reading | None:
    """Find the number in text such as ``"Tel: 0100 123 4567 (mobile)"``.

    Candidates are plain digit runs and ``PhoneNumberMatcher`` hits (which split runs
    holding two numbers, and keep dates out). The first valid candidate in reading
    order wins, else the first possible one, so a date or an order number before the
    phone does not shadow it.
    """
    found: list[tuple[int, _Reading]] = []
    runs: list[tuple[int, int, int]] = []  # (start, end, digit count) of each digit run
    for index, run in enumerate(_DIGIT_RUN.finditer(text)):
        runs.append((run.start(), run.end(), _count_digits(run.group())))
        reading = _from_plain(run.group(), region)
        if reading is None:
            continue
        if index == 0 and reading[1]:
            # The common "Tel: 0100 123 4567 (mobile)": the first digits in the text
            # are a valid number and nothing can precede them; skip the slow matcher.
            return reading
        found.append((run.start(), reading))
    for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=Leniency.POSSIBLE):
        # Drop an extension or comment ("ext. 12", "#3") and reuse the plain reading so
        # a number in text means what it means alone.
        head = _AFTER_NUMBER.split(match.raw_string, maxsplit=1)[0]
        reading = _from_plain(head, region)
        if reading is None:
            continue
        digits = _count_digits(head)
        fragment = any(start <= match.start < end and count > digits for start, end, count in runs)
        # A piece of a longer digit run ("1234567" of "+44 7911 1234567", too long)
        # counts only if valid on its own, as in "0100 123 4567 / 0111 234 5678".
        if fragment and not reading[1]:
            continue
        found.append((match.start, reading))
    # A stable sort: at one position, the digit run's reading stays first.
    found.sort(key=lambda item: item[0])
    for _, reading in found:
        if reading[1]:
            return reading
    return found[0][1] if found else None


def _count_digits(text: str) -> int:
    return sum(char.isdigit() for char in text)


def _pick(attempts: list[tuple[str, str | None]]) -> _Reading | None:
    first_possible: PhoneNumber | None = None
    for candidate, region in attempts:
        try:
            number = phonenumbers.parse(candidate, region)
        except NumberParseException:
            continue
        if not _is_possible(number):
            continue
        if phonenumbers.is_valid_number(number):
            return number, True
        if first_possible is None:
            first_possible = number
    return None if first_possible is None else (first_possible, False)


def _is_possible(number: PhoneNumber) -> bool:
    # IS_POSSIBLE_LOCAL_ONLY (e.g. a US number without area code) is deliberately
    # excluded: its E.164 form would not name one line.
    return phonenumbers.is_possible_number_with_reason(number) == _Reason.IS_POSSIBLE


def _fixed_point(reading: _Reading) -> _Reading | None:
    """Make sure the E.164 text reads back as itself, so normalizing is idempotent.

    Re-reading "+CC" + national number strips a national prefix again when the
    national number starts with one (e.g. a "0" libphonenumber kept the first time).
    Follow such changes until stable; drop numbers that don't settle or stop being
    possible. Numbers that can't be affected skip the (slow) re-parse.
    """
    number, valid = reading
    for _ in range(3):
        prefix = _national_prefix(number.country_code)
        if prefix is None or not prefix.match(phonenumbers.national_significant_number(number)):
            return number, valid
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        try:
            again = phonenumbers.parse(e164, None)
        except NumberParseException:
            return None
        if phonenumbers.format_number(again, PhoneNumberFormat.E164) == e164:
            return number, valid
        if not _is_possible(again):
            return None
        number, valid = again, phonenumbers.is_valid_number(again)
    return None


@functools.cache
def _national_prefix(country_code: int) -> re.Pattern[str] | None:
    """The pattern libphonenumber strips as a national prefix when reading +CC numbers."""
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    pattern = metadata.national_prefix_for_parsing if metadata is not None else None
    return re.compile(pattern) if pattern else None


@functools.cache
def _country_name(country_code: int) -> str:
    """English name of the country a calling code belongs to, for warnings."""
    # Imported lazily: the geocoder loads ~0.3 s of data, needed only for warnings.
    from phonenumbers.geocoder import country_name_for_number

    # For shared codes (+1, +44, +7...) name the main country: a valid example number
    # of that region is what lets the geocoder tell it apart from its neighbours.
    region = phonenumbers.region_code_for_country_code(country_code)
    example = phonenumbers.example_number(region) if region != "ZZ" else None
    name: str = country_name_for_number(example, "en") if example is not None else ""
    return name or f"country code +{country_code}"
