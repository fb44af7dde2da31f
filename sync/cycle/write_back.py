"""Phase 2: every agent view that differs from what the sheet holds is written back.

The rows stored as last written tell without reading; an unchanged sheet's dirty rows
are set where they are (:mod:`sync.sheet_rows`); an agent whose rows are not dirty is not
rendered (:mod:`sync.marks`); in an edited sheet, the rows that show what the last cycle
left and whose customers did not change are not rendered either (:meth:`WriteBack._left_alone`).

One module at this size because phase 2's steps (which agents to render, their dirty rows
rendered from SQL, the cells planned against what was read or last written, the rows' state
saved) hand the same plans to one another.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from functools import partial
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased

from sync.admin.delete import removed_note
from sync.cells import CellValue, CellWrite, Grid, SourceSnapshot, cell_text
from sync.config import AgentConfig
from sync.cycle.base import source_retrying
from sync.cycle.check_tab import CheckAnswers
from sync.cycle.report import CycleReport
from sync.db import InQuery, read, read_transaction, rows_in, rows_of, transaction
from sync.dedupe import format_phone, value_text
from sync.errors import LayoutError
from sync.fields import (
    AGENT_KEYS,
    AGENT_TABS,
    CHECK_TAB,
    CUSTOMER_FIELDS,
    CUSTOMERS_TAB,
    FIELDS_BY_KEY,
    FOLLOW_UP_FIELDS_BY_KEY,
    FOLLOW_UP_KEYS,
    FOLLOW_UPS_TAB,
    SHARED_KEYS,
)
from sync.ingest import AgentPlan, RowAsRead, TabPlan
from sync.long_text import shows_cut_of
from sync.marks import AgentMarks
from sync.model import Agent, Conflict, Customer, FollowUp, SheetState, Tracking, utcnow
from sync.rows import Header, ParsedRow, find_header, parse_rows
from sync.sheet_rows import TabRows, forget_places, load_tab_rows, save_tab_rows, shown_digest
from sync.tab_state import Layout, TabSnapshot
from sync.views import (
    AgentRow,
    CoTracker,
    RowPlan,
    cell_in,
    plan_writes,
    proposal_notes,
    render_agent_row,
    render_new_agent_row,
)
from sync.words import Language, say

log = logging.getLogger("sheetsync")


class WriteBack(CheckAnswers):
    """Phase 2 of a cycle (see the module)."""

    def _write_back(
        self,
        agent_cfg: AgentConfig,
        planned: tuple[SourceSnapshot, AgentPlan] | None,
        run_id: int,
        report: CycleReport,
        marks: AgentMarks,
        checks_due: Collection[str] = (),
    ) -> None:
        """Write what the database wants into one agent's sheet (:meth:`_write_view`); the
        Check tab of a sheet not ingested is answered afresh only when a change moved an
        answer (:meth:`_refresh_checks`).

        Args:
            checks_due: the sources whose Check answers may have moved
                (:meth:`_checks_due`, asked once per cycle).
        """
        answered = self._write_view(agent_cfg, planned, run_id, report, marks)
        if not answered and self.config.agent_source(agent_cfg) in checks_due:
            self._refresh_checks(agent_cfg, report, marks)

    def _write_view(
        self,
        agent_cfg: AgentConfig,
        planned: tuple[SourceSnapshot, AgentPlan] | None,
        run_id: int,
        report: CycleReport,
        marks: AgentMarks,
    ) -> bool:
        """Write what the database wants into one agent's sheet; returns whether its Check
        tab was answered with it (the sheet was ingested).

        Args:
            planned: the sheet as read and ingested this cycle; None when it did not change.
            marks: what each agent's view is made of, before this write-back. An
                unchanged sheet whose last exact write saw the same is left alone unread.
        """
        source = self.config.agent_source(agent_cfg)
        language = agent_cfg.language
        with read_transaction(self.sessions) as s:
            agent_id = marks.ids.get(agent_cfg.key)  # an agent's id never changes
            if agent_id is None:
                found = s.execute(select(Agent.id).where(Agent.key == agent_cfg.key))
                agent_id = found.scalar_one()
            marker = marks.marker(agent_id)
            dirty: set[int] | None = None  # the customers whose rows may have changed; None: all
            if planned is None:
                versions = self._versions(s, source, tuple(AGENT_TABS))
                if len(versions) == len(AGENT_TABS) and all(
                    v is not None for v, _ in versions.values()
                ):
                    dirty = marks.dirty_customers(s, agent_id, versions[CUSTOMERS_TAB][1])
                    if dirty is not None and not dirty:
                        return False  # nothing the view is made of changed since it was written
        with read_transaction(self.sessions) as s:
            agent = s.get_one(Agent, agent_id)
            view = self._agent_rows(s, agent, dirty, language)
            follow_ups = self._agent_follow_ups(s, agent, dirty)
            report.views_rendered += 1
            states = self._states(s, source, tuple(AGENT_TABS))
            # The rows as last written: of the dirty customers alone, when those are known.
            stored = {
                CUSTOMERS_TAB: load_tab_rows(s, source, CUSTOMERS_TAB, _only(dirty, view)),
                FOLLOW_UPS_TAB: load_tab_rows(s, source, FOLLOW_UPS_TAB, _only(dirty, follow_ups)),
            }
            left = self._left_alone(s, agent.id, planned, states.get(CUSTOMERS_TAB), marks)
            left &= set(view)  # a row whose tracking went meanwhile is rendered (a note)
        patched: tuple[SourceSnapshot, list[CellWrite], dict[str, TabRows]] | None = None
        if planned is None:
            if not self._view_moved(view, follow_ups, states, stored):
                with transaction(self.sessions) as s:
                    customers = self._states(s, source, (CUSTOMERS_TAB,)).get(CUSTOMERS_TAB)
                    if customers is not None and customers.version is not None:
                        customers.marker = marker
                return False
            read: SourceSnapshot | None = None
            if dirty is not None:
                unread = self._set_dirty_rows(source, view, follow_ups, states, stored, language)
                if unread is not None:
                    new_version, cells, snap = unread
                    report.agent_cells_written += cells
                    self._save_view(
                        source,
                        agent_cfg,
                        marker,
                        new_version,
                        {CUSTOMERS_TAB: snap},
                        set(view),
                        set(),
                    )
                    return False
                read = self.backend.read(source)
                report.sources_read += 1
                patched = self._plan_dirty_rows(read, view, follow_ups, states, stored, language)
            if patched is None:
                report.agents_unchanged -= 1  # ingested after all: counted once, as synced
                ingest = partial(self._ingest, agent_cfg, run_id, report, set(), read)
                planned = source_retrying(ingest, source)
                with read_transaction(self.sessions) as s:
                    agent = s.execute(select(Agent).where(Agent.key == agent_cfg.key)).scalar_one()
                    view = self._agent_rows(s, agent, None, language)
                    follow_ups = self._agent_follow_ups(s, agent)
                    stored = {tab: load_tab_rows(s, source, tab) for tab in AGENT_TABS}
                report.views_rendered += 1
        writes: list[CellWrite] = []
        new_rows: dict[str, TabRows] = {}
        checks: dict[str, list[str]] | None = None
        if patched is not None:
            snapshot, writes, new_rows = patched
        else:
            assert planned is not None
            snapshot, plan = planned
            if plan.customers.header is not None:
                w, new_rows[CUSTOMERS_TAB] = self._plan_customers(
                    plan.customers,
                    snapshot.tabs[CUSTOMERS_TAB],
                    view,
                    stored[CUSTOMERS_TAB],
                    (left, plan.check.added if plan.check is not None else set()),
                    language,
                )
                writes += w
            else:
                left = set()
            if plan.follow_ups.header is not None:
                w, new_rows[FOLLOW_UPS_TAB] = self._plan_follow_ups(
                    plan.follow_ups, follow_ups, stored[FOLLOW_UPS_TAB], language
                )
                writes += w
            checks = {}
            if plan.check is not None:
                with read_transaction(self.sessions) as s:
                    w, checks = self._plan_checks(s, agent_id, plan.check, snapshot.tabs[CHECK_TAB])
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
            left if patched is None else set(),
        )
        if checks is None:
            return False
        with transaction(self.sessions) as s:
            self._keep_checks(s, source, agent_id, checks, marks)
        return True

    def _left_alone(
        self,
        s: Session,
        agent_id: int,
        planned: tuple[SourceSnapshot, AgentPlan] | None,
        state: SheetState | None,
        marks: AgentMarks,
    ) -> set[str]:
        """The numbers of an edited sheet's rows that show what the last cycle left
        (``TabPlan.unchanged``) and whose customers nothing changed since: those rows are
        not rendered, written or stored again.

        None of them when what changed since is not known customer by customer. (A tab
        whose places were forgotten has no unchanged rows: its read parsed them all.)
        """
        if planned is None or not planned[1].customers.unchanged or state is None:
            return set()
        changed = marks.dirty_customers(s, agent_id, state.marker)
        if changed is None:
            return set()
        numbers = set(planned[1].customers.unchanged.values())
        if changed:
            query = select(Customer.id, Customer.number)
            numbers -= {number for _, number in rows_in(s, query, Customer.id, changed)}
        return numbers

    def _save_view(
        self,
        source: str,
        agent_cfg: AgentConfig,
        marker: str | None,
        version: str | None,
        new_rows: dict[str, TabRows],
        only: set[str] | None,
        left: set[str],
    ) -> None:
        """Record what an agent's sheet holds after its write-back.

        Args:
            marker, version: the view's marker and the workbook's version when the sheet
                holds exactly what was written (None when a write was skipped).
            new_rows: per tab, its rows as written (tabs not planned keep theirs).
            only: these numbers' rows alone were re-rendered (None: the tabs whole).
            left: the numbers of the Customers rows left alone (:meth:`_left_alone`):
                their stored rows stay as they are.
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
                changed = save_tab_rows(
                    s, source, tab, new_rows[tab], only, left if tab == CUSTOMERS_TAB else ()
                )
                layout = new_rows[tab].layout
                kept = state.tab_snapshot if only is not None else TabSnapshot()
                if layout is not None:
                    kept.layout = layout
                if state.keep_snapshot(kept):
                    changed += 1
                if changed:
                    state.synced_at = utcnow()

    def _agent_rows(
        self, s: Session, agent: Agent, only: set[int] | None = None, language: Language = "en"
    ) -> dict[str, AgentRow]:
        """Everything this agent may see, per customer number — nothing of other agents'
        tracking except their name and since-date.

        Args:
            only: these customers' rows alone (the ones a change dirtied); None: all.
            language: the agent's sheet's (what "Also tracked by" is written in).
        """
        # Columns, not ORM objects, taken by position: a view is thousands of rows, read
        # once and rendered (a RowMapping lookup per field cost as much as the query).
        shared_at = slice(3, 3 + len(SHARED_KEYS))
        tracking_at = slice(shared_at.stop, shared_at.stop + len(AGENT_KEYS))
        agent_id = {"agent": agent.id}
        mine = [tuple(row) for row in _of_customers(s, _AGENT_ROWS, only, agent_id)]
        co: dict[int, list[CoTracker]] = defaultdict(list)
        # A whole view's colleagues through a join with the agent's trackings, not with
        # their thousands of customer ids sent back to the database.
        trackers = (
            read(s, _ALL_CO_TRACKERS, agent_id)
            if only is None
            else rows_of(s, _CO_TRACKERS, [m[0] for m in mine], agent_id)
        )
        for tracked, name, since in trackers:
            co[tracked].append(CoTracker(name, since.date()))
        # The agent's own open proposals, and the open completion races: columns only, not
        # ORM objects (a team has thousands of open conflicts; a view needs a few).
        pending: dict[int, set[str]] = defaultdict(set)
        proposals: dict[int, dict[str, str]] = defaultdict(dict)
        # (of the customers rendered, when they are a few: a team has thousands open)
        for customer_id, key, proposed in _of_customers(s, _OWN_PROPOSALS, only, agent_id):
            if key:
                pending[customer_id or 0].add(key)
                proposals[customer_id or 0][key] = proposed or ""
        races = {row[0] for row in _of_customers(s, _OPEN_RACES, only)}
        rows = {}
        for m in mine:
            customer_id, number, commission_pct = m[:3]
            shared = dict(zip(SHARED_KEYS, m[shared_at], strict=True))
            tracking = dict(zip(AGENT_KEYS, m[tracking_at], strict=True))
            lost, deleted_at, delete_reason = m[-3:]
            notes = []
            if lost:
                notes.append(say("lost_to_colleague", language))
            if customer_id in races and tracking["status"] == "Completed":
                notes.append(say("completion_race", language))
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
                removed=removed_note(deleted_at, delete_reason, language) if deleted_at else None,
                language=language,
            )
        return rows

    def _agent_follow_ups(
        self, s: Session, agent: Agent, only: set[int] | None = None
    ) -> dict[str, dict[str, object]]:
        follow_ups = _of_customers(s, _AGENT_FOLLOW_UPS, only, {"agent": agent.id})
        return {
            number: {
                "follow_up_number": number,
                "customer_number": customer_number,
                "phone": phone,
                **dict(zip(FOLLOW_UP_KEYS, rest, strict=True)),
            }
            for number, customer_number, phone, *rest in follow_ups
        }

    def _view_moved(
        self,
        view: dict[str, AgentRow],
        follow_ups: dict[str, dict[str, object]],
        states: dict[str, SheetState],
        stored: dict[str, TabRows],
    ) -> bool:
        """Whether the database now wants something the sheet (as last written, ``stored``)
        doesn't show."""
        if len(states) < len(AGENT_TABS) or any(st.version is None for st in states.values()):
            return True
        snap = stored[CUSTOMERS_TAB]
        rows, notes, leave = snap.rows, snap.notes, snap.leave
        if set(view) - set(rows):
            return True  # a tracking the sheet doesn't have yet
        for number, row in view.items():
            desired = render_agent_row(row, notes.get(number, []))
            for key, value in desired.items():
                if key not in leave.get(number, []) and rows[number].get(key, "") != value_text(
                    value
                ):
                    return True
        return bool(set(follow_ups) - set(stored[FOLLOW_UPS_TAB].rows))

    def _set_dirty_rows(
        self,
        source: str,
        view: dict[str, AgentRow],
        follow_ups: dict[str, dict[str, object]],
        states: dict[str, SheetState],
        stored: dict[str, TabRows],
        language: Language,
    ) -> tuple[str, int, TabRows] | None:
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
        layout = states[CUSTOMERS_TAB].tab_snapshot.layout
        version = states[CUSTOMERS_TAB].version
        if (
            not self.backend.sets_cells_atomically  # by position, only under the file's lock
            or layout is None
            or version is None
            or len(states) < len(AGENT_TABS)
            or any(st.version != version for st in states.values())
            or set(follow_ups) - set(stored[FOLLOW_UPS_TAB].rows)
            or any(number not in snap.at for number in view)
        ):
            return None
        columns = layout.columns
        rows = dict(snap.rows)
        cells: list[tuple[str, int, int, CellValue]] = []
        for number, agent_row in sorted(view.items()):
            kept = set(snap.leave.get(number, []))
            base = rows[number]
            final = dict(base)
            for key, value in render_agent_row(agent_row, snap.notes.get(number, [])).items():
                if key in kept:
                    continue
                now, wanted = base.get(key, ""), value_text(value)
                final[key] = wanted
                if now == wanted or shows_cut_of(now, wanted):
                    continue
                if key not in columns:
                    return None  # a column the sheet lacks: the write appends it
                cell = cell_in(FIELDS_BY_KEY[key], value, language)
                cells.append((CUSTOMERS_TAB, snap.at[number], columns[key], cell))
            rows[number] = final
        new_version = self.backend.set_cells(source, cells, version=version)
        if new_version is None:
            return None
        # What these rows show is not known cell by cell: the next read parses them.
        shown = {n: d for n, d in snap.shown.items() if n not in view}
        return new_version, len(cells), dataclasses.replace(snap, rows=rows, shown=shown)

    def _plan_dirty_rows(
        self,
        snapshot: SourceSnapshot,
        view: dict[str, AgentRow],
        follow_ups: dict[str, dict[str, object]],
        states: dict[str, SheetState],
        stored: dict[str, TabRows],
        language: Language,
    ) -> tuple[SourceSnapshot, list[CellWrite], dict[str, TabRows]] | None:
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
        if set(follow_ups) - set(stored[FOLLOW_UPS_TAB].rows):
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
        base_rows, notes, leave = snap.rows, snap.notes, snap.leave
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
        at = dict(snap.at)
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
        writes = plan_writes(
            CUSTOMERS_TAB, header.row, FIELDS_BY_KEY, titles, row_plans, language=language
        )
        shown = dict(snap.shown)
        shown.update(_shown(row_plans, writes, titles, {n: at[n] for n in view}))
        return (
            snapshot,
            writes,
            {
                CUSTOMERS_TAB: dataclasses.replace(
                    snap, rows=snap_rows, at=at, shown=shown, layout=_layout(header)
                )
            },
        )

    def _plan_customers(
        self,
        plan: TabPlan,
        grid: Grid,
        view: dict[str, AgentRow],
        stored: TabRows,
        numbers: tuple[set[str], set[str]],
        language: Language,
    ) -> tuple[list[CellWrite], TabRows]:
        """The writes and the rows as written of an ingested Customers tab.

        Args:
            grid: the tab as read; its unchanged rows (``plan.unchanged``) are parsed
                here, unless ``left`` alone.
            numbers: ``left``, the numbers of unchanged rows not to render
                (:meth:`_left_alone`), and ``added``, those of the customers the Check
                tab added in this read (their rows are appended, whether or not the
                sheet showed them before).
        """
        left, added = numbers
        header = plan.header
        assert header is not None
        titles = header.titles
        as_read = plan.as_read
        render = [i for i, n in plan.unchanged.items() if n not in left]
        if render:
            parsed = parse_rows(grid, header, CUSTOMER_FIELDS, self.options, render)
            as_read = [*as_read, *(RowAsRead(r, grid[r.index], header.columns) for r in parsed)]
            as_read.sort(key=lambda r: r.index)
        base_rows = stored.rows
        row_plans: list[RowPlan] = []
        snap_rows: dict[str, dict[str, str]] = {}
        snap_notes: dict[str, list[str]] = {}
        snap_leave: dict[str, list[str]] = {}
        snap_at: dict[str, int] = {}
        present: set[str] = set(left)
        for row in as_read:
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
            if n not in present and (n not in base_rows or n in added) and row.removed is None
        ]
        for n, values in appended:
            number = n.removeprefix("new:")
            snap_rows[number] = {k: value_text(v) for k, v in values.items()}
            if notes := proposal_notes(view[number]):  # as if the agent had typed them
                snap_notes[number] = notes
                snap_leave[number] = sorted(view[number].proposals)
        writes = plan_writes(
            CUSTOMERS_TAB, header.row, FIELDS_BY_KEY, titles, row_plans, appended, language
        )
        return writes, TabRows(
            snap_rows,
            snap_notes,
            snap_leave,
            snap_at,
            _shown(row_plans, writes, titles, snap_at),
            _layout(header),
        )

    def _plan_follow_ups(
        self,
        plan: TabPlan,
        follow_ups: dict[str, dict[str, object]],
        stored: TabRows,
        language: Language,
    ) -> tuple[list[CellWrite], TabRows]:
        header = plan.header
        assert header is not None
        titles = header.titles
        base_rows = stored.rows
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
            language,
        )
        return writes, TabRows(rows=snap_rows, at=snap_at)


