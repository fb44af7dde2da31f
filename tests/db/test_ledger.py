"""The ledger's rules: events in bulk and in order, keyed conflicts opened once, closed
with who and why, opened again with all of that cleared."""

from __future__ import annotations

from sqlalchemy import func, select

from sync.db import session_factory, transaction
from sync.ledger import Ledger, close, keep_open, open_new
from sync.model import AuditEvent, Conflict


def test_events_are_written_in_bulk_in_the_order_recorded(engine):
    with transaction(session_factory(engine)) as s:
        ledger = Ledger(s, "agent:a1", run_id=None)
        for i in range(1203):
            ledger.audit("update_tracking", "tracking", i, None, {"n": i}, {"n": i + 1})
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 0  # buffered
        assert ledger.write() == 1203
        assert ledger.write() == 0
    with transaction(session_factory(engine)) as s:
        ids = s.scalars(select(AuditEvent.entity_id).order_by(AuditEvent.id)).all()
        actors = set(s.scalars(select(AuditEvent.actor)))
    assert ids == list(range(1203))
    assert actors == {"agent:a1"}


def test_an_admin_s_event_is_written_at_once_after_those_recorded_before(engine):
    with transaction(session_factory(engine)) as s:
        ledger = Ledger(s, "boss@company.com")
        ledger.audit("update_customer", "customer", 1, None, None, None)
        ledger.audit("merge_customers", "customer", 2, None, None, {"into": "x"})
        event = ledger.write_last()
        first = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).first()
        assert first is not None and first.action == "update_customer"
        assert event.id > first.id


def test_a_keyed_conflict_is_opened_once_closed_with_who_and_why_and_opened_again(engine):
    factory = session_factory(engine)
    with transaction(factory) as s:
        assert open_new(s, Conflict(key="k:1", kind="shared_field", proposed_value="a"))
        assert not open_new(s, Conflict(key="k:1", kind="shared_field", proposed_value="b"))
    with transaction(factory) as s:
        conflict = s.scalars(select(Conflict)).one()
        assert conflict.proposed_value == "a"
        assert not keep_open(conflict, proposed_value="c")  # open: only updated
        close(conflict, "kept A", status="dismissed", by="boss@company.com")
    with transaction(factory) as s:
        conflict = s.scalars(select(Conflict)).one()
        assert (conflict.status, conflict.resolution, conflict.resolved_by) == (
            "dismissed",
            "kept A",
            "boss@company.com",
        )
        assert conflict.proposed_value == "c" and conflict.closed_at is not None
        assert keep_open(conflict, proposed_value="d")
    with transaction(factory) as s:
        conflict = s.scalars(select(Conflict)).one()
        assert (conflict.status, conflict.closed_at, conflict.resolution) == ("open", None, None)
        assert (conflict.resolved_by, conflict.proposed_value) == (None, "d")
