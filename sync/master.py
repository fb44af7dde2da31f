"""The admin's master workbook: every customer once, every agent's tracking side by side.

``load_master`` reads what the tabs need from the database in a few queries;
``render_master`` turns it into grids (pure). The tabs are sync-owned and
rewritten by a positional cell diff, except the Conflicts tab's Resolution
column, which is the admin's and is carried over by conflict ID. What the admin
types elsewhere (shared fields in Customers, Commission % in Tracking) is read back
by ``sync.admin.from_master`` against :func:`master_bases`, what was last written.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.admin.resolve import hint
from sync.cells import CellValue, Grid, cell_text
from sync.dedupe import format_phone, value_text
from sync.fields import AGENT_KEYS, FIELDS_BY_KEY, SHARED_KEYS, STATUSES
from sync.model import Agent, Conflict, Customer, FollowUp, SyncRun, Tracking
from sync.reports import commission_rows
from sync.views import MASTER_CELL_LIMIT

MASTER_TABS = ("Customers", "Tracking", "Follow-ups", "Conflicts", "Commission", "Sync log")
RESOLUTION = "Resolution"
RESOLUTION_NOTE = "Resolution note"
HOW_TO_RESOLVE = "How to resolve"
RESOLUTION_HELP = (
    "Type one of these words, then sync:\n"
    "keep - the current value stays\n"
    "accept - take the proposed value (a phone change: the new phone; a mass removal: "
    "apply it)\n"
    "value: TEXT - set this instead (a completion race: the agent who gets the commission)\n"
    "merge into CUS-... - one person, two customers: merge the other into this one\n"
    "dismiss - close it, change nothing\n"
    "Each row's How to resolve column lists the words it takes. Words that cannot be "
    "applied stay, with the reason in Resolution note."
)
"""The note on the Conflicts tab's Resolution header (set by ``sheetsync init``)."""
MASTER_NOTES = {"Conflicts": {RESOLUTION: RESOLUTION_HELP}}
TRACKING_ID = "Tracking ID"
COMMISSION_PCT = "Commission %"
SYNC_LOG_RUNS = 200
STATUS_RANK = {s: i for i, s in enumerate(STATUSES)} | {"Lost": -1}

CUSTOMER_HEADERS = [
    "Customer #",
    *(FIELDS_BY_KEY[k].header for k in SHARED_KEYS),
    "Agents",
    "Tracked by",
    "Closest to completion",
    "Created",
]
TRACKING_HEADERS = [
    "Customer #",
    "Name",
    "Phone",
    "Agent",
    *(FIELDS_BY_KEY[k].header for k in AGENT_KEYS),
    COMMISSION_PCT,
    "Active",
    "Lost to colleague",
    "Tracked since",
    "Last update",
    TRACKING_ID,
]
FOLLOW_UP_HEADERS = [
    "Follow-up #",
    "Customer #",
    "Name",
    "Agent",
    "Date",
    "Type",
    "Method",
    "Notes",
    "Next action",
    "Active",
]
CONFLICT_HEADERS = [
    "ID",
    "Kind",
    "Customer #",
    "Agent",
    "Field",
    "Current value",
    "Proposed value",
    "Details",
    "Opened",
    HOW_TO_RESOLVE,
    RESOLUTION,
    RESOLUTION_NOTE,
]
COMMISSION_HEADERS = [
    "Month",
    "Agent",
    "Completed",
    "Completed customers",
    "Commission (customers)",
    "Lost to colleague",
]
SYNC_LOG_HEADERS = [
    "Run",
    "Started",
    "Finished",
    "Status",
    "Rows read",
    "Customers created",
    "Trackings added",
    "Cells written",
    "Conflicts opened",
    "Agents failed",
    "Errors",
]


