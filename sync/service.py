"""What the CLI commands do, as plain functions over a configuration (no printing here)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from sync.admin.delete import deleted_words
from sync.admin.identity import binding_maps, trackers_of
from sync.agent_sheet import agent_layout
from sync.backends.xlsx import XlsxBackend
from sync.cells import SourceSnapshot
from sync.checked import CheckReport, SourceCheck
from sync.config import AgentConfig, Config
from sync.cycle import Cycle, CycleReport, Progress
from sync.db import open_existing, open_for_create, session_factory, transaction
from sync.dedupe import format_phone, parse_phone
from sync.errors import ConfigError, SourceError, SourceLocked, SyncError
from sync.fields import (
    CUSTOMER_FIELDS,
    CUSTOMERS_TAB,
    FIELDS_BY_KEY,
    FOLLOW_UP_FIELDS_BY_KEY,
    Owner,
)
from sync.health import health
from sync.lazy import lazy_module
from sync.lease import PgAdvisoryLease, SqliteWorkerLock, WorkerLockHeld, namespace_for
from sync.master_layout import master_layout
from sync.master_update import shown_zone
from sync.model import Agent, Conflict, Customer, SheetState, SyncRun, Tracking
from sync.rows import ParseOptions, count_rows
from sync.sheets import Backend
from sync.words import LANGUAGES, Language

if TYPE_CHECKING:
    from sync import schema
else:  # Alembic is loaded by the commands that migrate (init), not by every cycle
    schema = lazy_module("sync.schema")


def make_backend(config: Config) -> Backend:
    if config.sync.backend == "xlsx":
        return XlsxBackend()
    if config.sync.backend == "google":
        from sync.backends.google import backend_from_config

        return backend_from_config(config)
    raise ConfigError(f"unknown backend '{config.sync.backend}'", where="sync.backend")


def check(config: Config, backend: Backend) -> CheckReport:
    """`sheetsync check`: access to every source, layout drift, and (Google) a privacy audit.

    Returns:
        The report; its ``problems`` count everything that needs attention.
    """
    every = {**FOLLOW_UP_FIELDS_BY_KEY, **FIELDS_BY_KEY}
    aliases = {every[key].header: names for key, names in config.aliases.items()}
    if config.sync.backend == "google":
        from sync.backends.google import GoogleBackend
        from sync.backends.google.audit import check_google

        assert isinstance(backend, GoogleBackend)
        layouts: dict[str, Mapping[str, Any]] = {
            language: agent_layout(language) for language in LANGUAGES
        }
        return check_google(
            config,
            backend,
            layouts,
            master_layout(config.sync.timezone, language=config.master.language),
            aliases,
        )
    report = CheckReport(config.sync.backend, identity="")
    targets = [(f"agent {a.key}", config.agent_source(a)) for a in config.agents]
    for label, source in [*targets, ("master", config.master_source())]:
        try:
            found = backend.fingerprint(source) is not None
            access = "ok" if found else "missing (run init)"
        except SyncError as exc:
            access = str(exc)
        report.sources.append(SourceCheck(label, source, access=access))
    return report


def open_database(config: Config, *, create: bool = False) -> Engine:
    """The deployment's database.

    Args:
        create: for ``init`` and the import, which create the schema (and the SQLite
            file and its folder). Otherwise the database must exist at this code's
            schema, and nothing is created.

    Raises:
        DatabaseMissing: not created yet; says to run ``sheetsync init`` (exit 2).
        DatabaseUnreachable: cannot be reached, named without its password (exit 1).
        ConfigError: the URL is invalid, the SQLite folder cannot be created, or the
            schema is behind (exit 2).
    """
    if create:
        return open_for_create(config.database_url())
    return open_existing(config.database_url())


@dataclass
class InitReport:
    """What ``sheetsync init`` did.

    Attributes:
        changes: one line per thing created or repaired.
        skipped: one line per workbook held by someone else (open in Excel or LibreOffice,
            or being written by a worker), left as it was: what holds it and what to do.
        failed: one line per workbook that could not be set up (damaged, not allowed).
    """

    changes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def init(config: Config, engine: Engine, backend: Backend) -> InitReport:
    """Create or upgrade the schema, register agents, create missing workbooks and tabs.

    The schema comes first; then every workbook is set up that can be. One held by
    someone else is skipped (the next ``init`` sets it up), so that ``init`` can run
    beside a working team and its workers. Last, an agent sheet that lost its rows is
    rebuilt from the database (:func:`rebuild_lost_sheets`).
    """
    schema.upgrade_schema(engine)
    report = InitReport()
    with transaction(session_factory(engine)) as s:
        known = {a.key: a for a in s.execute(select(Agent)).scalars()}
        for cfg in config.agents:
            if cfg.key not in known:
                s.add(Agent(key=cfg.key, name=cfg.name, email=cfg.email))
                report.changes.append(f"registered agent {cfg.key}")
    every = {**FOLLOW_UP_FIELDS_BY_KEY, **FIELDS_BY_KEY}
    aliases = {every[key].header: names for key, names in config.aliases.items()}
    for cfg in config.agents:
        _set_up(report, config.agent_source(cfg), _agent_set_up(backend, cfg.language, aliases))
    with session_factory(engine)() as s:
        shown = shown_zone(s, config.master_source())
    master = master_layout(config.sync.timezone, shown, config.master.language)
    _set_up(
        report,
        config.master_source(),
        lambda source: backend.ensure_layout(**master, source=source),
    )
    report.changes += rebuild_lost_sheets(config, engine, backend)
    return report


def _agent_set_up(
    backend: Backend, language: Language, aliases: Mapping[str, Sequence[str]]
) -> Callable[[str], list[str]]:
    """What sets an agent's workbook up in ``language``, for :func:`_set_up`."""
    layout = agent_layout(language)

    def ensure(source: str) -> list[str]:
        return backend.ensure_layout(
            source,
            layout["tabs"],
            text_columns=layout["text_columns"],
            dropdowns=layout["dropdowns"],
            protected=layout["protected"],
            aliases=aliases,
            highlights=layout["highlights"],
            notes=layout["notes"],
            widths=layout["widths"],
            right_to_left=layout["right_to_left"],
        )

    return ensure


