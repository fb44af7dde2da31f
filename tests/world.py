"""A small world for scenario tests: agents with in-memory sheets, one database, cycles.

Rows are given as dicts keyed by header text, like a person reads a sheet:
``world.type_rows("ali", [{"Name": "Ahmed Mohamed", "Phone": "+20 100 123 4567"}])``.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import openpyxl
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from sync import service
from sync.backends.memory import MemoryBackend
from sync.backends.xlsx import XlsxBackend, xlsx_values
from sync.cells import CellValue, CellWrite, Grid, WriteResult, cell_text, trim_grid
from sync.config import Config, config_from_dict
from sync.cycle import Cycle, CycleReport
from sync.cycle import base as cycle_base
from sync.db import session_factory
from sync.fields import CUSTOMER_FIELDS, FOLLOW_UP_FIELDS
from sync.master import load_master, render_master
from sync.master_layout import ROW_TABS, row_key
from sync.model import AuditEvent, Base, SheetState
from sync.row_order import written_orders
from sync.sheet_rows import grid_digest, keys_digest
from sync.sheets import CellSet, RowMove
from sync.xlsx_parts import patch_cells

CUSTOMER_HEADERS = [f.header for f in CUSTOMER_FIELDS]
FOLLOW_UP_HEADERS = [f.header for f in FOLLOW_UP_FIELDS]
NAMES = {"ali": "Ali Hassan", "sara": "Sara Ahmed", "mohamed": "Mohamed Sayed", "nour": "Nour Adel"}


class Harness(Protocol):
    """Where a World's sheets live. Its backend also has MemoryBackend's editing helpers
    (``get_tab``, ``set_tab``, ``delete_tab``, ``before_write``), which World uses to type."""

    def configure(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The configuration dict, adapted to this backend (sources, backend name)."""
        ...

    def backend(self, config: Config) -> Any:
        """The backend for that configuration."""
        ...


class MemoryHarness:
    """Sheets in memory (the default)."""

    def configure(self, raw: dict[str, Any]) -> dict[str, Any]:
        return raw

    def backend(self, config: Config) -> MemoryBackend:
        return MemoryBackend()


class EditableXlsxBackend(XlsxBackend):
    """Workbooks on disk, with MemoryBackend's editing helpers: an agent saving the file in
    LibreOffice (cells are patched into the XML, whole: no 32,767-character cut), and
    ``before_write``, called with the source when a write starts (someone saving the
    workbook between a cycle's read and its write)."""

    before_write: Callable[[str], None] | None = None

    def write(
        self, source: str, writes: Sequence[CellWrite], *, read_version: str | None = None
    ) -> WriteResult:
        if self.before_write is not None:
            self.before_write(source)
        return super().write(source, writes, read_version=read_version)

    def set_cells(
        self,
        source: str,
        cells: Iterable[CellSet],
        *,
        version: str,
        moves: Sequence[RowMove] = (),
    ) -> str | None:
        if self.before_write is not None:
            self.before_write(source)
        return super().set_cells(source, cells, version=version, moves=moves)

    def get_tab(self, source: str, tab: str) -> Grid:
        """The tab's values as sheetsync reads them; KeyError when missing."""
        return xlsx_values(self.path(source).read_bytes())[tab]

    def set_tab(self, source: str, tab: str, grid: Grid) -> None:
        """Replace the values of an existing tab (cells that do not change are kept as they
        are: formulas, styles)."""
        path = self.path(source)
        data = path.read_bytes()
        current = xlsx_values(data)[tab]
        cells = []
        for r in range(max(len(current), len(grid))):
            old = current[r] if r < len(current) else []
            new = grid[r] if r < len(grid) else []
            for c in range(max(len(old), len(new))):
                was = old[c] if c < len(old) else None
                value = new[c] if c < len(new) else None
                if was != value or type(was) is not type(value):
                    cells.append((tab, r, c, value))
        path.write_bytes(patch_cells(data, cells))

    def delete_tab(self, source: str, tab: str) -> None:
        """Remove a tab."""
        path = self.path(source)
        wb = openpyxl.load_workbook(path)
        del wb[tab]
        wb.save(path)


