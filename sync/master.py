"""The admin's master workbook: every customer once, every agent's tracking side by side.

``load_master`` reads what the tabs need from the database in a few queries;
``render_master`` turns it into grids (pure). The tabs are sync-owned and
rewritten by a positional cell diff, except the Conflicts tab's Resolution
column, which is the admin's and is carried over by conflict ID. What the admin
types elsewhere (shared fields in Customers, Commission % in Tracking) is read back
by ``sync.admin.from_master`` against :func:`stored_bases`, what was last written. The tabs'
headers, notes and layout are :mod:`sync.master_layout`.

At this size because the loading and the rendering of the nine tabs share one shape
(:class:`MasterData`: what each query loads is what a tab renders); bringing the master up
to date row by row is :mod:`sync.master_update`.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from sync.cells import CellValue, Grid
from sync.counts import cells_written
from sync.db import read, rows_in
from sync.dedupe import format_phone, value_text
from sync.fields import AGENT_KEYS, FIELDS_BY_KEY, SHARED_KEYS, STATUSES, Kind
from sync.ledger import hint
from sync.master_layout import (
    COMMISSION_PCT,
    DUE_LIST_TAB,
    TRACKING_HEADERS,
    TRACKING_ID,
    master_headers,
    row_key,
)
from sync.model import Agent, Conflict, Customer, FollowUp, SyncRun, Tracking
from sync.reports import DELETED_CUSTOMERS, CommissionRow, Share, commission_rows
from sync.values import choice
from sync.views import MASTER_CELL_LIMIT
from sync.words import Language, say

SYNC_LOG_RUNS = 200
STATUS_RANK = {s: i for i, s in enumerate(STATUSES)} | {"Lost": -1}


def _header_row(headers: Sequence[str]) -> list[CellValue]:
    return [h for h in headers]


def _time(value: dt.datetime | None, zone: ZoneInfo) -> CellValue:
    """A time the database holds (UTC) as the master shows it: in ``zone``, to the second."""
    if value is None:
        return None
    return _shown_time(value, zone)


@functools.lru_cache(maxsize=4096)
def _shown_time(value: dt.datetime, zone: ZoneInfo) -> str:
    """:func:`_time` of a time, remembered: the rows a cycle inserts share a few times (a
    cold master shows 300,000 of them, converted between zones one by one otherwise)."""
    local = value.replace(tzinfo=dt.UTC).astimezone(zone)
    return local.replace(tzinfo=None, microsecond=0).isoformat(sep=" ")


@dataclass
class MasterData:
    """What the master shows. Customers, trackings and follow-ups are plain result rows
    (attribute access by column name, no ORM identity map): at 100,000 trackings, building
    ORM objects cost more than rendering them."""

    agents: dict[int, Agent]
    customers: Sequence[Any]  # rows of the customers table
    trackings: Sequence[Any]  # rows of the trackings table
    follow_ups: Sequence[tuple[Any, Any]]  # (follow-up row, its tracking's customer/agent ids)
    conflicts: Sequence[Any]  # rows of the open conflicts, by id
    runs: list[SyncRun]
    # customer id -> phone as shown: formatted once per cycle for the tabs and the bases
    # (libphonenumber's formatting is the costliest step of rendering 100,000 rows)
    phones: dict[int, str] = field(default_factory=dict)
    # customer id -> Customer # of every customer (conflicts and commission name customers
    # that a partial load does not hold)
    numbers: dict[int, str] = field(default_factory=dict)
    # the trackings the Commission tab counts (active, completed or lost to a colleague);
    # None: ``trackings`` holds them all
    completions: Sequence[Any] | None = None
    # rows of the customers an admin deleted (all of them: the Deleted tab lists them)
    deleted: Sequence[Any] = ()
    # the zone the master shows times in (``sync.timezone``), named in their headers
    zone: str = "UTC"
    # today in that zone, and per agent id: (overdue, due today, the oldest due date)
    today: dt.date = field(default_factory=dt.date.today)
    due: dict[int, tuple[int, int, dt.date]] = field(default_factory=dict)
    # the trackings that are due, with their customer's number, name and phone (the Due
    # follow-ups tab); None: not loaded (the tab is kept as written)
    due_list: Sequence[Any] | None = None
    # the master's language (``[master] language``): its headers, and the choices,
    # yes/no and how to resolve it shows
    language: Language = "en"
    # Commission row key -> what each customer it counts adds to it, filled when the tab
    # is rendered whole (stored with each row: :func:`stored_bases`)
    counted: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @functools.cached_property
    def gone(self) -> frozenset[int]:
        """The ids of the customers an admin deleted: their rows are in the Deleted tab alone."""
        return frozenset(c.id for c in self.deleted)

    def said(self, value: object) -> CellValue:
        """A choice (a Status) or a yes/no as the master's language writes it."""
        if self.language == "en" or value is None:
            return _cell(value)
        if isinstance(value, bool):
            return say("yes" if value else "no", self.language)
        return choice(str(value), self.language)

    def __post_init__(self) -> None:
        if not self.phones:
            self.phones = {c.id: format_phone(c.phone) for c in self.customers}
        if not self.numbers:
            self.numbers = {c.id: c.number for c in self.customers}


