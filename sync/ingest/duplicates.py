"""Possible duplicates: the customers an ingest touched that share an email, or a name
and date of birth, with another customer under a different phone."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from sync.db import rows_in
from sync.ingest.base import CHUNK, CUSTOMERS_TABLE, IngestBase
from sync.ledger import open_new
from sync.model import Conflict, fold, folded


class PossibleDuplicates(IngestBase):
    """The check for possible duplicates of an ingest (see the module)."""

    def flag_possible_duplicates(self) -> None:
        """Same email, or same name and date of birth, under different phones."""
        touched = sorted(self.touched_customers)
        for start in range(0, len(touched), CHUNK):
            self._flag_duplicates_among(touched[start : start + CHUNK])

    def _flag_duplicates_among(self, ids: list[int]) -> None:
        c = CUSTOMERS_TABLE.c
        customers = [
            row
            for row in rows_in(self.s, DUPLICATE_LOOKUP, c.id, ids)
            if row.merged_into_id is None and (row.email or (row.name and row.date_of_birth))
        ]
        if not customers:
            return
        emails = {fold(row.email) for row in customers if row.email}
        names = {fold(row.name) for row in customers if row.name and row.date_of_birth}
        # One lookup on each folded index; the texts are compared whole below.
        others: dict[int, Any] = {}
        for lookup, wanted in ((BY_EMAIL, emails), (BY_NAME, names)):
            for row in rows_in(self.s, DUPLICATE_LOOKUP, lookup, wanted):
                if row.merged_into_id is None:
                    others[row.id] = row
        by_email: dict[str, list[Any]] = {}
        by_name: dict[tuple[str, dt.date], list[Any]] = {}
        for other in sorted(others.values(), key=lambda row: row.id):
            if other.email:
                by_email.setdefault(other.email.lower(), []).append(other)
            if other.name and other.date_of_birth:
                by_name.setdefault((other.name.lower(), other.date_of_birth), []).append(other)
        pairs: dict[str, tuple[Any, Any, str]] = {}
        for customer in customers:
            same_email = by_email.get(customer.email.lower(), []) if customer.email else []
            same_name = (
                by_name.get((customer.name.lower(), customer.date_of_birth), [])
                if customer.name and customer.date_of_birth
                else []
            )
            for other in [*same_email, *same_name]:
                if other.id == customer.id:
                    continue
                first, second = sorted((customer, other), key=lambda row: row.id)
                key = f"possible_duplicate:{first.number}:{second.number}"
                same = "email" if other in same_email else "name and date of birth"
                pairs.setdefault(key, (first, second, same))
        if not pairs:
            return
        self.detected.update(pairs)
        existing = set(
            self.s.execute(select(Conflict.key).where(Conflict.key.in_(list(pairs)))).scalars()
        )
        for key, (first, second, same) in pairs.items():
            if key in existing:
                continue
            if open_new(
                self.s,
                Conflict(
                    key=key,
                    kind="possible_duplicate",
                    customer_id=first.id,
                    field=same,
                    current_value=first.number,
                    proposed_value=second.number,
                    details={
                        "customers": [first.number, second.number],
                        "phones": [first.phone, second.phone],
                        "same": same,
                    },
                ),
            ):
                self.counters.conflicts_opened += 1


DUPLICATE_LOOKUP = select(
    *(CUSTOMERS_TABLE.c[k] for k in ("id", "number", "phone", "email", "name", "date_of_birth")),
    CUSTOMERS_TABLE.c.merged_into_id,
)
"""What the lookup of possible duplicates reads of a customer. Merged customers are left out
after reading, not in the query: a condition on merged_into_id made SQLite read that index
(every live customer) instead of the one asked for."""
BY_EMAIL, BY_NAME = folded(CUSTOMERS_TABLE.c.email), folded(CUSTOMERS_TABLE.c.name)
"""What possible duplicates are looked up by, each on its index (sync/model.py; a name's
holds the date of birth too, which the rows found are compared by)."""
