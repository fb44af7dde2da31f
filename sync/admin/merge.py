"""Merging one customer into another, and undoing it from the audit log.

Merging customer B into A (``possible_duplicate``, or a phone that changed and
became a second customer):

* A's empty shared fields are filled from B; B's phone becomes A's *Other phone*
  when A has none. B keeps its row, marked ``merged_into_id``: agents' rows still
  showing B's Customer # or phone bind to A (``sync.admin.identity``).
* Every tracking of B moves to A. An agent tracking both ends with one tracking:
  field by field A's value wins, an empty one is filled from B, notes-like fields
  get B's text appended, and B's other differing values are appended to Notes
  (``from CUS-…: Status: Negotiating; …``), so nothing is dropped. B's tracking is
  archived (kept), its follow-ups move to A's.
* B's open conflicts are closed; agents' merge bases are renamed from B's number to
  A's, so the next cycle rewrites *Customer #* in their sheets without proposing
  anything.

One audit event (``merge_customers``, actor: the admin) records exactly what was
combined; ``sheetsync undo ID`` restores B and every moved row from it, leaving
values that changed since the merge as they are.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from sync.admin.core import Admin, AdminError
from sync.dedupe import format_phone, value_text
from sync.fields import AGENT_KEYS, FIELDS_BY_KEY, SHARED_KEYS
from sync.ledger import keep_open
from sync.model import (
    AuditEvent,
    Conflict,
    Customer,
    CustomerPhone,
    FollowUp,
    SheetState,
    Tracking,
    utcnow,
)
from sync.sheet_rows import ROW_PARTS, forget_places, load_tab_rows, save_tab_rows

NOTE_KEYS = ("notes", "technical_opinion", "counselor_notes", "documents")


def merge_customers(
    admin: Admin,
    source: Customer,
    target: Customer,
    *,
    resolving: Conflict | None = None,
    words: str = "",
) -> AuditEvent:
    """Merge ``source`` (B) into ``target`` (A); see the module docstring.

    Args:
        resolving: the conflict this merge resolves (closed with ``words``).

    Raises:
        AdminError: the two are one customer, or one of them was merged already.
    """
    if source.id == target.id:
        raise AdminError(f"{source.number} cannot be merged into itself")
    for customer in (source, target):
        if customer.merged_into_id is not None:
            into = admin.s.get(Customer, customer.merged_into_id)
            raise AdminError(
                f"{customer.number} was already merged into {into.number if into else '?'}"
            )
    record: dict[str, Any] = {"from": source.number, "into": target.number}
    record["customer"] = _fill_shared(target, source)
    record["moved"], record["combined"] = [], []
    mine = {
        t.agent_id: t
        for t in admin.s.execute(select(Tracking).where(Tracking.customer_id == target.id))
        .scalars()
        .all()
    }
    for theirs in admin.s.execute(
        select(Tracking).where(Tracking.customer_id == source.id).order_by(Tracking.id)
    ).scalars():
        kept = mine.get(theirs.agent_id)
        if kept is None:
            theirs.customer_id = target.id
            record["moved"].append(theirs.id)
        elif theirs.active:
            record["combined"].append(_combine(admin, kept, theirs, source.number))
        # else: an archived tracking of an agent who tracks A stays archived under B
    admin.s.flush()
    record["conflicts"] = _close_conflicts(admin, source, target, resolving)
    record["snapshots"] = _rename_bases(admin, source.number, target.number)
    source.merged_into_id = target.id
    source.updated_at = target.updated_at = utcnow()
    admin.touched.add(target.id)
    admin.changes += 1
    if resolving is not None:
        admin.close(resolving, "resolved", words or f"merge into {target.number}")
        record["resolved"] = resolving.id
    return admin.audit("merge_customers", "customer", source.id, target.id, None, record)


def _fill_shared(target: Customer, source: Customer) -> dict[str, list[str]]:
    filled: dict[str, list[str]] = {}
    for key in SHARED_KEYS:
        if key == "phone" or value_text(getattr(target, key)):
            continue
        value = getattr(source, key)
        if key == "other_phone":
            value = format_phone(source.phone)
        if value_text(value):
            filled[key] = ["", value_text(value)]
            setattr(target, key, value)
    return filled


def _combine(admin: Admin, kept: Tracking, theirs: Tracking, number: str) -> dict[str, Any]:
    """Fold one agent's tracking of B into their tracking of A; what changed, for undo."""
    fields: dict[str, list[str]] = {}
    extra: list[str] = []
    for key in AGENT_KEYS:
        a, b = value_text(getattr(kept, key)), value_text(getattr(theirs, key))
        if not b or a == b:
            continue
        if not a:
            new: object = getattr(theirs, key)
        elif key in NOTE_KEYS:
            new = f"{a}\n{b}"
        else:
            extra.append(f"{FIELDS_BY_KEY[key].header}: {b}")
            continue
        fields[key] = [a, value_text(new)]
        setattr(kept, key, new)
    if extra:
        before = fields["notes"][0] if "notes" in fields else value_text(kept.notes)
        now = value_text(kept.notes)
        kept.notes = (f"{now}\n" if now else "") + f"from {number}: " + "; ".join(extra)
        fields["notes"] = [before, value_text(kept.notes)]
    state = {
        "active": kept.active,
        "archived_at": _iso(kept.archived_at),
        "completed_at": _iso(kept.completed_at),
        "completed_run_id": kept.completed_run_id,
        "tracked_since": _iso(kept.tracked_since),
    }
    if theirs.active and not kept.active:
        kept.active, kept.archived_at = True, None
    if kept.status == "Completed" and kept.completed_at is None and theirs.completed_at:
        kept.completed_at, kept.completed_run_id = theirs.completed_at, theirs.completed_run_id
    kept.tracked_since = min(kept.tracked_since, theirs.tracked_since)
    kept.last_update = utcnow()
    theirs.active, theirs.archived_at = False, utcnow()
    moved = []
    for follow_up in admin.s.execute(
        select(FollowUp).where(FollowUp.tracking_id == theirs.id).order_by(FollowUp.id)
    ).scalars():
        follow_up.tracking_id = kept.id
        moved.append(follow_up.id)
    return {
        "kept": kept.id,
        "absorbed": theirs.id,
        "fields": fields,
        "state": state,
        "follow_ups": moved,
    }


