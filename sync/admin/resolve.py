"""The Resolution words and what each one does to each kind of conflict.

An admin resolves a conflict by typing a few plain words in the master's Conflicts
tab (Resolution column), or with ``sheetsync conflicts resolve ID --keep|--accept|
--value V|--merge-into CUS-…|--dismiss``:

=================  ==============================================================
``keep``           keep the current (shared) value; the agent's cell gets it back
``accept``         take the proposed value (a shared field; a new phone for an
                   ``identity_mismatch``; a mass removal for a ``quarantine``)
``value: TEXT``    set this value instead (a shared field); for a
                   ``completion_race``, the agent who gets the commission
``merge into CUS-…``  merge the other customer of a ``possible_duplicate`` into this one
                   (``merge`` alone: the newer into the older)
``dismiss``        close it without changing any data
=================  ==============================================================

A resolution that cannot be applied raises :class:`AdminError` with the reason; the
conflict stays open (the master shows the reason next to the words).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from sqlalchemy import select

from sync.admin.core import Admin, AdminError
from sync.admin.delete import restore_customer
from sync.admin.merge import change_phone, merge_customers
from sync.dedupe import format_phone, value_text
from sync.fields import CUSTOMERS_TAB, FIELDS_BY_KEY, FOLLOW_UPS_TAB
from sync.ledger import hint
from sync.model import Agent, Conflict, Customer, Tracking

ACTIONS = ("keep", "accept", "value", "merge", "dismiss")
NUMBER = re.compile(r"CUS-\d{4}-\d{5}", re.IGNORECASE)
_WORDS = {
    "keep": "keep",
    "keep current": "keep",
    "current": "keep",
    "reject": "keep",
    "accept": "accept",
    "accept proposed": "accept",
    "proposed": "accept",
    "dismiss": "dismiss",
    "ignore": "dismiss",
    # Arabic (the master's dropdown in an Arabic master), with and without the kasra
    "أبقِ": "keep",
    "أبق": "keep",
    "ابق": "keep",
    "إبقاء": "keep",
    "اقبل": "accept",
    "أقبل": "accept",
    "قبول": "accept",
    "تجاهل": "dismiss",
    "أغلق": "dismiss",
}
_VALUE = re.compile(
    r"^(?:new value|value|set to|set|قيمة|القيمة)(?:\s*[:=]\s*|\s+|$)(.*)$",
    re.IGNORECASE | re.DOTALL,
)
_MERGE = re.compile(
    r"^(?:merge(?:\s+into)?|ادمج(?:\s+في)?|دمج(?:\s+في)?)\s*[:]?\s*(.*)$", re.IGNORECASE
)

NOT_UNDERSTOOD = (
    "not understood; type keep, accept, value: <new value>, merge into CUS-…, or dismiss"
)


@dataclass(frozen=True)
class Decision:
    """A parsed resolution.

    Attributes:
        action: one of ``ACTIONS``.
        value: the new value (``value``) or the target Customer # (``merge``, may be None).
        text: the words as typed, recorded on the conflict.
    """

    action: str
    value: str | None = None
    text: str = ""


def parse_resolution(text: str) -> Decision:
    """Read what the admin typed (case and surrounding spaces don't matter).

    Raises:
        AdminError: the words are not understood.
    """
    raw = " ".join(text.split()) if "\n" not in text else text.strip()
    folded = raw.casefold().rstrip(".!")
    if folded in _WORDS:
        return Decision(_WORDS[folded], None, raw)
    if m := _MERGE.match(raw):
        target = m.group(1).strip()
        if target and not NUMBER.fullmatch(target):
            raise AdminError(f"'{target}' is not a Customer # (CUS-YYYY-NNNNN)")
        return Decision("merge", target.upper() or None, raw)
    if m := _VALUE.match(raw):
        value = m.group(1).strip()
        if not value:
            raise AdminError("value: type the new value after 'value:'")
        return Decision("value", value, raw)
    raise AdminError(f"'{raw}' is {NOT_UNDERSTOOD}")


def resolve(admin: Admin, conflict: Conflict, decision: Decision) -> str:
    """Apply a resolution to an open conflict.

    Returns:
        What was done, in words.

    Raises:
        AdminError: it cannot be applied (the conflict is left as it was).
    """
    if conflict.status != "open":
        raise AdminError(f"C{conflict.id} is already {conflict.status} ({conflict.resolution})")
    handler = _HANDLERS.get(conflict.kind, _only_dismiss)
    return handler(admin, conflict, decision)


def _dismiss(admin: Admin, conflict: Conflict, decision: Decision) -> str:
    admin.close(conflict, "dismissed", decision.text or "dismiss")
    return f"C{conflict.id} dismissed"


def _only_dismiss(admin: Admin, conflict: Conflict, decision: Decision) -> str:
    if decision.action == "dismiss":
        return _dismiss(admin, conflict, decision)
    raise AdminError(f"a {conflict.kind} conflict takes: {hint(conflict.kind)}")


def _customer(admin: Admin, conflict: Conflict) -> Customer:
    customer = admin.s.get(Customer, conflict.customer_id) if conflict.customer_id else None
    if customer is None:
        raise AdminError(f"C{conflict.id} names no customer")
    if customer.merged_into_id is not None:
        raise AdminError(f"{customer.number} was merged into another customer; dismiss this")
    return customer


def _shared_field(admin: Admin, conflict: Conflict, decision: Decision) -> str:
    customer = _customer(admin, conflict)
    key = conflict.field or ""
    if key not in FIELDS_BY_KEY:
        raise AdminError(f"C{conflict.id} is about an unknown field '{key}'")
    header = FIELDS_BY_KEY[key].header
    if decision.action in ("keep", "dismiss"):
        if conflict.agent_id is not None:
            admin.set_base(conflict.agent_id, customer.number, key, conflict.proposed_value or "")
        status = "dismissed" if decision.action == "dismiss" else "resolved"
        admin.close(conflict, status, decision.text or decision.action)
        return f"C{conflict.id}: {header} stays '{value_text(getattr(customer, key))}'"
    if decision.action not in ("accept", "value"):
        raise AdminError(f"a shared_field conflict takes: {hint(conflict.kind)}")
    text = conflict.proposed_value if decision.action == "accept" else decision.value
    value = admin.parse(key, text or "")
    admin.set_shared(customer, key, value, f"C{conflict.id}", keep=conflict)
    admin.close(conflict, "resolved", decision.text or decision.action)
    return f"C{conflict.id}: {header} is now '{value_text(value)}'"


def _possible_duplicate(admin: Admin, conflict: Conflict, decision: Decision) -> str:
    if decision.action == "dismiss":
        return _dismiss(admin, conflict, decision)
    if decision.action != "merge":
        raise AdminError(f"a possible_duplicate conflict takes: {hint(conflict.kind)}")
    pair = list((conflict.details or {}).get("customers") or [])
    pair = pair or [n for n in (conflict.current_value, conflict.proposed_value) if n]
    target_number = decision.value or pair[0]
    if target_number not in pair:
        raise AdminError(f"merge into {' or '.join(pair)}: {target_number} is not one of them")
    source_number = next(n for n in pair if n != target_number)
    target = _by_number(admin, target_number)
    source = _by_number(admin, source_number)
    merge_customers(admin, source, target, resolving=conflict, words=decision.text)
    return f"C{conflict.id}: {source_number} merged into {target_number}"


def _by_number(admin: Admin, number: str) -> Customer:
    customer = admin.s.execute(
        select(Customer).where(Customer.number == number)
    ).scalar_one_or_none()
    if customer is None:
        raise AdminError(f"no customer {number}")
    return customer


def _identity_mismatch(admin: Admin, conflict: Conflict, decision: Decision) -> str:
    if decision.action == "dismiss":
        return _dismiss(admin, conflict, decision)
    if decision.action != "accept":
        raise AdminError(f"an identity_mismatch conflict takes: {hint(conflict.kind)}")
    customer = _customer(admin, conflict)
    new = conflict.proposed_value or ""
    change_phone(admin, customer, new)
    admin.close(conflict, "resolved", decision.text or "accept")
    return f"C{conflict.id}: {customer.number}'s phone is now {format_phone(new)}"


def _completion_race(admin: Admin, conflict: Conflict, decision: Decision) -> str:
    customer = _customer(admin, conflict)
    if decision.action == "dismiss":
        winner = "*"
    elif decision.action == "value":
        racers = admin.s.execute(
            select(Agent)
            .join(Tracking, Tracking.agent_id == Agent.id)
            .where(
                Tracking.customer_id == customer.id,
                Tracking.active.is_(True),
                Tracking.status == "Completed",
            )
        ).scalars()
        wanted = (decision.value or "").casefold()
        found = [a for a in racers if wanted in (a.key.casefold(), a.name.casefold())]
        if len(found) != 1:
            raise AdminError(f"'{decision.value}' is not one of the agents who completed")
        winner = found[0].key
    else:
        raise AdminError(f"a completion_race conflict takes: {hint(conflict.kind)}")
    details = copy.deepcopy(conflict.details or {})
    details["winner"] = winner
    conflict.details = details
    admin.close(conflict, "resolved", decision.text)
    admin.touched.add(customer.id)
    return f"C{conflict.id}: " + (
        "each completion counts" if winner == "*" else f"{winner} gets the commission"
    )


def _quarantine(admin: Admin, conflict: Conflict, decision: Decision) -> str:
    details = conflict.details or {}
    if decision.action == "dismiss" and details.get("reason") == "mass_removal":
        # Dismissed, the tab would stay held with nothing to say so: the agent's sheet
        # would lack rows the agent still tracks, from then on.
        raise AdminError(
            "a mass removal is not dismissed: accept it to apply the removal, or have the "
            "rows put back in the agent's tab (`sheetsync init` rebuilds a lost workbook)"
        )
    if decision.action == "dismiss":
        return _dismiss(admin, conflict, decision)
    if decision.action != "accept" or details.get("reason") != "mass_removal":
        raise AdminError(
            "only a mass removal can be accepted; fix the agent's tab, or dismiss"
            if decision.action == "accept"
            else f"a quarantine conflict takes: {hint(conflict.kind)}"
        )
    tab = details.get("tab", CUSTOMERS_TAB)
    if conflict.agent_id is None or tab not in (CUSTOMERS_TAB, FOLLOW_UPS_TAB):
        raise AdminError(f"C{conflict.id} names no agent tab")
    state = admin.agent_state(conflict.agent_id, tab)
    if state is None:
        raise AdminError(f"C{conflict.id}: the agent's tab was never synced")
    snap = state.tab_snapshot
    snap.accept_removal = True
    state.keep_snapshot(snap)
    state.version = None  # read the tab again next cycle, and apply the removal
    admin.close(conflict, "resolved", decision.text or "accept")
    return f"C{conflict.id}: the removal is applied by the next cycle"


def _deleted_customer(admin: Admin, conflict: Conflict, decision: Decision) -> str:
    """An agent typed a deleted customer's phone: ``accept`` restores the customer (the
    agent's row is then synced as any other), ``dismiss`` leaves it deleted."""
    if decision.action != "accept":
        return _only_dismiss(admin, conflict, decision)
    customer = _customer(admin, conflict)
    if customer.deleted_at is not None:
        restore_customer(admin, customer)
    admin.close(conflict, "resolved", "accept")
    return f"C{conflict.id}: {customer.number} restored"


_HANDLERS = {
    "shared_field": _shared_field,
    "possible_duplicate": _possible_duplicate,
    "identity_mismatch": _identity_mismatch,
    "completion_race": _completion_race,
    "quarantine": _quarantine,
    "deleted_customer": _deleted_customer,
}
