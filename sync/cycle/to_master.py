"""Phase 3: what the admin typed in the master is applied first, and the master is
rendered again, row by row while nobody edited it (:mod:`sync.master_update`), or whole."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from sync.admin.core import Admin
from sync.admin.from_master import MasterEdits, apply_master
from sync.cells import Grid, SourceSnapshot
from sync.cycle.base import CycleBase
from sync.cycle.report import CycleReport
from sync.db import read_transaction, retrying, transaction
from sync.errors import SourceError
from sync.marks import audit_position, database_marker, team_digest
from sync.master import conflicts_source, load_master, render_master, stored_bases
from sync.master_layout import (
    DUE_TAB,
    MASTER_HEADERS,
    MASTER_TABS,
    ROW_TABS,
    master_layout,
    read_resolutions,
    row_key,
)
from sync.master_update import plan_update
from sync.model import SheetState, utcnow
from sync.row_order import written_orders
from sync.sheet_rows import (
    grid_digest,
    keys_digest,
    load_bases,
    row_digest,
    save_changed,
    save_moved,
    save_whole,
    tab_digest,
)
from sync.sheets import CountedCells, find_tab
from sync.tab_state import TabSnapshot
from sync.views import grid_cells, grid_changes, plan_grid_writes

log = logging.getLogger("sheetsync")


class WriteMaster(CycleBase):
    """Phase 3 of a cycle (see the module)."""

    _master_seen: tuple[str | None] | None = None  # the master's fingerprint, this cycle

    def _master_fingerprint(self, source: str) -> str | None:
        """The master's fingerprint, taken once a cycle (a big team's workbook is read and
        hashed for it: 20 MB at 50 agents x 2,000 rows, twice a cycle before). What changes
        the master after that is found by the write's compare-and-set, or by the next
        cycle's look, as what changes it after any look is; a write of this cycle forgets it.
        """
        if self._master_seen is None:
            self._master_seen = (self.backend.fingerprint(source),)
        return self._master_seen[0]

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
        if not versions:
            return None  # never written: nothing an admin could have edited yet
        # (A tab a newer sheetsync added has no state yet: what the admin typed in the
        # others is read all the same, before the whole render that sets it up.)
        version = self._master_fingerprint(source)
        if version is None or all(v == version for v, _ in versions.values()):
            return None
        snapshot = self.backend.read(source)
        report.sources_read += 1
        return snapshot, self._apply_edits(snapshot, run_id, report, touched)

    def _apply_edits(
        self, snapshot: SourceSnapshot, run_id: int, report: CycleReport, touched: set[int]
    ) -> dict[str, str]:
        """Apply what the admin typed in the master as read; returns, per conflict ID, why
        its resolution was not applied."""
        source = self.config.master_source()

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
        report.refused.update(edits.refused)
        report.warnings += edits.warnings
        for line in edits.applied:
            log.info("master: %s", line)
        return edits.errors

    def _master_bases(
        self, s: Session, source: str, states: dict[str, SheetState]
    ) -> dict[str, dict[str, Any]]:
        """What the admin may edit in the master, as last written, for ``apply_master``
        (kept by row; a master written by an earlier version kept it in the snapshots)."""
        legacy = {tab: st.tab_snapshot.other for tab, st in states.items()}
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
            marker = database_marker(s, exclude_run=run_id, runs=True, zone=self.master_look)
        if len(versions) < len(MASTER_TABS):
            return True
        version = self._master_fingerprint(source)
        if version is None:
            raise SourceError("master workbook not found; run `sheetsync init`", where=source)
        if all(v == version for v, _ in versions.values()) and versions["Conflicts"][1] == marker:
            # The workbook is as written and nothing it shows changed since, unless the day
            # did: what is due moved (brought up to date row by row, without a whole render).
            return versions[DUE_TAB][1] != self.today().isoformat()
        with read_transaction(self.sessions) as s:
            states = self._states(s, source, MASTER_TABS)
            stored = states["Conflicts"].tab_snapshot
            rendered_from = database_marker(s, exclude_run=run_id, runs=True, zone=self.master_look)
            data = load_master(
                s, zone=self.zone_name, today=self.today(), language=self.master_language
            )
        report.master_rendered += 1
        grids, _ = render_master(data, stored.resolutions, stored.errors)
        stale = not all(
            st.version == version and st.tab_snapshot.digest == grid_digest(grids[st.tab])
            for st in states.values()
        )
        if not stale:
            # What changed shows nowhere in the master: it is what this data renders. Its
            # marker says so from now on, or every idle cycle would render it whole again
            # (at 50 agents x 2,000 rows, 15 s each).
            retrying(
                lambda: self._keep_master_marker(source, versions["Conflicts"][1], rendered_from),
                "master",
            )
        return stale

    def _keep_master_marker(self, source: str, was: str | None, marker: str) -> None:
        """Store ``marker`` as what the master was rendered from, unless another cycle
        wrote the master since its marker was ``was``."""
        with transaction(self.sessions) as s:
            s.execute(
                update(SheetState)
                .where(
                    SheetState.source == source,
                    SheetState.tab == "Conflicts",
                    SheetState.marker == was,
                )
                .values(marker=marker)
            )

    def _write_master(
        self,
        report: CycleReport,
        read: tuple[SourceSnapshot, dict[str, str]] | None,
        run_id: int,
    ) -> int:
        """Bring the master workbook up to date; returns the cells written.

        Row by row when it is as the last cycle wrote it (:mod:`sync.master_update`),
        else rendered whole, read and diffed.

        Args:
            read: the master as read at the start of this cycle, and the reasons
                resolutions typed there were not applied (then it is not read again).
            run_id: this cycle's run (what an admin typed meanwhile is applied in it).
        """
        written = self._update_master_rows(report, read)
        if written is not None:
            return written
        return self._write_whole_master(report, read, run_id)

    def _update_master_rows(
        self, report: CycleReport, read: tuple[SourceSnapshot, dict[str, str]] | None = None
    ) -> int | None:
        """Set the cells of the master's changed rows (and of the rows an admin typed over,
        when ``read``: see :func:`~sync.master_update.plan_update`); None when it must be
        rendered whole."""
        source = self.config.master_source()
        version = self._master_fingerprint(source)
        if version is None:
            raise SourceError("master workbook not found; run `sheetsync init`", where=source)
        with read_transaction(self.sessions) as s:
            states = self._states(s, source, MASTER_TABS)
            day = self.today()
            plan = plan_update(
                s, source, states, version, (self.zone_name, self.master_language), day, read
            )
        if plan is None:
            return None
        report.master_rendered += 1
        new_version: str | None = version
        if (plan.cells or plan.moves) and self._stop_here(report):
            return 0  # nothing written nor recorded: the next cycle renders it again
        if plan.cells or plan.moves:
            self._master_seen = None
            new_version = self.backend.set_cells(
                source, plan.cells, version=version, moves=plan.moves
            )
            if new_version is None:
                return None  # changed meanwhile: read and diff it instead
        with transaction(self.sessions) as s:
            states = self._states(s, source, MASTER_TABS)
            for tab in MASTER_TABS:
                if tab in plan.origins:
                    save_moved(s, source, tab, plan.origins[tab], plan.changes[tab])
                else:
                    save_changed(
                        s, source, tab, plan.before[tab], plan.changes[tab], plan.lengths[tab]
                    )
                snap = dataclasses.replace(plan.snapshot) if tab == "Conflicts" else TabSnapshot()
                snap.digest, snap.rows = plan.digests[tab], plan.lengths[tab]
                if tab in ROW_TABS:
                    snap.order = plan.orders[tab]
                else:
                    snap.keys = plan.keys[tab]
                self._master_state(states[tab], new_version, plan.marker, snap, day)
        report.master_cells_written += len(plan.cells)
        return len(plan.cells)

    def _master_state(
        self,
        state: SheetState,
        version: str | None,
        marker: str | None,
        snap: TabSnapshot,
        day: dt.date,
    ) -> None:
        """Record what a master tab now holds: the database's marker is kept on the Conflicts
        tab, the day the master counted due follow-ups up to on the Due by agent tab."""
        new_marker = marker if state.tab == "Conflicts" and version is not None else None
        if state.tab == DUE_TAB and version is not None:
            new_marker = day.isoformat()
        if state.marker != new_marker:
            state.marker = new_marker
        state.version = version
        if state.keep_snapshot(snap):
            state.synced_at = utcnow()

    def _write_whole_master(
        self,
        report: CycleReport,
        read: tuple[SourceSnapshot, dict[str, str]] | None,
        run_id: int,
    ) -> int:
        """Render the whole master, read it (unless ``read``) and write what differs."""
        source = self.config.master_source()
        with read_transaction(self.sessions) as s:
            marker = database_marker(s, exclude_run=None, runs=True, zone=self.master_look)
            day = self.today()
            audit = audit_position(s)
            team = team_digest(s)
            data = load_master(s, zone=self.zone_name, today=day, language=self.master_language)
            states = self._states(s, source, MASTER_TABS)
        report.master_rendered += 1
        conflicts_state = states.get("Conflicts")
        stored = conflicts_state.tab_snapshot if conflicts_state else TabSnapshot()
        grids: dict[str, Grid] = {}
        digests: dict[str, str] = {}
        row_digests: dict[str, list[str]] = {}
        if read is None:
            grids, warnings = render_master(data, stored.resolutions, stored.errors)
            row_digests = {tab: [row_digest(row) for row in grid] for tab, grid in grids.items()}
            digests = {tab: tab_digest(rows) for tab, rows in row_digests.items()}
            version = self._master_fingerprint(source)
            if version is None:
                raise SourceError("master workbook not found; run `sheetsync init`", where=source)
            if len(states) == len(MASTER_TABS) and all(
                st.version == version and st.tab_snapshot.digest == digests[st.tab]
                for st in states.values()
            ):
                if states[DUE_TAB].marker != day.isoformat():
                    with transaction(self.sessions) as s:  # counted for this day: as written
                        self._states(s, source, (DUE_TAB,))[DUE_TAB].marker = day.isoformat()
                return 0
            snapshot = self.backend.read(source)
            report.sources_read += 1
            errors = stored.errors
            if states:
                # What an admin typed after this cycle looked at the master (it was not read
                # then, else it would be given here) is applied first, as at the start of a
                # cycle, so that the render shows it rather than overwrite it. Not by the
                # version: a Google snapshot bears the version of the cycle's look.
                applied = report.admin_changes
                errors = self._apply_edits(snapshot, run_id, report, set())
                if report.admin_changes != applied:
                    return self._write_whole_master(report, (snapshot, errors), run_id)
        else:
            snapshot, errors = read
        if any(find_tab(snapshot.tabs, tab) is None for tab in MASTER_TABS):
            # A tab the master lacks (one a newer sheetsync shows, or one an admin deleted)
            # is set up first, as init would, then the master is read again.
            shown = conflicts_state.tab_snapshot.zone if conflicts_state else None
            layout = master_layout(self.zone_name, shown, self.master_language)
            self._master_seen = None
            added = self.backend.ensure_layout(**layout, source=source)
            report.warnings += [f"{source}: {change}" for change in added]
            snapshot = self.backend.read(source)
            report.sources_read += 1
        typed = read_resolutions(snapshot.tabs.get("Conflicts", []))
        open_ids = {f"C{k.id}" for k in data.conflicts}
        resolutions = {cid: text for cid, text in typed.items() if cid in open_ids}
        errors = {cid: why for cid, why in errors.items() if resolutions.get(cid)}
        if not grids or (resolutions, errors) != (stored.resolutions, stored.errors):
            grids, warnings = render_master(data, resolutions, errors)
            row_digests = {tab: [row_digest(row) for row in grid] for tab, grid in grids.items()}
            digests = {tab: tab_digest(rows) for tab, rows in row_digests.items()}
        report.warnings += warnings
        conflicts_from = conflicts_source(data, resolutions, errors)

        # A tab written is let go as soon as it is (what is stored of its rows is kept):
        # the smallest tabs are written first, so the largest is written with the others
        # already gone (a cold master's peak).
        kept: dict[str, tuple[int, list[str], dict[str, Any]]] = {}

        def release(tab: str) -> None:
            rows = grids[tab][1:]
            keys = [row_key(tab, row) for row in rows]
            kept[tab] = (len(rows), keys, stored_bases(tab, rows, counted))
            del grids[tab][1:]

        def length(tab: str) -> int:
            return kept[tab][0] if tab in kept else len(grids[tab]) - 1

        def stale(state: SheetState | None, tab: str) -> bool:
            """Whether a tab's rows must be stored anew (what it shows changed)."""
            before = state.tab_snapshot if state is not None else TabSnapshot()
            return (
                before.digest != digests[tab]
                or before.rows != length(tab)
                or (before.order if tab in ROW_TABS else before.keys) is None
            )

        # The rows loaded are let go before the master is written (a cold master's peak),
        # but what says the row tabs' rows are still those written (row_order.RowOrder);
        # what is stored with each row (what the admin may edit in it) is taken from the
        # rows rendered, as each tab is let go.
        restore = any(stale(states.get(tab), tab) for tab in grids)
        orders = written_orders(data, grids) if restore else {}
        counted = data.counted
        del data
        tabs = [  # the tabs to write: not as written, or what they should show changed
            tab
            for tab in grids
            if (state := states.get(tab)) is None
            or state.version != snapshot.version
            or state.tab_snapshot.digest != digests[tab]
        ]
        tabs.sort(key=lambda tab: len(grids[tab]) * len(MASTER_HEADERS[tab]))
        written_to = self._set_master(source, snapshot, grids, tabs, report, release)
        if written_to is None:
            return 0  # nothing written nor recorded: the next cycle renders it again
        version, written, exact = written_to
        with transaction(self.sessions) as s:
            states = self._states(s, source, MASTER_TABS)
            for tab in grids:
                state = states.get(tab) or SheetState(source=source, tab=tab, snapshot={})
                if state.id is None:
                    s.add(state)
                before = state.tab_snapshot
                order, keys = before.order, before.keys
                if stale(state, tab):
                    if tab not in kept:
                        release(tab)
                    _, row_keys, own_bases = kept[tab]
                    # A tab stale only now (another worker stored it meanwhile) has no
                    # order: the next cycle renders the master whole.
                    if tab in ROW_TABS:
                        order = orders.get(tab)
                    else:
                        keys = keys_digest(row_keys)
                    save_whole(s, source, tab, row_keys, row_digests[tab][1:], own_bases)
                snap = TabSnapshot(digest=digests[tab], rows=length(tab))
                if tab in ROW_TABS:
                    snap.order = order
                else:
                    snap.keys = keys
                if tab == "Conflicts":
                    snap.resolutions, snap.errors = resolutions, errors
                    snap.audit, snap.team, snap.zone = audit, team, self.zone_name
                    snap.conflicts_from = conflicts_from
                    snap.language = None if self.master_language == "en" else self.master_language
                self._master_state(state, version if exact else None, marker, snap, day)
        return written

    def _set_master(
        self,
        source: str,
        snapshot: SourceSnapshot,
        grids: dict[str, Grid],
        tabs: list[str],
        report: CycleReport,
        release: Callable[[str], None] = lambda _tab: None,
    ) -> tuple[str | None, int, bool] | None:
        """Write the cells of these master tabs that differ from the master as read, in
        this order (``release``: called with each tab once its cells are set).

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
            self._master_seen = None
            set_version = self.backend.set_cells(
                source,
                cells if self.backend.sets_cells_atomically else list(cells),
                version=version,
            )
            if set_version is None:
                break
            version, written = set_version, written + cells.count
            report.master_cells_written += cells.count
            for tab in groups.pop(0):
                release(tab)
        if groups:  # the master moved since it was read: the rest compared cell by cell
            changes = [
                change
                for tab in (tab for group in groups for tab in group)
                for change in grid_changes(tab, snapshot.tabs.get(tab, []), grids[tab])
            ]
            self._master_seen = None
            result = self.backend.write(
                source, plan_grid_writes(changes), read_version=snapshot.version
            )
            written += result.applied
            report.master_cells_written += result.applied
            report.writes_skipped += len(result.skipped)
            version = result.version or version
            exact = not result.skipped and not result.concurrent
        return version, written, exact
