"""The scheduled worker: ``sheetsync run --every 5m`` (or ``--once``).

One process runs cycles (:class:`sync.cycle.Cycle`) on an interval, on a monotonic
clock, never two at once: cycles start every *interval* (plus an optional
random *jitter*); a cycle that takes longer than the interval delays the next one, which
then starts as soon as it ends, and the log says so.

Signals: the first SIGTERM or SIGINT lets the cycle in flight finish; after the grace
period it is abandoned at the next source boundary (before an agent's read or write-back,
or the master's write; what was left is done next time); then the worker exits 0. A
source still in flight ``HARD_STOP_AFTER`` seconds after the grace period (a long write,
an API backing off) is dropped: the worker exits 0 at once. A second signal exits at once
(code 128 + signal). Every database change is a transaction and every workbook save an
atomic rename, so exiting at once is as safe as being killed, which the tests do.

Several workers: on PostgreSQL each cycle leases agent sources and the master with
advisory locks (:mod:`sync.lease`), so no source is synced by two workers at once; the
unique constraints keep customers single. On SQLite one worker holds
``<db>.worker.lock`` for its life; a second refuses to start (exit 2) or waits
(``--wait``).

Failing sources: a source that fails (unreadable workbook, revoked access, API errors)
is recorded by the cycle (``failures_in_a_row``, ``last_error``, the run's errors in the
Sync log tab) and never stops the others. The worker then backs off: a source that failed
``k`` times in a row is skipped for ``min(2**(k-1), max_backoff)`` cycles before it is
tried again (state in the database, ``agents.backoff_skipped``, so it survives restarts
and is shared by workers). At ``sync.flag_after_failures`` failures in a row a
``source_failing`` conflict is opened for the admin (once); it is closed when the source
syncs again.

Logs: one summary line per cycle (counts and agent keys, never cell values); with
``--verbose`` also one line per source read or written. ``--log-format json`` makes them
JSON lines whose fields tests and log pipelines can read.

One module at this size because the loop and what it owns (signals, each source's backoff,
the leases, the observed backend that counts a cycle's reads and writes) share one worker's
state; ``health``, which only reads what workers record, is :mod:`sync.health`.
"""

from __future__ import annotations

import logging
import os
import random
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from sync.cells import CellWrite, SourceSnapshot, WriteResult
from sync.config import Config
from sync.counts import cells_written_text
from sync.cycle import SUMMARY_COUNTS, Cycle, CycleReport, Lease
from sync.db import check_schema, session_factory, transaction
from sync.errors import SyncError
from sync.lease import (
    RECHECK_SECONDS,
    AllLease,
    PgAdvisoryLease,
    SqliteWorkerLock,
    namespace_for,
    sqlite_path,
)
from sync.ledger import close, keep_open, open_new
from sync.logs import safe_error
from sync.model import Agent, Conflict, utcnow
from sync.sheets import Backend, CellSet, CountedCells, RowMove

HARD_STOP_AFTER = 2.0
"""Seconds after the grace period at which a stopping worker exits whatever it is doing."""

log = logging.getLogger("sheetsync.worker")
source_log = logging.getLogger("sheetsync.worker.sources")

