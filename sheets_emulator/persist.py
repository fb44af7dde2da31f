"""Saving and loading emulator state as JSON (``state.json`` in the state directory)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sheets_emulator.cells import CellError, Formula, Value, evaluate_formula
from sheets_emulator.model import Change, DriveFile, Sheet, Spreadsheet, Store

STATE_FILE = "state.json"
FORMAT_VERSION = 1


def _enc(value: Value) -> Any:
    if isinstance(value, Formula):
        return {"f": value.text}
    if isinstance(value, CellError):
        return {"e": str(value)}
    return value


def _dec(value: Any) -> Value:
    if isinstance(value, dict):
        if "f" in value:
            return Formula(value["f"], evaluate_formula(value["f"]))
        return CellError(value.get("e", "#ERROR!"))
    return value


def _int_keys(d: dict[str, Any] | None) -> dict[int, Any] | None:
    return {int(k): v for k, v in d.items()} if d else None


def dump_state(store: Store) -> dict[str, Any]:
    """All state as a JSON-compatible dict."""
    spreadsheets = []
    for ss in store.spreadsheets.values():
        sheets = []
        for sh in ss.sheets:
            rows = [
                [r, [_enc(v) for v in row.values], row.formats, row.rules, row.meta, row.notes]
                for r, row in enumerate(sh.rows)
                if not row.is_empty()
            ]
            sheets.append(
                {
                    "sheetId": sh.sheet_id,
                    "title": sh.title,
                    "rowCount": sh.row_count,
                    "columnCount": sh.col_count,
                    "hidden": sh.hidden,
                    "frozenRows": sh.frozen_rows,
                    "frozenColumns": sh.frozen_cols,
                    "extra": sh.extra,
                    "gridExtra": sh.grid_extra,
                    "protected": sh.protected,
                    "conditional": sh.conditional,
                    "basicFilter": sh.basic_filter,
                    "colMeta": sh.col_meta,
                    "colSizes": sh.col_sizes,
                    "rows": rows,
                }
            )
        spreadsheets.append(
            {
                "id": ss.spreadsheet_id,
                "title": ss.title,
                "locale": ss.locale,
                "timeZone": ss.time_zone,
                "autoRecalc": ss.auto_recalc,
                "metadata": ss.metadata,
                "sheets": sheets,
            }
        )
    return {
        "formatVersion": FORMAT_VERSION,
        "nextChangeId": store.next_change_id,
        "lastMs": store.last_ms,
        "files": [asdict(f) for f in store.files.values()],
        "changes": [[c.change_id, c.file_id, c.time_ms, c.removed] for c in store.changes],
        "spreadsheets": spreadsheets,
    }


def load_state(store: Store, data: dict[str, Any]) -> None:
    """Replace ``store``'s content with ``data`` (from :func:`dump_state`)."""
    store.next_change_id = int(data.get("nextChangeId", 1))
    store.last_ms = int(data.get("lastMs", 0))
    store.files = {f["file_id"]: DriveFile(**f) for f in data.get("files", [])}
    store.changes = [Change(*c) for c in data.get("changes", [])]
    store.spreadsheets = {}
    for s in data.get("spreadsheets", []):
        ss = Spreadsheet(
            s["id"],
            s["title"],
            s.get("locale", "en_US"),
            s.get("timeZone", "Etc/GMT"),
            s.get("autoRecalc", "ON_CHANGE"),
        )
        ss.metadata = _int_keys(s.get("metadata")) or {}
        for sh in s.get("sheets", []):
            sheet = Sheet(
                sh["sheetId"],
                sh["title"],
                sh["rowCount"],
                sh["columnCount"],
                sh.get("hidden", False),
                sh.get("frozenRows", 0),
                sh.get("frozenColumns", 0),
                sh.get("extra", {}),
            )
            sheet.grid_extra = sh.get("gridExtra", {})
            sheet.protected = sh.get("protected", [])
            sheet.conditional = sh.get("conditional", [])
            sheet.basic_filter = sh.get("basicFilter")
            sheet.col_meta = _int_keys(sh.get("colMeta")) or {}
            sheet.col_sizes = _int_keys(sh.get("colSizes")) or {}
            for r, values, formats, rules, meta, *rest in sh.get("rows", []):
                row = sheet.row(r)
                row.values = [_dec(v) for v in values]
                row.formats = _int_keys(formats)
                row.rules = _int_keys(rules)
                row.meta = meta
                row.notes = _int_keys(rest[0]) if rest else None  # state saved before notes
            ss.sheets.append(sheet)
        store.spreadsheets[ss.spreadsheet_id] = ss
    store.dirty = False


def save(store: Store, state_dir: str | os.PathLike[str]) -> Path:
    """Write ``state.json`` atomically; returns its path."""
    directory = Path(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / STATE_FILE
    with store.lock:
        data = dump_state(store)
        store.dirty = False
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".state-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False)
    os.replace(tmp, path)
    return path


def load(store: Store, state_dir: str | os.PathLike[str]) -> bool:
    """Load ``state.json`` if present; returns whether it was."""
    path = Path(state_dir) / STATE_FILE
    if not path.exists():
        return False
    with store.lock:
        load_state(store, json.loads(path.read_text(encoding="utf-8")))
    return True