ROW_ORDER: dict[str, tuple[Any, ...]] = {
    "Customers": (Customer.number,),
    # a merge leaves an agent two trackings of one customer: the id orders them
    "Tracking": (Tracking.customer_id, Tracking.agent_id, Tracking.id),
    "Follow-ups": (FollowUp.number,),
}
"""The order of the rows of the row tabs (what ``sync.master_update`` checks positions by)."""


_TRACKINGS = Tracking.__table__.c

COMPLETIONS = (
    select(
        _TRACKINGS.id,
        _TRACKINGS.customer_id,
        _TRACKINGS.agent_id,
        _TRACKINGS.active,
        _TRACKINGS.status,
        _TRACKINGS.completed_on,
        _TRACKINGS.completed_at,
        _TRACKINGS.commission_pct,
        _TRACKINGS.lost_to_colleague,
        Customer.number.label("customer_number"),
    )
    .join(Customer, Customer.id == _TRACKINGS.customer_id)
    .where(
        _TRACKINGS.active.is_(True),
        (_TRACKINGS.status == "Completed") | _TRACKINGS.lost_to_colleague.is_(True),
        Customer.deleted_at.is_(None),
    )
)
"""What the Commission tab counts: active trackings completed or lost to a colleague, of
customers not deleted, with each customer's number."""


def load_master(
    session: Session,
    only: set[int] | None = None,
    *,
    zone: str = "UTC",
    today: dt.date | None = None,
    due_list: bool = True,
    language: Language = "en",
    counted: bool = True,
) -> MasterData:
    """What the master shows, from the database.

    Args:
        only: load these customers alone, with their trackings and follow-ups (the rows
            a change dirtied), and what the small tabs need; None: everything.
        zone: the zone the master shows times in (``sync.timezone``).
        today: the day the Due by agent tab counts up to (default: today in ``zone``).
        due_list: whether to load every due tracking, for the Due follow-ups tab (a
            partial load leaves it out when nothing it shows moved).
        language: the master's (``[master] language``).
        counted: with ``only``, whether to load every completion (the Commission tab
            rendered whole); False: none (:mod:`sync.master_update` counts the rows a
            change names).
    """
    if today is None:
        today = dt.datetime.now(ZoneInfo(zone)).date()
    agents = {a.id: a for a in session.execute(select(Agent)).scalars()}
    customer_table, tracking_table = Customer.__table__, Tracking.__table__
    customers_q = select(customer_table).order_by(*ROW_ORDER["Customers"])
    trackings_q = select(tracking_table).order_by(*ROW_ORDER["Tracking"])
    follow_ups_q = (
        select(FollowUp.__table__, Tracking.customer_id, Tracking.agent_id)
        .join(Tracking, Tracking.id == FollowUp.tracking_id)
        .order_by(*ROW_ORDER["Follow-ups"])
    )
    numbers: dict[int, str] = {}
    completions = None
    if only is None:
        customers = read(session, customers_q).all()
        trackings = read(session, trackings_q).all()
        follow_ups = read(session, follow_ups_q).all()
    else:
        ids = sorted(only)
        customers = rows_in(session, customers_q, customer_table.c.id, ids)
        trackings = rows_in(session, trackings_q, tracking_table.c.customer_id, ids)
        follow_ups = rows_in(session, follow_ups_q, Tracking.customer_id, ids)
        # What the Commission tab counts, with each customer's number (not every number).
        completions = read(session, COMPLETIONS).all() if counted else []
        numbers = {t.customer_id: t.customer_number for t in completions}
        numbers.update({c.id: c.number for c in customers})
    conflict_table = Conflict.__table__
    open_conflicts = (
        select(conflict_table, Customer.number.label("customer_number"))
        .outerjoin(Customer, Customer.id == conflict_table.c.customer_id)
        .where(conflict_table.c.status == "open")
        .order_by(conflict_table.c.id)
    )
    # all of them: a conflict's details (the row it is on) move with no audit event
    conflicts = read(session, open_conflicts).all()
    if only is not None:
        numbers.update({k.customer_id: k.customer_number for k in conflicts if k.customer_id})
    deleted = read(
        session,
        select(customer_table)
        .where(customer_table.c.deleted_at.is_not(None))
        .order_by(customer_table.c.number),
    ).all()
    runs = list(
        session.execute(
            select(SyncRun)
            .where(SyncRun.finished_at.is_not(None))
            .order_by(SyncRun.id.desc())
            .limit(SYNC_LOG_RUNS)
        ).scalars()
    )
    return MasterData(
        agents,
        customers,
        trackings,
        [(row, row) for row in follow_ups],
        conflicts,
        runs,
        numbers=numbers,
        completions=completions,
        deleted=deleted,
        zone=zone,
        today=today,
        due=due_follow_ups(session, today),
        due_list=due_trackings(session, today) if due_list else None,
        language=language,
    )