def _row_plan(
    row: RowAsRead, desired: Mapping[str, object], titles: dict[str, str], anchored: tuple[str, ...]
) -> RowPlan:
    """One row's plan: its desired values, its cells as read, and the cells (of ``anchored``
    fields, those the header has) that find the row again at write time."""
    raw = row.raw
    anchor = tuple((titles[k], raw.get(k)) for k in anchored if k in titles)
    return RowPlan(row.index, desired, raw, anchor, row.texts())


def _shown(
    row_plans: list[RowPlan],
    writes: list[CellWrite],
    titles: Mapping[str, str],
    at: Mapping[str, int],
) -> dict[str, str]:
    """Number -> what each planned row shows once the writes land (its cells as read,
    those written replaced): the digest its next read is compared with."""
    by_index = {index: number for number, index in at.items()}
    keys = {titles.get(key) or field.header: key for key, field in FIELDS_BY_KEY.items()}
    written: dict[int, dict[str, CellValue]] = defaultdict(dict)
    for write in writes:
        if write.row is not None and write.column in keys:
            written[write.row][keys[write.column]] = write.new
    return {
        by_index[plan.index]: shown_digest({**plan.current, **written.get(plan.index, {})})
        for plan in row_plans
        if plan.index in by_index
    }


def _of_customers(
    s: Session, query: InQuery, only: set[int] | None, params: dict[str, Any] | None = None
) -> list[Any]:
    """The query's rows, limited to these customers' (None: all of them)."""
    if only is None:
        return list(read(s, query.query, params).all())
    return rows_of(s, query, only, params)


