"""The core scenarios of tests/scenarios/test_cycle.py, through the Google backend and the emulator.

Every test of test_cycle.py runs here unchanged (same assertions) on a World whose sheets
are spreadsheets in a loopback Sheets/Drive emulator, read and written by GoogleBackend
through gspread over HTTP. SQLite only: the database half is covered by test_cycle.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sheets_emulator import Emulator
from tests import world as world_module
from tests.emulated import GoogleHarness
from tests.scenarios.test_cycle import *  # noqa: F403 - the scenarios themselves, and their fixture


@pytest.fixture(params=["sqlite"])
def db_kind(request: pytest.FixtureRequest) -> str:
    """SQLite only (the scenarios' PostgreSQL half runs in test_cycle.py)."""
    return str(request.param)


@pytest.fixture(autouse=True)
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """Every World of these tests lives in a fresh emulator."""
    with Emulator(seed=11) as emu:
        monkeypatch.setattr(world_module, "HARNESS", lambda: GoogleHarness(emu))
        yield emu
        emu.wait_idle()


def test_the_scenarios_really_run_on_the_emulator(world, emulator: Emulator) -> None:
    from sync.google import GoogleBackend

    assert isinstance(world.backend, GoogleBackend)
    world.type_rows("ali", [{"Name": "Ahmed Mohamed", "Phone": "01001234567"}])
    emulator.reset_counts()
    world.cycle()
    assert emulator.count("sheets.values.batchGet") >= 1
    assert emulator.count("sheets.values.batchUpdate") >= 1
