"""What ingesting a sheet counted and decided: :class:`Counters`, and each tab's plan
(:class:`TabPlan`: its rows as read, what each row bound to, its notes) that the
write-back works from."""

from __future__ import annotations

from dataclasses import dataclass, field

from sync.cells import CellValue, Grid
from sync.check import CheckRow
from sync.dedupe import value_text
from sync.rows import Header, ParsedRow
from sync.words import Language


@dataclass
class Counters:
    """What ingesting sheets changed: the counts a cycle's report (:class:`sync.cycle.
    CycleReport`, which extends this) sums over its sheets."""

    customers_created: int = 0
    trackings_added: int = 0
    trackings_archived: int = 0
    trackings_updated: int = 0
    customers_updated: int = 0
    follow_ups_created: int = 0
    follow_ups_updated: int = 0
    follow_ups_archived: int = 0
    rows_read: int = 0
    # of rows_read, those of an edited sheet that showed what the last cycle left there:
    # not parsed, merged or written (sync.ingest.customers.unchanged_rows)
    rows_unchanged: int = 0
    conflicts_opened: int = 0
    conflicts_closed: int = 0
    audit_events: int = 0
    # "file, tab Customers, row 7, column Next follow-up (S): could not read ..." for ops.
    problems: list[str] = field(default_factory=list)

    def add(self, other: Counters) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)


class RowAsRead:
    """A row as read, kept from its ingest to its sheet's write-back: its cells (the grid's
    own list, not a copy) and the canonical text of each cell that parsed.

    A team's sheets are all ingested before the first is written back; a parsed row's
    dicts of values and cells took 2.6 times the memory of its grid row.
    """

    __slots__ = ("index", "_cells", "_columns", "_texts")

    def __init__(self, row: ParsedRow, cells: list[CellValue], columns: dict[str, int]):
        self.index = row.index
        self._cells = cells
        self._columns = columns
        values = row.values
        self._texts = tuple(value_text(values[k]) if k in values else None for k in columns)

    @property
    def raw(self) -> dict[str, CellValue]:
        """Field key -> the cell as read (None for a missing cell), as ``ParsedRow.raw``."""
        cells, width = self._cells, len(self._cells)
        return {k: cells[c] if c < width else None for k, c in self._columns.items()}

    def texts(self) -> dict[str, str]:
        """Field key -> the canonical text of the parsed cell; a cell that did not parse
        has none."""
        return {k: t for k, t in zip(self._columns, self._texts, strict=True) if t is not None}


@dataclass
class TabPlan:
    """What one tab looked like and what the ingest decided about each row.

    ``rows`` are the tab's parsed rows while it is ingested; ``as_read`` the same rows
    afterwards, in the smaller form a write-back needs (:meth:`keep_as_read`).
    """

    tab: str
    header: Header | None = None
    rows: list[ParsedRow] = field(default_factory=list)
    as_read: list[RowAsRead] = field(default_factory=list)
    bound: dict[int, str] = field(default_factory=dict)  # row index -> customer / follow-up number
    notes: dict[int, list[str]] = field(default_factory=dict)  # row index -> sheet-derived notes
    leave: dict[int, set[str]] = field(default_factory=dict)  # row index -> fields not to overwrite
    customer_of: dict[int, str] = field(default_factory=dict)  # follow-up row -> customer number
    kept: set[str] = field(default_factory=set)  # numbers a row still holds, applied or not
    # row index -> number of the rows that show what the last cycle left, never parsed
    unchanged: dict[int, str] = field(default_factory=dict)
    quarantined: str | None = None

    def note(self, index: int, text: str) -> None:
        self.notes.setdefault(index, []).append(text)

    def keep_as_read(self, grid: Grid | None) -> None:
        """Let the parsed rows go once ingested, keeping what the write-back needs."""
        if self.header is not None and grid is not None:
            columns = self.header.columns
            self.as_read = [RowAsRead(r, grid[r.index], columns) for r in self.rows]
        self.rows = []


@dataclass
class CheckPlan:
    """A Check tab as read: its header, its rows, and the phones whose ``yes`` was seen.

    Attributes:
        asked: phone -> what the sync did with its ``yes`` (:func:`sync.check.next_asked`),
            stored with the tab's state by the ingest's transaction.
        added: the Customer # of each customer whose tracking this read added (its row
            is appended to the Customers tab by this cycle's write-back, even when the
            agent took it out of that tab since the last cycle).
    """

    header: Header
    rows: list[CheckRow]
    asked: dict[str, str] = field(default_factory=dict)
    language: Language = "en"  # the agent's: what the answers are written in
    added: set[str] = field(default_factory=set)


@dataclass
class AgentPlan:
    """What the ingest of one agent's sheet decided, tab by tab (``check``: the Check tab's;
    None when the sheet has none)."""

    customers: TabPlan
    follow_ups: TabPlan
    check: CheckPlan | None = None