@dataclass
class MasterData:
    """What the master shows. Customers, trackings and follow-ups are plain result rows
    (attribute access by column name, no ORM identity map): at 100,000 trackings, building
    ORM objects cost more than rendering them."""

    agents: dict[int, Agent]
    customers: Sequence[Any]  # rows of the customers table
    trackings: Sequence[Any]  # rows of the trackings table
    follow_ups: Sequence[tuple[Any, Any]]  # (follow-up row, its tracking's customer/agent ids)
    conflicts: list[Conflict]
    runs: list[SyncRun]
    # customer id -> phone as shown: formatted once per cycle for the tabs and the bases
    # (libphonenumber's formatting is the costliest step of rendering 100,000 rows)
    phones: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.phones:
            self.phones = {c.id: format_phone(c.phone) for c in self.customers}


def load_master(session: Session) -> MasterData:
    agents = {a.id: a for a in session.execute(select(Agent)).scalars()}
    customer_table, tracking_table = Customer.__table__, Tracking.__table__
    customers = session.execute(select(customer_table).order_by(customer_table.c.number)).all()
    trackings = session.execute(
        select(tracking_table).order_by(tracking_table.c.customer_id, tracking_table.c.agent_id)
    ).all()
    follow_ups = [
        (row, row)
        for row in session.execute(
            select(FollowUp.__table__, Tracking.customer_id, Tracking.agent_id)
            .join(Tracking, Tracking.id == FollowUp.tracking_id)
            .order_by(FollowUp.number)
        ).all()
    ]
    conflicts = list(
        session.execute(
            select(Conflict).where(Conflict.status == "open").order_by(Conflict.id)
        ).scalars()
    )
    runs = list(
        session.execute(
            select(SyncRun)
            .where(SyncRun.finished_at.is_not(None))
            .order_by(SyncRun.id.desc())
            .limit(SYNC_LOG_RUNS)
        ).scalars()
    )
    return MasterData(agents, customers, trackings, follow_ups, conflicts, runs)


def _cell(value: object) -> CellValue:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.date | int | float | str):
        return value
    return str(value)


def render_master(
    data: MasterData,
    resolutions: Mapping[str, str],
    errors: Mapping[str, str] | None = None,
) -> tuple[dict[str, Grid], list[str]]:
    """The master tabs as grids, and warnings (e.g. trimmed to stay under Google's cell limit).

    Args:
        resolutions: conflict ID -> what the admin typed in the Resolution column.
        errors: conflict ID -> why that resolution could not be applied.
    """
    errors = errors or {}
    by_customer: dict[int, list[Any]] = defaultdict(list)
    for t in data.trackings:
        by_customer[t.customer_id].append(t)
    numbers = {c.id: c for c in data.customers}
    name = {a.id: a.name for a in data.agents.values()}

    customers: Grid = [list(CUSTOMER_HEADERS)]
    for c in data.customers:
        if c.merged_into_id is not None:
            continue
        active = [t for t in by_customer[c.id] if t.active]
        closest = max(
            active,
            key=lambda t: (not t.lost_to_colleague, STATUS_RANK.get(t.status or "", 0), -t.id),
            default=None,
        )
        customers.append(
            [
                c.number,
                *(_cell(data.phones[c.id] if k == "phone" else getattr(c, k)) for k in SHARED_KEYS),
                len(active),
                ", ".join(name[t.agent_id] for t in active) or None,
                f"{name[closest.agent_id]} ({closest.status or 'no status'})" if closest else None,
                _cell(c.created_at),
            ]
        )

    tracking: Grid = [list(TRACKING_HEADERS)]
    for t in data.trackings:
        c = numbers[t.customer_id]
        tracking.append(
            [
                c.number,
                c.name,
                data.phones[c.id],
                name[t.agent_id],
                *(_cell(getattr(t, k)) for k in AGENT_KEYS),
                t.commission_pct,
                _cell(t.active),
                _cell(t.lost_to_colleague),
                _cell(t.tracked_since),
                _cell(t.last_update),
                f"T{t.id}",
            ]
        )

    follow_ups: Grid = [list(FOLLOW_UP_HEADERS)]
    for f, t in data.follow_ups:
        c = numbers[t.customer_id]
        follow_ups.append(
            [
                f.number,
                c.number,
                c.name,
                name[t.agent_id],
                _cell(f.date),
                f.type,
                f.method,
                f.notes,
                f.next_action,
                _cell(f.active),
            ]
        )

    conflicts: Grid = [list(CONFLICT_HEADERS)]
    for k in data.conflicts:
        cid = f"C{k.id}"
        customer = numbers.get(k.customer_id) if k.customer_id else None
        details = (k.details or {}).get("message") or _details_text(k.details or {})
        conflicts.append(
            [
                cid,
                k.kind,
                customer.number if customer else None,
                name.get(k.agent_id) if k.agent_id else None,
                k.field,
                k.current_value,
                k.proposed_value,
                details,
                _cell(k.opened_at),
                hint(k.kind),
                resolutions.get(cid),
                errors.get(cid) if resolutions.get(cid) else None,
            ]
        )

    commission: Grid = [list(COMMISSION_HEADERS)]
    for row in commission_rows(
        data.agents.values(), {c.id: c.number for c in data.customers}, data.trackings
    ):
        commission.append(
            [
                row.month,
                row.name,
                row.completed,
                ", ".join(row.customers),
                round(row.commission, 2),
                row.lost_to_colleague,
            ]
        )

    log: Grid = [list(SYNC_LOG_HEADERS)]
    for run in data.runs:
        s = run.stats or {}
        log.append(
            [
                run.id,
                _cell(run.started_at),
                _cell(run.finished_at),
                run.status,
                s.get("rows_read"),
                s.get("customers_created"),
                s.get("trackings_added"),
                s.get("cells_written"),
                s.get("conflicts_opened"),
                s.get("agents_failed"),
                "; ".join(f"{k}: {v}" for k, v in (run.errors or {}).items()) or None,
            ]
        )

    grids = {
        "Customers": customers,
        "Tracking": tracking,
        "Follow-ups": follow_ups,
        "Conflicts": conflicts,
        "Commission": commission,
        "Sync log": log,
    }
    return grids, _trim_to_limit(grids)


