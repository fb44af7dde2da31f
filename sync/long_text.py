"""Text longer than a sheet's cell holds: shown cut, with a visible marker, and kept whole.

An .xlsx cell holds 32,767 characters (Excel cuts a longer text, openpyxl too), a Google
Sheets cell 50,000 (a longer one makes Google refuse the whole write). The database and the
audit log keep every value whole; a backend writes a text its cells cannot hold as its
start followed by a marker that says so (:func:`cut_to_fit`), and whatever reads a sheet
back knows a cut text for the whole value it was cut from (:func:`whole_of`), so the cut
is never taken as an edit. Above :data:`MAX_CELL_CHARS` a typed text is not synced at all.

Lengths are counted as spreadsheets count them: in UTF-16 code units (an emoji is two).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

from sync.cells import CellValue, CellWrite
from sync.words import Problem

XLSX_CELL_CHARS = 32_767
"""The most an .xlsx cell holds (Excel's limit)."""

GOOGLE_CELL_CHARS = 50_000
"""The most a Google Sheets cell holds."""

MAX_CELL_CHARS = 1_000_000
"""The most sheetsync stores of one typed cell; a longer one is noted and not synced."""

_MARK = " …[cut by sheetsync: {total:,} characters in all; the whole text: sheetsync history]"
CUT_TAIL = "characters in all; the whole text: sheetsync history]"
"""How every cut text ends (:func:`is_cut` looks closer)."""
_MARKED = re.compile(
    r" …\[cut by sheetsync: ([0-9,]+) characters in all; the whole text: sheetsync history\]\Z"
)


def text_units(text: str) -> int:
    """The length of a text as a spreadsheet counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def too_long(value: object, limit: int | None) -> bool:
    """Whether a cell value is a text longer than ``limit`` (None: no limit)."""
    if limit is None or not isinstance(value, str) or 2 * len(value) <= limit:
        return False  # the common case, without counting
    return text_units(value) > limit


def cut_to_fit(text: str, limit: int) -> str:
    """The text as a cell of ``limit`` units shows it: itself when it fits, else its start
    and a marker naming its whole length (recognised by :func:`whole_of`)."""
    if not too_long(text, limit):
        return text
    mark = _MARK.format(total=len(text))
    room = limit - text_units(mark)
    units = text.encode("utf-16-le", "surrogatepass")[: 2 * room]
    if units and 0xD8 <= units[-1] <= 0xDB:  # half of a character outside the BMP
        units = units[:-2]
    return units.decode("utf-16-le", "surrogatepass") + mark


def fit_writes(writes: Sequence[CellWrite], limit: int | None) -> list[CellWrite]:
    """The writes with every text too long for a cell of ``limit`` cut to fit."""
    if limit is None:
        return list(writes)
    return [
        replace(w, new=cut_to_fit(w.new, limit))
        if isinstance(w.new, str) and too_long(w.new, limit)
        else w
        for w in writes
    ]


def fit_cells(
    cells: Iterable[tuple[str, int, int, CellValue]], limit: int | None
) -> Iterator[tuple[str, int, int, CellValue]]:
    """(tab, row, column, value) cells with every text too long for a cell cut to fit, one
    at a time (a cold master sets millions of them)."""
    if limit is None:
        return iter(cells)
    return (
        (cell[0], cell[1], cell[2], cut_to_fit(cell[3], limit))
        if isinstance(cell[3], str) and too_long(cell[3], limit)
        else cell
        for cell in cells
    )


def is_cut(shown: str) -> bool:
    """Whether a cell's text ends with the marker of a text cut to fit."""
    return shown.endswith(CUT_TAIL) and bool(_MARKED.search(shown))


def whole_of(shown: str, candidates: Iterable[str | None]) -> str | None:
    """The candidate a cut text was cut from (its start and its length agree), if any."""
    found = _MARKED.search(shown)
    if found is None:
        return None
    start, total = shown[: found.start()], int(found.group(1).replace(",", ""))
    for whole in candidates:
        if whole is not None and len(whole) == total and whole.startswith(start):
            return whole
    return None


def shows_cut_of(shown: CellValue, whole: str) -> bool:
    """Whether a cell showing ``shown`` shows ``whole``, cut to fit."""
    return isinstance(shown, str) and is_cut(shown) and whole_of(shown, (whole,)) is not None


def too_long_to_store(text: str) -> Problem:
    """Why a typed text longer than :data:`MAX_CELL_CHARS` is not synced."""
    return Problem("too_long_to_store", length=len(text), limit=MAX_CELL_CHARS)
