"""The Google backend on the loopback emulator, with the sheet-editing helpers tests use.

:class:`EmulatedGoogleBackend` is a real :class:`GoogleBackend` (gspread over HTTP to a
:class:`~sync.emulator.Emulator`) that also has the helpers :class:`~sync.sheets.MemoryBackend`
has — ``get_tab``, ``set_tab``, ``delete_tab`` and ``before_write`` — which act as an agent
typing in the sheet (direct emulator calls: not counted, no faults, no hooks). So the
scenario tests run unchanged on both (``tests/world.py``), and so does the benchmark.

:class:`GoogleHarness` creates one spreadsheet per agent and a master in an emulator and
rewrites a configuration to use them; :func:`serve_for_config` serves an emulator holding
the spreadsheets a configuration names (``sheetsync emulator``).
"""

from __future__ import annotations

import copy
import datetime as dt
import signal
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sync.cells import CellValue, Grid, SourceSnapshot, WriteResult
from sync.config import Config

from .backend import GoogleBackend
from .values import grid_from_api, quote, serial


def _typed(value: CellValue) -> Any:
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
        emulator: the :class:`~sync.emulator.Emulator`.
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
        rows = [[_typed(v) for v in row] for row in grid]
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

    def set_cells(self, source: str, cells: Any, *, version: str) -> str | None:
        if self.before_write is not None:
            self.before_write(source)
        return super().set_cells(source, cells, version=version)


class GoogleHarness:
    """Makes a configuration use spreadsheets in an emulator (tests, the benchmark).

    Args:
        emulator: a started :class:`~sync.emulator.Emulator`.
        google: more ``[google]`` settings (e.g. quotas for a fault test).
        share: share each agent's spreadsheet with the agent (as Google would be set up).
        options: keyword arguments for ``backend_from_config`` (``sleep``, ``clock``...).
    """

    def __init__(
        self,
        emulator: Any,
        *,
        share: bool = True,
        options: dict[str, Any] | None = None,
        **google: Any,
    ) -> None:
        self.emulator = emulator
        self.share = share
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
        raw["master"] = {"spreadsheet": emu.create_spreadsheet("sheetsync master")}
        for agent in raw.get("agents", []):
            agent.pop("workbook", None)
            sid = emu.create_spreadsheet(f"{agent.get('name', agent['key'])} customers")
            agent["spreadsheet"] = sid
            if self.share and agent.get("email"):
                share(emu, sid, agent["email"])
        return raw

    def backend(self, config: Config, **options: Any) -> EmulatedGoogleBackend:
        """An :class:`EmulatedGoogleBackend` for a configuration made by :meth:`configure`."""
        from . import backend_from_config

        return backend_from_config(
            config,
            backend_class=EmulatedGoogleBackend,
            emulator=self.emulator,
            **{**self.options, **options},
        )


def share(emulator: Any, spreadsheet: str, email: str, role: str = "writer") -> None:
    """Share a spreadsheet in the emulator (Drive ``permissions.create``)."""
    emulator.call(
        "drive.permissions.create",
        {"id": spreadsheet},
        body={"type": "user", "role": role, "emailAddress": email},
    )


def create_configured(emulator: Any, config: Config) -> list[str]:
    """Create, in the emulator, every spreadsheet the configuration names and lacks.

    Returns:
        What was created, in words.
    """
    made = []
    wanted: list[tuple[str, str, Iterable[str]]] = [
        (config.master.spreadsheet, "sheetsync master", config.google.admins)
    ]
    wanted += [
        (a.spreadsheet, f"{a.name} customers", [a.email] if a.email else []) for a in config.agents
    ]
    for sid, title, emails in wanted:
        if not sid or sid in emulator.store.files:
            continue
        with emulator.store.lock:
            emulator.store.create_spreadsheet(title, file_id=sid)
        for email in emails:
            share(emulator, sid, email)
        made.append(f"created spreadsheet {sid} ({title})")
    return made


