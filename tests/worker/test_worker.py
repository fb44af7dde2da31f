"""The scheduled worker (``sheetsync run``): real worker processes, leases, signals, backoff.

The process tests start ``python -m sync ... run`` as ops would, on .xlsx workbooks, and
read the worker's JSON log lines as evidence: every cycle logs which agent sources it
leased and read, and when it held its leases. The PostgreSQL ones are skipped (with the
reason) when SHEETSYNC_TEST_PG_URL is not set, and fail under CI=true.

Edits are made the way a spreadsheet program would make them: under the lock sheetsync's
own writes take, and saved by an atomic rename, so that a worker never reads half a file.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import filelock
import openpyxl
import pytest
from sqlalchemy import Engine, func, select, text

from sync import model, service
from sync.backends.memory import MemoryBackend
from sync.backends.xlsx import XlsxBackend
from sync.cells import CellWrite, SourceSnapshot, WriteResult, cell_text
from sync.config import Config, load_config
from sync.cycle import Cycle
from sync.db import make_engine, session_factory
from sync.health import health
from sync.lease import (
    AllLease,
    PgAdvisoryLease,
    SqliteWorkerLock,
    WorkerLockHeld,
    namespace_for,
    stable_key,
)
from sync.logs import JsonFormatter, safe_error
from sync.model import Agent, Conflict, Customer, SyncRun, Tracking
from sync.schema import upgrade_schema
from sync.worker import (
    REBALANCE_WAIT,
    SOURCE_FAILING,
    CycleOutcome,
    Worker,
    WorkerOptions,
    backoff_cycles,
    next_start,
    parse_duration,
)
from tests.conftest import EngineFactory, pg_schema_url
from tests.world import MemoryHarness, World

ROOT = Path(__file__).resolve().parents[2]
AGENTS = 12


# -- a deployment on disk ---------------------------------------------------------------------


def own_phone(agent: int, n: int) -> str:
    return f"0100{agent:03d}{n:04d}"


def shared_phone(n: int) -> str:
    return f"0111000{n:04d}"


def e164(phone: str) -> str:
    return "+20" + phone[1:]


class Deployment:
    """A config, workbooks and a database, and what every agent typed (the model)."""

    def __init__(self, root: Path, db_url: str, agents: int = AGENTS) -> None:
        self.root = root
        self.keys = [f"a{i:02d}" for i in range(agents)]
        lines = [
            "[database]",
            f'url = "{db_url}"',
            "[sync]",
            "flag_after_failures = 3",
            "[master]",
            'workbook = "master.xlsx"',
        ]
        for key in self.keys:
            lines += [
                "[[agents]]",
                f'key = "{key}"',
                f'name = "Agent {key.upper()}"',
                f'workbook = "agents/{key}.xlsx"',
            ]
        root.mkdir(parents=True, exist_ok=True)
        self.config_path = root / "sheetsync.toml"
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.config: Config = load_config(self.config_path)
        self.engine = make_engine(self.config.database_url())
        service.init(self.config, self.engine, XlsxBackend())
        # agent -> E.164 phone -> header -> typed value
        self.model: dict[str, dict[str, dict[str, str]]] = {key: {} for key in self.keys}

    def book(self, key: str) -> Path:
        return self.root / "agents" / f"{key}.xlsx"

    def edit(
        self,
        key: str,
        add: list[dict[str, str]] = (),  # type: ignore[assignment]
        change: dict[str, dict[str, str]] | None = None,
    ) -> None:
        """Append rows and change cells of rows found by phone, as a spreadsheet app would."""
        path = self.book(key)
        with filelock.FileLock(str(path) + ".sheetsync.lock", timeout=30):
            wb = openpyxl.load_workbook(path)
            ws = wb["Customers"]
            header = [cell_text(c.value) for c in ws[1]]
            phone_col = header.index("Phone")
            for phone, values in (change or {}).items():
                hits = [
                    row
                    for row in ws.iter_rows(min_row=2)
                    if _digits(row[phone_col].value)[-9:] == _digits(phone)[-9:]
                ]
                assert len(hits) == 1, (key, phone, len(hits))
                for title, value in values.items():
                    hits[0][header.index(title)].value = value
                self.model[key][e164(phone)].update(values)
            for row in add:
                ws.append([row.get(h) for h in header])
                self.model[key][e164(row["Phone"])] = {k: v for k, v in row.items() if k != "Phone"}
            tmp = path.with_name(f".{path.name}.edit")
            wb.save(tmp)
            os.replace(tmp, path)

    def expected(self) -> dict[str, Any]:
        customers = {
            phone: values["Name"] for rows in self.model.values() for phone, values in rows.items()
        }
        trackings = {
            (key, phone): (values.get("Notes"), values.get("Status"), True)
            for key, rows in self.model.items()
            for phone, values in rows.items()
        }
        return {"customers": customers, "trackings": trackings}

    def copy_books_to(self, other: Deployment) -> None:
        for key in self.keys:
            shutil.copyfile(self.book(key), other.book(key))


def _digits(value: object) -> str:
    return "".join(ch for ch in cell_text(value) if ch.isdigit())  # type: ignore[arg-type]


def signature(engine: Engine) -> dict[str, Any]:
    """The database as the promises see it: customers by phone, trackings by agent and phone."""
    with session_factory(engine)() as s:
        customers = {c.phone: c.name for c in s.execute(select(Customer)).scalars()}
        trackings = {
            (a.key, c.phone): (t.notes, t.status, t.active)
            for t, c, a in s.execute(
                select(Tracking, Customer, Agent)
                .join(Customer, Customer.id == Tracking.customer_id)
                .join(Agent, Agent.id == Tracking.agent_id)
            ).all()
        }
    return {"customers": customers, "trackings": trackings}


def initial_rows(dep: Deployment) -> None:
    """Three own customers per agent, and two of five customers every agent shares."""
    for i, key in enumerate(dep.keys):
        rows = [
            {"Name": f"Own {i}-{n}", "Phone": own_phone(i, n), "Notes": f"{key} own {n}"}
            for n in range(3)
        ]
        rows += [
            {
                "Name": f"Shared {k}",
                "Phone": shared_phone(k),
                "Notes": f"{key} shared {k}",
                "Status": "Contacted",
            }
            for k in (i % 5, (i + 1) % 5)
        ]
        dep.edit(key, add=rows)


def sheet_problems(dep: Deployment) -> list[str]:
    """Rows of agent sheets without a Customer #, or one Customer # on two rows."""
    problems = []
    for key in dep.keys:
        ws = openpyxl.load_workbook(dep.book(key), read_only=True)["Customers"]
        rows = list(ws.iter_rows(values_only=True))
        header = [cell_text(v) for v in rows[0]]
        numbers = [cell_text(r[header.index("Customer #")]) for r in rows[1:] if any(r)]
        if "" in numbers:
            problems.append(f"{key}: a row has no Customer #")
        if len(set(numbers)) != len(numbers):
            problems.append(f"{key}: a Customer # is on two rows")
        if len(numbers) != len(dep.model[key]):
            problems.append(f"{key}: {len(numbers)} rows, typed {len(dep.model[key])}")
    return problems


