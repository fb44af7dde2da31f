"""In-memory state: spreadsheets, sheets (row-major sparse grids), Drive files and changes.

A sheet keeps a list of :class:`Row` objects for its materialised rows (trailing rows that
were never touched are not stored). Each row carries its values, per-cell formats and
validation rules, and the ids of developer metadata located on that row, so metadata moves
with the row when rows are inserted or deleted above it.
"""

from __future__ import annotations

import copy
import random
import string
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sheets_emulator.cells import Value

DEFAULT_ROWS = 1000
DEFAULT_COLUMNS = 26
SPREADSHEET_MIME = "application/vnd.google-apps.spreadsheet"


class Row:
    """One materialised row of a sheet."""

    __slots__ = ("values", "formats", "rules", "notes", "meta")

    def __init__(self) -> None:
        self.values: list[Value] = []
        self.formats: dict[int, dict[str, Any]] | None = None
        self.rules: dict[int, dict[str, Any]] | None = None
        self.notes: dict[int, str] | None = None
        self.meta: list[int] | None = None

    def clone(self) -> Row:
        """A copy whose containers can be changed independently (leaf dicts are shared)."""
        row = Row()
        row.values = list(self.values)
        row.formats = dict(self.formats) if self.formats else None
        row.rules = dict(self.rules) if self.rules else None
        row.notes = dict(self.notes) if self.notes else None
        row.meta = list(self.meta) if self.meta else None
        return row

    def get(self, col: int) -> Value:
        """The stored value at ``col`` (``None`` when empty)."""
        return self.values[col] if col < len(self.values) else None

    def set(self, col: int, value: Value) -> None:
        """Store ``value`` at ``col`` (``None`` clears)."""
        if col >= len(self.values):
            if value is None:
                return
            self.values.extend([None] * (col + 1 - len(self.values)))
        self.values[col] = value
        if value is None:
            while self.values and self.values[-1] is None:
                self.values.pop()

    def fmt(self, col: int) -> dict[str, Any] | None:
        """The ``userEnteredFormat`` of the cell at ``col``."""
        return self.formats.get(col) if self.formats else None

    def set_fmt(self, col: int, fmt: dict[str, Any] | None) -> None:
        """Set or clear the cell format at ``col``."""
        if fmt:
            if self.formats is None:
                self.formats = {}
            self.formats[col] = fmt
        elif self.formats and col in self.formats:
            del self.formats[col]

    def rule(self, col: int) -> dict[str, Any] | None:
        """The data validation rule of the cell at ``col``."""
        return self.rules.get(col) if self.rules else None

    def set_rule(self, col: int, rule: dict[str, Any] | None) -> None:
        """Set or clear the data validation rule at ``col``."""
        if rule:
            if self.rules is None:
                self.rules = {}
            self.rules[col] = rule
        elif self.rules and col in self.rules:
            del self.rules[col]

    def note(self, col: int) -> str | None:
        """The note on the cell at ``col``."""
        return self.notes.get(col) if self.notes else None

    def set_note(self, col: int, note: str | None) -> None:
        """Set or clear the note at ``col``."""
        if note:
            if self.notes is None:
                self.notes = {}
            self.notes[col] = note
        elif self.notes and col in self.notes:
            del self.notes[col]

    def is_empty(self) -> bool:
        """True when the row holds no value, format, rule, note or metadata."""
        return not (self.values or self.formats or self.rules or self.notes or self.meta)