def _details_text(details: Mapping[str, object]) -> str | None:
    parts = [f"{k}: {v}" for k, v in details.items() if k not in ("values",)]
    return "; ".join(parts) or None


def _trim_to_limit(grids: dict[str, Grid]) -> list[str]:
    """Keep the master under Google's 10-million-cell limit by trimming the longest logs first."""

    def cells() -> int:
        return sum(len(g) * max((len(r) for r in g), default=0) for g in grids.values())

    warnings: list[str] = []
    for tab in ("Sync log", "Follow-ups", "Tracking"):
        total = cells()
        if total <= MASTER_CELL_LIMIT:
            break
        width = len(grids[tab][0])
        keep = max(1, len(grids[tab]) - (total - MASTER_CELL_LIMIT) // width - 1)
        warnings.append(
            f"master tab {tab} trimmed to {keep - 1} rows to stay under {MASTER_CELL_LIMIT:,} cells"
        )
        del grids[tab][keep:]
    return warnings


def read_resolutions(grid: Grid) -> dict[str, str]:
    """Conflict ID -> the admin's typed resolution, from the Conflicts tab as read."""
    if not grid:
        return {}
    header = [cell_text(h) for h in grid[0]]
    if "ID" not in header or RESOLUTION not in header:
        return {}
    i, r = header.index("ID"), header.index(RESOLUTION)
    found = {}
    for row in grid[1:]:
        cid = cell_text(row[i]) if i < len(row) else ""
        text = cell_text(row[r]) if r < len(row) else ""
        if cid and text:
            found[cid] = text
    return found


def master_bases(data: MasterData) -> dict[str, dict[str, object]]:
    """What the admin may edit in the master, as last written: the base of a three-way merge.

    Returns:
        master tab -> extra snapshot keys: ``Customers`` -> ``shared`` (Customer # ->
        shared field -> text), ``Tracking`` -> ``commission`` (tracking ID -> text).
    """
    shared = {
        c.number: {
            k: value_text(data.phones[c.id] if k == "phone" else getattr(c, k)) for k in SHARED_KEYS
        }
        for c in data.customers
        if c.merged_into_id is None
    }
    commission = {f"T{t.id}": value_text(t.commission_pct) for t in data.trackings}
    return {"Customers": {"shared": shared}, "Tracking": {"commission": commission}}