class XlsxHarness:
    """Sheets as .xlsx workbooks in a folder (the default deployment)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def configure(self, raw: dict[str, Any]) -> dict[str, Any]:
        raw = {**raw, "master": {**raw["master"], "workbook": str(self.folder / "master.xlsx")}}
        raw["agents"] = [
            {**a, "workbook": str(self.folder / "agents" / f"{a['key']}.xlsx")}
            for a in raw["agents"]
        ]
        return raw

    def backend(self, config: Config) -> EditableXlsxBackend:
        return EditableXlsxBackend()


class World:
    def __init__(
        self,
        engine: Engine,
        agents: Iterable[str] = ("ali", "sara"),
        *,
        harness: Harness | None = None,
        languages: Mapping[str, str] | None = None,
        master_language: str = "en",
        **sync: Any,
    ):
        self.engine = engine
        harness = harness or MemoryHarness()
        raw = {
            "database": {"url": "sqlite:///unused.db"},
            "sync": {"backend": "xlsx", **sync},
            "master": {"workbook": "master.xlsx", "language": master_language},
            "agents": [
                {
                    "key": key,
                    "name": NAMES.get(key, key.title()),
                    "email": f"{key}@company.com",
                    "workbook": f"agents/{key}.xlsx",
                    **({"language": languages[key]} if key in (languages or {}) else {}),
                }
                for key in agents
            ],
        }
        raw = harness.configure(raw)
        self.config: Config = config_from_dict(raw, base_dir=Path("/world"))
        self.backend = harness.backend(self.config)
        service.init(self.config, engine, self.backend)

    def source(self, agent: str) -> str:
        cfg = next(a for a in self.config.agents if a.key == agent)
        return self.config.agent_source(cfg)

    @property
    def master(self) -> str:
        return self.config.master_source()

    # -- the sheets ---------------------------------------------------------------------

    def grid(self, agent: str, tab: str = "Customers") -> Grid:
        return self.backend.get_tab(self.source(agent), tab)

    def rows(self, agent: str, tab: str = "Customers") -> list[dict[str, str]]:
        """The tab as a list of dicts (header text -> cell text), blank rows dropped."""
        grid = self.grid(agent, tab)
        if not grid:
            return []
        header = [cell_text(h) for h in grid[0]]
        out = []
        for row in grid[1:]:
            cells = {
                h: cell_text(row[i]) if i < len(row) else "" for i, h in enumerate(header) if h
            }
            if any(cells.values()):
                out.append(cells)
        return out

    def type_rows(
        self, agent: str, rows: Iterable[Mapping[str, CellValue]], tab: str = "Customers"
    ) -> None:
        """Append rows as an agent would type them (only the given columns)."""
        grid = self.grid(agent, tab)
        header = [cell_text(h) for h in grid[0]]
        for row in rows:
            new: list[CellValue] = [None] * len(header)
            for key, value in row.items():
                if key not in header:
                    header.append(key)
                    grid[0].append(key)
                    new.append(None)
                new[header.index(key)] = value
            grid.append(new)
        self.backend.set_tab(self.source(agent), tab, grid)

    def edit(
        self,
        agent: str,
        match: Mapping[str, str],
        changes: Mapping[str, CellValue],
        tab: str = "Customers",
    ) -> None:
        """Change cells of the row(s) whose cells equal ``match``."""
        grid = self.grid(agent, tab)
        header = [cell_text(h) for h in grid[0]]
        hit = 0
        for row in grid[1:]:
            if all(
                cell_text(row[header.index(k)] if header.index(k) < len(row) else None) == v
                for k, v in match.items()
            ):
                for key, value in changes.items():
                    i = header.index(key)
                    row.extend([None] * (i + 1 - len(row)))
                    row[i] = value
                hit += 1
        assert hit, f"no row of {agent}/{tab} matches {match}"
        self.backend.set_tab(self.source(agent), tab, grid)

    def delete_rows(self, agent: str, match: Mapping[str, str], tab: str = "Customers") -> None:
        grid = self.grid(agent, tab)
        header = [cell_text(h) for h in grid[0]]
        kept = [grid[0]] + [
            row
            for row in grid[1:]
            if not all(
                cell_text(row[header.index(k)] if header.index(k) < len(row) else None) == v
                for k, v in match.items()
            )
        ]
        assert len(kept) < len(grid), f"no row of {agent}/{tab} matches {match}"
        self.backend.set_tab(self.source(agent), tab, kept)

    # -- cycles and the database ------------------------------------------------------------

    def cycle(self) -> CycleReport:
        return Cycle(self.config, self.engine, self.backend).run()

    def session(self) -> Session:
        return session_factory(self.engine)()

    def count(self, model: type[Base]) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0

    def table_counts(self) -> dict[str, int]:
        with self.session() as s:
            return {
                table.name: s.scalar(select(func.count()).select_from(table)) or 0
                for table in Base.metadata.sorted_tables
            }

    def audit_count(self) -> int:
        return self.count(AuditEvent)

    def master_differences(self) -> dict[str, list[int]]:
        """Master tab -> the rows (0 = header) where the master as the backend holds it
        differs from the master rendered whole from the database now, and ``<tab> (state)``
        where what its stored state says it holds (digest, rows, keys or order) differs; empty when
        none."""
        source = self.master
        with self.session() as s:
            state = s.execute(
                select(SheetState).where(SheetState.source == source, SheetState.tab == "Conflicts")
            ).scalar_one()
            stored = state.snapshot or {}
            zone = self.config.sync.timezone
            today = cycle_base.today_in(zoneinfo.ZoneInfo(zone))  # as the cycles see it
            data = load_master(s, zone=zone, today=today, language=self.config.master.language)
            grids, _ = render_master(data, stored.get("resolutions", {}), stored.get("errors", {}))
            orders = written_orders(data, grids)
        found: dict[str, list[int]] = {}
        with self.session() as s:
            states = {
                st.tab: st.snapshot or {}
                for st in s.execute(select(SheetState).where(SheetState.source == source))
                .scalars()
                .all()
            }
        for tab, grid in grids.items():
            # What the master's state says it holds (kept row by row) is the whole render's.
            want_state = {"digest": grid_digest(grid), "rows": len(grid) - 1}
            if tab in ROW_TABS:  # the rows by their identities and order
                want_state["order"] = orders[tab]
            else:
                want_state["keys"] = keys_digest(row_key(tab, row) for row in grid[1:])
            if {k: states.get(tab, {}).get(k) for k in want_state} != want_state:
                found[f"{tab} (state)"] = [0]
            have = [[cell_text(v) for v in row] for row in self.backend.get_tab(source, tab)]
            want = [[cell_text(v) for v in row] for row in grid]
            trim_grid(have)
            trim_grid(want)
            rows = [r for r in range(max(len(have), len(want))) if _row(have, r) != _row(want, r)]
            if rows:
                found[tab] = rows
        return found


def _row(grid: list[list[str]], r: int) -> list[str]:
    return grid[r] if r < len(grid) else []


def empty_customers() -> Grid:
    return [list(CUSTOMER_HEADERS)]
