"""Rendering: what each agent's rows and the master tabs should show. Pure functions.

The agent view holds the shared contact fields, that agent's own tracking, the
names and since-dates of co-tracking agents, and that agent's sync notes —
nothing else of any other agent (DESIGN.md promise 2). Callers hand in plain
data built from the database; nothing here queries or writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from sync.cells import CellValue, CellWrite
from sync.dedupe import format_phone, value_text
from sync.fields import AGENT_KEYS, FIELDS_BY_KEY, SHARED_KEYS, Field, Kind
from sync.long_text import shows_cut_of, too_long
from sync.values import choice
from sync.words import Language, header, say

MASTER_CELL_LIMIT = 10_000_000  # a Google spreadsheet holds at most 10 million cells


@dataclass(frozen=True)
class CoTracker:
    """Another agent tracking the same customer: name and since when, nothing else."""

    name: str
    since: dt.date


@dataclass
class AgentRow:
    """The data one agent may see for one customer."""

    number: str
    phone: str
    shared: dict[str, object]
    tracking: dict[str, object]
    commission_pct: float | None
    co_trackers: list[CoTracker] = field(default_factory=list)
    db_notes: list[str] = field(default_factory=list)
    pending: frozenset[str] = frozenset()  # shared fields with this agent's open proposal
    proposals: dict[str, str] = field(default_factory=dict)  # pending field -> proposed value
    cell_limit: int | None = None  # the most characters a cell of the agent's sheet holds
    removed: str | None = None  # the customer was deleted by an admin: the row's note
    language: Language = "en"  # the agent's sheet's


def also_tracked_by(co_trackers: Iterable[CoTracker], language: Language = "en") -> str:
    """'Sara Ahmed (since 2026-01-11); ...', oldest first (in ``language``)."""
    ordered = sorted(co_trackers, key=lambda c: (c.since, c.name))
    return "; ".join(say("since", language, name=c.name, date=c.since.isoformat()) for c in ordered)


def render_agent_row(row: AgentRow, sheet_notes: Sequence[str]) -> dict[str, object]:
    """The value every sync-managed column of one bound row should hold.

    Fields with a pending proposal of this agent are left out (the sheet keeps
    the proposed value while the admin decides); so is Phone, which the agent
    typed and which already identifies this customer. A customer an admin deleted gets
    its note alone: the rest of the row is no longer synced.
    """
    values: dict[str, object] = {"customer_number": row.number}
    if row.removed is not None:
        values["sync_notes"] = join_notes([*sheet_notes, row.removed])
        return values
    for key in SHARED_KEYS:
        if key != "phone" and key not in row.pending:
            values[key] = row.shared.get(key)
    for key in AGENT_KEYS:
        values[key] = row.tracking.get(key)
    values["commission_pct"] = row.commission_pct
    values["also_tracked_by"] = also_tracked_by(row.co_trackers, row.language) or None
    values["sync_notes"] = join_notes([*sheet_notes, *row.db_notes, *_cut_notes(row, values)])
    return values


def _cut_notes(row: AgentRow, values: Mapping[str, object]) -> list[str]:
    """Notes for the values longer than a cell of the agent's sheet holds."""
    limit = row.cell_limit
    if limit is None:
        return []
    return [
        say(
            "too_long",
            row.language,
            title=header(FIELDS_BY_KEY[key], row.language),
            length=f"{len(value):,}",
            limit=f"{limit:,}",
            number=row.number,
        )
        for key, value in values.items()
        if isinstance(value, str) and 2 * len(value) > limit and too_long(value, limit)
    ]


def render_new_agent_row(row: AgentRow) -> dict[str, object]:
    """All columns of a row appended to an agent's tab (a tracking the sheet doesn't have yet).

    A shared field this agent has an open proposal for (an import found it in the team's
    old sheet) shows that proposal, with the Sync notes the agent's own typing would get.
    """
    values = render_agent_row(row, proposal_notes(row))
    for key in row.pending:
        if key in row.proposals:
            values[key] = row.proposals[key]
    values["phone"] = format_phone(row.phone)
    return values


def proposal_notes(row: AgentRow) -> list[str]:
    """The Sync notes of the row's pending proposals, worded as ``Ingest`` flags them (so a
    re-read of the appended row writes nothing)."""
    return [
        say(
            "awaits_admin",
            row.language,
            title=header(FIELDS_BY_KEY[key], row.language),
            mine=row.proposals[key],
            current=value_text(row.shared.get(key)),
        )
        for key in SHARED_KEYS
        if key in row.pending and key in row.proposals
    ]


def join_notes(notes: Iterable[str]) -> str | None:
    unique = list(dict.fromkeys(n for n in notes if n))
    return "; ".join(unique) if unique else None


