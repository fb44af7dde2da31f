"""The Check tab of an ingest: a ``yes`` in *Add my tracking* attaches the agent's tracking
(the rules are :mod:`sync.check`; the answers are written in phase 2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync.admin.identity import binding_maps
from sync.cells import Grid
from sync.check import CheckRow, next_asked, read_rows, wants_adding
from sync.dedupe import FieldsDecision
from sync.errors import LayoutError
from sync.fields import CHECK_FIELDS, CHECK_TAB
from sync.ingest.customers import CustomersTab, customer_values
from sync.ingest.plans import CheckPlan, TabPlan
from sync.model import utcnow
from sync.rows import ParsedRow, find_header
from sync.words import Language


class CheckTab(CustomersTab):
    """The Check tab of an ingest (see the module)."""

    def check(
        self,
        grid: Grid | None,
        asked: Mapping[str, str],
        customers: TabPlan,
        language: Language = "en",
    ) -> CheckPlan | None:
        """Read the Check tab and add the trackings its new ``yes`` rows ask for.

        Args:
            asked: the phones whose ``yes`` an earlier cycle saw.
            customers: the Customers tab's plan: while it cannot be synced (quarantined,
                header gone), nothing is added (the ``yes`` is acted on later).
            language: the agent's (its rows' notes are in it).

        Returns:
            None when the workbook has no Check tab, or one without a Phone header (noted
            for the run's log).
        """
        if grid is None:
            return None
        where = f"{self.source}, tab {CHECK_TAB}"
        try:
            header = find_header(
                grid, CHECK_FIELDS, required=("phone",), options=self.options, where=where
            )
        except LayoutError as exc:
            if any(any(row) for row in grid):
                self.counters.problems.append(f"{exc}; its rows are not checked")
            return None
        rows = read_rows(grid, header, self.options, self.region, language)
        wanted: dict[str, CheckRow] = {}
        for row in rows:
            if wants_adding(row, asked) and row.phone is not None:
                wanted.setdefault(row.phone, row)
        added: dict[str, str] = {}
        waiting: set[str] = set()
        if wanted and customers.header is None:
            waiting = set(wanted)
        elif wanted:
            added, waiting = self._add_my_tracking(wanted)
        asked_now = next_asked(rows, asked, set(added), waiting)
        return CheckPlan(header, rows, asked_now, language, set(added.values()))

    def _add_my_tracking(self, wanted: Mapping[str, CheckRow]) -> tuple[dict[str, str], set[str]]:
        """Attach this agent's tracking to the customers of these phones (created with the
        typed name when new; an archived tracking comes back).

        Returns:
            Phone -> Customer # of the customers whose tracking was added (the others were
            tracked already, or are waiting), and the phones of customers an admin
            deleted: not added, their ``yes`` is acted on once the customer is restored.
        """
        maps = binding_maps(self.s, (), wanted)  # a merged customer's phone: the one it went into
        existing = {
            phone: customer_values(maps.known[known.number])
            for phone, known in maps.by_phone.items()
        }
        deleted = {
            phone
            for phone, known in maps.by_phone.items()
            if maps.known[known.number].deleted_at is not None
        }
        created = self._create_customers(
            [(phone, _typed(row)) for phone, row in wanted.items() if phone not in existing]
        )
        trackings = self._trackings_by_customer()
        added: dict[str, str] = {}
        fresh: list[tuple[dict[str, Any], FieldsDecision]] = []
        back: list[dict[str, Any]] = []
        for phone, customer in {**existing, **created}.items():
            if phone in deleted:
                continue
            tracking = trackings.get(customer["id"])
            if tracking is None:
                fresh.append((customer, FieldsDecision()))
            elif not tracking["active"]:
                back.append(customer)
            else:
                continue
            added[phone] = customer["number"]
        self._reactivate(back, trackings)
        self._insert_trackings(fresh, utcnow())
        self._write_changes()
        return added, deleted


def _typed(row: CheckRow) -> ParsedRow:
    """A new customer's fields as the Check row typed them: its name."""
    values: dict[str, object] = {"name": row.name} if row.name else {}
    return ParsedRow(index=row.index, values=values, raw={}, issues=[], blank=False)
