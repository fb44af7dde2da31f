"""Bring the master up to date row by row, when its workbook is as the last cycle wrote it.

A cycle that changed a few customers should not re-render, read and diff a master of
100,000 rows. When nobody touched the master since it was written (its fingerprint is the
one stored) and every change since then is an audit event naming a customer, the cycle:

1. takes the customers named by the audit events since the master was written (dirty);
2. checks that the rows of the Customers, Tracking and Follow-ups tabs are the ones
   stored, in the same order, at most with new rows at the end (a digest of their keys,
   against the one stored; else: whole render);
3. renders the dirty customers' rows (and the new ones) and the three small tabs
   (Conflicts, Commission, Sync log) whole;
4. sets the cells of every row whose digest differs from the one stored at its position
   (:meth:`~sync.sheets.Backend.set_cells`), without reading the workbook, and updates
   each tab's digest from the changed rows alone (:func:`~sync.sheet_rows.updated_digest`).

Anything else (an admin's edit, a merge, an event naming no customer, the team renamed,
the master trimmed to Google's limit) takes the whole path in :mod:`sync.cycle`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sync.db import read
from sync.marks import database_marker, team_digest
from sync.master import (
    MASTER_HEADERS,
    MASTER_TABS,
    ROW_ORDER,
    ROW_TABS,
    customer_rows,
    follow_up_rows,
    load_master,
    row_bases,
    row_key,
    small_tabs,
    tracking_rows,
)
from sync.model import AuditEvent, Customer, FollowUp, SheetState, Tracking
from sync.sheet_rows import (
    RowChange,
    WrittenTab,
    keys_digest,
    load_digests,
    load_written,
    row_cells,
    row_digest,
    tab_digest,
    updated_digest,
)
from sync.sheets import CellSet
from sync.views import MASTER_CELL_LIMIT

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
        keys: tab -> the digest of its row keys after the update.
        snapshot: what the Conflicts tab's state keeps besides its digest (resolutions,
            the audit position, the team).
        marker: :func:`~sync.marks.database_marker` as of the rendered data.
    """

    cells: list[CellSet] = field(default_factory=list)
    changes: dict[str, list[RowChange]] = field(default_factory=dict)
    before: dict[str, int] = field(default_factory=dict)
    lengths: dict[str, int] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    snapshot: dict[str, Any] = field(default_factory=dict)
    marker: str = ""


def audit_position(s: Session) -> int:
    """The newest audit event's id: a master rendered now has seen every event up to it."""
    return s.execute(select(func.max(AuditEvent.id))).scalar() or 0


def plan_update(
    s: Session, source: str, states: Mapping[str, SheetState], version: str
) -> RowUpdate | None:
    """The cells that bring the master (at ``version``) up to date, or None when it must
    be rendered whole (see the module's docstring)."""
    snaps = {tab: st.snapshot or {} for tab, st in states.items()}
    if len(states) < len(MASTER_TABS) or any(st.version != version for st in states.values()):
        return None
    if any("rows" not in snap or "digest" not in snap for snap in snaps.values()):
        return None  # written before rows were stored: rendered whole once
    meta = snaps["Conflicts"]
    since = meta.get("audit")
    if not isinstance(since, int) or meta.get("team") != team_digest(s):
        return None
    marker = database_marker(s, exclude_run=None, runs=True)
    audit = audit_position(s)
    dirty = _dirty_customers(s, since, audit)
    if dirty is None:
        return None
    small_tabs_written = load_written(s, source, SMALL_TABS)
    if any(len(small_tabs_written[tab].keys) != snaps[tab]["rows"] for tab in SMALL_TABS):
        return None
    keys = _current_keys(s)
    for tab in ROW_TABS:
        stored = snaps[tab]["rows"]
        if "keys" not in snaps[tab] or keys_digest(keys[tab][:stored]) != snaps[tab]["keys"]:
            return None  # a row inserted or removed above the end: positions moved
    new_rows = {tab: keys[tab][snaps[tab]["rows"] :] for tab in ROW_TABS}
    if sum(len(new) for new in new_rows.values()) > DIRTY_LIMIT:
        return None
    dirty |= _customers_of(s, new_rows)
    if len(dirty) > DIRTY_LIMIT:
        return None

    data = load_master(s, only=dirty)
    open_ids = {f"C{k.id}" for k in data.conflicts}
    resolutions = {c: t for c, t in (meta.get("resolutions") or {}).items() if c in open_ids}
    errors = {c: why for c, why in (meta.get("errors") or {}).items() if resolutions.get(c)}
    small = small_tabs(data, resolutions, errors)
    sizes = {
        **{tab: len(keys[tab]) for tab in ROW_TABS},
        **{t: len(g) - 1 for t, g in small.items()},
    }
    if sum((n + 1) * len(MASTER_HEADERS[tab]) for tab, n in sizes.items()) > MASTER_CELL_LIMIT:
        return None  # the whole render trims the longest tabs

    update = RowUpdate(marker=marker)
    update.snapshot = {"resolutions": resolutions, "audit": audit, "team": meta.get("team")}
    if errors:
        update.snapshot["errors"] = errors
    bases = row_bases(data)
    rendered = {
        "Customers": customer_rows(data),
        "Tracking": tracking_rows(data),
        "Follow-ups": follow_up_rows(data),
    }
    for tab in ROW_TABS:
        placed = _place_rows(
            update, (s, source, tab, snaps[tab]), keys[tab], rendered[tab], bases.get(tab, {})
        )
        if not placed:
            return None
    for tab, grid in small.items():
        _replace_small(update, tab, small_tabs_written[tab], grid[1:])
    return update


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


