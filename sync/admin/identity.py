"""Which customer a phone or a Customer # means once customers have been merged.

A merged customer keeps its row (``merged_into_id`` set) so that the merge can be
undone; its phone is kept in ``customer_phones`` and binds agents' rows to the
customer it was merged into. These helpers give ingest the maps it binds rows with.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from sync.db import rows_in
from sync.dedupe import KnownCustomer
from sync.model import Agent, Customer, CustomerPhone, Tracking

MAX_CHAIN = 64
_CUSTOMERS = cast(Table, Customer.__table__)


def _customer_row(session: Session, customer_id: int) -> Any:
    """A customer's row (plain values), or None."""
    return session.execute(select(_CUSTOMERS).where(_CUSTOMERS.c.id == customer_id)).first()


def _final(session: Session, customer: Any) -> Any:
    """The customer a (possibly merged) customer stands for now: follow merges to the end."""
    seen = {customer.id}
    while customer.merged_into_id is not None and len(seen) < MAX_CHAIN:
        target = _customer_row(session, customer.merged_into_id)
        if target is None or target.id in seen:
            break
        seen.add(target.id)
        customer = target
    return customer


@dataclass
class BindingMaps:
    """What ``dedupe.bind_rows`` needs, with merges taken into account.

    Attributes:
        known: Customer # -> that customer's row (id, number, phone, shared fields), for
            every customer a row names or binds to.
        by_number: Customer # -> that customer's own number and phone.
        by_phone: phone -> the customer it binds to now (a merged customer's phone -> the
            customer it was merged into).
        trusted: (Customer #, phone) pairs the sync wrote that now mean the phone's customer.
    """

    known: dict[str, Any] = field(default_factory=dict)
    by_number: dict[str, KnownCustomer] = field(default_factory=dict)
    by_phone: dict[str, KnownCustomer] = field(default_factory=dict)
    trusted: set[tuple[str, str]] = field(default_factory=set)


def binding_maps(session: Session, numbers: Iterable[str], phones: Iterable[str]) -> BindingMaps:
    """The binding maps for the Customer # values and phones of one tab (read as plain
    rows: an agent's tab names thousands of customers)."""
    maps = BindingMaps()
    customers = select(_CUSTOMERS)
    by_id = {c.id: c for c in rows_in(session, customers, _CUSTOMERS.c.number, numbers)}
    phs = set(phones)
    by_id.update((c.id, c) for c in rows_in(session, customers, _CUSTOMERS.c.phone, phs))
    found = [by_id[i] for i in sorted(by_id)]
    aliases = rows_in(
        session,
        select(CustomerPhone.phone, CustomerPhone.customer_id, CustomerPhone.old_number),
        CustomerPhone.phone,
        phs,
    )

    def add(customer: Any) -> Any:
        maps.known[customer.number] = customer
        maps.by_number[customer.number] = KnownCustomer(customer.number, customer.phone)
        return customer

    own = {c.phone: c for c in found}
    primary: dict[str, Any] = {}
    for customer in found:
        add(customer)
        primary[customer.phone] = add(_final(session, customer))
    for alias in aliases:
        if alias.old_number:
            maps.trusted.add((alias.old_number, alias.phone))
        holder = own.get(alias.phone)
        if holder is not None and holder.merged_into_id is None:
            continue  # a customer's own phone wins over an alias
        owner = _customer_row(session, alias.customer_id)
        if owner is not None:
            primary[alias.phone] = add(_final(session, owner))
    maps.by_phone = {p: KnownCustomer(c.number, c.phone) for p, c in primary.items()}
    return maps


class Tracker(NamedTuple):
    """An agent who tracks a customer: what checking a phone may show of them."""

    agent_id: int
    name: str
    since: dt.datetime


def trackers_of(session: Session, customer_ids: Iterable[int]) -> dict[int, list[Tracker]]:
    """Customer id -> the agents whose tracking of it is active, oldest first (names and
    since-dates: nothing of the tracking itself)."""
    query = (
        select(Tracking.customer_id, Tracking.agent_id, Agent.name, Tracking.tracked_since)
        .join(Agent, Agent.id == Tracking.agent_id)
        .where(Tracking.active.is_(True))
    )
    found: dict[int, list[Tracker]] = defaultdict(list)
    for customer_id, agent_id, name, since in rows_in(
        session, query, Tracking.customer_id, sorted(set(customer_ids))
    ):
        found[customer_id].append(Tracker(agent_id, name, since))
    for trackers in found.values():
        trackers.sort(key=lambda t: (t.since, t.name))
    return dict(found)


def merged_keys(
    session: Session, customer_ids: Iterable[int]
) -> tuple[dict[str, int], dict[str, int]]:
    """Numbers and phones of customers merged (directly or not) into these customers.

    Returns:
        (Customer # -> customer id it now means, phone -> customer id it now binds to),
        for merged customers and phone aliases only.
    """
    targets = set(customer_ids)
    numbers: dict[str, int] = {}
    phones: dict[str, int] = {}
    root: dict[int, int] = {i: i for i in targets}
    frontier = set(targets)
    c = _CUSTOMERS.c
    while frontier:
        ids, frontier = frontier, set()
        merged_q = select(c.id, c.number, c.phone, c.merged_into_id)
        for merged in sorted(rows_in(session, merged_q, c.merged_into_id, ids), key=_by_id):
            if merged.id in root:
                continue
            root[merged.id] = root[merged.merged_into_id]
            numbers[merged.number] = root[merged.id]
            phones.setdefault(merged.phone, root[merged.id])
            frontier.add(merged.id)
    aliases_q = select(CustomerPhone.id, CustomerPhone.phone, CustomerPhone.customer_id)
    for alias in sorted(rows_in(session, aliases_q, CustomerPhone.customer_id, root), key=_by_id):
        phones[alias.phone] = root[alias.customer_id]
    return numbers, phones


def _by_id(row: Any) -> int:
    return int(row.id)
