"""An admin's soft delete of a customer, and its restore (the seed's ``isDeleted``).

A deleted customer keeps every record: its trackings, follow-ups and audit events stay as
they are. It leaves the master's Customers, Tracking and Follow-ups tabs for its Deleted
tab; each agent's row for it gets a Sync note and is no longer synced; an agent typing
its phone again opens a ``deleted_customer`` conflict instead of creating a customer;
``lookup`` and the Check tab say it was deleted; commission leaves it out. ``restore``
undoes all of it. Both are audit events, so ``history`` shows them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sync.admin.core import Admin, AdminError
from sync.fields import AGENT_TABS, CHECK_TAB, YES
from sync.model import AuditEvent, Conflict, Customer, SheetState, utcnow
from sync.words import Language, say


def deleted_words(at: dt.datetime, reason: str | None, language: Language = "en") -> str:
    """When and why an admin deleted a customer, as agents are told."""
    note = say("removed_by_admin", language, date=at.date().isoformat())
    return f"{note}: {reason}" if reason else note


def removed_note(at: dt.datetime, reason: str | None, language: Language = "en") -> str:
    """The Sync note of an agent's row for a deleted customer."""
    return say("no_longer_synced", language, words=deleted_words(at, reason, language))


def delete_customer(admin: Admin, customer: Customer, reason: str) -> AuditEvent:
    """Delete a customer (softly: every record is kept), saying why.

    Raises:
        AdminError: no reason, merged into another customer, or deleted already.
    """
    reason = " ".join(reason.split())
    if not reason:
        raise AdminError(
            f"say why {customer.number} is deleted (sheetsync delete --reason TEXT; in the "
            "master: delete: REASON)"
        )
    _not_merged(customer)
    if customer.deleted_at is not None:
        raise AdminError(
            f"{customer.number} was deleted already, on {customer.deleted_at.date()} by "
            f"{customer.deleted_by}"
        )
    customer.deleted_at = utcnow()
    customer.deleted_by = admin.actor
    customer.delete_reason = reason
    admin.changes += 1
    admin.touched.add(customer.id)  # its completions leave the commission
    return admin.audit(
        "delete_customer",
        "customer",
        customer.id,
        customer.id,
        {"deleted": False},
        {"deleted": True, "reason": reason},
    )


def restore_customer(admin: Admin, customer: Customer) -> AuditEvent:
    """Undo a customer's delete: it is back everywhere it was.

    Raises:
        AdminError: not deleted.
    """
    _not_merged(customer)
    if customer.deleted_at is None:
        raise AdminError(f"{customer.number} is not deleted")
    before = {"deleted": True, "reason": customer.delete_reason}
    customer.deleted_at = customer.deleted_by = customer.delete_reason = None
    _read_again(admin.s, customer)
    admin.changes += 1
    admin.touched.add(customer.id)
    return admin.audit(
        "restore_customer", "customer", customer.id, customer.id, before, {"deleted": False}
    )


def _read_again(s: Session, customer: Customer) -> None:
    """Have the next cycle read the sheets of the agents who asked for this customer while
    it was deleted (its phone typed again in Customers, ``yes`` in the Check tab): their
    rows were left alone, and are taken now."""
    agents = set(
        s.execute(
            select(Conflict.agent_id).where(
                Conflict.kind == "deleted_customer",
                Conflict.status == "open",
                Conflict.customer_id == customer.id,
            )
        ).scalars()
    )
    for state in s.execute(select(SheetState).where(SheetState.tab == CHECK_TAB)).scalars():
        kept = state.tab_snapshot.checks.get(customer.phone)
        if kept and kept[0] == YES:
            agents.add(state.agent_id)
    agents.discard(None)
    if agents:
        s.execute(
            update(SheetState)
            .where(SheetState.agent_id.in_(agents), SheetState.tab.in_(tuple(AGENT_TABS)))
            .values(version=None)
        )


def _not_merged(customer: Customer) -> None:
    if customer.merged_into_id is not None:
        raise AdminError(
            f"{customer.number} was merged into another customer; act on that one "
            f"(sheetsync history {customer.number})"
        )
