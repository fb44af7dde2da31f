"""db.insert_rows: a bulk insert (COPY on PostgreSQL) stores what the ORM would store."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from sync.db import COPY_FROM, insert_rows, session_factory, transaction
from sync.model import AuditEvent, SheetRow

AWKWARD = ["tab\there", "line\nbreak", "back\\slash", "قيمة عربية", "😀", "", "\\N", "null"]


def test_rows_inserted_in_bulk_keep_every_value_default_and_json_null(engine):
    rows = [
        {
            "source": f"src {i}",
            "tab": "Customers",
            "position": i,
            "key": AWKWARD[i % len(AWKWARD)],
            "digest": f"d{i}",
            "base": None if i % 3 == 0 else {"notes": AWKWARD[i % len(AWKWARD)], "n": [i, None]},
        }
        for i in range(COPY_FROM + 50)  # enough for PostgreSQL's COPY
    ]
    with transaction(session_factory(engine)) as s:
        insert_rows(s, SheetRow.__table__, rows)
    with transaction(session_factory(engine)) as s:
        stored = s.execute(
            select(SheetRow.position, SheetRow.key, SheetRow.base).order_by(SheetRow.position)
        ).all()
        nulls = s.scalar(text("SELECT count(*) FROM sheet_rows WHERE base IS NULL"))
    assert [(p, k, b) for p, k, b in stored] == [(r["position"], r["key"], r["base"]) for r in rows]
    assert nulls == 0  # a JSON column's None is JSON null, as the ORM stores it


def test_columns_left_out_get_their_python_defaults(engine):
    with transaction(session_factory(engine)) as s:
        insert_rows(
            s,
            AuditEvent.__table__,
            [
                {"actor": "a", "action": "x", "entity": "e", "entity_id": i, "before": None}
                for i in range(COPY_FROM)
            ],
        )
    with transaction(session_factory(engine)) as s:
        events = s.scalars(select(AuditEvent)).all()
    assert len(events) == COPY_FROM
    assert all(e.at is not None and e.after is None and e.run_id is None for e in events)


def test_a_duplicate_key_in_a_bulk_insert_is_sqlalchemy_s_integrity_error(engine):
    """Callers (a customer another worker just created) catch one kind of error."""
    rows = [
        {"source": "s", "tab": "t", "position": i, "key": f"k{i}", "digest": "d", "base": None}
        for i in range(COPY_FROM)
    ]
    with transaction(session_factory(engine)) as s:
        s.execute(
            text("CREATE UNIQUE INDEX ux_test_sheet_rows_key ON sheet_rows (source, tab, key)")
        )
        insert_rows(s, SheetRow.__table__, rows[:1])
    with pytest.raises(IntegrityError), transaction(session_factory(engine)) as s:
        insert_rows(s, SheetRow.__table__, rows)
    with transaction(session_factory(engine)) as s:
        assert s.scalar(select(func.count()).select_from(SheetRow)) == 1  # nothing half-done
