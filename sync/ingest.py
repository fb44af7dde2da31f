"""Ingest one agent's spreadsheet into the database (one transaction per agent source).

read grid -> parse by header -> bind rows to customers -> decide: merge each row three
ways against the row as last synced (``dedupe.merge_fields``, pure: decisions as data) ->
apply the decisions in bulk (plain rows, no ORM object per row), with audit events and
keyed conflicts written by the ledger (``sync.ledger``). What the sheet should show
afterwards is decided in ``sync.cycle.write_back`` from the plan this returns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sync.admin.identity import binding_maps, merged_keys
from sync.cells import CellValue, Grid, cell_text
from sync.db import insert_with_ids, next_number, rows_in, update_by_id
from sync.dedupe import (
    FieldsDecision,
    RowIdentity,
    as_last_synced,
    bind_rows,
    merge_fields,
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
from sync.ledger import Ledger, close, keep_open, open_new, open_own
from sync.long_text import MAX_CELL_CHARS
from sync.model import (
    Agent,
    Conflict,
    Customer,
    FollowUp,
    Tracking,
    fold,
    folded,
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
_TITLES = {key: f.header for key, f in FIELDS_BY_KEY.items()}
_FOLLOW_UP_TITLES = {key: f.header for key, f in FOLLOW_UP_FIELDS_BY_KEY.items()}


@dataclass
class Counters:
    """What ingesting sheets changed: the counts a cycle's report (:class:`sync.cycle.
    CycleReport`, which extends this) sums over its sheets."""

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


class RowAsRead:
    """A row as read, kept from its ingest to its sheet's write-back: its cells (the grid's
    own list, not a copy) and the canonical text of each cell that parsed.

    A team's sheets are all ingested before the first is written back; a parsed row's
    dicts of values and cells took 2.6 times the memory of its grid row.
    """

    __slots__ = ("index", "_cells", "_columns", "_texts")

    def __init__(self, row: ParsedRow, cells: list[CellValue], columns: dict[str, int]):
        self.index = row.index
        self._cells = cells
        self._columns = columns
        values = row.values
        self._texts = tuple(value_text(values[k]) if k in values else None for k in columns)

    @property
    def raw(self) -> dict[str, CellValue]:
        """Field key -> the cell as read (None for a missing cell), as ``ParsedRow.raw``."""
        cells, width = self._cells, len(self._cells)
        return {k: cells[c] if c < width else None for k, c in self._columns.items()}

    def texts(self) -> dict[str, str]:
        """Field key -> the canonical text of the parsed cell; a cell that did not parse
        has none."""
        return {k: t for k, t in zip(self._columns, self._texts, strict=True) if t is not None}


@dataclass
class TabPlan:
    """What one tab looked like and what the ingest decided about each row.

    ``rows`` are the tab's parsed rows while it is ingested; ``as_read`` the same rows
    afterwards, in the smaller form a write-back needs (:meth:`keep_as_read`).
    """

    tab: str
    header: Header | None = None
    rows: list[ParsedRow] = field(default_factory=list)
    as_read: list[RowAsRead] = field(default_factory=list)
    bound: dict[int, str] = field(default_factory=dict)  # row index -> customer / follow-up number
    notes: dict[int, list[str]] = field(default_factory=dict)  # row index -> sheet-derived notes
    leave: dict[int, set[str]] = field(default_factory=dict)  # row index -> fields not to overwrite
    customer_of: dict[int, str] = field(default_factory=dict)  # follow-up row -> customer number
    kept: set[str] = field(default_factory=set)  # numbers a row still holds, applied or not
    quarantined: str | None = None

    def note(self, index: int, text: str) -> None:
        self.notes.setdefault(index, []).append(text)

    def keep_as_read(self, grid: Grid | None) -> None:
        """Let the parsed rows go once ingested, keeping what the write-back needs."""
        if self.header is not None and grid is not None:
            columns = self.header.columns
            self.as_read = [RowAsRead(r, grid[r.index], columns) for r in self.rows]
        self.rows = []


@dataclass
class AgentPlan:
    customers: TabPlan
    follow_ups: TabPlan


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
        # what the merge changed, written together by _write_changes
        self._customer_changes: list[dict[str, Any]] = []
        self._tracking_changes: dict[int, dict[str, Any]] = {}
        self.ledger = Ledger(session, f"agent:{agent.key}", run_id)

    def _conflict(self, key: str) -> Conflict | None:
        """The conflict with this key: this agent's are loaded once, others asked for.

        The keys of the kinds an agent's sheet causes name the agent, and those conflicts
        carry its id (ingest and the import both set it), so for them the loaded ones are
        all there are: a key not among them is new, without asking the database.
        """
        conflicts = self._agent_conflicts()
        if key not in conflicts and key.partition(":")[0] in ROW_CONFLICT_KINDS:
            return None
        if key not in conflicts:
            with self.s.no_autoflush:  # new conflicts are in the dict already
                conflicts[key] = self.s.execute(
                    select(Conflict).where(Conflict.key == key)
                ).scalar_one_or_none()
        return conflicts[key]

    def _agent_conflicts(self) -> dict[str, Conflict | None]:
        """Key -> conflict: this agent's, loaded once (and those asked for since)."""
        if self._conflicts is None:
            self._conflicts = {
                c.key: c
                for c in self.s.execute(
                    select(Conflict).where(Conflict.agent_id == self.agent.id)
                ).scalars()
            }
        return self._conflicts

    # -- conflicts and audit -------------------------------------------------------------

    def open_conflict(self, key: str, kind: str, **values: Any) -> Conflict:
        """Open a keyed conflict once; later sightings update it instead of opening another."""
        self.detected.add(key)
        conflict = self._conflict(key)
        if conflict is None:
            conflict = open_own(self.s, key, kind, agent_id=self.agent.id, **values)
            self._agent_conflicts()[key] = conflict
            self.counters.conflicts_opened += 1
            return conflict
        if conflict.status == "dismissed" and all(
            getattr(conflict, name) == value
            for name, value in values.items()
            if name in ("current_value", "proposed_value")
        ):
            return conflict  # an admin dismissed exactly this; it stays dismissed
        if keep_open(conflict, **values):
            self.counters.conflicts_opened += 1
        return conflict

    def write_audit(self) -> None:
        """Insert the recorded audit events, in bulk."""
        self.counters.audit_events += self.ledger.write()

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
        for conflict in open_ones:
            tab = (conflict.details or {}).get("tab", CUSTOMERS_TAB)
            if conflict.key in self.detected or tab not in tabs:
                continue
            close(conflict, "cause disappeared")
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
                existing = known.get(binding.number or "") if binding.number else None
                ready.append((row, binding.phone, existing))
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

        # Decide every row against what is stored (dedupe.merge_fields, pure), then apply
        # the decisions in bulk: new customers and trackings inserted with their fields,
        # changes as one UPDATE per set of columns, never an ORM object per row.
        created = self._create_customers(
            [(phone, row) for row, phone, customer in ready if customer is None]
        )
        bound = [
            (row, _customer_values(customer) if customer is not None else created[phone])
            for row, phone, customer in ready
        ]
        trackings = self._trackings_by_customer()
        now = utcnow()
        self._reactivate([customer for _, customer in bound], trackings)
        fresh = self._merge_rows(plan, bound, base, trackings, now)
        self._insert_trackings(fresh, now)

        if plan.quarantined is None:
            self._archive_removed(removed, trackings)
        self._write_changes()
        return plan

    def _reactivate(
        self, customers: list[dict[str, Any]], trackings: dict[int, dict[str, Any]]
    ) -> None:
        """The seed's "Add my tracking" for customers this agent tracked before: the
        archived tracking comes back."""
        for customer in customers:
            tracking = trackings.get(customer["id"])
            if tracking is not None and not tracking["active"]:
                self._tracking_change(tracking, {"active": True, "archived_at": None})
                self.ledger.audit(
                    "reactivate_tracking",
                    "tracking",
                    tracking["id"],
                    customer["id"],
                    {"active": False},
                    {"active": True},
                )

    def _merge_rows(
        self,
        plan: TabPlan,
        bound: list[tuple[ParsedRow, dict[str, Any]]],
        base: dict[str, dict[str, str]],
        trackings: dict[int, dict[str, Any]],
        now: dt.datetime,
    ) -> list[tuple[dict[str, Any], FieldsDecision]]:
        """Decide each bound row's shared and private fields and record the decisions;
        returns the customers this agent does not track yet, with their rows' decisions
        (:meth:`_insert_trackings` inserts them)."""
        header = plan.header
        assert header is not None
        shared_keys = [k for k in SHARED_KEYS if k != "phone" and k in header.columns]
        private_keys = [k for k in AGENT_KEYS if k in header.columns]
        both_keys = [*shared_keys, *private_keys]
        proposals = self._open_proposals()
        fresh: list[tuple[dict[str, Any], FieldsDecision]] = []
        for row, customer in bound:
            number = customer["number"]
            plan.bound[row.index] = number
            base_row = base.get(number)
            problems = {i.field: i.message for i in row.issues}
            tracking = trackings.get(customer["id"])
            proposed = (
                {
                    key: value
                    for key in shared_keys
                    if (value := proposals.get(self._proposal_key(number, key))) is not None
                }
                if proposals
                else {}
            )
            if (
                tracking is not None
                and not proposed
                and as_last_synced(row.values, problems, both_keys, base_row)
            ):
                continue  # the row as the last cycle left it: nothing to decide
            shared = merge_fields(
                row.values,
                problems,
                shared_keys,
                customer,
                base_row,
                titles=_TITLES,
                typed_titles=header.titles,
                number=number,
                shared=True,
                proposed=proposed,
            )
            self._apply_shared(plan, row, customer, shared)
            private = merge_fields(
                row.values,
                problems,
                private_keys,
                tracking or {},
                base_row,
                titles=_TITLES,
                typed_titles=header.titles,
                number=number,
                shared=False,
            )
            self._note(plan, row.index, private)
            if tracking is None:
                fresh.append((customer, private))
            elif private.after:
                self._take_private(tracking, private, now)
                self.counters.trackings_updated += 1
                self.ledger.audit(
                    "update_tracking",
                    "tracking",
                    tracking["id"],
                    customer["id"],
                    private.before,
                    private.after,
                )
        return fresh

    def _note(self, plan: TabPlan, index: int, decision: FieldsDecision) -> None:
        for key, text in decision.notes:
            self.flag(plan, index, text, key)
        if decision.leave:
            plan.leave.setdefault(index, set()).update(decision.leave)

    def _proposal_key(self, number: str, key: str) -> str:
        return f"shared_field:{number}:{key}:{self.agent.key}"

    def _open_proposals(self) -> dict[str, str]:
        """Conflict key -> value of this agent's open proposals of a shared value."""
        return {
            key: conflict.proposed_value or ""
            for key, conflict in self._agent_conflicts().items()
            if conflict is not None
            and conflict.kind == "shared_field"
            and conflict.status == "open"
        }

    def _apply_shared(
        self, plan: TabPlan, row: ParsedRow, customer: dict[str, Any], decision: FieldsDecision
    ) -> None:
        """Open the row's proposals as conflicts, note it, and record the values it fills."""
        for key, (current, mine) in decision.proposals.items():
            self.open_conflict(
                self._proposal_key(customer["number"], key),
                "shared_field",
                customer_id=customer["id"],
                field=key,
                current_value=current,
                proposed_value=mine,
                details={"tab": CUSTOMERS_TAB, "row": row.index + 1},
            )
        self._note(plan, row.index, decision)
        if not decision.after:
            return
        customer.update(decision.take)
        self._customer_changes.append(
            {"_id": customer["id"], **decision.take, "updated_at": utcnow()}
        )
        self.counters.customers_updated += 1
        self.touched_customers.add(customer["id"])
        self.ledger.audit(
            "update_customer",
            "customer",
            customer["id"],
            customer["id"],
            decision.before,
            decision.after,
        )

    def _take_private(
        self, tracking: dict[str, Any], decision: FieldsDecision, now: dt.datetime
    ) -> None:
        """Store the fields a row changed in its tracking (and when it was first Completed)."""
        change: dict[str, Any] = {**decision.take, "last_update": now}
        if "status" in decision.after:
            status = decision.take["status"]
            if status == "Completed" and tracking.get("completed_at") is None:
                change["completed_at"], change["completed_run_id"] = now, self.run_id
            elif status != "Completed" and tracking.get("completed_at") is not None:
                change["completed_at"], change["completed_run_id"] = None, None
            self.touched_customers.add(tracking["customer_id"])
        if tracking.get("id") is None:
            tracking.update(change)
        else:
            self._tracking_change(tracking, change)

    def _tracking_change(self, tracking: dict[str, Any], change: dict[str, Any]) -> None:
        tracking.update(change)
        pending = self._tracking_changes.setdefault(tracking["id"], {"_id": tracking["id"]})
        pending.update(change)

    def _write_changes(self) -> None:
        """The customers and trackings the merge changed: one UPDATE per set of columns."""
        update_by_id(self.s, Customer, self._customer_changes)
        update_by_id(self.s, Tracking, self._tracking_changes.values())
        self._customer_changes, self._tracking_changes = [], {}

    def _archive_removed(self, removed: list[str], trackings: dict[int, dict[str, Any]]) -> None:
        """Archive this agent's tracking of the customers whose rows are gone."""
        query = select(_CUSTOMERS.c.number, _CUSTOMERS.c.id)
        for _, customer_id in rows_in(self.s, query, _CUSTOMERS.c.number, removed):
            gone = trackings.get(customer_id)
            if gone is None or not gone["active"]:
                continue
            self._tracking_change(gone, {"active": False, "archived_at": utcnow()})
            self.counters.trackings_archived += 1
            self.ledger.audit(
                "archive_tracking",
                "tracking",
                gone["id"],
                customer_id,
                {"active": True},
                {"active": False, "reason": "row removed from sheet"},
            )

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

    def _trackings_by_customer(self) -> dict[int, dict[str, Any]]:
        """This agent's trackings (archived ones too) as plain values, by customer id."""
        rows = self.s.execute(select(_TRACKINGS).where(_TRACKINGS.c.agent_id == self.agent.id))
        return {row.customer_id: dict(row._mapping) for row in rows}

    def _create_customers(self, wanted: list[tuple[str, ParsedRow]]) -> dict[str, dict[str, Any]]:
        """Create the customers for new phones in one insert, numbered in row order.

        Inserted with Core (a cold cycle creates tens of thousands); returns phone -> the
        customer's values. If another worker created one of these phones meanwhile, the
        batch is rolled back to its savepoint and the phones are taken one by one.
        """
        if not wanted:
            return {}
        year = self.today.year
        now = utcnow()
        try:
            with self.s.begin_nested():
                first = next_number(self.s, f"customer-{year}", len(wanted))
                rows: list[dict[str, Any]] = [
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
                ids = insert_with_ids(self.s, _CUSTOMERS, rows, "number")
        except IntegrityError:
            return {phone: self._create_customer(phone, row) for phone, row in wanted}
        for customer_id, values in zip(ids, rows, strict=True):
            values["id"] = customer_id
            self._created(values)
        return {values["phone"]: values for values in rows}

    def _create_customer(self, phone: str, row: ParsedRow) -> dict[str, Any]:
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
            return _customer_values(existing)
        values = _customer_values(customer)
        self._created(values)
        return values

    def _created(self, customer: dict[str, Any]) -> None:
        self.counters.customers_created += 1
        self.touched_customers.add(customer["id"])
        self.ledger.audit(
            "create_customer",
            "customer",
            customer["id"],
            customer["id"],
            None,
            {
                "number": customer["number"],
                "phone": customer["phone"],
                **{
                    k: value_text(customer[k])
                    for k in SHARED_KEYS
                    if k != "phone" and customer.get(k) is not None
                },
            },
        )

    def _insert_trackings(
        self, fresh: list[tuple[dict[str, Any], FieldsDecision]], now: dt.datetime
    ) -> None:
        """The seed's "Add my tracking": insert this agent's new trackings with the fields
        their rows typed (never inserted, then updated), then audit them with their ids."""
        if not fresh:
            return
        rows = []
        for customer, decision in fresh:
            tracking: dict[str, Any] = dict.fromkeys(_TRACKING_KEYS)
            tracking.update(
                customer_id=customer["id"],
                agent_id=self.agent.id,
                active=True,
                lost_to_colleague=False,
                tracked_since=now,
                last_update=now,
            )
            if decision.after:
                self._take_private(tracking, decision, now)
            rows.append(tracking)
        # A new tracking is this agent's only one of its customer (an archived one would
        # have come back instead).
        ids = insert_with_ids(
            self.s, _TRACKINGS, rows, "customer_id", _TRACKINGS.c.agent_id == self.agent.id
        )
        for (customer, decision), tracking_id in zip(fresh, ids, strict=True):
            self.counters.trackings_added += 1
            self.ledger.audit(
                "add_tracking",
                "tracking",
                tracking_id,
                customer["id"],
                None,
                {"agent": self.agent.key, "customer": customer["number"]},
            )
            if decision.after:
                self.counters.trackings_updated += 1
                self.ledger.audit(
                    "update_tracking",
                    "tracking",
                    tracking_id,
                    customer["id"],
                    decision.before,
                    decision.after,
                )

    # -- follow-ups tab -------------------------------------------------------------------

    def follow_ups(self, grid: Grid | None, base: dict[str, dict[str, str]]) -> TabPlan:
        plan = TabPlan(FOLLOW_UPS_TAB)
        where = f"{self.source}, tab {FOLLOW_UPS_TAB}"
        if not self._open_tab(plan, grid, FOLLOW_UP_FIELDS, "run `sheetsync init`"):
            return plan
        header = plan.header
        assert header is not None

        trackings = {
            t.id: t
            for t in self.s.execute(
                select(Tracking.id, Tracking.customer_id, Customer.number, Customer.phone)
                .join(Customer, Customer.id == Tracking.customer_id)
                .where(Tracking.agent_id == self.agent.id, Tracking.active.is_(True))
            )
        }
        by_number = {t.number: t for t in trackings.values()}
        by_phone = {t.phone: t for t in trackings.values()}
        # Rows still showing a merged customer's number or phone bind to the tracking
        # of the customer it was merged into.
        of_customer = {t.customer_id: t for t in trackings.values()}
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
        fresh: list[tuple[int, Any, dict[str, Any]]] = []
        for row in plan.rows:
            issues = {i.field: i for i in row.issues}
            number = cell_text(row.raw.get("follow_up_number"))
            phone = (
                None if "phone" in issues else parse_phone(row.raw.get("phone"), self.region).e164
            )
            claimed = by_number.get(cell_text(row.raw.get("customer_number")))
            tracking = (
                claimed
                if claimed is not None and (phone is None or claimed.phone == phone)
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
            plan.customer_of[row.index] = tracking.number
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
                    self.ledger.audit(
                        "archive_follow_up",
                        "follow_up",
                        follow_up.id,
                        trackings[follow_up.tracking_id].customer_id,
                        {"active": True},
                        {"active": False},
                    )
        return plan

    def _create_follow_ups(
        self, plan: TabPlan, fresh: list[tuple[int, Any, dict[str, Any]]]
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
        ids = insert_with_ids(self.s, _FOLLOW_UPS, rows, "number")
        for number, follow_up_id, (index, tracking, values) in zip(
            numbers, ids, fresh, strict=True
        ):
            plan.bound[index] = number
            self.counters.follow_ups_created += 1
            self.ledger.audit(
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
        tracking: Any,
    ) -> None:
        decision = merge_fields(
            values,
            {},
            [str(key) for key in values],
            {key: getattr(follow_up, key) for key in values},
            base_row,
            titles=_FOLLOW_UP_TITLES,
            typed_titles=plan.header.titles if plan.header is not None else {},
            number=plan.customer_of[row.index],
            shared=False,
        )
        self._note(plan, row.index, decision)
        for key, value in decision.take.items():
            setattr(follow_up, key, value)
        before, after = decision.before, decision.after
        if not follow_up.active:
            follow_up.active = True
            after["active"] = "TRUE"
        if after:
            follow_up.updated_at = utcnow()
            self.counters.follow_ups_updated += 1
            self.ledger.audit(
                "update_follow_up", "follow_up", follow_up.id, tracking.customer_id, before, after
            )

    # -- cross-customer checks ---------------------------------------------------------------

    def flag_possible_duplicates(self) -> None:
        """Same email, or same name and date of birth, under different phones."""
        touched = sorted(self.touched_customers)
        for start in range(0, len(touched), CHUNK):
            self._flag_duplicates_among(touched[start : start + CHUNK])

    def _flag_duplicates_among(self, ids: list[int]) -> None:
        c = _CUSTOMERS.c
        customers = [
            row
            for row in rows_in(self.s, DUPLICATE_LOOKUP, c.id, ids)
            if row.merged_into_id is None and (row.email or (row.name and row.date_of_birth))
        ]
        if not customers:
            return
        emails = {fold(row.email) for row in customers if row.email}
        names = {fold(row.name) for row in customers if row.name and row.date_of_birth}
        # One lookup on each folded index; the texts are compared whole below.
        others: dict[int, Any] = {}
        for lookup, wanted in ((BY_EMAIL, emails), (BY_NAME, names)):
            for row in rows_in(self.s, DUPLICATE_LOOKUP, lookup, wanted):
                if row.merged_into_id is None:
                    others[row.id] = row
        by_email: dict[str, list[Any]] = {}
        by_name: dict[tuple[str, dt.date], list[Any]] = {}
        for other in sorted(others.values(), key=lambda row: row.id):
            if other.email:
                by_email.setdefault(other.email.lower(), []).append(other)
            if other.name and other.date_of_birth:
                by_name.setdefault((other.name.lower(), other.date_of_birth), []).append(other)
        pairs: dict[str, tuple[Any, Any, str]] = {}
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
                first, second = sorted((customer, other), key=lambda row: row.id)
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
            if open_new(
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


DUPLICATE_LOOKUP = select(
    *(_CUSTOMERS.c[k] for k in ("id", "number", "phone", "email", "name", "date_of_birth")),
    _CUSTOMERS.c.merged_into_id,
)
"""What the lookup of possible duplicates reads of a customer. Merged customers are left out
after reading, not in the query: a condition on merged_into_id made SQLite read that index
(every live customer) instead of the one asked for."""
BY_EMAIL, BY_NAME = folded(_CUSTOMERS.c.email), folded(_CUSTOMERS.c.name)
"""What possible duplicates are looked up by, each on its index (sync/model.py; a name's
holds the date of birth too, which the rows found are compared by)."""


def _customer_values(customer: Any) -> dict[str, Any]:
    """What the merge reads of a customer: its id, number and shared fields."""
    return {
        "id": customer.id,
        "number": customer.number,
        **{key: getattr(customer, key) for key in SHARED_KEYS},
    }


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
