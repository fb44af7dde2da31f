"""Cells written, as a run's figures hold them and as people read them.

A cycle writes agents' sheets first and the master last, so a run's figures
(``SyncRun.stats``, :meth:`sync.cycle.CycleReport.as_dict`) keep the two apart;
``cells_written`` is their sum. Every place that shows cells written reads them here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def cells_written(stats: Mapping[str, Any]) -> tuple[int, int, int]:
    """A run's cells written as (all, agents', master's).

    A run recorded before the two were kept apart counted the agents' cells as
    ``cells_written`` and the master's as ``master_cells_written``.
    """
    master = int(stats.get("master_cells_written") or 0)
    agents = stats.get("agent_cells_written")
    if agents is None:
        agents = stats.get("cells_written") or 0
    return int(agents) + master, int(agents), master


def cells_written_text(stats: Mapping[str, Any]) -> str:
    """Cells written, said as the sum it is: ``27 (agents 1 + master 26)``."""
    total, agents, master = cells_written(stats)
    return f"{total} (agents {agents} + master {master})"
