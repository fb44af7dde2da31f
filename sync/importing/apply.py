"""The database side of an import: load what exists (bulk, by phone), apply a plan in chunks.

Each chunk (whole customers, about ``chunk_rows`` rows) is one transaction: customers,
trackings, follow-ups, conflicts, audit events and the chunk's import-ledger entries
(``AuditEvent`` action ``import_row``, the row digest in ``after``) commit together. An
import killed half-way leaves whole customers behind; rerun, it skips every row in the
ledger and does the rest, so nothing is created twice.

One module at this size because loading what exists and applying a plan share the bulk
lookups by phone, the ids handed out in bulk and the chunk's one transaction.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sync.config import AgentConfig
from sync.db import (
    insert_rows,
    insert_with_ids,
    next_number,
    rows_in,
    session_factory,
    transaction,
)
from sync.dedupe import value_text
from sync.errors import SyncError
from sync.importing.plan import (
    IMPORT_SHARED,
    TRACKING_KEYS,
    AgentRef,
    ConflictPlan,
    CustomerPlan,
    Existing,
    ExistingConflict,
    ExistingCustomer,
    ExistingTracking,
    ImportCounts,
    ImportPlan,
    PhoneReader,
    TrackingPlan,
    follow_up_signature,
    phone_reader,
)
from sync.importing.source import SourceRow
from sync.ledger import Ledger, open_many, update_open
from sync.model import (
    Agent,
    AuditEvent,
    Base,
    Conflict,
    Customer,
    FollowUp,
    Tracking,
    fold,
    folded,
    utcnow,
)

LEDGER = "import_row"
REJECTED = "import_reject"
CONFLICT_TAB = "import"  # details["tab"] of import conflicts: no agent tab read closes them
FOLLOW_UP_COLUMNS = ("date", "type", "method", "notes", "next_action")


# -- loading ---------------------------------------------------------------------------------------


def has_schema(engine: Engine) -> bool:
    """Whether the database exists and holds sheetsync's tables (a dry run creates nothing)."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:"):
            return False

        if not Path(database).exists():
            return False
    try:
        return inspect(engine).has_table("customers")
    except Exception as exc:  # noqa: BLE001 - one clean message
        raise SyncError(f"cannot reach the database: {exc}", where="database.url") from None


def register_config_agents(factory: sessionmaker[Session], agents: Sequence[AgentConfig]) -> None:
    """Agents of the configuration get their database row (as ``init`` does)."""
    with transaction(factory) as s:
        known = set(s.scalars(select(Agent.key)))
        for cfg in agents:
            if cfg.key not in known:
                s.add(Agent(key=cfg.key, name=cfg.name, email=cfg.email))


