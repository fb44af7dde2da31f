"""Who may sync what: leases between workers, and the single-worker lock of SQLite.

Several workers on one PostgreSQL database split the agent sources between them with
**session-level advisory locks** (:class:`PgAdvisoryLease`). At the start of a cycle a
worker opens one dedicated connection and tries ``pg_try_advisory_lock(ns, key)`` on
the agent sources, least recently leased first, without waiting, until it holds its fair
share (sources / live workers): the sources it gets are its own for the cycle; the others
are being synced by another worker right now, or are left to the next cycle. The master
workbook is one more lock with a fixed key, so one worker at a time renders it. At the
end of the cycle the connection is closed, which releases everything.

Live workers are counted from their presence locks, which a worker takes when it starts.
A worker that started before the others registered took every source; while its cycle
runs it counts again between sources (every ``recheck`` seconds) and gives the sources
it has not started on yet up, down to its new fair share (:meth:`PgAdvisoryLease.holds`).
A worker that got less than its share because another held more (``short_changed``)
tries again soon rather than an interval later, and takes them.

Why advisory locks: they belong to the database *session*. A worker that is killed
(SIGKILL, OOM, a lost machine) loses its connection and PostgreSQL releases its locks
at once; there is no lease row to expire and no clean-up to run. Nothing else is blocked
either: advisory locks do not lock rows or tables, so ``sheetsync init`` (migrations),
``sheetsync sync`` and admins' queries go on as usual.

The lock space is shared by the whole database, so the first number of the two-int form
is a namespace derived from the database and schema (:func:`namespace_for`): two
deployments in two schemas of one database never wait for each other. The second number
is a stable 32-bit hash of the agent key (CRC-32): the same in every process and Python
version. Two keys with the same hash are only ever synced by the same worker at a time,
which is safe.

If the lease connection itself breaks mid-cycle (the database restarts), its locks are
gone while the worker still works on those sources; another worker may then take one.
The database's unique constraints still keep every customer single (promise 1) and the
cycle's compare-and-set writes keep every edit; at worst a source is read twice.

SQLite has no such locks, and one machine is its scale: :class:`SqliteWorkerLock` is a
file lock next to the database file (``<db>.worker.lock``), held for the worker's life
(the operating system releases it when the process dies). A second worker refuses to
start, naming the lock file, or waits for it with ``--wait``.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import filelock
from sqlalchemy import Connection, Engine, create_engine, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

from sync.errors import SyncError
from sync.model import Agent, utcnow

MASTER_KEY = "\x00master"  # agent keys match [a-z0-9][a-z0-9_.-]*: this is none of them


def stable_key(text_key: str) -> int:
    """A signed 32-bit integer for a text, the same in every process (CRC-32)."""
    value = zlib.crc32(text_key.encode("utf-8")) & 0xFFFFFFFF
    return value - (1 << 32) if value >= (1 << 31) else value


def namespace_for(engine: Engine) -> int:
    """The advisory-lock namespace of this deployment: its database and schema."""
    with engine.connect() as conn:
        database, schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
    return stable_key(f"sheetsync:{database}:{schema}")


def presence_namespace(namespace: int) -> int:
    """The advisory-lock namespace in which a deployment's live workers say they are
    there (a shared lock each), beside ``namespace``, the one of its sources' leases."""
    return stable_key(f"presence:{namespace}")


class WorkerLockHeld(SyncError):
    """Another worker holds the SQLite deployment's worker lock."""

    exit_code = 2


RECHECK_SECONDS = 5.0
"""How often a cycle counts the live workers again between two sources."""


class AllLease:
    """The lease of a worker that is alone (SQLite, or one PostgreSQL worker by choice)."""

    short_changed: ClassVar[bool] = False

    def acquire_agents(self, keys: list[str]) -> list[str]:
        return list(keys)

    def holds(self, key: str) -> bool:
        return True

    def acquire_master(self) -> bool:
        return True

    def release(self) -> None:
        return None