def _set_up(report: InitReport, source: str, ensure: Callable[[str], list[str]]) -> None:
    """Set up one workbook's layout, or say in ``report`` why it was left as it was."""
    try:
        report.changes += ensure(source)
    except SourceLocked as exc:
        line = (
            f"{source} was left as it was: it is {exc.holder}; "
            "run `sheetsync init` again when it is free"
        )
        report.skipped.append(f"{line} ({exc.hint})" if exc.hint else line)
    except SourceError as exc:
        report.failed.append(str(exc))


def sync_once(
    config: Config, engine: Engine, backend: Backend, progress: Progress | None = None
) -> CycleReport:
    """One cycle, side by side with any running workers.

    On PostgreSQL the sources a worker is syncing right now are left to it (advisory
    leases, as between workers; ``agents_leased_elsewhere`` counts them). On SQLite a
    running worker holds the database's worker lock and this refuses (exit 2).

    Raises:
        WorkerLockHeld: a worker runs on this SQLite database.
    """
    with _beside_workers(config, engine, backend, progress) as (cycle, _lease):
        return cycle.run()


@contextmanager
def _beside_workers(
    config: Config, engine: Engine, backend: Backend, progress: Progress | None = None
) -> Iterator[tuple[Cycle, PgAdvisoryLease | None]]:
    """A cycle that runs beside the workers: on PostgreSQL with a lease to take each agent
    source with (None: every source is this cycle's), on SQLite holding the worker lock.

    Raises:
        WorkerLockHeld: a worker runs on this SQLite database.
    """
    if engine.dialect.name == "postgresql":
        lease = PgAdvisoryLease(engine, namespace_for(engine), fair_share=False)
        try:
            yield Cycle(config, engine, backend, progress, lease=lease), lease
        finally:
            lease.dispose()
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    lock = SqliteWorkerLock(Path(database)) if database not in (None, "", ":memory:") else None
    if lock is not None:
        try:
            lock.acquire(wait=False)
        except WorkerLockHeld:
            raise WorkerLockHeld(
                f"a sheetsync worker is running on this SQLite database (it holds {lock.path})",
                hint="the worker syncs on its schedule (see `sheetsync status`); stop it to "
                "sync by hand",
            ) from None
    try:
        yield Cycle(config, engine, backend, progress, alone=lock is not None), None
    finally:
        if lock is not None:
            lock.release()