def _named(config: Config | None) -> dict[str, tuple[str, str, list[str]]]:
    """Name (agent key, ``master``) -> (spreadsheet id, title, emails to share it with)."""
    if config is None:
        return {}
    named = {"master": (config.master.spreadsheet, "sheetsync master", list(config.google.admins))}
    for a in config.agents:
        named[a.key] = (a.spreadsheet, f"{a.name} customers", [a.email] if a.email else [])
    return {name: spec for name, spec in named.items() if spec[0]}


def seed_spreadsheets(emulator: Any, config: Config | None, seeds: Iterable[str]) -> list[str]:
    """Load .xlsx workbooks into the emulator (``sheetsync emulator --seed-xlsx``).

    Args:
        seeds: ``FILE`` (a new spreadsheet), ``NAME=FILE`` where NAME is an agent key or
            ``master`` (the spreadsheet the configuration names for it, shared like
            :func:`create_configured` shares it), or ``ID=FILE`` (that spreadsheet id).
            A spreadsheet that already exists (kept in ``--state``) is left as it is.

    Returns:
        What was done, in words.

    Raises:
        ConfigError: a file does not exist.
    """
    from pathlib import Path

    from sync.errors import ConfigError

    named = _named(config)
    done = []
    for seed in seeds:
        name, sep, path = seed.rpartition("=")
        if not sep or Path(seed).exists():
            name, path = "", seed
        if not Path(path).exists():
            raise ConfigError(f"--seed-xlsx {seed}: {path} does not exist")
        sid, title, emails = named.get(name, (name, Path(path).stem, []))
        if sid and sid in emulator.store.files:
            done.append(f"spreadsheet {sid} already exists; {path} not loaded")
            continue
        sid = emulator.seed_from_xlsx(path, title, sid or None)
        for email in emails:
            share(emulator, sid, email)
        done.append(f"seeded spreadsheet {sid} ({title}) from {path}")
    return done


def dump_spreadsheets(emulator: Any, config: Config | None, directory: str) -> list[str]:
    """Write every spreadsheet of the emulator to ``directory`` as .xlsx: ``<agent key>.xlsx``
    and ``master.xlsx`` for the configured ones, ``<spreadsheet id>.xlsx`` for the others.

    Returns:
        The files written.
    """
    from pathlib import Path

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    names = {sid: name for name, (sid, _, _) in _named(config).items()}
    written = []
    for sid in sorted(emulator.store.spreadsheets):
        path = out / f"{names.get(sid, sid)}.xlsx"
        emulator.dump_to_xlsx(sid, path)
        written.append(str(path))
    return written


def serve_for_config(
    config: Config | None,
    *,
    port: int = 8765,
    host: str = "127.0.0.1",
    state_dir: str | None = None,
    announce: Callable[[str], None] = print,
    autosave_seconds: float = 2.0,
    seeds: Iterable[str] = (),
    dump_dir: str | None = None,
) -> None:
    """Serve an emulator (until SIGINT/SIGTERM) holding the spreadsheets ``config`` names.

    Args:
        seeds: workbooks to load first (see :func:`seed_spreadsheets`).
        dump_dir: where every spreadsheet is written as .xlsx when the emulator stops.
    """
    from sync.emulator import Emulator

    owner = config.google.service_account_email if config is not None else ""
    emulator = Emulator(
        state_dir, host=host, port=port, owner_email=owner or "emulator@sheetsync.local"
    )
    for line in seed_spreadsheets(emulator, config, seeds):
        announce(line)
    if config is not None:
        for line in create_configured(emulator, config):
            announce(line)
    emulator.start()
    announce(f"Sheets/Drive emulator listening on {emulator.url}")
    announce(f'  set google.endpoint = "{emulator.url}" in the configuration to use it')
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not stop.wait(autosave_seconds):
        if state_dir is not None and emulator.store.dirty:
            emulator.save()
    emulator.stop()
    announce("emulator stopped" + (f", state saved in {state_dir}" if state_dir else ""))
    if dump_dir is not None:
        for path in dump_spreadsheets(emulator, config, dump_dir):
            announce(f"wrote {path}")