def due_follow_ups(session: Session, today: dt.date) -> dict[int, tuple[int, int, dt.date]]:
    """Agent id -> (overdue, due today, the oldest due date): the active trackings whose
    next follow-up is on or before ``today``, not Completed or Lost, of customers not
    deleted (read through the index on the next follow-up: the due ones alone)."""
    t = Tracking.__table__.c
    query = (
        select(
            t.agent_id,
            func.sum(case((t.next_follow_up < today, 1), else_=0)),
            func.sum(case((t.next_follow_up == today, 1), else_=0)),
            func.min(t.next_follow_up),
        )
        .where(*due_clauses(t, today), t.customer_id.not_in(DELETED_CUSTOMERS))
        .group_by(t.agent_id)
    )
    return {
        agent: (int(overdue or 0), int(due or 0), oldest)
        for agent, overdue, due, oldest in read(session, query)
    }


def due_clauses(t: Any, today: dt.date) -> tuple[Any, ...]:
    """Whether a tracking is due: active, its next follow-up on or before ``today``, not
    Completed or Lost (columns of the trackings table)."""
    return (
        t.next_follow_up <= today,
        t.active.is_(True),
        or_(t.status.is_(None), t.status.not_in(["Completed", "Lost"])),
    )


def due_trackings(
    session: Session, today: dt.date, only: Sequence[int] | None = None
) -> Sequence[Any]:
    """The trackings that are due (see :func:`due_follow_ups`), of customers shown in the
    master (or of these customers alone), with their customer's number, name and phone
    (read through the index on the next follow-up)."""
    t = Tracking.__table__.c
    c = Customer.__table__.c
    query = (
        select(
            t.agent_id,
            t.customer_id,
            t.status,
            t.next_follow_up,
            c.number,
            c.name,
            c.phone,
        )
        .join(Customer.__table__, c.id == t.customer_id)
        .where(*due_clauses(t, today), c.deleted_at.is_(None), c.merged_into_id.is_(None))
    )
    if only is not None:
        return rows_in(session, query, t.customer_id, only)
    return read(session, query).all()


def _cell(value: object) -> CellValue:
    if value is None or type(value) is str:  # most cells, first
        return value
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
    headers = master_headers(data.zone, data.language)
    grids: dict[str, Grid] = {
        "Customers": [_header_row(headers["Customers"]), *customer_rows(data)],
        "Tracking": [_header_row(headers["Tracking"]), *tracking_rows(data)],
        "Follow-ups": [_header_row(headers["Follow-ups"]), *follow_up_rows(data)],
        **small_tabs(data, resolutions, errors or {}),
    }
    return grids, _trim_to_limit(grids)


def _names(data: MasterData) -> dict[int, str]:
    return {a.id: a.name for a in data.agents.values()}


def shown(customer: Any) -> bool:
    """Whether a customer has rows in the master's Customers, Tracking and Follow-ups
    tabs: not merged into another, not deleted."""
    return customer.merged_into_id is None and customer.deleted_at is None