class PgAdvisoryLease:
    """Per-cycle leases on agent sources and the master, as PostgreSQL advisory locks.

    Reusable across cycles: the first acquire of a cycle opens a dedicated connection
    (not from the pool, autocommit, so it never holds a transaction open), ``release``
    closes it.

    Args:
        engine: the deployment's engine (its URL is used for the lease connection).
        namespace: the first int of the two-int lock form; see :func:`namespace_for`.
        fair_share: take at most sources / live workers (a worker); False takes every
            source no worker holds (``sheetsync sync``, which is not counted as a worker).
        clock: monotonic seconds (injected in tests).
        recheck: seconds between two counts of the live workers while a cycle runs.

    Attributes:
        short_changed: the last acquire got less than this worker's fair share because
            other workers hold more than theirs (one started before the others registered
            and gives its extras up at its next count): worth trying again soon.
    """

    def __init__(
        self,
        engine: Engine,
        namespace: int,
        *,
        fair_share: bool = True,
        clock: Callable[[], float] = time.monotonic,
        recheck: float = RECHECK_SECONDS,
    ) -> None:
        self.namespace = namespace
        self.fair_share = fair_share
        self.presence_namespace = presence_namespace(namespace)
        self.sessions = sessionmaker(engine)
        self.clock = clock
        self.recheck = recheck
        self.short_changed = False
        self._engine = create_engine(engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        self._conn: Connection | None = None
        self._presence: Connection | None = None
        self._sources = 0  # how many sources the cycle shares with the other workers
        self._held: list[str] = []  # in the order the cycle takes them (by key)
        self._started: set[str] = set()
        self._counted_at = 0.0
        self._before: dict[str, dt.datetime | None] = {}  # leased_at before this cycle

    def workers(self) -> int:
        """Live workers of this deployment (this one included), from their presence locks."""
        try:
            if self._presence is None:
                self._presence = self._engine.connect()
                self._presence.execute(text("SET application_name = 'sheetsync-worker'"))
                self._presence.execute(
                    text("SELECT pg_advisory_lock_shared(:ns, 0)"),
                    {"ns": self.presence_namespace},
                )
            count = self._presence.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND database = (SELECT oid FROM pg_database"
                    "                 WHERE datname = current_database())"
                    " AND classid::bigint = :cls AND objid::bigint = 0 AND objsubid = 2"
                ),
                {"cls": self.presence_namespace & 0xFFFFFFFF},
            ).scalar_one()
        except Exception:
            if self._presence is not None:
                self._presence.invalidate()
                self._presence = None
            raise
        return max(1, int(count))

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect()
            self._conn.execute(text("SET application_name = 'sheetsync-worker'"))
        return self._conn

    def _try(self, key: str) -> bool:
        got = self._connection().execute(
            text("SELECT pg_try_advisory_lock(:ns, :key)"),
            {"ns": self.namespace, "key": stable_key(key)},
        )
        return bool(got.scalar_one())

    def _quota(self, workers: int) -> int:
        return math.ceil(self._sources / workers) if self.fair_share else self._sources

    def acquire_agents(self, keys: list[str]) -> list[str]:
        workers = self.workers()
        self._sources, self._started, self._counted_at = len(keys), set(), self.clock()
        quota = self._quota(workers)
        taken: list[str] = []
        with self.sessions() as s, s.begin():
            found = s.execute(select(Agent.key, Agent.leased_at).where(Agent.key.in_(keys)))
            last = {key: at for key, at in found}
            never = dt.datetime.min
            for key in sorted(keys, key=lambda k: (last.get(k) or never, k)):
                if len(taken) >= quota:
                    break
                if self._try(key):
                    taken.append(key)
            if taken:
                s.execute(update(Agent).where(Agent.key.in_(taken)).values(leased_at=utcnow()))
        held_elsewhere = len(keys) - len(taken)  # every key was tried when short of quota
        self.short_changed = len(taken) < quota and held_elsewhere > (workers - 1) * quota
        self._before = {key: last.get(key) for key in taken}
        self._held = sorted(taken)
        chosen = set(taken)
        return [key for key in keys if key in chosen]

    def holds(self, key: str) -> bool:
        """Whether this worker still holds ``key``; the cycle asks before it starts on it.

        Every ``recheck`` seconds the live workers are counted again: when more have
        registered since the cycle began, the sources not started yet beyond the new fair
        share are given up (unlocked, and their turn in the least-recently-leased order
        given back) for those workers to take.
        """
        if key not in self._held:
            return False
        due = self.clock() - self._counted_at >= self.recheck
        if self.fair_share and due and key not in self._started:
            self._give_up_extras()
        if key not in self._held:
            return False
        self._started.add(key)
        return True

    def _give_up_extras(self) -> None:
        self._counted_at = self.clock()
        try:
            room = max(0, self._quota(self.workers()) - len(self._started))
            waiting = [key for key in self._held if key not in self._started]
            extras = waiting[room:]
            if not extras:
                return
            conn = self._connection()
            for key in extras:
                conn.execute(
                    text("SELECT pg_advisory_unlock(:ns, :key)"),
                    {"ns": self.namespace, "key": stable_key(key)},
                )
            with self.sessions() as s, s.begin():
                for key in extras:
                    previous = self._before.get(key)
                    s.execute(update(Agent).where(Agent.key == key).values(leased_at=previous))
        except DBAPIError:
            return  # sharing is an optimisation: without the count this cycle keeps its share
        self._held = [key for key in self._held if key not in extras]

    def acquire_master(self) -> bool:
        return self._try(MASTER_KEY)

    def release(self) -> None:
        self._held, self._started = [], set()
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock_all()"))
            conn.close()  # back to the pool, holding nothing (the session itself goes on)
        except Exception:  # noqa: BLE001 - a broken session holds no locks any more
            conn.invalidate()
            conn.close()

    def dispose(self) -> None:
        self.release()
        presence, self._presence = self._presence, None
        if presence is not None:
            presence.close()
        self._engine.dispose()


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other databases and in-memory SQLite."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    file = url[len(prefix) :].split("?", 1)[0]
    return None if file in ("", ":memory:") else Path(file)


class SqliteWorkerLock:
    """The one-worker-per-SQLite-database lock: ``<db file>.worker.lock``.

    Args:
        path: the SQLite database file.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(str(path) + ".worker.lock")
        self._lock = filelock.FileLock(str(self.path))

    def acquire(self, *, wait: bool = False, should_stop: Callable[[], bool] | None = None) -> bool:
        """Take the lock.

        Args:
            wait: wait until the other worker is gone (polling, so that a signal can end
                the wait); otherwise fail at once.
            should_stop: while waiting, give up when this returns True.

        Returns:
            True when taken; False when ``should_stop`` ended the wait.

        Raises:
            WorkerLockHeld: another worker holds it and ``wait`` is False.
        """
        while True:
            try:
                self._lock.acquire(timeout=0 if not wait else 0.5)
                return True
            except filelock.Timeout:
                if not wait:
                    raise WorkerLockHeld(
                        "another sheetsync worker is running on this SQLite database "
                        f"(it holds the lock file {self.path})",
                        hint="SQLite takes one worker; stop the other one, pass --wait to "
                        "wait for it, or use PostgreSQL to run several",
                    ) from None
            if should_stop is not None and should_stop():
                return False
            time.sleep(0)  # let signal handlers run between polls

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()
