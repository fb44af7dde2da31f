"""Promise 1 under concurrent workers: one customer per phone, numbers never handed out twice."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from sync import service
from sync.cycle import Cycle
from sync.dedupe import normalize_phone
from sync.lease import PgAdvisoryLease, namespace_for
from sync.model import Customer, Tracking
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
