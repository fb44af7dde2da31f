"""The seed's three commission rules, applied to the customers whose completions changed.

* ``first_to_complete``: the first agent whose Status becomes Completed gets 100 %, the
  others are *lost to colleague*. Two in the same cycle open a ``completion_race`` that
  an admin resolves (``value: <agent>``, or ``dismiss``: each completion counts).
* ``split``: the admin's percentages (master Tracking tab) stand; over 100 in total
  opens ``split_over_100``, which closes by itself once they are fixed.
* ``separate_opportunities``: every completion counts 100 %.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, or_, select
from sqlalchemy.orm import Session

from sync.db import rows_in, update_by_id
from sync.ledger import SHEETSYNC, Ledger, close, keep_open, open_new
from sync.model import Agent, Conflict, Customer, Tracking

RULES = ("first_to_complete", "split", "separate_opportunities")


def settle(session: Session, rule: str, customer_ids: Iterable[int], run_id: int | None) -> int:
    """Set commission % and *lost to colleague* on the trackings of these customers.

    The trackings are read as plain rows, what each should hold is decided customer by
    customer, and the changes are written in bulk with their audit events.

    Returns the number of conflicts opened (a completion race, or split percentages over 100).
    """
    opened = 0
    ids = sorted(set(customer_ids))
    if rule != "split":
        ids = _to_settle(session, ids)
    changes: list[dict[str, Any]] = []
    ledger = Ledger(session, SHEETSYNC, run_id)
    query: Any = (
        select(
            Tracking.id,
            Tracking.customer_id,
            Tracking.status,
            Tracking.completed_at,
            Tracking.completed_run_id,
            Tracking.commission_pct,
            Tracking.lost_to_colleague,
            Agent.key.label("agent_key"),
            Agent.name.label("agent_name"),
        )
        .join(Agent, Agent.id == Tracking.agent_id)
        .where(Tracking.active.is_(True))
    )
    active: dict[int, list[Row[Any]]] = {c: [] for c in ids}
    for tracking in rows_in(session, query, Tracking.customer_id, ids):
        active[tracking.customer_id].append(tracking)
    known = _Known(session, ids)
    for customer_id in ids:
        trackings = sorted(active[customer_id], key=lambda t: t.id)
        desired, conflict = _desired(known, rule, customer_id, trackings)
        if conflict is not None:
            opened += _open(known, customer_id, conflict, trackings)
        elif rule == "split":
            _close(known, customer_id, "split_over_100")
        for t in trackings:
            pct, lost = desired[t.id]
            if (t.commission_pct, t.lost_to_colleague) != (pct, lost):
                changes.append({"_id": t.id, "commission_pct": pct, "lost_to_colleague": lost})
                ledger.audit(
                    "commission",
                    "tracking",
                    t.id,
                    customer_id,
                    {"commission_pct": t.commission_pct, "lost_to_colleague": t.lost_to_colleague},
                    {"commission_pct": pct, "lost_to_colleague": lost},
                )
    update_by_id(session, Tracking, changes)
    ledger.write()
    return opened


def _to_settle(session: Session, ids: list[int]) -> list[int]:
    """Of these customers, the ones settling may change: with an active tracking that is
    Completed or has a commission or *lost to colleague* set. For the others every rule
    but ``split`` wants what they have (no commission, not lost): a cold cycle's thousands
    of new customers are not loaded one tracking at a time to find that out."""
    query = (
        select(Tracking.customer_id)
        .distinct()
        .where(
            Tracking.active.is_(True),
            or_(
                Tracking.status == "Completed",
                Tracking.commission_pct.is_not(None),
                Tracking.lost_to_colleague.is_(True),
            ),
        )
    )
    return sorted(
        {customer_id for (customer_id,) in rows_in(session, query, Tracking.customer_id, ids)}
    )


def _desired(
    known: _Known, rule: str, customer_id: int, trackings: list[Row[Any]]
) -> tuple[dict[int, tuple[float | None, bool]], str | None]:
    """What one customer's active trackings (in id order) should hold under the rule:
    tracking id -> (commission %, lost to colleague), and the kind of conflict to open."""
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
        winner = _race_winner(known, customer_id, racers) if len(racers) > 1 else None
        if len(racers) > 1 and winner is None:
            for t in trackings:
                desired[t.id] = (None, False)
            return desired, "completion_race"
        for t in trackings:
            if len(racers) == 1:
                wins = t is racers[0]
            else:
                wins = t in racers if winner == "*" else t.agent_key == winner
            desired[t.id] = (100.0, False) if wins else (0.0, True)
    elif rule == "first_to_complete":
        for t in trackings:
            desired[t.id] = (None, False)
    elif rule == "split" and sum(t.commission_pct or 0 for t in trackings) > 100:
        return desired, "split_over_100"
    return desired, None


def unsettled(session: Session, rule: str) -> set[int]:
    """Customers with an active Completed tracking whose commission was never decided.

    A cycle settles the completions it ingests; this finds those a killed cycle left.
    Completions that wait for an admin are not among them: an open completion race, and
    under ``split`` every completion (the admin's percentages are the decision). Settling
    them again every cycle would change nothing and cost an idle cycle most of its time.
    """
    if rule == "split":
        return set()
    return set(session.scalars(UNSETTLED))


_RACING = select(Conflict.customer_id).where(
    Conflict.kind == "completion_race",
    Conflict.status == "open",
    Conflict.customer_id.is_not(None),
)
UNSETTLED = select(Tracking.customer_id).where(
    Tracking.status == "Completed",
    Tracking.commission_pct.is_(None),  # (with the status: ix_trackings_status_commission)
    Tracking.active.is_(True),
    Tracking.completed_at.is_not(None),
    Tracking.customer_id.not_in(_RACING),
)
"""The customers of :func:`unsettled` (built once: every cycle asks)."""


class _Known:
    """The numbers of the customers being settled and which of their commission conflicts
    exist, looked up once for all of them (a cold cycle settles thousands of customers,
    and a query or two for each cost it more than settling them)."""

    def __init__(self, session: Session, customer_ids: list[int]):
        self.session = session
        self.numbers: dict[int, str] = dict(
            rows_in(session, select(Customer.id, Customer.number), Customer.id, customer_ids)
        )
        keys = [self.key(c, kind) for c in customer_ids for kind in _KINDS]
        self.found = {key for (key,) in rows_in(session, select(Conflict.key), Conflict.key, keys)}

    def key(self, customer_id: int, kind: str) -> str:
        return f"{kind}:{self.numbers.get(customer_id, customer_id)}"

    def conflict(self, key: str) -> Conflict | None:
        """The conflict with this key, loaded (only those found exist)."""
        if key not in self.found:
            return None
        query = select(Conflict).where(Conflict.key == key)
        return self.session.execute(query).scalar_one_or_none()


_KINDS = ("completion_race", "split_over_100")


def _race_winner(known: _Known, customer_id: int, racers: list[Row[Any]]) -> str | None:
    """The admin's decision of a completion race: an agent key, ``*`` (each counts) or None."""
    conflict = known.conflict(known.key(customer_id, "completion_race"))
    if conflict is None or conflict.status != "resolved":
        return None
    winner = (conflict.details or {}).get("winner")
    if winner == "*" or winner in {t.agent_key for t in racers}:
        return str(winner)
    return None


def _close(known: _Known, customer_id: int, kind: str) -> None:
    conflict = known.conflict(known.key(customer_id, kind))
    if conflict is not None and conflict.status == "open":
        close(conflict, "cause disappeared")


def _open(known: _Known, customer_id: int, kind: str, trackings: list[Row[Any]]) -> int:
    key = known.key(customer_id, kind)
    existing = known.conflict(key)
    if existing is not None:
        # Closed because its cause disappeared, it is back; a completion race the admin
        # decided is decided again if who completed changed.
        if existing.status == "resolved" and (
            existing.resolved_by == SHEETSYNC or kind == "completion_race"
        ):
            return int(keep_open(existing))
        return 0
    agents = [t.agent_name for t in trackings]
    return int(
        open_new(
            known.session,
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
