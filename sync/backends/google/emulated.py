"""The emulator's spreadsheets for a configuration: what ``sheetsync emulator`` serves.

:func:`serve_for_config` serves an emulator (:mod:`sheets_emulator`) holding the
spreadsheets a configuration names, created and shared as an admin would, seeded from
.xlsx workbooks and dumped back to them; the Google backend is pointed at it by
``[google] endpoint``. The test harness on top of it is ``tests/emulated.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sync.config import Config
from sync.errors import ConfigError


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
    for sid, title, emails in _named(config).values():
        if sid in emulator.store.files:
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
    from sheets_emulator import Emulator

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
    emulator.serve_until_signalled(autosave_seconds)
    announce("emulator stopped" + (f", state saved in {state_dir}" if state_dir else ""))
    if dump_dir is not None:
        for path in dump_spreadsheets(emulator, config, dump_dir):
            announce(f"wrote {path}")
