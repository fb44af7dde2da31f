"""Ingest one agent's spreadsheet into the database (one transaction per agent source).

read grid -> parse by header -> bind rows to customers -> three-way merge against
the last snapshot -> apply, with audit events and keyed conflicts. What the sheet
should show afterwards is decided in ``cycle.py`` from the plan this returns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, func, insert, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sync.admin.identity import binding_maps, merged_keys
from sync.cells import CellValue, Grid, cell_text
from sync.db import insert_once, next_number, rows_in
from sync.dedupe import (
    PrivateAction,
    RowIdentity,
    SharedAction,
    bind_rows,
    merge_private,
    merge_shared,
    parse_phone,
    value_text,
)
from sync.errors import LayoutError
from sync.fields import (
    AGENT_KEYS,
    CUSTOMER_FIELDS,
    CUSTOMERS_TAB,
    FIELDS_BY_KEY,
    FOLLOW_UP_FIELDS,
    FOLLOW_UP_FIELDS_BY_KEY,
    FOLLOW_UP_KEYS,
    FOLLOW_UPS_TAB,
    SHARED_KEYS,
    Field,
)
from sync.long_text import MAX_CELL_CHARS, is_cut, whole_of
from sync.model import (
    Agent,
    AuditEvent,
    Conflict,
    Customer,
    FollowUp,
    Tracking,
    audit_row,
    utcnow,
)
from sync.rows import Header, ParsedRow, ParseOptions, column_letter, find_header, parse_rows

# Conflict kinds an agent's own sheet causes: they close by themselves once the sheet is fixed.
ROW_CONFLICT_KINDS = (
    "shared_field",
    "invalid_phone",
    "duplicate_row",
    "identity_mismatch",
    "quarantine",
)
CHUNK = 500
_CUSTOMERS = cast(Table, Customer.__table__)
_TRACKINGS = cast(Table, Tracking.__table__)
_FOLLOW_UPS = cast(Table, FollowUp.__table__)
_TRACKING_KEYS = tuple(c.key for c in _TRACKINGS.columns if c.key != "id")


@dataclass
class Counters:
    customers_created: int = 0
    trackings_added: int = 0
    trackings_archived: int = 0
    trackings_updated: int = 0
    customers_updated: int = 0
    follow_ups_created: int = 0
    follow_ups_updated: int = 0
    follow_ups_archived: int = 0
    rows_read: int = 0
    conflicts_opened: int = 0
    conflicts_closed: int = 0
    audit_events: int = 0
    # "file, tab Customers, row 7, column Next follow-up (S): could not read ..." for ops.
    problems: list[str] = field(default_factory=list)

    def add(self, other: Counters) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class TabPlan:
    """What one tab looked like and what the ingest decided about each row."""

    tab: str
    header: Header | None = None
    rows: list[ParsedRow] = field(default_factory=list)
    bound: dict[int, str] = field(default_factory=dict)  # row index -> customer / follow-up number
    notes: dict[int, list[str]] = field(default_factory=dict)  # row index -> sheet-derived notes
    leave: dict[int, set[str]] = field(default_factory=dict)  # row index -> fields not to overwrite
    customer_of: dict[int, str] = field(default_factory=dict)  # follow-up row -> customer number
    kept: set[str] = field(default_factory=set)  # numbers a row still holds, applied or not
    quarantined: str | None = None

    def note(self, index: int, text: str) -> None:
        self.notes.setdefault(index, []).append(text)


@dataclass
class AgentPlan:
    customers: TabPlan
    follow_ups: TabPlan
    completed: set[int] = field(default_factory=set)  # customer ids whose completions changed


class Ingest:
    """Applies one agent's sheet to the database inside the caller's transaction."""

    def __init__(
        self,
        session: Session,
        agent: Agent,
        *,
        source: str,
        options: ParseOptions,
        default_region: str,
        mass_removal_threshold: float,
        mass_removal_min_rows: int,
        run_id: int | None,
        today: dt.date,
    ):
        self.s = session
        self.agent = agent
        self.source = source
        self.options = options
        self.region = default_region
        self.threshold = mass_removal_threshold
        self.min_rows = mass_removal_min_rows
        self.run_id = run_id
        self.today = today
        self.counters = Counters()
        self.detected: set[str] = set()
        self.touched_customers: set[int] = set()
        self._conflicts: dict[str, Conflict | None] | None = None
        # new tracking (by object id) -> the fields its row typed, audited after the insert
        self._new_fields: dict[int, tuple[dict[str, str], dict[str, str]]] = {}
        self._events: list[dict[str, Any]] = []

    def _conflict(self, key: str) -> Conflict | None:
        """The conflict with this key: this agent's are loaded once, others asked for.

        The keys of the kinds an agent's sheet causes name the agent, and those conflicts
        carry its id (ingest and the import both set it), so for them the loaded ones are
        all there are: a key not among them is new, without asking the database.
        """
        if self._conflicts is None:
            self._conflicts = {
                c.key: c
                for c in self.s.execute(
                    select(Conflict).where(Conflict.agent_id == self.agent.id)
                ).scalars()
            }
        if key not in self._conflicts and key.partition(":")[0] in ROW_CONFLICT_KINDS:
            return None
        if key not in self._conflicts:
            with self.s.no_autoflush:  # new conflicts are in the dict already
                self._conflicts[key] = self.s.execute(
                    select(Conflict).where(Conflict.key == key)
                ).scalar_one_or_none()
        return self._conflicts[key]

    # -- conflicts and audit -------------------------------------------------------------

    def open_conflict(self, key: str, kind: str, **values: Any) -> Conflict:
        """Open a keyed conflict once; later sightings update it instead of opening another."""
        self.detected.add(key)
        conflict = self._conflict(key)
        if conflict is None:
            conflict = Conflict(key=key, kind=kind, agent_id=self.agent.id, **values)
            self.s.add(conflict)
            assert self._conflicts is not None
            self._conflicts[key] = conflict
            self.counters.conflicts_opened += 1
            return conflict
        if conflict.status == "dismissed" and all(
            getattr(conflict, name) == value
            for name, value in values.items()
            if name in ("current_value", "proposed_value")
        ):
            return conflict  # an admin dismissed exactly this; it stays dismissed
        if conflict.status != "open":
            conflict.status = "open"
            conflict.closed_at = None
            conflict.resolution = None
            self.counters.conflicts_opened += 1
        for name, value in values.items():
            if getattr(conflict, name) != value:
                setattr(conflict, name, value)
        return conflict

    def audit(
        self,
        action: str,
        entity: str,
        entity_id: int,
        customer_id: int | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        """Record one change; the events are inserted together by :meth:`write_audit`."""
        self._events.append(
            audit_row(
                f"agent:{self.agent.key}",
                action,
                entity,
                entity_id,
                customer_id,
                before,
                after,
                self.run_id,
            )
        )
        self.counters.audit_events += 1

    def write_audit(self) -> None:
        """Insert the recorded audit events, in order, in one statement per 500 (Core, no
        ORM objects: a cold sync of 2,000 rows records 6,000 of them)."""
        events, self._events = self._events, []
        for start in range(0, len(events), CHUNK):
            self.s.execute(insert(AuditEvent), events[start : start + CHUNK])

    def quarantine(self, tab: str, reason: str, message: str) -> None:
        self.open_conflict(
            f"quarantine:{self.agent.key}:{tab}:{reason}",
            "quarantine",
            field=tab,
            proposed_value=None,
            current_value=None,
            details={"source": self.source, "tab": tab, "reason": reason, "message": message},
        )

    def flag(self, plan: TabPlan, index: int, text: str, key: str | None = None) -> None:
        """Note a row problem in the row's Sync notes and, with its location, for the run's log."""
        plan.note(index, text)
        where = f"{self.source}, tab {plan.tab}, row {index + 1}"
        if key is not None and plan.header is not None:
            where += f", column {column_name(plan.header, key)}"
        self.counters.problems.append(f"{where}: {text}")

    def close_resolved_conflicts(self, tabs_read: Iterable[str]) -> None:
        """Close this agent's sheet-caused conflicts that this read no longer shows."""
        tabs = set(tabs_read)
        open_ones = self.s.execute(
            select(Conflict).where(
                Conflict.agent_id == self.agent.id,
                Conflict.status == "open",
                Conflict.kind.in_(ROW_CONFLICT_KINDS),
            )
        ).scalars()
        now = utcnow()
        for conflict in open_ones:
            tab = (conflict.details or {}).get("tab", CUSTOMERS_TAB)
            if conflict.key in self.detected or tab not in tabs:
                continue
            conflict.status = "resolved"
            conflict.closed_at = now
            conflict.resolution = "cause disappeared"
            conflict.resolved_by = "sheetsync"
            self.counters.conflicts_closed += 1

    # -- customers tab --------------------------------------------------------------------

    def _open_tab(
        self, plan: TabPlan, grid: Grid | None, fields: tuple[Field, ...], missing: str
    ) -> bool:
        """Find the header and parse the rows of a tab, or quarantine it (missing, broken)."""
        where = f"{self.source}, tab {plan.tab}"
        if grid is None:
            plan.quarantined = "missing_tab"
            self.quarantine(plan.tab, "missing_tab", f"{where} is missing; {missing}")
            return False
        try:
            plan.header = find_header(
                grid, fields, required=("phone",), options=self.options, where=where
            )
        except LayoutError as exc:
            plan.quarantined = "broken_header"
            self.quarantine(plan.tab, "broken_header", str(exc))
            return False
        plan.rows = [r for r in parse_rows(grid, plan.header, fields, self.options) if not r.blank]
        self.counters.rows_read += len(plan.rows)
        return True

    def customers(self, grid: Grid | None, base: dict[str, dict[str, str]]) -> TabPlan:
        plan = TabPlan(CUSTOMERS_TAB)
        where = f"{self.source}, tab {CUSTOMERS_TAB}"
        if not self._open_tab(plan, grid, CUSTOMER_FIELDS, "nothing of this agent was synced"):
            return plan

        # A phone cell that shows no value (a formula error) is never read as a number.
        unreadable = {r.index: i.message for r in plan.rows for i in r.issues if i.field == "phone"}
        phones = {
            r.index: parse_phone(None if r.index in unreadable else r.raw.get("phone"), self.region)
            for r in plan.rows
        }
        identities = [
            RowIdentity(
                r.index,
                cell_text(r.raw.get("customer_number")),
                cell_text(r.raw.get("phone")),
                phones[r.index].e164,
            )
            for r in plan.rows
        ]
        maps = binding_maps(
            self.s,
            {i.number for i in identities if i.number},
            {i.phone for i in identities if i.phone},
        )
        known = maps.known
        bindings = bind_rows(identities, maps.by_number, maps.by_phone, maps.trusted)

        kept = {b.keeps for b in bindings if b.keeps}
        plan.kept = kept
        removed = [number for number in base if number not in kept]
        # A tab that comes back empty (a lost workbook made anew, a cleared tab) is held
        # whatever its size; a smaller removal only from mass_removal_min_rows rows on.
        emptied = bool(removed) and not plan.rows and self._tracks_any()
        many = emptied or len(removed) >= self.min_rows
        if base and many and len(removed) > self.threshold * len(base):
            plan.quarantined = "mass_removal"
            self.quarantine(
                CUSTOMERS_TAB,
                "mass_removal",
                f"{where} came back empty: all {len(base)} rows disappeared at once; nothing "
                "was archived or applied. If the workbook was lost, `sheetsync init` rebuilds "
                "it from the database; if the rows were removed on purpose, ask an admin to "
                "accept it"
                if emptied
                else f"{where}: {len(removed)} of {len(base)} rows disappeared at once; nothing "
                "was archived or applied. Undo the removal, or ask an admin to accept it",
            )
            plan.header = None
            return plan

        rows = {r.index: r for r in plan.rows}
        trackings = self._trackings_by_customer()
        ready: list[tuple[ParsedRow, str, Customer | None]] = []
        for binding in bindings:
            row = rows[binding.index]
            if row.index in unreadable:
                message = (
                    f"Phone: {unreadable[row.index]}; this row is not synced until it is fixed"
                )
                self.flag(plan, row.index, message, "phone")
                continue
            if binding.note:
                self.flag(plan, row.index, binding.note, "phone")
            phone = phones[row.index]
            if phone.warning and binding.outcome in ("bound", "new"):
                self.flag(plan, row.index, phone.warning, "phone")
            if binding.outcome not in ("invalid_phone", "mismatch", "duplicate"):
                assert binding.phone is not None
                customer = known.get(binding.number or "") if binding.number else None
                ready.append((row, binding.phone, customer))
                continue
            details = {  # only for a conflict: what the row held, for the admin
                "tab": CUSTOMERS_TAB,
                "row": row.index + 1,
                "values": {
                    k: text
                    for k, v in row.raw.items()
                    if 0 < len(text := cell_text(v)) <= MAX_CELL_CHARS  # never a 10 MB cell
                },
            }
            if binding.outcome == "invalid_phone":
                self.open_conflict(
                    f"invalid_phone:{self.agent.key}:{CUSTOMERS_TAB}:{cell_text(row.raw.get('phone'))}",
                    "invalid_phone",
                    proposed_value=cell_text(row.raw.get("phone")),
                    details=details,
                )
                continue
            if binding.outcome == "mismatch":
                claimed = known[binding.number] if binding.number else None
                self.open_conflict(
                    f"identity_mismatch:{self.agent.key}:{binding.number}:{binding.phone}",
                    "identity_mismatch",
                    customer_id=claimed.id if claimed else None,
                    field="phone",
                    current_value=claimed.phone if claimed else None,
                    proposed_value=binding.phone,
                    details=details,
                )
                continue
            if binding.outcome == "duplicate":
                self.open_conflict(
                    f"duplicate_row:{self.agent.key}:{binding.phone}",
                    "duplicate_row",
                    field="phone",
                    proposed_value=binding.phone,
                    details={**details, "same_as_row": (binding.duplicate_of or 0) + 1},
                )

        # Customers and trackings are created in bulk (one flush each), then merged.
        created = self._create_customers(
            [(phone, row) for row, phone, customer in ready if customer is None]
        )
        bound = [(row, customer or created[phone]) for row, phone, customer in ready]
        for _, customer in bound:
            known[customer.number] = customer
        attach = {
            customer.id: customer
            for _, customer in bound
            if customer.id not in trackings or not trackings[customer.id].active
        }
        attached, fresh = self._attach_trackings(list(attach.values()), trackings)
        trackings.update(attached)
        for row, customer in bound:
            tracking = trackings[customer.id]
            plan.bound[row.index] = customer.number
            base_row = base.get(customer.number)
            self._merge_shared(plan, row, customer, base_row)
            self._merge_private(plan, row, tracking, base_row)
        # New trackings are inserted with the fields their rows typed, in one flush
        # (never inserted, then updated): their audit events follow, with their ids.
        self._insert_trackings(fresh)

        if plan.quarantined is None:
            for number in removed:
                customer = self._customer_by_number(number)
                gone = trackings.get(customer.id) if customer else None
                if gone is not None and gone.active:
                    gone.active = False
                    gone.archived_at = utcnow()
                    self.counters.trackings_archived += 1
                    self.audit(
                        "archive_tracking",
                        "tracking",
                        gone.id,
                        customer.id if customer else None,
                        {"active": True},
                        {"active": False, "reason": "row removed from sheet"},
                    )
        return plan

    def _tracks_any(self) -> bool:
        """Whether this agent tracks any customer (an active tracking)."""
        return (
            self.s.execute(
                select(Tracking.id)
                .where(Tracking.agent_id == self.agent.id, Tracking.active.is_(True))
                .limit(1)
            ).first()
            is not None
        )

    def _customer_by_number(self, number: str) -> Customer | None:
        return self.s.execute(
            select(Customer).where(Customer.number == number)
        ).scalar_one_or_none()

    def _trackings_by_customer(self) -> dict[int, Tracking]:
        rows = self.s.execute(select(Tracking).where(Tracking.agent_id == self.agent.id)).scalars()
        return {t.customer_id: t for t in rows}

    def _create_customers(self, wanted: list[tuple[str, ParsedRow]]) -> dict[str, Customer]:
        """Create the customers for new phones in one insert, numbered in row order.

        Inserted with Core (a cold cycle creates tens of thousands): the Customer objects
        returned are not in the session, only what the merge reads them for (a new
        customer's values are its row's, so the merge has nothing to change in them). If
        another worker created one of these phones meanwhile, the batch is rolled back to
        its savepoint and the phones are taken one by one.
        """
        if not wanted:
            return {}
        year = self.today.year
        now = utcnow()
        try:
            with self.s.begin_nested():
                first = next_number(self.s, f"customer-{year}", len(wanted))
                rows = [
                    {
                        "number": f"CUS-{year}-{first + i:05d}",
                        "phone": phone,
                        "created_by_agent_id": self.agent.id,
                        "created_at": now,
                        "updated_at": now,
                        **{k: row.values.get(k) for k in SHARED_KEYS if k != "phone"},
                    }
                    for i, (phone, row) in enumerate(wanted)
                ]
                ids = self._insert_with_ids(_CUSTOMERS, rows, "number")
        except IntegrityError:
            return {phone: self._create_customer(phone, row) for phone, row in wanted}
        made = []
        for customer_id, values in zip(ids, rows, strict=True):
            customer = Customer(**values)
            customer.id = customer_id
            made.append(customer)
            self._created(customer)
        return {c.phone: c for c in made}

    def _insert_with_ids(
        self,
        table: Table,
        rows: list[dict[str, Any]],
        key: str,
        among: ColumnElement[bool] | None = None,
    ) -> list[int]:
        """Insert rows (all with the same keys) in batches; their ids, in row order.

        The ids are selected back by ``key``, unique among the rows ``among`` selects: an
        executemany without RETURNING is one prepared statement, where PostgreSQL's driver
        would parse a RETURNING batch's thousands of parameters in Python.
        """
        for start in range(0, len(rows), 5000):
            self.s.execute(insert(table), rows[start : start + 5000])
        wanted = [row[key] for row in rows]
        query = select(table.c[key], table.c.id)
        if among is not None:
            query = query.where(among)
        found = {value: row_id for value, row_id in rows_in(self.s, query, table.c[key], wanted)}
        return [found[value] for value in wanted]

    def _create_customer(self, phone: str, row: ParsedRow) -> Customer:
        """Create the customer for a phone; if another worker just did, use theirs."""
        try:
            with self.s.begin_nested():
                seq = next_number(self.s, f"customer-{self.today.year}")
                customer = Customer(
                    number=f"CUS-{self.today.year}-{seq:05d}",
                    phone=phone,
                    created_by_agent_id=self.agent.id,
                    **_shared_values(row),
                )
                self.s.add(customer)
                self.s.flush()
        except IntegrityError:
            existing = self.s.execute(select(Customer).where(Customer.phone == phone)).scalar_one()
            return existing
        self._created(customer)
        return customer

    def _created(self, customer: Customer) -> None:
        self.counters.customers_created += 1
        self.touched_customers.add(customer.id)
        self.audit(
            "create_customer",
            "customer",
            customer.id,
            customer.id,
            None,
            {
                "number": customer.number,
                "phone": customer.phone,
                **{
                    k: value_text(getattr(customer, k))
                    for k in SHARED_KEYS
                    if k != "phone" and getattr(customer, k) is not None
                },
            },
        )

    def _attach_trackings(
        self, customers: list[Customer], existing: dict[int, Tracking]
    ) -> tuple[dict[int, Tracking], list[tuple[Customer, Tracking]]]:
        """The seed's "Add my tracking": rows whose phone exists get this agent's tracking.

        An archived tracking of this agent comes back; the others are new, not yet inserted
        (:meth:`_insert_trackings` does, once their rows' fields are merged into them).

        Returns:
            customer id -> tracking, and the new trackings with their customers.
        """
        attached: dict[int, Tracking] = {}
        fresh: list[tuple[Customer, Tracking]] = []
        for customer in customers:
            archived = existing.get(customer.id)
            if archived is not None:
                archived.active = True
                archived.archived_at = None
                self.audit(
                    "reactivate_tracking",
                    "tracking",
                    archived.id,
                    customer.id,
                    {"active": False},
                    {"active": True},
                )
                attached[customer.id] = archived
            else:
                tracking = Tracking(
                    customer_id=customer.id, agent_id=self.agent.id, tracked_since=utcnow()
                )
                fresh.append((customer, tracking))
                attached[customer.id] = tracking
        return attached, fresh

    def _insert_trackings(self, fresh: list[tuple[Customer, Tracking]]) -> None:
        """Insert the new trackings with the fields their rows typed (Core, in batches:
        the Tracking objects stay out of the session), then audit them with their ids."""
        if not fresh:
            return
        now = utcnow()
        defaults: dict[str, Any] = {
            "active": True,
            "lost_to_colleague": False,
            "tracked_since": now,
            "last_update": now,
        }
        rows = []
        for _, tracking in fresh:
            given = sa_inspect(tracking).dict  # what was set on it: row fields, status dates
            rows.append({key: given.get(key, defaults.get(key)) for key in _TRACKING_KEYS})
        # A new tracking is this agent's only one of its customer (an archived one would
        # have come back instead).
        ids = self._insert_with_ids(
            _TRACKINGS, rows, "customer_id", _TRACKINGS.c.agent_id == self.agent.id
        )
        for (customer, tracking), tracking_id in zip(fresh, ids, strict=True):
            tracking.id = tracking_id
            self.counters.trackings_added += 1
            self.audit(
                "add_tracking",
                "tracking",
                tracking.id,
                customer.id,
                None,
                {"agent": self.agent.key, "customer": customer.number},
            )
            before, after = self._new_fields.pop(id(tracking), ({}, {}))
            if after:
                self.counters.trackings_updated += 1
                self.audit("update_tracking", "tracking", tracking.id, customer.id, before, after)

    def _merge_shared(
        self, plan: TabPlan, row: ParsedRow, customer: Customer, base_row: dict[str, str] | None
    ) -> None:
        before: dict[str, str] = {}
        after: dict[str, str] = {}
        issues = {i.field: i for i in row.issues}
        for key in SHARED_KEYS:
            if key == "phone" or key not in plan.header.columns:  # type: ignore[union-attr]
                continue
            title = FIELDS_BY_KEY[key].header
            if key in issues:
                self.flag(plan, row.index, f"{title}: {issues[key].message}; not synced", key)
                plan.leave.setdefault(row.index, set()).add(key)
                continue
            canonical = value_text(getattr(customer, key))
            base_value = base_row.get(key) if base_row is not None else None
            mine = self._meant(plan, row, key, (canonical, base_value), customer.number)
            if mine is None:
                continue
            action = merge_shared(base_value, mine, canonical)
            conflict_key = f"shared_field:{customer.number}:{key}:{self.agent.key}"
            if action is SharedAction.FILL:
                before[key], after[key] = canonical, mine
                setattr(customer, key, row.values.get(key))
            elif action is SharedAction.RESTORE:
                self.flag(
                    plan,
                    row.index,
                    f"{title} is shared: clearing it is not applied (ask an admin)",
                    key,
                )
            elif action is SharedAction.PROPOSE or (
                action is SharedAction.PUSH and self._proposal(conflict_key) == mine
            ):
                self.open_conflict(
                    conflict_key,
                    "shared_field",
                    customer_id=customer.id,
                    field=key,
                    current_value=canonical,
                    proposed_value=mine,
                    details={"tab": CUSTOMERS_TAB, "row": row.index + 1},
                )
                self.flag(
                    plan,
                    row.index,
                    f"{title}: your change to '{mine}' awaits an admin "
                    f"(shared value: '{canonical}')",
                    key,
                )
                plan.leave.setdefault(row.index, set()).add(key)
        if after:
            customer.updated_at = utcnow()
            self.counters.customers_updated += 1
            self.touched_customers.add(customer.id)
            self.audit("update_customer", "customer", customer.id, customer.id, before, after)

    def _proposal(self, key: str) -> str | None:
        conflict = self._conflict(key)
        return (
            conflict.proposed_value if conflict is not None and conflict.status == "open" else None
        )

    def _meant(
        self,
        plan: TabPlan,
        row: ParsedRow,
        key: str,
        known: tuple[str | None, ...],
        number: str,
    ) -> str | None:
        """The text a cell means: a text the sync cut to fit the sheet reads as the whole one
        it was cut from (one of ``known``: the stored value, the last-synced one).

        Returns:
            The text; None when the cell shows a cut text that was changed since: it is not
            synced (the rest of the text would be lost), and the row says so.
        """
        mine = value_text(row.values.get(key))
        if not is_cut(mine):
            return mine
        whole = whole_of(mine, known)
        if whole is None:
            header = plan.header.titles[key] if plan.header is not None else key
            self.flag(
                plan,
                row.index,
                f"{header} shows a text cut to fit this sheet, changed since; not synced, so "
                f"that the rest of it is not lost (the whole text: sheetsync history {number}): "
                "to change it, replace the whole cell",
                key,
            )
            plan.leave.setdefault(row.index, set()).add(key)
        return whole

    def _merge_private(
        self, plan: TabPlan, row: ParsedRow, tracking: Tracking, base_row: dict[str, str] | None
    ) -> None:
        before: dict[str, str] = {}
        after: dict[str, str] = {}
        issues = {i.field: i for i in row.issues}
        for key in AGENT_KEYS:
            if key not in plan.header.columns:  # type: ignore[union-attr]
                continue
            if key in issues:
                self.flag(
                    plan,
                    row.index,
                    f"{FIELDS_BY_KEY[key].header}: {issues[key].message}; not synced",
                    key,
                )
                plan.leave.setdefault(row.index, set()).add(key)
                continue
            stored = value_text(getattr(tracking, key))
            base_value = base_row.get(key) if base_row is not None else None
            mine = self._meant(plan, row, key, (stored, base_value), plan.bound[row.index])
            if mine is None:
                continue
            if merge_private(base_value, mine, stored) is PrivateAction.TAKE:
                before[key], after[key] = stored, mine
                setattr(tracking, key, row.values.get(key))
        if after:
            if "status" in after:
                self._status_changed(tracking)
            tracking.last_update = utcnow()
            if tracking.id is None:  # a new tracking: audited once it is inserted
                self._new_fields[id(tracking)] = (before, after)
                return
            self.counters.trackings_updated += 1
            self.audit(
                "update_tracking", "tracking", tracking.id, tracking.customer_id, before, after
            )

    def _status_changed(self, tracking: Tracking) -> None:
        if tracking.status == "Completed" and tracking.completed_at is None:
            tracking.completed_at = utcnow()
            tracking.completed_run_id = self.run_id
        elif tracking.status != "Completed" and tracking.completed_at is not None:
            tracking.completed_at = None
            tracking.completed_run_id = None
        self.touched_customers.add(tracking.customer_id)

    # -- follow-ups tab -------------------------------------------------------------------

    def follow_ups(self, grid: Grid | None, base: dict[str, dict[str, str]]) -> TabPlan:
        plan = TabPlan(FOLLOW_UPS_TAB)
        where = f"{self.source}, tab {FOLLOW_UPS_TAB}"
        if not self._open_tab(plan, grid, FOLLOW_UP_FIELDS, "run `sheetsync init`"):
            return plan
        header = plan.header
        assert header is not None

        trackings = {
            t.id: (t, c)
            for t, c in self.s.execute(
                select(Tracking, Customer)
                .join(Customer, Customer.id == Tracking.customer_id)
                .where(Tracking.agent_id == self.agent.id, Tracking.active.is_(True))
            ).all()
        }
        by_number = {c.number: t for t, c in trackings.values()}
        by_phone = {c.phone: t for t, c in trackings.values()}
        # Rows still showing a merged customer's number or phone bind to the tracking
        # of the customer it was merged into.
        of_customer = {c.id: t for t, c in trackings.values()}
        merged_numbers, merged_phones = merged_keys(self.s, of_customer)
        for number, customer_id in merged_numbers.items():
            by_number.setdefault(number, of_customer[customer_id])
        for phone_, customer_id in merged_phones.items():
            by_phone.setdefault(phone_, of_customer[customer_id])
        mine = {
            f.number: f
            for f in self.s.execute(
                select(FollowUp).where(FollowUp.tracking_id.in_(list(trackings) or [-1]))
            ).scalars()
        }
        numbers_in_sheet = {cell_text(r.raw.get("follow_up_number")) for r in plan.rows}
        kept = {n for n in numbers_in_sheet if n in mine}
        removed = [n for n in base if n not in kept]
        if base and len(removed) >= self.min_rows and len(removed) > self.threshold * len(base):
            plan.quarantined = "mass_removal"
            self.quarantine(
                FOLLOW_UPS_TAB,
                "mass_removal",
                f"{where}: {len(removed)} of {len(base)} rows disappeared at once; "
                "nothing was archived. Undo the removal, or ask an admin to accept it",
            )
            plan.header = None
            return plan

        unseen = {n: f for n, f in mine.items() if n not in kept and f.active}
        taken: set[str] = set()
        fresh: list[tuple[int, Tracking, dict[str, Any]]] = []
        for row in plan.rows:
            issues = {i.field: i for i in row.issues}
            number = cell_text(row.raw.get("follow_up_number"))
            phone = (
                None if "phone" in issues else parse_phone(row.raw.get("phone"), self.region).e164
            )
            claimed = by_number.get(cell_text(row.raw.get("customer_number")))
            tracking = (
                claimed
                if claimed is not None
                and (phone is None or trackings[claimed.id][1].phone == phone)
                else None
            )
            if tracking is None and phone is not None:
                tracking = by_phone.get(phone)
            if tracking is None:
                self.flag(
                    plan,
                    row.index,
                    "no customer with this Customer # or phone in your Customers tab; not synced",
                    "phone",
                )
                continue
            for key, issue in issues.items():
                self.flag(
                    plan,
                    row.index,
                    f"{FOLLOW_UP_FIELDS_BY_KEY[key].header}: {issue.message}; not synced",
                    key,
                )
                plan.leave.setdefault(row.index, set()).add(key)
            values = {
                k: row.values.get(k)
                for k in FOLLOW_UP_KEYS
                if k in header.columns and k not in issues
            }
            follow_up = mine.get(number) if number in mine and number not in taken else None
            if follow_up is not None and follow_up.tracking_id != tracking.id:
                follow_up = None
            if follow_up is None:
                follow_up = self._match_unseen(unseen, tracking.id, values)
            plan.customer_of[row.index] = trackings[tracking.id][1].number
            if follow_up is None:
                fresh.append((row.index, tracking, values))
                continue
            self._update_follow_up(
                plan, row, follow_up, values, base.get(follow_up.number), tracking
            )
            taken.add(follow_up.number)
            plan.bound[row.index] = follow_up.number
        self._create_follow_ups(plan, fresh)

        if plan.quarantined is None:
            for number in removed:
                follow_up = mine.get(number)
                if follow_up is not None and follow_up.active and number not in taken:
                    follow_up.active = False
                    self.counters.follow_ups_archived += 1
                    self.audit(
                        "archive_follow_up",
                        "follow_up",
                        follow_up.id,
                        trackings[follow_up.tracking_id][1].id,
                        {"active": True},
                        {"active": False},
                    )
        return plan

    def _create_follow_ups(
        self, plan: TabPlan, fresh: list[tuple[int, Tracking, dict[str, Any]]]
    ) -> None:
        """Number and insert the follow-ups new rows typed, in one flush."""
        if not fresh:
            return
        first = next_number(self.s, "follow-up", len(fresh))
        numbers = [f"FU-{first + i:06d}" for i in range(len(fresh))]
        rows = [
            {
                "number": numbers[i],
                "tracking_id": tracking.id,
                **{k: values.get(k) for k in FOLLOW_UP_KEYS},
            }
            for i, (_, tracking, values) in enumerate(fresh)
        ]
        ids = self._insert_with_ids(_FOLLOW_UPS, rows, "number")
        for number, follow_up_id, (index, tracking, values) in zip(
            numbers, ids, fresh, strict=True
        ):
            plan.bound[index] = number
            self.counters.follow_ups_created += 1
            self.audit(
                "create_follow_up",
                "follow_up",
                follow_up_id,
                tracking.customer_id,
                None,
                {k: value_text(v) for k, v in values.items()},
            )

    def _match_unseen(
        self, unseen: dict[str, FollowUp], tracking_id: int, values: dict[str, object]
    ) -> FollowUp | None:
        """A row without its Follow-up # that matches a follow-up we created before.

        This happens when the write of the number was skipped (the agent was typing);
        matching it keeps the next cycle from creating the follow-up twice.
        """
        for number, candidate in unseen.items():
            if candidate.tracking_id == tracking_id and all(
                value_text(getattr(candidate, k)) == value_text(v) for k, v in values.items()
            ):
                del unseen[number]
                return candidate
        return None

    def _update_follow_up(
        self,
        plan: TabPlan,
        row: ParsedRow,
        follow_up: FollowUp,
        values: dict[str, object],
        base_row: dict[str, str] | None,
        tracking: Tracking,
    ) -> None:
        before: dict[str, str] = {}
        after: dict[str, str] = {}
        customer = plan.customer_of[row.index]
        for key, value in values.items():
            stored = value_text(getattr(follow_up, key))
            base_value = base_row.get(key) if base_row is not None else None
            mine = self._meant(plan, row, key, (stored, base_value), customer)
            if mine is None:
                continue
            if merge_private(base_value, mine, stored) is PrivateAction.TAKE:
                before[key], after[key] = stored, mine
                setattr(follow_up, key, value)
        if not follow_up.active:
            follow_up.active = True
            after["active"] = "TRUE"
        if after:
            follow_up.updated_at = utcnow()
            self.counters.follow_ups_updated += 1
            self.audit(
                "update_follow_up", "follow_up", follow_up.id, tracking.customer_id, before, after
            )

    # -- cross-customer checks ---------------------------------------------------------------

    def flag_possible_duplicates(self) -> None:
        """Same email, or same name and date of birth, under different phones."""
        touched = sorted(self.touched_customers)
        for start in range(0, len(touched), CHUNK):
            self._flag_duplicates_among(touched[start : start + CHUNK])

    def _flag_duplicates_among(self, ids: list[int]) -> None:
        customers = [
            c
            for c in self.s.execute(
                select(Customer).where(Customer.id.in_(ids), Customer.merged_into_id.is_(None))
            ).scalars()
            if c.email or (c.name and c.date_of_birth)
        ]
        emails = {c.email.lower() for c in customers if c.email}
        names = {c.name.lower() for c in customers if c.name and c.date_of_birth}
        if not customers:
            return
        conds = []
        if emails:
            conds.append(func.lower(Customer.email).in_(emails))
        if names:
            conds.append(func.lower(Customer.name).in_(names))
        by_email: dict[str, list[Customer]] = {}
        by_name: dict[tuple[str, dt.date], list[Customer]] = {}
        for other in self.s.execute(
            select(Customer).where(or_(*conds), Customer.merged_into_id.is_(None))
        ).scalars():
            if other.email:
                by_email.setdefault(other.email.lower(), []).append(other)
            if other.name and other.date_of_birth:
                by_name.setdefault((other.name.lower(), other.date_of_birth), []).append(other)
        pairs: dict[str, tuple[Customer, Customer, str]] = {}
        for customer in customers:
            same_email = by_email.get(customer.email.lower(), []) if customer.email else []
            same_name = (
                by_name.get((customer.name.lower(), customer.date_of_birth), [])
                if customer.name and customer.date_of_birth
                else []
            )
            for other in [*same_email, *same_name]:
                if other.id == customer.id:
                    continue
                first, second = sorted((customer, other), key=lambda c: c.id)
                key = f"possible_duplicate:{first.number}:{second.number}"
                same = "email" if other in same_email else "name and date of birth"
                pairs.setdefault(key, (first, second, same))
        if not pairs:
            return
        self.detected.update(pairs)
        existing = set(
            self.s.execute(select(Conflict.key).where(Conflict.key.in_(list(pairs)))).scalars()
        )
        for key, (first, second, same) in pairs.items():
            if key in existing:
                continue
            if insert_once(
                self.s,
                Conflict(
                    key=key,
                    kind="possible_duplicate",
                    customer_id=first.id,
                    field=same,
                    current_value=first.number,
                    proposed_value=second.number,
                    details={
                        "customers": [first.number, second.number],
                        "phones": [first.phone, second.phone],
                        "same": same,
                    },
                ),
            ):
                self.counters.conflicts_opened += 1


def _shared_values(row: ParsedRow) -> dict[str, object]:
    """A new customer's shared fields (but the phone) as the row typed them."""
    return {
        k: row.values.get(k) for k in SHARED_KEYS if k != "phone" and row.values.get(k) is not None
    }


def column_name(header: Header, key: str) -> str:
    """'S (Next follow-up)' for messages: the column's letter and its header as typed."""
    index = header.columns.get(key)
    title = header.titles.get(key, key)
    return f"{column_letter(index)} ({title})" if index is not None else title


def cell(row: ParsedRow, key: str) -> CellValue:
    return row.raw.get(key)