def cell_for(value: object) -> CellValue:
    """The cell value written for a typed value: text stays text, dates stay dates."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date | int | float | str):
        return value
    return str(value)


@dataclass
class RowPlan:
    """Desired values for one existing row, and how to find that row again.

    Attributes:
        texts: field key -> canonical text of the cell as parsed, compared instead of
            the cell as read (``current``) where given.
    """

    index: int
    values: Mapping[str, object]
    current: Mapping[str, CellValue]
    anchor: tuple[tuple[str, CellValue], ...]
    texts: Mapping[str, str] = field(default_factory=dict)


def cell_in(field: Field, value: object, language: Language) -> CellValue:
    """The cell written for a value in a sheet in ``language``: :func:`cell_for`, a choice in
    the sheet's words (``مكتمل``). (Compared as the canonical value, it is written in the
    sheet's words.)"""
    if field.kind is Kind.ENUM and isinstance(value, str) and language != "en":
        return choice(value, language)
    return cell_for(value)


def plan_writes(
    tab: str,
    header_row: int,
    fields: Mapping[str, Field],
    titles: Mapping[str, str],
    rows: Iterable[RowPlan],
    appended: Iterable[tuple[str, Mapping[str, object]]] = (),
    language: Language = "en",
) -> list[CellWrite]:
    """The cells of one agent tab that differ from what they should be.

    A cell is written only when its value, read as its field's type, differs
    from the desired value (so ``15/01/2026`` typed by an agent is not rewritten
    as ``2026-01-15``), and does not show it cut to fit (:mod:`sync.long_text`).

    Args:
        fields: field key -> field, for the tab's fields.
        titles: field key -> header text in this sheet (missing keys get the default header).
        rows: existing rows and their desired values.
        appended: (group id, values) for rows to append.
        language: the sheet's: choices are written in its words, and a column the sheet
            lacks gets its header in it.
    """
    writes: list[CellWrite] = []
    for plan in rows:
        texts = plan.texts
        for key, desired in plan.values.items():
            raw = plan.current.get(key)
            now = texts.get(key)
            if now is None:
                now = value_text(raw)
            wanted = value_text(desired)
            if now == wanted or shows_cut_of(now, wanted):
                continue  # it shows that value (cut, when longer than its cells hold)
            writes.append(
                CellWrite(
                    tab,
                    header_row,
                    titles.get(key) or header(fields[key], language),
                    plan.index,
                    raw if raw is not None else "",
                    cell_in(fields[key], desired, language),
                    plan.anchor,
                )
            )
    for group, values in appended:
        for key, desired in values.items():
            if key in fields and desired is not None and desired != "":
                writes.append(
                    CellWrite(
                        tab,
                        header_row,
                        titles.get(key) or header(fields[key], language),
                        None,
                        "",
                        cell_in(fields[key], desired, language),
                        (),
                        group,
                    )
                )
    return writes


def grid_changes(
    tab: str, current: Sequence[Sequence[CellValue]], desired: Sequence[Sequence[CellValue]]
) -> list[tuple[str, int, int, CellValue, CellValue]]:
    """Positional cell diff of a sync-owned tab (the master): (tab, row, column, value read,
    value wanted) of every cell that differs, the rest of the old rows cleared."""
    return list(_grid_diff(tab, current, desired))


def grid_cells(
    tab: str, current: Sequence[Sequence[CellValue]], desired: Sequence[Sequence[CellValue]]
) -> Iterator[tuple[str, int, int, CellValue]]:
    """The cells of :func:`grid_changes` to set, (tab, row, column, value wanted), made one
    at a time: a cold master is millions of them."""
    return ((t, r, c, new) for t, r, c, _, new in _grid_diff(tab, current, desired))


def _grid_diff(
    tab: str, current: Sequence[Sequence[CellValue]], desired: Sequence[Sequence[CellValue]]
) -> Iterator[tuple[str, int, int, CellValue, CellValue]]:
    height = max(len(current), len(desired))
    for r in range(height):
        have = current[r] if r < len(current) else []
        want = desired[r] if r < len(desired) else []
        if list(have) == list(want):
            continue  # the common case, compared in C; types that differ go cell by cell
        if not have:  # a new row (every row of a first write): its non-blank cells
            yield from ((tab, r, c, None, new) for c, new in enumerate(want) if value_text(new))
            continue
        for c in range(max(len(have), len(want))):
            old = have[c] if c < len(have) else None
            new = want[c] if c < len(want) else None
            if value_text(old) != value_text(new):
                yield (tab, r, c, old, new)


def plan_grid_writes(
    changes: Sequence[tuple[str, int, int, CellValue, CellValue]],
) -> list[CellWrite]:
    """The compare-and-set writes of :func:`grid_changes` (each cell as it was read)."""
    return [
        CellWrite(tab, 0, "", r, old if old is not None else "", new, col=c)
        for tab, r, c, old, new in changes
    ]
