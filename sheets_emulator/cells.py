"""Cell values: what ``RAW`` / ``USER_ENTERED`` store and how values render back.

A stored cell value is ``None`` (empty), ``str``, ``bool``, ``int``/``float`` (numbers),
a :class:`Formula`, or a :class:`CellError`.

Formulas: the emulator keeps the formula text (answered for ``FORMULA``) and evaluates only
constant arithmetic (numbers, ``+ - * / ^``, parentheses, string literals), e.g. ``=1+1`` -> 2,
``= 1 / 1024`` -> 0.0009765625, ``=1/0`` -> ``#DIV/0!``. Anything else (cell references,
functions such as ``=IMPORTXML(...)``) evaluates to ``#NAME?``.

Number formatting (``FORMATTED_VALUE``): plain numbers render like Sheets' automatic format
(integers in full below 1e15, otherwise up to 10 decimals / 15 significant digits, scientific
``1.23E+15`` beyond); patterns with ``0``, ``#``, ``,``, ``.``, ``%``, ``E+``, quoted or ``$``
literals, and date/time tokens (``yyyy mm dd hh mm ss``, ``M/d/yyyy``) are supported.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import re
from typing import Any

EPOCH = dt.datetime(1899, 12, 30)

Value = Any  # None | str | bool | int | float | Formula | CellError


class CellError(str):
    """An error value such as ``#NAME?`` or ``#DIV/0!``."""

    ERROR_TYPES = {
        "#NAME?": "NAME",
        "#DIV/0!": "DIVIDE_BY_ZERO",
        "#VALUE!": "VALUE",
        "#REF!": "REF",
        "#N/A": "N_A",
        "#NUM!": "NUM",
        "#ERROR!": "ERROR",
    }

    @property
    def error_type(self) -> str:
        """The ``ErrorValue.type`` enum name."""
        return self.ERROR_TYPES.get(str(self), "ERROR")


class Formula:
    """A formula cell: its text (with ``=``) and its evaluated value."""

    __slots__ = ("text", "value")

    def __init__(self, text: str, value: Value) -> None:
        self.text = text
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Formula) and other.text == self.text

    def __repr__(self) -> str:
        return f"Formula({self.text!r})"


# ---------------------------------------------------------------- formulas


class _Unsupported(Exception):
    pass