SOURCE_FAILING = "source_failing"
MASTER_KEY = "master"
"""How the master is named among the sources a cycle read and wrote (never an agent key)."""
REBALANCE_WAIT = 2 * RECHECK_SECONDS
"""Seconds after a short-changed cycle (see :class:`sync.lease.PgAdvisoryLease`) before the
next one: time for the worker holding too much to count the workers and give some up."""
DEFAULT_MAX_BACKOFF = 12
# Test hook: seconds to sleep after each source read or write, so that a test can signal
# or kill a worker in the middle of a cycle. Not an option: nothing else should want it.
DELAY_ENV = "SHEETSYNC_TEST_SOURCE_DELAY"

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``300``, ``90s``, ``5m``, ``1h30m``, ``500ms``.

    Raises:
        ValueError: with a message that shows the accepted forms.
    """
    value = text.strip().lower()
    try:
        return float(value)
    except ValueError:
        pass
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", value)
    if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", "", value).strip():
        raise ValueError(f"'{text}' is not a duration (e.g. 30s, 5m, 1h, 1h30m, 500ms)")
    return sum(float(n) * _UNITS[unit] for n, unit in parts)


def backoff_cycles(failures_in_a_row: int, max_backoff: int = DEFAULT_MAX_BACKOFF) -> int:
    """How many cycles a source that failed this many times in a row sits out."""
    if failures_in_a_row <= 0:
        return 0
    return min(2 ** min(failures_in_a_row - 1, 30), max_backoff)


# ---------------------------------------------------------------------------------------
# What a cycle touched: a backend wrapper and a lease wrapper that record it
# ---------------------------------------------------------------------------------------


class ObservedBackend:
    """A backend that records which sources a cycle read and wrote (and logs it)."""

    def __init__(self, inner: Backend, names: dict[str, str], delay: float = 0.0) -> None:
        self.inner = inner
        self.name = inner.name
        self.cell_limit = inner.cell_limit
        self.sets_cells_atomically = inner.sets_cells_atomically
        self.names = names
        self.delay = delay
        self.read_keys: list[str] = []
        self.written_keys: list[str] = []
        self.context: dict[str, Any] = {}

    def reset(self, **context: Any) -> None:
        self.read_keys, self.written_keys, self.context = [], [], context

    def _key(self, source: str) -> str:
        return self.names.get(source, source)

    def prefetch_fingerprints(self, sources: Sequence[str]) -> None:
        self.inner.prefetch_fingerprints(sources)

    def fingerprint(self, source: str) -> str | None:
        return self.inner.fingerprint(source)

    def read(self, source: str) -> SourceSnapshot:
        snapshot = self.inner.read(source)
        key = self._key(source)
        self.read_keys.append(key)
        source_log.info(
            "read %s", key, extra={"event": "source_read", "agent": key, **self.context}
        )
        if self.delay:
            time.sleep(self.delay)
        return snapshot

    def write(
        self, source: str, writes: Sequence[CellWrite], *, read_version: str | None = None
    ) -> WriteResult:
        result = self.inner.write(source, writes, read_version=read_version)
        self._wrote(source, result.applied, len(result.skipped))
        return result

    def set_cells(
        self,
        source: str,
        cells: Iterable[CellSet],
        *,
        version: str,
        moves: Sequence[RowMove] = (),
    ) -> str | None:
        counted = CountedCells(cells)
        result = self.inner.set_cells(source, counted, version=version, moves=moves)
        if result is not None:  # None: nothing was written (the caller writes another way)
            self._wrote(source, counted.count, 0)
        return result

    def _wrote(self, source: str, cells: int, skipped: int) -> None:
        key = self._key(source)
        self.written_keys.append(key)
        source_log.info(
            "wrote %s: %d cell(s), %d skipped",
            key,
            cells,
            skipped,
            extra={
                "event": "source_written",
                "agent": key,
                "cells": cells,
                "skipped": skipped,
                **self.context,
            },
        )
        if self.delay:
            time.sleep(self.delay)

    def ensure_layout(self, source: str, tabs: Any, **kwargs: Any) -> list[str]:
        return self.inner.ensure_layout(source, tabs, **kwargs)


class WorkerLease:
    """The lease a worker hands to a cycle: locks (inner) + backoff + a record of it all.

    The inner lease is released by :meth:`finish`, after the worker's own bookkeeping on
    the sources it held, not when the cycle calls ``release``.
    """

    def __init__(self, inner: Lease, engine: Engine, max_backoff: int) -> None:
        self.inner = inner
        self.sessions = session_factory(engine)
        self.max_backoff = max_backoff
        self.reset()

    def reset(self) -> None:
        self.leased: list[str] = []
        self.attempted: list[str] = []
        self.backed_off: list[str] = []
        self.given_up: list[str] = []
        self.short_changed = False
        self.master = False
        # A span inside which every lease of this cycle was held (wall clock, for logs):
        # from when the last one was taken to just before they are given back.
        self.held_from: float | None = None
        self.held_until: float | None = None

    def acquire_agents(self, keys: list[str]) -> list[str]:
        self.leased = list(self.inner.acquire_agents(keys))
        # Only PgAdvisoryLease can be short-changed by other workers.
        self.short_changed = bool(getattr(self.inner, "short_changed", False))
        self.held_from = time.time()
        with transaction(self.sessions) as s:
            agents = {
                a.key: a
                for a in s.execute(select(Agent).where(Agent.key.in_(self.leased))).scalars()
            }
            for key in self.leased:
                agent = agents.get(key)
                wait = backoff_cycles(agent.failures_in_a_row, self.max_backoff) if agent else 0
                if agent is not None and agent.backoff_skipped < wait:
                    agent.backoff_skipped += 1
                    self.backed_off.append(key)
                    continue
                if agent is not None and agent.backoff_skipped:
                    agent.backoff_skipped = 0
                self.attempted.append(key)
        return list(self.attempted)

    def acquire_master(self) -> bool:
        self.master = self.inner.acquire_master()
        self.held_from = time.time()
        return self.master

    def holds(self, key: str) -> bool:
        """Whether the inner lease still holds ``key``; one it gave up is recorded as such."""
        if self.inner.holds(key):
            return True
        if key in self.leased:  # given up to a worker that registered since
            self.leased.remove(key)
            if key in self.attempted:
                self.attempted.remove(key)
            self.given_up.append(key)
        return False

    def release(self) -> None:
        """Called by the cycle; the locks are kept until :meth:`finish`."""

    def finish(self) -> None:
        self.held_until = time.time()
        self.inner.release()


# ---------------------------------------------------------------------------------------
# The worker
# ---------------------------------------------------------------------------------------


@dataclass
class WorkerOptions:
    """How ``sheetsync run`` behaves (its options, in seconds)."""

    interval: float = 300.0
    jitter: float = 0.0
    grace: float = 20.0
    once: bool = False
    wait: bool = False
    max_backoff: int = DEFAULT_MAX_BACKOFF
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")


@dataclass
class CycleOutcome:
    """One cycle as the worker saw it (the summary line's fields)."""

    number: int
    status: str  # ok | partial | stopped | error
    started: float
    duration: float
    report: CycleReport | None = None
    error: str | None = None
    read: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    leased: list[str] = field(default_factory=list)
    backed_off: list[str] = field(default_factory=list)
    given_up: list[str] = field(default_factory=list)
    short_changed: bool = False
    master: bool = False
    held_from: float | None = None
    held_until: float | None = None
    flagged: list[str] = field(default_factory=list)
    unflagged: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        r = self.report
        counts = {k: getattr(r, k) for k in SUMMARY_COUNTS} if r is not None else {}
        return {
            "event": "cycle",
            "cycle": self.number,
            "status": self.status,
            "run_id": r.run_id if r else None,
            "started": round(self.started, 3),
            "duration_s": round(self.duration, 3),
            **counts,
            "agents_backed_off": len(self.backed_off),
            "agents_leased_elsewhere": (
                r.agents_leased_elsewhere - len(self.backed_off) if r else None
            ),
            "failed": sorted(r.failures) if r else [],
            "read": self.read,
            "written": self.written,
            "leased": self.leased,
            "backed_off": self.backed_off,
            "given_up": self.given_up,
            "short_changed": self.short_changed,
            "master": self.master,
            "held_from": self.held_from,
            "held_until": self.held_until,
            "flagged": self.flagged,
            "unflagged": self.unflagged,
            "error": self.error,
        }

    def summary(self) -> str:
        r = self.report
        if r is None or self.error:
            return f"cycle {self.number} error after {self.duration:.2f}s: {self.error}"
        agents_read = set(self.read) - {MASTER_KEY}
        text = (
            f"cycle {self.number} {self.status} in {self.duration:.2f}s: "
            f"{_agents(len(agents_read))} read"
            f"{' (and the master)' if MASTER_KEY in self.read else ''}, "
            f"{r.agents_synced} synced, {r.agents_unchanged} unchanged, "
            f"{r.agents_failed} failed, {len(self.backed_off)} backed off, "
            f"{r.agents_leased_elsewhere - len(self.backed_off)} leased elsewhere; "
            f"{r.customers_created} customers created, "
            f"{cells_written_text(r.as_dict())} cells written, "
            f"conflicts +{r.conflicts_opened} -{r.conflicts_closed}"
        )
        if self.flagged:
            text += f"; flagged for admin: {', '.join(self.flagged)}"
        if r.failures:
            text += f"; failed: {', '.join(sorted(r.failures))}"
        return text


class Worker:
    """Runs cycles for one deployment: once, or on an interval until a signal.

    Args:
        config: the deployment.
        engine: its database.
        backend: its spreadsheet backend.
        options: interval, jitter, grace, once, wait, max_backoff, worker_id.
        lease: the lock lease to use (default: advisory locks on PostgreSQL, everything
            on SQLite, where the worker lock keeps other workers out).
        clock: the loop's clock (monotonic seconds) and ``pause``, how it waits a number
            of seconds (default: until then or a stop); a test passes a fake pair.
    """

    def __init__(
        self,
        config: Config,
        engine: Engine,
        backend: Backend,
        options: WorkerOptions | None = None,
        *,
        lease: Lease | None = None,
        clock: Callable[[], float] = time.monotonic,
        pause: Callable[[float], object] | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.options = options or WorkerOptions()
        self.sessions = session_factory(engine)
        names = {config.agent_source(a): a.key for a in config.agents}
        names[config.master_source()] = MASTER_KEY
        delay = float(os.environ.get(DELAY_ENV) or 0)
        self.backend = ObservedBackend(backend, names, delay)
        self._lock_lease = lease
        self._sqlite_lock: SqliteWorkerLock | None = None
        self.cycles = 0
        self._stop = threading.Event()
        self._stop_at: float | None = None
        self._signals = 0
        self._cycle_thread: threading.Thread | None = None
        self._clock = clock
        self._pause = pause or self._stop.wait  # woken at once by a stop

    # -- stopping ----------------------------------------------------------------------------

    def request_stop(self, reason: str = "stop requested") -> None:
        """Finish the cycle in flight (abandon it after the grace period), then stop."""
        if self._stop_at is None:
            self._stop_at = self._clock()
            busy = self._cycle_thread is not None and self._cycle_thread.is_alive()
            log.warning(
                "%s: %s; a second signal exits at once",
                reason,
                f"finishing the cycle in flight (abandoned at the next source after "
                f"{self.options.grace:g}s)"
                if busy
                else "no cycle in flight, exiting",
                extra={"event": "stopping", "reason": reason},
            )
        self._stop.set()

    def should_stop(self) -> bool:
        """The cycle's hook: True once a stop was requested and the grace period is over."""
        return self._stop_at is not None and self._clock() - self._stop_at >= self.options.grace

    def _past_hard_stop(self) -> bool:
        """Whether a cycle that was asked to stop still runs ``HARD_STOP_AFTER`` seconds
        after its grace period (one long source: a slow write, an API backing off)."""
        return (
            self._stop_at is not None
            and self._clock() - self._stop_at >= self.options.grace + HARD_STOP_AFTER
        )

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        name = signal.Signals(signum).name
        if self._signals == 1:
            self.request_stop(f"{name} received")
            return
        log.error(
            "%s received again: exiting at once (the cycle in flight is dropped; its work "
            "is redone next time)",
            name,
            extra={"event": "exit_now", "signal": name},
        )
        logging.shutdown()
        os._exit(128 + signum)

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    # -- one cycle ---------------------------------------------------------------------------

    def _inner_lease(self) -> Lease:
        if self._lock_lease is None:
            if self.engine.dialect.name == "postgresql":
                self._lock_lease = PgAdvisoryLease(self.engine, namespace_for(self.engine))
            else:
                self._lock_lease = AllLease()
        return self._lock_lease

    def run_cycle(self) -> CycleOutcome:
        """Run one cycle now, in this thread; never raises for a cycle's error."""
        self.cycles += 1
        number = self.cycles
        started, clock = time.time(), self._clock()
        self.backend.reset(cycle=number, worker=self.options.worker_id)
        report: CycleReport | None = None
        error: str | None = None
        outcome = CycleOutcome(number, "error", started, 0.0)
        lease: WorkerLease | None = None
        try:
            lease = WorkerLease(self._inner_lease(), self.engine, self.options.max_backoff)
            report = Cycle(
                self.config,
                self.engine,
                self.backend,
                lease=lease,
                should_stop=self.should_stop,
                alone=self._sqlite_lock is not None,
            ).run()
            outcome.flagged, outcome.unflagged = self._flag_failing(lease.attempted)
        except Exception as exc:  # noqa: BLE001 - a cycle's error must not end the worker
            error = safe_error(exc)
            logging.getLogger("sheetsync.trace").info(
                "cycle %d failed", number, exc_info=True, extra={"event": "traceback"}
            )
        finally:
            if lease is not None:
                try:
                    lease.finish()
                except Exception as exc:  # noqa: BLE001 - logged; the session ends anyway
                    error = error or safe_error(exc)
        outcome.report, outcome.error = report, error
        outcome.duration = self._clock() - clock
        if report is not None and error is None:
            outcome.status = "stopped" if report.stopped else "partial" if report.failures else "ok"
        outcome.read = list(self.backend.read_keys)
        outcome.written = list(self.backend.written_keys)
        if lease is not None:
            outcome.leased, outcome.backed_off = lease.leased, lease.backed_off
            outcome.given_up, outcome.short_changed = lease.given_up, lease.short_changed
            outcome.master = lease.master
            outcome.held_from, outcome.held_until = lease.held_from, lease.held_until
        if outcome.status == "ok" and outcome.backed_off:
            # A source sat this cycle out because it keeps failing: not everything synced.
            outcome.status = "partial"
        level = logging.ERROR if error is not None else logging.INFO
        log.log(
            level,
            outcome.summary(),
            extra={**outcome.fields(), "worker": self.options.worker_id},
        )
        return outcome

    def _flag_failing(self, keys: list[str]) -> tuple[list[str], list[str]]:
        """Open (once) or close the admin's source_failing conflicts of these agents."""
        threshold = self.config.sync.flag_after_failures
        flagged: list[str] = []
        unflagged: list[str] = []
        if not keys:
            return flagged, unflagged
        now = utcnow()
        with transaction(self.sessions) as s:
            agents = s.execute(select(Agent).where(Agent.key.in_(keys))).scalars().all()
            for agent in agents:
                conflict = s.execute(
                    select(Conflict).where(Conflict.key == f"{SOURCE_FAILING}:{agent.key}")
                ).scalar_one_or_none()
                if agent.failures_in_a_row > 0:
                    if agent.failing_since is None:
                        agent.failing_since = now
                    if agent.failures_in_a_row >= threshold and _open_flag(s, agent, conflict):
                        flagged.append(agent.key)
                else:
                    if agent.failing_since is not None:
                        agent.failing_since = None
                    if agent.backoff_skipped:
                        agent.backoff_skipped = 0
                    if conflict is not None and conflict.status == "open":
                        close(conflict, "the source syncs again")
                        unflagged.append(agent.key)
        for key in flagged:
            log.warning(
                "agent %s failed %d cycles in a row: flagged for the admin",
                key,
                threshold,
                extra={"event": "source_flagged", "agent": key},
            )
        return flagged, unflagged

    # -- the loop ----------------------------------------------------------------------------

    def _in_thread(self, job: Callable[[], CycleOutcome]) -> CycleOutcome:
        """Run a cycle in a thread so that the main thread keeps handling signals."""
        box: list[CycleOutcome] = []
        thread = threading.Thread(target=lambda: box.append(job()), name="sheetsync-cycle")
        self._cycle_thread = thread
        thread.start()
        while thread.is_alive():
            thread.join(0.2)
            if self._past_hard_stop():
                log.error(
                    "the grace period ran out in the middle of one source: exiting now "
                    "(what it was doing is redone next time)",
                    extra={"event": "exit_now", "reason": "grace"},
                )
                logging.shutdown()
                os._exit(0)
        self._cycle_thread = None
        if not box:
            raise SyncError("the cycle thread ended without a result")
        return box[0]

    def _acquire_sqlite_lock(self) -> bool:
        path = sqlite_path(self.config.database_url())
        if path is None:
            return True
        self._sqlite_lock = SqliteWorkerLock(path)
        if self.options.wait:
            log.info(
                "waiting for the worker lock %s",
                self._sqlite_lock.path,
                extra={"event": "waiting"},
            )
        return self._sqlite_lock.acquire(wait=self.options.wait, should_stop=self._stop.is_set)

    def run(self) -> int:
        """Run until stopped (or one cycle with ``once``); returns the exit code.

        Raises:
            WorkerLockHeld: SQLite, another worker runs, and not ``wait`` (exit code 2).
            SyncError: the database is unreachable or its schema is behind.
        """
        check_schema(self.engine, self.config.database_url())
        if not self._acquire_sqlite_lock():
            return 0
        try:
            lease = self._inner_lease()
            if isinstance(lease, PgAdvisoryLease):
                lease.workers()  # counted by the other workers from now on, before any cycle
            mode = "once" if self.options.once else f"every {self.options.interval:g}s"
            log.info(
                "worker %s started (%s, %d agent sources, %s)",
                self.options.worker_id,
                mode,
                len(self.config.agents),
                "advisory leases" if self.engine.dialect.name == "postgresql" else "sole worker",
                extra={
                    "event": "started",
                    "worker": self.options.worker_id,
                    "interval_s": self.options.interval,
                    "once": self.options.once,
                },
            )
            if self.options.once:
                outcome = self._in_thread(self.run_cycle)
                code = 0 if outcome.status in ("ok", "stopped") else 1
            else:
                self.loop()
                code = 0
            log.info(
                "worker %s stopped after %d cycle(s)",
                self.options.worker_id,
                self.cycles,
                extra={"event": "stopped", "worker": self.options.worker_id},
            )
            return code
        finally:
            self.close()

    def close(self) -> None:
        """Let go of the database sessions the worker holds (its advisory leases and
        presence, its SQLite lock): :meth:`run` does it on its way out, and a caller of
        :meth:`run_cycle` does it when done (or uses the worker in a ``with`` block)."""
        if isinstance(self._lock_lease, PgAdvisoryLease):
            self._lock_lease.dispose()
        if self._sqlite_lock is not None:
            self._sqlite_lock.release()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _jitter(self) -> float:
        return random.uniform(0, self.options.jitter) if self.options.jitter > 0 else 0.0

    def loop(self) -> None:
        """Run cycles every interval (plus jitter) until a stop is requested: one at a time,
        a cycle longer than the interval delaying the next (which then starts at once, and
        the log says so). Times come from a monotonic clock: a wall clock set back, or a
        change of daylight saving time, moves nothing."""
        interval, clock = self.options.interval, self._clock
        due = clock() + self._jitter()
        while not self._stop.is_set():
            left = due - clock()
            if left > 0:
                self._pause(left)
                continue
            began = clock()
            outcome = self._in_thread(self.run_cycle)
            now = clock()
            due = next_start(replace(outcome, started=began), interval, now)
            late = now - due
            if late > 0:
                log.warning(
                    "cycle %d took %.1fs, longer than the interval (%gs): the next cycle "
                    "starts %.1fs late",
                    outcome.number,
                    outcome.duration,
                    interval,
                    late,
                    extra={"event": "overrun", "cycle": outcome.number, "late_s": late},
                )
                due = now
            due += self._jitter()


def next_start(outcome: CycleOutcome, interval: float, now: float) -> float:
    """When the cycle after ``outcome`` is due (wall-clock seconds, before any jitter).

    An interval after the last one started; sooner after a short-changed cycle: another
    worker holds more than its share and gives it up at its next count of the workers, so
    this one comes back for it after :data:`REBALANCE_WAIT`, not an interval later.
    """
    due = outcome.started + interval
    return min(due, now + REBALANCE_WAIT) if outcome.short_changed else due


def _agents(count: int) -> str:
    return f"{count} agent{'' if count == 1 else 's'}"


def _open_flag(s: Session, agent: Agent, conflict: Conflict | None) -> bool:
    """Open the agent's source_failing conflict unless it is open; True when opened."""
    message = (
        f"{agent.name}'s workbook failed {agent.failures_in_a_row} cycles in a row "
        f"(last error: {agent.last_error or 'unknown'}); it is retried with backoff"
    )
    if conflict is None:
        return open_new(
            s,
            Conflict(
                key=f"{SOURCE_FAILING}:{agent.key}",
                kind=SOURCE_FAILING,
                agent_id=agent.id,
                field="source",
                details={"message": message, "agent": agent.key},
            ),
        )
    if conflict.status == "open":
        return False
    details = {"message": message, "agent": agent.key}
    return keep_open(conflict, opened_at=utcnow(), details=details)


# ---------------------------------------------------------------------------------------