def rebuild_lost_sheets(config: Config, engine: Engine, backend: Backend) -> list[str]:
    """Fill, from the database, every agent sheet whose Customers tab has no rows while the
    agent tracks customers (a lost workbook or tab that ``init`` made anew): the rows a sync
    would write back, every customer the agent tracks with their follow-ups.

    Returns:
        What was done, in words (a sheet a worker holds is said so and left for later).
    """
    lost = _lost_sheets(config, engine, backend)
    if not lost:
        return []
    changes: list[str] = []
    try:
        with _beside_workers(config, engine, backend) as (cycle, lease):
            for cfg, snapshot, count in lost:
                source = config.agent_source(cfg)
                if lease is not None and not lease.acquire_agents([cfg.key]):
                    changes.append(f"{source}: not rebuilt, a worker is syncing it; run init again")
                    continue
                try:
                    cycle.rebuild(cfg, snapshot)
                finally:
                    if lease is not None:
                        lease.release()
                changes.append(f"rebuilt {source} from the database: {count} customer(s)")
    except WorkerLockHeld as held:
        return [
            f"{config.agent_source(cfg)}: not rebuilt, {held.message}: stop it, run init "
            "again, then start it"
            for cfg, _, _ in lost
        ]
    return changes


def _lost_sheets(
    config: Config, engine: Engine, backend: Backend
) -> list[tuple[AgentConfig, SourceSnapshot, int]]:
    """The agents whose Customers tab has no rows while they track customers, with their
    sheet as read and how many customers they track. A sheet as sheetsync last wrote it
    (its fingerprint says so) is not read."""
    with session_factory(engine)() as s:
        tracked = dict(
            s.execute(
                select(Agent.key, func.count(Tracking.id))
                .join(Tracking, Tracking.agent_id == Agent.id)
                .where(Tracking.active.is_(True))
                .group_by(Agent.key)
            ).all()
        )
        written = dict(
            s.execute(
                select(SheetState.source, SheetState.version).where(SheetState.tab == CUSTOMERS_TAB)
            ).all()
        )
    options = ParseOptions(day_first=config.sync.day_first, extra_aliases=config.aliases)
    lost = []
    for cfg in sorted(config.agents, key=lambda a: a.key):
        source = config.agent_source(cfg)
        if not tracked.get(cfg.key) or backend.fingerprint(source) in (None, written.get(source)):
            continue
        try:
            snapshot = backend.read(source)
        except SourceError:
            continue  # held or damaged: init's set-up said so; the sync quarantines it
        grid = snapshot.tabs.get(CUSTOMERS_TAB)
        if grid is not None and count_rows(grid, CUSTOMER_FIELDS, options) == 0:
            lost.append((cfg, snapshot, tracked[cfg.key]))
    return lost


@dataclass
class Lookup:
    phone: str | None
    warning: str | None
    customer: dict[str, Any] | None
    tracked_by: list[dict[str, str]]
    deleted: str | None = None  # an admin deleted the customer: when and why, in words

    def as_dict(self) -> dict[str, Any]:
        """What ``sheetsync lookup --json`` prints."""
        return {
            "phone": self.phone,
            "warning": self.warning,
            "exists": self.customer is not None,
            "customer": self.customer,
            "tracked_by": self.tracked_by,
            "deleted": self.deleted,
        }


def lookup(engine: Engine, raw_phone: str, default_region: str) -> Lookup:
    """The seed's "check": does this customer exist, who tracks them and since when.

    Shows shared contact data and tracking agents' names and since-dates only —
    never anyone's tracking.
    """
    parsed = parse_phone(raw_phone, default_region)
    if parsed.e164 is None:
        return Lookup(None, f"'{raw_phone}' is not a valid phone number", None, [])
    with session_factory(engine)() as s:
        # A merged customer's phone means the customer it was merged into.
        maps = binding_maps(s, (), [parsed.e164])
        known = maps.by_phone.get(parsed.e164)
        if known is None:
            return Lookup(parsed.e164, parsed.warning, None, [])
        customer = maps.known[known.number]
        trackers = trackers_of(s, [customer.id]).get(customer.id, [])
    shared = {
        f.header: _text(getattr(customer, f.key))
        for f in FIELDS_BY_KEY.values()
        if f.owner is Owner.SHARED
    }
    shared["Phone"] = format_phone(customer.phone)
    return Lookup(
        parsed.e164,
        parsed.warning,
        {"Customer #": customer.number, **shared},
        [{"agent": t.name, "since": t.since.date().isoformat()} for t in trackers],
        deleted_words(customer.deleted_at, customer.delete_reason) if customer.deleted_at else None,
    )


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


