"""The rows of a tab as last written: what lets a cycle write only changed rows.

Each row of a master tab is stored with its key (what it shows: a Customer #, a tracking
ID...), its position and a digest of its cells (:class:`~sync.model.SheetRow`). When the
workbook is as the last cycle wrote it, a cycle re-renders only the rows whose customers
changed, compares their digests with these, and sets the cells of the rows that differ,
without reading the tab. A tab's digest is made of its rows' digests, so it is kept up to
date row by row as well. An agent's tabs are kept row by row too (below): the base of the
next three-way merge, and where each row is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from sqlalchemy import Table, Text, bindparam, delete, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from sync.cells import CellValue
from sync.db import InQuery, insert_rows, read, rows_of
from sync.dedupe import value_text
from sync.model import SheetRow, SheetState
from sync.sheets import CellSet
from sync.tab_state import Layout

_TABLE = cast(Table, SheetRow.__table__)

# The statements every write-back runs, built once (see sync.db.InQuery): a tab's rows are
# those of one (source, tab), its parameters.
_OF_TAB = (_TABLE.c.source == bindparam("source"), _TABLE.c.tab == bindparam("tab"))
_WRITTEN = select(_TABLE.c.key, _TABLE.c.digest).where(*_OF_TAB).order_by(_TABLE.c.position)
_WRITTEN_BASED = (
    select(_TABLE.c.key, _TABLE.c.digest, sql_cast(_TABLE.c.base, Text))
    .where(*_OF_TAB)
    .order_by(_TABLE.c.position)
)
_PLACED = InQuery(
    select(_TABLE.c.key, _TABLE.c.position, _TABLE.c.digest).where(*_OF_TAB), _TABLE.c.key
)
_TAB_ROWS = InQuery(
    select(_TABLE.c.key, _TABLE.c.position, _TABLE.c.base).where(*_OF_TAB), _TABLE.c.key
)
_STORED_DIGESTS = InQuery(
    select(_TABLE.c.id, _TABLE.c.key, _TABLE.c.digest).where(*_OF_TAB), _TABLE.c.key
)


def row_digest(row: Sequence[CellValue]) -> str:
    """A digest of a row's cells as text (trailing blank cells do not count)."""
    cells = [value_text(v) for v in row]
    while cells and not cells[-1]:
        cells.pop()
    return hashlib.blake2b(orjson.dumps(cells), digest_size=12).hexdigest()


_MODULUS = 1 << 128


def _term(position: int, digest: str) -> int:
    text = f"{position}:{digest}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=16).digest(), "big")


def tab_digest(digests: Iterable[str]) -> str:
    """A tab's digest: of its rows' digests at their positions, header row first (0).

    A sum of one hash per (position, row digest), so that a cycle that changed a few rows
    updates it from those rows alone (:func:`updated_digest`), without the others.
    """
    total = sum(_term(position, digest) for position, digest in enumerate(digests))
    return f"{total % _MODULUS:032x}"


def updated_digest(digest: str, changes: Iterable[tuple[int, str | None, str | None]]) -> str:
    """A tab's digest after rows changed: (position, digest before or None for a new row,
    digest after or None for a row gone)."""
    total = int(digest, 16)
    for position, before, after in changes:
        if before is not None:
            total -= _term(position, before)
        if after is not None:
            total += _term(position, after)
    return f"{total % _MODULUS:032x}"


def keys_digest(keys: Iterable[str]) -> str:
    """A digest of a tab's row keys in order: whether its rows are the same ones."""
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def grid_digest(grid: Sequence[Sequence[CellValue]]) -> str:
    """The digest of a whole grid, the same as :func:`tab_digest` of its rows' digests."""
    return tab_digest(row_digest(row) for row in grid)


@dataclass
class WrittenTab:
    """A tab's rows as last written, by position (index 0 is the first row under the header)."""

    keys: list[str] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    bases: list[Any] = field(default_factory=list)


