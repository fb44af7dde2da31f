"""The Customers tab: rows bound to customers by phone and Customer #, merged three ways
against the row as last synced, then applied in bulk (new customers and trackings
inserted with their fields, changes as one UPDATE per set of columns).

At this size because binding, the merge and the bulk apply fill one plan step by step,
each step reading what the one before decided; the pure rules are :mod:`sync.dedupe`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sync.admin.identity import binding_maps
from sync.cells import Grid, cell_text
from sync.db import insert_with_ids, next_number, rows_in, update_by_id
from sync.dedupe import (
    Binding,
    FieldsDecision,
    RowIdentity,
    as_last_synced,
    bind_rows,
    merge_fields,
    parse_phone,
    value_text,
)
from sync.fields import AGENT_KEYS, CUSTOMER_FIELDS, CUSTOMERS_TAB, SHARED_KEYS
from sync.ingest.base import CUSTOMERS_TABLE, TRACKING_KEYS, TRACKINGS_TABLE, IngestBase
from sync.ingest.plans import TabPlan
from sync.long_text import CUT_TAIL, MAX_CELL_CHARS, is_cut
from sync.model import Customer, Tracking, utcnow
from sync.phones import PhoneResult
from sync.rows import Header, ParsedRow, parse_rows
from sync.sheet_rows import TabRows, digest_shown, shown_parts
from sync.words import said_in, say

_KEYS = tuple(f.key for f in CUSTOMER_FIELDS)


def unchanged_rows(stored: TabRows, grid: Grid, header: Header) -> dict[int, str]:
    """The rows of a Customers tab that show, in every column, what the last cycle left
    there (row index -> Customer #): such a row is where it was written, its cells are the
    ones its digest was stored with (:func:`sync.sheet_rows.shown_digest`), and it has no
    Sync note of its own and nothing left to the agent while an admin decides. They are
    not parsed: only the rows an agent changed go further.

    A tab without every column of the layout has none (each row's write would add the
    missing column's cell).
    """
    columns = header.columns
    if any(key not in columns for key in _KEYS):
        return {}
    shown, at, notes, leave = stored.shown, stored.at, stored.notes, stored.leave
    number_at = columns["customer_number"]
    keys = sorted(columns)
    at_columns = [columns[key] for key in keys]
    typed = len(keys)
    found: dict[int, str] = {}
    for index in range(header.row + 1, len(grid)):
        cells = grid[index]
        width = len(cells)
        number = cell_text(cells[number_at]) if number_at < width else ""
        digest = shown.get(number) if number else None
        if digest is None or at.get(number) != index or number in notes or number in leave:
            continue
        row = [cells[col] if col < width else None for col in at_columns]
        parts = shown_parts(keys, row)
        if digest_shown(parts) != digest:
            continue
        # A cut text (rare) is merged with its whole, never taken as shown: look closer.
        if CUT_TAIL in "\x00".join(parts[typed:]) and any(
            isinstance(cell, str) and is_cut(cell) for cell in row
        ):
            continue
        found[index] = number
    return found


class CustomersTab(IngestBase):
    """The Customers tab of an ingest (see the module)."""

    def customers(self, grid: Grid | None, stored: TabRows) -> TabPlan:
        """Apply the Customers tab.

        Args:
            stored: the tab's rows as last synced (:func:`sync.sheet_rows.load_tab_rows`).
        """
        plan = TabPlan(CUSTOMERS_TAB)
        where = f"{self.source}, tab {CUSTOMERS_TAB}"
        base = stored.rows
        if not self._open_tab(
            plan,
            grid,
            CUSTOMER_FIELDS,
            "nothing of this agent was synced",
            partial(unchanged_rows, stored),
        ):
            return plan
        assert grid is not None and plan.header is not None

        phone_at = plan.header.columns["phone"]
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
        for index, number in plan.unchanged.items():
            cells = grid[index]
            phone_cell = cells[phone_at] if phone_at < len(cells) else None
            phones[index] = parse_phone(phone_cell, self.region)
            identities.append(RowIdentity(index, number, cell_text(phone_cell), phones[index].e164))
        identities.sort(key=lambda i: i.index)
        maps = binding_maps(
            self.s,
            {i.number for i in identities if i.number},
            {i.phone for i in identities if i.phone},
        )
        known = maps.known
        bindings = bind_rows(identities, maps.by_number, maps.by_phone, maps.trusted, self.language)
        trackings = self._trackings_by_customer()
        for row in self._keep_unchanged(plan, grid, bindings, phones, known, trackings):
            unreadable.update((row.index, i.message) for i in row.issues if i.field == "phone")

        kept = {b.keeps for b in bindings if b.keeps}
        plan.kept = kept
        removed = [number for number in base if number not in kept]
        # A tab that comes back empty (a lost workbook made anew, a cleared tab) is held
        # whatever its size; a smaller removal only from mass_removal_min_rows rows on.
        emptied = bool(removed) and not plan.rows and not plan.unchanged and self._tracks_any()
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
            if binding.index in plan.unchanged:
                continue  # bound by _keep_unchanged: nothing to decide
            row = rows[binding.index]
            if row.index in unreadable:
                message = say("phone_unreadable", self.language, problem=unreadable[row.index])
                self.flag(plan, row.index, message, "phone")
                continue
            if binding.note:
                self.flag(plan, row.index, binding.note, "phone")
            phone = phones[row.index]
            if phone.warning and binding.outcome in ("bound", "new"):
                self.flag(plan, row.index, said_in(phone.warning, self.language), "phone")
            if binding.outcome not in ("invalid_phone", "mismatch", "duplicate"):
                assert binding.phone is not None
                existing = known.get(binding.number or "") if binding.number else None
                if existing is not None and existing.deleted_at is not None:
                    self._deleted_row(plan, row, existing, trackings.get(existing.id))
                    continue
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
            (row, customer_values(customer) if customer is not None else created[phone])
            for row, phone, customer in ready
        ]
        now = utcnow()
        self._reactivate([customer for _, customer in bound], trackings)
        fresh = self._merge_rows(plan, bound, base, trackings, now)
        self._insert_trackings(fresh, now)

        if plan.quarantined is None:
            self._archive_removed(removed, trackings)
        self._write_changes()
        return plan

    def _keep_unchanged(
        self,
        plan: TabPlan,
        grid: Grid,
        bindings: list[Binding],
        phones: dict[int, PhoneResult],
        known: Mapping[str, Any],
        trackings: Mapping[int, Mapping[str, Any]],
    ) -> list[ParsedRow]:
        """Bind the rows that show what the last cycle left to their customers; a row the
        binding says anything about (a note, another customer, a duplicate phone), whose
        tracking is no longer active, or whose customer has an open proposal of this agent
        is parsed and decided like an edited row after all (returned, and in ``plan.rows``).
        """
        if not plan.unchanged:
            return []
        proposed = {key.split(":")[1] for key in self._open_proposals()}
        again: list[int] = []
        for binding in bindings:
            number = plan.unchanged.get(binding.index)
            if number is None:
                continue
            customer = known.get(number)
            tracking = trackings.get(customer.id) if customer is not None else None
            if (
                binding.outcome == "bound"
                and binding.number == number
                and not binding.note
                and not phones[binding.index].warning
                and tracking is not None
                and tracking["active"]
                and number not in proposed
            ):
                plan.bound[binding.index] = number
            else:
                again.append(binding.index)
        self.counters.rows_unchanged += len(plan.unchanged) - len(again)
        if not again:
            return []
        for index in again:
            del plan.unchanged[index]
        assert plan.header is not None
        parsed = parse_rows(grid, plan.header, CUSTOMER_FIELDS, self.options, again)
        plan.rows = sorted([*plan.rows, *parsed], key=lambda r: r.index)
        return parsed

    def _deleted_row(
        self, plan: TabPlan, row: ParsedRow, customer: Any, tracking: dict[str, Any] | None
    ) -> None:
        """A row of a customer an admin deleted is no longer synced. The agent's own row
        shows the admin's note (the write-back renders it); a phone typed again (the agent
        does not track it) is not a new customer: the admin is asked."""
        if tracking is not None and tracking["active"]:
            plan.bound[row.index] = customer.number
            return
        self.flag(
            plan,
            row.index,
            say("deleted_row", self.language, number=customer.number),
            "phone",
        )
        self.open_conflict(
            f"deleted_customer:{self.agent.key}:{customer.number}",
            "deleted_customer",
            customer_id=customer.id,
            field="phone",
            current_value=customer.phone,
            proposed_value=cell_text(row.raw.get("phone")),
            details={"tab": CUSTOMERS_TAB, "row": row.index + 1},
        )

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
        base: Mapping[str, dict[str, str]],
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
                titles=self.titles,
                typed_titles=header.titles,
                number=number,
                shared=True,
                proposed=proposed,
                language=self.language,
            )
            self._apply_shared(plan, row, customer, shared)
            private = merge_fields(
                row.values,
                problems,
                private_keys,
                tracking or {},
                base_row,
                titles=self.titles,
                typed_titles=header.titles,
                number=number,
                shared=False,
                language=self.language,
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
        query = select(CUSTOMERS_TABLE.c.number, CUSTOMERS_TABLE.c.id)
        for _, customer_id in rows_in(self.s, query, CUSTOMERS_TABLE.c.number, removed):
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
        rows = self.s.execute(
            select(TRACKINGS_TABLE).where(TRACKINGS_TABLE.c.agent_id == self.agent.id)
        )
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
                ids = insert_with_ids(self.s, CUSTOMERS_TABLE, rows, "number")
        except IntegrityError:
            return {phone: self._create_customer(phone, row) for phone, row in wanted}
        for customer_id, values in zip(ids, rows, strict=True):
            values["id"] = customer_id
            self._created(values, now)
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
            return customer_values(existing)
        values = customer_values(customer)
        self._created(values)
        return values

    def _created(self, customer: dict[str, Any], at: dt.datetime | None = None) -> None:
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
            at,
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
            tracking: dict[str, Any] = dict.fromkeys(TRACKING_KEYS)
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
            self.s,
            TRACKINGS_TABLE,
            rows,
            "customer_id",
            TRACKINGS_TABLE.c.agent_id == self.agent.id,
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
                now,
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
                    now,
                )


def customer_values(customer: Any) -> dict[str, Any]:
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
