"""What the admin's CLI commands do, as plain functions (no printing).

Each runs in one transaction, as the admin from the configuration (``sync.admin``),
and settles commission for the customers it touched. Agents' sheets and the master
show the result after the next ``sheetsync sync``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from sync import commission
from sync.admin.core import Admin, AdminError
from sync.admin.delete import delete_customer, restore_customer
from sync.admin.history import HistoryEvent
from sync.admin.history import history as customer_history
from sync.admin.merge import merge_customers, undo
from sync.admin.resolve import Decision, resolve
from sync.config import Config
from sync.db import retrying, session_factory, transaction
from sync.model import Conflict, Customer
from sync.reports import CommissionRow, PipelineRow, commission_report, pipeline_report
from sync.rows import ParseOptions

T = TypeVar("T")


def _as_admin(config: Config, engine: Engine, action: Callable[[Admin], T]) -> T:
    """Run an admin's action in one transaction, run again if PostgreSQL rolls it back for
    a deadlock with a worker (the action only writes to the database)."""

    def once() -> T:
        with transaction(session_factory(engine)) as s:
            admin = Admin(
                s,
                config.sync.admin,
                rule=config.sync.commission_rule,
                options=ParseOptions(day_first=config.sync.day_first, extra_aliases=config.aliases),
                region=config.phones.default_region,
            )
            result = action(admin)
            if admin.touched:
                commission.settle(s, config.sync.commission_rule, admin.touched, None)
            return result

    return retrying(once, "admin")


def conflict_id(text: str) -> int:
    """``C12`` or ``12`` -> 12.

    Raises:
        AdminError: not a conflict ID.
    """
    digits = text.strip().upper().removeprefix("C")
    if not digits.isdigit():
        raise AdminError(f"'{text}' is not a conflict ID (like C12; see `sheetsync conflicts`)")
    return int(digits)


def resolve_conflict(config: Config, engine: Engine, cid: str, decision: Decision) -> str:
    """Resolve one open conflict now (``sheetsync conflicts resolve``)."""

    def action(admin: Admin) -> str:
        conflict = admin.s.get(Conflict, conflict_id(cid))
        if conflict is None:
            raise AdminError(f"no conflict {cid}")
        return resolve(admin, conflict, decision)

    return _as_admin(config, engine, action)


def merge(config: Config, engine: Engine, source: str, target: str) -> tuple[str, int]:
    """Merge customer ``source`` into ``target``; returns a message and the audit event ID."""

    def action(admin: Admin) -> tuple[str, int]:
        event = merge_customers(admin, _customer(admin.s, source), _customer(admin.s, target))
        return f"{source.upper()} merged into {target.upper()}", event.id

    return _as_admin(config, engine, action)


def delete(config: Config, engine: Engine, number: str, reason: str) -> str:
    """Delete a customer softly (``sheetsync delete``)."""

    def action(admin: Admin) -> str:
        customer = _customer(admin.s, number)
        event = delete_customer(admin, customer, reason)
        return (
            f"{customer.number} deleted (audit event {event.id}); the next sync takes it out "
            f"of the master and notes agents' rows; `sheetsync restore {customer.number}` "
            "brings it back"
        )

    return _as_admin(config, engine, action)


def restore(config: Config, engine: Engine, number: str) -> str:
    """Restore a deleted customer (``sheetsync restore``)."""

    def action(admin: Admin) -> str:
        customer = _customer(admin.s, number)
        event = restore_customer(admin, customer)
        return f"{customer.number} restored (audit event {event.id}); the next sync shows it"

    return _as_admin(config, engine, action)


def undo_event(config: Config, engine: Engine, event_id: int) -> str:
    """Undo an admin action from the audit log (``sheetsync undo``)."""
    return _as_admin(config, engine, lambda admin: undo(admin, event_id))


def history(engine: Engine, number: str) -> list[HistoryEvent]:
    with session_factory(engine)() as s:
        return customer_history(s, number)


def commission_table(engine: Engine, month: str | None) -> list[CommissionRow]:
    if month is not None:
        try:
            dt.date.fromisoformat(f"{month}-01")
        except ValueError:
            raise AdminError(f"'{month}' is not a month (YYYY-MM, e.g. 2026-01)") from None
    with session_factory(engine)() as s:
        return commission_report(s, month)


def pipeline_table(config: Config, engine: Engine) -> list[PipelineRow]:
    today = dt.datetime.now(zoneinfo.ZoneInfo(config.sync.timezone)).date()
    with session_factory(engine)() as s:
        return pipeline_report(s, today)


def _customer(session: Session, number: str) -> Customer:
    customer = session.execute(
        select(Customer).where(Customer.number == number.strip().upper())
    ).scalar_one_or_none()
    if customer is None:
        raise AdminError(f"no customer {number}")
    return customer
