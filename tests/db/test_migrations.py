"""The Alembic migrations and the SQLAlchemy models describe the same schema."""

from __future__ import annotations

import warnings

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select

from sync.commission import UNSETTLED
from sync.db import SCHEMA_REVISION, DatabaseMissing, check_schema
from sync.errors import ConfigError
from sync.ingest import BY_EMAIL, BY_NAME, DUPLICATE_LOOKUP
from sync.model import Base, SheetRow, SheetState
from sync.row_order import ROW_ORDERS
from sync.schema import alembic_config, head_revision, upgrade_schema
from sync.sheet_rows import load_tab_rows
from tests.scenarios.test_cycle import AHMED_ALI, AHMED_SARA
from tests.world import World

FOLDED = ("ix_customers_email_folded", "ix_customers_name_folded")


def test_migrated_schema_matches_the_models(engine):
    with engine.connect() as conn, warnings.catch_warnings():
        # SQLite's indexes on expressions cannot be reflected: compared below instead
        warnings.filterwarnings("ignore", ".*expression-based index")
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_possible_duplicates_are_looked_up_on_the_folded_indexes(engine):
    """The lookup by folded email and by folded name reads an index, never the whole
    customers table (an edit of one row looked at every customer once per sheet)."""
    with engine.connect() as conn:
        lookups = (BY_EMAIL.in_(["a", "b"]), BY_NAME.in_(["a", "b"]))
        for lookup, index in zip(lookups, FOLDED, strict=True):
            plan = _plan(conn, DUPLICATE_LOOKUP.where(lookup))
            assert index in plan, plan


def test_a_cycles_lookups_of_few_rows_read_an_index_not_a_table(engine):
    """The check that the master's row tabs hold the rows written, and the read of the
    rows past the last one, find the customers shown and the deleted ones by their partial
    indexes (migration 0011), never by reading every customer: an edit cycle at 50 agents
    spent 0.2 s there; the look for unsettled completions reads the few Completed ones
    without a percentage, not every tracking."""
    customers = ROW_ORDERS["Customers"]
    with engine.connect() as conn:
        for query in (customers.check_query(["C-0001"]), customers.after_query(["C-0001"], 9)):
            plan = _plan(conn, query)
            assert "ix_customers_shown" in plan, plan
        for tab, last in (("Tracking", [1, 1, 1]), ("Follow-ups", ["F-0001"])):
            plan = _plan(conn, ROW_ORDERS[tab].check_query(last))
            assert "ix_customers_deleted_at" in plan, plan
        assert "ix_customers_merged_into_id" not in _plan(conn, customers.check_query(["C-1"]))
        # every cycle's look for completions never settled
        assert "ix_trackings_status_commission" in _plan(conn, UNSETTLED)


def _plan(conn, query) -> str:
    """The database's plan for ``query`` as it runs (its values bound, not written into
    the SQL); on PostgreSQL, with sequential scans off (the tables are empty: any plan
    would do)."""
    compiled = query.compile(conn, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    if conn.dialect.name == "sqlite":
        values = tuple(params[name] for name in compiled.positiontup or ())
        explained = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", values)
        return " ".join(str(row[-1]) for row in explained)
    conn.exec_driver_sql("SET enable_seqscan = off")
    explained = conn.exec_driver_sql(f"EXPLAIN {compiled}", params)
    return " ".join(row[0] for row in explained)


def test_a_cycle_checks_the_newest_revision_without_alembic(engine):
    assert head_revision() == SCHEMA_REVISION
    check_schema(engine)  # at the newest revision
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == SCHEMA_REVISION
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008")
    with pytest.raises(
        ConfigError, match=f"at revision 0008, this sheetsync needs {SCHEMA_REVISION}"
    ):
        check_schema(engine)
    upgrade_schema(engine)
    check_schema(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE alembic_version RENAME TO kept_version")
    with pytest.raises(DatabaseMissing, match="has no sheetsync tables yet"):
        check_schema(engine)
    with engine.begin() as conn:  # as it was, for the next test that takes this database
        conn.exec_driver_sql("ALTER TABLE kept_version RENAME TO alembic_version")
    check_schema(engine)


def test_upgrade_is_idempotent(engine):
    upgrade_schema(engine)
    tables = set(inspect(engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    assert "alembic_version" in tables


def test_agent_rows_move_out_of_the_snapshots_and_back(engine):
    """0006 moves each agent tab's rows from its snapshot into ``sheet_rows``: a deployment
    synced before it upgrades with the same rows (and notes, and fields left to the agent),
    and its next cycle has nothing to write; an edit after it is merged as before."""
    world = World(engine)
    world.type_rows("ali", [AHMED_ALI, {"Name": "Fatima Ali", "Phone": "0111 222 3344"}])
    world.type_rows("sara", [AHMED_SARA])
    world.cycle()
    with world.session() as s:
        source = world.source("ali")
        before = {tab: load_tab_rows(s, source, tab) for tab in ("Customers", "Follow-ups")}
    assert len(before["Customers"].rows) == 2

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    with engine.connect() as conn:
        snapshot = conn.execute(
            select(SheetState.snapshot).where(
                SheetState.source == source, SheetState.tab == "Customers"
            )
        ).scalar_one()
        kept = conn.execute(select(func.count()).where(SheetRow.source == source)).scalar()
    assert kept == 0
    assert snapshot["rows"] == before["Customers"].rows

    upgrade_schema(engine)  # what `sheetsync init` does
    with world.session() as s:
        after = {tab: load_tab_rows(s, source, tab) for tab in ("Customers", "Follow-ups")}
    for tab in after:
        assert {p: after[tab].part(p) for p in ("rows", "notes", "leave")} == {
            p: before[tab].part(p) for p in ("rows", "notes", "leave")
        }
        assert after[tab].at == {}  # the snapshots did not keep the rows' places

    counts = world.table_counts()
    assert world.cycle().cells_written == 0
    assert world.table_counts() == counts
    world.edit("ali", {"Phone": "0111 222 3344"}, {"Status": "Completed"})
    assert world.cycle().trackings_updated == 1
    assert world.master_differences() == {}
