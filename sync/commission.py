"""The seed's three commission rules, applied to the customers whose completions changed."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.db import insert_once
from sync.model import AuditEvent, Conflict, Customer, Tracking

RULES = ("first_to_complete", "split", "separate_opportunities")


def settle(session: Session, rule: str, customer_ids: Iterable[int], run_id: int | None) -> int:
    """Set commission % and *lost to colleague* on the trackings of these customers.

    Returns the number of conflicts opened (a completion race, or split percentages over 100).
    """
    opened = 0
    for customer_id in sorted(set(customer_ids)):
        trackings = list(
            session.execute(
                select(Tracking)
                .where(Tracking.customer_id == customer_id, Tracking.active.is_(True))
                .order_by(Tracking.id)
            ).scalars()
        )
        desired: dict[int, tuple[float | None, bool]] = {
            t.id: (t.commission_pct, False) for t in trackings
        }
        done = sorted(
            (t for t in trackings if t.status == "Completed" and t.completed_at),
            key=lambda t: (t.completed_run_id or 0, t.completed_at, t.id),
        )
        if rule == "separate_opportunities":
            for t in trackings:
                desired[t.id] = (100.0 if t.status == "Completed" else None, False)
        elif rule == "first_to_complete" and done:
            first_run = done[0].completed_run_id
            racers = (
                [t for t in done if t.completed_run_id == first_run]
                if first_run is not None
                else done[:1]
            )
            if len(racers) > 1:
                opened += _open(session, customer_id, "completion_race", racers)
                for t in trackings:
                    desired[t.id] = (None, False)
            else:
                for t in trackings:
                    desired[t.id] = (100.0, False) if t is racers[0] else (0.0, True)
        elif rule == "first_to_complete":
            for t in trackings:
                desired[t.id] = (None, False)
        elif rule == "split":
            total = sum(t.commission_pct or 0 for t in trackings)
            if total > 100:
                opened += _open(session, customer_id, "split_over_100", trackings)
        for t in trackings:
            pct, lost = desired[t.id]
            if (t.commission_pct, t.lost_to_colleague) != (pct, lost):
                session.add(
                    AuditEvent(
                        actor="sheetsync",
                        action="commission",
                        entity="tracking",
                        entity_id=t.id,
                        customer_id=customer_id,
                        run_id=run_id,
                        before={
                            "commission_pct": t.commission_pct,
                            "lost_to_colleague": t.lost_to_colleague,
                        },
                        after={"commission_pct": pct, "lost_to_colleague": lost},
                    )
                )
                t.commission_pct, t.lost_to_colleague = pct, lost
    return opened


def unsettled(session: Session) -> set[int]:
    """Customers with an active Completed tracking whose commission was never decided."""
    return set(
        session.scalars(
            select(Tracking.customer_id).where(
                Tracking.active.is_(True),
                Tracking.status == "Completed",
                Tracking.commission_pct.is_(None),
                Tracking.completed_at.is_not(None),
            )
        )
    )


def _open(session: Session, customer_id: int, kind: str, trackings: list[Tracking]) -> int:
    customer = session.get(Customer, customer_id)
    number = customer.number if customer else str(customer_id)
    key = f"{kind}:{number}"
    if session.execute(select(Conflict.id).where(Conflict.key == key)).first() is not None:
        return 0
    agents = [t.agent.name for t in trackings]
    return int(
        insert_once(
            session,
            Conflict(
                key=key,
                kind=kind,
                customer_id=customer_id,
                field="commission",
                details={
                    "agents": agents,
                    "message": (
                        f"{' and '.join(agents)} completed in the same cycle; "
                        "an admin decides the commission"
                        if kind == "completion_race"
                        else f"commission percentages of {', '.join(agents)} add up to over 100"
                    ),
                },
            ),
        )
    )
