"""Day one: import the team's existing shared sheet (``sheetsync import``).

``source`` reads a .csv or .xlsx export of the shared sheet, ``plan`` decides (purely)
what importing it does, ``apply`` writes that plan in resumable chunks, ``report``
prints it or writes it as an .xlsx workbook, and ``run`` ties them together.
"""

from sync.importing.plan import ImportCounts, ImportPlan, PlanOptions, plan_import
from sync.importing.run import ImportOptions, ImportOutcome, run_import

__all__ = [
    "ImportCounts",
    "ImportOptions",
    "ImportOutcome",
    "ImportPlan",
    "PlanOptions",
    "plan_import",
    "run_import",
]
