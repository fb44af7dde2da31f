"""A1 notation: parsing ranges, and formatting them the way Google echoes them.

Indexes are 0-based; ends are exclusive; ``None`` is an open end (``A:C`` has open rows,
``1:3`` open columns, ``A2:C`` an open last row).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openpyxl.utils.cell import column_index_from_string, get_column_letter

MAX_COLUMNS = 18278  # column ZZZ

_SIDE = re.compile(r"^\$?([A-Za-z]{0,3})\$?([0-9]*)$")
_PLAIN_TITLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CELLISH = re.compile(r"^[A-Za-z]{1,3}[0-9]+$")
_R1C1ISH = re.compile(r"^[Rr][0-9]*[Cc][0-9]*$")


class A1Error(ValueError):
    """Raised when a range cannot be parsed."""


def col_letters(index: int) -> str:
    """Return the column letters of a 0-based column index (0 -> ``A``)."""
    if index < 0:
        raise ValueError(index)
    return get_column_letter(index + 1)


def col_index(letters: str) -> int:
    """Return the 0-based index of column ``letters`` (``A`` -> 0)."""
    return column_index_from_string(letters) - 1


@dataclass(frozen=True)
class Bounds:
    """A rectangle of a sheet: 0-based, end-exclusive, ``None`` for an open end."""

    r0: int | None
    r1: int | None
    c0: int | None
    c1: int | None

    def resolve(self, rows: int, cols: int) -> tuple[int, int, int, int]:
        """Close open ends against a grid of ``rows`` x ``cols``."""
        return (
            self.r0 or 0,
            rows if self.r1 is None else self.r1,
            self.c0 or 0,
            cols if self.c1 is None else self.c1,
        )


WHOLE = Bounds(None, None, None, None)


def parse_cells(text: str) -> Bounds:
    """Parse the cells part (``A1``, ``A1:B2``, ``A:C``, ``1:3``, ``A2:C``) into bounds."""
    parts = text.split(":")
    if len(parts) > 2 or not text:
        raise A1Error(text)
    sides: list[tuple[int | None, int | None]] = []
    for part in parts:
        m = _SIDE.match(part.strip())
        if not m or not (m.group(1) or m.group(2)):
            raise A1Error(text)
        col = col_index(m.group(1)) if m.group(1) else None
        row = int(m.group(2)) - 1 if m.group(2) else None
        if (row is not None and row < 0) or (col is not None and col >= MAX_COLUMNS):
            raise A1Error(text)
        sides.append((row, col))
    if len(sides) == 1:
        row, col = sides[0]
        if row is None or col is None:
            raise A1Error(text)
        return Bounds(row, row + 1, col, col + 1)
    (ra, ca), (rb, cb) = sides
    if ra is None and rb is None:  # A:C
        if ca is None or cb is None:
            raise A1Error(text)
        return Bounds(None, None, min(ca, cb), max(ca, cb) + 1)
    if ca is None and cb is None:  # 1:3
        assert ra is not None and rb is not None
        return Bounds(min(ra, rb), max(ra, rb) + 1, None, None)
    if ra is None or ca is None:  # "A:B2" / "2:B3": normalise loosely
        ra, rb = (rb, ra) if ra is None else (ra, rb)
        ca, cb = (cb, ca) if ca is None else (ca, cb)
    assert ra is not None and ca is not None
    if rb is None:  # A2:C -> open last row
        return Bounds(ra, None, min(ca, cb or ca), max(ca, cb if cb is not None else ca) + 1)
    if cb is None:  # A1:1 -> open last column
        return Bounds(min(ra, rb), max(ra, rb) + 1, ca, None)
    return Bounds(min(ra, rb), max(ra, rb) + 1, min(ca, cb), max(ca, cb) + 1)


def split_sheet(text: str) -> tuple[str | None, str | None]:
    """Split ``'My Sheet'!A1:B2`` into ``("My Sheet", "A1:B2")``.

    A text without ``!`` returns ``(None, text)``: the caller decides whether it is a sheet
    title or a cells part on the first sheet.
    """
    if text.startswith("'"):
        name: list[str] = []
        i = 1
        while i < len(text):
            ch = text[i]
            if ch == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    name.append("'")
                    i += 2
                    continue
                break
            name.append(ch)
            i += 1
        else:
            raise A1Error(text)
        rest = text[i + 1 :]
        if not rest:
            return "".join(name), None
        if rest.startswith("!") and len(rest) > 1:
            return "".join(name), rest[1:]
        raise A1Error(text)
    if "!" in text:
        name_part, _, cells = text.rpartition("!")
        if not name_part or not cells:
            raise A1Error(text)
        return name_part, cells
    return None, text


def quote_title(title: str) -> str:
    """Quote a sheet title the way Google does in echoed ranges (only when needed)."""
    if _PLAIN_TITLE.match(title) and not _CELLISH.match(title) and not _R1C1ISH.match(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def cell_name(row: int, col: int) -> str:
    """``(0, 0)`` -> ``A1``."""
    return f"{col_letters(col)}{row + 1}"


def format_cells(r0: int, r1: int, c0: int, c1: int) -> str:
    """Format a closed rectangle as ``A1:B2`` (``A1`` for a single cell)."""
    first = cell_name(r0, c0)
    last = cell_name(max(r1 - 1, r0), max(c1 - 1, c0))
    return first if first == last else f"{first}:{last}"


def format_range(title: str, r0: int, r1: int, c0: int, c1: int) -> str:
    """Echo format: ``Sheet1!A1:Z1000``, quoted title when needed."""
    return f"{quote_title(title)}!{format_cells(r0, r1, c0, c1)}"


def format_open(title: str, b: Bounds) -> str:
    """Format bounds that may have open ends (``T!A1001:B``), as Google's error messages do."""
    r0, c0 = b.r0 or 0, b.c0 or 0
    start = f"{col_letters(c0) if b.c0 is not None or b.c1 is not None else ''}"
    start += f"{r0 + 1}" if b.r0 is not None or b.r1 is not None else ""
    if b.r1 is None and b.c1 is None and b.r0 is None and b.c0 is None:
        return quote_title(title)
    end = col_letters(b.c1 - 1) if b.c1 is not None else ""
    end += str(b.r1) if b.r1 is not None else ""
    if b.r1 is not None and b.c1 is not None and b.r1 - r0 == 1 and b.c1 - c0 == 1:
        return f"{quote_title(title)}!{start}"
    if b.c0 is None:
        start, end = str(r0 + 1), str(b.r1)
    return f"{quote_title(title)}!{start}:{end}"