@dataclass
class Sheet:
    """A grid sheet and its properties."""

    sheet_id: int
    title: str
    row_count: int = DEFAULT_ROWS
    col_count: int = DEFAULT_COLUMNS
    hidden: bool = False
    frozen_rows: int = 0
    frozen_cols: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # tabColor, rightToLeft, ...
    grid_extra: dict[str, Any] = field(default_factory=dict)  # hideGridlines, ...
    rows: list[Row] = field(default_factory=list)
    col_meta: dict[int, list[int]] = field(default_factory=dict)  # column -> metadata ids
    col_sizes: dict[int, int] = field(default_factory=dict)  # column -> pixels, when set
    protected: list[dict[str, Any]] = field(default_factory=list)
    conditional: list[dict[str, Any]] = field(default_factory=list)  # ConditionalFormatRule
    basic_filter: dict[str, Any] | None = None  # BasicFilter

    def row(self, index: int) -> Row:
        """The row at ``index``, materialising rows up to it."""
        rows = self.rows
        if len(rows) <= index:
            rows.extend([Row() for _ in range(index + 1 - len(rows))])
        return rows[index]

    def rows_between(self, r0: int, r1: int) -> list[Row]:
        """The rows ``r0`` to ``r1`` (excluded), materialised at once."""
        if r0 < r1:
            self.row(r1 - 1)
        return self.rows[r0:r1]

    def peek(self, index: int) -> Row | None:
        """The row at ``index`` if materialised."""
        return self.rows[index] if index < len(self.rows) else None

    def value(self, r: int, c: int) -> Value:
        """The stored value at ``(r, c)``."""
        row = self.peek(r)
        return row.get(c) if row is not None else None

    def clone(self) -> Sheet:
        """A deep-enough copy for an atomic batchUpdate."""
        new = copy.copy(self)
        new.extra = copy.deepcopy(self.extra)
        new.grid_extra = copy.deepcopy(self.grid_extra)
        new.rows = [r.clone() for r in self.rows]
        new.col_meta = {k: list(v) for k, v in self.col_meta.items()}
        new.col_sizes = dict(self.col_sizes)
        new.protected = copy.deepcopy(self.protected)
        new.conditional = copy.deepcopy(self.conditional)
        new.basic_filter = copy.deepcopy(self.basic_filter)
        return new

    def properties(self, index: int) -> dict[str, Any]:
        """``SheetProperties`` JSON; defaults (0, false) omitted as proto3 JSON does."""
        grid: dict[str, Any] = {"rowCount": self.row_count, "columnCount": self.col_count}
        if self.frozen_rows:
            grid["frozenRowCount"] = self.frozen_rows
        if self.frozen_cols:
            grid["frozenColumnCount"] = self.frozen_cols
        grid.update({k: v for k, v in self.grid_extra.items() if v})
        props: dict[str, Any] = {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": index,
            "sheetType": "GRID",
            "gridProperties": grid,
        }
        if self.hidden:
            props["hidden"] = True
        props.update(copy.deepcopy(self.extra))
        return props


@dataclass
class Spreadsheet:
    """A spreadsheet: properties, ordered sheets and developer metadata."""

    spreadsheet_id: str
    title: str
    locale: str = "en_US"
    time_zone: str = "Etc/GMT"
    auto_recalc: str = "ON_CHANGE"
    sheets: list[Sheet] = field(default_factory=list)
    # metadata id -> {"metadataKey", "metadataValue", "visibility", "locationType",
    #                 "sheetId" (SHEET/ROW/COLUMN)}; ROW/COLUMN positions live on rows/columns.
    metadata: dict[int, dict[str, Any]] = field(default_factory=dict)

    def sheet_by_id(self, sheet_id: int) -> Sheet | None:
        """The sheet with ``sheet_id``."""
        return next((s for s in self.sheets if s.sheet_id == sheet_id), None)

    def sheet_by_title(self, title: str) -> Sheet | None:
        """The sheet titled ``title`` (Sheets matches titles case-insensitively)."""
        exact = next((s for s in self.sheets if s.title == title), None)
        if exact is not None:
            return exact
        low = title.lower()
        return next((s for s in self.sheets if s.title.lower() == low), None)

    def cell_total(self) -> int:
        """Cells in all grids, counted against the 10,000,000-cell limit."""
        return sum(s.row_count * s.col_count for s in self.sheets)

    def clone(self) -> Spreadsheet:
        """A copy used to apply a batchUpdate atomically."""
        new = copy.copy(self)
        new.sheets = [s.clone() for s in self.sheets]
        new.metadata = copy.deepcopy(self.metadata)
        return new


