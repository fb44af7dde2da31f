"""The Sheets/Drive emulator, driven by real gspread + google-auth over real HTTP.

Covers Google's details (range echoes, trailing cells, RAW vs USER_ENTERED, grid and
10M-cell limits, error bodies), developer metadata following rows, Drive versions and
changes, fault injection, persistence, .xlsx seeding, the CLI, and the fidelity replay of
recorded Google traffic (``tests/fixtures/cassettes``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

gspread = pytest.importorskip("gspread")
requests = pytest.importorskip("requests")

from gspread.exceptions import APIError  # noqa: E402

from sheets_emulator import Emulator  # noqa: E402
from sheets_emulator.a1 import Bounds, format_open, parse_cells, quote_title  # noqa: E402
from sheets_emulator.client import gspread_client  # noqa: E402
from tests.replay import RECORDED_ACCOUNT, cassettes_in, replay_cassette  # noqa: E402

CASSETTES = Path(__file__).resolve().parents[1] / "fixtures" / "cassettes"
SHEETS = "https://sheets.googleapis.com/v4/spreadsheets"
DRIVE = "https://www.googleapis.com/drive/v3"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(seed=7) as emulator:
        yield emulator


@pytest.fixture
def gc(emu: Emulator) -> Any:
    return gspread_client(emu.url)


def _post(gc: Any, url: str, body: dict[str, Any]) -> dict[str, Any]:
    return dict(gc.http_client.request("post", url, json=body).json())


def _get(gc: Any, url: str, **params: Any) -> dict[str, Any]:
    return dict(gc.http_client.request("get", url, params=params).json())


def _row_metadata(sh: Any, rows: dict[int, str]) -> list[dict[str, Any]]:
    return [
        {
            "createDeveloperMetadata": {
                "developerMetadata": {
                    "metadataKey": "customer",
                    "metadataValue": value,
                    "visibility": "DOCUMENT",
                    "location": {
                        "dimensionRange": {
                            "sheetId": 0,
                            "dimension": "ROWS",
                            "startIndex": row,
                            "endIndex": row + 1,
                        }
                    },
                }
            }
        }
        for row, value in rows.items()
    ]


# ---------------------------------------------------------------- A1 notation


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        ("A1", Bounds(0, 1, 0, 1)),
        ("B2:A1", Bounds(0, 2, 0, 2)),
        ("A:C", Bounds(None, None, 0, 3)),
        ("2:3", Bounds(1, 3, None, None)),
        ("A2:C", Bounds(1, None, 0, 3)),
        ("A1:1", Bounds(0, 1, 0, None)),
        ("$AA$10", Bounds(9, 10, 26, 27)),
    ],
)
def test_a1_parsing(text: str, bounds: Bounds) -> None:
    assert parse_cells(text) == bounds


def test_a1_quoting_follows_google() -> None:
    assert quote_title("Sheet1") == "Sheet1"
    assert quote_title("D3") == "'D3'"  # looks like a cell
    assert quote_title("My Sheet") == "'My Sheet'"
    assert quote_title("I'm") == "'I''m'"
    assert format_open("T", Bounds(1000, None, 0, 2)) == "T!A1001:B"


# ---------------------------------------------------------------- gspread end to end


def test_create_get_and_drive_metadata(emu: Emulator, gc: Any) -> None:
    sh = gc.create("Agent Amal")
    meta = sh.fetch_sheet_metadata()
    assert meta["properties"]["title"] == "Agent Amal"
    assert meta["sheets"][0]["properties"]["gridProperties"] == {
        "rowCount": 1000,
        "columnCount": 26,
    }
    assert meta["spreadsheetUrl"].endswith(f"/d/{sh.id}/edit")
    drive = _get(gc, f"{DRIVE}/files/{sh.id}", fields="id,name,version,modifiedTime,mimeType")
    assert set(drive) == {"id", "name", "version", "modifiedTime", "mimeType"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", drive["modifiedTime"])
    assert [f["id"] for f in gc.list_spreadsheet_files()] == [sh.id]
    assert gc.open("Agent Amal").id == sh.id
    gc.del_spreadsheet(sh.id)
    with pytest.raises(gspread.exceptions.SpreadsheetNotFound):
        gc.open_by_key(sh.id)


def test_raw_keeps_text_user_entered_parses(gc: Any) -> None:
    ws = gc.create("values").sheet1
    ws.update([["=1+1", "0123", 5, "TRUE", "2020-01-01"]], "A1")  # RAW by default
    ws.update(
        [["=1+1", "0123", 5, "TRUE", "2020-01-01", '=IMPORTXML("x","y")']],
        "A2",
        value_input_option="USER_ENTERED",
    )
    assert ws.get_all_values() == [
        ["=1+1", "0123", "5", "TRUE", "2020-01-01", ""],
        ["2", "123", "5", "TRUE", "2020-01-01", "#NAME?"],
    ]
    unformatted = ws.get("A1:E2", value_render_option="UNFORMATTED_VALUE")
    assert unformatted == [["=1+1", "0123", 5, "TRUE", "2020-01-01"], [2, 123, 5, True, 43831]]
    assert ws.get("A2", value_render_option="FORMULA") == [["=1+1"]]


def test_text_format_keeps_leading_zero(gc: Any) -> None:
    sh = gc.create("phones")
    ws = sh.sheet1
    ws.format("C:C", {"numberFormat": {"type": "TEXT", "pattern": "@"}})
    ws.update([["0123", "0123", "0123"]], "A1", value_input_option="USER_ENTERED")
    assert ws.get_all_values() == [["123", "123", "0123"]]
    got = sh.fetch_sheet_metadata(
        {"ranges": "Sheet1!C1", "fields": "sheets.data.rowData.values.userEnteredFormat"}
    )
    cell = got["sheets"][0]["data"][0]["rowData"][0]["values"][0]
    assert cell["userEnteredFormat"]["numberFormat"] == {"type": "TEXT", "pattern": "@"}


def test_echo_trailing_cells_and_empty_ranges(gc: Any) -> None:
    sh = gc.create("echo")
    ws = sh.add_worksheet("My Tab", rows=10, cols=5)
    ws.update([["a", "", "c", ""], ["", "", "", ""], ["x"]], "A1")
    got = sh.values_get("'My Tab'!A1:E5")
    assert got == {
        "range": "'My Tab'!A1:E5",
        "majorDimension": "ROWS",
        "values": [["a", "", "c"], [], ["x"]],
    }
    assert sh.values_get("My Tab")["range"] == "'My Tab'!A1:E10"
    empty = sh.values_get("'My Tab'!D5:E6")
    assert empty == {"range": "'My Tab'!D5:E6", "majorDimension": "ROWS"}
    cols = sh.values_get("'My Tab'!A1:C3", params={"majorDimension": "COLUMNS"})
    assert cols["values"] == [["a", "", "x"], [], ["c"]]
    with pytest.raises(APIError, match=r"Unable to parse range: Nope!A1"):
        sh.values_get("Nope!A1")


def test_batch_update_batch_get_append_clear(emu: Emulator, gc: Any) -> None:
    sh = gc.create("batch")
    ws = sh.add_worksheet("Customers", rows=3, cols=3)
    ws.batch_update(
        [
            {"range": "A1:B1", "values": [["Name", "Phone"]]},
            {"range": "A2", "values": [["Amal", "0100"]]},
        ]
    )
    got = sh.values_batch_get(["Customers!A:A", "Customers!B1:B2"])
    assert [r["range"] for r in got["valueRanges"]] == ["Customers!A1:A3", "Customers!B1:B2"]
    assert got["valueRanges"][1]["values"] == [["Phone"], ["0100"]]
    reply = ws.append_rows([["Badr", "0101"], ["Chadi", "0102"]])
    assert reply["tableRange"] == "Customers!A1:B2"
    assert reply["updates"]["updatedRange"] == "Customers!A3:B4"
    assert gc.open_by_key(sh.id).worksheet("Customers").row_count == 4  # append grew the grid
    ws.batch_clear(["A3:B3"])
    assert ws.get_all_values()[2:] == [["", ""], ["Chadi", "0102"]]
    cleared = ws.clear()
    assert cleared["clearedRange"] == "Customers!A1:C4"
    assert emu.get_values(sh.id, "Customers") == []


def test_update_beyond_grid_is_refused(gc: Any) -> None:
    ws = gc.create("grid").add_worksheet("Small", rows=2, cols=2)
    with pytest.raises(APIError) as err:
        ws.update([["x"]], "A3")
    assert err.value.response.json()["error"] == {
        "code": 400,
        "status": "INVALID_ARGUMENT",
        "message": "Range (Small!A3) exceeds grid limits. Max rows: 2, max columns: 2",
    }
    with pytest.raises(APIError, match=r"tried writing to row \[3\]"):
        ws.update([["a"], ["b"], ["c"]], "A1:A2")
    with pytest.raises(APIError, match="Invalid value at 'data.values'"):
        ws.spreadsheet.values_update(
            "Small!A1", params={"valueInputOption": "RAW"}, body={"values": "X"}
        )


def test_insert_delete_rows_and_sort(gc: Any) -> None:
    ws = gc.create("rows").sheet1
    ws.update([["n", "v"], ["b", 2], ["a", 1], ["c", 3]], "A1")
    ws.insert_rows([["new", 9]], row=2)
    ws.delete_rows(4)
    assert ws.get_all_values() == [["n", "v"], ["new", "9"], ["b", "2"], ["c", "3"]]
    ws.sort((2, "asc"), range="A2:B4")
    assert ws.col_values(1) == ["n", "b", "c", "new"]
    assert gc.open_by_key(ws.spreadsheet.id).sheet1.row_count == 1000


def test_developer_metadata_moves_with_inserted_and_deleted_rows(emu: Emulator, gc: Any) -> None:
    sh = gc.create("metadata")
    ws = sh.sheet1
    ws.update([["Customer #"], ["CUS-1"], ["CUS-2"], ["CUS-3"]], "A1")
    replies = sh.batch_update(
        {"requests": _row_metadata(sh, {1: "CUS-1", 2: "CUS-2", 3: "CUS-3"})}
    )["replies"]
    md = replies[0]["createDeveloperMetadata"]["developerMetadata"]
    assert md["location"] == {
        "locationType": "ROW",
        "dimensionRange": {"dimension": "ROWS", "startIndex": 1, "endIndex": 2},
    }
    ws.insert_rows([["typed by agent"]], row=2)  # above CUS-1
    ws.delete_rows(4)  # CUS-2 (now row 4) and its metadata go
    lookup = [
        {"developerMetadataLookup": {"metadataKey": "customer", "metadataValue": v}}
        for v in ("CUS-1", "CUS-2", "CUS-3")
    ]
    got = _post(gc, f"{SHEETS}/{sh.id}/values:batchGetByDataFilter", {"dataFilters": lookup})
    assert [(m["valueRange"]["range"], m["valueRange"]["values"]) for m in got["valueRanges"]] == [
        ("Sheet1!A3:Z3", [["CUS-1"]]),
        ("Sheet1!A4:Z4", [["CUS-3"]]),
    ]
    written = _post(
        gc,
        f"{SHEETS}/{sh.id}/values:batchUpdateByDataFilter",
        {
            "valueInputOption": "RAW",
            "data": [
                {"dataFilter": lookup[2], "values": [["CUS-3", "note"]]},
                {"dataFilter": lookup[1], "values": [["lost"]]},
            ],
        },
    )
    assert written["responses"][0]["updatedRange"] == "Sheet1!A4:B4"
    assert "updatedRange" not in written["responses"][1]  # CUS-2's row was deleted
    assert ws.get_all_values()[3] == ["CUS-3", "note"]
    search = _post(
        gc,
        f"{SHEETS}/{sh.id}/developerMetadata:search",
        {"dataFilters": [{"developerMetadataLookup": {"metadataKey": "customer"}}]},
    )
    assert len(search["matchedDeveloperMetadata"]) == 2


@pytest.mark.parametrize("follows", [False, True])
def test_developer_metadata_and_sort(follows: bool) -> None:
    with Emulator(seed=3, metadata_follows_sort=follows) as emu:
        gc = gspread_client(emu.url)
        sh = gc.create("sort")
        ws = sh.sheet1
        ws.update([["id"], ["b"], ["a"]], "A1")
        sh.batch_update({"requests": _row_metadata(sh, {1: "b", 2: "a"})})
        ws.sort((1, "asc"), range="A2:A3")
        got = _post(
            gc,
            f"{SHEETS}/{sh.id}/values:batchGetByDataFilter",
            {"dataFilters": [{"developerMetadataLookup": {"metadataValue": "b"}}]},
        )
        value = got["valueRanges"][0]["valueRange"]["values"][0][0]
        # Default: sorting moves values, the row (and its metadata) stays: it now holds "a".
        assert value == ("b" if follows else "a")


def test_validation_protection_and_number_formats(emu: Emulator, gc: Any) -> None:
    sh = gc.create("layout")
    ws = sh.sheet1
    ws.add_validation(
        "B2:B10",
        gspread.utils.ValidationConditionType.one_of_list,
        ["Prospect", "Completed"],
        showCustomUi=True,
    )
    ws.add_protected_range(
        "A1:A1000", editor_users_emails=["sync@example.iam"], description="sync-owned"
    )
    sh.batch_update(
        {
            "requests": [
                {
                    "repeatCell": {
                        "range": {"sheetId": 0, "startColumnIndex": 3, "endColumnIndex": 4},
                        "cell": {
                            "userEnteredFormat": {
                                "numberFormat": {"type": "NUMBER", "pattern": "#,##0.00"}
                            }
                        },
                        "fields": "userEnteredFormat.numberFormat",
                    }
                }
            ]
        }
    )
    ws.update([[1234.5]], "D1")
    assert ws.acell("D1").value == "1,234.50"
    meta = sh.fetch_sheet_metadata({"includeGridData": "true", "ranges": "Sheet1!B2"})
    sheet = meta["sheets"][0]
    assert sheet["protectedRanges"][0]["description"] == "sync-owned"
    assert sheet["protectedRanges"][0]["editors"]["users"] == [
        "emulator@sheetsync.local",
        "sync@example.iam",
    ]
    rule = sheet["data"][0]["rowData"][0]["values"][0]["dataValidation"]
    assert rule["condition"]["type"] == "ONE_OF_LIST"


def test_repeat_cell_and_validation_over_a_range_leave_each_cell_its_own(gc: Any) -> None:
    """One repeatCell or setDataValidation over a range gives every cell the same result
    (the emulator shares it); a later change to one cell changes that cell alone."""
    sh = gc.create("shared formats")

    def repeat(a1: str, fmt: dict[str, Any], fields: str) -> None:
        grid = gspread.utils.a1_range_to_grid_range(a1, 0)
        body = {"range": grid, "cell": {"userEnteredFormat": fmt}, "fields": fields}
        sh.batch_update({"requests": [{"repeatCell": body}]})

    def validate(a1: str, words: list[str]) -> None:
        rule = {
            "condition": {
                "type": "ONE_OF_LIST",
                "values": [{"userEnteredValue": w} for w in words],
            }
        }
        grid = gspread.utils.a1_range_to_grid_range(a1, 0)
        sh.batch_update({"requests": [{"setDataValidation": {"range": grid, "rule": rule}}]})

    italic = {"textFormat": {"italic": True}}
    repeat("A1:A2", italic, "userEnteredFormat.textFormat")  # A1, A2 share one format
    repeat("B1:B1", {"horizontalAlignment": "RIGHT"}, "userEnteredFormat.horizontalAlignment")
    repeat("A1:C2", {"textFormat": {"bold": True}}, "userEnteredFormat.textFormat.bold")
    repeat("A2:A2", {"textFormat": {"bold": False}}, "userEnteredFormat.textFormat.bold")
    validate("A1:C2", ["yes", "no"])
    validate("C2:C2", ["maybe"])

    meta = sh.fetch_sheet_metadata({"includeGridData": "true", "ranges": "Sheet1!A1:C2"})
    cells = [row["values"] for row in meta["sheets"][0]["data"][0]["rowData"]]

    def fmt(r: int, c: int) -> dict[str, Any]:
        return cells[r][c].get("userEnteredFormat", {})

    def words(r: int, c: int) -> list[str]:
        return [v["userEnteredValue"] for v in cells[r][c]["dataValidation"]["condition"]["values"]]

    assert fmt(0, 0)["textFormat"] == {"italic": True, "bold": True}
    assert fmt(1, 0)["textFormat"] == {"italic": True, "bold": False}
    assert fmt(0, 1)["textFormat"] == {"bold": True}
    assert fmt(0, 1)["horizontalAlignment"] == "RIGHT"
    assert fmt(1, 1) == fmt(0, 2) == fmt(1, 2) == {"textFormat": {"bold": True}}
    assert [words(r, c) for r in (0, 1) for c in (0, 1, 2)] == [["yes", "no"]] * 5 + [["maybe"]]


def test_column_sizes_and_the_basic_filter_are_kept_and_answered(gc: Any) -> None:
    """updateDimensionProperties keeps a column's pixelSize (moved by an inserted column);
    setBasicFilter keeps the filter, clearBasicFilter drops it."""
    sh = gc.create("sizes")

    def sizes() -> list[int]:
        meta = sh.fetch_sheet_metadata({"includeGridData": "true", "ranges": "Sheet1!A1:D1"})
        return [c["pixelSize"] for c in meta["sheets"][0]["data"][0]["columnMetadata"]]

    span = {"sheetId": 0, "dimension": "COLUMNS", "startIndex": 1, "endIndex": 3}
    size = {"range": span, "properties": {"pixelSize": 250}, "fields": "pixelSize"}
    rows = {**span, "dimension": "ROWS"}
    sh.batch_update(
        {
            "requests": [
                {"updateDimensionProperties": size},
                {"updateDimensionProperties": {**size, "range": rows}},  # not kept
                {"setBasicFilter": {"filter": {"range": {"sheetId": 0, "startRowIndex": 0}}}},
            ]
        }
    )
    assert sizes() == [100, 250, 250, 100]
    sh.sheet1.insert_cols([["new"]], 1)
    assert sizes() == [100, 100, 250, 250]
    assert sh.fetch_sheet_metadata()["sheets"][0]["basicFilter"] == {"range": {"startRowIndex": 0}}
    sh.batch_update({"requests": [{"clearBasicFilter": {"sheetId": 0}}]})
    assert "basicFilter" not in sh.fetch_sheet_metadata()["sheets"][0]


def test_the_reads_of_dlts_google_sheets_source(emu: Emulator, gc: Any) -> None:
    """What bench/peer_dlt.py's peer (dlt's google_sheets verified source) asks, in its
    order: the tabs, every tab's values (typed, dates as serial numbers), then the first
    two rows of each range with grid data, the ranges named without quotes."""
    sh = gc.create("dlt reads")
    _post(
        gc,
        f"{SHEETS}/{sh.id}:batchUpdate",
        {"requests": [{"addSheet": {"properties": {"title": "Follow-ups"}}}]},
    )
    sh.values_batch_update(
        {
            "valueInputOption": "USER_ENTERED",
            "data": [
                {"range": "Sheet1!A1", "values": [["Name", "Phone"], ["Amal", 1001234567]]},
                {"range": "'Follow-ups'!A1", "values": [["Phone", "Date"], ["x", "2025-10-02"]]},
            ],
        }
    )
    meta = _get(gc, f"{SHEETS}/{sh.id}")
    assert [t["properties"]["title"] for t in meta["sheets"]] == ["Sheet1", "Follow-ups"]
    assert "namedRanges" not in meta
    url = f"{SHEETS}/{sh.id}/values:batchGet"
    params = {
        "ranges": ["Sheet1", "Follow-ups"],
        "valueRenderOption": "UNFORMATTED_VALUE",
        "dateTimeRenderOption": "SERIAL_NUMBER",
    }
    got = dict(gc.http_client.request("get", url, params=params).json())
    assert [r["range"] for r in got["valueRanges"]] == ["Sheet1!A1:Z1000", "'Follow-ups'!A1:Z1000"]
    assert got["valueRanges"][0]["values"] == [["Name", "Phone"], ["Amal", 1001234567]]
    assert got["valueRanges"][1]["values"][1] == ["x", 45932]
    params = {"ranges": ["Sheet1!A1:B2", "Follow-ups!A1:B2"], "includeGridData": "true"}
    grid = dict(gc.http_client.request("get", f"{SHEETS}/{sh.id}", params=params).json())
    header = grid["sheets"][0]["data"][0]["rowData"][0]["values"]
    assert [c["formattedValue"] for c in header] == ["Name", "Phone"]
    assert header[0]["effectiveValue"] == {"stringValue": "Name"}
    date = grid["sheets"][1]["data"][0]["rowData"][1]["values"][1]
    assert date["effectiveValue"] == {"numberValue": 45932}
    assert date["effectiveFormat"]["numberFormat"]["type"] == "DATE"


def test_drive_version_modified_time_and_changes(emu: Emulator, gc: Any) -> None:
    sh = gc.create("versions")
    start = _get(gc, f"{DRIVE}/changes/startPageToken")["startPageToken"]
    before = _get(gc, f"{DRIVE}/files/{sh.id}", fields="version,modifiedTime")
    sh.sheet1.update([["x"]], "A1")
    after_values = _get(gc, f"{DRIVE}/files/{sh.id}", fields="version,modifiedTime")
    sh.sheet1.insert_rows([["y"]], 1)
    after_structure = _get(gc, f"{DRIVE}/files/{sh.id}", fields="version,modifiedTime")
    versions = [int(v["version"]) for v in (before, after_values, after_structure)]
    assert versions[0] < versions[1] < versions[2]
    times = [v["modifiedTime"] for v in (before, after_values, after_structure)]
    assert times[0] < times[1] < times[2]
    other = gc.create("untouched")
    changes = _get(
        gc,
        f"{DRIVE}/changes",
        pageToken=start,
        fields="newStartPageToken,changes(fileId,removed,file(version))",
    )
    assert [c["fileId"] for c in changes["changes"]] == [sh.id, other.id]
    assert changes["changes"][0]["file"]["version"] == after_structure["version"]
    gc.del_spreadsheet(other.id)
    later = _get(gc, f"{DRIVE}/changes", pageToken=changes["newStartPageToken"])
    assert [(c["fileId"], c["removed"]) for c in later["changes"]] == [(other.id, True)]
    quiet = _get(gc, f"{DRIVE}/changes", pageToken=later["newStartPageToken"])
    assert quiet["changes"] == []


def test_permissions(gc: Any) -> None:
    sh = gc.create("shared")
    sh.share("agent@example.com", perm_type="user", role="writer", notify=False)
    sh.share(None, perm_type="anyone", role="reader")
    perms = sh.list_permissions()
    assert [(p["type"], p["role"], p.get("emailAddress")) for p in perms] == [
        ("user", "owner", "emulator@sheetsync.local"),
        ("user", "writer", "agent@example.com"),
        ("anyone", "reader", None),
    ]
    sh.remove_permissions("agent@example.com")
    assert len(sh.list_permissions()) == 2


def test_ten_million_cell_limit() -> None:
    with Emulator(cell_limit=30_000) as emu:
        gc = gspread_client(emu.url)
        sh = gc.create("big")  # 26,000 cells
        with pytest.raises(APIError) as err:
            sh.add_worksheet("more", rows=1000, cols=26)
        assert err.value.response.json()["error"]["message"] == (
            "Invalid requests[0].addSheet: This action would increase the number of cells "
            "in the workbook above the limit of 30000 cells."
        )
        with pytest.raises(APIError, match=r"requests\[0\]\.insertDimension: This action"):
            sh.sheet1.insert_cols([[]] * 5, col=1)
        with pytest.raises(APIError, match="^.*above the limit of 30000 cells"):
            sh.sheet1.append_rows([["x"]] * 200, table_range="A999")


def test_spreadsheets_create_endpoint(gc: Any) -> None:
    created = _post(
        gc,
        SHEETS,
        {
            "properties": {"title": "Master"},
            "sheets": [
                {
                    "properties": {
                        "title": "Customers",
                        "gridProperties": {"rowCount": 5, "columnCount": 4},
                    }
                },
                {"properties": {"title": "Conflicts"}},
            ],
        },
    )
    titles = [s["properties"]["title"] for s in created["sheets"]]
    assert titles == ["Customers", "Conflicts"]
    assert created["sheets"][0]["properties"]["index"] == 0


# ---------------------------------------------------------------- auth


def test_auth_required_and_token_endpoint(emu: Emulator) -> None:
    sid = emu.create_spreadsheet()
    answer = requests.get(f"{emu.url}/v4/spreadsheets/{sid}", timeout=5)
    assert answer.status_code == 401
    assert answer.json()["error"]["status"] == "UNAUTHENTICATED"
    token = requests.post(f"{emu.url}/token", data={"grant_type": "x"}, timeout=5).json()
    assert token == {"access_token": "emulator-token", "expires_in": 3600, "token_type": "Bearer"}


def test_service_account_credentials_refresh_against_emulator(emu: Emulator) -> None:
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "k",
        "private_key": pem,
        "client_email": "sync@p.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    creds = service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/spreadsheets"]
    )
    gc = gspread_client(emu.url, credentials=creds)
    assert gc.create("sa").title == "sa"
    assert emu.counts["oauth.token"] == 1


# ---------------------------------------------------------------- faults and counters


def test_429_with_retry_after_then_success(emu: Emulator, gc: Any) -> None:
    sh = gc.create("quota")
    emu.faults.add("values.batchGet", status=429, retry_after=2, times=1)
    with pytest.raises(APIError) as err:
        sh.values_batch_get(["Sheet1!A1"])
    response = err.value.response
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert sh.values_batch_get(["Sheet1!A1"])["valueRanges"][0]["range"] == "Sheet1!A1"


@pytest.mark.parametrize(("status", "name"), [(500, "INTERNAL"), (503, "UNAVAILABLE")])
def test_server_errors(emu: Emulator, gc: Any, status: int, name: str) -> None:
    sh = gc.create("flaky")
    emu.faults.add("sheets.values.update", status=status)
    with pytest.raises(APIError) as err:
        sh.sheet1.update([["lost"]], "A1")
    assert err.value.response.json()["error"]["status"] == name
    assert emu.get_values(sh.id, "Sheet1") == []  # a 'before' fault leaves state untouched


def test_fault_after_commit_and_drive_errors(emu: Emulator, gc: Any) -> None:
    sh = gc.create("lost reply")
    emu.faults.add("sheets.values.update", status=500, when="after")
    with pytest.raises(APIError):
        sh.sheet1.update([["landed"]], "A1")
    assert sh.sheet1.get_all_values() == [["landed"]]  # applied; the client never knew
    emu.faults.add("drive.files.get", status=429, match=lambda r: r.params["id"] == sh.id)
    with pytest.raises(APIError) as err:
        gc.http_client.get_file_drive_metadata(sh.id)
    assert err.value.response.json()["error"]["errors"][0]["reason"] == "rateLimitExceeded"


def test_timeout(emu: Emulator) -> None:
    gc = gspread_client(emu.url, timeout=0.2)
    sh = gc.create("slow")
    emu.faults.timeout("sheets.values.update", delay=0.6)
    with pytest.raises(requests.exceptions.ReadTimeout):
        sh.sheet1.update([["late"]], "A1")
    assert emu.wait_idle(5)
    # A delayed request is still processed once the delay is over (the reply is lost).
    assert emu.get_values(sh.id, "Sheet1") == [["late"]]


def test_before_request_hook_edits_between_read_and_write(emu: Emulator, gc: Any) -> None:
    sh = gc.create("race")
    ws = sh.sheet1
    ws.update([["Customer #", "Status"], ["CUS-1", "Prospect"], ["CUS-2", "Prospect"]], "A1")
    sh.batch_update({"requests": _row_metadata(sh, {2: "CUS-2"})})
    seen = threading.Event()

    def agent_inserts_a_row(kind: str, request: Any) -> None:
        emu.batch_update(
            sh.id,
            [
                {
                    "insertDimension": {
                        "range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}
                    }
                }
            ],
        )
        emu.set_values(sh.id, "Sheet1!A2:B2", [["CUS-9", "typed"]])
        seen.set()

    rows = ws.get_all_values()  # the cycle's read
    assert rows[2][0] == "CUS-2"
    emu.before_request(agent_inserts_a_row, kind="sheets.values.*", times=1)
    # Writing by position now hits the agent's new row; writing by metadata does not.
    _post(
        gc,
        f"{SHEETS}/{sh.id}/values:batchUpdateByDataFilter",
        {
            "valueInputOption": "RAW",
            "data": [
                {
                    "dataFilter": {"developerMetadataLookup": {"metadataValue": "CUS-2"}},
                    "values": [[None, "Completed"]],
                }
            ],
        },
    )
    assert seen.is_set()
    assert ws.get_all_values() == [
        ["Customer #", "Status"],
        ["CUS-9", "typed"],
        ["CUS-1", "Prospect"],
        ["CUS-2", "Completed"],
    ]


def test_conditional_formats_are_kept_returned_and_move_with_inserted_and_deleted_columns(
    emu: Emulator, gc: Any
) -> None:
    sh = gc.create("highlights")
    column_c = {"sheetId": 0, "startRowIndex": 1, "startColumnIndex": 2, "endColumnIndex": 3}
    rule = {
        "ranges": [column_c],
        "booleanRule": {
            "condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": "=$C2<1"}]},
            "format": {"backgroundColor": {"red": 1}},
        },
    }
    sh.batch_update({"requests": [{"addConditionalFormatRule": {"rule": rule, "index": 0}}]})

    def ranges() -> list[Any]:
        sheet = emu.spreadsheet(sh.id)["sheets"][0]
        return [r["ranges"] for r in sheet.get("conditionalFormats", [])]

    assert ranges() == [[column_c]]
    columns = {"sheetId": 0, "dimension": "COLUMNS"}
    emu.batch_update(
        sh.id, [{"insertDimension": {"range": {**columns, "startIndex": 0, "endIndex": 1}}}]
    )
    assert ranges() == [[{**column_c, "startColumnIndex": 3, "endColumnIndex": 4}]]
    emu.batch_update(
        sh.id, [{"deleteDimension": {"range": {**columns, "startIndex": 3, "endIndex": 4}}}]
    )
    assert ranges() == []  # its only column is gone, and the rule with it
    with pytest.raises(APIError, match="exactly one of booleanRule or gradientRule"):
        sh.batch_update(
            {"requests": [{"addConditionalFormatRule": {"rule": {"ranges": [column_c]}}}]}
        )


def test_request_counters(emu: Emulator, gc: Any) -> None:
    sh = gc.create("counted")
    emu.reset_counts()
    sh.values_batch_get(["Sheet1!A1", "Sheet1!B1"])
    sh.values_batch_update(
        {"valueInputOption": "RAW", "data": [{"range": "Sheet1!A1", "values": [["x"]]}]}
    )
    gc.http_client.get_file_drive_metadata(sh.id)
    assert emu.counts == {
        "sheets.values.batchGet": 1,
        "sheets.values.batchUpdate": 1,
        "drive.files.get": 1,
    }
    assert emu.count("sheets.*") == 2
    assert emu.quota_counts() == {"read": 1, "write": 1}


# ---------------------------------------------------------------- persistence, xlsx, CLI


def test_a_stopped_emulator_ends_the_connections_clients_keep_alive() -> None:
    """A client keeps its connection open for its next request; the thread that serves it
    waits for one. Stopping must end those threads: each held the emulator, its
    spreadsheets with it, for as long as the process lived."""
    before = set(threading.enumerate())
    with Emulator(seed=1) as emu:
        gc = gspread_client(emu.url)
        gc.create("kept alive").sheet1.update([["a"]], "A1")
        serving = [t for t in set(threading.enumerate()) - before if t.name != "sheets-emulator"]
        assert serving, "the client's connection is served by a thread of its own"
    for thread in serving:
        thread.join(timeout=5)
    assert not [t for t in serving if t.is_alive()]


def test_state_persists_across_restarts(tmp_path: Path) -> None:
    with Emulator(tmp_path, seed=1) as emu:
        gc = gspread_client(emu.url)
        sh = gc.create("kept")
        sh.sheet1.format("B:B", {"numberFormat": {"type": "TEXT"}})
        sh.sheet1.update([["=1+1", "0123"]], "A1", value_input_option="USER_ENTERED")
        sh.batch_update({"requests": _row_metadata(sh, {0: "row-1"})})
        version = emu.file(sh.id)["version"]
    assert (tmp_path / "state.json").exists()
    with Emulator(tmp_path) as again:
        assert again.get_values(sh.id, "Sheet1") == [["2", "0123"]]
        assert again.get_values(sh.id, "Sheet1!A1", render="FORMULA") == [["=1+1"]]
        assert again.file(sh.id)["version"] == version
        found = again.call(
            "sheets.developerMetadata.search",
            {"id": sh.id},
            body={"dataFilters": [{"developerMetadataLookup": {"metadataValue": "row-1"}}]},
        )
        assert len(found["matchedDeveloperMetadata"]) == 1


def test_seed_from_and_dump_to_xlsx(tmp_path: Path, emu: Emulator) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Customers"
    ws.append(["Name", "Phone", "Since", "Score"])
    ws.append(["Amal", "0100123", dt.datetime(2024, 5, 1), 7])
    ws["B2"].number_format = "@"
    source = tmp_path / "agent.xlsx"
    wb.save(source)
    sid = emu.seed_from_xlsx(source)
    assert emu.get_values(sid, "Customers") == [
        ["Name", "Phone", "Since", "Score"],
        ["Amal", "0100123", "2024-05-01", "7"],
    ]
    emu.set_values(sid, "Customers!A3", [["Badr", "0100124"]])
    out = tmp_path / "dump.xlsx"
    emu.dump_to_xlsx(sid, out)
    back = openpyxl.load_workbook(out)["Customers"]
    assert [c.value for c in back[3]][:2] == ["Badr", 100124]
    assert back["B2"].value == "0100123" and back["B2"].number_format == "@"
    assert back["C2"].value == dt.datetime(2024, 5, 1)


def test_cli_serves_and_saves_state(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sheets_emulator", "--port", "0", "--state", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url, line
        gc = gspread_client(url.group(0))
        gc.create("from the CLI")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    state = json.loads((tmp_path / "state.json").read_text())
    assert [s["title"] for s in state["spreadsheets"]] == ["from the CLI"]


# ---------------------------------------------------------------- fidelity replay


@pytest.mark.parametrize("cassette", cassettes_in(CASSETTES), ids=lambda p: p.stem)
def test_replay_cassettes(cassette: Path) -> None:
    with Emulator(seed=0, owner_email=RECORDED_ACCOUNT) as emulator:
        result = replay_cassette(cassette, emulator)
    assert result.interactions > 0
    assert result.mismatches == [], "\n".join(str(m) for m in result.mismatches[:10])


def test_replay_covers_enough_cassettes() -> None:
    assert len(cassettes_in(CASSETTES)) >= 30
    assert (CASSETTES / "LICENSE.txt").exists()
