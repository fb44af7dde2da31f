"""Bring the master up to date row by row, when its workbook holds the rows the last cycle
wrote there.

A cycle that changed a few customers should not re-render, read and diff a master of
100,000 rows. When nobody touched the master since it was written (its fingerprint is the
one stored), or an admin typed in it but its rows are still the ones written, in place
(the master as read this cycle, compared row by row with the digests stored: the rows
typed over are set again, with the customers they show), and every change since then is
an audit event naming a customer, the cycle:

1. takes the customers named by the audit events since the master was written (dirty);
2. checks that the rows of the Customers, Tracking and Follow-ups tabs are the ones
   stored, in the same order, at most with new rows at the end (:class:`RowOrder`: the
   count and two sums over the rows up to the last one written, from the database,
   against the ones stored), and reads only the new rows; a tab whose rows moved (a
   merge, its undo, a delete or a restore put rows in, took them out or moved them) has
   its keys read in order and matched with the keys stored (:func:`_reordered`): the
   rows kept are moved, the others rendered (their customers, and those of the rows
   gone, are dirty);
3. renders the dirty customers' rows (and the new ones) and the small tabs
   (Conflicts, Sync log, Deleted, Due by agent) whole, but the Conflicts tab while what
   it is rendered from did not move (:func:`~sync.master.conflicts_source`); makes again
   the Commission rows a dirty customer is counted in, or was, from what each customer
   a row counts adds to it (stored with the row), the dirty ones' replaced by what they
   add now; renders the Due follow-ups tab whole on a
   new day, else only the dirty customers' due rows, put where they sort among the rows
   stored (each stored with its date), when they have a due row now or had one (a row
   rendered again as it was stays where it is);
4. sets the cells of every row whose digest differs from the one stored at its position
   (:meth:`~sync.sheets.Backend.set_cells`), without reading the workbook, and updates
   each tab's digest from the changed rows alone (:func:`~sync.sheet_rows.updated_digest`);
   where a tab's rows shift (a row gone from the middle of a sorted list), rows are
   deleted and inserted there (:mod:`sync.row_moves`) instead of every row below rewritten.

Anything else (rows an admin sorted, put in or took out, a cell typed past a tab's columns
or in a row of the Commission or Due follow-ups tabs that is not rendered again, an event
naming no customer, the team renamed, the master trimmed to Google's limit) takes the
whole path in :mod:`sync.cycle`.

At this size because each tab's update (the row tabs, the small tabs, the Commission and
Due follow-ups rows) fills one :class:`RowUpdate` from the same partial load and the same
rows stored; where moved rows go (pure, lists of keys in and moves out) is
:mod:`sync.row_moves`.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.cells import CellValue, Grid, SourceSnapshot
from sync.db import rows_in
from sync.dedupe import value_text
from sync.marks import audit_position, database_marker, team_digest
from sync.master import (
    COMPLETIONS,
    MasterData,
    commission_counted,
    commission_tab_rows,
    conflicts_source,
    customer_rows,
    due_clauses,
    due_order,
    due_order_of,
    due_rows,
    due_trackings,
    follow_up_rows,
    load_master,
    small_tabs,
    stored_bases,
    stored_shares,
    tracking_rows,
)
from sync.master_layout import (
    DUE_LIST_TAB,
    DUE_TAB,
    MASTER_HEADERS,
    MASTER_TABS,
    ROW_TABS,
    master_headers,
    master_look,
    read_resolutions,
    row_key,
)
from sync.model import Agent, AuditEvent, Customer, FollowUp, SheetState, Tracking
from sync.reports import CommissionRow, commission_order, commission_rows
from sync.row_moves import MOVE_FROM, block_moves, merge_blocks, row_moves
from sync.row_order import ROW_ORDERS, NewRow
from sync.sheet_rows import (
    RowChange,
    WrittenTab,
    keys_digest,
    load_placed,
    load_written,
    row_cells,
    row_digest,
    tab_digest,
    updated_digest,
)
from sync.sheets import CellSet, RowMove
from sync.tab_state import TabSnapshot
from sync.views import MASTER_CELL_LIMIT
from sync.words import Language

SMALL_TABS = tuple(tab for tab in MASTER_TABS if tab not in ROW_TABS)

DIRTY_LIMIT = 5000
"""Past this many changed customers (or new rows), the master is rendered whole."""


@dataclass
class RowUpdate:
    """What brings the master up to date: the cells to set and the rows to store.

    Attributes:
        cells: (tab, row, column, value) to set; row 0 is the header.
        changes: tab -> the rows re-rendered whose digest moved.
        before: tab -> how many rows were stored.
        lengths: tab -> how many rows the tab has now.
        digests: tab -> the tab's digest after the update.
        keys: small tab -> the digest of its row keys after the update.
        orders: row tab -> its :class:`RowOrder` after the update.
        snapshot: what the Conflicts tab's state keeps besides its digest (resolutions,
            the audit position, the team), in a :class:`~sync.tab_state.TabSnapshot`.
        marker: :func:`~sync.marks.database_marker` as of the rendered data.
        moves: rows inserted and deleted before the cells are set (small tabs whose rows
            shifted: a row gone from the middle of the Due follow-ups).
        origins: small tab whose rows moved -> for each row now, the 0-based index of the
            row it was among the rows stored (None: a row put in).
    """

    cells: list[CellSet] = field(default_factory=list)
    moves: list[RowMove] = field(default_factory=list)
    origins: dict[str, list[int | None]] = field(default_factory=dict)
    changes: dict[str, list[RowChange]] = field(default_factory=dict)
    before: dict[str, int] = field(default_factory=dict)
    lengths: dict[str, int] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    snapshot: TabSnapshot = field(default_factory=TabSnapshot)
    marker: str = ""


def shown_zone(s: Session, source: str) -> str | None:
    """The zone the master's times were last shown in (None: not written yet, or by an
    earlier version, in UTC)."""
    state = s.execute(
        select(SheetState).where(SheetState.source == source, SheetState.tab == "Conflicts")
    ).scalar_one_or_none()
    return state.tab_snapshot.zone if state is not None else None


def plan_update(
    s: Session,
    source: str,
    states: Mapping[str, SheetState],
    version: str,
    shown_as: tuple[str, Language],
    today: dt.date,
    read: tuple[SourceSnapshot, Mapping[str, str]] | None = None,
) -> RowUpdate | None:
    """The cells that bring the master (at ``version``) up to date, or None when it must
    be rendered whole (see the module's docstring; ``shown_as``: the zone it shows times
    in, which the whole render names in the headers, and its language).

    Args:
        read: the master as read this cycle (an admin typed in it, at ``version``) and why
            resolutions typed there were not applied. Its rows must be the ones stored,
            in place: a row that shows something else is set again (what the admin typed
            and was applied shows as the database has it; the rest is put back).
    """
    zone, language = shown_as
    snaps = {tab: st.tab_snapshot for tab, st in states.items()}
    if len(states) < len(MASTER_TABS):
        return None
    if read is None and any(st.version != version for st in states.values()):
        return None
    if read is not None and (
        read[0].version != version or any(st.version is None for st in states.values())
    ):
        return None  # typed in again since it was read, or not as written before that
    if any(snap.rows is None or snap.digest is None for snap in snaps.values()):
        return None  # written before rows were stored: rendered whole once
    meta = snaps["Conflicts"]
    since = meta.audit
    if not isinstance(since, int) or meta.team != team_digest(s) or meta.zone != zone:
        return None
    if (meta.language or "en") != language:
        return None  # shown in another language: every header and word moves
    marker = database_marker(s, exclude_run=None, runs=True, zone=master_look(zone, language))
    audit = audit_position(s)
    dirty = _dirty_customers(s, since, audit)
    if dirty is None:
        return None
    headers = {tab: row_digest(row) for tab, row in master_headers(zone, language).items()}
    shown: dict[str, dict[int, tuple[str, str]]] = {}
    if read is not None:
        as_read = _as_shown(s, source, read[0].tabs, headers)
        if as_read is None:
            return None
        shown = as_read
        dirty |= _customers_of(
            s, {tab: [key for key, _ in rows.values()] for tab, rows in shown.items()}
        )
    new_rows: dict[str, list[NewRow]] = {}
    moved_rows: dict[str, _Reordered] = {}
    for tab in ROW_TABS:
        stored = snaps[tab].order
        rows = snaps[tab].rows
        if not isinstance(stored, dict) or rows is None:
            return None
        if not ROW_ORDERS[tab].holds(s, stored, rows):
            # A row put in, taken out or moved above the end (a merge, a delete, a
            # restore): the rows kept are moved, the others set.
            reordered = _reordered(s, source, tab, MASTER_CELL_LIMIT // len(MASTER_HEADERS[tab]))
            if reordered is None or shown.get(tab):
                return None
            moved_rows[tab] = reordered
            new_rows[tab] = []
            dirty |= {reordered.rows[at].customer for at in reordered.changed}
            # the customers of the rows gone (a customer merged into another is named by
            # its merge's audit event only as the one merged into)
            dirty |= _customers_of(s, {tab: reordered.gone})
            continue
        found = ROW_ORDERS[tab].rows_after(s, stored.get("last"), DIRTY_LIMIT + 1)
        if len(found) > DIRTY_LIMIT:
            return None
        new_rows[tab] = found
    if sum(len(new) for new in new_rows.values()) > DIRTY_LIMIT:
        return None
    dirty |= {row.customer for new in new_rows.values() for row in new}
    if len(dirty) > DIRTY_LIMIT:
        return None
    # The Due follow-ups: rendered whole on a new day; else the changed customers' rows
    # alone (those of the new rows' too), put among the rows stored, when they have a due
    # follow-up or a row there.
    new_day = states[DUE_TAB].marker != today.isoformat() or snaps[DUE_LIST_TAB].keys is None
    touched = new_day or _due_touched(s, source, dirty, today)

    data = load_master(
        s,
        only=dirty,
        zone=zone,
        today=today,
        due_list=new_day,
        language=language,
        counted=False,
    )
    if any(c not in data.numbers for c in dirty):
        return None  # a changed customer's stored rows could not be told apart
    open_ids = {f"C{k.id}" for k in data.conflicts}
    typed, not_applied = (
        (meta.resolutions, meta.errors)
        if read is None
        else (read_resolutions(read[0].tabs["Conflicts"]), read[1])
    )
    resolutions = {c: t for c, t in typed.items() if c in open_ids}
    errors = {c: why for c, why in not_applied.items() if resolutions.get(c)}

    # The Conflicts tab is kept as written while what it shows did not move (a cycle that
    # opened or closed no conflict): at 50 agents it lists 6,000 of them.
    conflicts_from = conflicts_source(data, resolutions, errors)
    keep_conflicts = (
        meta.conflicts_from == conflicts_from
        and meta.keys is not None
        and not shown.get("Conflicts")
    )
    kept = {DUE_LIST_TAB} if not touched else set()
    kept |= {"Conflicts"} if keep_conflicts else set()
    loaded = tuple(tab for tab in SMALL_TABS if tab not in kept)
    small_tabs_written = load_written(s, source, loaded, bases=(DUE_LIST_TAB, "Commission"))
    if any(len(small_tabs_written[tab].keys) != snaps[tab].rows for tab in loaded):
        return None

    update = RowUpdate(marker=marker)
    for tab in kept:
        _as_written(update, tab, snaps[tab])
    update.snapshot = TabSnapshot(
        resolutions=resolutions,
        errors=errors,
        audit=audit,
        team=meta.team,
        zone=zone,
        language=meta.language,
        conflicts_from=conflicts_from,
    )
    rendered = {
        "Customers": customer_rows(data),
        "Tracking": tracking_rows(data),
        "Follow-ups": follow_up_rows(data),
    }
    for tab in ROW_TABS:
        if tab in moved_rows:
            if not _move_rows(update, moved_rows[tab], rendered[tab], headers[tab], dirty):
                return None
            continue
        placed = _place_rows(
            update,
            (s, source, tab, snaps[tab]),
            new_rows[tab],
            rendered[tab],
            stored_bases(tab, rendered[tab]),
            {at: digest for at, (_, digest) in shown.get(tab, {}).items()},
        )
        if not placed:
            return None
    small = small_tabs(data, resolutions, errors, whole=False, conflicts_too=not keep_conflicts)
    if any(shown.get(tab) for tab in SMALL_TABS if tab not in small):
        return None  # a row typed over in a tab kept row by row by key: rendered whole
    for tab, grid in small.items():
        written = small_tabs_written[tab]
        if shown.get(tab):  # compared with what the rows show, not with what was written
            digests = list(written.digests)
            for at, (_, digest) in shown[tab].items():
                digests[at - 1] = digest
            written = dataclasses.replace(written, digests=digests)
        _replace_small(update, tab, written, grid, stored_bases(tab, grid[1:]))
    loaded_data = (s, data, dirty)
    kept_as_they_are = [
        _update_commission(
            update, loaded_data, (small_tabs_written["Commission"], headers["Commission"])
        )
    ]
    if touched and not new_day:
        kept_as_they_are.append(
            _update_due_list(
                update, loaded_data, (small_tabs_written[DUE_LIST_TAB], headers[DUE_LIST_TAB])
            )
        )
    if not all(kept_as_they_are):
        return None  # what was stored cannot say where the changed rows go: whole
    cells = sum((update.lengths[tab] + 1) * len(MASTER_HEADERS[tab]) for tab in MASTER_TABS)
    if cells > MASTER_CELL_LIMIT:
        return None  # the whole render trims the longest tabs
    return update


def _as_written(update: RowUpdate, tab: str, kept: TabSnapshot) -> None:
    """A small tab kept as written: no row set, its digests as stored."""
    assert kept.rows is not None and kept.digest is not None and kept.keys is not None
    update.changes[tab] = []
    update.before[tab] = update.lengths[tab] = kept.rows
    update.digests[tab] = kept.digest
    update.keys[tab] = kept.keys


def _due_touched(s: Session, source: str, dirty: set[int], today: dt.date) -> bool:
    """Whether the Due follow-ups tab may show something else for these customers: one of
    their trackings is due, or a row there shows one of them (its follow-up was due when
    written). A row is looked for under every agent's name with the customer's number, not
    through the customer's trackings: a customer merged into another has none left, and its
    row must go."""
    if not dirty:
        return False
    t, c = Tracking.__table__.c, Customer.__table__.c
    ids = sorted(dirty)
    due = select(t.id).where(*due_clauses(t, today))
    if rows_in(s, due, t.customer_id, ids):
        return True
    numbers = [number for (number,) in rows_in(s, select(c.number), c.id, ids)]
    names = s.execute(select(Agent.name)).scalars().all()
    keys = {row_key(DUE_LIST_TAB, (name, number)) for name in names for number in numbers}
    return bool(load_placed(s, source, DUE_LIST_TAB, keys))


def _dirty_customers(s: Session, since: int, audit: int) -> set[int] | None:
    """Customers named by the audit events after ``since``; None when one names nobody."""
    if audit <= since:
        return set()
    anonymous = s.execute(
        select(AuditEvent.id)
        .where(AuditEvent.id > since, AuditEvent.id <= audit, AuditEvent.customer_id.is_(None))
        .limit(1)
    ).first()
    if anonymous is not None:
        return None
    found = set(
        s.execute(
            select(AuditEvent.customer_id)
            .distinct()
            .where(AuditEvent.id > since, AuditEvent.id <= audit)
            .limit(DIRTY_LIMIT + 1)
        ).scalars()
    )
    return None if len(found) > DIRTY_LIMIT else {c for c in found if c is not None}


def _place_rows(
    update: RowUpdate,
    stored: tuple[Session, str, str, TabSnapshot],
    new_rows: Sequence[NewRow],
    rows: Sequence[Sequence[Any]],
    bases: Mapping[str, Any],
    shown: Mapping[int, str] = MappingProxyType({}),
) -> bool:
    """Put the re-rendered rows of a row tab at their stored positions (the new rows past
    the end), comparing them with the stored digests of those positions alone (and with
    what the rows at ``shown`` positions show instead, where that differs); False when
    one has no position, a new row or a row in ``shown`` was not rendered (the whole
    render decides)."""
    s, source, tab, snap = stored
    assert snap.rows is not None and snap.digest is not None and snap.order is not None
    before = snap.rows
    keys = [row_key(tab, row) for row in rows]
    found = load_placed(s, source, tab, keys)
    position = {key: at for key, (at, _) in found.items()}
    position.update({row.key: before + i for i, row in enumerate(new_rows, start=1)})
    placed = {}
    for key, row in zip(keys, rows, strict=True):
        at = position.get(key)
        if at is None:
            return False
        placed[at] = (key, row)
    if any(at not in placed for at in range(before + 1, before + len(new_rows) + 1)):
        return False
    if any(at not in placed for at in shown):
        return False
    old = {at: digest for at, digest in found.values()}
    width = len(MASTER_HEADERS[tab])
    changes: list[RowChange] = []
    moved: list[tuple[int, str | None, str | None]] = []
    for at, (key, row) in sorted(placed.items()):
        digest = row_digest(row)
        was = old.get(at)
        if was != digest or shown.get(at, digest) != digest:
            moved.append((at, was, digest))
            update.cells += row_cells(tab, at, row, width)
            changes.append(RowChange(at, key, digest, bases.get(key)))
    update.changes[tab] = changes
    update.before[tab] = before
    update.lengths[tab] = before + len(new_rows)
    update.digests[tab] = updated_digest(snap.digest, moved)
    update.orders[tab] = ROW_ORDERS[tab].extended(snap.order, new_rows)
    return True


@dataclass
class _Reordered:
    """A row tab whose rows moved: its rows stored, its rows now (in order), the moves that
    take the first to the second (:func:`~sync.row_moves.row_moves`) and the rows now that
    are not the stored row there (put in or moved: set again)."""

    tab: str
    written: WrittenTab
    rows: list[NewRow]
    moves: list[RowMove]
    origin: list[int | None]
    changed: list[int]
    gone: list[str]


def _reordered(s: Session, source: str, tab: str, limit: int) -> _Reordered | None:
    """The rows of a row tab whose rows moved since it was written, and where they were;
    None past ``limit`` rows or DIRTY_LIMIT rows to set (rendered whole)."""
    rows = ROW_ORDERS[tab].rows_after(s, None, limit + 1)
    if len(rows) > limit:
        return None
    written = load_written(s, source, (tab,))[tab]
    keys = [row.key for row in rows]
    moves, origin = row_moves(tab, written.keys, keys)
    if not moves:  # by position
        origin = [at if at < len(written.keys) else None for at in range(len(keys))]
    changed = [at for at, was in enumerate(origin) if was is None or written.keys[was] != keys[at]]
    now = set(keys)
    gone = [key for key in written.keys if key not in now]
    if len(changed) + len(gone) > DIRTY_LIMIT:
        return None
    return _Reordered(tab, written, rows, moves, origin, changed, gone)


def _move_rows(
    update: RowUpdate,
    moved: _Reordered,
    rendered: Sequence[Sequence[CellValue]],
    header: str,
    dirty: set[int],
) -> bool:
    """Bring a row tab whose rows moved up to date: the rows kept are moved (or left in
    place), the rows put in or moved and the rows of the changed customers are set from
    ``rendered``; False when one of those was not rendered."""
    tab, written = moved.tab, moved.written
    by_key = {row_key(tab, row): row for row in rendered}
    bases = stored_bases(tab, rendered)
    changed = set(moved.changed)
    digests: list[str] = []
    row_bases: list[Any] = []
    at_hand: dict[int, Sequence[CellValue]] = {}
    for at, row in enumerate(moved.rows):
        was = moved.origin[at]
        if was is not None and at not in changed and row.customer not in dirty:
            digests.append(written.digests[was])  # the row stored there, as it was
            row_bases.append(None)  # (stored already)
            continue
        now = by_key.get(row.key)
        if now is None:
            return False
        at_hand[at] = now
        digests.append(row_digest(now))
        row_bases.append(bases.get(row.key))
    keys = [row.key for row in moved.rows]
    moves_made = (moved.moves, moved.origin if moved.moves else [], at_hand)
    placed = _set_rows(
        update,
        (tab, written),
        (keys, digests, row_bases),
        moves_made,
        header,
        check=sorted(at_hand),
    )
    update.orders[tab] = ROW_ORDERS[tab].extended({"last": None, "sums": [0, 0]}, moved.rows)
    return placed


def _as_shown(
    s: Session, source: str, tabs: Mapping[str, Grid], headers: Mapping[str, str]
) -> dict[str, dict[int, tuple[str, str]]] | None:
    """Where the master as read (``tabs``) shows something else than the rows stored: tab
    -> position (1: the row under the header) -> (the key stored there, the digest of the
    row shown). None when its rows cannot be taken for the stored ones, position by
    position: a header changed, a row put in, taken out or moved (a key not the one
    stored there), a cell typed past a tab's columns, or more rows than DIRTY_LIMIT."""
    written = load_written(s, source, MASTER_TABS)
    shown: dict[str, dict[int, tuple[str, str]]] = {}
    count = 0
    for tab in MASTER_TABS:
        grid = tabs.get(tab)
        if not grid or row_digest(grid[0]) != headers[tab]:
            return None
        stored, width = written[tab], len(MASTER_HEADERS[tab])
        if len(grid) - 1 != len(stored.keys):
            return None
        for at, (row, key, digest) in enumerate(
            zip(grid[1:], stored.keys, stored.digests, strict=True), start=1
        ):
            now = row_digest(row)
            if now == digest:
                continue  # the row written (its key with it)
            if row_key(tab, row) != key:
                return None
            if any(value_text(cell) for cell in row[width:]):
                return None  # the row path sets a tab's columns alone
            shown.setdefault(tab, {})[at] = (key, now)
            count += 1
            if count > DIRTY_LIMIT:
                return None
    return shown


