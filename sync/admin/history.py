"""The audit trail of one customer: every change to it, its trackings and follow-ups.

For admins only: it shows every agent's tracking changes side by side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from sync.admin.core import AdminError
from sync.model import Agent, AuditEvent, Customer, FollowUp, Tracking

CHUNK = 500


@dataclass
class HistoryEvent:
    """One audit event as ``sheetsync history`` shows it.

    Attributes:
        entity: customer, tracking, follow_up, conflict or audit_event (an undo).
        agent: whose tracking or follow-up, when it is one.
        changes: field, before, after, for each field the event changed.
    """

    id: int
    at: str
    actor: str
    action: str
    entity: str
    entity_id: int | None
    agent: str | None
    changes: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def history(session: Session, number: str) -> list[HistoryEvent]:
    """Every audit event about a customer (and customers merged into it), oldest first.

    Raises:
        AdminError: no customer with that number.
    """
    customer = session.execute(
        select(Customer).where(Customer.number == number.strip().upper())
    ).scalar_one_or_none()
    if customer is None:
        raise AdminError(f"no customer {number}")
    ids = {customer.id}
    frontier = [customer.id]
    while frontier:
        found = list(
            session.execute(select(Customer.id).where(Customer.merged_into_id.in_(frontier)))
            .scalars()
            .all()
        )
        frontier = [i for i in found if i not in ids]
        ids |= set(frontier)
    trackings = {
        t.id: t
        for t in session.execute(select(Tracking).where(Tracking.customer_id.in_(ids))).scalars()
    }
    # Trackings that were on this customer once (moved by a merge) are named in events.
    for tracking_id in session.execute(
        select(AuditEvent.entity_id).where(
            AuditEvent.entity == "tracking", AuditEvent.customer_id.in_(ids)
        )
    ).scalars():
        if tracking_id not in trackings:
            tracking = session.get(Tracking, tracking_id)
            if tracking is not None:
                trackings[tracking_id] = tracking
    follow_ups = {
        f.id: f
        for chunk in _chunks(sorted(trackings))
        for f in session.execute(select(FollowUp).where(FollowUp.tracking_id.in_(chunk))).scalars()
    }
    conds = [
        AuditEvent.customer_id.in_(ids),
        and_(AuditEvent.entity == "customer", AuditEvent.entity_id.in_(ids)),
    ]
    for chunk in _chunks(sorted(trackings)):
        conds.append(and_(AuditEvent.entity == "tracking", AuditEvent.entity_id.in_(chunk)))
    for chunk in _chunks(sorted(follow_ups)):
        conds.append(and_(AuditEvent.entity == "follow_up", AuditEvent.entity_id.in_(chunk)))
    events = {e.id: e for e in session.execute(select(AuditEvent).where(or_(*conds))).scalars()}
    for chunk in _chunks(sorted(events)):
        for undo in session.execute(
            select(AuditEvent).where(
                AuditEvent.entity == "audit_event", AuditEvent.entity_id.in_(chunk)
            )
        ).scalars():
            events[undo.id] = undo
    agents = {a.id: a.key for a in session.execute(select(Agent)).scalars()}

    def agent_of(event: AuditEvent) -> str | None:
        tracking = None
        if event.entity == "tracking":
            tracking = trackings.get(event.entity_id)
        elif event.entity == "follow_up" and event.entity_id in follow_ups:
            tracking = trackings.get(follow_ups[event.entity_id].tracking_id)
        return agents.get(tracking.agent_id) if tracking is not None else None

    return [
        HistoryEvent(
            id=e.id,
            at=e.at.isoformat(sep=" ", timespec="seconds"),
            actor=e.actor,
            action=e.action,
            entity=e.entity,
            entity_id=e.entity_id,
            agent=agent_of(e),
            changes=changes(e.before, e.after),
        )
        for e in sorted(events.values(), key=lambda e: e.id)
    ]


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Field-by-field before -> after of one event (nested records are kept whole)."""
    keys = list(dict.fromkeys([*(before or {}), *(after or {})]))
    return [
        {"field": k, "before": (before or {}).get(k), "after": (after or {}).get(k)} for k in keys
    ]


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]
