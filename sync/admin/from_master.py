"""What the admin typed in the master workbook, applied at the start of a cycle.

The cycle reads the master only when its fingerprint moved since the cycle last
wrote it (an admin typed), and applies three kinds of edits in its transaction:

* **Customers tab**: a shared field that differs from what the cycle last wrote
  there (three-way: the master's snapshot keeps the last-written values) is an
  admin edit. It is authoritative: the canonical value changes (audited), open
  proposals for that field are settled, and every tracking agent's sheet gets the
  value. A changed *Phone* is a phone change (the old phone keeps binding).
* **Tracking tab**: *Commission %* under the ``split`` rule.
* **Conflicts tab**: the Resolution words (``sync.admin.resolve``). One that cannot
  be applied stays open; the reason is shown next to it.
* **Customers and Deleted tabs**: the *Admin action* column: ``delete: REASON`` deletes
  the customer, ``restore`` brings a deleted one back (``sync.admin.delete``). The cell
  is cleared when the master is written; one that cannot be applied is a warning.

Edits that cannot be applied are reported as warnings and the master shows the
database's value again at the end of the cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from sync.admin.core import Admin, AdminError
from sync.admin.delete import delete_customer, restore_customer
from sync.admin.merge import change_phone
from sync.admin.resolve import parse_resolution, resolve
from sync.cells import CellValue, Grid, NotData, cell_text
from sync.dedupe import parse_phone
from sync.fields import FIELDS_BY_KEY, SHARED_KEYS
from sync.long_text import is_cut, shows_cut_of
from sync.master_layout import (
    ADMIN_ACTION,
    COMMISSION_PCT,
    TRACKING_ID,
    column_of,
    read_actions,
    read_resolutions,
)
from sync.model import Conflict, Customer, Tracking
from sync.values import parse_value

CHUNK = 500
WHY = "admin edit in the master"


@dataclass
class MasterEdits:
    """What applying the master did.

    Attributes:
        applied: what was applied, in words.
        errors: conflict ID -> why the resolution typed for it was not applied.
        refused: the cell of an edit that was not applied (``master <tab>, <row>,
            <column>``) -> why, and that its cell is put back (or cleared).
    """

    applied: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        """The edits not applied, one line each (where: why)."""
        return [f"{where}: {why}" for where, why in self.refused.items()]


def apply_master(
    admin: Admin, tabs: Mapping[str, Grid], snapshots: Mapping[str, Mapping[str, Any]]
) -> MasterEdits:
    """Apply the admin's edits of the master (tabs as read) against the last-written values.

    Args:
        snapshots: master tab -> its SheetState snapshot (``shared``: Customer # -> field ->
            text last written; ``commission``: tracking ID -> text last written).
    """
    result = MasterEdits()
    _customers(admin, tabs.get("Customers") or [], snapshots.get("Customers", {}), result)
    _commission(admin, tabs.get("Tracking") or [], snapshots.get("Tracking", {}), result)
    _resolutions(admin, tabs.get("Conflicts") or [], result)
    for tab in ("Customers", "Deleted"):
        _actions(admin, tab, tabs.get(tab) or [], result)
    return result


def parse_action(text: str) -> tuple[str, str]:
    """``delete: REASON`` or ``restore`` (Arabic ``حذف``, ``استعادة``), as typed in the
    master's Admin action column: (the action, the reason).

    >>> parse_action("Delete: test entry"), parse_action(" restore ")
    (('delete', 'test entry'), ('restore', ''))

    Raises:
        AdminError: not one of them.
    """
    word, _, rest = text.strip().partition(":")
    action = _ACTIONS.get(" ".join(word.split()).casefold())
    if action is None:
        word, _, rest = text.strip().partition(" ")
        action = _ACTIONS.get(word.casefold())
    if action is None or (action == "restore" and rest.strip()):
        raise AdminError(f"'{text}' is not an admin action (type  delete: REASON  or  restore)")
    return action, rest.strip()


_ACTIONS = {"delete": "delete", "حذف": "delete", "restore": "restore", "استعادة": "restore"}


def _actions(admin: Admin, tab: str, grid: Grid, result: MasterEdits) -> None:
    for number, text in sorted(read_actions(grid).items()):
        where = f"master {tab}, {number}, {ADMIN_ACTION}"
        try:
            action, reason = parse_action(text)
            customer = admin.s.execute(
                select(Customer).where(Customer.number == number)
            ).scalar_one_or_none()
            if customer is None:
                raise AdminError(f"no customer {number}")
            with admin.s.begin_nested():
                if action == "delete":
                    delete_customer(admin, customer, reason)
                else:
                    restore_customer(admin, customer)
            result.applied.append(f"{number}: {action}d by the admin")
        except AdminError as exc:
            result.refused[where] = f"{exc.message}; the cell is cleared"


def _cell(row: list[CellValue], col: int) -> CellValue:
    return row[col] if col < len(row) else None


def _customers(admin: Admin, grid: Grid, snap: Mapping[str, Any], result: MasterEdits) -> None:
    base: Mapping[str, Mapping[str, str]] = snap.get("shared") or {}
    numbers = column_of(grid, "Customer #")
    if not base or numbers is None:
        return
    editable = [
        (key, col)
        for key in SHARED_KEYS
        if (col := column_of(grid, FIELDS_BY_KEY[key].header)) is not None
    ]
    edits: dict[str, dict[str, CellValue]] = {}
    for row in grid[1:]:
        number = cell_text(_cell(row, numbers))
        was = base.get(number)
        if was is None:
            continue
        for key, col in editable:
            raw = _cell(row, col)
            shown, last = cell_text(raw), was.get(key, "")
            if shown != last and not shows_cut_of(shown, last):
                edits.setdefault(number, {})[key] = raw
    if not edits:
        return
    edited = sorted(edits)
    customers: dict[str, Customer] = {}
    for i in range(0, len(edited), CHUNK):
        for customer in admin.s.execute(
            select(Customer).where(Customer.number.in_(edited[i : i + CHUNK]))
        ).scalars():
            customers[customer.number] = customer
    for number in edited:
        found = customers.get(number)
        if found is None or found.merged_into_id is not None:
            continue
        customer = found
        for key, raw in edits[number].items():
            header = FIELDS_BY_KEY[key].header
            try:
                with admin.s.begin_nested():
                    if isinstance(raw, NotData):
                        raise AdminError(raw.problem())
                    if is_cut(cell_text(raw)):
                        raise AdminError(
                            "the cell shows a text cut to fit the sheet, changed since; not "
                            "applied, so that the rest of it is not lost: type the whole value"
                        )
                    if key == "phone":
                        phone = parse_phone(raw, admin.region)
                        if phone.e164 is None:
                            raise AdminError(f"'{cell_text(raw)}' is not a valid phone number")
                        if phone.e164 != customer.phone:
                            change_phone(admin, customer, phone.e164)
                    else:
                        admin.set_shared(customer, key, admin.parse(key, cell_text(raw)), WHY)
                result.applied.append(f"{number}: {header} set by the admin")
            except AdminError as exc:
                where = f"master Customers, {number}, {header}"
                result.refused[where] = f"{exc}; the cell is put back"


def _commission(admin: Admin, grid: Grid, snap: Mapping[str, Any], result: MasterEdits) -> None:
    base: Mapping[str, str] = snap.get("commission") or {}
    ids, percents = column_of(grid, TRACKING_ID), column_of(grid, COMMISSION_PCT)
    if not base or ids is None or percents is None:
        return
    spec = FIELDS_BY_KEY["commission_pct"]
    for row in grid[1:]:
        tid = cell_text(_cell(row, ids))
        raw = _cell(row, percents)
        if tid not in base or cell_text(raw) == base[tid]:
            continue
        where = f"master Tracking, {tid}, {COMMISSION_PCT}"
        if admin.rule != "split":
            result.refused[where] = (
                f"commission is decided by the {admin.rule} rule (set "
                'sync.commission_rule = "split" to set percentages by hand); the cell is put back'
            )
            continue
        try:
            pct = parse_value(spec, raw, admin.options)
        except ValueError as exc:
            result.refused[where] = f"{exc}; the cell is put back"
            continue
        tracking = admin.s.get(Tracking, int(tid.removeprefix("T")))
        if tracking is None:
            continue
        before = tracking.commission_pct
        if before != pct:
            tracking.commission_pct = float(pct) if isinstance(pct, int | float) else None
            admin.changes += 1
            admin.touched.add(tracking.customer_id)
            admin.audit(
                "admin_commission",
                "tracking",
                tracking.id,
                tracking.customer_id,
                {"commission_pct": before},
                {"commission_pct": tracking.commission_pct},
            )
            result.applied.append(f"{tid}: Commission % set by the admin")


def _resolutions(admin: Admin, grid: Grid, result: MasterEdits) -> None:
    typed = read_resolutions(grid)
    ids = sorted((int(cid[1:]), cid) for cid in typed if cid[:1] == "C" and cid[1:].isdigit())
    for number, cid in ids:
        conflict = admin.s.get(Conflict, number)
        if conflict is None or conflict.status != "open":
            continue
        try:
            decision = parse_resolution(typed[cid])
            with admin.s.begin_nested():
                result.applied.append(resolve(admin, conflict, decision))
        except AdminError as exc:
            result.errors[cid] = exc.message