def load_written(
    s: Session, source: str, tabs: Sequence[str], *, bases: Sequence[str] = ()
) -> dict[str, WrittenTab]:
    """Keys and digests of the stored rows of these tabs, by position (and their bases,
    for the tabs in ``bases``)."""
    found: dict[str, WrittenTab] = {tab: WrittenTab() for tab in tabs}
    for part, based in ((set(tabs) - set(bases), False), (set(tabs) & set(bases), True)):
        if not part:
            continue
        for tab in sorted(part):  # a tab at a time, its columns as lists
            query = _WRITTEN_BASED if based else _WRITTEN
            rows = s.execute(query, {"source": source, "tab": tab}).all()
            written = found[tab]
            written.keys = [row[0] for row in rows]
            written.digests = [row[1] for row in rows]
            if based:  # JSON as text, parsed by orjson (the JSON type's own: 3 times slower)
                written.bases = [None if row[2] is None else orjson.loads(row[2]) for row in rows]
    return found


def load_placed(
    s: Session, source: str, tab: str, keys: Iterable[str]
) -> dict[str, tuple[int, str]]:
    """Key -> (position, digest) of the stored rows of a tab that show these keys."""
    placed = rows_of(s, _PLACED, keys, {"source": source, "tab": tab})
    return {key: (position, digest) for key, position, digest in placed}


def load_bases(s: Session, source: str, tab: str) -> dict[str, Any]:
    """Key -> base (what the admin may edit, as written) of a tab's stored rows."""
    rows = s.execute(
        select(_TABLE.c.key, _TABLE.c.base).where(
            _TABLE.c.source == source, _TABLE.c.tab == tab, _TABLE.c.base.is_not(None)
        )
    )
    return {key: base for key, base in rows}


def save_whole(
    s: Session,
    source: str,
    tab: str,
    keys: Sequence[str],
    digests: Sequence[str],
    bases: Mapping[str, Any],
) -> None:
    """Replace a tab's stored rows (after the whole tab was rendered)."""
    s.execute(delete(_TABLE).where(_TABLE.c.source == source, _TABLE.c.tab == tab))
    values = [
        {
            "source": source,
            "tab": tab,
            "position": position,
            "key": key,
            "digest": digest,
            "base": bases.get(key),
        }
        for position, (key, digest) in enumerate(zip(keys, digests, strict=True), start=1)
    ]
    insert_rows(s, _TABLE, values)


@dataclass
class RowChange:
    """A row re-rendered at a position (1 = first row under the header)."""

    position: int
    key: str
    digest: str
    base: Any = None


_UPDATE_AT = (
    update(_TABLE)
    .where(_TABLE.c.position == bindparam("at"))
    .values(key=bindparam("new_key"), digest=bindparam("new_digest"))
    .values(base=bindparam("new_base", type_=_TABLE.c.base.type))
)


def save_changed(
    s: Session, source: str, tab: str, before: int, changes: Sequence[RowChange], length: int
) -> None:
    """Store the rows a cycle re-rendered, and forget positions past the tab's new length.

    Args:
        before: how many rows were stored; changes past it are new rows.
        length: how many rows the tab has now.
    """
    mine = (_TABLE.c.source == source) & (_TABLE.c.tab == tab)
    if length < before:
        s.execute(delete(_TABLE).where(mine, _TABLE.c.position > length))
    updates = [
        {"at": c.position, "new_key": c.key, "new_digest": c.digest, "new_base": c.base}
        for c in changes
        if c.position <= before
    ]
    if updates:
        s.connection().execute(_UPDATE_AT.where(mine), updates)
    added = [
        {
            "source": source,
            "tab": tab,
            "position": c.position,
            "key": c.key,
            "digest": c.digest,
            "base": c.base,
        }
        for c in changes
        if c.position > before
    ]
    insert_rows(s, _TABLE, added)