def _eval_node(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _eval_node(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval_node(node.operand)
        if not isinstance(v, (int, float)):
            raise _Unsupported
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a, b = _eval_node(node.left), _eval_node(node.right)
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            raise _Unsupported
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            return a * b
        if isinstance(node.op, ast.Div):
            if b == 0:
                raise ZeroDivisionError
            return a / b
        if isinstance(node.op, ast.Pow):
            return a**b
    raise _Unsupported


def evaluate_formula(text: str) -> Value:
    """Evaluate a formula's constant arithmetic; ``#NAME?`` when it is anything more."""
    expr = text[1:].strip() if text.startswith("=") else text
    if not expr or "**" in expr or "'" in expr:
        return CellError("#NAME?")
    try:
        tree = ast.parse(expr.replace("^", "**"), mode="eval")
        value = _eval_node(tree)
    except ZeroDivisionError:
        return CellError("#DIV/0!")
    except (SyntaxError, _Unsupported, OverflowError, ValueError, TypeError):
        return CellError("#NAME?")
    if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
        return CellError("#NUM!")
    return normalize_number(value) if not isinstance(value, str) else value


# ---------------------------------------------------------------- input parsing

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
_PERCENT = re.compile(r"^([+-]?(\d+(\.\d*)?|\.\d+))%$")
_CURRENCY = re.compile(r"^([+-]?)\$(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO_DATETIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})(:(\d{2}))?$")


def normalize_number(value: float | int) -> float | int:
    """Integral floats become ints so JSON shows ``53`` rather than ``53.0``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def to_serial(when: dt.datetime) -> float | int:
    """A date/time as a Sheets serial number (days since 1899-12-30)."""
    delta = when - EPOCH
    return normalize_number(delta.days + delta.seconds / 86400)


def is_text_format(fmt: dict[str, Any] | None) -> bool:
    """True when a cell format is plain text (``@`` / ``TEXT``)."""
    nf = (fmt or {}).get("numberFormat") or {}
    return nf.get("type") == "TEXT" or nf.get("pattern") == "@"


def parse_user_entered(raw: Any, fmt: dict[str, Any] | None) -> tuple[Value, dict[str, Any] | None]:
    """Interpret a value typed as ``USER_ENTERED``.

    Returns the stored value and, when Sheets would pick one, an automatic number format
    (e.g. a date typed as ``2020-01-01`` gets ``DATE yyyy-mm-dd``).
    """
    if isinstance(raw, bool) or raw is None:
        return raw, None
    if isinstance(raw, (int, float)):
        return normalize_number(raw), None
    text = str(raw)
    if text == "":
        return None, None
    if is_text_format(fmt):
        return text, None
    if text.startswith("'"):
        return text[1:], None
    if text.startswith("="):
        return Formula(text, evaluate_formula(text)), None
    stripped = text.strip()
    upper = stripped.upper()
    if upper in ("TRUE", "FALSE"):
        return upper == "TRUE", None
    if _NUMBER.match(stripped):
        return normalize_number(float(stripped)), None
    if _GROUPED.match(stripped):
        decimals = len(stripped.split(".")[1]) if "." in stripped else 0
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        value = normalize_number(float(stripped.replace(",", "")))
        return value, {"type": "NUMBER", "pattern": pattern}
    m = _PERCENT.match(stripped)
    if m:
        decimals = len(m.group(1).split(".")[1]) if "." in m.group(1) else 0
        pattern = "0" + ("." + "0" * decimals if decimals else "") + "%"
        return normalize_number(float(m.group(1)) / 100), {"type": "PERCENT", "pattern": pattern}
    m = _CURRENCY.match(stripped)
    if m:
        value = float(m.group(2).replace(",", "") + (m.group(4) or ""))
        value = -value if m.group(1) == "-" else value
        return normalize_number(value), {"type": "CURRENCY", "pattern": '"$"#,##0.00'}
    when = _parse_date(stripped)
    if when is not None:
        return when
    return text, None


def _parse_date(text: str) -> tuple[Value, dict[str, Any]] | None:
    try:
        m = _ISO_DATE.match(text)
        if m:
            d = dt.datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            return to_serial(d), {"type": "DATE", "pattern": "yyyy-mm-dd"}
        m = _US_DATE.match(text)
        if m:
            d = dt.datetime(int(m.group(3)), int(m.group(1)), int(m.group(2)))
            return to_serial(d), {"type": "DATE", "pattern": "M/d/yyyy"}
        m = _ISO_DATETIME.match(text)
        if m:
            d = dt.datetime(
                int(m.group(1)),
                int(m.group(2)),
                int(m.group(3)),
                int(m.group(4)),
                int(m.group(5)),
                int(m.group(7) or 0),
            )
            return to_serial(d), {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm:ss"}
    except ValueError:
        return None
    return None


def parse_raw(raw: Any) -> Value:
    """Interpret a value written as ``RAW``: strings stay strings (``=`` included)."""
    if raw is None or isinstance(raw, bool):
        return raw
    if isinstance(raw, (int, float)):
        return normalize_number(raw)
    text = str(raw)
    return text if text != "" else None


# ---------------------------------------------------------------- rendering


def format_general(value: float | int) -> str:
    """Render a number the way Sheets' automatic format does (approximately)."""
    value = normalize_number(value)
    if isinstance(value, int) and abs(value) < 10**15:
        return str(value)
    if value == 0:
        return "0"
    if abs(value) >= 1e15 or abs(value) < 1e-10:
        mantissa, exp = f"{value:.5E}".split("E")
        mantissa = mantissa.rstrip("0").rstrip(".")
        sign = "-" if exp.startswith("-") else "+"
        return f"{mantissa}E{sign}{int(exp.lstrip('+-')):02d}"
    text = f"{round(value, 10):.15g}"
    if "e" in text:
        text = f"{round(value, 10):.10f}".rstrip("0").rstrip(".")
    return text


_DATE_TOKENS = re.compile(
    r'yyyy|yy|mmmm|mmm|mm|m|dddd|ddd|dd|d|hh|h|ss|s|am/pm|AM/PM|"[^"]*"|\\.|.',
    re.IGNORECASE,
)


def _format_date(value: float, pattern: str) -> str:
    when = EPOCH + dt.timedelta(days=float(value))
    tokens = _DATE_TOKENS.findall(pattern)
    out: list[str] = []
    for i, tok in enumerate(tokens):
        low = tok.lower()
        prev = next((t.lower() for t in reversed(tokens[:i]) if t.strip(":/-. ")), "")
        nxt = next((t.lower() for t in tokens[i + 1 :] if t.strip(":/-. ")), "")
        minute = low in ("m", "mm") and (prev.startswith("h") or nxt.startswith("s"))
        if low == "yyyy":
            out.append(f"{when.year:04d}")
        elif low == "yy":
            out.append(f"{when.year % 100:02d}")
        elif low == "mmmm":
            out.append(when.strftime("%B"))
        elif low == "mmm":
            out.append(when.strftime("%b"))
        elif low in ("mm", "m"):
            n = when.minute if minute else when.month
            out.append(f"{n:02d}" if low == "mm" else str(n))
        elif low == "dddd":
            out.append(when.strftime("%A"))
        elif low == "ddd":
            out.append(when.strftime("%a"))
        elif low in ("dd", "d"):
            out.append(f"{when.day:02d}" if low == "dd" else str(when.day))
        elif low in ("hh", "h"):
            hour = when.hour
            if any(t.lower() == "am/pm" for t in tokens):
                hour = hour % 12 or 12
            out.append(f"{hour:02d}" if low == "hh" else str(hour))
        elif low in ("ss", "s"):
            out.append(f"{when.second:02d}" if low == "ss" else str(when.second))
        elif low == "am/pm":
            out.append("AM" if when.hour < 12 else "PM")
        elif tok.startswith('"'):
            out.append(tok[1:-1])
        elif tok.startswith("\\"):
            out.append(tok[1:])
        else:
            out.append(tok)
    return "".join(out)


def _format_pattern(value: float, pattern: str) -> str:
    section = pattern.split(";")[0]
    literal_prefix = ""
    literal_suffix = ""
    m = re.match(r'^((?:"[^"]*"|[$€£¥ ])*)(.*?)((?:"[^"]*"|[ %])*)$', section)
    core = section
    if m:
        literal_prefix = re.sub(r'"', "", m.group(1))
        core = m.group(2)
        literal_suffix = re.sub(r'"', "", m.group(3))
    if "%" in core or "%" in literal_suffix:
        value = value * 100
        core = core.replace("%", "")
        literal_suffix = literal_suffix.replace("%", "") + "%"
    if not core or not re.search(r"[0#]", core):
        return literal_prefix + format_general(value) + literal_suffix
    if "E" in core.upper():
        mant = core.upper().split("E")[0]
        decimals = len(mant.split(".")[1]) if "." in mant else 0
        mantissa, exp = f"{value:.{decimals}E}".split("E")
        sign = "-" if exp.startswith("-") else "+"
        return f"{literal_prefix}{mantissa}E{sign}{int(exp.lstrip('+-')):02d}{literal_suffix}"
    int_part, _, frac_part = core.partition(".")
    decimals = len(re.findall(r"[0#]", frac_part))
    min_decimals = frac_part.count("0")
    grouping = "," in int_part
    text = f"{abs(value):,.{decimals}f}" if grouping else f"{abs(value):.{decimals}f}"
    if decimals > min_decimals and "." in text:
        head, tail = text.split(".")
        tail = tail.rstrip("0")
        tail = tail + "0" * max(0, min_decimals - len(tail))
        text = head + ("." + tail if tail else "")
    if int_part.replace(",", "").startswith("#") and text.startswith("0") and text != "0":
        text = text[1:] if text.startswith("0.") else text
    sign = "-" if value < 0 and float(text.replace(",", "") or 0) != 0 else ""
    return f"{sign}{literal_prefix}{text}{literal_suffix}"


def format_number(value: float | int, fmt: dict[str, Any] | None) -> str:
    """Render a number for ``FORMATTED_VALUE`` under the cell's number format."""
    nf = (fmt or {}).get("numberFormat") or {}
    ftype = nf.get("type", "")
    pattern = nf.get("pattern", "")
    if ftype in ("DATE", "TIME", "DATE_TIME") or (
        pattern and re.search(r"[yd]|h+:|:s", pattern, re.IGNORECASE) and ftype != "TEXT"
    ):
        default = {"DATE": "M/d/yyyy", "TIME": "h:mm:ss am/pm"}.get(ftype, "M/d/yyyy H:mm:ss")
        try:
            return _format_date(value, pattern or default)
        except (OverflowError, ValueError):
            return format_general(value)
    if not pattern or ftype == "TEXT" or pattern in ("@", "General"):
        if ftype == "PERCENT":
            return format_general(value * 100) + "%"
        return format_general(value)
    return _format_pattern(float(value), pattern)


def is_date_format(fmt: dict[str, Any] | None) -> bool:
    """True when the cell's number format is a date, time or date-time."""
    nf = (fmt or {}).get("numberFormat") or {}
    return nf.get("type") in ("DATE", "TIME", "DATE_TIME")


def render(
    value: Value,
    fmt: dict[str, Any] | None,
    option: str = "FORMATTED_VALUE",
    date_option: str = "SERIAL_NUMBER",
) -> Any:
    """Render a stored value for a values response (``""`` for empty)."""
    if isinstance(value, Formula):
        if option == "FORMULA":
            return value.text
        value = value.value
    if value is None:
        return ""
    if isinstance(value, bool):
        return value if option != "FORMATTED_VALUE" else ("TRUE" if value else "FALSE")
    if isinstance(value, (int, float)):
        if option == "FORMATTED_VALUE":
            return format_number(value, fmt)
        if (
            option == "UNFORMATTED_VALUE"
            and date_option == "FORMATTED_STRING"
            and is_date_format(fmt)
        ):
            return format_number(value, fmt)
        return normalize_number(value)
    return str(value)


def extended_value(value: Value, *, formula: bool = True) -> dict[str, Any] | None:
    """The ``ExtendedValue`` JSON of a stored value (``userEnteredValue``/``effectiveValue``)."""
    if value is None:
        return None
    if isinstance(value, Formula):
        if formula:
            return {"formulaValue": value.text}
        value = value.value
    if isinstance(value, CellError):
        return {"errorValue": {"type": value.error_type, "message": f"Emulated error {value}"}}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, (int, float)):
        return {"numberValue": normalize_number(value)}
    return {"stringValue": str(value)}


def from_extended(ext: dict[str, Any] | None) -> Value:
    """Inverse of :func:`extended_value` for ``updateCells``/``repeatCell`` input."""
    if not ext:
        return None
    if "formulaValue" in ext:
        text = str(ext["formulaValue"])
        return Formula(text, evaluate_formula(text))
    if "numberValue" in ext:
        return normalize_number(float(ext["numberValue"]))
    if "boolValue" in ext:
        return bool(ext["boolValue"])
    if "stringValue" in ext:
        return str(ext["stringValue"]) or None
    return None
