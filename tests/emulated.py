"""The Google backend on the loopback emulator, with the sheet-editing helpers tests use.

:class:`EmulatedGoogleBackend` is a real :class:`~sync.backends.google.GoogleBackend` (gspread over
HTTP to a :class:`~sheets_emulator.Emulator`) that also has the helpers
:class:`~sync.backends.memory.MemoryBackend` has — ``get_tab``, ``set_tab``, ``delete_tab`` and
``before_write`` — which act as an agent typing in the sheet (direct emulator calls: not
counted, no faults, no hooks). So the scenario tests run unchanged on both
(``tests/world.py``), and so does the benchmark.

:class:`GoogleHarness` creates one spreadsheet per agent and a master in an emulator and
rewrites a configuration to use them.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sync.backends.google import GoogleBackend, backend_from_config
from sync.backends.google.emulated import share
from sync.backends.google.values import grid_from_api, quote, serial
from sync.cells import CellValue, Grid, SourceSnapshot, WriteResult
from sync.config import Config
from sync.sheets import RowMove


def typed_cell(value: CellValue) -> Any:
    """A value as an agent's typing stores it: dates become serial numbers."""
    if isinstance(value, dt.datetime):
        return (
            serial(value.date())
            + (value - value.replace(hour=0, minute=0, second=0)).seconds / 86400
        )
    if isinstance(value, dt.date):
        return serial(value)
    return value


class EmulatedGoogleBackend(GoogleBackend):
    """A :class:`GoogleBackend` on an emulator, plus MemoryBackend's editing helpers.

    Attributes:
        emulator: the :class:`~sheets_emulator.Emulator`.
        before_write: called with the source at the start of ``write`` (before the
            re-validation read), to edit the sheet between a cycle's read and its write.
        before_read: the same, at the start of ``read``.
    """

    def __init__(self, api: Any, sources: Any = None, *, emulator: Any, **options: Any) -> None:
        super().__init__(api, sources, **options)
        self.emulator = emulator
        self.before_write: Callable[[str], None] | None = None
        self.before_read: Callable[[str], None] | None = None

    # -- the agent's side -------------------------------------------------------------------

    def _sheet(self, source: str, tab: str) -> tuple[str, dict[str, Any] | None]:
        spec = self.spec(source)
        title = spec.title(tab)
        meta = self.emulator.spreadsheet(spec.spreadsheet)
        for sheet in meta.get("sheets", []):
            if sheet["properties"]["title"].casefold() == title.casefold():
                return spec.spreadsheet, sheet["properties"]
        return spec.spreadsheet, None

    def get_tab(self, source: str, tab: str) -> Grid:
        """The tab's values (UNFORMATTED), trailing blanks stripped; KeyError when missing."""
        sid, props = self._sheet(source, tab)
        if props is None:
            raise KeyError(tab)
        rows = self.emulator.get_values(sid, quote(props["title"]), "UNFORMATTED_VALUE")
        return grid_from_api(rows)

    def set_tab(self, source: str, tab: str, grid: Grid) -> None:
        """Replace (or create) a tab's values as an agent would (text stays text)."""
        sid, props = self._sheet(source, tab)
        emu = self.emulator
        if props is None:
            title = self.spec(source).title(tab)
            emu.batch_update(sid, [{"addSheet": {"properties": {"title": title}}}])
            sid, props = self._sheet(source, tab)
            assert props is not None
        title = props["title"]
        emu.call("sheets.values.clear", {"id": sid, "range": quote(title)})
        rows = [[typed_cell(v) for v in row] for row in grid]
        grid_props = props.get("gridProperties", {})
        short_rows = len(rows) - int(grid_props.get("rowCount", 0))
        short_cols = max((len(r) for r in rows), default=0) - int(grid_props.get("columnCount", 0))
        grow = []
        if short_rows > 0:
            grow.append(("ROWS", short_rows))
        if short_cols > 0:
            grow.append(("COLUMNS", short_cols))
        if grow:
            emu.batch_update(
                sid,
                [
                    {
                        "appendDimension": {
                            "sheetId": props.get("sheetId", 0),
                            "dimension": d,
                            "length": n,
                        }
                    }
                    for d, n in grow
                ],
            )
        if rows:
            emu.set_values(sid, f"{quote(title)}!A1", rows, "RAW")

    def delete_tab(self, source: str, tab: str) -> None:
        """Remove a tab."""
        sid, props = self._sheet(source, tab)
        if props is None:
            raise KeyError(tab)
        self.emulator.batch_update(sid, [{"deleteSheet": {"sheetId": props.get("sheetId", 0)}}])

    # -- hooks ----------------------------------------------------------------------------------

    def read(self, source: str) -> SourceSnapshot:
        if self.before_read is not None:
            self.before_read(source)
        return super().read(source)

    def write(self, source: str, writes: Any, *, read_version: str | None = None) -> WriteResult:
        if self.before_write is not None:
            self.before_write(source)
        return super().write(source, writes, read_version=read_version)

    def set_cells(
        self, source: str, cells: Any, *, version: str, moves: Sequence[RowMove] = ()
    ) -> str | None:
        if self.before_write is not None:
            self.before_write(source)
        return super().set_cells(source, cells, version=version, moves=moves)