def load_existing(
    session: Session | None,
    rows: Sequence[SourceRow],
    configured: Sequence[AgentConfig],
    default_region: str,
    phones: PhoneReader | None = None,
) -> Existing:
    """Everything of the database the plan needs, in bulk (lookups of 500 keys at a time).

    Args:
        session: None when there is no database yet (a dry run before the first ``init``).
        rows: the legacy rows (their phones, emails and names are looked up).
        configured: the configuration's agents (matched even before they are registered).
    """
    existing = Existing()
    db_agents: dict[str, tuple[int, str, str]] = {}
    if session is not None:
        for id_, key, name, email in session.execute(
            select(Agent.id, Agent.key, Agent.name, Agent.email)
        ):
            db_agents[key] = (id_, name, email)
    for cfg in configured:
        registered = db_agents.pop(cfg.key, None)
        existing.agents.append(
            AgentRef(cfg.key, cfg.name, cfg.email, registered[0] if registered else None)
        )
    for key, (id_, name, email) in sorted(db_agents.items()):
        existing.agents.append(AgentRef(key, name, email, id_))
    if session is None:
        return existing
    agent_keys = {a.id: a.key for a in existing.agents if a.id is not None}
    phone_of = phones or phone_reader(default_region)

    wanted: set[str] = set()
    emails: set[str] = set()
    names: set[str] = set()
    for row in rows:
        raw = row.values.get("phone")
        if raw is not None:
            e164 = phone_of(raw).e164
            if e164:
                wanted.add(e164)
        if row.values.get("email") is not None:
            emails.add(value_text(row.values["email"]).lower())
        if row.values.get("name") is not None:
            names.add(value_text(row.values["name"]).lower())

    columns = [Customer.id, Customer.number, Customer.phone] + [
        getattr(Customer, k) for k in IMPORT_SHARED
    ]

    def customer(values: Sequence[Any]) -> ExistingCustomer:
        return ExistingCustomer(
            values[0], values[1], values[2], dict(zip(IMPORT_SHARED, values[3:], strict=True))
        )

    for values in rows_in(session, select(*columns), Customer.phone, wanted):
        found = customer(values)
        existing.customers[found.phone] = found
    others: dict[int, ExistingCustomer] = {}
    for column, keys in ((Customer.email, emails), (Customer.name, names)):
        # looked up on the folded index (the start of the text), then compared whole
        query = select(*columns)
        if keys is names:
            query = query.where(Customer.date_of_birth.is_not(None))
        for values in rows_in(session, query, folded(column), {fold(key) for key in keys}):
            text = values[3 + IMPORT_SHARED.index(column.key)]
            if values[2] not in wanted and text is not None and text.lower() in keys:
                others[values[0]] = customer(values)
    existing.others = list(others.values())

    by_id = {c.id: c for c in existing.customers.values()}
    ledger_fed: set[int] = set()
    for action, entity_id, digest in session.execute(
        select(
            AuditEvent.action, AuditEvent.entity_id, AuditEvent.after["digest"].as_string()
        ).where(AuditEvent.action.in_((LEDGER, REJECTED)))
    ):
        if action == LEDGER:
            ledger_fed.add(entity_id)
            if digest:
                existing.imported.add(digest)
        elif digest:
            existing.rejected.add(digest)

    tracking_columns = [
        Tracking.id,
        Tracking.customer_id,
        Tracking.agent_id,
        Tracking.active,
        *[getattr(Tracking, k) for k in TRACKING_KEYS],
    ]
    trackings: dict[int, ExistingTracking] = {}
    for values in rows_in(session, select(*tracking_columns), Tracking.customer_id, by_id):
        id_, customer_id, agent_id, active = values[:4]
        if agent_id not in agent_keys:
            continue
        tracking = ExistingTracking(
            id_,
            customer_id,
            dict(zip(TRACKING_KEYS, values[4:], strict=True)),
            bool(active),
            id_ in ledger_fed,
            set(),
        )
        trackings[id_] = tracking
        existing.trackings[(by_id[customer_id].phone, agent_keys[agent_id])] = tracking
    follow_up_columns = [FollowUp.tracking_id, *[getattr(FollowUp, k) for k in FOLLOW_UP_COLUMNS]]
    for values in rows_in(session, select(*follow_up_columns), FollowUp.tracking_id, trackings):
        signature = follow_up_signature(dict(zip(FOLLOW_UP_COLUMNS, values[1:], strict=True)))
        trackings[values[0]].follow_ups.add(signature)

    conflict_columns = [
        Conflict.key,
        Conflict.status,
        Conflict.current_value,
        Conflict.proposed_value,
        Conflict.details,
    ]
    conflicts = select(*conflict_columns).where(
        Conflict.kind.in_(("shared_field", "possible_duplicate"))
    )
    for key, status, current, proposed, details in rows_in(
        session, conflicts, Conflict.customer_id, {*by_id, *others}
    ):
        existing.conflicts[key] = ExistingConflict(key, status, current, proposed, details or {})
    return existing


# -- applying --------------------------------------------------------------------------------------

ChunkHook = Callable[[int, int], None]
CUSTOMERS: Table = Base.metadata.tables["customers"]
TRACKINGS: Table = Base.metadata.tables["trackings"]
FOLLOW_UPS: Table = Base.metadata.tables["follow_ups"]


