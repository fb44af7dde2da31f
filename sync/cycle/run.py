"""One sync cycle over every agent source and the master workbook: the phases in order
(:mod:`.reading`, :mod:`.write_back`, :mod:`.to_master`), the run's record, and ``init``'s
rebuild of a lost sheet."""

from __future__ import annotations

import logging
from functools import partial

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sync import commission
from sync.cells import SourceSnapshot
from sync.collector import fewer_collections
from sync.config import AgentConfig
from sync.cycle.base import source_retrying
from sync.cycle.report import STALE_RUN, CycleReport
from sync.cycle.to_master import WriteMaster
from sync.cycle.write_back import WriteBack
from sync.db import (
    SHEET_TABLES,
    database_now,
    read_transaction,
    refresh_statistics,
    retrying,
    transaction,
)
from sync.errors import SourceError
from sync.fields import AGENT_TABS
from sync.ingest import AgentPlan
from sync.marks import AgentMarks, audit_position
from sync.model import Agent, SyncRun, utcnow
from sync.rows import count_rows
from sync.sheet_rows import forget_tab_rows

log = logging.getLogger("sheetsync")


class Cycle(WriteBack, WriteMaster):
    """Runs cycles for one configuration against one backend and one database."""

    @fewer_collections()
    def run(self) -> CycleReport:
        report = CycleReport()
        self._master_seen = None
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

    def _answer_checks_again(
        self,
        agents: list[AgentConfig],
        report: CycleReport,
        marks: AgentMarks,
        given_up: set[str],
    ) -> None:
        """Answer again the Check tabs a write-back of this cycle moved: a write-back may
        change the database (a sheet read after a merge no longer shows a tracking, which
        is archived), after the Check tabs of the agents before it were answered. Nothing
        but one query when no write-back did (an idle cycle)."""
        with read_transaction(self.sessions) as s:
            if audit_position(s) <= marks.audit_id:
                return
            later = AgentMarks.load(s)
        due = self._checks_due(later)
        for agent_cfg in agents:
            if agent_cfg.key in report.failures or agent_cfg.key in given_up:
                continue
            if self.config.agent_source(agent_cfg) not in due or self._stop_here(report):
                continue
            try:
                self._refresh_checks(agent_cfg, report, later)
            except SourceError as exc:
                self._fail(agent_cfg, exc, report)

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
                result = source_retrying(ingest, self.config.agent_source(agent_cfg))
            except SourceError as exc:
                self._fail(agent_cfg, exc, report)
                continue
            if result is not None:
                plans[agent_cfg.key] = result
            del result  # the last sheet read goes with the others, once written back

        report.conflicts_opened += retrying(lambda: self._settle(touched, run_id), "commission")
        # A cycle that filled the tables (the first one) has them analyzed before the views
        # and the master are read from them, and the sheets' rows it stored after.
        added = report.customers_created + report.trackings_added + report.follow_ups_created
        retrying(lambda: refresh_statistics(self.sessions, added), "statistics")
        with read_transaction(self.sessions) as s:
            marks = AgentMarks.load(s)
        checks_due = self._checks_due(marks)

        for agent_cfg in agents:
            if agent_cfg.key in report.failures or agent_cfg.key in given_up:
                continue
            if self._stop_here(report):
                break  # a sheet not written back is read (or written) again next cycle
            self.progress(f"write {agent_cfg.key}")
            try:
                # Each sheet as read is let go once written back: the master is rendered
                # without every agent's sheet in memory.
                planned = plans.pop(agent_cfg.key, None)
                self._write_back(agent_cfg, planned, run_id, report, marks, checks_due)
            except SourceError as exc:
                self._fail(agent_cfg, exc, report)
        plans.clear()  # sheets not written back (a stop): read again next cycle
        self._answer_checks_again(agents, report, marks, given_up)

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
                self._write_master(report, master_read, run_id)
        except SourceError as exc:
            report.failures["master"] = str(exc)
            report.warnings.append(str(exc))
        if agents_idle:
            self._drop_idle_run(run_id, report)
        else:
            self._record_counts(run_id, report)
            retrying(lambda: refresh_statistics(self.sessions, added, SHEET_TABLES), "statistics")
        return report

    def _settle(self, touched: set[int], run_id: int) -> int:
        """Settle the commission of the customers this cycle touched; returns the conflicts
        opened."""
        rule = self.config.sync.commission_rule
        with transaction(self.sessions) as s:
            # Completions a killed cycle ingested but did not settle are settled now.
            customers = touched | commission.unsettled(s, rule)
            return commission.settle(s, rule, customers, run_id) if customers else 0

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
            run.errors = report.run_errors()

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
            if run.errors != report.run_errors():
                run.status = "partial" if report.failures else "ok"
                run.errors = report.run_errors()

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
