"""One sync cycle over every agent source and the master workbook.

Phase 1 ingests every agent source whose fingerprint moved (one transaction per
agent). Phase 2 writes back every agent view that differs from what the sheet
holds: the rows stored as last written tell without reading, and an unchanged
sheet's dirty rows are set where they are (:mod:`sync.sheet_rows`). Phase 3 renders
the master, row by row while nobody edited it (:mod:`sync.master_update`).
Agents are taken in order of their key, so the result does not depend on the
order of the configuration file.

The package, phase by phase: :mod:`.reading` (1), :mod:`.write_back` (2),
:mod:`.to_master` (3), run in order by :class:`Cycle` (:mod:`.run`); what they share is
:mod:`.base`, what a cycle reports :mod:`.report`.
"""

from sync.cycle.report import SUMMARY_COUNTS, CycleReport, Lease, Progress
from sync.cycle.run import Cycle

__all__ = ["SUMMARY_COUNTS", "Cycle", "CycleReport", "Lease", "Progress"]