def save_moved(
    s: Session, source: str, tab: str, origin: Sequence[int | None], changes: Sequence[RowChange]
) -> None:
    """Store a tab's rows after rows were deleted and inserted in it: the rows kept move
    to their new positions (two statements, runs of rows at a time), the others are
    forgotten, and the rows a cycle re-rendered are stored.

    Args:
        origin: for each row now (0-based), the 0-based index of the stored row it was
            (None: a row put in).
    """
    mine = (_TABLE.c.source == source) & (_TABLE.c.tab == tab)
    runs: list[list[int]] = []  # [first old position, last old position, offset]
    for now, was in enumerate(origin):
        if was is None:
            continue
        offset = now - was
        if runs and runs[-1][1] == was and runs[-1][2] == offset:
            runs[-1][1] = was + 1
        else:
            runs.append([was + 1, was + 1, offset])
    gaps, low = [], 1
    for first, last, _ in runs:
        if first > low:
            gaps.append({"low": low, "high": first - 1})
        low = last + 1
    position = _TABLE.c.position
    s.execute(delete(_TABLE).where(mine, position >= low))
    if gaps:
        forget = delete(_TABLE).where(mine, position.between(bindparam("low"), bindparam("high")))
        s.connection().execute(forget, gaps)
    # A run never lands on rows not moved yet: the runs moving up go first, from the top
    # (a run lands above its old place, where the runs above it already left), then the
    # runs moving down, from the bottom (likewise below). One update of each row moved.
    up = [{"low": a, "high": b, "by": d} for a, b, d in runs if d < 0]
    down = [{"low": a, "high": b, "by": d} for a, b, d in reversed(runs) if d > 0]
    if up or down:
        shift = (
            update(_TABLE)
            .where(mine, position.between(bindparam("low"), bindparam("high")))
            .values(position=position + bindparam("by"))
        )
        s.connection().execute(shift, up + down)
    kept = {now + 1 for now, was in enumerate(origin) if was is not None}
    save_changed(s, source, tab, 0, [c for c in changes if c.position not in kept], len(origin))
    updates = [
        {"at": c.position, "new_key": c.key, "new_digest": c.digest, "new_base": c.base}
        for c in changes
        if c.position in kept
    ]
    if updates:
        s.connection().execute(_UPDATE_AT.where(mine), updates)


def row_cells(tab: str, position: int, row: Sequence[CellValue], width: int) -> list[CellSet]:
    """The cells that make a stored row ``row`` (blank past its end, up to ``width``)."""
    return [
        (tab, position, col, row[col] if col < len(row) else None)
        for col in range(max(width, len(row)))
    ]


# -- agents' tabs ------------------------------------------------------------------------------
#
# An agent's tab is stored row by row too, keyed by the number a row shows (Customer # or
# Follow-up #), with what the next cycle's three-way merge needs: the row's values as last
# synced (text), its Sync notes, the fields left to the agent while an admin decides,
# where the row is (0-based row of the grid; -1 when not known yet, for a row appended by
# the last write) and what its cells show after the last write (:func:`shown_digest`).
# The cycle handles them as a :class:`TabRows`; a cycle that re-renders a few customers
# loads and stores those rows alone.

ROW_PARTS = ("rows", "notes", "leave", "at", "shown")
"""The parts of :class:`TabRows` that hold something per number."""


@dataclass
class TabRows:
    """An agent tab's rows as last synced, part by part, each by number.

    Attributes:
        rows: the row's values as last synced, field key -> text (the merge's base).
        notes: the Sync notes the row's own cells caused.
        leave: the fields left as the agent typed them while an admin decides.
        at: the row's 0-based row in the grid, when known.
        shown: the digest of what the row's cells show (:func:`shown_digest`).
        layout: as planned by a write-back: where the tab's header and columns are now
            (stored in the tab's state, not per row).
    """

    rows: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    leave: dict[str, list[str]] = field(default_factory=dict)
    at: dict[str, int] = field(default_factory=dict)
    shown: dict[str, str] = field(default_factory=dict)
    layout: Layout | None = None

    def part(self, name: str) -> dict[str, Any]:
        """One of :data:`ROW_PARTS` by name (for code that treats them all alike)."""
        found: dict[str, Any] = getattr(self, name)
        return found


def shown_digest(cells: Mapping[str, CellValue]) -> str:
    """A digest of what a row's cells show (field key -> cell), as read or as written.

    A row read with the digest it was stored with shows what the last cycle left there,
    cell for cell, so it needs no parsing (:func:`sync.ingest.customers.unchanged_rows`).
    Typed: a date and the text of a date differ, so a cell retyped as text is read again.
    """
    keys = sorted(cells)
    return digest_shown(shown_parts(keys, [cells[key] for key in keys]))


def shown_parts(keys: Sequence[str], cells: Iterable[CellValue]) -> list[str]:
    """What :func:`shown_digest` digests: the keys in order, then each cell typed."""
    return [*keys, *map(_typed, cells)]


def digest_shown(parts: list[str]) -> str:
    return hashlib.blake2b(orjson.dumps(parts), digest_size=12).hexdigest()


