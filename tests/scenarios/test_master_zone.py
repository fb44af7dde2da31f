"""The master shows times in ``sync.timezone`` and names the zone in their headers, on
every setup (tests/scenarios/conftest.py)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from sqlalchemy import select

from sync import service
from sync.cells import cell_text
from sync.config import config_from_dict
from sync.model import Customer
from tests.world import World


@pytest.fixture
def db_kind(setup: tuple[str, str]) -> str:
    return setup[1]


def header(world: World, tab: str) -> list[str]:
    return [cell_text(h) for h in world.backend.get_tab(world.master, tab)[0]]


def created(world: World) -> str:
    grid = world.backend.get_tab(world.master, "Customers")
    at = [cell_text(h) for h in grid[0]].index(f"Created ({world.config.sync.timezone})")
    return cell_text(grid[1][at])


def rezoned(world: World, zone: str) -> None:
    """The team's configuration, its timezone changed."""
    raw = world.config.model_dump(exclude={"base_dir"})
    raw["sync"]["timezone"] = zone
    world.config = config_from_dict(raw, base_dir=world.config.base_dir)


def test_times_are_shown_in_the_configured_zone_named_in_the_header(engine, harness):
    world = World(engine, harness=harness, timezone="Asia/Tokyo")
    world.type_rows("ali", [{"Name": "Ahmed Mohamed", "Phone": "+20 100 123 4567"}])
    world.cycle()
    assert "Created (Asia/Tokyo)" in header(world, "Customers")
    assert {"Tracked since (Asia/Tokyo)", "Last update (Asia/Tokyo)"} <= set(
        header(world, "Tracking")
    )
    assert "Started (Asia/Tokyo)" in header(world, "Sync log")
    with world.session() as s:
        at = s.execute(select(Customer.created_at)).scalar_one()
    tokyo = at.replace(tzinfo=dt.UTC).astimezone(zoneinfo.ZoneInfo("Asia/Tokyo"))
    assert created(world) == tokyo.replace(tzinfo=None, microsecond=0).isoformat(sep=" ")

    # Another zone: the master is rendered again, its headers renamed (no column added).
    rezoned(world, "America/New_York")
    assert service.init(world.config, world.engine, world.backend).changes == []
    world.cycle()
    customers = header(world, "Customers")
    assert "Created (America/New_York)" in customers and "Created (Asia/Tokyo)" not in customers
    york = at.replace(tzinfo=dt.UTC).astimezone(zoneinfo.ZoneInfo("America/New_York"))
    assert created(world) == york.replace(tzinfo=None, microsecond=0).isoformat(sep=" ")
    assert world.master_differences() == {}
    idle = world.cycle()
    assert (idle.master_cells_written, idle.sources_read) == (0, 0)