def _close_conflicts(
    admin: Admin, source: Customer, target: Customer, resolving: Conflict | None
) -> list[int]:
    closed = []
    for conflict in admin.s.execute(
        select(Conflict).where(Conflict.status == "open").order_by(Conflict.id)
    ).scalars():
        if conflict is resolving:
            continue
        pair = (conflict.details or {}).get("customers") or []
        if conflict.customer_id == source.id or (
            conflict.kind == "possible_duplicate" and source.number in pair
        ):
            admin.close(conflict, "resolved", f"customer merged into {target.number}")
            closed.append(conflict.id)
    return closed


def _rename_bases(admin: Admin, old: str, new: str) -> list[dict[str, Any]]:
    """Rename B's number to A's in agents' merge bases (or drop it where A is there)."""
    changes = []
    for state in admin.agent_states():
        snap = load_tab_rows(admin.s, state.source, state.tab, [old, new])
        if old not in snap.rows:
            continue
        drop = new in snap.rows
        entry: dict[str, Any] = {"state": state.id, "renamed": not drop, "dropped": {}}
        for part in ROW_PARTS:
            held = snap.part(part)
            if old not in held:
                continue
            value = held.pop(old)
            if drop:
                entry["dropped"][part] = value
            else:
                held[new] = value
        save_tab_rows(admin.s, state.source, state.tab, snap, [old, new])
        forget_places(state)  # the sheet still shows B's number: read it before writing
        changes.append(entry)
    return changes