# -- worker processes ---------------------------------------------------------------------------


class WorkerProcess:
    """``python -m sync run`` with JSON logs in a file."""

    def __init__(self, dep: Deployment, name: str, *args: str, delay: float = 0.0) -> None:
        self.name = name
        self.log_path = dep.root / f"worker-{name}-{time.monotonic_ns()}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("SHEETSYNC_LOG_FORMAT", None)
        if delay:
            env["SHEETSYNC_TEST_SOURCE_DELAY"] = str(delay)
        self._log = self.log_path.open("w")
        cmd = [sys.executable, "-m", "sync", "--config", str(dep.config_path)]
        cmd += ["--log-format", "json", "-v", "run", "--worker-id", name, *args]
        self.proc = subprocess.Popen(
            cmd, cwd=dep.root, stdout=subprocess.DEVNULL, stderr=self._log, env=env
        )

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in self.log_path.read_text(encoding="utf-8").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written, or a traceback of a crash (shown on failure)
            if kind is None or event.get("event") == kind:
                found.append(event)
        return found

    def cycles(self) -> list[dict[str, Any]]:
        return self.events("cycle")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(30)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8")[-4000:]


def wait_for(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    workers: list[WorkerProcess] = (),  # type: ignore[assignment]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        for w in workers:
            assert w.proc.poll() is None, f"worker {w.name} exited early:\n{w.log_text()}"
        time.sleep(0.1)
    logs = "\n".join(f"--- {w.name}\n{w.log_text()}" for w in workers)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from pg_schema_url()


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for w in started:
        if w.proc.poll() is None:
            w.kill()


# -- PostgreSQL: several workers -------------------------------------------------------------


@pytest.mark.slow
def test_two_workers_split_the_sources_and_make_what_one_worker_makes(
    tmp_path: Path, pg_url: str, workers: list[WorkerProcess]
):
    dep = Deployment(tmp_path / "pg", pg_url)
    ref = Deployment(tmp_path / "ref", f"sqlite:///{tmp_path / 'ref.db'}")
    initial_rows(dep)
    dep.copy_books_to(ref)
    ref.model = json.loads(json.dumps(dep.model))

    def reference_cycles() -> threading.Thread:
        def run() -> None:
            for _ in range(2):
                Cycle(ref.config, ref.engine, XlsxBackend()).run()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def converged() -> bool:
        return signature(dep.engine) == dep.expected()

    a = WorkerProcess(dep, "A", "--every", "1s")
    b = WorkerProcess(dep, "B", "--every", "1s")
    workers += [a, b]
    reference = reference_cycles()
    wait_for("the first round to be synced", converged, 90, workers)
    reference.join()

    # Round 2: every agent edits a note and a shared customer's status, and types two new
    # customers; each new customer is also typed by the next agent in the same round
    # (created once, whichever worker gets there first).
    for d in (dep, ref):
        for i, key in enumerate(d.keys):
            d.edit(
                key,
                add=[
                    {"Name": f"New {i}", "Phone": f"0120{i:03d}0000", "Notes": f"{key} new"},
                    {
                        "Name": f"New {(i + 1) % AGENTS}",
                        "Phone": f"0120{(i + 1) % AGENTS:03d}0000",
                        "Notes": f"{key} new too",
                    },
                ],
                change={
                    own_phone(i, 0): {"Notes": f"{key} round 2"},
                    shared_phone(i % 5): {"Status": "In progress", "Notes": f"{key} r2"},
                },
            )
    reference = reference_cycles()
    # `sheetsync init` while the workers run: schema check and workbook layout, no harm.
    init = subprocess.Popen(
        [sys.executable, "-m", "sync", "--config", str(dep.config_path), "init"],
        cwd=dep.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    wait_for("round 2 to be synced", converged, 90, workers)
    _, init_errors = init.communicate(timeout=60)
    assert init.returncode == 0, init_errors
    reference.join()
    done = {w.name: len(w.cycles()) for w in workers}
    wait_for(
        "one more cycle of each worker",
        lambda: all(len(w.cycles()) > done[w.name] for w in workers),
        20,
        workers,
    )
    assert a.stop() == 0, a.log_text()
    assert b.stop() == 0, b.log_text()

    # Exactly what one worker makes, and what the agents typed; no customer twice.
    assert signature(dep.engine) == signature(ref.engine) == dep.expected()
    with session_factory(dep.engine)() as s:
        phones = s.scalars(select(Customer.phone)).all()
        assert len(phones) == len(set(phones)) == len(dep.expected()["customers"])
    assert sheet_problems(dep) == []

    # No source synced by two workers at once, none twice in one cycle.
    cycles = [(w.name, c) for w in workers for c in w.cycles() if c["held_from"]]
    bad = [
        (name, c["cycle"], c["status"], c["error"], c["failed"])
        for name, c in cycles
        if c["status"] not in ("ok", "partial")
    ]
    traces = [e["traceback"] for w in workers for e in w.events("traceback")]
    assert not bad, (bad, traces)
    for _, c in cycles:
        agents_read = [k for k in c["read"] if k != "master"]
        assert len(agents_read) == len(set(agents_read)), c
        assert set(agents_read) <= set(c["leased"]), c
    overlapping = 0
    for i, (name1, c1) in enumerate(cycles):
        for name2, c2 in cycles[i + 1 :]:
            if name1 == name2:
                continue
            if c1["held_from"] < c2["held_until"] and c2["held_from"] < c1["held_until"]:
                overlapping += 1
                assert not set(c1["leased"]) & set(c2["leased"]), (c1, c2)
                assert not (c1["master"] and c2["master"]), (c1, c2)
    assert overlapping  # the workers did run at the same time
    # Both workers did part of the work.
    for w in workers:
        assert any(k != "master" for c in w.cycles() for k in c["read"]), w.name


def _start_cycle_then(
    dep: Deployment,
    workers: list[WorkerProcess],
    name: str,
    event: str,
    count: int,
    *args: str,
    delay: float = 0.2,
) -> WorkerProcess:
    w = WorkerProcess(dep, name, *args, delay=delay)
    workers.append(w)
    wait_for(
        f"{count} {event} events",
        lambda: len([e for e in w.events(event) if e.get("agent") != "master"]) >= count,
        40,
        [w],
    )
    return w


@pytest.mark.slow
def test_a_stopping_worker_drops_a_source_still_in_flight_soon_after_the_grace_period(
    tmp_path: Path, pg_url: str, workers: list[WorkerProcess]
):
    """One source that takes long (here every read and write takes 30 s) does not hold a
    stopping worker past the grace period plus HARD_STOP_AFTER; the next worker redoes it."""
    dep = Deployment(tmp_path / "pg", pg_url)
    initial_rows(dep)
    w = _start_cycle_then(
        dep, workers, "h1", "source_read", 1, "--every", "1s", "--grace", "1s", delay=30
    )
    w.signal(signal.SIGTERM)
    # Before: the worker finished the source in flight (30 s), then stopped.
    assert w.wait(15) == 0, w.log_text()
    assert w.events("exit_now")

    again = WorkerProcess(dep, "h2", "--once")
    workers.append(again)
    assert again.wait(60) == 0, again.log_text()
    assert signature(dep.engine) == dep.expected()
    assert sheet_problems(dep) == []


@pytest.mark.slow
def test_a_worker_killed_mid_cycle_loses_no_edit_and_creates_no_duplicate(
    tmp_path: Path, pg_url: str, workers: list[WorkerProcess]
):
    dep = Deployment(tmp_path / "pg", pg_url)
    initial_rows(dep)

    # Killed while reading (phase 1): some sources ingested, the rest not yet.
    # (each source's read and write takes 0.05 s more: the kill lands mid-phase)
    w1 = _start_cycle_then(dep, workers, "k1", "source_read", 6, "--every", "1s", delay=0.05)
    w1.kill()
    assert not w1.cycles()  # it never finished a cycle

    # Agents keep typing while no worker runs.
    for i, key in enumerate(dep.keys):
        dep.edit(
            key,
            add=[{"Name": f"Late {i}", "Phone": f"0150{i:03d}0000", "Notes": f"{key} late"}],
            change={own_phone(i, 1): {"Notes": f"{key} edited while down"}},
        )

    # Killed while writing back (phase 2).
    w2 = _start_cycle_then(dep, workers, "k2", "source_written", 3, "--every", "1s", delay=0.05)
    w2.kill()

    # A restarted worker finishes the job.
    w3 = WorkerProcess(dep, "k3", "--once")
    workers.append(w3)
    assert w3.wait(60) in (0, 1), w3.log_text()
    w4 = WorkerProcess(dep, "k4", "--once")
    workers.append(w4)
    assert w4.wait(60) == 0, w4.log_text()

    assert signature(dep.engine) == dep.expected()
    with session_factory(dep.engine)() as s:
        phones = s.scalars(select(Customer.phone)).all()
        numbers = s.scalars(select(Customer.number)).all()
    assert len(phones) == len(set(phones)) == len(dep.expected()["customers"])
    assert len(numbers) == len(set(numbers))
    assert sheet_problems(dep) == []


@pytest.mark.slow
def test_sigterm_ends_a_worker_within_the_grace_period_and_a_second_signal_at_once(
    tmp_path: Path, pg_url: str, workers: list[WorkerProcess]
):
    dep = Deployment(tmp_path / "pg", pg_url)
    initial_rows(dep)
    grace = 1.0

    # First signal mid-cycle: the cycle is abandoned at an agent boundary after the grace.
    w = _start_cycle_then(
        dep, workers, "t1", "source_read", 2, "--every", "1s", "--grace", f"{grace}s", delay=0.3
    )
    sent, sent_at = time.monotonic(), time.time()
    w.signal(signal.SIGTERM)
    assert w.wait(30) == 0, w.log_text()
    elapsed = time.monotonic() - sent
    # grace + the agent in flight + writing back what was ingested (0.3 s per source here)
    assert elapsed < grace + 15, elapsed
    (last,) = w.cycles()
    assert last["status"] == "stopped"
    assert 2 <= len([k for k in last["read"] if k != "master"]) < AGENTS
    assert w.events("stopping")
    # After the grace period at most the agent in flight was read; nothing was started.
    late = [
        e
        for e in w.events("source_read")
        if dt.datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).timestamp()
        > sent_at + grace + 0.05
    ]
    assert len(late) <= 1, late

    # Second signal: out at once (128 + SIGTERM), nothing half-written.
    w2 = _start_cycle_then(
        dep, workers, "t2", "source_read", 2, "--every", "1s", "--grace", "60s", delay=0.3
    )
    w2.signal(signal.SIGTERM)
    wait_for("the stop notice", lambda: bool(w2.events("stopping")), 10, [w2])
    sent = time.monotonic()
    w2.signal(signal.SIGTERM)
    assert w2.wait(10) == 128 + signal.SIGTERM
    assert time.monotonic() - sent < 5  # at once: not after the 60 s grace

    # Idle worker: a signal between cycles ends it at once.
    w3 = WorkerProcess(dep, "t3", "--every", "1h")
    workers.append(w3)
    wait_for("the first cycle", lambda: bool(w3.cycles()), 60, [w3])
    sent = time.monotonic()
    w3.signal(signal.SIGINT)
    assert w3.wait(10) == 0
    assert time.monotonic() - sent < 5  # not after the 1 h interval
    assert signature(dep.engine) == dep.expected()
    assert sheet_problems(dep) == []


def test_advisory_leases_are_exclusive_fair_and_die_with_the_session(pg_url: str):
    engine = make_engine(pg_url)
    upgrade_schema(engine)
    keys = [f"k{i}" for i in range(6)]
    with session_factory(engine)() as s, s.begin():
        s.add_all(Agent(key=k, name=k) for k in keys)
    one, two = PgAdvisoryLease(engine, 7), PgAdvisoryLease(engine, 7)
    try:
        assert one.workers() == 1
        assert two.workers() == 2
        first = one.acquire_agents(keys)
        assert len(first) == 3  # a fair share of two workers
        assert one.acquire_master() is True
        second = two.acquire_agents(keys)
        assert not set(first) & set(second) and len(second) == 3
        assert two.acquire_master() is False
        one.release()  # also what a dead worker's closed session does
        two.release()
        # least recently leased first: turns
        assert set(one.acquire_agents(keys)) == set(first)
        one.release()
        assert set(one.acquire_agents(keys)) == set(second)
        one.release()
    finally:
        one.dispose()
        two.dispose()
    assert stable_key("ali") == stable_key("ali") and -(2**31) <= stable_key("ali") < 2**31
    engine.dispose()


# -- a stop wherever it lands (SQLite and PostgreSQL) ---------------------------------------------


class Interruptible(MemoryBackend):
    """Sheets in memory that log each read and write as it begins, and call ``on_io`` then:
    the moment a signal can land in."""

    def __init__(self) -> None:
        super().__init__()
        self.io: list[tuple[str, str]] = []
        self.on_io: Callable[[], None] = lambda: None

    def read(self, source: str) -> SourceSnapshot:
        self.io.append(("read", source))
        self.on_io()
        return super().read(source)

    def write(
        self, source: str, writes: Sequence[CellWrite], *, read_version: str | None = None
    ) -> WriteResult:
        self.io.append(("write", source))
        self.on_io()
        return super().write(source, writes, read_version=read_version)


class InterruptibleHarness(MemoryHarness):
    def backend(self, config: Config) -> Interruptible:
        return Interruptible()


def team_typed(engine: Engine) -> World:
    """Ali and Sara type the same customer, Nour completes her own: every view depends on
    more than its own sheet, and the master on all of them."""
    world = World(engine, agents=("ali", "nour", "sara"), harness=InterruptibleHarness())
    world.type_rows(
        "ali",
        [
            {"Name": "Ahmed Mohamed", "Phone": "01001234567", "Status": "Contacted"},
            {"Name": "Omar Hassan", "Phone": "01001234568", "Notes": "ali's note"},
        ],
    )
    world.type_rows(
        "sara", [{"Name": "Ahmed Mohamed", "Phone": "+20 100 123 4567", "Email": "a@x.com"}]
    )
    world.type_rows("nour", [{"Name": "Mona Adel", "Phone": "01001234569", "Status": "Completed"}])
    return world


MASTER_COMPARED = ("Customers", "Tracking", "Follow-ups", "Commission")
WHEN_COLUMNS = {"Created", "Tracked since", "Last update"}  # the clock's, not the data's
# (named with the zone the master shows times in: "Created (Africa/Cairo)")


def what_the_team_sees(world: World) -> dict[str, Any]:
    """Every agent's sheet, the master's data tabs (without timestamps), the database."""
    sheets: dict[str, Any] = {key: world.rows(key) for key in ("ali", "nour", "sara")}
    for tab in MASTER_COMPARED:
        grid = world.backend.get_tab(world.master, tab)
        header = [cell_text(h) for h in grid[0]]
        sheets[f"master {tab}"] = [
            {
                h: cell_text(v)
                for h, v in zip(header, row, strict=False)
                if h.split(" (")[0] not in WHEN_COLUMNS
            }
            for row in grid[1:]
        ]
    return {"sheets": sheets, "database": signature(world.engine)}


def test_a_stop_anywhere_in_a_cycle_starts_no_more_io_and_the_next_cycle_finishes_it(
    engine_factory: EngineFactory,
):
    reference = team_typed(engine_factory())
    Worker(reference.config, reference.engine, reference.backend, lease=AllLease()).run_cycle()
    expected = what_the_team_sees(reference)
    ios = len(reference.backend.io)  # reads and writes of a whole cycle
    assert ios >= 6  # three agents read and written back, and the master

    for landing in range(1, ios + 1):
        world = team_typed(engine_factory())
        # grace 0: the stop is due at the next check after the signal (a grace that ran out);
        # one worker at a time (the stopped one is gone when the next starts): no leases
        options = WorkerOptions(grace=0)
        worker = Worker(world.config, world.engine, world.backend, options, lease=AllLease())

        def signal_lands(at: int = landing, worker: Worker = worker, world: World = world) -> None:
            if len(world.backend.io) == at:
                worker.request_stop("SIGTERM received")

        world.backend.on_io = signal_lands
        stopped = worker.run_cycle()
        # The read or write in flight finishes; nothing else is read or written.
        assert len(world.backend.io) == landing, (landing, world.backend.io)
        assert stopped.status in ("stopped", "ok"), (landing, stopped.error)

        world.backend.on_io = lambda: None
        restarted = Worker(world.config, world.engine, world.backend, lease=AllLease())
        assert restarted.run_cycle().status == "ok"
        assert what_the_team_sees(world) == expected, landing
        idle = restarted.run_cycle().report  # and nothing was left half done
        assert idle is not None and (idle.sources_read, idle.cells_written) == (0, 0), landing


# -- fair leases: a worker that started alone shares with workers that register (PostgreSQL) -----


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_worker_that_started_alone_gives_unstarted_sources_up_to_workers_that_register(
    pg_url: str,
):
    engine = make_engine(pg_url)
    upgrade_schema(engine)
    keys = ("a0", "a1", "a2", "a3", "a4", "a5")
    world = World(engine, agents=keys, harness=InterruptibleHarness())
    for i, key in enumerate(keys):
        world.type_rows(key, [{"Name": f"Customer {i}", "Phone": f"0100123456{i}"}])
    namespace = namespace_for(engine)
    clock = FakeClock()
    first = PgAdvisoryLease(engine, namespace, clock=clock, recheck=5)
    late = PgAdvisoryLease(engine, namespace)
    alone = Worker(world.config, engine, world.backend, lease=first)
    joins = Worker(world.config, engine, world.backend, lease=late)
    joined: list[CycleOutcome] = []  # the second worker's cycles
    first_reads = 0
    inside_second = False

    def meanwhile() -> None:
        nonlocal first_reads, inside_second
        if inside_second or world.backend.io[-1][0] != "read":
            return
        first_reads += 1
        if first_reads > 2:
            return
        # 1: the second worker starts while the first reads a0; it registers and finds every
        # source taken. 2: at a1 the first has counted two workers (its count was due): its
        # share is 3, a1 its second, and its last three are the second worker's next try.
        inside_second = True
        joined.append(joins.run_cycle())
        inside_second = False
        clock.now += 5

    world.backend.on_io = meanwhile
    try:
        outcome = alone.run_cycle()
    finally:
        first.dispose()
        late.dispose()
    assert joined[0].leased == [] and joined[0].short_changed is True
    assert outcome.leased == ["a0", "a1", "a2"] and outcome.given_up == ["a3", "a4", "a5"]
    assert [k for k in outcome.read if k != "master"] == ["a0", "a1", "a2"]
    assert joined[1].leased == ["a3", "a4", "a5"] and joined[1].short_changed is False
    assert [k for k in joined[1].read if k != "master"] == ["a3", "a4", "a5"]
    assert outcome.status == joined[1].status == "ok"
    # Nothing lost, nothing twice: every customer once, every row numbered.
    assert sorted(signature(engine)["customers"].values()) == [f"Customer {i}" for i in range(6)]
    for key in keys:
        (row,) = world.rows(key)
        assert row["Customer #"].startswith("CUS-")
    engine.dispose()


def test_a_short_changed_worker_comes_back_soon_and_otherwise_on_its_interval():
    ran = CycleOutcome(1, "ok", started=1000.0, duration=2.0)
    assert next_start(ran, 300, now=1002.0) == 1300.0
    ran.short_changed = True
    assert next_start(ran, 300, now=1002.0) == 1002.0 + REBALANCE_WAIT < 1300.0
    assert next_start(ran, 5, now=1002.0) == 1005.0  # never later than the interval


# -- SQLite: one worker --------------------------------------------------------------------------


@pytest.mark.slow
def test_a_second_sqlite_worker_refuses_to_start_or_waits(
    tmp_path: Path, workers: list[WorkerProcess]
):
    dep = Deployment(tmp_path, f"sqlite:///{tmp_path / 'sheetsync.db'}", agents=2)
    dep.edit("a00", add=[{"Name": "Solo", "Phone": own_phone(0, 0), "Notes": "x"}])
    first = WorkerProcess(dep, "first", "--every", "1s")
    workers.append(first)
    wait_for("the first cycle", lambda: bool(first.cycles()), 60, [first])

    # Another `run --once` (cron overlapping the worker) and a `sync` by hand both refuse
    # (started together: each is a process of its own).
    refusing = {
        args: subprocess.Popen(
            [sys.executable, "-m", "sync", "--config", str(dep.config_path), *args],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for args in (("run", "--once"), ("sync",))
    }
    for args, refused in refusing.items():
        _, stderr = refused.communicate(timeout=60)
        assert refused.returncode == 2, args
        assert "sheetsync.db.worker.lock" in stderr.replace("\n", ""), args

    waiting = WorkerProcess(dep, "waiting", "--once", "--wait")
    workers.append(waiting)
    wait_for("the waiting notice", lambda: bool(waiting.events("waiting")), 30, [waiting])
    assert waiting.proc.poll() is None
    assert first.stop() == 0
    assert waiting.wait(60) == 0, waiting.log_text()
    assert [c["status"] for c in waiting.cycles()] == ["ok"]

    report = subprocess.run(
        [sys.executable, "-m", "sync", "--config", str(dep.config_path), "health", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["ok"] is True and data["failing_sources"] == []
    assert data["lag_seconds"] is not None and data["lag_seconds"] < 60


def test_sqlite_worker_lock_in_process(tmp_path: Path):
    db = tmp_path / "x.db"
    one, two = SqliteWorkerLock(db), SqliteWorkerLock(db)
    assert one.acquire()
    with pytest.raises(WorkerLockHeld) as err:
        two.acquire()
    assert err.value.exit_code == 2 and "x.db.worker.lock" in str(err.value)
    assert two.acquire(wait=True, should_stop=lambda: True) is False
    one.release()
    assert two.acquire()
    two.release()


def test_init_beside_a_worker_writing_the_master_sets_up_the_rest_and_skips_the_master(
    tmp_path: Path,
):
    dep = Deployment(tmp_path, f"sqlite:///{tmp_path / 'sheetsync.db'}", agents=3)
    dep.book("a00").write_bytes(b"not a workbook")  # damaged: said, and the others go on
    dep.book("a01").unlink()
    master = dep.root / "master.xlsx"
    before = master.read_bytes()
    # What a worker holds while it writes the master (XlsxBackend's own lock).
    with filelock.FileLock(str(master) + ".sheetsync.lock", timeout=0):
        done = service.init(dep.config, dep.engine, XlsxBackend(lock_timeout=0.05))
    (failed,) = done.failed
    assert str(dep.book("a00")) in failed and "not a readable .xlsx workbook" in failed
    assert f"created {dep.book('a01')}" in done.changes
    (skipped,) = done.skipped
    assert str(master) in skipped and "being written by another sheetsync process" in skipped
    assert "run `sheetsync init` again" in skipped
    assert master.read_bytes() == before


# -- failing sources: backoff, flags, the others go on (SQLite and PostgreSQL) -------------------


def test_a_failing_source_backs_off_is_flagged_and_never_stops_the_others(
    engine, request: pytest.FixtureRequest
):
    world = World(engine, agents=("ali", "sara", "nour"), flag_after_failures=3)
    worker = Worker(world.config, engine, world.backend, WorkerOptions(max_backoff=4))
    request.addfinalizer(worker.close)
    sara = world.source("sara")
    world.backend.locked.add(sara)
    attempted = []
    for n in range(10):
        world.type_rows("ali", [{"Name": f"C {n}", "Phone": f"0100123{n:04d}", "Notes": "x"}])
        outcome = worker.run_cycle()
        assert outcome.status in ("ok", "partial")
        attempted.append("sara" not in outcome.backed_off)
        assert outcome.report is not None and outcome.report.agents_synced >= 1  # ali goes on
        if n == 5:
            assert outcome.flagged == ["sara"]
    # tried, 1 skipped, tried, 2 skipped, tried (3rd failure: flagged), 4 skipped
    assert attempted == [True, False, True, False, False, True, False, False, False, False]
    assert world.count(Customer) == 10
    with world.session() as s:
        agent = s.execute(select(Agent).where(Agent.key == "sara")).scalar_one()
        assert agent.failures_in_a_row == 3 and agent.failing_since is not None
        flags = s.execute(select(Conflict).where(Conflict.kind == SOURCE_FAILING)).scalars().all()
        assert [(c.status, c.agent_id) for c in flags] == [("open", agent.id)]
        failed_runs = [
            r for r in s.execute(select(SyncRun)).scalars() if "sara" in (r.errors or {})
        ]
        assert len(failed_runs) == 3  # in the Sync log tab, one row per failed attempt
    data = health(engine, max_lag=3600, max_backoff=4).as_dict()
    (failing,) = data["failing_sources"]
    assert failing["agent"] == "sara" and failing["flagged"] is True
    assert "locked" in failing["last_error"]

    world.backend.locked.discard(sara)
    outcome = worker.run_cycle()  # its backoff is over: tried again, and it works
    assert "sara" in outcome.read and outcome.unflagged == ["sara"] and outcome.status == "ok"
    with world.session() as s:
        agent = s.execute(select(Agent).where(Agent.key == "sara")).scalar_one()
        assert (agent.failures_in_a_row, agent.failing_since, agent.backoff_skipped) == (
            0,
            None,
            0,
        )
        (flag,) = s.execute(select(Conflict).where(Conflict.kind == SOURCE_FAILING)).scalars()
        assert flag.status == "resolved"
    assert health(engine, max_lag=3600).as_dict()["failing_sources"] == []


# -- health on the database's clock (SQLite and PostgreSQL) ------------------------------------


def clock_off_by(monkeypatch: pytest.MonkeyPatch, offset: dt.timedelta) -> None:
    """This process's clock is off by ``offset``, as a worker's machine's may be; the
    database keeps its own (SQLite reads the real one, PostgreSQL the server's)."""
    real = model.utcnow
    for name, module in list(sys.modules.items()):
        if name.startswith("sync") and getattr(module, "utcnow", None) is real:
            monkeypatch.setattr(module, "utcnow", lambda: real() + offset)


@pytest.mark.parametrize(
    "offset", [dt.timedelta(days=1), dt.timedelta(hours=-2)], ids=["a-day-ahead", "2h-behind"]
)
def test_a_worker_whose_clock_is_off_neither_hides_nor_invents_a_lag(engine, monkeypatch, offset):
    world = World(engine, agents=("ali",))
    world.type_rows("ali", [{"Name": "Ahmed Mohamed", "Phone": "01001234567"}])
    with pytest.MonkeyPatch.context() as skewed:
        clock_off_by(skewed, offset)
        with Worker(world.config, engine, world.backend) as worker:
            assert worker.run_cycle().status == "ok"
    data = health(engine, max_lag=900).as_dict()
    assert data["ok"] is True, data  # a cycle ran just now, whatever that worker's clock says
    assert 0 <= data["lag_seconds"] < 60 and data["heartbeat_ahead_seconds"] is None, data

    # A worker a day ahead once kept health green for a day after the workers stopped; one
    # 2 h behind turned it red while cycles ran. A check on a machine whose clock is off
    # reads the same: the times are the database's.
    clock_off_by(monkeypatch, -offset)
    assert 0 <= health(engine, max_lag=900).as_dict()["lag_seconds"] < 60


def test_a_heartbeat_in_the_future_is_flagged_not_taken_for_a_recent_cycle(engine):
    world = World(engine, agents=("ali",))
    with Worker(world.config, engine, world.backend) as worker:
        worker.run_cycle()
    with world.session() as s, s.begin():
        # what an older sheetsync on a machine a day ahead wrote
        run = s.execute(select(SyncRun).order_by(SyncRun.id.desc())).scalars().first()
        assert run is not None
        run.last_checked_at = model.utcnow() + dt.timedelta(days=1)
    data = health(engine, max_lag=900).as_dict()
    assert data["ok"] is False
    assert 86_000 < data["heartbeat_ahead_seconds"] < 86_500, data


def test_backoff_schedule():
    assert [backoff_cycles(k, 12) for k in range(0, 7)] == [0, 1, 2, 4, 8, 12, 12]
    assert backoff_cycles(1000, 12) == 12


# -- the loop, durations, logs, migrations ---------------------------------------------------------


def test_a_cycle_longer_than_the_interval_delays_the_next_and_says_so(engine, caplog):
    """On a fake clock (no sleeps): the first cycle takes twice the interval."""
    now = [1000.0]

    def pause(seconds: float) -> None:
        now[0] += seconds

    world = World(engine, agents=("ali",))
    worker = Worker(
        world.config,
        engine,
        world.backend,
        WorkerOptions(interval=0.3),
        clock=lambda: now[0],
        pause=pause,
    )
    starts: list[float] = []
    reset = worker.backend.reset

    def cycle_starts(**kw: Any) -> None:  # the worker resets its backend as a cycle starts
        starts.append(now[0])
        reset(**kw)
        if len(starts) == 1:
            now[0] += 0.6  # the first cycle overruns the 0.3 s interval
        if len(starts) == 3:
            worker.request_stop("test")

    worker.backend.reset = cycle_starts  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="sheetsync.worker"), worker:
        worker.loop()
    assert len(starts) == 3
    overruns = [r for r in caplog.records if getattr(r, "event", None) == "overrun"]
    assert overruns and overruns[0].cycle == 1
    assert overruns[0].late_s == pytest.approx(0.3)
    assert "took 0.6s" in overruns[0].getMessage()  # the duration on the worker's clock
    assert starts[1] - starts[0] >= 0.6  # never overlapping: the next one starts late
    assert starts[2] - starts[1] >= 0.25  # then back on the interval, not sooner
    assert starts[2] - starts[1] == pytest.approx(0.3)  # ...and not later


def test_durations():
    assert parse_duration("5m") == 300
    assert parse_duration("90") == 90
    assert parse_duration("1h30m") == 5400
    assert parse_duration("500ms") == 0.5
    for bad in ("five minutes", "5x", ""):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)


def test_json_log_lines_carry_extra_fields_and_no_error_payloads():
    record = logging.makeLogRecord(
        {
            "name": "sheetsync.worker",
            "levelno": 20,
            "levelname": "INFO",
            "msg": "cycle %d ok",
            "args": (3,),
            "event": "cycle",
            "read": ["ali"],
        }
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "cycle 3 ok" and line["level"] == "info"
    assert line["event"] == "cycle" and line["read"] == ["ali"] and line["ts"].endswith("Z")

    try:
        raise KeyError("+20 100 123 4567 Ahmed Mohamed")
    except KeyError as exc:
        text_of = safe_error(exc)
    assert "Ahmed" not in text_of and "4567" not in text_of and "KeyError" in text_of


def test_cli_sets_json_logs(tmp_path: Path):
    dep = Deployment(tmp_path, f"sqlite:///{tmp_path / 'sheetsync.db'}", agents=1)
    dep.edit("a00", add=[{"Name": "Secret Name", "Phone": own_phone(0, 7), "Notes": "private"}])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sync",
            "--config",
            str(dep.config_path),
            "--log-format",
            "json",
            "-v",
            "run",
            "--once",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    (cycle,) = [e for e in lines if e.get("event") == "cycle"]
    assert cycle["customers_created"] == 1 and cycle["read"][0] == "a00"
    for secret in ("Secret", "private", own_phone(0, 7), e164(own_phone(0, 7))):
        assert secret not in result.stderr


def test_migration_0002_upgrades_a_database_with_agents(db_url: str):
    engine = make_engine(db_url)
    upgrade_schema(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO agents (key, name, email, active, created_at, failures_in_a_row)"
                " VALUES ('ali', 'Ali', '', true, :now, 2)"
            ),
            {"now": dt.datetime(2026, 1, 1)},
        )
    upgrade_schema(engine)  # what `sheetsync init` does
    with session_factory(engine)() as s:
        ali = s.execute(select(Agent)).scalar_one()
        assert (ali.failures_in_a_row, ali.backoff_skipped, ali.failing_since) == (2, 0, None)
        assert s.scalar(select(func.count()).select_from(Agent)) == 1
    engine.dispose()