def customer_rows(data: MasterData) -> Grid:
    """The Customers tab's rows of the customers ``data`` holds (merged and deleted ones
    left out)."""
    by_customer: dict[int, list[Any]] = defaultdict(list)
    for t in data.trackings:
        by_customer[t.customer_id].append(t)
    name = _names(data)
    zone = data.tz
    rows: Grid = []
    for c in data.customers:
        if not shown(c):
            continue
        active = [t for t in by_customer[c.id] if t.active]
        closest = max(
            active,
            key=lambda t: (not t.lost_to_colleague, STATUS_RANK.get(t.status or "", 0), -t.id),
            default=None,
        )
        rows.append(
            [
                c.number,
                *(_cell(data.phones[c.id] if k == "phone" else getattr(c, k)) for k in SHARED_KEYS),
                len(active),
                ", ".join(name[t.agent_id] for t in active) or None,
                _closest(data, name[closest.agent_id], closest.status) if closest else None,
                _time(c.created_at, zone),
                None,  # the admin's: read back at the start of the next cycle
            ]
        )
    return rows


def _closest(data: MasterData, agent: str, status: str | None) -> str:
    """The Closest to completion cell: the agent and their Status (in the master's words)."""
    return f"{agent} ({data.said(status) if status else say('no_status', data.language)})"


_CHOICES = frozenset(k for k in AGENT_KEYS if FIELDS_BY_KEY[k].kind is Kind.ENUM)


def tracking_rows(data: MasterData) -> Grid:
    """The Tracking tab's rows of the trackings ``data`` holds."""
    customers = {c.id: c for c in data.customers}
    name = _names(data)
    zone = data.tz
    rows: Grid = []
    for t in data.trackings:
        c = customers[t.customer_id]
        if c.deleted_at is not None:
            continue
        rows.append(
            [
                c.number,
                c.name,
                data.phones[c.id],
                name[t.agent_id],
                *(
                    data.said(getattr(t, k)) if k in _CHOICES else _cell(getattr(t, k))
                    for k in AGENT_KEYS
                ),
                t.commission_pct,
                data.said(t.active),
                data.said(t.lost_to_colleague),
                _time(t.tracked_since, zone),
                _time(t.last_update, zone),
                f"T{t.id}",
            ]
        )
    return rows


def follow_up_rows(data: MasterData) -> Grid:
    """The Follow-ups tab's rows of the follow-ups ``data`` holds."""
    customers = {c.id: c for c in data.customers}
    name = _names(data)
    rows: Grid = []
    for f, t in data.follow_ups:
        c = customers[t.customer_id]
        if c.deleted_at is not None:
            continue
        rows.append(
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
                data.said(f.active),
            ]
        )
    return rows


def conflicts_source(
    data: MasterData, resolutions: Mapping[str, str], errors: Mapping[str, str]
) -> str:
    """A digest of what the Conflicts tab's rows are rendered from: the open conflicts
    (each with its customer's number and its agent's name), the resolutions typed and why
    they were not applied, the zone and the language. The same digest, the same rows: a
    cycle that finds it as stored keeps the tab as written instead of rendering 6,000
    conflicts again."""
    name = _names(data)
    rows = [(*k, name.get(k.agent_id) if k.agent_id else None) for k in data.conflicts]
    shown = (rows, sorted(resolutions.items()), sorted(errors.items()), data.zone, data.language)
    text = orjson.dumps(shown, default=repr, option=orjson.OPT_NON_STR_KEYS)
    return hashlib.sha256(text).hexdigest()


