"""One sync cycle over every agent source and the master workbook.

Phase 1 ingests every agent source whose fingerprint moved (one transaction per
agent). Phase 2 writes back every agent view that differs from what the sheet
holds: the rows stored as last written tell without reading, and an unchanged
sheet's dirty rows are set where they are (:mod:`sync.sheet_rows`). Phase 3 renders
the master, row by row while nobody edited it (:mod:`sync.master_update`).
Agents are taken in order of their key, so the result does not depend on the
order of the configuration file.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine, Select, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from sync import commission
from sync.admin.core import Admin
from sync.admin.from_master import MasterEdits, apply_master
from sync.cells import CellValue, CellWrite, Grid, SourceSnapshot, cell_text
from sync.collector import fewer_collections
from sync.config import AgentConfig, Config
from sync.db import (
    RETRY_ATTEMPTS,
    database_now,
    read,
    read_transaction,
    retrying,
    rows_in,
    session_factory,
    transaction,
    transient,
)
from sync.dedupe import format_phone, value_text
from sync.errors import LayoutError, SourceError
from sync.fields import (
    AGENT_KEYS,
    AGENT_TABS,
    CUSTOMER_FIELDS,
    CUSTOMERS_TAB,
    FIELDS_BY_KEY,
    FOLLOW_UP_FIELDS_BY_KEY,
    FOLLOW_UP_KEYS,
    FOLLOW_UPS_TAB,
    SHARED_KEYS,
)
from sync.ingest import AgentPlan, Counters, Ingest, RowAsRead, TabPlan
from sync.long_text import shows_cut_of
from sync.marks import AgentMarks, database_marker, team_digest
from sync.master import (
    MASTER_TABS,
    ROW_TABS,
    load_master,
    read_resolutions,
    render_master,
    row_bases,
    row_key,
)
from sync.master_update import audit_position, plan_update, written_orders
from sync.model import (
    Agent,
    Conflict,
    Customer,
    FollowUp,
    SheetState,
    SyncRun,
    Tracking,
    utcnow,
)
from sync.rows import Header, ParsedRow, ParseOptions, count_rows, find_header, parse_rows
from sync.sheet_rows import (
    forget_places,
    forget_tab_rows,
    grid_digest,
    keys_digest,
    load_bases,
    load_tab_rows,
    row_digest,
    save_changed,
    save_tab_rows,
    save_whole,
    tab_digest,
)
from sync.sheets import Backend, CountedCells
from sync.views import (
    AgentRow,
    CoTracker,
    RowPlan,
    cell_for,
    grid_cells,
    grid_changes,
    plan_grid_writes,
    plan_writes,
    proposal_notes,
    render_agent_row,
    render_new_agent_row,
)

log = logging.getLogger("sheetsync")
_T = TypeVar("_T")

Progress = Callable[[str], None]


STALE_RUN = dt.timedelta(days=1)
"""A run still marked running after this long was killed (no cycle takes a day)."""


class Lease(Protocol):
    """Which sources this worker syncs this cycle (PostgreSQL advisory locks, see worker.py)."""

    def acquire_agents(self, keys: list[str]) -> list[str]:
        """Try to take each agent source without waiting; return the keys taken."""
        ...

    def acquire_master(self) -> bool:
        """Try to take the master workbook for this cycle without waiting."""
        ...

    def holds(self, key: str) -> bool:
        """Whether an agent source taken this cycle is still this worker's, asked before
        the cycle starts on it (a worker gives sources up to workers that registered since)."""
        ...

    def release(self) -> None:
        """Give back everything taken this cycle."""
        ...


SUMMARY_COUNTS = (
    "customers_created",
    "trackings_added",
    "trackings_updated",
    "trackings_archived",
    "customers_updated",
    "follow_ups_created",
    "rows_read",
    "sources_read",
    "cells_written",
    "agent_cells_written",
    "master_cells_written",
    "writes_skipped",
    "conflicts_opened",
    "conflicts_closed",
    "agents_synced",
    "agents_unchanged",
    "agents_quarantined",
    "agents_failed",
)
"""The counts of a CycleReport that the sync's table and the worker's cycle line show."""


@dataclass
class CycleReport(Counters):
    """What one cycle did; ``sheetsync sync --json`` prints it, the run keeps its counts
    (``SyncRun.stats``: what ``status`` and the master's Sync log show). It holds what the
    ingests counted (:class:`~sync.ingest.Counters`, summed) and what the cycle counts.

    Each agent source the cycle took is counted once: synced (its sheet was read and
    ingested), unchanged, or failed. The master is never counted as an agent.

    Attributes:
        rows_read: agent rows read and ingested.
        sources_read: spreadsheets read, agents' and the master's.
        agent_cells_written: cells written into agents' sheets.
        master_cells_written: cells written into the master.
        cells_written: both (a property; in :meth:`as_dict` too).
        customers_updated: canonical customers changed, by agents' rows and by the
            admin's edits in the master (a customer changed by both counts twice).
        trackings_updated: trackings changed, by agents and by the admin (Commission %).
        admin_changes: the admin's edits and resolutions applied from the master.
        views_rendered: agents' views rendered from the database (an agent whose sheet
            is as written and whose customers did not change is not rendered).
        master_rendered: times the master, or its changed rows, were rendered.
    """

    run_id: int | None = None
    views_rendered: int = 0
    master_rendered: int = 0
    agent_cells_written: int = 0
    master_cells_written: int = 0
    writes_skipped: int = 0
    admin_changes: int = 0
    sources_read: int = 0
    agents_synced: int = 0
    agents_unchanged: int = 0
    agents_failed: int = 0
    agents_quarantined: int = 0
    agents_leased_elsewhere: int = 0
    stopped: bool = False
    failures: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def absorb(self, counters: Counters) -> None:
        """Add what one sheet's ingest counted (the fields this report has from
        :class:`~sync.ingest.Counters`)."""
        Counters.add(self, counters)

    @property
    def cells_written(self) -> int:
        """Cells written into agents' sheets and into the master."""
        return self.agent_cells_written + self.master_cells_written

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"cells_written": self.cells_written}

    def stats(self) -> dict[str, int]:
        """The counts a run keeps (``SyncRun.stats``)."""
        return {k: v for k, v in self.as_dict().items() if isinstance(v, int)}

    @property
    def idle(self) -> bool:
        return self.sources_read == 0 and self.cells_written == 0 and self.agents_failed == 0