@dataclass
class QueuedConflict:
    """An open conflict as ``sheetsync conflicts`` lists it (the admin's queue)."""

    id: str  # C12: what `conflicts resolve` takes
    kind: str
    customer: str | None  # its Customer #
    agent: str | None
    field: str | None
    current: str | None
    proposed: str | None
    opened: str
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def open_conflicts(session: Session, kind: str | None = None) -> list[QueuedConflict]:
    """The open conflicts (of one kind), oldest first."""
    agents = {a.id: a.key for a in session.execute(select(Agent)).scalars()}
    customers = dict(session.execute(select(Customer.id, Customer.number)).all())
    stmt = select(Conflict).where(Conflict.status == "open").order_by(Conflict.id)
    if kind:
        stmt = stmt.where(Conflict.kind == kind)
    return [
        QueuedConflict(
            id=f"C{c.id}",
            kind=c.kind,
            customer=customers.get(c.customer_id or -1),
            agent=agents.get(c.agent_id or -1),
            field=c.field,
            current=c.current_value,
            proposed=c.proposed_value,
            opened=c.opened_at.isoformat(timespec="seconds"),
            details=c.details or {},
        )
        for c in session.execute(stmt).scalars()
    ]


@dataclass
class RunSummary:
    """One recorded run, as ``sheetsync status`` lists it (times in ISO 8601)."""

    id: int
    started: str
    finished: str | None
    status: str
    stats: dict[str, Any] | None
    errors: dict[str, Any] | None
    last_checked: str | None


@dataclass
class Status:
    """What ``sheetsync status`` reports: recent runs, open conflicts by kind, failing
    sources, how many customers and active trackings, and the workers' last heartbeat."""

    last_cycle: str | None
    lag_seconds: float | None
    runs: list[RunSummary]
    last_success: str | None
    open_conflicts: dict[str, int]
    failing_agents: list[dict[str, Any]]
    customers: int
    active_trackings: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def status(engine: Engine, limit: int = 10) -> Status:
    """``sheetsync status``: the last ``limit`` runs and the state of the team's data."""
    with session_factory(engine)() as s:
        runs = list(s.execute(select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)).scalars())
        by_kind = dict(
            s.execute(
                select(Conflict.kind, func.count())
                .where(Conflict.status == "open")
                .group_by(Conflict.kind)
            ).all()
        )
        failing = [
            {"agent": a.key, "failures_in_a_row": a.failures_in_a_row, "last_error": a.last_error}
            for a in s.execute(select(Agent).where(Agent.failures_in_a_row > 0)).scalars()
        ]
        customers = s.scalar(select(func.count()).select_from(Customer)) or 0
        active = (
            s.scalar(select(func.count()).select_from(Tracking).where(Tracking.active.is_(True)))
            or 0
        )
    last_ok = next((r for r in runs if r.status == "ok"), None)
    beat = health(engine)  # the worker's view: heartbeats and lag
    return Status(
        last_cycle=beat.last_cycle,
        lag_seconds=beat.lag_seconds,
        runs=[
            RunSummary(
                id=r.id,
                started=r.started_at.isoformat(timespec="seconds"),
                finished=r.finished_at.isoformat(timespec="seconds") if r.finished_at else None,
                status=r.status,
                stats=r.stats,
                errors=r.errors,
                last_checked=r.last_checked_at.isoformat(timespec="seconds")
                if r.last_checked_at
                else None,
            )
            for r in runs
        ],
        last_success=last_ok.finished_at.isoformat(timespec="seconds")
        if last_ok and last_ok.finished_at
        else None,
        open_conflicts=by_kind,
        failing_agents=failing,
        customers=customers,
        active_trackings=active,
    )