def change_phone(admin: Admin, customer: Customer, new: str) -> None:
    """A customer's phone changes; the old one stays an alias that binds to the customer.

    Raises:
        AdminError: the new phone belongs to another customer (merge them instead).
    """
    holder = admin.s.execute(select(Customer).where(Customer.phone == new)).scalar_one_or_none()
    alias = admin.s.execute(
        select(CustomerPhone).where(CustomerPhone.phone == new)
    ).scalar_one_or_none()
    other = holder or (admin.s.get(Customer, alias.customer_id) if alias else None)
    if other is not None and other.id != customer.id:
        raise AdminError(
            f"{format_phone(new)} is {other.number}'s phone: merge the two customers instead"
        )
    old = customer.phone
    kept = admin.s.execute(
        select(CustomerPhone).where(CustomerPhone.phone == old)
    ).scalar_one_or_none()
    if kept is None:
        admin.s.add(CustomerPhone(phone=old, customer_id=customer.id))
    else:
        kept.customer_id, kept.old_number = customer.id, None
    if alias is not None:
        admin.s.delete(alias)
    admin.s.flush()
    customer.phone = new
    admin.changes += 1
    admin.audit(
        "change_phone", "customer", customer.id, customer.id, {"phone": old}, {"phone": new}
    )


# -- undo ---------------------------------------------------------------------------------------


def undo(admin: Admin, event_id: int) -> str:
    """Undo an admin action recorded in the audit log.

    Merges, admin edits of shared fields and phone changes can be undone; values
    that changed since are left as they are (and listed in the undo's audit event).

    Raises:
        AdminError: no such event, already undone, or not an action that can be undone.
    """
    event = admin.s.get(AuditEvent, event_id)
    if event is None:
        raise AdminError(f"no audit event {event_id}")
    done = admin.s.execute(
        select(AuditEvent.id).where(
            AuditEvent.entity == "audit_event", AuditEvent.entity_id == event_id
        )
    ).first()
    if done is not None:
        raise AdminError(f"audit event {event_id} was already undone (event {done[0]})")
    if event.action == "merge_customers":
        return _undo_merge(admin, event)
    if event.action == "admin_update_customer":
        return _undo_update(admin, event)
    if event.action == "change_phone":
        return _undo_phone(admin, event)
    raise AdminError(
        f"audit event {event_id} ({event.action}) cannot be undone; "
        "merges, admin edits and phone changes can"
    )


def _restore(admin: Admin, row: object, key: str, before: str, after: str, kept: list[str]) -> None:
    if value_text(getattr(row, key)) != after:
        kept.append(key)
        return
    setattr(row, key, admin.parse(key, before) if before else None)


def _undo_merge(admin: Admin, event: AuditEvent) -> str:
    record = event.after or {}
    source = admin.s.get(Customer, event.entity_id)
    target = admin.s.get(Customer, event.customer_id or -1)
    if source is None or target is None or source.merged_into_id != target.id:
        raise AdminError(f"{record.get('from')} is no longer merged into {record.get('into')}")
    if target.merged_into_id is not None:
        raise AdminError(f"{target.number} was merged further since: undo that merge first")
    kept: list[str] = []
    for key, (before, after) in record.get("customer", {}).items():
        _restore(admin, target, key, before, after, kept)
    for tracking_id in record.get("moved", []):
        tracking = admin.s.get(Tracking, tracking_id)
        if tracking is not None and tracking.customer_id == target.id:
            tracking.customer_id = source.id
    for combined in record.get("combined", []):
        _undo_combine(admin, combined, kept)
    for conflict_id in [*record.get("conflicts", []), record.get("resolved")]:
        conflict = admin.s.get(Conflict, conflict_id) if conflict_id else None
        if conflict is not None:
            keep_open(conflict)
    for entry in record.get("snapshots", []):
        _undo_rename(admin, entry, source.number, target.number)
    # Agents' rows now show A's number next to B's phone: that pair means B again.
    alias = admin.s.execute(
        select(CustomerPhone).where(CustomerPhone.phone == source.phone)
    ).scalar_one_or_none()
    if alias is None:
        admin.s.add(
            CustomerPhone(phone=source.phone, customer_id=source.id, old_number=target.number)
        )
    else:
        alias.customer_id, alias.old_number = source.id, target.number
    source.merged_into_id = None
    source.updated_at = target.updated_at = utcnow()
    admin.touched |= {source.id, target.id}
    admin.changes += 1
    admin.audit(
        "undo_merge",
        "audit_event",
        event.id,
        source.id,
        {"merged_into": target.number},
        {"merged_into": None, "left_as_changed_since": sorted(set(kept))},
    )
    # The target changed too (its fields and trackings as before the merge): an event that
    # names it is what marks its rows dirty in the master and in the agents' views.
    admin.audit(
        "undo_merge",
        "customer",
        target.id,
        target.id,
        {"merged_from": source.number},
        {"merged_from": None},
    )
    return f"{source.number} is separate from {target.number} again"