class Cycle:
    """Runs cycles for one configuration against one backend and one database."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        backend: Backend,
        progress: Progress | None = None,
        *,
        lease: Lease | None = None,
        should_stop: Callable[[], bool] | None = None,
        alone: bool = False,
    ):
        """Prepare cycles.

        Args:
            progress: called with a label at each step (a progress bar advances).
            lease: which agent sources and whether the master this worker may sync
                this cycle (several workers); None: all of them.
            should_stop: checked before each agent's read and write-back and before the
                master's write; True abandons the rest of the cycle safely (what was
                not read, written back or rendered is done next cycle).
            alone: no other cycle can run on this database now (the SQLite worker lock
                is held), so a run still marked running was killed: it is marked
                interrupted. Otherwise only runs older than a day are.
        """
        self.alone = alone
        self.lease = lease
        self.should_stop = should_stop or (lambda: False)
        self.config = config
        self.engine = engine
        self.sessions = session_factory(engine)
        self.backend = backend
        self.progress = progress or (lambda _label: None)
        self.options = ParseOptions(day_first=config.sync.day_first, extra_aliases=config.aliases)
        self.zone = zoneinfo.ZoneInfo(config.sync.timezone)

    # -- the cycle ------------------------------------------------------------------------

    @fewer_collections()
    def run(self) -> CycleReport:
        report = CycleReport()
        agents = sorted(self.config.agents, key=lambda a: a.key)
        with transaction(self.sessions) as s:
            self._ensure_agents(s, agents)
        # One Drive request tells which spreadsheets changed (Google); an idle cycle then
        # makes no other request.
        self.backend.prefetch_fingerprints(
            [*(self.config.agent_source(a) for a in agents), self.config.master_source()]
        )
        if self.lease is None:
            return self._run(agents, report, master=True)
        try:
            owned = set(self.lease.acquire_agents([a.key for a in agents]))
            mine = [a for a in agents if a.key in owned]
            report.agents_leased_elsewhere = len(agents) - len(mine)
            return self._run(mine, report, master=self.lease.acquire_master())
        finally:
            self.lease.release()

    def _run(self, agents: list[AgentConfig], report: CycleReport, *, master: bool) -> CycleReport:
        run_id = self._start_run()
        report.run_id = run_id
        plans: dict[str, tuple[SourceSnapshot, AgentPlan]] = {}
        touched: set[int] = set()

        # What the admin typed in the master is applied first, so that this cycle's
        # write-back already carries it to the agents' sheets.
        master_read: tuple[SourceSnapshot, dict[str, str]] | None = None
        if master:
            self.progress("read master")
            try:
                master_read = self._apply_master(run_id, report, touched)
            except SourceError as exc:
                report.failures["master"] = str(exc)
                report.warnings.append(str(exc))

        given_up: set[str] = set()
        for agent_cfg in agents:
            if self._stop_here(report):
                break
            if self.lease is not None and not self.lease.holds(agent_cfg.key):
                given_up.add(agent_cfg.key)  # another worker syncs it (or the next cycle)
                report.agents_leased_elsewhere += 1
                continue
            self.progress(f"read {agent_cfg.key}")
            try:
                ingest = partial(self._ingest_if_changed, agent_cfg, run_id, report, touched)
                result = _source_retrying(ingest, self.config.agent_source(agent_cfg))
            except SourceError as exc:
                self._fail(agent_cfg, exc, report)
                continue
            if result is not None:
                plans[agent_cfg.key] = result
            del result  # the last sheet read goes with the others, once written back

        report.conflicts_opened += retrying(lambda: self._settle(touched, run_id), "commission")
        with read_transaction(self.sessions) as s:
            marks = AgentMarks.load(s)

        for agent_cfg in agents:
            if agent_cfg.key in report.failures or agent_cfg.key in given_up:
                continue
            if self._stop_here(report):
                break  # a sheet not written back is read (or written) again next cycle
            self.progress(f"write {agent_cfg.key}")
            try:
                # Each sheet as read is let go once written back: the master is rendered
                # without every agent's sheet in memory.
                self._write_back(agent_cfg, plans.pop(agent_cfg.key, None), run_id, report, marks)
            except SourceError as exc:
                self._fail(agent_cfg, exc, report)
        plans.clear()  # sheets not written back (a stop): read again next cycle

        # The Sync log tab shows finished runs, so a cycle that did something is
        # recorded before the master is rendered. An idle cycle writes the master only
        # to repair it (the database changed from the CLI, a cell was overwritten); it
        # is then recorded first too, so that the master it writes is final. Otherwise
        # it leaves no run behind, which keeps a cycle after a cycle write-free (promise 4).
        agents_idle = report.idle and not report.failures and report.conflicts_opened == 0
        master_due = master and not self._stop_here(report) and "master" not in report.failures
        if agents_idle and master_due:
            try:
                master_due = self._master_stale(run_id, report)
                agents_idle = not master_due
            except SourceError as exc:
                report.failures["master"] = str(exc)
                report.warnings.append(str(exc))
                agents_idle = master_due = False
        if not agents_idle:
            self._finish_run(run_id, report)
        self.progress("master")
        try:
            if master_due:
                self._write_master(report, master_read)
        except SourceError as exc:
            report.failures["master"] = str(exc)
            report.warnings.append(str(exc))
        if agents_idle:
            self._drop_idle_run(run_id, report)
        else:
            self._record_counts(run_id, report)
        return report

    def _settle(self, touched: set[int], run_id: int) -> int:
        """Settle the commission of the customers this cycle touched; returns the conflicts
        opened."""
        rule = self.config.sync.commission_rule
        with transaction(self.sessions) as s:
            # Completions a killed cycle ingested but did not settle are settled now.
            customers = touched | commission.unsettled(s, rule)
            return commission.settle(s, rule, customers, run_id) if customers else 0

    def _stop_here(self, report: CycleReport) -> bool:
        """Whether to abandon the rest of the cycle at this boundary between two sources.

        Checked before each agent's read and write-back and before the master's write:
        every source is then either done (its transaction committed, its state recorded)
        or left as it was, which the next cycle reads, writes or renders again.
        """
        if not report.stopped and self.should_stop():
            report.stopped = True
        return report.stopped

    def _ensure_agents(self, s: Session, agents: list[AgentConfig]) -> None:
        existing = {a.key: a for a in s.execute(select(Agent)).scalars()}
        for cfg in agents:
            agent = existing.get(cfg.key)
            if agent is None:
                s.add(Agent(key=cfg.key, name=cfg.name, email=cfg.email))
            elif (agent.name, agent.email, agent.active) != (cfg.name, cfg.email, True):
                agent.name, agent.email, agent.active = cfg.name, cfg.email, True

    def _start_run(self) -> int:
        with transaction(self.sessions) as s:
            now = database_now(s)  # runs are timed on one clock, whichever worker runs them
            killed = update(SyncRun).where(SyncRun.status == "running")
            if not self.alone:
                killed = killed.where(SyncRun.started_at < now - STALE_RUN)
            s.execute(killed.values(status="interrupted"))
            run = SyncRun(started_at=now)
            s.add(run)
            s.flush()
            return run.id

    def _finish_run(self, run_id: int, report: CycleReport) -> None:
        with transaction(self.sessions) as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            run.finished_at = database_now(s)
            run.last_checked_at = run.finished_at
            run.status = "partial" if report.failures else "ok"
            run.stats = report.stats()
            run.errors = dict(report.failures)

    def _record_counts(self, run_id: int, report: CycleReport) -> None:
        """Keep the run's final counts, the master's cells and read included (known only
        after the master was rendered, with this run's Sync log row: that row shows the
        agents' cells, which are final by then), and its status when the master failed."""
        with transaction(self.sessions) as s:
            run = s.get(SyncRun, run_id)
            if run is None:
                return
            if run.stats != report.stats():
                run.stats = report.stats()
            if run.errors != dict(report.failures):
                run.status = "partial" if report.failures else "ok"
                run.errors = dict(report.failures)

    def _drop_idle_run(self, run_id: int, report: CycleReport) -> None:
        """An idle cycle leaves no row behind (promise 4), only a heartbeat on the last run
        that is not running (another worker's run in flight is its own to write: two idle
        workers each beating on the other's run, which each was deleting, deadlocked)."""

        def drop() -> int | None:
            with transaction(self.sessions) as s:
                run = s.get(SyncRun, run_id)
                if run is not None:
                    s.delete(run)
                last = s.execute(
                    select(SyncRun)
                    .where(SyncRun.id != run_id, SyncRun.status != "running")
                    .order_by(SyncRun.id.desc())
                    .limit(1)
                ).scalar_one_or_none()
                if last is not None:
                    last.last_checked_at = database_now(s)
                return last.id if last else None

        report.run_id = retrying(drop, "run")

    def _fail(self, agent_cfg: AgentConfig, exc: Exception, report: CycleReport) -> None:
        report.agents_failed += 1
        report.failures[agent_cfg.key] = str(exc)
        log.warning("agent %s skipped: %s", agent_cfg.key, exc)
        with transaction(self.sessions) as s:
            agent = s.execute(select(Agent).where(Agent.key == agent_cfg.key)).scalar_one()
            agent.failures_in_a_row += 1
            agent.last_error = str(exc)
            if agent.failing_since is None:
                agent.failing_since = utcnow()

    # -- phase 1: ingest ------------------------------------------------------------------

    def _versions(
        self, s: Session, source: str, tabs: tuple[str, ...]
    ) -> dict[str, tuple[str | None, str | None]]:
        """Tab -> (version, marker) as last written; never loads the snapshots."""
        rows = s.execute(
            select(SheetState.tab, SheetState.version, SheetState.marker).where(
                SheetState.source == source, SheetState.tab.in_(tabs)
            )
        )
        return {tab: (version, marker) for tab, version, marker in rows}

    def _states(self, s: Session, source: str, tabs: tuple[str, ...]) -> dict[str, SheetState]:
        rows = s.execute(
            select(SheetState).where(SheetState.source == source, SheetState.tab.in_(tabs))
        )
        return {state.tab: state for state in rows.scalars()}

    def _ingest_if_changed(
        self, agent_cfg: AgentConfig, run_id: int, report: CycleReport, touched: set[int]
    ) -> tuple[SourceSnapshot, AgentPlan] | None:
        source = self.config.agent_source(agent_cfg)
        with transaction(self.sessions) as s:
            versions = self._versions(s, source, tuple(AGENT_TABS))
        version = self.backend.fingerprint(source)
        if version is None:
            raise SourceError(
                "workbook not found; run `sheetsync init` to rebuild it from the database",
                where=source,
            )
        if len(versions) == len(AGENT_TABS) and all(v == version for v, _ in versions.values()):
            report.agents_unchanged += 1
            return None
        return self._ingest(agent_cfg, run_id, report, touched)

    def _ingest(
        self,
        agent_cfg: AgentConfig,
        run_id: int,
        report: CycleReport,
        touched: set[int],
        snapshot: SourceSnapshot | None = None,
    ) -> tuple[SourceSnapshot, AgentPlan]:
        """Read one agent's sheet (unless ``snapshot`` is it, read this cycle) and apply it."""
        source = self.config.agent_source(agent_cfg)
        if snapshot is None:
            snapshot = self.backend.read(source)
            report.sources_read += 1
        with transaction(self.sessions) as s:
            agent = s.execute(select(Agent).where(Agent.key == agent_cfg.key)).scalar_one()
            states = self._states(s, source, tuple(AGENT_TABS))
            ingest = Ingest(
                s,
                agent,
                source=source,
                options=self.options,
                default_region=self.config.phones.default_region,
                mass_removal_threshold=self.config.sync.mass_removal_threshold,
                mass_removal_min_rows=self.config.sync.mass_removal_min_rows,
                run_id=run_id,
                today=dt.datetime.now(self.zone).date(),
            )
            # An admin accepted a mass removal (sync.admin.resolve): apply it this once.
            threshold = ingest.threshold
            ingest.threshold = _threshold(states.get(CUSTOMERS_TAB), threshold)
            customers = ingest.customers(
                snapshot.tabs.get(CUSTOMERS_TAB), load_tab_rows(s, source, CUSTOMERS_TAB)["rows"]
            )
            s.flush()
            ingest.threshold = _threshold(states.get(FOLLOW_UPS_TAB), threshold)
            follow_ups = ingest.follow_ups(
                snapshot.tabs.get(FOLLOW_UPS_TAB), load_tab_rows(s, source, FOLLOW_UPS_TAB)["rows"]
            )
            ingest.threshold = threshold
            ingest.flag_possible_duplicates()
            ingest.close_resolved_conflicts(
                tab
                for tab, plan in ((CUSTOMERS_TAB, customers), (FOLLOW_UPS_TAB, follow_ups))
                if plan.tab in snapshot.tabs or plan.quarantined == "missing_tab"
            )
            ingest.write_audit()
            agent.failures_in_a_row = 0
            agent.last_error = None
            agent.failing_since = None
            touched |= ingest.touched_customers
        report.absorb(ingest.counters)
        customers.keep_as_read(snapshot.tabs.get(CUSTOMERS_TAB))
        follow_ups.keep_as_read(snapshot.tabs.get(FOLLOW_UPS_TAB))
        if customers.quarantined or follow_ups.quarantined:
            report.agents_quarantined += 1
            report.warnings.append(
                f"{agent_cfg.key}: quarantined "
                + ", ".join(
                    f"{p.tab} ({p.quarantined})" for p in (customers, follow_ups) if p.quarantined
                )
            )
        report.agents_synced += 1
        return snapshot, AgentPlan(customers, follow_ups)

    # -- phase 2: write back ----------------------------------------------------------------

    def _write_back(
        self,
        agent_cfg: AgentConfig,
        planned: tuple[SourceSnapshot, AgentPlan] | None,
        run_id: int,
        report: CycleReport,
        marks: AgentMarks,
    ) -> None:
        """Write what the database wants into one agent's sheet.

        Args:
            planned: the sheet as read and ingested this cycle; None when it did not change.
            marks: what each agent's view is made of, before this write-back. An
                unchanged sheet whose last exact write saw the same is left alone unread.
        """
        source = self.config.agent_source(agent_cfg)
        with read_transaction(self.sessions) as s:
            agent = s.execute(select(Agent).where(Agent.key == agent_cfg.key)).scalar_one()
            marker = marks.marker(agent.id)
            dirty: set[int] | None = None  # the customers whose rows may have changed; None: all
            if planned is None:
                versions = self._versions(s, source, tuple(AGENT_TABS))
                if len(versions) == len(AGENT_TABS) and all(
                    v is not None for v, _ in versions.values()
                ):
                    dirty = marks.dirty_customers(s, agent.id, versions[CUSTOMERS_TAB][1])
                    if dirty is not None and not dirty:
                        return  # nothing the view is made of changed since it was written
        with read_transaction(self.sessions) as s:
            agent = s.execute(select(Agent).where(Agent.key == agent_cfg.key)).scalar_one()
            view = self._agent_rows(s, agent, dirty)
            follow_ups = self._agent_follow_ups(s, agent, dirty)
            report.views_rendered += 1
            states = self._states(s, source, tuple(AGENT_TABS))
            # The rows as last written: of the dirty customers alone, when those are known.
            stored = {
                CUSTOMERS_TAB: load_tab_rows(s, source, CUSTOMERS_TAB, _only(dirty, view)),
                FOLLOW_UPS_TAB: load_tab_rows(s, source, FOLLOW_UPS_TAB, _only(dirty, follow_ups)),
            }
        patched: tuple[SourceSnapshot, list[CellWrite], dict[str, Any]] | None = None
        if planned is None:
            if not self._view_moved(view, follow_ups, states, stored):
                with transaction(self.sessions) as s:
                    customers = self._states(s, source, (CUSTOMERS_TAB,)).get(CUSTOMERS_TAB)
                    if customers is not None and customers.version is not None:
                        customers.marker = marker
                return
            read: SourceSnapshot | None = None
            if dirty is not None:
                unread = self._set_dirty_rows(source, view, follow_ups, states, stored)
                if unread is not None:
                    new_version, cells, snap = unread
                    report.agent_cells_written += cells
                    self._save_view(
                        source, agent_cfg, marker, new_version, {CUSTOMERS_TAB: snap}, set(view)
                    )
                    return
                read = self.backend.read(source)
                report.sources_read += 1
                patched = self._plan_dirty_rows(read, view, follow_ups, states, stored)
            if patched is None:
                report.agents_unchanged -= 1  # ingested after all: counted once, as synced
                ingest = partial(self._ingest, agent_cfg, run_id, report, set(), read)
                planned = _source_retrying(ingest, source)
                with read_transaction(self.sessions) as s:
                    agent = s.execute(select(Agent).where(Agent.key == agent_cfg.key)).scalar_one()
                    view = self._agent_rows(s, agent)
                    follow_ups = self._agent_follow_ups(s, agent)
                    stored = {tab: load_tab_rows(s, source, tab) for tab in AGENT_TABS}
                report.views_rendered += 1
        writes: list[CellWrite] = []
        new_rows: dict[str, Any] = {}
        if patched is not None:
            snapshot, writes, new_rows = patched
        else:
            assert planned is not None
            snapshot, plan = planned
            if plan.customers.header is not None:
                w, new_rows[CUSTOMERS_TAB] = self._plan_customers(
                    plan.customers, view, stored[CUSTOMERS_TAB]
                )
                writes += w
            if plan.follow_ups.header is not None:
                w, new_rows[FOLLOW_UPS_TAB] = self._plan_follow_ups(
                    plan.follow_ups, follow_ups, stored[FOLLOW_UPS_TAB]
                )
                writes += w
        version = snapshot.version
        exact = True
        if writes:
            result = self.backend.write(source, writes, read_version=snapshot.version)
            report.agent_cells_written += result.applied
            report.writes_skipped += len(result.skipped)
            version = result.version or version
            exact = not result.skipped and not result.concurrent
            for write, reason in result.skipped:
                log.info(
                    "%s: %s!%s row %s not written: %s",
                    agent_cfg.key,
                    write.tab,
                    write.column,
                    (write.row or 0) + 1,
                    reason,
                )
        self._save_view(
            source,
            agent_cfg,
            marker if exact else None,
            version if exact else None,
            new_rows,
            set(view) if patched is not None else None,
        )

    def _save_view(
        self,
        source: str,
        agent_cfg: AgentConfig,
        marker: str | None,
        version: str | None,
        new_rows: dict[str, Any],
        only: set[str] | None,
    ) -> None:
        """Record what an agent's sheet holds after its write-back.

        Args:
            marker, version: the view's marker and the workbook's version when the sheet
                holds exactly what was written (None when a write was skipped).
            new_rows: per tab, its rows as written (tabs not planned keep theirs).
            only: these numbers' rows alone were re-rendered (None: the tabs whole).
        """
        with transaction(self.sessions) as s:
            agent = s.execute(select(Agent).where(Agent.key == agent_cfg.key)).scalar_one()
            states = self._states(s, source, tuple(AGENT_TABS))
            for tab in AGENT_TABS:
                state = states.get(tab)
                if state is None:
                    state = SheetState(source=source, tab=tab, agent_id=agent.id, snapshot={})
                    s.add(state)
                new_marker = marker if tab == CUSTOMERS_TAB else None
                if state.marker != new_marker:
                    state.marker = new_marker
                if state.version != version:
                    state.version = version
                if tab not in new_rows:
                    if only is None:  # read but not written (quarantined, header gone)
                        forget_places(state)
                    continue
                # Rows re-rendered for a few customers are stored alone; a tab planned
                # whole is stored whole with its header's layout, and an admin's one-time
                # acceptance of a removal is used up.
                changed = save_tab_rows(s, source, tab, new_rows[tab], only)
                layout = new_rows[tab].get("layout")
                kept = dict(state.snapshot or {}) if only is not None else {}
                if layout:
                    kept["layout"] = layout
                if state.snapshot != kept:
                    state.snapshot = kept
                    changed += 1
                if changed:
                    state.synced_at = utcnow()

    def _agent_rows(
        self, s: Session, agent: Agent, only: set[int] | None = None
    ) -> dict[str, AgentRow]:
        """Everything this agent may see, per customer number — nothing of other agents'
        tracking except their name and since-date.

        Args:
            only: these customers' rows alone (the ones a change dirtied); None: all.
        """
        # Columns, not ORM objects, taken by position: a view is thousands of rows, read
        # once and rendered (a RowMapping lookup per field cost as much as the query).
        shared_at = slice(3, 3 + len(SHARED_KEYS))
        tracking_at = slice(shared_at.stop, shared_at.stop + len(AGENT_KEYS))
        query = (
            select(
                Customer.id,
                Customer.number,
                Tracking.commission_pct,
                *(getattr(Customer, k) for k in SHARED_KEYS),
                *(getattr(Tracking, k) for k in AGENT_KEYS),
                Tracking.lost_to_colleague,
            )
            .join(Customer, Customer.id == Tracking.customer_id)
            .where(Tracking.agent_id == agent.id, Tracking.active.is_(True))
        )
        mine = [tuple(row) for row in _of_customers(s, query, only)]
        ids = [m[0] for m in mine]
        co: dict[int, list[CoTracker]] = defaultdict(list)
        others = (
            select(Tracking.customer_id, Agent.name, Tracking.tracked_since)
            .join(Agent, Agent.id == Tracking.agent_id)
            .where(Tracking.agent_id != agent.id, Tracking.active.is_(True))
            .order_by(Tracking.id)  # within a query: a customer's rows are all in one
        )
        for tracked, name, since in rows_in(s, others, Tracking.customer_id, ids):
            co[tracked].append(CoTracker(name, since.date()))
        # The agent's own open proposals, and the open completion races: columns only, not
        # ORM objects (a team has thousands of open conflicts; a view needs a few).
        pending: dict[int, set[str]] = defaultdict(set)
        proposals: dict[int, dict[str, str]] = defaultdict(dict)
        for customer_id, key, proposed in s.execute(
            select(Conflict.customer_id, Conflict.field, Conflict.proposed_value).where(
                Conflict.status == "open",
                Conflict.kind == "shared_field",
                Conflict.agent_id == agent.id,
            )
        ):
            if key:
                pending[customer_id or 0].add(key)
                proposals[customer_id or 0][key] = proposed or ""
        races = set(
            s.execute(
                select(Conflict.customer_id).where(
                    Conflict.status == "open", Conflict.kind == "completion_race"
                )
            ).scalars()
        )
        rows = {}
        for m in mine:
            customer_id, number, commission_pct = m[:3]
            shared = dict(zip(SHARED_KEYS, m[shared_at], strict=True))
            tracking = dict(zip(AGENT_KEYS, m[tracking_at], strict=True))
            notes = []
            if m[-1]:  # lost to a colleague
                notes.append("lost to colleague: another agent completed this customer first")
            if customer_id in races and tracking["status"] == "Completed":
                notes.append(
                    "completed in the same cycle as a colleague: an admin decides the commission"
                )
            rows[number] = AgentRow(
                number=number,
                phone=str(shared["phone"]),
                shared=shared,
                tracking=tracking,
                commission_pct=commission_pct,
                co_trackers=co[customer_id],
                db_notes=notes,
                pending=frozenset(pending[customer_id]),
                proposals=proposals[customer_id],
                cell_limit=self.backend.cell_limit,
            )
        return rows

    def _agent_follow_ups(
        self, s: Session, agent: Agent, only: set[int] | None = None
    ) -> dict[str, dict[str, object]]:
        query = (
            select(
                FollowUp.number,
                Customer.number,
                Customer.phone,
                *(getattr(FollowUp, k) for k in FOLLOW_UP_KEYS),
            )
            .join(Tracking, Tracking.id == FollowUp.tracking_id)
            .join(Customer, Customer.id == Tracking.customer_id)
            .where(
                Tracking.agent_id == agent.id, Tracking.active.is_(True), FollowUp.active.is_(True)
            )
        )
        return {
            number: {
                "follow_up_number": number,
                "customer_number": customer_number,
                "phone": phone,
                **dict(zip(FOLLOW_UP_KEYS, rest, strict=True)),
            }
            for number, customer_number, phone, *rest in _of_customers(s, query, only)
        }

    def _view_moved(
        self,
        view: dict[str, AgentRow],
        follow_ups: dict[str, dict[str, object]],
        states: dict[str, SheetState],
        stored: dict[str, dict[str, dict[str, Any]]],
    ) -> bool:
        """Whether the database now wants something the sheet (as last written, ``stored``)
        doesn't show."""
        if len(states) < len(AGENT_TABS) or any(st.version is None for st in states.values()):
            return True
        snap = stored[CUSTOMERS_TAB]
        rows, notes, leave = snap["rows"], snap["notes"], snap["leave"]
        if set(view) - set(rows):
            return True  # a tracking the sheet doesn't have yet
        for number, row in view.items():
            desired = render_agent_row(row, notes.get(number, []))
            for key, value in desired.items():
                if key not in leave.get(number, []) and rows[number].get(key, "") != value_text(
                    value
                ):
                    return True
        return bool(set(follow_ups) - set(stored[FOLLOW_UPS_TAB]["rows"]))

    def _set_dirty_rows(
        self,
        source: str,
        view: dict[str, AgentRow],
        follow_ups: dict[str, dict[str, object]],
        states: dict[str, SheetState],
        stored: dict[str, dict[str, dict[str, Any]]],
    ) -> tuple[str, int, dict[str, Any]] | None:
        """Set the cells of the rows of an unchanged sheet whose customers changed
        elsewhere, without reading it: the sheet is as the last write-back left it (its
        version says so), which stored where each row is and what it holds.

        Returns:
            The workbook's new version, the cells set and the Customers tab's rows as now
            written; None when it cannot be done unread (a row's place or a column is not
            known, a follow-up is to be appended, the workbook changed since): the caller
            reads the sheet.
        """
        snap = stored[CUSTOMERS_TAB]
        layout = (states[CUSTOMERS_TAB].snapshot or {}).get("layout")
        version = states[CUSTOMERS_TAB].version
        if (
            not self.backend.sets_cells_atomically  # by position, only under the file's lock
            or not layout
            or version is None
            or len(states) < len(AGENT_TABS)
            or any(st.version != version for st in states.values())
            or set(follow_ups) - set(stored[FOLLOW_UPS_TAB]["rows"])
            or any(number not in snap["at"] for number in view)
        ):
            return None
        columns: dict[str, int] = layout["columns"]
        rows = dict(snap["rows"])
        cells: list[tuple[str, int, int, CellValue]] = []
        for number, agent_row in sorted(view.items()):
            kept = set(snap["leave"].get(number, []))
            base = rows[number]
            final = dict(base)
            for key, value in render_agent_row(agent_row, snap["notes"].get(number, [])).items():
                if key in kept:
                    continue
                now, wanted = base.get(key, ""), value_text(value)
                final[key] = wanted
                if now == wanted or shows_cut_of(now, wanted):
                    continue
                if key not in columns:
                    return None  # a column the sheet lacks: the write appends it
                cells.append((CUSTOMERS_TAB, snap["at"][number], columns[key], cell_for(value)))
            rows[number] = final
        new_version = self.backend.set_cells(source, cells, version=version)
        if new_version is None:
            return None
        return new_version, len(cells), {**snap, "rows": rows}

    def _plan_dirty_rows(
        self,
        snapshot: SourceSnapshot,
        view: dict[str, AgentRow],
        follow_ups: dict[str, dict[str, object]],
        states: dict[str, SheetState],
        stored: dict[str, dict[str, dict[str, Any]]],
    ) -> tuple[SourceSnapshot, list[CellWrite], dict[str, Any]] | None:
        """The writes for the rows of an unchanged sheet whose customers changed elsewhere.

        The sheet is as sheetsync last wrote it (its version says so), so its Customer #
        cells bind its rows and its last snapshot holds their notes and the fields left
        to the agent: no ingest is needed, and only the rows of ``view`` (the dirty
        customers) are rendered and written. When it cannot be, the caller ingests the
        same ``snapshot`` (the sheet as read now): the sheet is read once either way.

        Returns:
            The sheet as read, the writes and the Customers tab's new snapshot; None when
            the sheet must be ingested first (it changed since, a Customer # is on two
            rows or on none, a new follow-up is to be appended, the header is gone).
        """
        if set(follow_ups) - set(stored[FOLLOW_UPS_TAB]["rows"]):
            return None
        source = snapshot.source
        if any(states[tab].version != snapshot.version for tab in AGENT_TABS):
            return None
        grid = snapshot.tabs.get(CUSTOMERS_TAB)
        if grid is None:
            return None
        try:
            header = find_header(
                grid, CUSTOMER_FIELDS, required=("phone",), options=self.options, where=source
            )
        except LayoutError:
            return None
        snap = stored[CUSTOMERS_TAB]
        base_rows: dict[str, dict[str, str]] = snap["rows"]
        notes: dict[str, list[str]] = snap["notes"]
        leave: dict[str, list[str]] = snap["leave"]
        titles = header.titles
        column = header.columns.get("customer_number")
        if column is None:
            return None
        # Only the rows showing a dirty customer's number are parsed.
        wanted = [
            index
            for index in range(header.row + 1, len(grid))
            if column < len(grid[index]) and cell_text(grid[index][column]) in view
        ]
        rows: dict[str, ParsedRow] = {}
        for row in parse_rows(grid, header, CUSTOMER_FIELDS, self.options, wanted):
            number = cell_text(row.raw.get("customer_number"))
            if number in rows:
                return None
            rows[number] = row
        snap_rows = dict(base_rows)
        at = dict(snap["at"])
        row_plans: list[RowPlan] = []
        for number, agent_row in sorted(view.items()):
            found = rows.get(number)
            if found is None:
                # A row to append (a new tracking), or one still showing another number (a
                # merge): the whole sheet's binding is needed.
                return None
            as_read = RowAsRead(found, grid[found.index], header.columns)
            kept = set(leave.get(number, []))
            desired = {
                k: v
                for k, v in render_agent_row(agent_row, notes.get(number, [])).items()
                if k not in kept
            }
            row_plans.append(_row_plan(as_read, desired, titles, ("phone", "customer_number")))
            at[number] = as_read.index
            final = dict(base_rows.get(number, {}))
            final.update({k: value_text(v) for k, v in desired.items()})
            snap_rows[number] = final
        writes = plan_writes(CUSTOMERS_TAB, header.row, FIELDS_BY_KEY, titles, row_plans)
        return (
            snapshot,
            writes,
            {CUSTOMERS_TAB: {**snap, "rows": snap_rows, "at": at, "layout": _layout(header)}},
        )

    def _plan_customers(
        self, plan: TabPlan, view: dict[str, AgentRow], stored: dict[str, dict[str, Any]]
    ) -> tuple[list, dict[str, Any]]:
        header = plan.header
        assert header is not None
        titles = header.titles
        base_rows = stored["rows"]
        row_plans: list[RowPlan] = []
        snap_rows: dict[str, dict[str, str]] = {}
        snap_notes: dict[str, list[str]] = {}
        snap_leave: dict[str, list[str]] = {}
        snap_at: dict[str, int] = {}
        present: set[str] = set()
        for row in plan.as_read:
            number = plan.bound.get(row.index)
            sheet_notes = plan.notes.get(row.index, [])
            if number is None or number not in view:
                if number is not None:
                    present.add(number)
                only_notes = {"sync_notes": "; ".join(dict.fromkeys(sheet_notes)) or None}
                row_plans.append(_row_plan(row, only_notes, titles, ("phone", "customer_number")))
                continue
            present.add(number)
            leave = plan.leave.get(row.index, set())
            desired = {
                k: v
                for k, v in render_agent_row(view[number], sheet_notes).items()
                if k not in leave
            }
            row_plan = _row_plan(row, desired, titles, ("phone", "customer_number"))
            row_plans.append(row_plan)
            texts = row_plan.texts
            final = {k: texts.get(k, "") for k in (*SHARED_KEYS, *AGENT_KEYS)}
            final.update({k: value_text(v) for k, v in desired.items()})
            for key in leave:
                final.pop(key, None)
            snap_rows[number] = final
            snap_at[number] = row.index
            if sheet_notes:
                snap_notes[number] = list(dict.fromkeys(sheet_notes))
            if leave:
                snap_leave[number] = sorted(leave)
        present |= {n for n in base_rows if n in plan.kept}
        appended = [
            (f"new:{n}", render_new_agent_row(row))
            for n, row in sorted(view.items())
            if n not in present and n not in base_rows
        ]
        for n, values in appended:
            number = n.removeprefix("new:")
            snap_rows[number] = {k: value_text(v) for k, v in values.items()}
            if notes := proposal_notes(view[number]):  # as if the agent had typed them
                snap_notes[number] = notes
                snap_leave[number] = sorted(view[number].proposals)
        writes = plan_writes(CUSTOMERS_TAB, header.row, FIELDS_BY_KEY, titles, row_plans, appended)
        return writes, {
            "rows": snap_rows,
            "notes": snap_notes,
            "leave": snap_leave,
            "at": snap_at,
            "layout": _layout(header),
        }

    def _plan_follow_ups(
        self,
        plan: TabPlan,
        follow_ups: dict[str, dict[str, object]],
        stored: dict[str, dict[str, Any]],
    ) -> tuple[list, dict[str, Any]]:
        header = plan.header
        assert header is not None
        titles = header.titles
        base_rows = stored["rows"]
        snap_at: dict[str, int] = {}
        row_plans: list[RowPlan] = []
        snap_rows: dict[str, dict[str, str]] = {}
        for row in plan.as_read:
            notes = "; ".join(dict.fromkeys(plan.notes.get(row.index, []))) or None
            number = plan.bound.get(row.index)
            desired: dict[str, object] = {"sync_notes": notes}
            if number is not None:
                desired |= {
                    "follow_up_number": number,
                    "customer_number": plan.customer_of[row.index],
                }
            row_plan = _row_plan(
                row, desired, titles, ("phone", "follow_up_number", "date", "notes")
            )
            row_plans.append(row_plan)
            if number is not None:
                snap_rows[number] = {k: row_plan.texts.get(k, "") for k in FOLLOW_UP_KEYS}
                snap_at[number] = row.index
        bound = set(plan.bound.values())
        appended = []
        for number, values in sorted(follow_ups.items()):
            if number not in bound and number not in base_rows:
                appended.append(
                    (f"new:{number}", {**values, "phone": _display_phone(values["phone"])})
                )
                snap_rows[number] = {k: value_text(values.get(k)) for k in FOLLOW_UP_KEYS}
        writes = plan_writes(
            FOLLOW_UPS_TAB,
            header.row,
            FOLLOW_UP_FIELDS_BY_KEY,
            titles,
            row_plans,
            appended,
        )
        return writes, {"rows": snap_rows, "at": snap_at}

    # -- phase 3: master ----------------------------------------------------------------------

    def _apply_master(
        self, run_id: int, report: CycleReport, touched: set[int]
    ) -> tuple[SourceSnapshot, dict[str, str]] | None:
        """Read the master if an admin typed in it since the last cycle, and apply that.

        Returns:
            The master as read and, per conflict ID, why its resolution was not
            applied; None when the master did not change (nothing is read).
        """
        source = self.config.master_source()
        with transaction(self.sessions) as s:
            versions = self._versions(s, source, MASTER_TABS)
        if len(versions) < len(MASTER_TABS):
            return None  # never written: nothing an admin could have edited yet
        version = self.backend.fingerprint(source)
        if version is None or all(v == version for v, _ in versions.values()):
            return None
        snapshot = self.backend.read(source)
        report.sources_read += 1

        def apply() -> tuple[Admin, MasterEdits]:
            with transaction(self.sessions) as s:
                states = self._states(s, source, MASTER_TABS)
                admin = Admin(
                    s,
                    self.config.sync.admin,
                    rule=self.config.sync.commission_rule,
                    options=self.options,
                    region=self.config.phones.default_region,
                    run_id=run_id,
                )
                bases = self._master_bases(s, source, states)
                return admin, apply_master(admin, snapshot.tabs, bases)

        admin, edits = retrying(apply, "master")
        touched |= admin.touched
        report.audit_events += admin.events
        report.conflicts_closed += admin.closed
        report.customers_updated += len(admin.customers_updated)
        report.trackings_updated += len(admin.trackings_updated)
        report.admin_changes += len(edits.applied)
        report.warnings += edits.warnings
        for line in edits.applied:
            log.info("master: %s", line)
        return snapshot, edits.errors

    def _master_bases(
        self, s: Session, source: str, states: dict[str, SheetState]
    ) -> dict[str, dict[str, Any]]:
        """What the admin may edit in the master, as last written, for ``apply_master``
        (kept by row; a master written by an earlier version kept it in the snapshots)."""
        legacy = {tab: st.snapshot or {} for tab, st in states.items()}
        return {
            "Customers": {
                "shared": load_bases(s, source, "Customers")
                or legacy.get("Customers", {}).get("shared", {})
            },
            "Tracking": {
                "commission": load_bases(s, source, "Tracking")
                or legacy.get("Tracking", {}).get("commission", {})
            },
        }

    def _master_stale(self, run_id: int, report: CycleReport) -> bool:
        """Whether the master differs from what the database wants (no read: fingerprints)."""
        source = self.config.master_source()
        with read_transaction(self.sessions) as s:
            versions = self._versions(s, source, MASTER_TABS)
            marker = database_marker(s, exclude_run=run_id, runs=True)
        if len(versions) < len(MASTER_TABS):
            return True
        version = self.backend.fingerprint(source)
        if version is None:
            raise SourceError("master workbook not found; run `sheetsync init`", where=source)
        if all(v == version for v, _ in versions.values()) and versions["Conflicts"][1] == marker:
            return False  # the workbook is as written and nothing it shows changed since
        with read_transaction(self.sessions) as s:
            states = self._states(s, source, MASTER_TABS)
            stored = states["Conflicts"].snapshot or {}
            data = load_master(s)
        report.master_rendered += 1
        grids, _ = render_master(data, stored.get("resolutions", {}), stored.get("errors", {}))
        return not all(
            st.version == version
            and (st.snapshot or {}).get("digest") == grid_digest(grids[st.tab])
            for st in states.values()
        )

    def _write_master(
        self, report: CycleReport, read: tuple[SourceSnapshot, dict[str, str]] | None = None
    ) -> int:
        """Bring the master workbook up to date; returns the cells written.

        Row by row when it is as the last cycle wrote it (:mod:`sync.master_update`),
        else rendered whole, read and diffed.

        Args:
            read: the master as read at the start of this cycle, and the reasons
                resolutions typed there were not applied (then it is not read again).
        """
        if read is None:
            written = self._update_master_rows(report)
            if written is not None:
                return written
        return self._write_whole_master(report, read)

    def _update_master_rows(self, report: CycleReport) -> int | None:
        """Set the cells of the master's changed rows; None when it must be rendered whole."""
        source = self.config.master_source()
        version = self.backend.fingerprint(source)
        if version is None:
            raise SourceError("master workbook not found; run `sheetsync init`", where=source)
        with read_transaction(self.sessions) as s:
            plan = plan_update(s, source, self._states(s, source, MASTER_TABS), version)
        if plan is None:
            return None
        report.master_rendered += 1
        new_version: str | None = version
        if plan.cells and self._stop_here(report):
            return 0  # nothing written nor recorded: the next cycle renders it again
        if plan.cells:
            new_version = self.backend.set_cells(source, plan.cells, version=version)
            if new_version is None:
                return None  # changed meanwhile: read and diff it instead
        with transaction(self.sessions) as s:
            states = self._states(s, source, MASTER_TABS)
            for tab in MASTER_TABS:
                save_changed(s, source, tab, plan.before[tab], plan.changes[tab], plan.lengths[tab])
                snap = {"digest": plan.digests[tab], "rows": plan.lengths[tab]}
                if tab in ROW_TABS:
                    snap["order"] = plan.orders[tab]
                else:
                    snap["keys"] = plan.keys[tab]
                if tab == "Conflicts":
                    snap |= plan.snapshot
                self._master_state(states[tab], new_version, plan.marker, snap)
        report.master_cells_written += len(plan.cells)
        return len(plan.cells)

    def _master_state(
        self, state: SheetState, version: str | None, marker: str | None, snap: dict[str, Any]
    ) -> None:
        """Record what a master tab now holds (the marker is kept on the Conflicts tab)."""
        new_marker = marker if state.tab == "Conflicts" and version is not None else None
        if state.marker != new_marker:
            state.marker = new_marker
        state.version = version
        if state.snapshot != snap:
            state.snapshot = snap
            state.synced_at = utcnow()

    def _write_whole_master(
        self, report: CycleReport, read: tuple[SourceSnapshot, dict[str, str]] | None
    ) -> int:
        """Render the whole master, read it (unless ``read``) and write what differs."""
        source = self.config.master_source()
        with read_transaction(self.sessions) as s:
            marker = database_marker(s, exclude_run=None, runs=True)
            audit = audit_position(s)
            team = team_digest(s)
            data = load_master(s)
            states = self._states(s, source, MASTER_TABS)
        report.master_rendered += 1
        conflicts_state = states.get("Conflicts")
        stored = dict((conflicts_state.snapshot or {}) if conflicts_state else {})
        grids: dict[str, Grid] = {}
        digests: dict[str, str] = {}
        row_digests: dict[str, list[str]] = {}
        if read is None:
            grids, warnings = render_master(
                data, stored.get("resolutions", {}), stored.get("errors", {})
            )
            row_digests = {tab: [row_digest(row) for row in grid] for tab, grid in grids.items()}
            digests = {tab: tab_digest(rows) for tab, rows in row_digests.items()}
            version = self.backend.fingerprint(source)
            if version is None:
                raise SourceError("master workbook not found; run `sheetsync init`", where=source)
            if len(states) == len(MASTER_TABS) and all(
                st.version == version and (st.snapshot or {}).get("digest") == digests[st.tab]
                for st in states.values()
            ):
                return 0
            snapshot = self.backend.read(source)
            report.sources_read += 1
            errors = stored.get("errors", {})
        else:
            snapshot, errors = read
        typed = read_resolutions(snapshot.tabs.get("Conflicts", []))
        open_ids = {f"C{k.id}" for k in data.conflicts}
        resolutions = {cid: text for cid, text in typed.items() if cid in open_ids}
        errors = {cid: why for cid, why in errors.items() if resolutions.get(cid)}
        if not grids or (resolutions, errors) != (
            stored.get("resolutions", {}),
            stored.get("errors", {}),
        ):
            grids, warnings = render_master(data, resolutions, errors)
            row_digests = {tab: [row_digest(row) for row in grid] for tab, grid in grids.items()}
            digests = {tab: tab_digest(rows) for tab, rows in row_digests.items()}
        report.warnings += warnings

        def stale(state: SheetState | None, tab: str) -> bool:
            """Whether a tab's rows must be stored anew (what it shows changed)."""
            before = (state.snapshot or {}) if state is not None else {}
            return (
                before.get("digest") != digests[tab]
                or before.get("rows") != len(grids[tab]) - 1
                or before.get("order" if tab in ROW_TABS else "keys") is None
            )

        # The rows loaded are let go before the master is written (a cold master's peak);
        # what the admin may edit in them, the base of each row stored, is kept if needed,
        # and what says the row tabs' rows are still those written (master_update.RowOrder).
        restore = any(stale(states.get(tab), tab) for tab in grids)
        bases = row_bases(data) if restore else None
        orders = written_orders(data, grids) if restore else {}
        del data
        tabs = [  # the tabs to write: not as written, or what they should show changed
            tab
            for tab in grids
            if (state := states.get(tab)) is None
            or state.version != snapshot.version
            or (state.snapshot or {}).get("digest") != digests[tab]
        ]
        written_to = self._set_master(source, snapshot, grids, tabs, report)
        if written_to is None:
            return 0  # nothing written nor recorded: the next cycle renders it again
        version, written, exact = written_to
        with transaction(self.sessions) as s:
            states = self._states(s, source, MASTER_TABS)
            for tab, grid in grids.items():
                state = states.get(tab) or SheetState(source=source, tab=tab, snapshot={})
                if state.id is None:
                    s.add(state)
                kept = "order" if tab in ROW_TABS else "keys"
                written_keys = (state.snapshot or {}).get(kept)
                if stale(state, tab):
                    rows = grid[1:]
                    row_keys = [row_key(tab, row) for row in rows]
                    # A tab stale only now (another worker stored it meanwhile) has no
                    # order: the next cycle renders the master whole.
                    written_keys = orders.get(tab) if tab in ROW_TABS else keys_digest(row_keys)
                    if bases is None:  # the states moved meanwhile: loaded again
                        bases = row_bases(load_master(s))
                    save_whole(s, source, tab, row_keys, row_digests[tab][1:], bases.get(tab, {}))
                snap: dict[str, Any] = {"digest": digests[tab], "rows": len(grid) - 1}
                snap[kept] = written_keys
                if tab == "Conflicts":
                    snap |= {"resolutions": resolutions, "audit": audit, "team": team}
                    if errors:
                        snap["errors"] = errors
                self._master_state(state, version if exact else None, marker, snap)
        return written

    def _set_master(
        self,
        source: str,
        snapshot: SourceSnapshot,
        grids: dict[str, Grid],
        tabs: list[str],
        report: CycleReport,
    ) -> tuple[str | None, int, bool] | None:
        """Write the cells of these master tabs that differ from the master as read.

        Returns:
            (the master's version after, cells written, whether it holds exactly what was
            written), or None when the cycle stops before writing anything.
        """
        version = snapshot.version
        exact = True
        written = 0
        # Set as they are while nobody touched the master since it was read; a backend that
        # sets cells under the file's lock takes a tab at a time (a cold master's cells are
        # millions: one tab's are held at once), Google all at once (one write).
        groups = [[tab] for tab in tabs] if self.backend.sets_cells_atomically else [tabs]
        while groups:
            made = (
                cell
                for tab in groups[0]
                for cell in grid_cells(tab, snapshot.tabs.get(tab, []), grids[tab])
            )
            first = next(made, None)
            if first is None:
                del groups[0]
                continue
            if not written and self._stop_here(report):
                return None
            cells = CountedCells(itertools.chain([first], made))
            set_version = self.backend.set_cells(
                source,
                cells if self.backend.sets_cells_atomically else list(cells),
                version=version,
            )
            if set_version is None:
                break
            version, written = set_version, written + cells.count
            report.master_cells_written += cells.count
            del groups[0]
        if groups:  # the master moved since it was read: the rest compared cell by cell
            changes = [
                change
                for tab in (tab for group in groups for tab in group)
                for change in grid_changes(tab, snapshot.tabs.get(tab, []), grids[tab])
            ]
            result = self.backend.write(
                source, plan_grid_writes(changes), read_version=snapshot.version
            )
            written += result.applied
            report.master_cells_written += result.applied
            report.writes_skipped += len(result.skipped)
            version = result.version or version
            exact = not result.skipped and not result.concurrent
        return version, written, exact

    # -- init: a lost sheet rebuilt ----------------------------------------------------------

    def rebuild(self, agent_cfg: AgentConfig, snapshot: SourceSnapshot) -> CycleReport:
        """Write an agent's whole view into its sheet, read as ``snapshot`` with an empty
        Customers tab (``init`` made a lost workbook or tab anew).

        What the sheet held after the last sync is forgotten for its empty tabs, so that no
        row counts as removed; then the sheet is ingested and written back as a cycle does:
        every customer the agent tracks, and their follow-ups, are appended.
        """
        source = self.config.agent_source(agent_cfg)
        with transaction(self.sessions) as s:
            for state in self._states(s, source, tuple(AGENT_TABS)).values():
                grid = snapshot.tabs.get(state.tab) or []
                if count_rows(grid, AGENT_TABS[state.tab], self.options) == 0:
                    state.snapshot, state.version, state.marker = {}, None, None
                    forget_tab_rows(s, source, state.tab)
        report = CycleReport()
        run_id = self._start_run()
        planned = self._ingest(agent_cfg, run_id, report, set(), snapshot)
        with transaction(self.sessions) as s:
            marks = AgentMarks.load(s)
        self._write_back(agent_cfg, planned, run_id, report, marks)
        self._finish_run(run_id, report)
        return report


def _row_plan(
    row: RowAsRead, desired: Mapping[str, object], titles: dict[str, str], anchored: tuple[str, ...]
) -> RowPlan:
    """One row's plan: its desired values, its cells as read, and the cells (of ``anchored``
    fields, those the header has) that find the row again at write time."""
    raw = row.raw
    anchor = tuple((titles[k], raw.get(k)) for k in anchored if k in titles)
    return RowPlan(row.index, desired, raw, anchor, row.texts())


def _source_retrying(work: Callable[[], _T], source: str) -> _T:
    """One source's transaction through :func:`~sync.db.retrying`; still rolled back for
    its timing after the last attempt, the source fails this cycle (and is synced again
    the next, as after any failure) instead of the whole cycle."""
    try:
        return retrying(work, source)
    except DBAPIError as exc:
        if not transient(exc):
            raise
        raise SourceError(
            "the database rolled this sheet's changes back "
            f"{RETRY_ATTEMPTS} times ({type(exc.orig).__name__}: another worker was writing "
            "the same customers); nothing of it was applied, it is synced again next cycle",
            where=source,
        ) from None


def _of_customers(s: Session, query: Select, only: set[int] | None) -> list[Any]:
    """The query's rows, limited to the trackings of these customers (None: all of them)."""
    if only is None:
        return list(read(s, query).all())
    return rows_in(s, query, Tracking.customer_id, only)


def _threshold(state: SheetState | None, threshold: float) -> float:
    accepted = state is not None and (state.snapshot or {}).get("accept_removal")
    return float("inf") if accepted else threshold


def _layout(header: Header) -> dict[str, Any]:
    """Where an agent's Customers tab has its header and each field's column: what setting
    its rows without reading it needs (kept in the tab's state)."""
    return {"row": header.row, "columns": dict(header.columns)}


def _only(dirty: set[int] | None, numbers: Iterable[str]) -> Iterable[str] | None:
    """The numbers whose stored rows a write-back needs: the dirty rows' (None: all)."""
    return None if dirty is None else numbers


def _display_phone(e164: object) -> str:
    return format_phone(str(e164))
