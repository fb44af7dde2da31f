"""What every part of an ingest works with: the agent, its conflicts (loaded once), the
ledger of its audit events, and opening a tab by its header."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from sync.cells import Grid
from sync.dedupe import FieldsDecision
from sync.errors import LayoutError
from sync.fields import CUSTOMERS_TAB, FIELDS_BY_KEY, FOLLOW_UP_FIELDS_BY_KEY, Field
from sync.ingest.plans import Counters, TabPlan
from sync.ledger import Ledger, close, keep_open, open_own
from sync.model import Agent, Conflict, Customer, FollowUp, Tracking
from sync.rows import Header, ParseOptions, column_letter, find_header, parse_rows
from sync.words import Language, header

# Conflict kinds an agent's own sheet causes: they close by themselves once the sheet is fixed.
ROW_CONFLICT_KINDS = (
    "shared_field",
    "invalid_phone",
    "duplicate_row",
    "identity_mismatch",
    "quarantine",
    "deleted_customer",
)
CHUNK = 500
CUSTOMERS_TABLE = cast(Table, Customer.__table__)
TRACKINGS_TABLE = cast(Table, Tracking.__table__)
FOLLOW_UPS_TABLE = cast(Table, FollowUp.__table__)
TRACKING_KEYS = tuple(c.key for c in TRACKINGS_TABLE.columns if c.key != "id")


class IngestBase:
    """One agent's sheet applied in the caller's transaction (:class:`sync.ingest.Ingest`)."""

    def __init__(
        self,
        session: Session,
        agent: Agent,
        *,
        source: str,
        options: ParseOptions,
        default_region: str,
        mass_removal_threshold: float,
        mass_removal_min_rows: int,
        run_id: int | None,
        today: dt.date,
        language: Language = "en",
    ):
        self.s = session
        self.agent = agent
        self.source = source
        self.options = options
        self.region = default_region
        self.threshold = mass_removal_threshold
        self.min_rows = mass_removal_min_rows
        self.run_id = run_id
        self.today = today
        # the agent's sheet's language: its rows' notes are written in it, fields named so
        self.language = language
        self.titles = {key: header(f, language) for key, f in FIELDS_BY_KEY.items()}
        self.follow_up_titles = {
            key: header(f, language) for key, f in FOLLOW_UP_FIELDS_BY_KEY.items()
        }
        self.counters = Counters()
        self.detected: set[str] = set()
        self.touched_customers: set[int] = set()
        self._conflicts: dict[str, Conflict | None] | None = None
        # what the merge changed, written together by _write_changes
        self._customer_changes: list[dict[str, Any]] = []
        self._tracking_changes: dict[int, dict[str, Any]] = {}
        self.ledger = Ledger(session, f"agent:{agent.key}", run_id)

    def _conflict(self, key: str) -> Conflict | None:
        """The conflict with this key: this agent's are loaded once, others asked for.

        The keys of the kinds an agent's sheet causes name the agent, and those conflicts
        carry its id (ingest and the import both set it), so for them the loaded ones are
        all there are: a key not among them is new, without asking the database.
        """
        conflicts = self._agent_conflicts()
        if key not in conflicts and key.partition(":")[0] in ROW_CONFLICT_KINDS:
            return None
        if key not in conflicts:
            with self.s.no_autoflush:  # new conflicts are in the dict already
                conflicts[key] = self.s.execute(
                    select(Conflict).where(Conflict.key == key)
                ).scalar_one_or_none()
        return conflicts[key]

    def _agent_conflicts(self) -> dict[str, Conflict | None]:
        """Key -> conflict: this agent's, loaded once (and those asked for since)."""
        if self._conflicts is None:
            self._conflicts = {
                c.key: c
                for c in self.s.execute(
                    select(Conflict).where(Conflict.agent_id == self.agent.id)
                ).scalars()
            }
        return self._conflicts

    def open_conflict(self, key: str, kind: str, **values: Any) -> Conflict:
        """Open a keyed conflict once; later sightings update it instead of opening another."""
        self.detected.add(key)
        conflict = self._conflict(key)
        if conflict is None:
            conflict = open_own(self.s, key, kind, agent_id=self.agent.id, **values)
            self._agent_conflicts()[key] = conflict
            self.counters.conflicts_opened += 1
            return conflict
        if conflict.status == "dismissed" and all(
            getattr(conflict, name) == value
            for name, value in values.items()
            if name in ("current_value", "proposed_value")
        ):
            return conflict  # an admin dismissed exactly this; it stays dismissed
        if keep_open(conflict, **values):
            self.counters.conflicts_opened += 1
        return conflict

    def write_audit(self) -> None:
        """Insert the recorded audit events, in bulk."""
        self.counters.audit_events += self.ledger.write()

    def quarantine(self, tab: str, reason: str, message: str) -> None:
        self.open_conflict(
            f"quarantine:{self.agent.key}:{tab}:{reason}",
            "quarantine",
            field=tab,
            proposed_value=None,
            current_value=None,
            details={"source": self.source, "tab": tab, "reason": reason, "message": message},
        )

    def flag(self, plan: TabPlan, index: int, text: str, key: str | None = None) -> None:
        """Note a row problem in the row's Sync notes and, with its location, for the run's log."""
        plan.note(index, text)
        where = f"{self.source}, tab {plan.tab}, row {index + 1}"
        if key is not None and plan.header is not None:
            where += f", column {column_name(plan.header, key)}"
        self.counters.problems.append(f"{where}: {text}")

    def close_resolved_conflicts(self, tabs_read: Iterable[str]) -> None:
        """Close this agent's sheet-caused conflicts that this read no longer shows."""
        tabs = set(tabs_read)
        open_ones = self.s.execute(
            select(Conflict).where(
                Conflict.agent_id == self.agent.id,
                Conflict.status == "open",
                Conflict.kind.in_(ROW_CONFLICT_KINDS),
            )
        ).scalars()
        for conflict in open_ones:
            tab = (conflict.details or {}).get("tab", CUSTOMERS_TAB)
            if conflict.key in self.detected or tab not in tabs:
                continue
            close(conflict, "cause disappeared")
            self.counters.conflicts_closed += 1

    def _open_tab(
        self,
        plan: TabPlan,
        grid: Grid | None,
        fields: tuple[Field, ...],
        missing: str,
        unchanged: Callable[[Grid, Header], dict[int, str]] | None = None,
    ) -> bool:
        """Find the header and parse the rows of a tab, or quarantine it (missing, broken).

        Args:
            unchanged: finds the rows that show what the last cycle left (row index ->
                number); those are not parsed (``plan.unchanged``).
        """
        where = f"{self.source}, tab {plan.tab}"
        if grid is None:
            plan.quarantined = "missing_tab"
            self.quarantine(plan.tab, "missing_tab", f"{where} is missing; {missing}")
            return False
        try:
            plan.header = find_header(
                grid, fields, required=("phone",), options=self.options, where=where
            )
        except LayoutError as exc:
            plan.quarantined = "broken_header"
            self.quarantine(plan.tab, "broken_header", str(exc))
            return False
        if unchanged is not None:
            plan.unchanged = unchanged(grid, plan.header)
        parse = None
        if plan.unchanged:
            parse = [i for i in range(plan.header.row + 1, len(grid)) if i not in plan.unchanged]
        rows = parse_rows(grid, plan.header, fields, self.options, parse)
        plan.rows = [r for r in rows if not r.blank]
        self.counters.rows_read += len(plan.rows) + len(plan.unchanged)
        return True

    def _note(self, plan: TabPlan, index: int, decision: FieldsDecision) -> None:
        for key, text in decision.notes:
            self.flag(plan, index, text, key)
        if decision.leave:
            plan.leave.setdefault(index, set()).update(decision.leave)


def column_name(header: Header, key: str) -> str:
    """'S (Next follow-up)' for messages: the column's letter and its header as typed."""
    index = header.columns.get(key)
    title = header.titles.get(key, key)
    return f"{column_letter(index)} ({title})" if index is not None else title