def _typed(cell: CellValue) -> str:
    if isinstance(cell, str):  # the common case, first
        return "s" + cell if cell else ""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "b1" if cell else "b0"
    if isinstance(cell, int | float):
        number = float(cell)
        return "n" + (str(int(number)) if number.is_integer() else repr(number))
    if isinstance(cell, dt.datetime):
        if cell.time() == dt.time():
            return "d" + cell.date().isoformat()
        return "t" + cell.isoformat()
    return "d" + cell.isoformat()


def load_tab_rows(s: Session, source: str, tab: str, keys: Iterable[str] | None = None) -> TabRows:
    """An agent tab's stored rows (all, or those of these numbers)."""
    found = TabRows()
    for key, position, base in _keyed(s, _TAB_ROWS, (source, tab), keys):
        base = base or {}
        found.rows[key] = base.get("row", {})
        for part in ("notes", "leave", "shown"):
            if base.get(part):
                found.part(part)[key] = base[part]
        if position >= 0:
            found.at[key] = position
    return found


def save_tab_rows(
    s: Session,
    source: str,
    tab: str,
    snap: TabRows,
    only: Iterable[str] | None = None,
    left: Iterable[str] = (),
) -> int:
    """Store an agent tab's rows as written: the rows that differ from the stored ones
    are updated, new ones inserted, gone ones deleted.

    Args:
        only: these numbers alone were re-rendered: the other stored rows stay as they are.
        left: these numbers' rows were left as they are (still in the sheet, not
            rendered): their stored rows stay too.

    Returns:
        How many stored rows changed.
    """
    keys = None if only is None else set(only)
    wanted: dict[str, tuple[int, str, dict[str, Any]]] = {}
    for key, row in snap.rows.items():
        if keys is not None and key not in keys:
            continue
        base: dict[str, Any] = {"row": row}
        for part in ("notes", "leave"):
            if held := snap.part(part).get(key):
                base[part] = list(held)
        if shown := snap.shown.get(key):
            base["shown"] = shown
        position = snap.at.get(key, -1)
        text = orjson.dumps([position, base], option=orjson.OPT_SORT_KEYS)
        digest = hashlib.blake2b(text, digest_size=12).hexdigest()
        wanted[key] = (position, digest, base)
    gone: list[int] = []
    seen: set[str] = set()
    changed: list[dict[str, Any]] = []
    kept = set(left)
    for row_id, key, digest in _keyed(s, _STORED_DIGESTS, (source, tab), keys):
        if key in kept and key not in wanted and key not in seen:
            seen.add(key)
            continue
        if key not in wanted or key in seen:
            gone.append(row_id)  # gone from the tab, or stored twice
            continue
        seen.add(key)
        position, new_digest, base = wanted[key]
        if new_digest != digest:
            changed.append({"row_id": row_id, "at": position, "d": new_digest, "b": base})
    added = [
        {"source": source, "tab": tab, "position": p, "key": k, "digest": d, "base": b}
        for k, (p, d, b) in wanted.items()
        if k not in seen
    ]
    for start in range(0, len(gone), 500):
        s.execute(delete(_TABLE).where(_TABLE.c.id.in_(gone[start : start + 500])))
    if changed:
        statement = (
            update(_TABLE)
            .where(_TABLE.c.id == bindparam("row_id"))
            .values(position=bindparam("at"), digest=bindparam("d"))
            .values(base=bindparam("b", type_=_TABLE.c.base.type))
        )
        s.connection().execute(statement, changed)
    insert_rows(s, _TABLE, added)
    return len(gone) + len(changed) + len(added)


def forget_places(state: SheetState) -> None:
    """Make the next write-back of an agent's tab read the sheet before it sets any row:
    its stored rows may no longer be where the sheet has them, or may not be all it shows
    (a tab read but not written, a merge that renamed a row's number)."""
    snap = state.tab_snapshot
    if snap.layout is not None:
        snap.layout = None
        state.keep_snapshot(snap)


def forget_tab_rows(s: Session, source: str, tab: str) -> None:
    """Forget an agent tab's stored rows (its sheet is written anew)."""
    s.execute(delete(_TABLE).where(_TABLE.c.source == source, _TABLE.c.tab == tab))


def _keyed(
    s: Session, query: InQuery, of: tuple[str, str], keys: Iterable[str] | None
) -> list[Any]:
    """The query's rows of a tab (``of``: its source and name), for these keys alone (None:
    all), in chunks."""
    params = {"source": of[0], "tab": of[1]}
    return list(read(s, query.query, params)) if keys is None else rows_of(s, query, keys, params)