def small_tabs(
    data: MasterData,
    resolutions: Mapping[str, str],
    errors: Mapping[str, str],
    *,
    whole: bool = True,
    conflicts_too: bool = True,
) -> dict[str, Grid]:
    """Conflicts, Commission, Sync log, Deleted, Due by agent and (when ``data`` holds
    them) Due follow-ups: rendered whole (the Due follow-ups tab only when what it shows
    may have moved: :func:`sync.master_update.plan_update`); with ``whole`` False, the
    Commission tab is left to the caller (brought up to date row by row from data loaded
    with ``counted=False``); with ``conflicts_too`` False, the Conflicts tab (kept as
    written: what it is rendered from did not move, :func:`conflicts_source`)."""
    name = _names(data)
    zone = data.tz
    headers = master_headers(data.zone, data.language)
    conflicts: Grid = [_header_row(headers["Conflicts"])]
    for k in data.conflicts if conflicts_too else ():
        cid = f"C{k.id}"
        conflicts.append(
            [
                cid,
                k.kind,
                data.numbers.get(k.customer_id) if k.customer_id else None,
                name.get(k.agent_id) if k.agent_id else None,
                k.field,
                k.current_value,
                k.proposed_value,
                details_in_words(k.details or {}),
                _time(k.opened_at, zone),
                hint(k.kind, data.language),
                resolutions.get(cid),
                errors.get(cid) if resolutions.get(cid) else None,
            ]
        )
    commission: Grid = [_header_row(headers["Commission"])]
    if whole:
        counted = data.trackings if data.completions is None else data.completions
        counted = [t for t in counted if t.customer_id not in data.gone]
        rows = commission_rows(data.agents.values(), data.numbers, counted)
        commission += commission_tab_rows(rows)
        data.counted = commission_counted(commission[1:], rows)

    log: Grid = [_header_row(headers["Sync log"])]
    for run in data.runs:
        s = run.stats or {}
        log.append(
            [
                run.id,
                _time(run.started_at, zone),
                _time(run.finished_at, zone),
                run.status,
                s.get("rows_read"),
                s.get("customers_created"),
                s.get("trackings_added"),
                cells_written(s)[1] if s else None,
                s.get("conflicts_opened"),
                s.get("agents_failed"),
                "; ".join(f"{k}: {v}" for k, v in (run.errors or {}).items()) or None,
            ]
        )
    deleted: Grid = [_header_row(headers["Deleted"])]
    for c in data.deleted:
        deleted.append(
            [
                c.number,
                c.name,
                format_phone(c.phone),
                c.deleted_by,
                _time(c.deleted_at, zone),
                c.delete_reason,
                None,
            ]
        )
    due: Grid = [_header_row(headers["Due by agent"])]
    for agent_id, (overdue, today, oldest) in sorted(
        data.due.items(), key=lambda item: (item[1][2], name.get(item[0], ""))
    ):
        due.append([name.get(agent_id), overdue, today, oldest, (data.today - oldest).days])
    tabs = {
        **({"Conflicts": conflicts} if conflicts_too else {}),
        **({"Commission": commission} if whole else {}),
        "Sync log": log,
        "Deleted": deleted,
        "Due by agent": due,
    }
    if data.due_list is not None:
        tabs[DUE_LIST_TAB] = due_list_rows(data, headers[DUE_LIST_TAB])
    return tabs


def commission_tab_rows(rows: Iterable[CommissionRow]) -> Grid:
    """The Commission tab's rows: per month and agent, the newest month first."""
    return [
        [
            row.month,
            row.name,
            row.completed,
            ", ".join(row.customers),
            round(row.commission, 2),
            row.lost_to_colleague,
        ]
        for row in rows
    ]


def commission_counted(
    grid: Sequence[Sequence[CellValue]], rows: Sequence[CommissionRow]
) -> dict[str, dict[str, Any]]:
    """Row key -> what is stored with a Commission row: ``{"shares": [[customer id,
    *share], ...]}``, what each customer it counts adds to it
    (:data:`~sync.reports.Share`), by id (``grid``: :func:`commission_tab_rows` of
    ``rows``). Rows stored by an earlier sheetsync hold the ids alone, or nothing."""
    return {
        row_key("Commission", shown): {
            "shares": [[customer, *share] for customer, share in sorted(row.shares.items())]
        }
        for shown, row in zip(grid, rows, strict=True)
    }


def stored_shares(base: Any) -> dict[int, Share] | None:
    """The shares stored with a Commission row (:func:`commission_counted`); None when it
    was stored without them."""
    if not isinstance(base, dict) or not isinstance(base.get("shares"), list):
        return None
    return {customer: share for customer, *share in base["shares"]}


def due_list_rows(data: MasterData, headers: Sequence[str]) -> Grid:
    """The Due follow-ups tab: a row per due tracking, the most overdue first, then by
    agent and Customer # (:func:`due_order`)."""
    assert data.due_list is not None
    rows = due_rows(data, data.due_list)
    rows.sort(key=due_order)
    return [_header_row(headers), *rows]


def due_order(row: Sequence[CellValue]) -> tuple[str, str, str]:
    """Where a row of the Due follow-ups tab sorts: by its next follow-up, agent, Customer
    # (as text; from a row's key and date alone: :func:`due_order_of`)."""
    return (value_text(row[5]), value_text(row[0]), value_text(row[1]))


def due_order_of(key: str, date: str) -> tuple[str, str, str]:
    """:func:`due_order` of a row stored by its key (``agent|Customer #``) and date."""
    agent, _, number = key.rpartition("|")
    return (date, agent, number)


