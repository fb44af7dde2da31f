"""The database: SQLAlchemy 2 models.

One ``Customer`` per E.164 phone (unique constraint), one ``Tracking`` per
customer and agent (unique constraint), follow-ups under trackings, a keyed
``Conflict`` queue, an ``AuditEvent`` for every change to canonical data,
``SheetState`` (per tab: the version last written and what concerns the whole tab),
``SheetRow`` (per row of a tab: what it held as last synced, the base of three-way
merges) and ``SyncRun``. Schema changes go through Alembic (``sync/migrations/``);
``tests/db/test_migrations.py`` checks that the two agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    literal_column,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sync.tab_state import TabSnapshot

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, str: String(255)}


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str]
    email: Mapped[str] = mapped_column(default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    failures_in_a_row: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Workers (sync/worker.py, sync/lease.py): cycles a failing source sat out since its
    # last attempt, when it started failing (None while it syncs), and when a worker last
    # leased it (workers take the least recently leased sources first).
    backoff_skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failing_since: Mapped[dt.datetime | None] = mapped_column(DateTime)
    leased_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    trackings: Mapped[list[Tracking]] = relationship(back_populates="agent")


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    other_phone: Mapped[str | None] = mapped_column(Text)
    nationality: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)
    gender: Mapped[str | None] = mapped_column(String(16))
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Set when an admin merged this customer into another (sync/admin/merge.py); the row
    # is kept so that the merge can be undone from the audit log.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    # An admin's soft delete (sheetsync delete; restore clears them): every record is kept.
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    deleted_by: Mapped[str | None] = mapped_column(String(255))
    delete_reason: Mapped[str | None] = mapped_column(Text)

    trackings: Mapped[list[Tracking]] = relationship(back_populates="customer")


FOLDED_CHARS = 200
"""How much of a text the folded indexes hold: a PostgreSQL index row holds at most a few
kilobytes, and a name or email is stored whole however long it is."""


def folded(column: Any) -> Any:
    """A text column as the folded indexes hold it: its first characters, lower-cased.

    The numbers are written into the SQL, not bound: a database uses an index on an
    expression only for that very expression (``substr(email, ?, ?)`` is another one)."""
    return func.lower(func.substr(column, literal_column("1"), literal_column(str(FOLDED_CHARS))))


def fold(text: str) -> str:
    """A text as :func:`folded` holds it (its lower-casing is the database's: ASCII letters
    alone on SQLite)."""
    return text[:FOLDED_CHARS].lower()


# Possible duplicates (same email, or same name and date of birth) are looked up by the
# folded texts, by ingest and by the import: an index on each keeps a lookup to the rows
# it asks for, not a read of the whole table (names repeat: a name's with its birth date).
Index("ix_customers_email_folded", folded(Customer.email))
Index("ix_customers_name_folded", folded(Customer.name), Customer.date_of_birth)


def _where(clause: Any) -> dict[str, Any]:
    return {"sqlite_where": clause, "postgresql_where": clause}


# Partial indexes (migration 0011): most customers are neither merged nor deleted, so an
# index on either column holds the few that are (a lookup of a customer's merged ones, or
# of the deleted ones that reports leave out), and the numbers of the customers shown are
# indexed apart, for the master's check of its rows in order (sync.row_order).
Index(
    "ix_customers_merged_into_id",
    Customer.merged_into_id,
    **_where(Customer.merged_into_id.is_not(None)),
)
Index("ix_customers_deleted_at", Customer.deleted_at, **_where(Customer.deleted_at.is_not(None)))
Index(
    "ix_customers_shown",
    Customer.number,
    **_where(Customer.merged_into_id.is_(None) & Customer.deleted_at.is_(None)),
)


class CustomerPhone(Base):
    """Another phone that binds agents' rows to a customer (a merged customer's phone).

    ``old_number`` is a Customer # the sync once wrote next to this phone in agents'
    sheets and that now means ``customer_id`` (after a merge was undone), so such a row
    is rebound instead of being flagged as an identity mismatch.
    """

    __tablename__ = "customer_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    old_number: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Tracking(Base):
    """One agent's private work on one customer."""

    __tablename__ = "trackings"
    __table_args__ = (
        UniqueConstraint("customer_id", "agent_id"),
        # Every cycle counts each agent's active trackings (sync.marks): read from the
        # index alone, not from every row of the table.
        Index("ix_trackings_agent_active", "agent_id", "active", "id"),
        # Every cycle looks for completions whose commission was never settled
        # (sync.commission.unsettled): the few Completed ones without a percentage.
        Index("ix_trackings_status_commission", "status", "commission_pct"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # (looked up by the unique index on (customer, agent), which starts with it)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    desired_university: Mapped[str | None] = mapped_column(Text)
    desired_college: Mapped[str | None] = mapped_column(Text)
    desired_program: Mapped[str | None] = mapped_column(Text)
    degree: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str | None] = mapped_column(String(16))
    interest: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(Text)
    technical_opinion: Mapped[str | None] = mapped_column(Text)
    # indexed: the master's Due by agent tab counts the ones on or before today
    next_follow_up: Mapped[dt.date | None] = mapped_column(Date, index=True)
    first_contact: Mapped[dt.date | None] = mapped_column(Date)
    completed_on: Mapped[dt.date | None] = mapped_column(Date)
    certificate: Mapped[str | None] = mapped_column(Text)
    graduation_year: Mapped[int | None] = mapped_column(Integer)
    grade: Mapped[str | None] = mapped_column(Text)
    counselor_notes: Mapped[str | None] = mapped_column(Text)
    documents: Mapped[str | None] = mapped_column(Text)
    commission_pct: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    lost_to_colleague: Mapped[bool] = mapped_column(Boolean, default=False)
    tracked_since: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_update: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    archived_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # When sheetsync first saw this tracking Completed, and in which run: the order of
    # completions decides commission under first_to_complete (same run = a race).
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    completed_run_id: Mapped[int | None] = mapped_column(Integer)

    customer: Mapped[Customer] = relationship(back_populates="trackings")
    agent: Mapped[Agent] = relationship(back_populates="trackings")
    follow_ups: Mapped[list[FollowUp]] = relationship(back_populates="tracking")


class FollowUp(Base):
    __tablename__ = "follow_ups"
    # Every cycle counts each agent's active follow-ups through their trackings
    # (sync.marks): the index answers for a tracking without its rows.
    __table_args__ = (Index("ix_follow_ups_tracking_active", "tracking_id", "active", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    tracking_id: Mapped[int] = mapped_column(ForeignKey("trackings.id"))
    date: Mapped[dt.date | None] = mapped_column(Date)
    type: Mapped[str | None] = mapped_column(String(16))
    method: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    next_action: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    tracking: Mapped[Tracking] = relationship(back_populates="follow_ups")


class Conflict(Base):
    """An item of the admin's queue. ``key`` makes opening idempotent."""

    __tablename__ = "conflicts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(512), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    field: Mapped[str | None] = mapped_column(String(64))
    current_value: Mapped[str | None] = mapped_column(Text)
    proposed_value: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(255))


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    run_id: Mapped[int | None] = mapped_column(Integer)


class SheetState(Base):
    """A tab as the last cycle left it: the workbook's version, what it was rendered from
    (``marker``) and, in ``snapshot``, what concerns the whole tab (an agent tab's header
    layout and an admin's accepted removal; the master's digests). Its rows are
    :class:`SheetRow`."""

    __tablename__ = "sheet_states"
    __table_args__ = (UniqueConstraint("source", "tab"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(1024))
    tab: Mapped[str] = mapped_column(String(255))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    version: Mapped[str | None] = mapped_column(String(255))
    # What the tab was last written from (see sync.marks): an
    # unchanged sheet whose marker still matches is not rendered at all.
    marker: Mapped[str | None] = mapped_column(String(255))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    synced_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def tab_snapshot(self) -> TabSnapshot:
        """``snapshot`` by name (a copy: store changes with :meth:`keep_snapshot`)."""
        return TabSnapshot.from_json(self.snapshot)

    def keep_snapshot(self, snap: TabSnapshot) -> bool:
        """Store ``snap`` as the tab's snapshot; returns whether it changed."""
        data = snap.as_json()
        if data == (self.snapshot or {}):
            return False
        self.snapshot = data
        return True


class SheetRow(Base):
    """One row of a tab as last written or synced.

    The key names what the row shows (a Customer #, a tracking ID, a Follow-up #), the
    digest what it held. In the master, ``position`` is its place (1 = first row under
    the header) and ``base`` what an admin may edit there: a cycle compares rows it
    re-rendered with the digests and writes only the rows that differ, without reading
    the tab. In an agent's tab, ``base`` is the row's values as last synced, its Sync
    notes and the fields left to the agent (the base of the next three-way merge), and
    ``position`` its 0-based row in the sheet (-1 until a cycle has seen where it is):
    a change elsewhere is set into those rows without reading the sheet
    (:mod:`sync.sheet_rows`).
    """

    __tablename__ = "sheet_rows"
    __table_args__ = (
        Index("ix_sheet_rows_tab", "source", "tab", "position"),
        Index("ix_sheet_rows_key", "key", "source", "tab"),  # key first: see migration 0008
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(1024))
    tab: Mapped[str] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(Integer)  # 1 = the first row under the header
    key: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str] = mapped_column(String(32))
    base: Mapped[Any | None] = mapped_column(JSON)


class SyncRun(Base):
    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="running")
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    errors: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class NumberSequence(Base):
    """Counters for customer and follow-up numbers (row-locked by the UPDATE that bumps them)."""

    __tablename__ = "number_sequences"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_value: Mapped[int] = mapped_column(Integer, default=1)