def _customers_of(s: Session, rows: Mapping[str, Sequence[str]]) -> set[int]:
    """The customers of these rows of the row tabs (tab -> the rows' keys)."""
    c, t, f = Customer.__table__.c, Tracking.__table__.c, FollowUp.__table__.c
    keys = {tab: list(rows.get(tab, ())) for tab in ROW_TABS}
    found = [row[0] for row in rows_in(s, select(c.id), c.number, keys["Customers"])]
    ids = [int(key[1:]) for key in keys["Tracking"] if key[1:].isdigit()]
    found += [row[0] for row in rows_in(s, select(t.customer_id), t.id, ids)]
    follow_ups = select(t.customer_id).join(FollowUp.__table__, f.tracking_id == t.id)
    found += [row[0] for row in rows_in(s, follow_ups, f.number, keys["Follow-ups"])]
    return set(found)


def _replace_small(
    update: RowUpdate, tab: str, written: WrittenTab, grid: Grid, bases: Mapping[str, Any]
) -> None:
    """A small tab rendered whole: set the rows that changed, clear the rows past its end
    (:func:`_set_small`)."""
    rows = grid[1:]
    keys = [row_key(tab, row) for row in rows]
    placed = _set_small(
        update,
        (tab, written),
        keys,
        [row_digest(row) for row in rows],
        dict(enumerate(rows)),
        header=row_digest(grid[0]),
        bases=[bases.get(key) for key in keys],
    )
    assert placed  # every row is at hand


