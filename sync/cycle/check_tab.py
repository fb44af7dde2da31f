"""Phase 2, the Check tab: each row's answer (:mod:`sync.check`) written where it differs.

A sheet read this cycle gets its answers with the rest of its write-back
(:meth:`CheckAnswers._plan_checks`). An unchanged sheet is not read for them: its answers
as written are kept by phone in the tab's state, and only when the database changed since
(a newer audit event, another team) are they worked out again; only when one of them moved
is the sheet read and written (:meth:`CheckAnswers._refresh_checks`). Idle cycles do
neither.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.admin.delete import deleted_words
from sync.admin.identity import binding_maps, trackers_of
from sync.cells import CellWrite, Grid
from sync.check import CheckRow, Found, answer, read_rows, row_values
from sync.config import AgentConfig
from sync.cycle.reading import Reading
from sync.cycle.report import CycleReport
from sync.db import read_transaction, transaction
from sync.errors import LayoutError
from sync.fields import AGENT_TABS, CHECK_FIELDS, CHECK_FIELDS_BY_KEY, CHECK_TAB, YES
from sync.ingest import CheckPlan
from sync.marks import AgentMarks, team_digest
from sync.model import SheetState
from sync.rows import find_header
from sync.tab_state import TabSnapshot
from sync.views import CoTracker, RowPlan, plan_writes
from sync.words import Language

_ANSWERED = ("result", "tracked_by", "sync_notes")


class CheckAnswers(Reading):
    """The Check tab of phase 2 (see the module)."""

    def _plan_checks(
        self, s: Session, agent_id: int, plan: CheckPlan, grid: Grid
    ) -> tuple[list[CellWrite], dict[str, list[str]]]:
        """The writes of a Check tab as read (``grid``), and its answers by phone as kept."""
        phones = {r.phone for r in plan.rows if r.phone is not None}
        found = _found(s, agent_id, phones, plan.language)
        header = plan.header
        titles = header.titles
        anchor_title = titles["phone"]
        rows: list[RowPlan] = []
        checks: dict[str, list[str]] = {}
        for row in plan.rows:
            phone = row.phone or ""
            said = answer(row, found.get(phone), plan.asked.get(phone), plan.language)
            cells = grid[row.index]
            current = {
                key: cells[col] if col < len(cells) else None
                for key, col in header.columns.items()
                if key in _ANSWERED
            }
            at = header.columns["phone"]
            anchor = ((anchor_title, cells[at] if at < len(cells) else None),)
            rows.append(RowPlan(row.index, row_values(row, said), current, anchor))
            if row.typed and row.phone is not None:
                checks[row.phone] = [YES if row.add else "", *said.as_list()]
        writes = plan_writes(
            CHECK_TAB, header.row, CHECK_FIELDS_BY_KEY, titles, rows, language=plan.language
        )
        return writes, checks

    def _keep_checks(
        self,
        s: Session,
        source: str,
        agent_id: int,
        checks: dict[str, list[str]],
        marks: AgentMarks,
    ) -> None:
        """Store a Check tab's answers as written, with what they were worked out from."""
        state = self._states(s, source, (CHECK_TAB,)).get(CHECK_TAB)
        snap = state.tab_snapshot if state is not None else TabSnapshot()
        snap.checks = checks
        snap.audit = marks.audit_id if checks else None
        snap.team = team_digest(s) if checks else None
        self._keep_check_state(s, state, source, agent_id, snap)

    def _checks_due(self, marks: AgentMarks) -> set[str]:
        """The agent sources whose Check answers a change since they were written may have
        moved (a newer audit event, another team): one query for the team's Check tabs, so
        that an idle cycle asks nothing more."""
        with read_transaction(self.sessions) as s:
            states = s.execute(
                select(SheetState.source, SheetState.snapshot).where(SheetState.tab == CHECK_TAB)
            ).all()
            if not states:
                return set()
            team = team_digest(s)
        due = set()
        for source, data in states:
            snap = TabSnapshot.from_json(data)
            if snap.checks and (
                snap.audit is None or snap.audit < marks.audit_id or snap.team != team
            ):
                due.add(source)
        return due

    def _refresh_checks(
        self, agent_cfg: AgentConfig, report: CycleReport, marks: AgentMarks
    ) -> None:
        """Write the answers of an unchanged sheet's Check tab that a change elsewhere moved
        (a customer created, a colleague started or stopped tracking one)."""
        source = self.config.agent_source(agent_cfg)
        with read_transaction(self.sessions) as s:
            state = self._states(s, source, (CHECK_TAB,)).get(CHECK_TAB)
            if state is None:
                return
            snap = state.tab_snapshot
            if not snap.checks:
                return
            agent_id = state.agent_id or 0
            found = _found(s, agent_id, snap.checks, agent_cfg.language)
            language = agent_cfg.language
            moved = any(
                answer(
                    _asked_row(phone, kept), found.get(phone), snap.asked.get(phone), language
                ).as_list()
                != kept[1:]
                for phone, kept in snap.checks.items()
            )
        if not moved:
            with transaction(self.sessions) as s:
                self._keep_checks(s, source, agent_id, snap.checks, marks)
            return
        snapshot = self.backend.read(source)
        report.sources_read += 1
        grid = snapshot.tabs.get(CHECK_TAB)
        with read_transaction(self.sessions) as s:
            versions = self._versions(s, source, tuple(AGENT_TABS))
        if grid is None or any(version != snapshot.version for version, _ in versions.values()):
            return  # it changed since it was written: the next cycle ingests it
        try:
            header = find_header(
                grid, CHECK_FIELDS, required=("phone",), options=self.options, where=source
            )
        except LayoutError:
            return
        region = self.config.phones.default_region
        rows = read_rows(grid, header, self.options, region, language)
        plan = CheckPlan(header, rows, snap.asked, language)
        with read_transaction(self.sessions) as s:
            writes, checks = self._plan_checks(s, agent_id, plan, grid)
        version: str | None = snapshot.version
        if writes:
            result = self.backend.write(source, writes, read_version=snapshot.version)
            report.agent_cells_written += result.applied
            report.writes_skipped += len(result.skipped)
            exact = not result.skipped and not result.concurrent
            version = result.version if exact else None
        with transaction(self.sessions) as s:
            for tab_state in self._states(s, source, tuple(AGENT_TABS)).values():
                if tab_state.version == snapshot.version and tab_state.version != version:
                    tab_state.version = version
            self._keep_checks(s, source, agent_id, checks, marks)