# What an agent's view is made of, built once (see sync.db.InQuery); the agent is the
# parameter ``agent``, the customers (when a few are rendered) the column's values.
_AGENT: Any = bindparam("agent")
_AGENT_ROWS = InQuery(
    select(
        Customer.id,
        Customer.number,
        Tracking.commission_pct,
        *(getattr(Customer, k) for k in SHARED_KEYS),
        *(getattr(Tracking, k) for k in AGENT_KEYS),
        Tracking.lost_to_colleague,
        Customer.deleted_at,
        Customer.delete_reason,
    )
    .join(Customer, Customer.id == Tracking.customer_id)
    .where(Tracking.agent_id == _AGENT, Tracking.active.is_(True)),
    Tracking.customer_id,
)
_CO_TRACKERS = InQuery(
    select(Tracking.customer_id, Agent.name, Tracking.tracked_since)
    .join(Agent, Agent.id == Tracking.agent_id)
    .where(Tracking.agent_id != _AGENT, Tracking.active.is_(True))
    .order_by(Tracking.id),  # within a query: a customer's rows are all in one
    Tracking.customer_id,
)
# The colleagues of every customer the agent tracks (a whole view).
_OWN = aliased(Tracking)
_ALL_CO_TRACKERS = _CO_TRACKERS.query.join(_OWN, _OWN.customer_id == Tracking.customer_id).where(
    _OWN.agent_id == _AGENT, _OWN.active.is_(True)
)
_OWN_PROPOSALS = InQuery(
    select(Conflict.customer_id, Conflict.field, Conflict.proposed_value).where(
        Conflict.status == "open", Conflict.kind == "shared_field", Conflict.agent_id == _AGENT
    ),
    Conflict.customer_id,
)
_OPEN_RACES = InQuery(
    select(Conflict.customer_id).where(
        Conflict.status == "open", Conflict.kind == "completion_race"
    ),
    Conflict.customer_id,
)
_AGENT_FOLLOW_UPS = InQuery(
    select(
        FollowUp.number,
        Customer.number,
        Customer.phone,
        *(getattr(FollowUp, k) for k in FOLLOW_UP_KEYS),
    )
    .join(Tracking, Tracking.id == FollowUp.tracking_id)
    .join(Customer, Customer.id == Tracking.customer_id)
    .where(Tracking.agent_id == _AGENT, Tracking.active.is_(True), FollowUp.active.is_(True)),
    Tracking.customer_id,
)


def _layout(header: Header) -> Layout:
    """Where an agent's Customers tab has its header and each field's column (kept in the
    tab's state)."""
    return Layout(header.row, dict(header.columns))


def _only(dirty: set[int] | None, numbers: Iterable[str]) -> Iterable[str] | None:
    """The numbers whose stored rows a write-back needs: the dirty rows' (None: all)."""
    return None if dirty is None else numbers


def _display_phone(e164: object) -> str:
    return format_phone(str(e164))