@dataclass
class DriveFile:
    """Drive metadata of a file (every file here is a spreadsheet)."""

    file_id: str
    name: str
    mime_type: str = SPREADSHEET_MIME
    created_ms: int = 0
    modified_ms: int = 0
    version: int = 1
    trashed: bool = False
    starred: bool = False
    description: str | None = None
    parents: list[str] = field(default_factory=lambda: ["0AEmulatorRootFolder"])
    permissions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Change:
    """One entry of the Drive changes log."""

    change_id: int
    file_id: str
    time_ms: int
    removed: bool = False


def rfc3339(ms: int) -> str:
    """Milliseconds since the epoch as Google's RFC 3339 text (``2023-08-17T10:52:55.207Z``)."""
    secs, rem = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{rem:03d}Z"


class Store:
    """All emulator state, guarded by one re-entrant lock.

    Args:
        seed: Seed for generated ids (deterministic runs).
        clock: Returns the current time in seconds (defaults to :func:`time.time`).
        owner_email: Email of the single account that owns every file.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        clock: Any = None,
        owner_email: str = "emulator@sheetsync.local",
    ) -> None:
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.clock = clock or time.time
        self.owner_email = owner_email
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.files: dict[str, DriveFile] = {}
        self.changes: list[Change] = []
        self.next_change_id = 1
        self.last_ms = 0
        self.dirty = False

    # ------------------------------------------------------------ ids and time

    def now_ms(self) -> int:
        """Current time in ms, strictly increasing across calls."""
        ms = int(self.clock() * 1000)
        self.last_ms = max(ms, self.last_ms + 1)
        return self.last_ms

    def new_file_id(self) -> str:
        """A 44-character id shaped like Google's spreadsheet ids."""
        alphabet = string.ascii_letters + string.digits + "-_"
        while True:
            fid = "1" + "".join(self.rng.choice(alphabet) for _ in range(43))
            if fid not in self.files:
                return fid

    def new_int_id(self, taken: set[int]) -> int:
        """A random positive int31 id not in ``taken``."""
        while True:
            n = self.rng.randint(1, 2**31 - 1)
            if n not in taken:
                return n

    # ------------------------------------------------------------ changes

    def touch(self, file_id: str, *, modified: bool = True, removed: bool = False) -> None:
        """Record a change: bump ``version``, advance ``modifiedTime``, log it for changes.list."""
        now = self.now_ms()
        f = self.files.get(file_id)
        if f is not None:
            f.version += 1
            if modified:
                f.modified_ms = max(now, f.modified_ms + 1)
        self.changes.append(Change(self.next_change_id, file_id, now, removed))
        self.next_change_id += 1
        self.dirty = True

    def create_spreadsheet(
        self, title: str, *, sheets: list[Sheet] | None = None, file_id: str | None = None
    ) -> Spreadsheet:
        """Create a spreadsheet and its Drive file (with an owner permission)."""
        fid = file_id or self.new_file_id()
        ss = Spreadsheet(fid, title)
        ss.sheets = sheets or [Sheet(0, "Sheet1")]
        now = self.now_ms()
        owner = {
            "kind": "drive#permission",
            "id": str(self.rng.randint(10**19, 10**20 - 1)),
            "type": "user",
            "role": "owner",
            "emailAddress": self.owner_email,
            "displayName": self.owner_email.split("@")[0],
            "deleted": False,
            "pendingOwner": False,
        }
        self.spreadsheets[fid] = ss
        self.files[fid] = DriveFile(
            fid, title, created_ms=now, modified_ms=now, permissions=[owner]
        )
        self.touch(fid, modified=False)
        return ss

    def delete_file(self, file_id: str) -> None:
        """Delete a file permanently (Drive files.delete)."""
        self.spreadsheets.pop(file_id, None)
        self.files.pop(file_id, None)
        self.touch(file_id, removed=True)