def _undo_combine(admin: Admin, combined: dict[str, Any], kept_keys: list[str]) -> None:
    kept = admin.s.get(Tracking, combined["kept"])
    theirs = admin.s.get(Tracking, combined["absorbed"])
    if kept is None or theirs is None:
        return
    for key, (before, after) in combined.get("fields", {}).items():
        _restore(admin, kept, key, before, after, kept_keys)
    state = combined.get("state", {})
    kept.active = bool(state.get("active", kept.active))
    kept.archived_at = _from_iso(state.get("archived_at"))
    kept.completed_at = _from_iso(state.get("completed_at"))
    kept.completed_run_id = state.get("completed_run_id")
    kept.tracked_since = _from_iso(state.get("tracked_since")) or kept.tracked_since
    kept.last_update = utcnow()
    theirs.active, theirs.archived_at = True, None
    for follow_up_id in combined.get("follow_ups", []):
        follow_up = admin.s.get(FollowUp, follow_up_id)
        if follow_up is not None and follow_up.tracking_id == kept.id:
            follow_up.tracking_id = theirs.id


def _undo_rename(admin: Admin, entry: dict[str, Any], old: str, new: str) -> None:
    state = admin.s.get(SheetState, entry["state"])
    if state is None:
        return
    snap = load_tab_rows(admin.s, state.source, state.tab, [old, new])
    if entry.get("renamed"):
        for part in ROW_PARTS:
            held = snap.part(part)
            if new in held and old not in held:
                held[old] = held.pop(new)
    else:
        for part, value in entry.get("dropped", {}).items():
            if part in ROW_PARTS:
                snap.part(part).setdefault(old, value)
    save_tab_rows(admin.s, state.source, state.tab, snap, [old, new])
    forget_places(state)


def _undo_update(admin: Admin, event: AuditEvent) -> str:
    customer = admin.s.get(Customer, event.entity_id)
    if customer is None:
        raise AdminError(f"the customer of audit event {event.id} is gone")
    kept: list[str] = []
    for key, after in (event.after or {}).items():
        before = (event.before or {}).get(key, "")
        _restore(admin, customer, key, before, after, kept)
    if kept:
        raise AdminError(f"{', '.join(kept)} changed since; set it by hand instead")
    customer.updated_at = utcnow()
    admin.changes += 1
    admin.audit("undo_update", "audit_event", event.id, customer.id, event.after, event.before)
    return f"{customer.number}: {', '.join(event.after or {})} restored"


def _undo_phone(admin: Admin, event: AuditEvent) -> str:
    customer = admin.s.get(Customer, event.entity_id)
    old, new = (event.before or {}).get("phone"), (event.after or {}).get("phone")
    if customer is None or not old or customer.phone != new:
        raise AdminError(f"the phone changed again since audit event {event.id}")
    change_phone(admin, customer, old)
    admin.audit("undo_phone", "audit_event", event.id, customer.id, {"phone": new}, {"phone": old})
    return f"{customer.number}'s phone is {format_phone(old)} again"


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _from_iso(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
