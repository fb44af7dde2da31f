"""The in-memory backend: sources held as grids, for tests, the demo's checks and benches.

It implements :class:`~sync.sheets.Backend` with the same write-landing rules
(:func:`~sync.sheets.apply_writes`) as the others, plus helpers that act as an agent
typing in a sheet (``get_tab``, ``set_tab``, ``delete_tab``).
"""

from __future__ import annotations

import collections
import copy
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sync.cells import (
    CellWrite,
    Grid,
    SourceSnapshot,
    WriteResult,
    put_cell,
)
from sync.errors import SourceError, SourceLocked
from sync.fields import header_key
from sync.long_text import fit_cells, fit_writes
from sync.sheets import (
    NO_DROPDOWNS,
    NO_HIGHLIGHTS,
    NO_NOTES,
    NO_TABS,
    NO_WIDTHS,
    Backend,
    CellSet,
    DueHighlight,
    RowMove,
    TabHeader,
    alias_folder,
    apply_writes,
    column_width,
    find_header_row,
    find_tab,
    finish_cells,
    move_rows,
)

log = logging.getLogger("sheetsync")


class MemoryBackend:
    """Sources held in memory, for tests and the emulator.

    Attributes:
        sources: source -> tab -> grid. Reads and writes copy in and out.
        versions: source -> integer bumped on every change (fingerprint ``v<n>``).
        layouts: source -> tab -> {"text": set of folded headers, "dropdowns": folded header
            -> values, "protected": set of folded headers, "notes": folded header -> note}, as
            set by ``ensure_layout``.
        calls: request counter ("read", "write", "fingerprint", "layout").
        before_write: called with the source inside ``write`` before the writes are
            applied, to simulate someone editing between a cycle's read and its write.
        locked: sources that raise SourceLocked on read and write.
        cell_limit: the most characters a cell holds (None: no limit; tests set one).
    """

    name = "memory"
    sets_cells_atomically = True

    def __init__(
        self,
        sources: Mapping[str, Mapping[str, Grid]] | None = None,
        *,
        cell_limit: int | None = None,
    ) -> None:
        self.cell_limit = cell_limit
        self.sources: dict[str, dict[str, Grid]] = {}
        self.versions: dict[str, int] = {}
        self.layouts: dict[str, dict[str, dict[str, Any]]] = {}
        self.calls: collections.Counter[str] = collections.Counter()
        self.before_write: Callable[[str], None] | None = None
        self.locked: set[str] = set()
        for source, tabs in (sources or {}).items():
            for title, grid in tabs.items():
                self.set_tab(source, title, grid)

    def _bump(self, source: str) -> None:
        self.versions[source] = self.versions.get(source, 0) + 1

    def _existing(self, source: str) -> dict[str, Grid]:
        if source in self.locked:
            raise SourceLocked(f"{source} is locked; skipped this cycle")
        tabs = self.sources.get(source)
        if tabs is None:
            raise SourceError(f"{source} does not exist", hint="run init to create it")
        return tabs

    def set_tab(self, source: str, tab: str, grid: Grid) -> None:
        """Replace (or create) one tab, creating the source if needed; bumps the version."""
        self.sources.setdefault(source, {})[tab] = copy.deepcopy([list(r) for r in grid])
        self._bump(source)

    def get_tab(self, source: str, tab: str) -> Grid:
        """A copy of one tab, trailing blanks stripped. Raises KeyError when missing."""
        return finish_cells(self.sources[source][tab])

    def delete_tab(self, source: str, tab: str) -> None:
        """Remove one tab; bumps the version."""
        del self.sources[source][tab]
        self._bump(source)

    def prefetch_fingerprints(self, sources: Sequence[str]) -> None:
        """Nothing to prefetch: a fingerprint is a counter in memory."""

    def fingerprint(self, source: str) -> str | None:
        self.calls["fingerprint"] += 1
        if source not in self.sources:
            return None
        return f"v{self.versions.get(source, 0)}"

    def read(self, source: str) -> SourceSnapshot:
        self.calls["read"] += 1
        tabs = self._existing(source)
        return SourceSnapshot(
            source=source,
            version=f"v{self.versions.get(source, 0)}",
            tabs={title: finish_cells(grid) for title, grid in tabs.items()},
        )

    def write(
        self, source: str, writes: Sequence[CellWrite], *, read_version: str | None = None
    ) -> WriteResult:
        self.calls["write"] += 1
        self._existing(source)
        if self.before_write is not None:
            self.before_write(source)
        tabs = self._existing(source)
        before = f"v{self.versions.get(source, 0)}"
        cells, skipped = apply_writes(tabs, fit_writes(writes, self.cell_limit))
        if cells:
            self.sources[source] = tabs
            self._bump(source)
        return WriteResult(
            applied=len(writes) - len(skipped),
            skipped=skipped,
            version=f"v{self.versions.get(source, 0)}",
            concurrent=read_version is not None and before != read_version,
        )

    def set_cells(
        self,
        source: str,
        cells: Iterable[CellSet],
        *,
        version: str,
        moves: Sequence[RowMove] = (),
    ) -> str | None:
        self.calls["set_cells"] += 1
        tabs = self._existing(source)
        if self.before_write is not None:
            self.before_write(source)
        if f"v{self.versions.get(source, 0)}" != version:
            return None
        changed = bool(moves)
        for title in dict.fromkeys(m.tab for m in moves):
            move_rows(tabs.setdefault(title, []), [m for m in moves if m.tab == title])
        for title, row, col, value in fit_cells(cells, self.cell_limit):
            put_cell(tabs.setdefault(title, []), row, col, value)
            changed = True
        if changed:
            self._bump(source)
        return f"v{self.versions.get(source, 0)}"

    def ensure_layout(
        self,
        source: str,
        tabs: Mapping[str, Sequence[str]],
        *,
        text_columns: Mapping[str, Sequence[str]] = NO_TABS,
        dropdowns: Mapping[str, Mapping[str, Sequence[str]]] = NO_DROPDOWNS,
        protected: Mapping[str, Sequence[str]] = NO_TABS,
        aliases: Mapping[str, Sequence[str]] = NO_TABS,
        notes: Mapping[str, Mapping[str, str]] = NO_NOTES,
        highlights: Mapping[str, Sequence[DueHighlight]] = NO_HIGHLIGHTS,
        widths: Mapping[str, Mapping[str, int]] = NO_WIDTHS,
        header_colors: Mapping[str, Mapping[str, str]] = NO_NOTES,
        right_to_left: bool = False,
    ) -> list[str]:
        self.calls["layout"] += 1
        if source in self.locked:
            raise SourceLocked(f"{source} is locked; skipped this cycle")
        changes: list[str] = []
        if source not in self.sources:
            self.sources[source] = {}
            changes.append(f"created {source}")
        store = self.sources[source]
        for wanted, headers in tabs.items():
            title = find_tab(store, wanted)
            formats: list[str] = []  # not reported for a new tab, as XlsxBackend does
            new = title is None
            fold = alias_folder(aliases)
            made: list[str] = []  # the columns made now (sized to ``widths``)
            if title is None:
                title = wanted
                store[title] = [list(headers)]
                changes.append(f"added tab {title}")
                header = TabHeader(store[title], 0, fold)
                made = list(headers)
            else:
                grid = store[title]
                row = find_header_row(grid, headers, source, title, fold)
                header = TabHeader(grid, row, fold)
                for name in headers:
                    if header.find(name) is None:
                        header.add(grid, name, [], title)
                        changes.append(f"added column {name} to {title}")
                        made.append(name)
            layout = self.layouts.setdefault(source, {}).setdefault(
                title,
                {"text": set(), "dropdowns": {}, "protected": set(), "notes": {}, "due": set()},
            )
            sized = layout.setdefault("widths", {})
            for name in made:
                sized[header_key(name)] = column_width(name, widths.get(wanted, {}))
            for part, change, wanted_too in (
                ("frozen", "froze the header row of", True),
                ("filter", "added a filter to", True),
                ("right_to_left", "set right-to-left on", right_to_left),
            ):
                if wanted_too and not layout.get(part):
                    layout[part] = True
                    formats.append(f"{change} {title}")
            for due in highlights.get(wanted, ()):
                if header.find(due.column) is None or header.find(due.unless_column) is None:
                    continue
                if due not in layout["due"]:
                    layout["due"].add(due)
                    formats.append(f"highlighted {due.what} {title}/{due.column}")
            colors = layout.setdefault("colors", {})
            for name, color in header_colors.get(wanted, {}).items():
                if colors.get(header_key(name)) != color:
                    colors[header_key(name)] = color
                    formats.append(f"coloured {title}/{name}")
            for name, note in notes.get(wanted, {}).items():
                if layout["notes"].get(header_key(name)) != note:
                    layout["notes"][header_key(name)] = note
                    formats.append(f"noted {title}/{name}")
            for name in text_columns.get(wanted, ()):
                if header_key(name) not in layout["text"]:
                    layout["text"].add(header_key(name))
                    formats.append(f"formatted {title}/{name} as text")
            for name, values in dropdowns.get(wanted, {}).items():
                if layout["dropdowns"].get(header_key(name)) != list(values):
                    layout["dropdowns"][header_key(name)] = list(values)
                    formats.append(f"set dropdown of {title}/{name}")
            for name in protected.get(wanted, ()):
                if header_key(name) not in layout["protected"]:
                    layout["protected"].add(header_key(name))
                    formats.append(f"marked {title}/{name} as filled by sheetsync")
            if not new:
                changes += formats
        if changes:
            self._bump(source)
        return changes


if TYPE_CHECKING:  # mypy holds the in-memory backend to the protocol (XlsxBackend: make_backend)
    _memory: Backend = MemoryBackend()
