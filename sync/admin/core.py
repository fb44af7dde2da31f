"""The unit of work of admin actions: who acts, the audit trail, and agents' merge bases.

Every admin action runs inside the caller's transaction through an :class:`Admin`,
which writes one audit event per change with the admin identity from the
configuration (``sync.admin``) as actor, and remembers which customers need their
commission settled again.

Agents' sheets are updated by the next cycle's three-way merge. For that to push a
value the admin decided into an agent's cell, the agent's *base* (what the sheet held
after the last cycle, kept row by row by :mod:`sync.sheet_rows`) must equal the cell:
:meth:`Admin.set_base` does that for a cell that holds a proposal the admin has now decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.dedupe import value_text
from sync.errors import SyncError
from sync.fields import CUSTOMERS_TAB, FIELDS_BY_KEY
from sync.ledger import Ledger, close
from sync.model import AuditEvent, Conflict, Customer, SheetState, utcnow
from sync.rows import ParseOptions
from sync.sheet_rows import load_tab_rows, save_tab_rows
from sync.values import parse_value


class AdminError(SyncError):
    """An admin action that cannot be applied; the message says why and what to do."""

    exit_code = 2


@dataclass
class Admin:
    """Admin actions inside one transaction.

    Attributes:
        s: the session (the caller commits).
        actor: the admin identity recorded in the audit log.
        rule: the commission rule (``sync.commission_rule``).
        options: how typed values are parsed (day first, aliases).
        region: the region of phones typed without a country code.
        run_id: the cycle's run, when applied by a cycle.
        touched: customers whose commission must be settled again.
        events: audit events written.
        closed: conflicts closed.
        changes: data changes applied (customers, trackings, commission).
        customers_updated: the customers whose canonical data an audited action changed.
        trackings_updated: the trackings an audited action changed (Commission %).
    """

    s: Session
    actor: str
    rule: str = "first_to_complete"
    options: ParseOptions = field(default_factory=ParseOptions)
    region: str = "EG"
    run_id: int | None = None
    touched: set[int] = field(default_factory=set)
    events: int = 0
    closed: int = 0
    changes: int = 0
    customers_updated: set[int] = field(default_factory=set)
    trackings_updated: set[int] = field(default_factory=set)

    def audit(
        self,
        action: str,
        entity: str,
        entity_id: int,
        customer_id: int | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> AuditEvent:
        ledger = Ledger(self.s, self.actor, self.run_id)
        ledger.audit(action, entity, entity_id, customer_id, before, after)
        event = ledger.write_last()
        self.events += 1
        if entity == "customer" and customer_id is not None:
            self.customers_updated.add(customer_id)
        elif entity == "tracking":
            self.trackings_updated.add(entity_id)
        return event

    # -- conflicts ----------------------------------------------------------------------------

    def close(self, conflict: Conflict, status: str, resolution: str) -> None:
        """Close a conflict as ``resolved`` or ``dismissed``, audited."""
        before = {"status": conflict.status, "resolution": conflict.resolution}
        close(conflict, resolution, status=status, by=self.actor)
        self.closed += 1
        self.audit(
            "resolve_conflict",
            "conflict",
            conflict.id,
            conflict.customer_id,
            before,
            {"status": status, "resolution": resolution, "kind": conflict.kind},
        )

    def open_proposals(self, customer_id: int, key: str) -> list[Conflict]:
        return list(
            self.s.execute(
                select(Conflict)
                .where(
                    Conflict.kind == "shared_field",
                    Conflict.status == "open",
                    Conflict.customer_id == customer_id,
                    Conflict.field == key,
                )
                .order_by(Conflict.id)
            ).scalars()
        )

    # -- canonical data -------------------------------------------------------------------------

    def parse(self, key: str, text: str) -> object:
        """A value typed by the admin, read as its field's type.

        Raises:
            AdminError: the text is not a valid value of the field.
        """
        spec = FIELDS_BY_KEY[key]
        try:
            return parse_value(spec, text, self.options)
        except ValueError as exc:
            raise AdminError(f"'{text}' is not a valid {spec.header}: {exc}") from None

    def set_shared(
        self, customer: Customer, key: str, value: object, why: str, *, keep: Conflict | None = None
    ) -> None:
        """Set a shared field as the admin decided; every open proposal for it is settled.

        The admin's value is authoritative: each agent who proposed another value gets
        it pushed to their sheet by the next cycle (their proposal stays in the closed
        conflict), and so does every other agent tracking the customer.

        Args:
            why: the resolution text recorded on the proposals closed here.
            keep: a conflict the caller closes itself (with the admin's own words).
        """
        before, after = value_text(getattr(customer, key)), value_text(value)
        if before != after:
            setattr(customer, key, value)
            customer.updated_at = utcnow()
            self.changes += 1
            self.audit(
                "admin_update_customer",
                "customer",
                customer.id,
                customer.id,
                {key: before},
                {key: after},
            )
        header = FIELDS_BY_KEY[key].header
        for conflict in self.open_proposals(customer.id, key):
            if conflict.agent_id is not None:
                self.set_base(
                    conflict.agent_id, customer.number, key, conflict.proposed_value or ""
                )
            if conflict is not keep:
                self.close(conflict, "resolved", f"{why}: {header} is '{after}'")

    # -- agents' bases ----------------------------------------------------------------------------

    def agent_states(self, tab: str = CUSTOMERS_TAB) -> list[SheetState]:
        return list(
            self.s.execute(
                select(SheetState)
                .where(SheetState.tab == tab, SheetState.agent_id.is_not(None))
                .order_by(SheetState.id)
            ).scalars()
        )

    def agent_state(self, agent_id: int, tab: str = CUSTOMERS_TAB) -> SheetState | None:
        return self.s.execute(
            select(SheetState).where(SheetState.tab == tab, SheetState.agent_id == agent_id)
        ).scalar_one_or_none()

    def set_base(self, agent_id: int, number: str, key: str, text: str) -> None:
        """Make an agent's base of one cell equal what the cell holds (a decided proposal).

        The next cycle then sees the cell as untouched by the agent and writes the
        canonical value into it, instead of proposing the same value again. The sheet
        is read again by that cycle, so its Sync notes are brought up to date too.
        """
        state = self.agent_state(agent_id)
        if state is None:
            return
        snap = load_tab_rows(self.s, state.source, state.tab, [number])
        row = snap.rows.get(number)
        if row is None:
            return
        row[key] = text
        snap.shown.pop(number, None)  # the row no longer shows what it was synced as
        leave = snap.leave
        if key in leave.get(number, []):
            leave[number] = [k for k in leave[number] if k != key]
        save_tab_rows(self.s, state.source, state.tab, snap, [number])
        state.version = None  # read the sheet again: its notes about the proposal change too
