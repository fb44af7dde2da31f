"""What a cycle is given and what it reports: the lease of its sources, its progress
callback, its counts (:class:`CycleReport`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from sync.ingest import Counters

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
        rows_unchanged: of those, rows of edited sheets that showed what the last cycle
            left there: bound by their Customer #, not parsed, merged or rendered again.
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
        failures: source -> why it failed this cycle.
        refused: the admin's edits in the master that were not applied: the cell
            (``master <tab>, <row>, <column>``) -> why. The run keeps them with its
            failures (:meth:`run_errors`): the master's Sync log shows them to the admin.
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
    refused: dict[str, str] = field(default_factory=dict)
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

    def run_errors(self) -> dict[str, str]:
        """What the run keeps as its errors (``SyncRun.errors``): the sources that failed,
        and the admin's edits in the master that were not applied."""
        return {**self.failures, **self.refused}

    @property
    def idle(self) -> bool:
        return self.sources_read == 0 and self.cells_written == 0 and self.agents_failed == 0