class GoogleHarness:
    """Makes a configuration use spreadsheets in an emulator (tests, the benchmark).

    Args:
        emulator: a started :class:`~sheets_emulator.Emulator`.
        google: more ``[google]`` settings (e.g. quotas for a fault test).
        share: share each agent's spreadsheet with the agent (as Google would be set up).
        one_spreadsheet: all agents in one spreadsheet, each with tabs of its own titles
            (``tabs = {Customers = "<name>", ...}``; not private, see docs/google.md).
        options: keyword arguments for ``backend_from_config`` (``sleep``, ``clock``...).
    """

    def __init__(
        self,
        emulator: Any,
        *,
        share: bool = True,
        one_spreadsheet: bool = False,
        options: dict[str, Any] | None = None,
        **google: Any,
    ) -> None:
        self.emulator = emulator
        self.share = share
        self.one_spreadsheet = one_spreadsheet
        self.google = google
        self.options = options or {}

    def configure(self, raw: dict[str, Any]) -> dict[str, Any]:
        """``raw`` (a configuration dict) with backend google and fresh spreadsheets."""
        emu = self.emulator
        raw = copy.deepcopy(raw)
        raw.setdefault("sync", {})["backend"] = "google"
        raw["google"] = {
            "endpoint": emu.url,
            "service_account_email": emu.store.owner_email,
            "read_per_minute": 1_000_000,
            "write_per_minute": 1_000_000,
            "timeout": 10.0,
            **self.google,
        }
        raw["master"] = {
            **raw.get("master", {}),
            "spreadsheet": emu.create_spreadsheet("sheetsync master"),
        }
        raw["master"].pop("workbook", None)
        team = emu.create_spreadsheet("team customers") if self.one_spreadsheet else None
        for agent in raw.get("agents", []):
            agent.pop("workbook", None)
            name = agent.get("name", agent["key"])
            sid = team or emu.create_spreadsheet(f"{name} customers")
            agent["spreadsheet"] = sid
            if team:
                agent["tabs"] = {"Customers": name, "Follow-ups": f"{name} follow-ups"}
            if self.share and agent.get("email"):
                share(emu, sid, agent["email"])
        return raw

    def backend(self, config: Config, **options: Any) -> EmulatedGoogleBackend:
        """An :class:`EmulatedGoogleBackend` for a configuration made by :meth:`configure`."""
        return backend_from_config(
            config,
            backend_class=EmulatedGoogleBackend,
            emulator=self.emulator,
            **{**self.options, **options},
        )