def due_rows(data: MasterData, trackings: Sequence[Any]) -> Grid:
    """The Due follow-ups tab's rows of these due trackings (unsorted). The customers'
    numbers and phones as the other tabs show them are shared, not made again (a cold
    master holds 50,000 due rows beside 100,000 trackings)."""
    name = _names(data)
    rows: Grid = []
    for t in trackings:
        phone = data.phones.get(t.customer_id)
        if phone is None:
            phone = data.phones[t.customer_id] = format_phone(t.phone)
        rows.append(
            [
                name.get(t.agent_id),
                data.numbers.get(t.customer_id, t.number),
                t.name,
                phone,
                data.said(t.status),
                t.next_follow_up,
                (data.today - t.next_follow_up).days,
            ]
        )
    return rows


def details_in_words(details: Mapping[str, Any]) -> str | None:
    """A conflict's details as the Conflicts tab says them: a sentence, not its keys.

    >>> details_in_words({"tab": "Customers", "row": 7, "same_as_row": 3, "values": {}})
    'row 7 of the Customers tab, the same phone as row 3'
    >>> details_in_words({"customers": ["CUS-000001", "CUS-000002"], "same": "email"})
    'CUS-000001 and CUS-000002 have the same email'
    >>> details_in_words({"tab": "import", "source": "legacy.csv", "row": 4,
    ...                   "values": {"4": "Cairo", "9": "Giza"}})
    "the import of legacy.csv: row 4 says 'Cairo', row 9 says 'Giza'"
    """
    if message := details.get("message"):
        return str(message)
    if customers := details.get("customers"):
        same = details.get("same")
        pair = " and ".join(str(c) for c in customers)
        return f"{pair} have the same {same}" if same else pair
    tab, row = details.get("tab"), details.get("row")
    if tab == "import":
        said = details.get("values") or {}
        rows = ", ".join(f"row {r} says '{v}'" for r, v in said.items()) or f"row {row}"
        return f"the import of {details.get('source')}: {rows}"
    if tab is not None and row is not None:
        words = f"row {row} of the {tab} tab"
        if (first := details.get("same_as_row")) is not None:
            words += f", the same phone as row {first}"
        return words
    known = {"values", "winner", "agent", "agents", "source"}
    parts = [f"{k} {v}" for k, v in details.items() if k not in known]
    return "; ".join(parts) or None


def _trim_to_limit(grids: dict[str, Grid]) -> list[str]:
    """Keep the master under Google's 10-million-cell limit by trimming the longest logs first."""

    def cells() -> int:
        return sum(len(g) * max((len(r) for r in g), default=0) for g in grids.values())

    warnings: list[str] = []
    for tab in ("Sync log", DUE_LIST_TAB, "Follow-ups", "Tracking"):
        if tab not in grids:
            continue
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


def stored_bases(
    tab: str,
    rows: Sequence[Sequence[CellValue]],
    counted: Mapping[str, dict[str, Any]] = {},  # noqa: B006 (read only)
) -> dict[str, Any]:
    """What is stored with each rendered row of a master tab besides its key and digest,
    by row key: what the admin may edit in it, as rendered (the base of the three-way
    merge of their edits: ``Customers`` -> shared field -> text, ``Tracking`` -> Commission
    % as text); for the Due follow-ups, where the row sorts (its date), so that a later
    cycle puts a changed row among them without reading them; for the Commission, what
    each customer it counts adds to it (``counted``: :func:`commission_counted`), so that a
    later cycle makes again only the rows a changed customer was or is counted in; nothing
    for the others. Taken from the rows (and ``counted``), so a whole write keeps nothing
    of the data it rendered."""
    if tab == "Customers":
        return {
            value_text(row[0]): {k: value_text(row[i]) for i, k in enumerate(SHARED_KEYS, 1)}
            for row in rows
        }
    if tab == "Tracking":
        return {value_text(row[_TRACKING_ID]): value_text(row[_PERCENT]) for row in rows}
    if tab == DUE_LIST_TAB:
        return {row_key(tab, row): value_text(row[5]) for row in rows}
    if tab == "Commission":
        return {key: counted.get(key) for key in (row_key(tab, row) for row in rows)}
    return {}


_TRACKING_ID = TRACKING_HEADERS.index(TRACKING_ID)
_PERCENT = TRACKING_HEADERS.index(COMMISSION_PCT)
