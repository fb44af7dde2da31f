"""Promise 1 under concurrent workers: one customer per phone, numbers never handed out twice."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, delete, event, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from sync import service
from sync.admin import commands
from sync.admin.resolve import Decision
from sync.collector import THRESHOLDS, fewer_collections
from sync.cycle import Cycle, CycleReport
from sync.db import (
    RETRY_ATTEMPTS,
    make_engine,
    read_transaction,
    retrying,
    session_factory,
    transaction,
    transient,
)
from sync.dedupe import normalize_phone
from sync.lease import PgAdvisoryLease, namespace_for
from sync.ledger import Ledger
from sync.master import load_master, tracking_rows
from sync.model import Agent, Conflict, Customer, SyncRun, Tracking, utcnow
from sync.schema import upgrade_schema
from tests.conftest import pg_schema_url
from tests.world import World

PHONES = [f"010{n:08d}" for n in range(1234500, 1234530)]


def test_two_workers_typing_the_same_phones_create_each_customer_once(engine):
    agents = ("ali", "sara", "mohamed", "nour")
    world = World(engine, agents=agents)
    for key in agents:
        world.type_rows(
            key,
            [
                {"Name": f"Customer {i}", "Phone": phone, "Notes": f"{key} {i}"}
                for i, phone in enumerate(PHONES)
            ],
        )
    halves = [world.config.agents[:2], world.config.agents[2:]]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        config = world.config.model_copy(
            update={
                "agents": halves[n],
                "master": world.config.master.model_copy(update={"workbook": f"master{n}.xlsx"}),
            }
        )
        world.backend.sources.setdefault(config.master_source(), {})
        world.backend.versions[config.master_source()] = 0
        start.wait()
        try:
            Cycle(config, engine, world.backend).run()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors

    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == len(PHONES)
        assert s.scalar(select(func.count(func.distinct(Customer.number)))) == len(PHONES)
        assert s.scalar(select(func.count()).select_from(Tracking)) == len(PHONES) * len(agents)
        numbers = sorted(s.scalars(select(Customer.number)))
    assert [int(n[-5:]) for n in numbers] == list(range(1, len(PHONES) + 1))
    world.cycle()
    for key in agents:
        assert all(r["Customer #"].startswith("CUS-") for r in world.rows(key))


def test_sync_by_hand_leaves_a_source_a_postgresql_worker_is_syncing_to_it(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip(
            "advisory leases are PostgreSQL's; on SQLite `sync` refuses while a worker runs"
        )
    world = World(engine)
    world.type_rows("ali", [{"Name": "Ahmed", "Phone": PHONES[0]}])
    world.type_rows("sara", [{"Name": "Mona", "Phone": PHONES[1]}])
    worker = PgAdvisoryLease(engine, namespace_for(engine))
    try:
        assert worker.acquire_agents(["ali"]) == ["ali"]  # a worker is syncing ali now
        report = service.sync_once(world.config, engine, world.backend)
    finally:
        worker.dispose()
    assert report.agents_leased_elsewhere == 1
    with world.session() as s:
        phones = set(s.execute(select(Customer.phone)).scalars())
    assert phones == {normalize_phone(PHONES[1])}  # sara's row only; ali's is the worker's

    after = service.sync_once(world.config, engine, world.backend)  # the worker is gone
    assert after.agents_leased_elsewhere == 0
    assert world.count(Customer) == 2


# -- PostgreSQL: what one worker reads and writes while another commits -----------------------


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """An engine on a fresh, migrated PostgreSQL schema (skipped without PostgreSQL)."""
    urls = pg_schema_url()
    eng = make_engine(next(urls))
    upgrade_schema(eng)
    yield eng
    eng.dispose()
    next(urls, None)  # drops the schema


def _add_customer_with_tracking(engine: Engine, phone: str) -> None:
    """One customer and its tracking, committed by another connection (another worker)."""
    with transaction(session_factory(engine)) as s:
        agent = s.scalars(select(Agent).where(Agent.key == "other")).one_or_none()
        if agent is None:
            agent = Agent(key="other", name="Other")
            s.add(agent)
        customer = Customer(number=f"CUS-2026-{phone[-5:]}", phone=phone, name="New")
        s.add(customer)
        s.flush()
        s.add(Tracking(customer_id=customer.id, agent_id=agent.id))


def _commit_between_statements(engine: Engine, session: Session, before: str, phone: str) -> None:
    """Commit a new customer and its tracking from another connection just before this
    session's connection runs its first statement that reads the table ``before``."""
    done: list[bool] = []

    def hook(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not done and f"FROM {before}" in statement:
            done.append(True)
            _add_customer_with_tracking(engine, phone)

    event.listen(session.connection(), "before_cursor_execute", hook)


def test_the_master_is_read_as_of_one_moment_while_another_worker_commits(pg_engine):
    _add_customer_with_tracking(pg_engine, "+201200000000")
    factory = session_factory(pg_engine)
    # A READ COMMITTED transaction sees the customer committed after it read the customers
    # in the trackings it reads next: a tracking whose customer it does not hold.
    with pytest.raises(KeyError), transaction(factory) as s:
        _commit_between_statements(pg_engine, s, "trackings", "+201200000001")
        tracking_rows(load_master(s))
    with read_transaction(factory) as s:
        _commit_between_statements(pg_engine, s, "trackings", "+201200000002")
        data = load_master(s)
        rows = tracking_rows(data)
    assert len(data.customers) == len(rows) == 2  # the two committed before it began
    with read_transaction(factory) as s:
        assert len(tracking_rows(load_master(s))) == 3  # and the third, from now on


def _waiting_for_advisory_lock(engine: Engine) -> bool:
    """Whether a session waits for this schema's audit-order lock (sync.ledger): pg_locks
    shows a one-number advisory lock as its low 32 bits in ``objid``, ``objsubid`` 1."""
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    " AND objsubid = 1 AND objid::bigint = (hashtext('sheetsync-audit:'"
                    " || current_database() || ':' || current_schema())::bigint & 4294967295)"
                )
            ).scalar()
        )


