"""Phase 1: an agent source whose fingerprint moved is read and ingested (one transaction
per agent, :class:`sync.ingest.Ingest`)."""

from __future__ import annotations

from sqlalchemy import select

from sync.cells import SourceSnapshot
from sync.config import AgentConfig
from sync.cycle.base import CycleBase
from sync.cycle.report import CycleReport
from sync.db import transaction
from sync.errors import SourceError
from sync.fields import AGENT_TABS, CHECK_TAB, CUSTOMERS_TAB, FOLLOW_UPS_TAB
from sync.ingest import AgentPlan, Ingest
from sync.model import Agent, SheetState
from sync.sheet_rows import load_tab_rows
from sync.tab_state import TabSnapshot


class Reading(CycleBase):
    """Phase 1 of a cycle (see the module)."""

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
            states = self._states(s, source, (*AGENT_TABS, CHECK_TAB))
            ingest = Ingest(
                s,
                agent,
                source=source,
                options=self.options,
                default_region=self.config.phones.default_region,
                mass_removal_threshold=self.config.sync.mass_removal_threshold,
                mass_removal_min_rows=self.config.sync.mass_removal_min_rows,
                run_id=run_id,
                today=self.today(),
                language=agent_cfg.language,
            )
            # An admin accepted a mass removal (sync.admin.resolve): apply it this once.
            threshold = ingest.threshold
            ingest.threshold = _threshold(states.get(CUSTOMERS_TAB), threshold)
            stored = load_tab_rows(s, source, CUSTOMERS_TAB)
            state = states.get(CUSTOMERS_TAB)
            if state is None or state.tab_snapshot.layout is None:
                stored.shown = {}  # its rows may not be where they were: parse them all
            customers = ingest.customers(snapshot.tabs.get(CUSTOMERS_TAB), stored)
            s.flush()
            ingest.threshold = _threshold(states.get(FOLLOW_UPS_TAB), threshold)
            follow_ups = ingest.follow_ups(
                snapshot.tabs.get(FOLLOW_UPS_TAB), load_tab_rows(s, source, FOLLOW_UPS_TAB).rows
            )
            ingest.threshold = threshold
            check_state = states.get(CHECK_TAB)
            snap = _snapshot(check_state)
            check = ingest.check(
                snapshot.tabs.get(CHECK_TAB), snap.asked, customers, agent_cfg.language
            )
            if check is not None:
                # The yes acted on are kept in the transaction that acted on them.
                snap.asked = check.asked
                self._keep_check_state(s, check_state, source, agent.id, snap)
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
        return snapshot, AgentPlan(customers, follow_ups, check)


def _threshold(state: SheetState | None, threshold: float) -> float:
    accepted = state is not None and state.tab_snapshot.accept_removal
    return float("inf") if accepted else threshold


def _snapshot(state: SheetState | None) -> TabSnapshot:
    return state.tab_snapshot if state is not None else TabSnapshot()