def _update_due_list(
    update: RowUpdate,
    loaded: tuple[Session, MasterData, set[int]],
    stored: tuple[WrittenTab, str],
) -> bool:
    """The Due follow-ups tab on the day it was written: the stored rows of the changed
    customers taken out, their due rows put where they sort among the others (by the key
    and date stored with each, not read again: :func:`_update_sorted`). False (render it
    whole) when a row is stored without its date."""
    s, data, dirty = loaded
    written, header = stored
    if any(not isinstance(date, str) for date in written.bases):
        return False
    numbers = {data.numbers[c] for c in dirty}
    keys, dates = written.keys, written.bases
    gone = [at for at, key in enumerate(keys) if key.rpartition("|")[2] in numbers]
    fresh = due_rows(data, due_trackings(s, data.today, sorted(dirty)))
    return _update_sorted(
        update,
        (DUE_LIST_TAB, written, header),
        gone,
        fresh,
        (lambda at: due_order_of(keys[at], dates[at]), due_order),
    )


def _update_commission(
    update: RowUpdate,
    loaded: tuple[Session, MasterData, set[int]],
    stored: tuple[WrittenTab, str],
) -> bool:
    """The Commission tab: each row a changed customer is counted in (a tracking of theirs
    is completed or lost) or was (a stored row counts it) is made again from its shares
    stored (:func:`~sync.master.commission_counted`), the changed customers' replaced by
    what they add now (what a customer adds depends on its own trackings alone); the other
    rows are kept as stored. An agent with a row stored without its shares (by an earlier
    sheetsync) has all its rows counted again from its completions, as before; a row stored
    without even the customers it counts stands for all its agent's trackings. False
    (render it whole) when two agents share a name (rows name agents)."""
    s, data, dirty = loaded
    written, header = stored
    agent_of = {a.name: a for a in data.agents.values()}
    if len(agent_of) != len(data.agents):
        return False
    places: list[tuple[str, int]] = []  # (month, agent id) of each stored row
    for key in written.keys:
        month, _, name = key.partition("|")
        if name not in agent_of:
            return False
        places.append((month, agent_of[name].id))
    t = Tracking.__table__.c
    shares = [stored_shares(base) for base in written.bases]
    legacy: set[int] = set()  # agents with a row stored without its shares
    was: set[int] = set()  # those of them a row of whom counts a changed customer
    unknown: set[int] = set()  # those with a row stored without what it counts
    for (_, agent), had, base in zip(places, shares, written.bases, strict=True):
        if had is not None:
            continue
        legacy.add(agent)
        if not isinstance(base, list):
            unknown.add(agent)
        elif not dirty.isdisjoint(base):
            was.add(agent)
    changed = rows_in(s, COMPLETIONS, t.customer_id, dirty)  # every agent's
    whole = (legacy & {c.agent_id for c in changed}) | was  # counted again, all months
    if unknown:  # those rows stand for all their agent's trackings
        whole |= unknown & {r[0] for r in rows_in(s, select(t.agent_id), t.customer_id, dirty)}
    fresh_rows: list[CommissionRow] = []
    if whole:
        agents = sorted(whole)
        counted = rows_in(s, COMPLETIONS, t.agent_id, agents)
        lost = sorted({c.customer_id for c in counted if c.lost_to_colleague})
        others = COMPLETIONS.where(t.agent_id.not_in(agents))  # when the lost ones were won
        counted += rows_in(s, others, t.customer_id, lost)
        names = {c.customer_id: c.customer_number for c in counted}
        keys = {data.agents[agent].key for agent in whole}
        fresh_rows += [
            row
            for row in commission_rows(data.agents.values(), names, counted)
            if row.agent in keys
        ]
    # The other agents' rows, one by one: the changed customers' shares replaced.
    agent_of_key = {a.key: a for a in data.agents.values()}
    now = {
        (row.month, agent_of_key[row.agent].id): row.shares
        for row in commission_rows(
            data.agents.values(), {c.customer_id: c.customer_number for c in changed}, changed
        )
    }
    remade = {place for place in now if place[1] not in whole}
    remade |= {
        place
        for place, had in zip(places, shares, strict=True)
        if had is not None and place[1] not in whole and not dirty.isdisjoint(had)
    }
    kept = dict(zip(places, shares, strict=True))
    for month, agent in remade:
        row_shares = {c: sh for c, sh in (kept.get((month, agent)) or {}).items() if c not in dirty}
        row_shares.update(now.get((month, agent), {}))
        if row_shares:
            fresh_rows.append(CommissionRow.of_shares(month, data.agents[agent], row_shares))
    fresh_rows.sort(key=lambda row: commission_order(row.month, row.agent))
    fresh = commission_tab_rows(fresh_rows)

    def order(month: str, agent: int) -> tuple[tuple[int, int], str]:
        return commission_order(month, data.agents[agent].key)

    return _update_sorted(
        update,
        ("Commission", written, header),
        [at for at, place in enumerate(places) if place[1] in whole or place in remade],
        fresh,
        (lambda at: order(*places[at]), lambda row: order(str(row[0]), agent_of[str(row[1])].id)),
        commission_counted(fresh, fresh_rows),
    )


