"""The setups a scenario runs on: where the sheets live (in memory, .xlsx workbooks, Google
spreadsheets in the loopback emulator) and the database.

A module of scenarios takes ``world`` (or ``harness``) and says that its database is the
setup's, by overriding ``db_kind``::

    @pytest.fixture
    def db_kind(setup):
        return setup[1]

(without it, a module's tests keep the root ``db_kind``: SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sheets_emulator import Emulator
from tests.emulated import GoogleHarness
from tests.world import Harness, MemoryHarness, World, XlsxHarness

SETUPS = [("memory", "sqlite"), ("memory", "postgresql"), ("xlsx", "sqlite"), ("google", "sqlite")]


@pytest.fixture(params=SETUPS, ids=["-".join(setup) for setup in SETUPS])
def setup(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(where the sheets live, the database) of one run of a scenario."""
    return request.param


@pytest.fixture
def harness(setup: tuple[str, str], tmp_path: Path) -> Iterator[Harness]:
    """Where the scenario's sheets live; every World of the scenario uses it."""
    if setup[0] == "memory":
        yield MemoryHarness()
    elif setup[0] == "xlsx":
        yield XlsxHarness(tmp_path / "books")
    else:
        with Emulator(seed=11) as emulator:
            yield GoogleHarness(emulator)
            emulator.wait_idle()


@pytest.fixture
def world(engine, harness):  # type: ignore[no-untyped-def]
    return World(engine, harness=harness)