def _asked_row(phone: str, kept: list[str]) -> CheckRow:
    """A Check row as its kept answer knows it (what a change elsewhere can move)."""
    return CheckRow(0, phone, phone, "", kept[0] == YES, (), True)


def _found(
    s: Session, agent_id: int, phones: Iterable[str], language: Language
) -> dict[str, Found]:
    """Phone -> what checking it shows: the customer's number and name, whether this agent
    tracks them, and the colleagues who do (names and since-dates only)."""
    phones = set(phones)
    if not phones:
        return {}  # a Check tab with no phone typed (most of them): nothing to ask
    maps = binding_maps(s, (), phones)  # a merged customer's phone means the one it went into
    customers = {phone: maps.known[known.number] for phone, known in maps.by_phone.items()}
    trackers = trackers_of(s, (c.id for c in customers.values()))

    def colleagues(customer_id: int) -> tuple[CoTracker, ...]:
        found = trackers.get(customer_id, [])
        return tuple(CoTracker(t.name, t.since.date()) for t in found if t.agent_id != agent_id)

    return {
        phone: Found(
            c.number,
            c.name or "",
            any(t.agent_id == agent_id for t in trackers.get(c.id, [])),
            colleagues(c.id),
            deleted_words(c.deleted_at, c.delete_reason, language) if c.deleted_at else None,
        )
        for phone, c in customers.items()
    }
