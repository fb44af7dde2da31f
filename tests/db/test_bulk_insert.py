"""db.insert_rows and db.update_by_id: bulk writes (COPY on PostgreSQL) store what the ORM would."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from sync import db
from sync.db import COPY_FROM, insert_rows, session_factory, transaction, update_by_id
from sync.model import AuditEvent, SheetRow
from tests.conftest import analyze_counts
from tests.world import World

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


def test_few_rows_and_updates_are_stored_as_sqlalchemy_stores_them(engine):
    """Below COPY_FROM rows, and for every update, the values go through db.execute_many:
    each converted by its column's type as ``session.execute`` converts it (the same
    stored text, JSON null included), a column left out given its default."""
    at = dt.datetime(2026, 11, 29, 15, 1, 2, 345678)
    rows = [
        {
            "actor": text_,
            "action": "x",
            "entity_id": i,
            "before": {"v": text_, "n": [i, None]} if i % 2 else None,
            "at": at + dt.timedelta(seconds=i, microseconds=-at.microsecond * (i % 2)),
        }
        for i, text_ in enumerate(AWKWARD)
    ]
    table = AuditEvent.__table__
    with transaction(session_factory(engine)) as s:
        insert_rows(s, table, [{**r, "entity": "bulk"} for r in rows])
        s.execute(insert(table), [{**r, "entity": "sqlalchemy"} for r in rows])
    stored_as = text(
        "SELECT entity_id, actor, CAST(at AS TEXT), CAST(before AS TEXT), "
        "CAST(after AS TEXT), run_id FROM audit_events WHERE entity = :e ORDER BY entity_id"
    )

    def stored(entity: str) -> list[tuple[object, ...]]:
        with transaction(session_factory(engine)) as s:
            return [tuple(r) for r in s.execute(stored_as, {"e": entity})]

    assert stored("bulk") == stored("sqlalchemy") and len(stored("bulk")) == len(AWKWARD)
    with transaction(session_factory(engine)) as s:
        query = select(AuditEvent.id, AuditEvent.entity).order_by(AuditEvent.id)
        ids = {row_id: entity for row_id, entity in s.execute(query)}
        by_entity: dict[str, list[dict[str, object]]] = {"bulk": [], "sqlalchemy": []}
        for row_id, entity in ids.items():
            n = len(by_entity[entity])
            after = {"x": AWKWARD[n]} if n % 3 else None
            by_entity[entity].append({"_id": row_id, "after": after, "at": at, "actor": "b"})
        update_by_id(s, AuditEvent, by_entity["bulk"])
        s.execute(update(table).where(table.c.id == bindparam("_id")), by_entity["sqlalchemy"])
    assert stored("bulk") == stored("sqlalchemy")
    assert [r[1] for r in stored("bulk")] == ["b"] * len(AWKWARD)


def test_a_cycle_that_filled_the_tables_has_postgresql_take_their_statistics(engine, monkeypatch):
    """PostgreSQL plans from a table's statistics, which autovacuum takes a minute or more
    after a bulk insert: until then a table the first cycle filled counts as empty (the
    master then read the due trackings customer by customer, each through the whole index
    of due dates: 7 s at 10 agents). A cycle that added ANALYZE_FROM rows or more has the
    tables it read sheets into analyzed before it renders, and the sheets' rows it stored
    after; a cycle that added fewer leaves them to autovacuum. SQLite gets no statistics."""
    if engine.dialect.name == "sqlite":  # plans without statistics: the ones tests check
        assert not db.refresh_statistics(session_factory(engine), db.ANALYZE_FROM)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM sqlite_master")).scalars().all()
            stats = "SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_stat%'"
            assert conn.execute(text(stats)).all() == []
        return
    monkeypatch.setattr(db, "ANALYZE_FROM", 4)  # rows: customers, trackings, follow-ups
    tables = (*db.INGESTED_TABLES, *db.SHEET_TABLES)
    world = World(engine)
    world.type_rows("ali", [{"Name": "Ahmed", "Phone": "01001234501"}])
    before = analyze_counts(engine, tables)
    assert world.cycle().customers_created == 1  # 2 rows added: fewer than 4
    assert analyze_counts(engine, tables) == before

    world.type_rows(
        "sara", [{"Name": f"Customer {n}", "Phone": f"0100123450{n}"} for n in range(2, 5)]
    )
    assert world.cycle().customers_created == 3  # 6 rows added
    after = analyze_counts(engine, tables)
    assert all(after[table] > before[table] for table in tables), (before, after)