class Applier:
    """Executes an :class:`ImportPlan`, counting what it does as it does it."""

    def __init__(
        self,
        engine: Engine,
        plan: ImportPlan,
        agents: Sequence[AgentRef],
        *,
        actor: str,
        today: dt.date,
    ):
        self.factory = session_factory(engine)
        self.plan = plan
        self.actor = actor
        self.today = today
        self.agent_ids = {a.key: a.id for a in agents if a.id is not None}
        self.counts = ImportCounts(
            rows_read=plan.rows_read,
            rows_already_imported=plan.already_imported,
        )
        self.customers: dict[str, tuple[int, str]] = {}  # phone -> id, number
        self.ledger = Ledger(None, actor)
        # Completions an import finds have no cycle of their own: they count as one "run"
        # that precedes every cycle (negative, older imports first), so the commission
        # rule sees two agents' imported completions of one customer as simultaneous
        # (first_to_complete: a completion_race for the admin), never as a silent winner.
        self.run_marker = -int(time.time())

    @staticmethod
    def _completed_at(t: TrackingPlan, now: dt.datetime) -> dt.datetime:
        done = t.values.get("completed_on")
        return dt.datetime.combine(done, dt.time()) if isinstance(done, dt.date) else now

    def run(self, on_chunk: ChunkHook | None = None) -> ImportCounts:
        plan = self.plan
        plan_counts = plan.counts()  # rows and cells the import does not take: no DB work
        for name in ("rows_rejected", "cells_not_read", "duplicate_phones"):
            setattr(self.counts, name, getattr(plan_counts, name))
        with transaction(self.factory) as s:
            self._agents(s)
            self._rejections(s)
            self._flush_events(s)
        for phone, found in ((c.phone, c.existing) for c in plan.customers.values()):
            if found is not None:
                self.customers[phone] = (found.id, found.number)
        by_chunk: dict[int, list[CustomerPlan]] = defaultdict(list)
        for customer in plan.customers.values():
            by_chunk[customer.chunk].append(customer)
        trackings: dict[str, list[TrackingPlan]] = defaultdict(list)
        for tracking in plan.trackings.values():
            trackings[tracking.phone].append(tracking)
        conflicts: dict[int, list[ConflictPlan]] = defaultdict(list)
        for conflict in plan.conflicts:
            conflicts[conflict.chunk].append(conflict)
        for index in range(plan.chunks):
            customers = by_chunk[index]
            try:
                with transaction(self.factory) as s:
                    self._customers(s, customers)
                    self._trackings(s, [t for c in customers for t in trackings[c.phone]])
                    self._conflicts(s, conflicts[index])
                    self._flush_events(s)
            except IntegrityError as exc:
                raise SyncError(
                    "the database changed while importing (a sync cycle or another import "
                    f"added the same customer or conflict): {exc.orig}",
                    hint="run the same import again: it resumes where it stopped",
                ) from None
            if on_chunk is not None:
                on_chunk(index + 1, plan.chunks)
        return self.counts

    # -- pieces --------------------------------------------------------------------------------

    def _flush_events(self, s: Session) -> None:
        self.counts.audit_events += self.ledger.write(s)

    def _agents(self, s: Session) -> None:
        for agent in self.plan.new_agents:
            row = Agent(key=agent.key, name=agent.name, email=agent.email)
            s.add(row)
            s.flush()
            self.agent_ids[agent.key] = row.id
            self.counts.agents_created += 1
            self.ledger.audit(
                "create_agent",
                "agent",
                row.id,
                None,
                None,
                {"key": agent.key, "name": agent.name, "email": agent.email},
            )
        missing = [
            k for k in {t.agent for t in self.plan.trackings.values()} if k not in self.agent_ids
        ]
        if missing:
            for id_, key in s.execute(select(Agent.id, Agent.key).where(Agent.key.in_(missing))):
                self.agent_ids[key] = id_

    def _rejections(self, s: Session) -> None:
        for rejection in self.plan.rejections:
            if not rejection.whole_row or rejection.recorded:
                continue
            self.ledger.audit(
                REJECTED,
                "import",
                0,
                None,
                None,
                {
                    "digest": rejection.digest,
                    "source": self.plan.label,
                    "row": rejection.row,
                    "reason": rejection.reason,
                    "cells": dict(rejection.cells),
                },
            )

    def _customers(self, s: Session, customers: list[CustomerPlan]) -> None:
        new = [c for c in customers if c.new]
        now = utcnow()
        if new:
            name = f"customer-{self.today.year}"
            first = next_number(s, name, len(new))
            params = [
                {
                    "number": f"CUS-{self.today.year}-{first + i:05d}",
                    "phone": c.phone,
                    "created_by_agent_id": self.agent_ids[c.created_by],
                    "created_at": now,
                    "updated_at": now,
                    **{k: c.shared.get(k) for k in IMPORT_SHARED},
                }
                for i, c in enumerate(new)
            ]
            # Inserted in bulk, the ids selected back by the unique phone.
            ids = insert_with_ids(s, CUSTOMERS, params, "phone")
            for values, id_ in zip(params, ids, strict=True):
                phone = str(values["phone"])
                self.customers[phone] = (id_, str(values["number"]))
                self.counts.customers_created += 1
                self.ledger.audit(
                    "create_customer",
                    "customer",
                    id_,
                    id_,
                    None,
                    {
                        "number": values["number"],
                        "phone": phone,
                        **{
                            k: value_text(values[k]) for k in IMPORT_SHARED if values[k] is not None
                        },
                    },
                )
        for c in customers:
            if c.new or not c.fills:
                continue
            assert c.existing is not None
            s.execute(
                update(Customer)
                .where(Customer.id == c.existing.id)
                .values(updated_at=now, **{k: v for k, (_b, v) in c.fills.items()})
            )
            self.counts.customers_updated += 1
            self.ledger.audit(
                "update_customer",
                "customer",
                c.existing.id,
                c.existing.id,
                {k: b for k, (b, _v) in c.fills.items()},
                {k: value_text(v) for k, (_b, v) in c.fills.items()},
            )

    def _trackings(self, s: Session, trackings: list[TrackingPlan]) -> None:
        now = utcnow()
        new = [t for t in trackings if t.new]
        ids: dict[tuple[str, str], int] = {}
        if new:
            params = []
            for t in new:
                completed = t.values.get("status") == "Completed"
                since = dt.datetime.combine(t.since, dt.time()) if t.since else now
                params.append(
                    {
                        "customer_id": self.customers[t.phone][0],
                        "agent_id": self.agent_ids[t.agent],
                        "active": True,
                        "lost_to_colleague": False,
                        "tracked_since": since,
                        "last_update": now,
                        "completed_at": self._completed_at(t, now) if completed else None,
                        "completed_run_id": self.run_marker if completed else None,
                        **{k: t.values.get(k) for k in TRACKING_KEYS},
                    }
                )
            insert_rows(s, TRACKINGS, params)  # no RETURNING: see db.insert_with_ids
            returned: dict[tuple[Any, Any], int] = {}
            for customer_id, agent_id, id_ in rows_in(
                s,
                select(TRACKINGS.c.customer_id, TRACKINGS.c.agent_id, TRACKINGS.c.id),
                TRACKINGS.c.customer_id,
                {p["customer_id"] for p in params},
            ):
                returned[(customer_id, agent_id)] = id_
            for t, param in zip(new, params, strict=True):
                id_ = returned[(param["customer_id"], param["agent_id"])]
                ids[(t.phone, t.agent)] = id_
                self.counts.trackings_created += 1
                self.ledger.audit(
                    "add_tracking",
                    "tracking",
                    id_,
                    self.customers[t.phone][0],
                    None,
                    {
                        "agent": t.agent,
                        "customer": self.customers[t.phone][1],
                        **{
                            k: value_text(t.values[k])
                            for k in TRACKING_KEYS
                            if t.values.get(k) is not None
                        },
                    },
                )
        for t in trackings:
            if t.new:
                continue
            assert t.existing is not None
            ids[(t.phone, t.agent)] = t.existing.id
            customer_id = self.customers[t.phone][0]
            values: dict[str, Any] = {}
            if t.reactivate:
                values.update(active=True, archived_at=None)
                self.counts.trackings_reactivated += 1
                self.ledger.audit(
                    "reactivate_tracking",
                    "tracking",
                    t.existing.id,
                    customer_id,
                    {"active": False},
                    {"active": True},
                )
            if t.changes:
                values.update({k: v for k, (_b, v) in t.changes.items()}, last_update=now)
                if "status" in t.changes:
                    done = t.values.get("status") == "Completed"
                    was = t.existing.values.get("status") == "Completed"
                    if done and not was:
                        values.update(
                            completed_at=self._completed_at(t, now),
                            completed_run_id=self.run_marker,
                        )
                    elif was and not done:
                        values.update(completed_at=None, completed_run_id=None)
                self.counts.trackings_updated += 1
                self.ledger.audit(
                    "update_tracking",
                    "tracking",
                    t.existing.id,
                    customer_id,
                    {k: b for k, (b, _v) in t.changes.items()},
                    {k: value_text(v) for k, (_b, v) in t.changes.items()},
                )
            if values:
                s.execute(update(Tracking).where(Tracking.id == t.existing.id).values(**values))
        self._follow_ups(s, trackings, ids, now)
        for t in trackings:
            customer_id, number = self.customers[t.phone]
            self.counts.rows_imported += len(t.rows)
            self.counts.rows_merged += len(t.rows) - 1 if t.new else len(t.rows)
            for entry in t.rows:
                self.ledger.audit(
                    LEDGER,
                    "tracking",
                    ids[(t.phone, t.agent)],
                    customer_id,
                    None,
                    {
                        "digest": entry.digest,
                        "source": self.plan.label,
                        "row": entry.row,
                        "agent": t.agent,
                        "customer": number,
                        "cells": entry.cells,
                    },
                )

    def _follow_ups(
        self,
        s: Session,
        trackings: list[TrackingPlan],
        ids: dict[tuple[str, str], int],
        now: dt.datetime,
    ) -> None:
        planned = [(t, f) for t in trackings for f in t.follow_ups]
        if not planned:
            return
        first = next_number(s, "follow-up", len(planned))
        params = [
            {
                "number": f"FU-{first + i:06d}",
                "tracking_id": ids[(t.phone, t.agent)],
                "active": True,
                "created_at": now,
                "updated_at": now,
                **{k: f.values.get(k) for k in FOLLOW_UP_COLUMNS},
            }
            for i, (t, f) in enumerate(planned)
        ]
        follow_up_ids = insert_with_ids(s, FOLLOW_UPS, params, "number")
        for (t, f), id_ in zip(planned, follow_up_ids, strict=True):
            self.counts.follow_ups_created += 1
            self.ledger.audit(
                "create_follow_up",
                "follow_up",
                id_,
                self.customers[t.phone][0],
                None,
                {k: value_text(v) for k, v in f.values.items()},
            )

    def _conflicts(self, s: Session, conflicts: list[ConflictPlan]) -> None:
        new: list[dict[str, Any]] = []
        now = utcnow()
        for c in conflicts:
            customer_id, number = self.customers[c.phone]
            if c.kind == "possible_duplicate":
                assert c.other_phone is not None
                other = self.customers.get(c.other_phone) or self._lookup(s, c.other_phone)
                (first_id, first), (second_id, second) = sorted(((customer_id, number), other))
                phones = (
                    [c.phone, c.other_phone]
                    if first_id == customer_id
                    else [c.other_phone, c.phone]
                )
                new.append(
                    {
                        "key": f"possible_duplicate:{first}:{second}",
                        "kind": "possible_duplicate",
                        "status": "open",
                        "customer_id": first_id,
                        "agent_id": None,
                        "field": c.field,
                        "current_value": first,
                        "proposed_value": second,
                        "details": {
                            "customers": [first, second],
                            "phones": phones,
                            "same": c.field,
                        },
                        "opened_at": now,
                    }
                )
                continue
            assert c.agent is not None and c.field is not None
            details = {
                "tab": CONFLICT_TAB,
                "source": self.plan.label,
                "row": min(c.rows),
                "values": {str(r): v for r, v in sorted(c.rows.items())},
            }
            if c.existing is None:
                new.append(
                    {
                        "key": f"shared_field:{number}:{c.field}:{c.agent}",
                        "kind": "shared_field",
                        "status": "open",
                        "customer_id": customer_id,
                        "agent_id": self.agent_ids[c.agent],
                        "field": c.field,
                        "current_value": c.current,
                        "proposed_value": c.proposed,
                        "details": details,
                        "opened_at": now,
                    }
                )
                continue
            if not c.changes:
                continue
            values: dict[str, Any] = {
                "current_value": c.current,
                "proposed_value": c.proposed,
                "details": details,
            }
            if c.opens:
                self.counts.conflicts_opened += 1
                self.counts.shared_field_conflicts += 1
            else:
                self.counts.conflicts_updated += 1
            update_open(s, c.existing.key, values, reopen=c.opens)
        if new:
            open_many(s, new)
            for values in new:
                self.counts.conflicts_opened += 1
                if values["kind"] == "shared_field":
                    self.counts.shared_field_conflicts += 1
                else:
                    self.counts.possible_duplicates += 1

    def _lookup(self, s: Session, phone: str) -> tuple[int, str]:
        id_, number = s.execute(
            select(Customer.id, Customer.number).where(Customer.phone == phone)
        ).one()
        self.customers[phone] = (id_, number)
        return id_, number


def apply_plan(
    engine: Engine,
    plan: ImportPlan,
    agents: Sequence[AgentRef],
    *,
    actor: str,
    today: dt.date,
    on_chunk: ChunkHook | None = None,
) -> ImportCounts:
    """Write a plan to the database, one transaction per chunk; returns what was done."""
    return Applier(engine, plan, agents, actor=actor, today=today).run(on_chunk)