def test_audit_events_take_their_ids_in_commit_order(pg_engine):
    """A transaction that wrote events holds the next one's events back until it ends: a
    view that saw event N has seen every event before N (sync.ledger.in_commit_order)."""
    factory = session_factory(pg_engine)
    later: list[int] = []

    def second_writer() -> None:
        with transaction(factory) as s:
            ledger = Ledger(s, "agent:b")
            ledger.audit("update_tracking", "tracking", 2, None, None, {"n": 2})
            later.append(ledger.write_last().id)

    with transaction(factory) as s:
        ledger = Ledger(s, "agent:a")
        ledger.audit("update_tracking", "tracking", 1, None, None, {"n": 1})
        first = ledger.write_last().id
        thread = threading.Thread(target=second_writer)
        thread.start()
        deadline = time.monotonic() + 30
        while not _waiting_for_advisory_lock(pg_engine):
            assert thread.is_alive() and not later, "the second writer did not wait"
            assert time.monotonic() < deadline, "the second writer never waited"
            time.sleep(0.02)
        assert not later  # still waiting: nothing of it is in the database yet
    thread.join(timeout=30)
    assert later and later[0] > first


def _deadlock(engine: Engine) -> DBAPIError:
    """A real "deadlock detected": two transactions, each waiting on the other's row."""
    with transaction(session_factory(engine)) as s:
        s.add_all([Agent(key="x", name="X"), Agent(key="y", name="Y")])
    errors: list[DBAPIError] = []
    both_hold = threading.Barrier(2)

    def lock(first: str, then: str) -> None:
        try:
            with transaction(session_factory(engine)) as s:
                s.execute(update(Agent).where(Agent.key == first).values(name=first))
                both_hold.wait(timeout=30)
                s.execute(update(Agent).where(Agent.key == then).values(name=then))
        except DBAPIError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=lock, args=pair) for pair in (("x", "y"), ("y", "x"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(errors) == 1, errors  # the database broke the cycle: one of the two failed
    return errors[0]


@contextmanager
def _audit_inserts_deadlocked(engine: Engine, times: int = 1) -> Iterator[list[str]]:
    """Within the block, the first ``times`` inserts of audit events fail with a real
    "deadlock detected" (as the database does: the transaction is rolled back); yields
    the statements it broke."""
    deadlock = _deadlock(engine)
    with transaction(session_factory(engine)) as s:
        s.execute(delete(Agent).where(Agent.key.in_(("x", "y"))))  # the deadlock's two
    broken: list[str] = []

    def break_audit(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        inserting = statement.lstrip().startswith(("INSERT", "COPY"))
        if len(broken) < times and inserting and "audit_events" in statement:
            broken.append(statement)
            raise deadlock

    event.listen(engine, "before_cursor_execute", break_audit)
    try:
        yield broken
    finally:
        event.remove(engine, "before_cursor_execute", break_audit)


def test_a_transaction_rolled_back_for_a_deadlock_is_run_again(pg_engine):
    deadlock = _deadlock(pg_engine)
    assert transient(deadlock)
    calls: list[int] = []

    def fails_once() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise deadlock
        return "done"

    assert retrying(fails_once, "test") == "done" and len(calls) == 2

    calls.clear()

    def always() -> str:
        calls.append(1)
        raise deadlock

    with pytest.raises(DBAPIError):
        retrying(always, "test", attempts=3)
    assert len(calls) == 3

    # Any other database error is not the transaction's timing: it is not run again.
    with pytest.raises(IntegrityError) as taken, transaction(session_factory(pg_engine)) as s:
        s.add(Agent(key="x", name="again"))
    assert not transient(taken.value)
    calls.clear()

    def constraint() -> str:
        calls.append(1)
        raise taken.value

    with pytest.raises(IntegrityError):
        retrying(constraint, "test")
    assert len(calls) == 1


def test_a_cycle_applies_a_sheet_again_when_the_database_broke_a_deadlock(pg_engine):
    world = World(pg_engine)
    world.type_rows("ali", [{"Name": "Ahmed", "Phone": PHONES[0], "Notes": "first call"}])
    world.type_rows("sara", [{"Name": "Ahmed A.", "Phone": PHONES[0], "Notes": "hers"}])
    with _audit_inserts_deadlocked(pg_engine) as broken:
        report = world.cycle()
    assert broken  # the deadlock happened, in ali's transaction
    assert report.failures == {} and report.agents_synced == 2
    assert world.count(Customer) == 1 and world.count(Tracking) == 2
    assert [r["Notes"] for r in world.rows("ali")] == ["first call"]
    assert world.rows("ali")[0]["Customer #"] == world.rows("sara")[0]["Customer #"] != ""


def test_two_idle_workers_leave_their_heartbeat_without_waiting_on_each_other(pg_engine, caplog):
    """Each idle cycle deletes its own run and beats on the last run that is not running:
    never on the other worker's run in flight, which that worker is deleting (each then
    waited on the other: a deadlock)."""
    world = World(pg_engine)
    factory = session_factory(pg_engine)
    with transaction(factory) as s:
        done = SyncRun(started_at=utcnow(), finished_at=utcnow(), status="ok")
        first, second = SyncRun(started_at=utcnow()), SyncRun(started_at=utcnow())
        s.add_all([done, first, second])
        s.flush()
        ids = (done.id, first.id, second.id)
    both_deleted = threading.Barrier(2)
    waited: set[int] = set()

    def after_delete(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if (
            statement.lstrip().startswith("SELECT")
            and "ORDER BY sync_runs.id DESC" in statement
            and threading.get_ident() not in waited
        ):
            waited.add(threading.get_ident())
            both_deleted.wait(timeout=30)  # each worker has deleted its own run by now

    reports = [CycleReport(), CycleReport()]
    errors: list[BaseException] = []

    def idle_cycle_ends(run_id: int, report: CycleReport) -> None:
        try:
            Cycle(world.config, pg_engine, world.backend)._drop_idle_run(run_id, report)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    event.listen(pg_engine, "before_cursor_execute", after_delete)
    try:
        with caplog.at_level(logging.INFO, logger="sheetsync"):
            threads = [
                threading.Thread(target=idle_cycle_ends, args=(run_id, report))
                for run_id, report in zip(ids[1:], reports, strict=True)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
    finally:
        event.remove(pg_engine, "before_cursor_execute", after_delete)
    assert not errors, errors
    assert [r for r in caplog.records if getattr(r, "event", None) == "db_retry"] == []
    assert [r.run_id for r in reports] == [ids[0], ids[0]]
    with transaction(factory) as s:
        runs = s.scalars(select(SyncRun)).all()
    assert [r.id for r in runs] == [ids[0]] and runs[0].last_checked_at is not None


def test_an_admin_command_is_run_again_when_the_database_broke_a_deadlock(pg_engine):
    world = World(pg_engine)
    world.type_rows("ali", [{"Name": "Ahmed", "Phone": PHONES[0], "Email": "a@x.org"}])
    world.cycle()
    world.type_rows("sara", [{"Name": "Ahmed", "Phone": PHONES[0], "Email": "b@x.org"}])
    world.cycle()
    with world.session() as s:
        conflict = s.scalars(select(Conflict).where(Conflict.kind == "shared_field")).one()
    with _audit_inserts_deadlocked(pg_engine) as broken:
        commands.resolve_conflict(
            world.config, pg_engine, f"C{conflict.id}", Decision("accept", text="accept")
        )
    assert broken
    with world.session() as s:
        assert s.scalars(select(Customer.email)).one() == "b@x.org"
        assert s.get(Conflict, conflict.id).status == "resolved"  # type: ignore[union-attr]


def test_a_sheet_the_database_keeps_rolling_back_fails_alone(pg_engine):
    world = World(pg_engine)
    world.type_rows("ali", [{"Name": "Ahmed", "Phone": PHONES[0]}])
    world.type_rows("sara", [{"Name": "Mona", "Phone": PHONES[1]}])
    # ali's sheet is ingested first (agents in key order): each of its attempts ends with
    # its audit events, each rolled back; sara's come after.
    with _audit_inserts_deadlocked(pg_engine, times=RETRY_ATTEMPTS) as broken:
        report = world.cycle()
    assert len(broken) == RETRY_ATTEMPTS
    assert list(report.failures) == ["ali"]
    assert "rolled this sheet's changes back 3 times" in report.failures["ali"]
    assert "agents/ali.xlsx" in report.failures["ali"]
    with world.session() as s:
        assert s.scalars(select(Customer.phone)).all() == [normalize_phone(PHONES[1])]
    again = world.cycle()  # the next cycle syncs it
    assert again.failures == {} and world.count(Customer) == 2


def test_cycles_that_overlap_in_threads_give_the_collector_back_as_it_was_after_the_last():
    """The collector's thresholds are the process's: with two cycles in threads, the first
    to end must not give back the thresholds of before while the other runs, nor the last
    to end leave the cycle's thresholds behind."""
    before = gc.get_threshold()
    first, second = fewer_collections(), fewer_collections()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold() == THRESHOLDS != before  # the second still runs
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before