def _update_sorted(
    update: RowUpdate,
    stored: tuple[str, WrittenTab, str],
    gone: Sequence[int],
    fresh: Sequence[Sequence[CellValue]],
    orders: tuple[Callable[[int], Any], Callable[[Sequence[CellValue]], Any]],
    fresh_bases: Mapping[str, Any] | None = None,
) -> bool:
    """Bring a sorted small tab up to date from its rows stored: the rows at ``gone``
    taken out, the ``fresh`` rows put before the first stored row that sorts after them
    (found by bisection: ``orders`` gives where the stored row at an index sorts, and
    where a rendered row does), rows moved rather than rewritten. In proportion to the
    change, but for copying the stored lists. ``fresh_bases``: what to store with each
    fresh row, by key (default: :func:`~sync.master.stored_bases`)."""
    tab, written, header = stored
    order_at, order_of = orders
    keys, digests = written.keys, written.digests
    bases = written.bases or [None] * len(keys)
    based = stored_bases(tab, fresh) if fresh_bases is None else fresh_bases
    # A row taken out and rendered again as it was, with what is stored with it, stays
    # where it is (same key, same place).
    again = {row_key(tab, row): row for row in fresh}
    same = {
        at
        for at in gone
        if (row := again.get(keys[at])) is not None
        and row_digest(row) == digests[at]
        and based.get(keys[at]) == bases[at]
    }
    gone = [at for at in gone if at not in same]
    kept = {keys[at] for at in same}
    fresh = sorted((row for row in fresh if row_key(tab, row) not in kept), key=order_of)
    places = [bisect.bisect_left(range(len(keys)), order_of(row), key=order_at) for row in fresh]
    blocks = merge_blocks(len(keys), gone, places)
    new_keys: list[str] = []
    new_digests: list[str] = []
    new_bases: list[Any] = []
    origin: list[int | None] = []
    put: dict[int, Sequence[CellValue]] = {}
    for kind, i1, i2, j1, j2 in blocks:
        if kind == "equal":
            new_keys += keys[i1:i2]
            new_digests += digests[i1:i2]
            new_bases += bases[i1:i2]
            origin += range(i1, i2)
            continue
        for at in range(j1, j2):
            row = fresh[len(put)]
            put[at] = row
            key = row_key(tab, row)
            new_keys.append(key)
            new_digests.append(row_digest(row))
            new_bases.append(based.get(key))
            # a row put where one was taken out is set in its place, unless it is the same
            origin.append(i1 + at - j1 if at - j1 < i2 - i1 else None)
    moves, origin = block_moves(tab, blocks, origin, len(keys), len(new_keys), 1)
    return _set_rows(
        update,
        (tab, written),
        (new_keys, new_digests, new_bases),
        (moves, origin, put),
        header,
        check=sorted(put),
    )


