"""Ingest one agent's spreadsheet into the database (one transaction per agent source).

read grid -> parse by header -> bind rows to customers -> decide: merge each row three
ways against the row as last synced (``dedupe.merge_fields``, pure: decisions as data) ->
apply the decisions in bulk (plain rows, no ORM object per row), with audit events and
keyed conflicts written by the ledger (``sync.ledger``). What the sheet should show
afterwards is decided in ``sync.cycle.write_back`` from the plan this returns.

The package: :mod:`.plans` (what an ingest counted and decided), :mod:`.base` (the agent,
its conflicts and audit), :mod:`.customers` and :mod:`.follow_ups` (the two tabs),
:mod:`.check` (the Check tab's ``yes``: the agent's tracking added), :mod:`.duplicates`
(possible duplicates among the customers it touched).
"""

from sync.ingest.base import ROW_CONFLICT_KINDS, column_name
from sync.ingest.check import CheckTab
from sync.ingest.duplicates import BY_EMAIL, BY_NAME, DUPLICATE_LOOKUP, PossibleDuplicates
from sync.ingest.follow_ups import FollowUpsTab
from sync.ingest.plans import AgentPlan, CheckPlan, Counters, RowAsRead, TabPlan


class Ingest(CheckTab, FollowUpsTab, PossibleDuplicates):
    """Applies one agent's sheet to the database inside the caller's transaction."""


__all__ = [
    "BY_EMAIL",
    "BY_NAME",
    "DUPLICATE_LOOKUP",
    "ROW_CONFLICT_KINDS",
    "AgentPlan",
    "CheckPlan",
    "Counters",
    "Ingest",
    "RowAsRead",
    "TabPlan",
    "column_name",
]
