"""What says that the master's row tabs (Customers, Tracking, Follow-ups) still hold the
rows last written, in the same order, without reading them (:class:`RowOrder`), and the
rows past the last one written (:class:`NewRow`): the check :mod:`sync.master_update`
makes before it sets a few rows in place."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Select, cast, func, select, tuple_
from sqlalchemy.orm import Session

from sync.cells import Grid
from sync.db import read
from sync.master import ROW_ORDER, MasterData, shown
from sync.master_layout import row_key
from sync.model import Customer, FollowUp, Tracking
from sync.reports import DELETED_CUSTOMERS

ORDER_MODULUS = 2_147_483_647
"""The sums of :class:`RowOrder` are taken modulo this prime (2**31 - 1): every term and
their sum over ten million rows stay within a 64-bit integer, in SQLite and PostgreSQL."""

_FACTORS = (1_000_003, 999_983, 97)


@dataclass(frozen=True)
class NewRow:
    """A row of a row tab past the rows written: its key, customer, identity and order."""

    key: str
    customer: int
    identity: tuple[int, ...]
    order: list[Any]


@dataclass(frozen=True)
class RowOrder:
    """What says that a row tab's rows up to the last one written are still the ones
    written, in the same order, without reading them.

    A row is identified by integers that fix what it is and where it sorts (a tracking's
    id, customer and agent; a customer's or follow-up's id: their number never changes).
    Stored with the tab: how many rows were written, the order key of the last one, and
    two sums over the rows of a hash of their identity (its values and their squares,
    modulo :data:`ORDER_MODULUS`). The database gives the count and the sums of the rows
    that sort up to that last one: equal, they are the same set (a row added, removed or
    moved among them changes the count or the sums), and sorted the same way, the same
    sequence. The rows that sort after it are the tab's new rows.
    """

    identity: tuple[Any, ...]
    order: tuple[Any, ...]
    key: Any
    customer: Any
    source: Any
    where: tuple[Any, ...] = ()
    key_prefix: str = ""

    def holds(self, s: Session, stored: Mapping[str, Any], rows: int) -> bool:
        """Whether the rows up to the last one written are the ones written."""
        last, sums = stored.get("last"), stored.get("sums")
        if not isinstance(sums, list) or len(sums) != 2 or (last is None) != (rows == 0):
            return False
        if last is not None and (not isinstance(last, list) or len(last) != len(self.order)):
            return False  # stored by a version that ordered the rows by other columns
        if last is None:
            return True
        count, first, second = s.execute(self.check_query(last)).one()
        found = [first % ORDER_MODULUS, (second or 0) % ORDER_MODULUS]
        return bool(count == rows and found == sums)

    def check_query(self, last: list[Any]) -> Select[*tuple[Any, ...]]:
        """The count and the two sums of the rows that sort up to ``last``."""
        # Each row's hash is taken once, in a subquery (OFFSET 0 keeps SQLite from folding
        # it into the sums, which took the hash three times a row: at 100,000 trackings,
        # most of the check's time).
        rows = (
            select(self._hash().label("h"))
            .select_from(self.source)
            .where(*self.where, self._sort_key() <= self._literal(last))
            .offset(0)
            .subquery()
        )
        return select(
            func.count(),
            func.coalesce(func.sum(rows.c.h), 0),
            func.sum(rows.c.h * rows.c.h % ORDER_MODULUS),
        )

    def rows_after(self, s: Session, last: list[Any] | None, limit: int) -> list[NewRow]:
        """The rows that sort after ``last`` (all when None), in order, at most ``limit``."""
        width = len(self.identity)
        return [
            NewRow(
                self._key_text(row[0]),
                row[1],
                tuple(row[2 : 2 + width]),
                list(row[2 + width :]),
            )
            for row in read(s, self.after_query(last, limit))
        ]

    def after_query(self, last: list[Any] | None, limit: int) -> Select[*tuple[Any, ...]]:
        """The rows of :meth:`rows_after`."""
        query = (
            select(self.key, self.customer, *self.identity, *self.order)
            .select_from(self.source)
            .where(*self.where)
            .order_by(*self.order)
            .limit(limit)
        )
        if last is not None:
            query = query.where(self._sort_key() > self._literal(last))
        return query

    def extended(self, stored: Mapping[str, Any], new_rows: Sequence[NewRow]) -> dict[str, Any]:
        """What is stored once the new rows are written after the stored ones."""
        if not new_rows:
            return dict(stored)
        sums = _Sums(stored["sums"])
        for row in new_rows:
            sums.add(row.identity)
        return {"last": new_rows[-1].order, "sums": sums.value()}

    def _hash(self) -> Any:
        terms = [
            cast(column, BigInteger) * f for column, f in zip(self.identity, _FACTORS, strict=False)
        ]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total % ORDER_MODULUS

    def _sort_key(self) -> Any:
        return self.order[0] if len(self.order) == 1 else tuple_(*self.order)

    def _literal(self, last: list[Any]) -> Any:
        return last[0] if len(self.order) == 1 else tuple_(*last)

    def _key_text(self, value: Any) -> str:
        return f"{self.key_prefix}{value}"


def written_orders(data: MasterData, grids: Mapping[str, Grid]) -> dict[str, dict[str, Any]]:
    """What the row tabs rendered whole from ``data`` store of their rows (see
    :class:`RowOrder`); a tab left out (its rows are not ``data``'s, in order) is rendered
    whole by the next cycle."""
    written = {
        "Customers": (((c.id,), [c.number], c.number) for c in data.customers if shown(c)),
        "Tracking": (
            ((t.id, t.customer_id, t.agent_id), [t.customer_id, t.agent_id, t.id], f"T{t.id}")
            for t in data.trackings
            if t.customer_id not in data.gone
        ),
        "Follow-ups": (
            ((f.id,), [f.number], f.number)
            for f, t in data.follow_ups
            if t.customer_id not in data.gone
        ),
    }
    orders: dict[str, dict[str, Any]] = {}
    for tab, rows in written.items():
        count = len(grids[tab]) - 1  # the trimmed tab's rows are the first ones
        sums, seen = _Sums(), 0
        last: tuple[Any, ...] | None = None
        for identity, order, key in itertools.islice(rows, count):  # not held: 100,000s
            sums.add(identity)
            seen, last = seen + 1, (order, key)
        if seen != count or (last is not None and row_key(tab, grids[tab][-1]) != last[1]):
            continue
        orders[tab] = {"last": None if last is None else last[0], "sums": sums.value()}
    return orders


def _hash(identity: Sequence[int]) -> int:
    return sum(value * f for value, f in zip(identity, _FACTORS, strict=False)) % ORDER_MODULUS


class _Sums:
    """The two sums of :class:`RowOrder` (as its SQL computes them), row by row."""

    def __init__(self, start: Sequence[int] = (0, 0)) -> None:
        self.first, self.second = start

    def add(self, identity: Sequence[int]) -> None:
        h = _hash(identity)
        self.first += h
        self.second += h * h % ORDER_MODULUS

    def value(self) -> list[int]:
        return [self.first % ORDER_MODULUS, self.second % ORDER_MODULUS]


ROW_ORDERS: dict[str, RowOrder] = {
    "Customers": RowOrder(
        identity=(Customer.id,),
        order=ROW_ORDER["Customers"],
        key=Customer.number,
        customer=Customer.id,
        source=Customer.__table__,
        where=(Customer.merged_into_id.is_(None), Customer.deleted_at.is_(None)),
    ),
    "Tracking": RowOrder(
        identity=(Tracking.id, Tracking.customer_id, Tracking.agent_id),
        order=ROW_ORDER["Tracking"],
        key=Tracking.id,
        customer=Tracking.customer_id,
        source=Tracking.__table__,
        where=(Tracking.customer_id.not_in(DELETED_CUSTOMERS),),
        key_prefix="T",
    ),
    "Follow-ups": RowOrder(
        identity=(FollowUp.id,),
        order=ROW_ORDER["Follow-ups"],
        key=FollowUp.number,
        customer=Tracking.customer_id,
        source=FollowUp.__table__.join(Tracking.__table__, Tracking.id == FollowUp.tracking_id),
        where=(Tracking.customer_id.not_in(DELETED_CUSTOMERS),),
    ),
}
"""How each row tab's rows are identified and ordered (as :func:`~sync.master.load_master`
renders them)."""