def _current_keys(s: Session) -> dict[str, list[str]]:
    """The keys of the row tabs' rows in the order ``load_master`` renders them (read as
    plain rows: a big team's master has a few hundred thousand)."""
    customers = read(
        s,
        select(Customer.number)
        .where(Customer.merged_into_id.is_(None))
        .order_by(*ROW_ORDER["Customers"]),
    )
    trackings = read(s, select(Tracking.id).order_by(*ROW_ORDER["Tracking"]))
    follow_ups = read(
        s,
        select(FollowUp.number)
        .join(Tracking, Tracking.id == FollowUp.tracking_id)
        .order_by(*ROW_ORDER["Follow-ups"]),
    )
    return {
        "Customers": [number for (number,) in customers],
        "Tracking": [f"T{i}" for (i,) in trackings],
        "Follow-ups": [number for (number,) in follow_ups],
    }


def _customers_of(s: Session, new_rows: Mapping[str, Sequence[str]]) -> set[int]:
    """The customers the new rows of the row tabs show."""
    found: set[int] = set()
    queries = [
        (select(Customer.id).where(Customer.number.in_(new_rows["Customers"]))),
        (
            select(Tracking.customer_id).where(
                Tracking.id.in_([int(k[1:]) for k in new_rows["Tracking"]])
            )
        ),
        (
            select(Tracking.customer_id)
            .join(FollowUp, FollowUp.tracking_id == Tracking.id)
            .where(FollowUp.number.in_(new_rows["Follow-ups"]))
        ),
    ]
    for query in queries:
        found.update(s.execute(query).scalars())
    return found


def _place_rows(
    update: RowUpdate,
    stored: tuple[Session, str, str, Mapping[str, Any]],
    keys: Sequence[str],
    rows: Sequence[Sequence[Any]],
    bases: Mapping[str, Any],
) -> bool:
    """Put the re-rendered rows of a row tab at their keys' positions, comparing them with
    the stored digests of those positions alone; False when one has no position or a new
    row was not rendered (the whole render decides)."""
    s, source, tab, snap = stored
    before = snap["rows"]
    position = {key: i for i, key in enumerate(keys, start=1)}
    placed = {}
    for row in rows:
        key = row_key(tab, row)
        at = position.get(key)
        if at is None:
            return False
        placed[at] = (key, row)
    if any(at not in placed for at in range(before + 1, len(keys) + 1)):
        return False
    old = load_digests(s, source, tab, [at for at in placed if at <= before])
    width = len(MASTER_HEADERS[tab])
    changes: list[RowChange] = []
    moved: list[tuple[int, str | None, str | None]] = []
    for at, (key, row) in sorted(placed.items()):
        digest = row_digest(row)
        was = old.get(at)
        if at <= before and was is None:
            return False  # a stored row missing: rendered whole
        if was != digest:
            moved.append((at, was, digest))
            update.cells += row_cells(tab, at, row, width)
            changes.append(RowChange(at, key, digest, bases.get(key)))
    update.changes[tab] = changes
    update.before[tab] = before
    update.lengths[tab] = len(keys)
    update.digests[tab] = updated_digest(snap["digest"], moved)
    update.keys[tab] = keys_digest(keys)
    return True


def _replace_small(
    update: RowUpdate, tab: str, written: WrittenTab, rows: Sequence[Sequence[Any]]
) -> None:
    """A small tab rendered whole: set the rows that moved, clear the rows past its end."""
    width = len(MASTER_HEADERS[tab])
    keys = [row_key(tab, row) for row in rows]
    digests = [row_digest(row) for row in rows]
    changes: list[RowChange] = []
    stored = list(zip(written.keys, written.digests, strict=True))
    for at, (row, key, digest) in enumerate(zip(rows, keys, digests, strict=True), start=1):
        if at > len(stored) or stored[at - 1] != (key, digest):
            update.cells += row_cells(tab, at, row, width)
            changes.append(RowChange(at, key, digest))
    for at in range(len(rows) + 1, len(written.digests) + 1):
        update.cells += row_cells(tab, at, [], width)
    update.changes[tab] = changes
    update.before[tab] = len(written.digests)
    update.lengths[tab] = len(rows)
    update.digests[tab] = tab_digest([row_digest(MASTER_HEADERS[tab]), *digests])
    update.keys[tab] = keys_digest(keys)