def _set_small(
    update: RowUpdate,
    stored: tuple[str, WrittenTab],
    keys: Sequence[str],
    digests: Sequence[str],
    rows: Mapping[int, Sequence[CellValue]],
    *,
    header: str,
    bases: Sequence[Any],
    move_from: int = MOVE_FROM,
) -> bool:
    """Bring a small tab from its rows stored to these rows (keys and digests; the rows
    at hand by index): rows are matched by key with the rows stored (:func:`row_moves`);
    when a row gone from the middle (or put in it) would shift ``move_from`` rows or more,
    rows are deleted (inserted) there and the rows below are left as they are; else every
    row whose key or digest moved at its position is set. The rows past the end are
    cleared. False when a row to set is not at hand."""
    tab, written = stored
    moves, origin = row_moves(tab, written.keys, keys, move_from)
    return _set_rows(update, stored, (keys, digests, bases), (moves, origin, rows), header)


def _set_rows(
    update: RowUpdate,
    stored: tuple[str, WrittenTab],
    now: tuple[Sequence[str], Sequence[str], Sequence[Any]],
    moved: tuple[list[RowMove], list[int | None], Mapping[int, Sequence[CellValue]]],
    header: str,
    *,
    check: Sequence[int] | None = None,
) -> bool:
    """:func:`_set_small` once the moves are known: the rows now (keys, digests, bases),
    the moves, for each row now the index of the stored row there (empty: no moves, rows
    compared by position) and the rows at hand; with ``check``, the rows that may differ
    from the stored row there (with moves, the others are known to be the ones stored)."""
    tab, written = stored
    keys, digests, bases = now
    moves, origin, rows = moved
    width = len(MASTER_HEADERS[tab])
    if moves:
        update.moves += moves
        update.origins[tab] = origin
    else:  # by position
        check = None
        origin = [at if at < len(written.keys) else None for at in range(len(keys))]
    changes: list[RowChange] = []
    for at in range(len(keys)) if check is None else check:
        key, digest, was = keys[at], digests[at], origin[at]
        if was is None or (written.keys[was], written.digests[was]) != (key, digest):
            row = rows.get(at)
            if row is None:
                return False
            update.cells += row_cells(tab, at + 1, row, width)
            changes.append(RowChange(at + 1, key, digest, bases[at]))
    after_moves = len(written.digests) + sum(move.count for move in moves)
    for at in range(len(keys) + 1, after_moves + 1):
        update.cells += row_cells(tab, at, [], width)
    update.changes[tab] = changes
    update.before[tab] = len(written.digests)
    update.lengths[tab] = len(keys)
    update.digests[tab] = tab_digest([header, *digests])
    update.keys[tab] = keys_digest(keys)
    return True
